//! The loom models of a graph of two farms (`Pipeline::then`): 2 × 2 workers, or 2 × 1 for
//! the deeper explorations (see [`model`]), shared by
//! `graph.rs` (the real protocol: every model passes) and the canary binaries
//! (`graph_canary_*.rs`: a broken protocol switched on for the whole binary, through
//! `fanring::loom_hooks::graph_canary`: the model it breaks must fail). Not a test target
//! itself (a subdirectory).
//!
//! A 2 × 2 graph has four worker threads: with a distributor and a merger thread that would be 7, and loom
//! allows 5 (the main thread included), so every model is caller-driven (`drive`): the main
//! thread distributes into the first stage and merges the second's outputs. Every worker of
//! stage 0 writes to every worker of stage 1 over a ring of its own, so each stage-1 worker
//! reads two rings (`Inlet::Many`).
//!
//! Round-robin from the caller, one item per turn (`batch(1)`), and least-loaded from each
//! stage-0 worker (all to all: round-robin between equal counts would link worker `i` to
//! worker `i` only): the caller hands item 0 to stage-0 worker 0 and item 1 to worker 1, each
//! of which sends its first item to stage-1 worker 0 (the first of equally free rings); so stage-1 worker 0 gets an item from each of its two rings, and with a third
//! item (stage-0 worker 0's second) stage-1 worker 1 gets one too.
//!
//! The fused models (`fused: true`) link the stages one to one (round-robin, two workers
//! each) and run stage 1 on stage 0's threads (`Fusion::Always`): two worker threads, each
//! handing its outputs to its own copy of stage 1's work, which writes to the caller's
//! rings; the close/drain, the early drop and the panic go through `OutBuf::Through`.

use fanring::{Engine, Failure, Fusion, Order, Pinning, WaitStrategy};
use fanring_loom_tests::counted::{Counted, Counts};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;

const PARK: WaitStrategy = WaitStrategy::SpinThenPark {
    spins: 0,
    yields: 0,
};

/// Explores `f` with a preemption bound of `bound` (`LOOM_GRAPH_PREEMPTIONS` overrides it
/// for every model). Measured on the 2-core CI machine: the 2 × 2 models take under a second
/// each with bound 0 (hundreds to a few thousand executions), but with bound 1 one of them
/// ran for more than 5 minutes with two items and more than 2.5 with one, unfinished. So
/// they run with bound 0: every schedule in which a thread gives way only where it blocks
/// (parks, yields, joins), which is where the close/drain handshakes meet. The races that
/// need a thread preempted between two steps (bound 1: a close that overtakes the failure
/// it should follow, items left in a ring at an early end) are explored on a 2 × 1 graph
/// (its stage-1 worker still reads two rings): 20 s to a minute each, about 2 minutes for
/// `graph.rs`.
pub fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(
        std::env::var("LOOM_GRAPH_PREEMPTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(bound),
    );
    b.check(f);
}

/// One stage: two workers, rings of `capacity` 2 (1 where the model says so), one item per
/// turn, parking at once.
fn stage<T: Send + 'static>() -> fanring::Builder<T> {
    Engine::builder()
        .workers(2)
        .capacity(2)
        .batch(1)
        .wait(PARK)
        .pinning(Pinning::None)
}

/// The second stage: as [`stage`], dispatching least-loaded, so that the link into it is all
/// to all (round-robin between equal worker counts is one to one). With every ring equally
/// free, least-loaded picks the first, as round-robin's first turn does.
fn next_stage<T: Send + 'static>() -> fanring::Builder<T> {
    stage().dispatch(fanring::Dispatch::LeastLoaded)
}

/// The second stage and how it is linked: fused (round-robin, on stage 0's threads), or
/// all to all with `second` workers on threads of their own ([`next_stage`]).
fn linked<T: Send + 'static>(fused: bool, second: usize) -> (fanring::Builder<T>, Fusion) {
    if fused {
        (stage(), Fusion::Always)
    } else {
        (next_stage().workers(second), Fusion::Never)
    }
}

/// Close/drain, any order, on a 2 × `second` graph with `items` items, explored with
/// preemption bound `bound`: the caller's source ends → it closes stage 0's rings → each
/// stage-0 worker drains and closes its rings to stage 1 → each stage-1 worker ends only
/// once both its input rings are closed and drained → the stream ends. Every item comes out
/// exactly once, then the end (never a failure), and `join` is Ok with every item counted
/// through both stages.
pub fn close_drain_any_order(second: usize, items: u32, bound: usize) {
    model(bound, move || {
        let mut out = stage()
            .map(|x: u32| x + 10)
            .then(next_stage().workers(second).map(|x: u32| x * 2))
            .drive(0..items)
            .unwrap();
        let mut got = Vec::new();
        while let Some(x) = out.next_checked().expect("no stage fails") {
            got.push(x);
        }
        got.sort_unstable();
        let want: Vec<u32> = (0..items).map(|x| (x + 10) * 2).collect();
        assert_eq!(got, want, "every item exactly once");
        let stats = out.join().unwrap();
        let ins: Vec<u64> = stats.workers.iter().map(|w| w.items_in).collect();
        let all = u64::from(items);
        assert_eq!(ins[..2].iter().sum::<u64>(), all, "stage 0 took every item");
        assert_eq!(ins[2..].iter().sum::<u64>(), all, "stage 1 took every item");
    });
}

