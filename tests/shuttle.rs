//! The engine's close/drain protocol under shuttle's randomized and PCT schedulers, at sizes
//! loom cannot reach (4–8 workers, dozens of items).
//!
//! ```text
//! cargo test --features shuttle --test shuttle --release
//! ```
//!
//! With the `shuttle` feature the crate takes its atomics, locks, threads and parking from
//! shuttle (`src/loom/shuttle.rs`), so every engine thread is a shuttle task and every atomic
//! access a scheduling point. Each scenario runs under the random scheduler and under PCT
//! (depth 3). shuttle treats every atomic as `SeqCst`, so this suite finds logic bugs (an item
//! lost or delivered twice, a drain that stops early, a lost close or wake-up, which shuttle
//! reports as a deadlock, a leak), not ordering bugs: those are loom's (`loom-tests/`).
//!
//! A failure prints the schedule; replay it with `shuttle::replay(f, "<schedule>")`.
//! `SHUTTLE_ITERATIONS=<n>` scales every scenario's iteration count (default below).
#![cfg(feature = "shuttle")]

#[macro_use]
mod common;

use common::shuttle::{check_both, source, Counts, Tracked, PARK, PARK_LATE, YIELD};
use common::Mode;
use fanring::{Dispatch, Engine, Failure, Order, Pinning, SendError, WaitStrategy};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn key_of(v: usize) -> u64 {
    (v % 5) as u64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    RrAny,
    RrRotate,
    LlTagged,
    KeyAny,
}

