//! Quiet runs: with a distributor thread (`run`, `run_source`) and stateless work, a run the
//! source hands over while it has nothing more ready, whose worker is parked, is processed by
//! the distributor itself and reaches the merger on its own lane. Every item still comes out
//! once, in order where the order is kept, a failure there is the worker's failure, and the
//! policies that must keep a worker's order never take that path.

mod common;

use common::{in_some_attempt, quiet_feed};
use fanring::{Dispatch, Engine, Failure, Order, Pinning};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

#[test]
fn quiet_runs_run_on_the_distributor_and_keep_every_guarantee() {
    for (name, dispatch, order) in [
        ("rr any", Dispatch::RoundRobin, Order::Any),
        ("least any", Dispatch::LeastLoaded, Order::Any),
        (
            "least preserve (tagged)",
            Dispatch::LeastLoaded,
            Order::Preserve,
        ),
    ] {
        in_some_attempt(5, &format!("{name}: a quiet run run inline"), || {
            let n = 300;
            let mut out = Engine::builder()
                .workers(2)
                .pinning(Pinning::None)
                .dispatch(dispatch.clone())
                .order(order)
                .map(|x: u64| x * 3)
                .run_source(quiet_feed(n, Duration::from_micros(300)))
                .unwrap();
            let mut got: Vec<u64> = out.by_ref().collect();
            let stats = out.join().unwrap();
            let d = stats.distributor.unwrap();
            let by_workers: u64 = stats.workers.iter().map(|w| w.items_in).sum();
            assert_eq!(by_workers + d.inline, n, "{name}: every item once");
            assert_eq!(stats.merger.items, n, "{name}");
            if order == Order::Any {
                got.sort_unstable();
            }
            assert!(got.iter().copied().eq((0..n).map(|x| x * 3)), "{name}");
            d.inline > 0
        });
    }
}

/// `filter_map` under the tagged `Preserve`: each input's outputs and its end mark go on the
/// lane, in order with the workers'.
#[test]
fn filter_map_quiet_runs_keep_the_order() {
    in_some_attempt(5, "a quiet run", || {
        let n = 200;
        let mut out = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .dispatch(Dispatch::LeastLoaded)
            .order(Order::Preserve)
            .filter_map(|x: u64| (!x.is_multiple_of(3)).then_some((x, x * x)))
            .run_source(quiet_feed(n, Duration::from_micros(200)))
            .unwrap();
        let got: Vec<(u64, u64)> = out.by_ref().collect();
        let want: Vec<(u64, u64)> = (0..n)
            .filter(|x| !x.is_multiple_of(3))
            .map(|x| (x, x * x))
            .collect();
        assert_eq!(got, want);
        out.join().unwrap().distributor.unwrap().inline > 0
    });
}

/// A worker's order must hold (`by_key`), the merger reads the workers in turn (round-robin
/// `Preserve`), the work has per-worker state (`stateful`), its outputs per input are
/// unbounded (`flat_map`: a quiet run could not be sure of room for them on its lane), or the
/// caller distributes (`drive`, `start`): every item goes through a worker.
#[test]
fn quiet_runs_stay_with_the_workers_where_they_must() {
    let n = 100;
    let pause = Duration::from_micros(200);
    let b = || Engine::builder().workers(2).pinning(Pinning::None);
    let inline_of = |s: fanring::stats::Stats| s.distributor.map_or(0, |d| d.inline);
    let out = b()
        .dispatch(Dispatch::by_key(|x: &u64| *x))
        .map(|x: u64| x)
        .run_source(quiet_feed(n, pause))
        .unwrap();
    assert_eq!(inline_of(out.join_after_reading()), 0, "by_key");
    let out = b()
        .order(Order::Preserve)
        .map(|x: u64| x)
        .run_source(quiet_feed(n, pause))
        .unwrap();
    assert_eq!(inline_of(out.join_after_reading()), 0, "rotation");
    let out = b()
        .stateful(|_| (), |_, x: u64, emit| emit.push(x))
        .run_source(quiet_feed(n, pause))
        .unwrap();
    assert_eq!(inline_of(out.join_after_reading()), 0, "stateful");
    let out = b()
        .flat_map(|x: u64| [x, x])
        .run_source(quiet_feed(n, pause))
        .unwrap();
    assert_eq!(inline_of(out.join_after_reading()), 0, "flat_map");
}

/// Reads a stream to its end, then joins it.
trait JoinAfterReading {
    fn join_after_reading(self) -> fanring::stats::Stats;
}

impl<U> JoinAfterReading for fanring::Output<U> {
    fn join_after_reading(mut self) -> fanring::stats::Stats {
        for _ in self.by_ref() {}
        self.join().unwrap()
    }
}

