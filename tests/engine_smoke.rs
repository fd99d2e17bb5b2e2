use fanring::{BuildError, Dispatch, Engine, Failure, Order, Pinning, WaitStrategy};

fn waits() -> Vec<WaitStrategy> {
    vec![WaitStrategy::SPIN_YIELD, WaitStrategy::default()]
}

#[test]
fn every_mode_delivers_everything() {
    for wait in waits() {
        for workers in [1, 3] {
            for (dispatch, order) in [
                (Dispatch::RoundRobin, Order::Any),
                (Dispatch::RoundRobin, Order::Preserve),
                (Dispatch::LeastLoaded, Order::Any),
                (Dispatch::LeastLoaded, Order::Preserve),
                (Dispatch::by_key(|x: &u64| *x % 7), Order::Any),
                (Dispatch::by_key(|x: &u64| *x % 7), Order::Preserve),
            ] {
                let n = 20_000u64;
                let out = Engine::builder()
                    .workers(workers)
                    .capacity(64)
                    .batch(16)
                    .wait(wait)
                    .pinning(Pinning::None)
                    .dispatch(dispatch.clone())
                    .order(order)
                    .map(|x: u64| x * 3)
                    .run(0..n)
                    .unwrap();
                let got: Vec<u64> = out.collect();
                assert_eq!(got.len() as u64, n, "{dispatch:?} {order:?} {workers}");
                if order == Order::Preserve {
                    assert!(got.iter().enumerate().all(|(i, &v)| v == 3 * i as u64));
                } else {
                    let mut g = got.clone();
                    g.sort_unstable();
                    assert!(g.iter().enumerate().all(|(i, &v)| v == 3 * i as u64));
                }
            }
        }
    }
}

#[test]
fn flat_map_preserve_and_filter_map() {
    let out = Engine::builder()
        .workers(3)
        .capacity(8)
        .dispatch(Dispatch::LeastLoaded)
        .order(Order::Preserve)
        .flat_map(|x: u32| std::iter::repeat_n(x, (x % 3) as usize))
        .run(0..3000u32)
        .unwrap();
    let got: Vec<u32> = out.collect();
    let want: Vec<u32> = (0..3000u32)
        .flat_map(|x| std::iter::repeat_n(x, (x % 3) as usize))
        .collect();
    assert_eq!(got, want);
    let err = Engine::builder()
        .order(Order::Preserve)
        .filter_map(|x: u32| Some(x))
        .run(0..1u32)
        .unwrap_err();
    assert_eq!(err, BuildError::PreserveNeedsOneToOne);
}

#[test]
fn input_and_sink() {
    let (mut input, output) = Engine::builder()
        .workers(2)
        .map(|x: u32| x + 1)
        .start()
        .unwrap();
    let t = std::thread::spawn(move || input.send_all_blocking(0..10_000).unwrap());
    assert_eq!(
        output.map(u64::from).sum::<u64>(),
        (1..=10_000u64).sum::<u64>()
    );
    t.join().unwrap();
}

#[test]
fn worker_panic_surfaces() {
    let mut out = Engine::builder()
        .workers(3)
        .map(|x: u32| {
            if x == 500 {
                panic!("boom at {x}");
            }
            x
        })
        .run(0..100_000u32)
        .unwrap();
    // The typed path: the items before the failure, then the failure, never a panic.
    let mut n = 0;
    let err = loop {
        match out.next_checked() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("the stream ended quietly after {n} items"),
            Err(e) => break e,
        }
    };
    assert!(n < 100_000);
    assert!(
        matches!(err, Failure::WorkerPanicked { ref message, .. } if message == "boom at 500"),
        "{err:?}"
    );
    // Reported once as a value: the iterator then ends quietly, `join` still says why.
    assert_eq!(out.next(), None);
    let err = out.join().unwrap_err();
    assert!(matches!(err, Failure::WorkerPanicked { .. }), "{err:?}");
}

/// The panic's payload as text.
fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// A worker's panic is never a quiet, truncated end: `sum`, `collect`, `count` and a `for`
/// loop over the merged stream re-raise the worker's own payload on the caller's thread, with
/// `run`, `drive` and `start`; afterwards the stream ends quietly and `join` reports the
/// typed failure.
#[test]
fn a_worker_panic_is_re_raised_by_the_iterator() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let f = |x: u64| if x == 700 { panic!("bad item") } else { x + 1 };
    for mode in ["run", "drive", "start"] {
        for consumer in ["sum", "collect", "count", "for"] {
            let what = format!("{mode}/{consumer}");
            let b = || Engine::builder().workers(2).map(f);
            let mut input = None;
            let mut it: Box<dyn Iterator<Item = u64>> = match mode {
                "run" => Box::new(b().run(0..1000u64).unwrap()),
                "drive" => Box::new(b().drive(0..1000u64).unwrap()),
                _ => {
                    let (mut i, o) = b().start().unwrap();
                    let feeder = std::thread::spawn(move || {
                        let _ = i.send_all_blocking(0..1000u64);
                        i
                    });
                    input = Some(feeder);
                    Box::new(o)
                }
            };
            let r = catch_unwind(AssertUnwindSafe(|| match consumer {
                "sum" => it.by_ref().sum::<u64>(),
                "collect" => it.by_ref().collect::<Vec<_>>().len() as u64,
                "count" => it.by_ref().count() as u64,
                _ => {
                    let mut n = 0;
                    for _ in it.by_ref() {
                        n += 1;
                    }
                    n
                }
            }));
            let payload = r.expect_err(&format!("{what}: returned a truncated result"));
            assert_eq!(payload_text(&*payload), "bad item", "{what}");
            assert_eq!(it.next(), None, "{what}: raised once, then a quiet end");
            drop(it);
            if let Some(feeder) = input {
                drop(feeder.join().unwrap());
            }
        }
    }
}