/// Close/drain, `Order::Preserve` end to end on the 2 × 2 graph linked one to one (bound
/// 0), three items through rings of one slot (so the caller must merge to be able to feed):
/// stage-1 worker `i` gets what stage-0 worker `i` made, over a ring or (`fused`) on its
/// thread; the stream is in input order, then ends.
pub fn close_drain_preserve(fused: bool) {
    model(0, move || {
        let fusion = if fused { Fusion::Always } else { Fusion::Never };
        let out = stage()
            .capacity(1)
            .order(Order::Preserve)
            .map(|x: u32| x + 1)
            .then(stage().capacity(1).map(|x: u32| x * 10))
            .fusion(fusion)
            .drive(0..3u32)
            .unwrap();
        assert_eq!(out.collect::<Vec<_>>(), [10, 20, 30]);
    });
}

/// Counts its drop in `self.0`: kept alive by a stage's function, it is dropped with the
/// last worker of that stage (after its rings and buffers, the thread's last drop).
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Early drop, on a 2 × `second` graph with two items, explored with preemption bound
/// `bound`: the caller takes one output and drops the stream. Its teardown cancels and
/// closes stage 0's rings and the output rings; the stage-1 workers see their output closed
/// and close their inputs; the stage-0 workers see a ring of theirs closed (`peer_gone`) or
/// their input closed, and stop. The drop waits for no thread: the model waits until both
/// stages' functions are dropped (each with the last worker of its stage, after everything
/// the worker held: a thread left blocked never gets there, and loom reports the deadlock),
/// then every created item must have been dropped exactly once.
pub fn early_drop_drops_everything_once(second: usize, bound: usize, fused: bool) {
    model(bound, move || {
        let counts = Counts::new();
        let gone = Arc::new(AtomicUsize::new(0));
        let source = counts.source(2).map(|(_, c)| c);
        let (alive0, alive1) = (Alive(Arc::clone(&gone)), Alive(Arc::clone(&gone)));
        let (next, fusion) = linked(fused, second);
        let mut out = stage()
            .map(move |x: Counted| {
                let _ = &alive0;
                x
            })
            .then(next.map(move |x: Counted| {
                let _ = &alive1;
                x
            }))
            .fusion(fusion)
            .drive(source)
            .unwrap();
        let first = out.next();
        assert!(first.is_some());
        drop(first);
        drop(out);
        while gone.load(SeqCst) < 2 {
            loom::thread::yield_now();
        }
        let (c, d) = counts.get();
        assert_eq!(
            d, c,
            "every item dropped exactly once ({d} drops of {c} items)"
        );
    });
}

/// A stage-1 worker panics, on a 2 × `second` graph with `items` items, explored with
/// preemption bound `bound`: stage-1 worker 0 panics on item 0 (which it gets from stage-0
/// worker 0; item 1, if any, reaches it from stage-0 worker 1). The thread shell records the failure
/// before it closes the worker's rings, so the stream never looks like a clean end:
/// `next_checked` hands out at most item 1 and then `Err(WorkerPanicked { stage: 1,
/// worker: 0 })`; `join` reports the same; every created item is dropped exactly once.
pub fn stage_one_panic_surfaces(second: usize, items: u32, bound: usize, fused: bool) {
    model(bound, move || {
        let counts = Counts::new();
        let source = counts.source(items);
        let (next, fusion) = linked(fused, second);
        let mut out = stage()
            .map(|x: (u32, Counted)| x)
            .then(next.map(|(i, c): (u32, Counted)| {
                if i == 0 {
                    panic!("boom");
                }
                c
            }))
            .fusion(fusion)
            .drive(source)
            .unwrap();
        let mut taken = 0;
        loop {
            match out.next_checked() {
                Ok(Some(item)) => {
                    taken += 1;
                    drop(item);
                }
                Ok(None) => panic!("the stream ended cleanly after a worker's panic"),
                Err(Failure::WorkerPanicked {
                    stage: 1,
                    worker: 0,
                    message,
                    ..
                }) => {
                    assert_eq!(message, "boom");
                    break;
                }
                Err(other) => panic!("expected stage 1 worker 0's panic, got {other:?}"),
            }
        }
        assert!(
            taken <= 1,
            "item 0 came out of the worker that panicked on it"
        );
        match out.join() {
            Err(Failure::WorkerPanicked {
                stage: 1,
                worker: 0,
                ..
            }) => {}
            other => panic!("expected stage 1 worker 0's panic from join, got {other:?}"),
        }
        let (c, d) = counts.get();
        assert!(c >= 1, "item 0 was taken from the source");
        assert_eq!(d, c, "every item dropped exactly once");
    });
}