/// The work panics in a quiet run on the distributor's thread: it is the failure of the worker
/// the run would have gone to (`WorkerPanicked`, with the panic's own payload re-raised by the
/// iterator), and every item is dropped exactly once.
#[test]
fn a_panic_in_a_quiet_run_is_a_worker_failure() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let made = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let (d, m) = (Arc::clone(&drops), Arc::clone(&made));
    let feeder = std::thread::spawn(move || {
        for i in 0..50u64 {
            m.fetch_add(1, SeqCst);
            if tx.send((i, Counted(Arc::clone(&d)))).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_micros(300));
        }
    });
    let mut out = Engine::builder()
        .workers(2)
        .pinning(Pinning::None)
        .map(|(i, c): (u64, Counted)| {
            assert!(i != 20, "quiet boom");
            c
        })
        .run_source(rx)
        .unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for c in out.by_ref() {
            drop(c);
        }
    }));
    let payload = unwound.expect_err("a failed stream never ends quietly");
    assert_eq!(payload.downcast_ref::<&str>().copied(), Some("quiet boom"));
    let err = out.join().unwrap_err();
    assert!(matches!(err, Failure::WorkerPanicked { .. }), "{err:?}");
    feeder.join().unwrap();
    assert_eq!(
        drops.load(SeqCst),
        made.load(SeqCst),
        "every item dropped once"
    );
}

/// A quiet stream followed by a burst: the burst's full runs go to the workers (a quiet run
/// is only a run the source had nothing more ready after), and everything comes out once.
#[test]
fn a_burst_after_a_quiet_spell_goes_to_the_workers() {
    let (tx, rx) = mpsc::channel::<u64>();
    let feeder = std::thread::spawn(move || {
        for i in 0..20 {
            tx.send(i).unwrap();
            std::thread::sleep(Duration::from_micros(500));
        }
        for i in 20..200_000 {
            tx.send(i).unwrap();
        }
    });
    let mut out = Engine::builder()
        .workers(2)
        .pinning(Pinning::None)
        .map(|x: u64| x + 1)
        .run_source(rx)
        .unwrap();
    let sum: u64 = out.by_ref().sum();
    feeder.join().unwrap();
    assert_eq!(sum, (1..=200_000u64).sum::<u64>());
    let stats = out.join().unwrap();
    let by_workers: u64 = stats.workers.iter().map(|w| w.items_in).sum();
    assert!(by_workers > 0, "the burst reached the workers");
    assert_eq!(by_workers + stats.distributor.unwrap().inline, 200_000);
}

/// Dropping the stream during a quiet spell: nothing hangs, every item is dropped once.
#[test]
fn an_early_end_during_a_quiet_spell() {
    let out = Engine::builder()
        .workers(2)
        .pinning(Pinning::None)
        .map(|x: u64| x)
        .run_source(quiet_feed(10_000, Duration::from_micros(100)))
        .unwrap();
    let first: Vec<u64> = out.take(20).collect();
    assert_eq!(first.len(), 20);
}

/// Spins for `us` microseconds: work that takes time without sleeping.
fn spin_us(us: u64) {
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

/// A burst of costly items that arrives while the workers are parked goes to the workers:
/// a quiet run is as long as its work would take a few microseconds at the cost per item
/// the last quiet run showed, so the distributor does not run the burst alone.
#[test]
fn a_burst_of_costly_items_is_not_run_by_the_distributor() {
    let (tx, rx) = mpsc::channel::<u64>();
    let feeder = std::thread::spawn(move || {
        // One quiet item (the workers park meanwhile), then a burst of 64 at once.
        tx.send(0).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        for i in 1..=64 {
            tx.send(i).unwrap();
        }
    });
    let mut out = Engine::builder()
        .workers(2)
        .pinning(Pinning::None)
        .map(|x: u64| {
            spin_us(200);
            x
        })
        .run_source(rx)
        .unwrap();
    let sum: u64 = out.by_ref().sum();
    feeder.join().unwrap();
    assert_eq!(sum, (0..=64).sum::<u64>());
    let stats = out.join().unwrap();
    let inline = stats.distributor.unwrap().inline;
    let by_workers: u64 = stats.workers.iter().map(|w| w.items_in).sum();
    assert_eq!(by_workers + inline, 65, "every item once");
    // At most the quiet item and the burst's first item or so; not the burst.
    assert!(
        inline <= 8,
        "the distributor ran {inline} of 65 costly items"
    );
}

/// A caller that feeds a rendezvous channel before it reads the output: the first item's
/// outputs fill every ring to the merger, and the distributor must still take the second
/// item (a quiet run that waited for room on its lane stopped it taking from its source, and
/// the caller's second `send` waited for ever).
#[test]
fn the_distributor_keeps_taking_from_its_source_while_outputs_wait() {
    for round in 0..20 {
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let (tx, rx) = mpsc::sync_channel::<u64>(0);
            let mut out = Engine::builder()
                .workers(2)
                .flat_map(|x: u64| (0..2000u64).map(move |k| x * 10_000 + k))
                .run_source(rx)
                .unwrap();
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            drop(tx);
            let n = out.by_ref().count();
            let _ = done_tx.send((n, out.join().is_ok()));
        });
        let got = done.recv_timeout(Duration::from_secs(30));
        assert_eq!(got, Ok((4000, true)), "round {round}: hung or lost outputs");
    }
}

