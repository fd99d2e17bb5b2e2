//! loom models of the engine's three ends: a distributor thread, two workers, and the main
//! thread as the merger (4 threads; loom allows 5), and the caller-driven mode, where the main
//! thread distributes and merges (3 threads). Each asserts exactly-once delivery or
//! exactly-once drop, termination of every thread (the model would report a deadlock), input
//! order under `Preserve`, and the panic surfaced.
#![cfg(fanring_loom)]

use fanring::{Dispatch, Engine, Failure, Order, Pinning, WaitStrategy};
use fanring_loom_tests::counted::{Counted, Counts};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;

const PARK: WaitStrategy = WaitStrategy::SpinThenPark {
    spins: 0,
    yields: 0,
};

/// Four threads with parking make these models large: CI explores them with a preemption
/// bound of 1 (about a minute for the file on two cores); set `LOOM_ENGINE_PREEMPTIONS=2` by
/// hand before a release (tens of minutes).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(
        std::env::var("LOOM_ENGINE_PREEMPTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    );
    b.check(f);
}

fn builder<T: Send + 'static>() -> fanring::Builder<T> {
    Engine::builder()
        .workers(2)
        .capacity(2)
        // One item per round-robin turn, so two items reach both workers.
        .batch(1)
        .wait(PARK)
        .pinning(Pinning::None)
}

/// Normal end, any order: both items come out once, then the stream ends and join is Ok.
#[test]
fn normal_end_any_order() {
    model(|| {
        let mut out = builder().map(|x: u32| x + 10).run(0..2u32).unwrap();
        let mut got: Vec<u32> = out.by_ref().collect();
        got.sort_unstable();
        assert_eq!(got, [10, 11]);
        let stats = out.join().unwrap();
        assert_eq!(stats.workers.iter().map(|w| w.items_in).sum::<u64>(), 2);
    });
}

/// Normal end, round-robin Preserve: the rotation restores input order.
#[test]
fn normal_end_preserve_rotation() {
    model(|| {
        let out = builder()
            .order(Order::Preserve)
            .map(|x: u32| x * 3)
            .run(0..2u32)
            .unwrap();
        assert_eq!(out.collect::<Vec<_>>(), [0, 3]);
    });
}

/// Normal end, least-loaded Preserve: tagged items through the reorder window (size 1, so
/// the distributor must wait for the merger).
#[test]
fn normal_end_preserve_window() {
    model(|| {
        let out = builder()
            .dispatch(Dispatch::LeastLoaded)
            .order(Order::Preserve)
            .window(1)
            .map(|x: u32| x + 1)
            .run(0..2u32)
            .unwrap();
        assert_eq!(out.collect::<Vec<_>>(), [1, 2]);
    });
}

/// Two items whose creations and drops are counted: `(created, dropped, source)`.
fn counted_source() -> (
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
    impl Iterator<Item = Counted> + Send + 'static,
) {
    let counts = Counts::new();
    let source = counts.source(2).map(|(_, c)| c);
    (counts.created, counts.dropped, source)
}

/// Takes one item, then drops the stream, which stops the engine and detaches its threads
/// (a drop never waits on them); they end by themselves, and then every created item must
/// have been dropped exactly once (loom reports a deadlock if one never ends).
fn take_one_and_drop(
    mut out: impl Iterator<Item = Counted>,
    created: &AtomicUsize,
    dropped: &AtomicUsize,
) {
    let first = out.next();
    assert!(first.is_some());
    drop(first);
    drop(out);
    while created.load(SeqCst) != dropped.load(SeqCst) {
        loom::thread::yield_now();
    }
}

/// Early end: the merger takes one item and drops the stream; every thread exits (or loom
/// reports a deadlock) and every created item is dropped exactly once.
#[test]
fn early_end_drops_everything_once() {
    model(|| {
        let (created, dropped, source) = counted_source();
        let out = builder().map(|x: Counted| x).run(source).unwrap();
        take_one_and_drop(out, &created, &dropped);
    });
}

/// A worker panics: the stream ends, join names the worker and the message, nothing hangs,
/// and every created item is dropped exactly once.
#[test]
fn worker_panic_surfaces() {
    std::panic::set_hook(Box::new(|_| {}));
    model(|| {
        let counts = Counts::new();
        let (created, dropped) = (Arc::clone(&counts.created), Arc::clone(&counts.dropped));
        let source = counts.source(2);
        let mut out = builder()
            .map(|(i, c): (u32, Counted)| {
                if i == 0 {
                    panic!("boom");
                }
                c
            })
            .run(source)
            .unwrap();
        // The typed path (the iterator would re-raise the worker's panic here).
        while let Ok(Some(item)) = out.next_checked() {
            drop(item);
        }
        match out.join() {
            Err(Failure::WorkerPanicked {
                worker: 0, message, ..
            }) => assert_eq!(message, "boom"),
            other => panic!("expected worker 0's panic, got {other:?}"),
        }
        assert_eq!(created.load(SeqCst), dropped.load(SeqCst));
    });
}

/// Caller-driven (`drive`), any order: the main thread feeds both workers and merges; both
/// items come out once, the stream ends, join is Ok.
#[test]
fn drive_normal_end_any_order() {
    model(|| {
        let mut out = builder().map(|x: u32| x + 10).drive(0..2u32).unwrap();
        let mut got: Vec<u32> = out.by_ref().collect();
        got.sort_unstable();
        assert_eq!(got, [10, 11]);
        let stats = out.join().unwrap();
        assert_eq!(stats.distributor.map(|d| d.items), Some(2));
    });
}

/// Caller-driven, round-robin Preserve with more items than ring slots in flight (the main
/// thread must merge to be able to feed): input order, no deadlock.
#[test]
fn drive_preserve_rotation() {
    model(|| {
        let out = builder()
            .capacity(1)
            .order(Order::Preserve)
            .map(|x: u32| x * 3)
            .drive(0..3u32)
            .unwrap();
        assert_eq!(out.collect::<Vec<_>>(), [0, 3, 6]);
    });
}

/// Caller-driven early end: one item taken, the stream dropped; every thread exits and every
/// created item is dropped exactly once.
#[test]
fn drive_early_end_drops_everything_once() {
    model(|| {
        let (created, dropped, source) = counted_source();
        let out = builder().map(|x: Counted| x).drive(source).unwrap();
        take_one_and_drop(out, &created, &dropped);
    });
}
