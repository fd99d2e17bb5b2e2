//! The loom models of the spare (`engine::spare`), run by `spare.rs`. Not a test target itself
//! (a subdirectory).
//!
//! A distributor thread, two workers and the main thread as the merger (4 threads; loom
//! allows 5). Least-loaded dispatch into rings of one slot, one item per run: the third item
//! finds both rings full, and goes to the spare (`fanring::loom_hooks::spare(1)`: under loom
//! no run is timed as costly, so the models make the distributor spill whatever its items
//! cost). From there a worker whose ring ran dry takes it, or the distributor moves it back
//! into a ring with room before any newer item, or, once the source has ended, a worker
//! empties the spare before it leaves. Four items: the spare holds one (its capacity is the
//! batch), so the fourth goes behind it. `cut_runs` runs two-item runs, cut short after their
//! first item.

use fanring::{Dispatch, Engine, Failure, Order, Pinning, WaitStrategy};
use fanring_loom_tests::counted::{Counted, Counts};

const PARK: WaitStrategy = WaitStrategy::SpinThenPark {
    spins: 0,
    yields: 0,
};

/// Explores `f` with a preemption bound of 0 (`LOOM_SPARE_PREEMPTIONS` overrides it): every
/// schedule in which a thread gives way only where it blocks (parks, yields, joins, waits for
/// the spare's lock; the close/drain model checks that some go through the spare). Four threads
/// with parking and a lock: with bound 1 the close/drain model ran for more than two
/// minutes, unfinished, on the 2-core CI machine. At bound 0 a worker never stops between
/// taking its last ring item and looking at the spare, so no schedule closes the rings with
/// items still in it: a worker that left without emptying the spare is caught by
/// `tests/spare.rs` (items lost), not here.
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(
        std::env::var("LOOM_SPARE_PREEMPTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    b.check(f);
}

/// Executions of a model in which the distributor left an item in the spare: the models
/// assert that some did (a plain std counter: it counts the model's executions, it is not
/// state the model explores).
static SPILLED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn builder<T: Send + 'static>() -> fanring::Builder<T> {
    Engine::builder()
        .workers(2)
        .capacity(1)
        .batch(1)
        .dispatch(Dispatch::LeastLoaded)
        .wait(PARK)
        .pinning(Pinning::None)
}

/// Four items, the third (and fourth) through the spare: each comes out once (in input order under
/// `Preserve`), then the stream ends and join is Ok.
pub fn close_drain(order: Order) {
    model(move || {
        let mut out = builder()
            .order(order)
            .map(|x: u32| x + 10)
            .run(0..4u32)
            .unwrap();
        let mut got: Vec<u32> = out.by_ref().collect();
        if order == Order::Any {
            got.sort_unstable();
        }
        assert_eq!(got, [10, 11, 12, 13], "every item out exactly once");
        let stats = out.join().unwrap();
        let d = stats.distributor.unwrap();
        assert_eq!(d.items, 4);
        if d.spared > 0 {
            SPILLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    assert!(
        SPILLED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no execution went through the spare"
    );
}

/// Rings of two slots and runs of up to two items: the workers' runs of two are cut after
/// their first item (`spare(2)`), the second put back at the spare's front, where any worker
/// (or the distributor, refilling a ring) takes it. Four items come out once each, in input
/// order under `Preserve`, and join is Ok.
pub fn cut_runs() {
    model(|| {
        let mut out = builder()
            .capacity(2)
            .batch(2)
            .order(Order::Preserve)
            .map(|x: u32| x + 10)
            .run(0..4u32)
            .unwrap();
        let got: Vec<u32> = out.by_ref().collect();
        assert_eq!(
            got,
            [10, 11, 12, 13],
            "every item out exactly once, in order"
        );
        let stats = out.join().unwrap();
        assert_eq!(
            stats.workers.iter().map(|w| w.items_in).sum::<u64>()
                + stats.distributor.unwrap().inline,
            4,
            "{stats:?}"
        );
        if stats.workers.iter().any(|w| w.shed > 0) {
            SHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    assert!(
        SHED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no execution cut a run short"
    );
}

/// Executions of `cut_runs` in which a worker put items back (as `SPILLED`).
static SHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The merger takes one item and drops the stream: every thread ends by itself (or loom
/// reports a deadlock) and every created item, the spare's included, is dropped exactly once.
pub fn early_drop() {
    model(|| {
        let counts = Counts::new();
        let mut out = builder()
            .map(|(_, c): (u32, Counted)| c)
            .run(counts.source(3))
            .unwrap();
        drop(out.next());
        drop(out);
        while counts.get().0 != counts.get().1 {
            loom::thread::yield_now();
        }
    });
}

/// The worker that takes item 0 panics: a typed failure, never a clean end, and every
/// created item, the spare's included, is dropped exactly once.
pub fn panic_surfaces() {
    model(|| {
        let counts = Counts::new();
        let mut out = builder()
            .map(|(i, c): (u32, Counted)| {
                assert!(i != 0, "boom");
                c
            })
            .run(counts.source(3))
            .unwrap();
        while let Ok(Some(item)) = out.next_checked() {
            drop(item);
        }
        match out.join() {
            Err(Failure::WorkerPanicked { message, .. }) => assert_eq!(message, "boom"),
            other => panic!("expected the worker's panic, got {other:?}"),
        }
        let (c, d) = counts.get();
        assert_eq!(d, c, "every item dropped exactly once");
    });
}