impl Shape {
    fn dispatch(self) -> Dispatch<Tracked> {
        match self {
            Shape::RrAny | Shape::RrRotate => Dispatch::RoundRobin,
            Shape::LlTagged => Dispatch::LeastLoaded,
            Shape::KeyAny => Dispatch::by_key(|t: &Tracked| key_of(t.v)),
        }
    }
    fn order(self) -> Order {
        match self {
            Shape::RrAny | Shape::KeyAny => Order::Any,
            Shape::RrRotate | Shape::LlTagged => Order::Preserve,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Setup {
    shape: Shape,
    workers: usize,
    capacity: usize,
    batch: usize,
    wait: WaitStrategy,
    /// The reorder window (tagged `Preserve` only); small, so the distributor waits on it.
    window: Option<usize>,
    /// `drive` (the main task distributes and merges) instead of `run`.
    mode: Mode,
}

impl Setup {
    fn new(shape: Shape, workers: usize) -> Self {
        Setup {
            shape,
            workers,
            capacity: 2,
            batch: 2,
            wait: PARK,
            window: None,
            mode: Mode::Run,
        }
    }
    fn drive(mut self) -> Self {
        self.mode = Mode::Drive;
        self
    }
    fn wait(mut self, w: WaitStrategy) -> Self {
        self.wait = w;
        self
    }
    fn capacity(mut self, c: usize) -> Self {
        self.capacity = c;
        self
    }
    fn batch(mut self, b: usize) -> Self {
        self.batch = b;
        self
    }
    fn window(mut self, w: usize) -> Self {
        self.window = Some(w);
        self
    }
    fn builder(self) -> fanring::Builder<Tracked> {
        let b = Engine::builder()
            .workers(self.workers)
            .capacity(self.capacity)
            .batch(self.batch)
            .wait(self.wait)
            .pinning(Pinning::None)
            .dispatch(self.shape.dispatch())
            .order(self.shape.order());
        match self.window {
            Some(w) => b.window(w),
            None => b,
        }
    }
}

/// Checks a complete output: every input exactly once, in input order under `Preserve`, in
/// per-key order under `ByKey`.
fn check_complete(shape: Shape, got: &[usize], n: usize, what: &str) {
    assert_eq!(got.len(), n, "{what}: {got:?}");
    match shape.order() {
        Order::Preserve => assert!(got.iter().copied().eq(0..n), "{what}: {got:?}"),
        Order::Any => {
            let mut g = got.to_vec();
            g.sort_unstable();
            assert!(g.iter().copied().eq(0..n), "{what}: {got:?}");
        }
    }
    if shape == Shape::KeyAny {
        for k in 0..5 {
            let per_key: Vec<usize> = got.iter().copied().filter(|&v| key_of(v) == k).collect();
            assert!(
                per_key.windows(2).all(|w| w[0] < w[1]),
                "{what}: key {k}: {got:?}"
            );
        }
    }
}

/// Checks the part of the output seen before an early end: no item twice; a prefix in input
/// order under `Preserve`.
fn check_partial(shape: Shape, got: &[usize], what: &str) {
    if shape.order() == Order::Preserve {
        assert!(got.iter().copied().eq(0..got.len()), "{what}: {got:?}");
    } else {
        let mut g = got.to_vec();
        g.sort_unstable();
        g.dedup();
        assert_eq!(g.len(), got.len(), "{what}: an item twice: {got:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Normal end: exactly-once delivery
// ---------------------------------------------------------------------------------------------

/// `run(source)` to the end: every item exactly once (in order where promised), `join` Ok
/// with counters that add up, every item dropped once.
fn normal_end(s: Setup, n: usize) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("normal end {s:?} n {n}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let mut out = launch!(s.builder().map(|t: Tracked| t), s.mode, source(n, &counts));
        let got: Vec<usize> = out.by_ref().map(|t| t.v).collect();
        check_complete(s.shape, &got, n, &what);
        let stats = out.join().unwrap();
        assert_eq!(stats.merger.items, n as u64, "{what}");
        assert_eq!(stats.distributor.map(|d| d.items), Some(n as u64), "{what}");
        // Through the workers, or (a quiet run) run by the distributor itself.
        let inline = stats.distributor.map_or(0, |d| d.inline);
        let (i, o) = stats.workers.iter().fold((inline, inline), |(i, o), w| {
            (i + w.items_in, o + w.items_out)
        });
        assert_eq!((i, o), (n as u64, n as u64), "{what}");
        assert!(
            stats
                .workers
                .iter()
                .all(|w| w.peak_occupancy <= s.capacity.next_power_of_two()),
            "{what}"
        );
        counts.assert_balanced(&what);
    })
}

/// The same through `start()`: a shuttle thread feeds the `Input` (item by item), the main
/// task merges.
fn normal_end_start(s: Setup, n: usize) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("start {s:?} n {n}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let (mut input, mut out) = s.builder().map(|t: Tracked| t).start().unwrap();
        let c = Arc::clone(&counts);
        let feeder = shuttle::thread::spawn(move || {
            for t in source(n, &c) {
                if input.send_blocking(t).is_err() {
                    panic!("the engine stopped before the end");
                }
            }
        });
        let got: Vec<usize> = out.by_ref().map(|t| t.v).collect();
        check_complete(s.shape, &got, n, &what);
        let stats = out.join().unwrap();
        assert_eq!(stats.merger.items, n as u64, "{what}");
        feeder.join().unwrap();
        counts.assert_balanced(&what);
    })
}

#[test]
fn normal_end_drive() {
    check_both(normal_end(Setup::new(Shape::RrAny, 6).drive(), 32), 1000);
    check_both(
        normal_end(Setup::new(Shape::RrRotate, 4).drive().batch(3), 24),
        500,
    );
    check_both(
        normal_end(Setup::new(Shape::LlTagged, 4).drive().window(3), 24),
        500,
    );
    check_both(normal_end(Setup::new(Shape::KeyAny, 5).drive(), 24), 500);
}

#[test]
fn normal_end_rr_any() {
    check_both(normal_end(Setup::new(Shape::RrAny, 6), 32), 1500);
    check_both(normal_end(Setup::new(Shape::RrAny, 4).wait(YIELD), 24), 500);
}

#[test]
fn normal_end_rr_preserve() {
    check_both(normal_end(Setup::new(Shape::RrRotate, 6), 32), 1500);
    check_both(
        normal_end(Setup::new(Shape::RrRotate, 4).wait(PARK_LATE).batch(3), 24),
        500,
    );
}

#[test]
fn normal_end_least_loaded_preserve() {
    // A window smaller than the items in flight: the distributor waits for the merger.
    check_both(
        normal_end(Setup::new(Shape::LlTagged, 6).window(4), 32),
        1500,
    );
    check_both(
        normal_end(Setup::new(Shape::LlTagged, 4).wait(YIELD).capacity(4), 24),
        500,
    );
}

#[test]
fn normal_end_by_key() {
    check_both(normal_end(Setup::new(Shape::KeyAny, 6), 32), 1500);
    check_both(normal_end(Setup::new(Shape::KeyAny, 8).batch(1), 24), 500);
}

#[test]
fn normal_end_with_input_handle() {
    check_both(normal_end_start(Setup::new(Shape::RrAny, 4), 20), 500);
    check_both(normal_end_start(Setup::new(Shape::RrRotate, 4), 20), 500);
    check_both(
        normal_end_start(Setup::new(Shape::LlTagged, 4).window(3), 20),
        500,
    );
}

// ---------------------------------------------------------------------------------------------
// Early end: the merged stream dropped
// ---------------------------------------------------------------------------------------------

/// `run(source)` over `n` items (more than fit in the rings); the merged stream is dropped
/// after `take` items: every thread exits and every created item is dropped exactly once.
fn early_drop_run(
    s: Setup,
    n: usize,
    take: usize,
) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("early drop (run) {s:?} n {n} take {take}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let mut out = launch!(s.builder().map(|t: Tracked| t), s.mode, source(n, &counts));
        let got: Vec<usize> = out.by_ref().take(take).map(|t| t.v).collect();
        assert_eq!(got.len(), take, "{what}");
        check_partial(s.shape, &got, &what);
        drop(out);
        counts.assert_balanced_eventually(&what);
    })
}

