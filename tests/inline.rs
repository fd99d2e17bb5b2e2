//! Quiet runs: with a distributor thread (`run`, `run_source`) and stateless work, a run the
//! source hands over while it has nothing more ready, whose worker is parked, is processed by
//! the distributor itself and reaches the merger on its own lane. Every item still comes out
//! once, in order where the order is kept, a failure there is the worker's failure, and the
//! policies that must keep a worker's order never take that path.

mod common;

use common::quiet_feed;
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
        let n = 300;
        let mut out = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .dispatch(dispatch)
            .order(order)
            .map(|x: u64| x * 3)
            .run_source(quiet_feed(n, Duration::from_micros(300)))
            .unwrap();
        let mut got: Vec<u64> = out.by_ref().collect();
        let stats = out.join().unwrap();
        let d = stats.distributor.unwrap();
        assert!(d.inline > 0, "{name}: no quiet run was run inline ({d:?})");
        let by_workers: u64 = stats.workers.iter().map(|w| w.items_in).sum();
        assert_eq!(by_workers + d.inline, n, "{name}: every item once");
        assert_eq!(stats.merger.items, n, "{name}");
        if order == Order::Any {
            got.sort_unstable();
        }
        assert!(got.iter().copied().eq((0..n).map(|x| x * 3)), "{name}");
    }
}

#[test]
fn filter_and_flat_map_quiet_runs_keep_the_order() {
    let n = 200;
    let out = Engine::builder()
        .workers(2)
        .pinning(Pinning::None)
        .dispatch(Dispatch::LeastLoaded)
        .order(Order::Preserve)
        .flat_map(|x: u64| (0..x % 3).map(move |k| (x, k)))
        .run_source(quiet_feed(n, Duration::from_micros(200)))
        .unwrap();
    let got: Vec<(u64, u64)> = out.collect();
    let want: Vec<(u64, u64)> = (0..n)
        .flat_map(|x| (0..x % 3).map(move |k| (x, k)))
        .collect();
    assert_eq!(got, want);
}

/// A worker's order must hold (`by_key`), the merger reads the workers in turn (round-robin
/// `Preserve`), the work has per-worker state (`stateful`), or the caller distributes
/// (`drive`, `start`): every item goes through a worker.
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