#[test]
fn early_drop_stops() {
    for order in [Order::Any, Order::Preserve] {
        let mut out = Engine::builder()
            .workers(4)
            .capacity(16)
            .order(order)
            .map(|x: u64| x)
            .run(0..u64::MAX)
            .unwrap();
        assert_eq!(out.by_ref().take(1000).count(), 1000);
        drop(out);
    }
}

/// `drive`: the caller distributes and merges. Every dispatch and order, `flat_map` and
/// `filter_map` with `Preserve`, a source that is not `Send`, the counters, `batch(1)`.
#[test]
fn drive_delivers_everything() {
    use std::rc::Rc;
    for wait in waits() {
        for workers in [1, 3] {
            for (dispatch, order) in [
                (Dispatch::RoundRobin, Order::Any),
                (Dispatch::RoundRobin, Order::Preserve),
                (Dispatch::LeastLoaded, Order::Preserve),
                (Dispatch::by_key(|x: &u64| *x % 7), Order::Any),
            ] {
                let n = 20_000u64;
                // `Rc` is not `Send`: the source stays on this thread.
                let base = Rc::new(0u64);
                let mut out = Engine::builder()
                    .workers(workers)
                    .capacity(64)
                    .batch(16)
                    .wait(wait)
                    .pinning(Pinning::None)
                    .dispatch(dispatch)
                    .order(order)
                    .map(|x: u64| x * 2)
                    .drive((0..n).map(move |x| x + *base))
                    .unwrap();
                assert_eq!(out.plan().threads, workers + 1);
                let mut got: Vec<u64> = out.by_ref().collect();
                if order == Order::Any {
                    got.sort_unstable();
                }
                assert!(got.iter().copied().eq((0..n).map(|x| x * 2)));
                let stats = out.join().unwrap();
                assert_eq!(stats.merger.items, n);
                assert_eq!(stats.distributor.map(|d| d.items), Some(n));
            }
        }
    }
    let out = Engine::builder()
        .workers(2)
        .order(Order::Preserve)
        .dispatch(Dispatch::LeastLoaded)
        .flat_map(|x: u32| (0..x % 3).map(move |k| (x, k)))
        .drive(0..3_000u32)
        .unwrap();
    let want: Vec<(u32, u32)> = (0..3_000u32)
        .flat_map(|x| (0..x % 3).map(move |k| (x, k)))
        .collect();
    assert_eq!(out.collect::<Vec<_>>(), want);
    let out = Engine::builder()
        .workers(3)
        .batch(1)
        .filter_map(|x: u32| x.is_multiple_of(5).then_some(x))
        .drive(0..1_000u32)
        .unwrap();
    assert_eq!(out.count(), 200);
    // Auto pinning under drive: the first core is left to the caller; one other core per
    // worker while they last, else no worker is pinned.
    let cores = fanring::pinning::available_cores();
    for workers in [1, 3, cores.len().saturating_sub(1), cores.len() + 1] {
        if workers == 0 {
            continue;
        }
        let out = Engine::builder()
            .workers(workers)
            .map(|x: u8| x)
            .drive(0..10u8)
            .unwrap();
        let plan = out.plan().clone();
        assert_eq!(out.count(), 10);
        if cores.len() >= 2 && workers < cores.len() {
            let want: Vec<Option<usize>> = cores[1..=workers].iter().map(|&c| Some(c)).collect();
            assert_eq!(plan.workers, want, "{plan}");
        } else if cores.len() >= 2 {
            assert!(plan.workers.iter().all(Option::is_none), "{plan}");
        }
    }
    // An empty source ends at once.
    let mut out = Engine::builder()
        .map(|x: u8| x)
        .drive(std::iter::empty())
        .unwrap();
    assert_eq!(out.next(), None);
    assert_eq!(out.join().unwrap().merger.items, 0);
}

/// The handles and the merged streams keep their auto traits (they now hold raw pointers:
/// the ring handles' `Notifier`, the streams' `RunCursor`), so they can move to other threads.
#[test]
fn handles_and_streams_are_send() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<fanring::ring::Producer<u64>>();
    sync::<fanring::ring::Producer<u64>>();
    send::<fanring::ring::Consumer<u64>>();
    sync::<fanring::ring::Consumer<u64>>();
    send::<fanring::Output<u64>>();
    sync::<fanring::Output<u64>>();
    send::<fanring::Driven<fanring::source::Iter<std::ops::Range<u64>>, u64>>();
}