/// `start()` with a feeder task sending until `Closed`; the merged stream is dropped after
/// `take` items (or joined while items are in flight): once the feeder is done, every created
/// item has been dropped exactly once.
fn early_drop_start(
    s: Setup,
    take: usize,
    join: bool,
) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("early drop (start) {s:?} take {take} join {join}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let (mut input, mut out) = s.builder().map(|t: Tracked| t).start().unwrap();
        let c = Arc::clone(&counts);
        let feeder = shuttle::thread::spawn(move || {
            let mut i = 0;
            loop {
                match input.send_blocking(Tracked::new(i, &c)) {
                    Ok(()) => i += 1,
                    Err(SendError(t)) => break drop(t),
                }
            }
        });
        let got: Vec<usize> = out.by_ref().take(take).map(|t| t.v).collect();
        assert_eq!(got.len(), take, "{what}");
        check_partial(s.shape, &got, &what);
        if join {
            let stats = out.join().unwrap();
            assert!(stats.merger.items >= take as u64, "{what}");
        } else {
            drop(out);
        }
        feeder.join().unwrap();
        counts.assert_balanced_eventually(&what);
    })
}

#[test]
fn early_drop_run_balances() {
    for shape in [
        Shape::RrAny,
        Shape::RrRotate,
        Shape::LlTagged,
        Shape::KeyAny,
    ] {
        for take in [0, 1, 7] {
            check_both(early_drop_run(Setup::new(shape, 5), 40, take), 200);
            check_both(early_drop_run(Setup::new(shape, 5).drive(), 40, take), 100);
        }
    }
}