/// A source that is slow, not quiet (each `next()` takes 2 µs, so every run is one item),
/// through a graph of unfused stages, where every quiet run is the distributor's: the quiet
/// runs keep it busy, so it stops taking them and the workers get the stream. Also with cheap
/// items between the costly ones (every other item, or one in three, costs nothing), which
/// broke a rule that counted long runs in a row.
#[test]
fn a_slow_source_is_not_run_on_the_distributor() {
    for cheap_every in [u64::MAX, 2, 3] {
        let n = 5_000u64;
        let cost = move |x: u64| {
            if !x.is_multiple_of(cheap_every) {
                spin_us(2);
            }
            x
        };
        let mut out = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .map(cost)
            .then(
                Engine::builder()
                    .workers(2)
                    .pinning(Pinning::None)
                    .map(cost),
            )
            .fusion(fanring::Fusion::Never)
            .run((1..=n).inspect(|_| spin_us(2)))
            .unwrap();
        assert_eq!(out.by_ref().count(), 5_000);
        let stats = out.join().unwrap();
        let inline = stats.distributor.unwrap().inline;
        let first_stage: u64 = stats.workers[..2].iter().map(|w| w.items_in).sum();
        assert_eq!(first_stage + inline, n, "every item once");
        assert!(
            inline < n / 50,
            "one in {cheap_every} cheap: the distributor ran {inline} of {n} items"
        );
    }
}

/// Quiet runs of cheap items, then a burst of costly ones: the quiet run that takes the burst
/// (sized by the cheap items' cost) stops once its work has taken long, after the first
/// costly item, and the rest go to the workers.
#[test]
fn a_quiet_run_that_takes_long_hands_the_rest_to_the_workers() {
    let (mut tx, rx) = fanring::channel::<u64>(1024).unwrap();
    let mut out = Engine::builder()
        .workers(2)
        .pinning(Pinning::None)
        .map(|x: u64| {
            if x >= 1000 {
                spin_us(200);
            }
            (
                x,
                std::thread::current().name() == Some("fanring-distributor"),
            )
        })
        .run_source(rx)
        .unwrap();
    for x in 0..30 {
        tx.push(x).unwrap();
        out.next().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(5));
    let burst: Vec<u64> = (1000..1060).collect();
    assert_eq!(tx.try_push_slice(&burst), Ok(60));
    drop(tx);
    let on_distributor = out
        .by_ref()
        .filter(|&(x, on_distributor)| x >= 1000 && on_distributor)
        .count();
    let stats = out.join().unwrap();
    let by_workers: u64 = stats.workers.iter().map(|w| w.items_in).sum();
    assert_eq!(
        by_workers + stats.distributor.unwrap().inline,
        90,
        "every item once"
    );
    assert!(
        on_distributor <= 3,
        "the distributor ran {on_distributor} of 60 costly items"
    );
}

/// A busy spell (a sender 3 µs apart, 1 µs of work: quiet runs take a third of the
/// distributor's time, so they pause, the pause doubling) and then a quiet one (an item every
/// 300 µs): the quiet runs come back within a few items, not after the thousands of runs a
/// pause may have reached (up to 3400 items of the quiet spell went to the workers in a row).
#[test]
fn quiet_runs_come_back_when_a_busy_spell_ends() {
    in_some_attempt(
        3,
        "quiet runs back within 100 items of the quiet spell",
        || {
            let (busy, quiet) = (50_000u64, 1_000u64);
            let (tx, rx) = mpsc::channel::<u64>();
            let feeder = std::thread::spawn(move || {
                for i in 0..busy + quiet {
                    if i < busy {
                        spin_us(3);
                    } else {
                        std::thread::sleep(Duration::from_micros(300));
                    }
                    tx.send(i).unwrap();
                }
            });
            let mut out = Engine::builder()
                .workers(2)
                .pinning(Pinning::None)
                .dispatch(Dispatch::LeastLoaded)
                .order(Order::Preserve)
                .map(|x: u64| {
                    spin_us(1);
                    (
                        x,
                        std::thread::current().name() == Some("fanring-distributor"),
                    )
                })
                .run_source(rx)
                .unwrap();
            // The longest row of the quiet spell's items that went to the workers.
            let (mut row, mut longest) = (0u64, 0u64);
            for (x, on_distributor) in out.by_ref() {
                if x >= busy {
                    row = if on_distributor { 0 } else { row + 1 };
                    longest = longest.max(row);
                }
            }
            feeder.join().unwrap();
            let stats = out.join().unwrap();
            let by_workers: u64 = stats.workers.iter().map(|w| w.items_in).sum();
            assert_eq!(by_workers + stats.distributor.unwrap().inline, busy + quiet);
            // At most 100 of the quiet spell's items in a row to the workers.
            longest < 100
        },
    );
}