#[test]
fn early_drop_start_balances() {
    for shape in [
        Shape::RrAny,
        Shape::RrRotate,
        Shape::LlTagged,
        Shape::KeyAny,
    ] {
        for (take, join) in [(0, false), (1, false), (6, true)] {
            check_both(early_drop_start(Setup::new(shape, 4), take, join), 150);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------------------------

/// A worker panics at item `at`: the stream ends early, `join` returns `WorkerPanicked` with
/// the message, every created item is dropped, no task is left blocked (shuttle would report
/// a deadlock).
fn worker_panic(
    s: Setup,
    n: usize,
    at: usize,
) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("worker panic {s:?} n {n} at {at}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let pipeline = s.builder().map(move |t: Tracked| {
            if t.v == at {
                panic!("boom at {}", t.v);
            }
            t
        });
        let mut out = launch!(pipeline, s.mode, source(n, &counts));
        // The typed path (the iterator would re-raise the worker's panic).
        let mut got = Vec::new();
        while let Ok(Some(t)) = out.next_checked() {
            got.push(t.v);
        }
        assert!(!got.contains(&at), "{what}: {got:?}");
        check_partial(s.shape, &got, &what);
        match out.join() {
            Err(Failure::WorkerPanicked {
                worker, message, ..
            }) => {
                assert_eq!(message, format!("boom at {at}"), "{what}");
                if s.shape == Shape::RrRotate {
                    // The rotation gives each worker a run of exactly `batch` items per turn
                    // (round-robin `Any` ends a run early when the source has no more ready).
                    let run = s.batch.min(s.capacity);
                    assert_eq!(worker, at / run % s.workers, "{what}");
                }
            }
            other => panic!("{what}: expected WorkerPanicked, got {other:?}"),
        }
        counts.assert_balanced(&what);
    })
}

/// The source panics at item `at` (`SourcePanicked`), or the sink of `run_with_sink` does
/// (`SinkPanicked`): reported by `join`, every created item dropped.
fn source_or_sink_panic(
    s: Setup,
    n: usize,
    at: usize,
    sink: bool,
) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!(
        "{} panic {s:?} n {n} at {at}",
        if sink { "sink" } else { "source" }
    );
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let pipeline = s.builder().map(|t: Tracked| t);
        if sink {
            let seen = Arc::new(AtomicUsize::new(0));
            let k = Arc::clone(&seen);
            let running = pipeline
                .run_with_sink(source(n, &counts), move |t: Tracked| {
                    if k.fetch_add(1, SeqCst) == at {
                        panic!("boom in sink");
                    }
                    drop(t);
                })
                .unwrap();
            let err = running.join().unwrap_err();
            assert!(
                matches!(&err, Failure::SinkPanicked { message, .. } if message == "boom in sink"),
                "{what}: {err:?}"
            );
            assert_eq!(seen.load(SeqCst), at + 1, "{what}");
        } else {
            let c = Arc::clone(&counts);
            let src = (0..n).map(move |i| {
                if i == at {
                    panic!("boom in source");
                }
                Tracked::new(i, &c)
            });
            let mut out = pipeline.run(src).unwrap();
            let mut got = Vec::new();
            while let Ok(Some(t)) = out.next_checked() {
                got.push(t.v);
            }
            assert!(got.len() <= at, "{what}");
            check_partial(s.shape, &got, &what);
            let err = out.join().unwrap_err();
            assert!(
                matches!(&err, Failure::SourcePanicked { message, .. } if message == "boom in source"),
                "{what}: {err:?}"
            );
        }
        counts.assert_balanced(&what);
    })
}

#[test]
fn worker_panic_surfaces() {
    let n = 24;
    for shape in [
        Shape::RrAny,
        Shape::RrRotate,
        Shape::LlTagged,
        Shape::KeyAny,
    ] {
        for at in [0, 11, n - 1] {
            check_both(worker_panic(Setup::new(shape, 4), n, at), 200);
            check_both(worker_panic(Setup::new(shape, 4).drive(), n, at), 100);
        }
    }
}

#[test]
fn source_and_sink_panics_surface() {
    let n = 20;
    for shape in [
        Shape::RrAny,
        Shape::RrRotate,
        Shape::LlTagged,
        Shape::KeyAny,
    ] {
        for at in [0, 9, n - 1] {
            for sink in [false, true] {
                check_both(source_or_sink_panic(Setup::new(shape, 4), n, at, sink), 100);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sources that block: publish before waiting in the source
// ---------------------------------------------------------------------------------------------

/// A shuttle channel's receiver as the engine's source: its `recv` blocks the task, so an
/// item the engine held while the distributor waits there is a deadlock shuttle reports.
struct Blocking(shuttle::sync::mpsc::Receiver<Tracked>);

impl fanring::source::Source for Blocking {
    type Item = Tracked;
    fn try_recv(&mut self) -> Result<Tracked, fanring::source::TryRecvError> {
        self.0.try_recv().map_err(|e| match e {
            shuttle::sync::mpsc::TryRecvError::Empty => fanring::source::TryRecvError::Empty,
            shuttle::sync::mpsc::TryRecvError::Disconnected => {
                fanring::source::TryRecvError::Closed
            }
        })
    }
    fn recv(&mut self) -> Option<Tracked> {
        self.0.recv().ok()
    }
}

/// Items go in one at a time; each comes out before the next is sent, while the source
/// blocks; then the source closes and the stream ends. With `early`, the stream is dropped
/// while the distributor may wait in the source, and the source closes after: every item is
/// dropped once, and nothing waits forever.
fn blocking_source(
    s: Setup,
    n: usize,
    early: bool,
) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("blocking source {s:?} n {n} early {early}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let (tx, rx) = shuttle::sync::mpsc::channel::<Tracked>();
        let pipeline = s.builder().map(|t: Tracked| t);
        let mut out: Box<dyn Iterator<Item = Tracked>> = match s.mode {
            Mode::Run => Box::new(pipeline.run_source(Blocking(rx)).unwrap()),
            Mode::Drive => Box::new(pipeline.drive_source(Blocking(rx)).unwrap()),
        };
        for i in 0..n {
            tx.send(Tracked::new(i, &counts)).unwrap();
            let t = out
                .next()
                .expect("the item comes out while the source blocks");
            assert_eq!(t.v, i, "{what}");
        }
        if early {
            drop(out);
            drop(tx);
        } else {
            drop(tx);
            assert!(out.next().is_none(), "{what}");
            drop(out);
        }
        // After an early drop under `run` the distributor may still be on its way out of
        // `recv` (shuttle runs it to its end, or reports a deadlock); the drop counts of that
        // case are checked in tests/blocking_source.rs.
        if !early {
            counts.assert_balanced(&what);
        }
    })
}

#[test]
fn blocking_source_publishes_before_waiting() {
    for shape in [
        Shape::RrAny,
        Shape::RrRotate,
        Shape::LlTagged,
        Shape::KeyAny,
    ] {
        for mode in [Mode::Run, Mode::Drive] {
            let mut s = Setup::new(shape, 2).batch(4).capacity(8);
            s.mode = mode;
            check_both(blocking_source(s, 3, false), 200);
        }
    }
}

#[test]
fn blocking_source_cancel_while_waiting() {
    for shape in [Shape::RrAny, Shape::KeyAny] {
        check_both(
            blocking_source(Setup::new(shape, 2).batch(4).capacity(8), 2, true),
            200,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Graphs of farms: three stages connected ring to ring
// ---------------------------------------------------------------------------------------------

/// A graph of three stages, 2 → 3 → 2 workers (every worker of a stage writes to every
/// worker of the next over a ring of its own), the middle one repartitioned by key, under
/// `run` (a distributor task, and the main task merging): 9 tasks. `order` is set on the
/// first stage (`Preserve` then holds end to end). The middle stage panics at item `panic_at`.
fn graph3(order: Order, panic_at: Option<usize>) -> fanring::Graph<Tracked, Tracked> {
    let stage = |workers: usize| {
        Engine::builder()
            .workers(workers)
            .capacity(2)
            .batch(2)
            .wait(PARK)
            .pinning(Pinning::None)
    };
    stage(2)
        .order(order)
        .map(|t: Tracked| t)
        .then(
            stage(3)
                .dispatch(Dispatch::by_key(|t: &Tracked| key_of(t.v)))
                .map(move |t: Tracked| {
                    if Some(t.v) == panic_at {
                        panic!("boom at {}", t.v);
                    }
                    t
                }),
        )
        .then(stage(2).map(|t: Tracked| t))
}

/// The shape `check_complete` and `check_partial` judge a graph's output by.
fn graph_shape(order: Order) -> Shape {
    match order {
        Order::Preserve => Shape::RrRotate,
        Order::Any => Shape::RrAny,
    }
}

/// A 3-stage graph to the end: every item exactly once (in input order under `Preserve`),
/// then the end, never a failure; `join` Ok with every stage's workers counting every item;
/// every item dropped once.
fn graph_normal_end(order: Order, n: usize) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("graph 2→3→2 normal end {order:?} n {n}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let mut out = graph3(order, None).run(source(n, &counts)).unwrap();
        let mut got = Vec::new();
        while let Some(t) = out.next_checked().expect("no stage fails") {
            got.push(t.v);
        }
        check_complete(graph_shape(order), &got, n, &what);
        let stats = out.join().unwrap();
        assert_eq!(stats.merger.items, n as u64, "{what}");
        let ins: Vec<u64> = stats.workers.iter().map(|w| w.items_in).collect();
        assert_eq!(ins.len(), 7, "{what}");
        for (stage, range) in [(0, 0..2), (1, 2..5), (2, 5..7)] {
            let sum: u64 = ins[range].iter().sum();
            assert_eq!(sum, n as u64, "{what}: stage {stage} took {sum} items");
        }
        counts.assert_balanced(&what);
    })
}

/// A 3-stage graph whose stream is dropped after `take` items: what came out is no item
/// twice (a prefix in order under `Preserve`); every task ends by itself and every created
/// item is dropped exactly once.
fn graph_early_drop(
    order: Order,
    n: usize,
    take: usize,
) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("graph 2→3→2 early drop {order:?} n {n} take {take}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let mut out = graph3(order, None).run(source(n, &counts)).unwrap();
        let got: Vec<usize> = out.by_ref().take(take).map(|t| t.v).collect();
        assert_eq!(got.len(), take, "{what}");
        check_partial(graph_shape(order), &got, &what);
        drop(out);
        counts.assert_balanced_eventually(&what);
    })
}

/// A middle-stage worker of a 3-stage graph panics at item `at`: `next_checked` hands out
/// items without `at` (a prefix in order under `Preserve`), then `Err(WorkerPanicked { stage:
/// 1 })`, never a clean end; `join` reports the same with the message; every created item is
/// dropped once.
fn graph_middle_panic(
    order: Order,
    n: usize,
    at: usize,
) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("graph 2→3→2 middle panic {order:?} n {n} at {at}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let mut out = graph3(order, Some(at)).run(source(n, &counts)).unwrap();
        let mut got = Vec::new();
        let failure = loop {
            match out.next_checked() {
                Ok(Some(t)) => got.push(t.v),
                Ok(None) => panic!("{what}: a clean end after a worker's panic: {got:?}"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(failure, Failure::WorkerPanicked { stage: 1, .. }),
            "{what}: {failure:?}"
        );
        assert!(!got.contains(&at), "{what}: {got:?}");
        check_partial(graph_shape(order), &got, &what);
        match out.join() {
            Err(Failure::WorkerPanicked {
                stage: 1,
                worker,
                message,
                ..
            }) => {
                assert_eq!(message, format!("boom at {at}"), "{what}");
                assert!(worker < 3, "{what}: worker {worker}");
            }
            other => panic!("{what}: expected stage 1's WorkerPanicked, got {other:?}"),
        }
        counts.assert_balanced(&what);
    })
}

#[test]
fn graph_three_stages_normal_end() {
    for order in [Order::Any, Order::Preserve] {
        check_both(graph_normal_end(order, 24), 2000);
    }
}

#[test]
fn graph_three_stages_early_drop_balances() {
    for order in [Order::Any, Order::Preserve] {
        for take in [0, 1, 7] {
            check_both(graph_early_drop(order, 24, take), 1000);
        }
    }
}

#[test]
fn graph_three_stages_middle_panic_surfaces() {
    let n = 20;
    for order in [Order::Any, Order::Preserve] {
        for at in [0, 9, n - 1] {
            check_both(graph_middle_panic(order, n, at), 1000);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// End-of-stream hooks of fused stages
// ---------------------------------------------------------------------------------------------

/// Three stages of 2 workers on two threads (`Fusion::Always`): stage 0's hooks each emit one
/// more item (worker 0's hook panics instead when `panic`), stage 2's hooks record how many
/// items stage 2 had taken in all. Normal end: each stage-2 hook saw `n + 2`, after every
/// item; with the panic: `Err(EndPanicked { stage: 0, worker: 0 })`, never a clean end, and no
/// stage-2 hook runs. Every item dropped once.
fn fused_hooks(n: usize, panic: bool) -> (String, impl Fn() + Send + Sync + Clone + 'static) {
    let what = format!("fused 2→2→2 hooks n {n} panic {panic}");
    (what.clone(), move || {
        let counts = Arc::new(Counts::default());
        let seen = Arc::new(AtomicUsize::new(0));
        let hooks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stage = || {
            Engine::builder()
                .workers(2)
                .capacity(2)
                .batch(2)
                .wait(PARK)
                .pinning(Pinning::None)
        };
        let extra = Arc::clone(&counts);
        let (s, h) = (Arc::clone(&seen), Arc::clone(&hooks));
        let mut out = stage()
            .stateful(|w| w, |_, t: Tracked, emit| emit.push(t))
            .on_end(move |w, emit| {
                if panic && *w == 0 {
                    panic!("boom in stage 0's hook");
                }
                emit.push(Tracked::new(1_000 + *w, &extra));
            })
            .then(stage().map(|t: Tracked| t))
            .then(
                stage()
                    .stateful(
                        |w| w,
                        move |_, t: Tracked, emit| {
                            s.fetch_add(1, SeqCst);
                            emit.push(t);
                        },
                    )
                    .on_end(move |w, _emit| h.lock().unwrap().push((*w, seen.load(SeqCst)))),
            )
            .fusion(fanring::Fusion::Always)
            .run(source(n, &counts))
            .unwrap();
        let mut got = 0;
        let failure = loop {
            match out.next_checked() {
                Ok(Some(_)) => got += 1,
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        if panic {
            assert!(
                matches!(
                    failure,
                    Some(Failure::EndPanicked {
                        stage: 0,
                        worker: 0,
                        ..
                    })
                ),
                "{what}: {failure:?}"
            );
            assert!(out.join().is_err(), "{what}");
            counts.assert_balanced(&what);
            assert_eq!(
                *hooks.lock().unwrap(),
                [],
                "{what}: a hook ran after the failure"
            );
        } else {
            assert!(failure.is_none(), "{what}: {failure:?}");
            assert_eq!(got, n + 2, "{what}");
            out.join().unwrap();
            counts.assert_balanced(&what);
            let mut h = hooks.lock().unwrap().clone();
            h.sort_unstable();
            assert_eq!(
                h,
                [(0, n + 2), (1, n + 2)],
                "{what}: (worker, items stage 2 had)"
            );
        }
    })
}

#[test]
fn fused_hooks_wait_for_every_thread() {
    check_both(fused_hooks(6, false), 1000);
}

#[test]
fn fused_hooks_do_not_run_after_a_failure() {
    check_both(fused_hooks(6, true), 1000);
}
