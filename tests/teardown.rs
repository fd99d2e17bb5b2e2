//! Teardown is panic-safe. An item whose `Drop` panics (once) is dropped during a teardown; the
//! panic reaches the caller like a `Vec`'s, but only after every step of the teardown ran:
//! every ring closed, every other item held there dropped, and (`join`) every thread joined.
//! A drop detaches the engine's threads (it never waits on user code): they end by themselves,
//! and every item is then dropped exactly once (`assert_balanced` waits for that). Every
//! teardown path: `join` and drop of `Output` and `Driven`, `Running`, `Input`, `split`'s
//! thread and `merge`'s stream; every order and dispatch policy.
//!
//! Each scenario runs on a thread of its own and fails if it is not done in 30 s (a hang
//! detector only: nothing here depends on timing).

use fanring::fan::{merge, split};
use fanring::ring::PushError;
use fanring::{channel, Dispatch, Engine, Failure, Order, Pinning, SendError};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(30);

/// Items created and dropped.
#[derive(Default)]
struct Counts {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

impl Counts {
    fn new() -> Arc<Self> {
        Arc::new(Counts::default())
    }
    /// Every item created is dropped exactly once, now or (threads a drop detached) once those
    /// threads end by themselves: waits up to `HANG` for that.
    fn assert_balanced(&self, what: &str) {
        let t = Instant::now();
        while self.created.load(SeqCst) != self.dropped.load(SeqCst) && t.elapsed() < HANG {
            std::thread::sleep(Duration::from_millis(1));
        }
        let (c, d) = (self.created.load(SeqCst), self.dropped.load(SeqCst));
        assert_eq!(c, d, "{what}: {c} items created, {d} dropped");
    }
}

/// An item that counts its drop; the one whose value is `boom` panics in its `Drop` (after
/// being counted).
struct Pd {
    v: u64,
    boom: u64,
    counts: Arc<Counts>,
}

impl Pd {
    fn new(v: u64, boom: u64, counts: &Arc<Counts>) -> Self {
        counts.created.fetch_add(1, SeqCst);
        Pd {
            v,
            boom,
            counts: Arc::clone(counts),
        }
    }
}

impl Drop for Pd {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, SeqCst);
        if self.v == self.boom {
            panic!("pd-drop {}", self.v);
        }
    }
}

/// A source whose items are all ready: `try_recv` hands them out, then says it has ended.
struct Ready(std::collections::VecDeque<u64>);

impl fanring::source::Source for Ready {
    type Item = u64;
    fn try_recv(&mut self) -> Result<u64, fanring::source::TryRecvError> {
        self.0
            .pop_front()
            .ok_or(fanring::source::TryRecvError::Closed)
    }
    fn recv(&mut self) -> Option<u64> {
        self.0.pop_front()
    }
}

/// Set when dropped: captured by a work function, it is dropped once every worker is gone.
struct Gone(Arc<AtomicBool>);

impl Drop for Gone {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

fn wait_for(flag: &AtomicBool, what: &str) {
    let start = Instant::now();
    while !flag.load(SeqCst) {
        assert!(start.elapsed() < HANG, "{what}: the workers never ended");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_string()
    }
}

/// Runs `f` on its own thread; fails if it is not done within `HANG`. Returns what `f`
/// returned, or the message of the panic that escaped it.
fn within<R: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(f)).map_err(|p| message(&*p));
        let _ = tx.send(r);
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what}: teardown hung (not done in {HANG:?})"))
}

/// Every order and dispatch policy (round-robin `Preserve` reads by rotation, the others
/// with `Preserve` through the tagged window).
fn shapes() -> Vec<(&'static str, Dispatch<u64>, Order)> {
    vec![
        ("rr any", Dispatch::RoundRobin, Order::Any),
        ("rr preserve", Dispatch::RoundRobin, Order::Preserve),
        ("least any", Dispatch::LeastLoaded, Order::Any),
        ("least preserve", Dispatch::LeastLoaded, Order::Preserve),
        ("key any", Dispatch::by_key(|x: &u64| x % 2), Order::Any),
        (
            "key preserve",
            Dispatch::by_key(|x: &u64| x % 2),
            Order::Preserve,
        ),
    ]
}

/// The issue's input: a worker panics while the merger's rings hold an item whose `Drop`
/// panics, and the distributor waits for room in the reorder window. `join` used to panic
/// with "pd-drop 3" and then never return (the merger dropped its rings before closing the
/// window). Now: `join` returns the worker's panic, or re-raises "pd-drop 3" after the whole
/// teardown; every item is dropped once either way.
#[test]
fn issue_join_after_worker_panic_with_panicking_drop_returns() {
    let counts = Counts::new();
    let c = Arc::clone(&counts);
    let r = within("join after a worker panic, panicking drop", move || {
        let out = Engine::builder()
            .workers(2)
            .batch(1)
            .window(8)
            .pinning(Pinning::None)
            .order(Order::Preserve)
            .dispatch(Dispatch::by_key(|x: &u64| x % 2))
            .map(move |x: u64| {
                if x == 5 {
                    panic!("worker-boom")
                }
                Pd::new(x, 3, &c)
            })
            .run(0..10_000u64)
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        out.join().map(drop)
    });
    match r {
        Err(m) => assert_eq!(m, "pd-drop 3"),
        Ok(Err(Failure::WorkerPanicked { message, .. })) => {
            assert!(
                message == "worker-boom" || message == "pd-drop 3",
                "{message}"
            );
        }
        Ok(other) => panic!("expected a panic or a worker failure, got {other:?}"),
    }
    counts.assert_balanced("join after a worker panic, panicking drop");
}

/// The same in every tagged shape (the window is where the distributor waits), with `map`
/// and with `flat_map`, through `run` and `drive`, joined or dropped.
#[test]
fn worker_panic_with_panicking_drop_never_hangs() {
    for (name, dispatch, order) in shapes() {
        for flat in [false, true] {
            if flat && order == Order::Preserve && dispatch.is_round_robin_for_test() {
                continue; // refused: rotation needs one output per input
            }
            for path in ["run join", "run drop", "drive join", "drive drop"] {
                let what = format!("{name} flat={flat} {path}");
                let counts = Counts::new();
                let c = Arc::clone(&counts);
                let dispatch = dispatch.clone();
                let path_ = path;
                let r = within(&what, move || {
                    let b = Engine::builder()
                        .workers(2)
                        .batch(1)
                        .capacity(8)
                        .window(8)
                        .pinning(Pinning::None)
                        .order(order)
                        .dispatch(dispatch);
                    let f = move |x: u64| {
                        if x == 5 {
                            panic!("worker-boom")
                        }
                        Pd::new(x, 3, &c)
                    };
                    match (flat, path_) {
                        (false, "run join") => b.map(f).run(0..1000u64).unwrap().join().map(drop),
                        (false, "run drop") => {
                            drop(b.map(f).run(0..1000u64).unwrap());
                            Ok(())
                        }
                        (false, "drive join") => {
                            let mut d = b.map(f).drive(0..1000u64).unwrap();
                            let _ = d.next().map(drop_quietly);
                            d.join().map(drop)
                        }
                        (false, _) => {
                            let mut d = b.map(f).drive(0..1000u64).unwrap();
                            let _ = d.next().map(drop_quietly);
                            drop(d);
                            Ok(())
                        }
                        (true, "run join") => b
                            .flat_map(move |x| [f(x)])
                            .run(0..1000u64)
                            .unwrap()
                            .join()
                            .map(drop),
                        (true, "run drop") => {
                            drop(b.flat_map(move |x| [f(x)]).run(0..1000u64).unwrap());
                            Ok(())
                        }
                        (true, "drive join") => {
                            let mut d = b.flat_map(move |x| [f(x)]).drive(0..1000u64).unwrap();
                            let _ = d.next().map(drop_quietly);
                            d.join().map(drop)
                        }
                        (true, _) => {
                            let mut d = b.flat_map(move |x| [f(x)]).drive(0..1000u64).unwrap();
                            let _ = d.next().map(drop_quietly);
                            drop(d);
                            Ok(())
                        }
                    }
                });
                match r {
                    // A panicking item `Drop`, or the worker's panic re-raised by `next`.
                    Err(m) => assert!(m == "pd-drop 3" || m == "worker-boom", "{what}: {m}"),
                    // Dropped, or joined (an early end) before item 5 reached its worker.
                    Ok(Ok(())) => {}
                    Ok(Err(Failure::WorkerPanicked { message, .. })) => assert!(
                        message == "worker-boom" || message == "pd-drop 3",
                        "{what}: {message}"
                    ),
                    Ok(Err(e)) => panic!("{what}: unexpected {e:?}"),
                }
                counts.assert_balanced(&what);
            }
        }
    }
}

/// An item the caller took out of the stream is the caller's to drop; the test must not drop
/// the panicking one on its own thread outside the teardown under test.
fn drop_quietly(p: Pd) {
    if p.v == p.boom {
        // Counted as dropped, and forgotten instead of panicking in the test's own code.
        p.counts.dropped.fetch_add(1, SeqCst);
        std::mem::forget(p);
    }
}

trait IsRoundRobin {
    fn is_round_robin_for_test(&self) -> bool;
}
impl<T> IsRoundRobin for Dispatch<T> {
    fn is_round_robin_for_test(&self) -> bool {
        matches!(self, Dispatch::RoundRobin)
    }
}

/// Deterministic: the source ends, every worker finishes and exits, and the output rings still
/// hold every output (nothing was read), so the caller's teardown is the last owner of each,
/// the panicking one included. Each path must re-raise exactly "pd-drop 9" after dropping the
/// nine others.
#[test]
fn every_caller_teardown_reraises_after_dropping_everything() {
    const N: u64 = 10;
    for (name, dispatch, order) in shapes() {
        for path in [
            "run join",
            "run drop",
            "drive join",
            "drive drop",
            "start join",
            "start drop",
        ] {
            let what = format!("{name} {path}");
            let counts = Counts::new();
            let gone = Arc::new(AtomicBool::new(false));
            let (c, g) = (Arc::clone(&counts), Arc::clone(&gone));
            let dispatch = dispatch.clone();
            let r = within(&what, move || {
                let guard = Gone(Arc::clone(&g));
                let b = Engine::builder()
                    .workers(2)
                    .batch(4)
                    .capacity(16)
                    .pinning(Pinning::None)
                    .order(order)
                    .dispatch(dispatch)
                    .map(move |x: u64| {
                        let _ = &guard;
                        Pd::new(x, N - 1, &c)
                    });
                match path {
                    "run join" | "run drop" => {
                        let out = b.run(0..N).unwrap();
                        wait_for(&g, path);
                        if path == "run join" {
                            out.join().map(drop)
                        } else {
                            drop(out);
                            Ok(())
                        }
                    }
                    "drive join" | "drive drop" => {
                        // Every item is ready at once (an iterator's pace is measured, and a
                        // loaded machine can make a range look slow), so the first `next`
                        // feeds every item (the rings have room for all), then takes one run.
                        let mut d = b.drive_source(Ready((0..N).collect())).unwrap();
                        let first = d.next().expect("an output");
                        assert_ne!(first.v, N - 1);
                        drop(first);
                        wait_for(&g, path);
                        if path == "drive join" {
                            d.join().map(drop)
                        } else {
                            drop(d);
                            Ok(())
                        }
                    }
                    _ => {
                        let (mut input, out) = b.start().unwrap();
                        input.send_all_blocking(0..N).unwrap();
                        drop(input);
                        wait_for(&g, path);
                        if path == "start join" {
                            out.join().map(drop)
                        } else {
                            drop(out);
                            Ok(())
                        }
                    }
                }
            });
            assert_eq!(r.map(drop), Err(format!("pd-drop {}", N - 1)), "{what}");
            counts.assert_balanced(&what);
        }
    }
}

/// `run_with_sink`: the items are dropped on the engine's merger thread. The sink panics on its
/// first item, leaving the rest (the panicking one included) to the merger thread's teardown:
/// `join` returns the sink's panic, every item is dropped once, nothing hangs.
#[test]
fn running_with_panicking_drop_on_the_merger_thread() {
    for (name, dispatch, order) in shapes() {
        for joined in [true, false] {
            let what = format!("{name} joined={joined}");
            let counts = Counts::new();
            let c = Arc::clone(&counts);
            let dispatch = dispatch.clone();
            let r = within(&what, move || {
                let running = Engine::builder()
                    .workers(2)
                    .batch(4)
                    .capacity(16)
                    .pinning(Pinning::None)
                    .order(order)
                    .dispatch(dispatch)
                    .map(move |x: u64| Pd::new(x, 7, &c))
                    .run_with_sink(0..100u64, |p: Pd| {
                        drop_quietly(p);
                        panic!("sink-boom")
                    })
                    .unwrap();
                if joined {
                    running.join().map(drop)
                } else {
                    drop(running);
                    Ok(())
                }
            });
            if !joined {
                // A dropped `Running` is detached: it finishes by itself.
                let t = std::time::Instant::now();
                while counts.created.load(SeqCst) != counts.dropped.load(SeqCst) {
                    assert!(
                        t.elapsed() < HANG,
                        "{what}: the detached engine never finished"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            match r {
                Ok(Ok(())) => assert!(!joined, "{what}"),
                Ok(Err(Failure::SinkPanicked { message, .. })) => {
                    assert_eq!(message, "sink-boom", "{what}");
                }
                other => panic!("{what}: unexpected {other:?}"),
            }
            counts.assert_balanced(&what);
        }
    }
}

/// `Input`'s drop: the worker died on its first item, so items sent after it stay in its ring,
/// whose last handle is the `Input`'s. Dropping the `Input` closes and drops every ring; the
/// panicking item's `Drop` is re-raised after that.
#[test]
fn input_drop_with_panicking_item_left_in_a_ring() {
    for (name, dispatch, order) in shapes() {
        let what = name.to_string();
        let counts = Counts::new();
        let c = Arc::clone(&counts);
        let r = within(&what, move || {
            let (mut input, out) = Engine::builder()
                .workers(1)
                .batch(1)
                .capacity(16)
                .pinning(Pinning::None)
                .order(order)
                .dispatch(match dispatch {
                    Dispatch::ByKey(_) => Dispatch::by_key(|p: &Pd| p.v),
                    Dispatch::LeastLoaded => Dispatch::LeastLoaded,
                    Dispatch::RoundRobin => Dispatch::RoundRobin,
                })
                .map(|p: Pd| {
                    if p.v == 0 {
                        drop_quietly(p);
                        panic!("worker-boom")
                    }
                    p
                })
                .start()
                .unwrap();
            // Wait for the worker to die (it takes item 0 and panics).
            input.send_blocking(Pd::new(0, 3, &c)).unwrap();
            let start = Instant::now();
            while out.error().is_none() {
                assert!(start.elapsed() < HANG);
                std::thread::sleep(Duration::from_millis(1));
            }
            // Items 1..=5 either go to the dead worker's ring (dropped with it, by us) or
            // come back as `Closed`.
            for v in 1..=5 {
                if let Err(SendError(p)) = input.send_blocking(Pd::new(v, 3, &c)) {
                    drop_quietly(p);
                }
            }
            drop(out);
            drop(input);
        });
        match r {
            Ok(()) => {}
            Err(m) => assert_eq!(m, "pd-drop 3", "{what}"),
        }
        counts.assert_balanced(&what);
    }
}

/// `merge`'s stream dropped with the panicking item in a ring and one in its local run: the
/// other items are dropped once, every input is closed (a producer sees `Closed`), and the
/// panic is re-raised after that.
#[test]
fn merged_drop_with_panicking_item() {
    let counts = Counts::new();
    let c = Arc::clone(&counts);
    let r = within("merge", move || {
        let (mut a, ra) = channel::<Pd>(8).unwrap();
        let (mut b, rb) = channel::<Pd>(8).unwrap();
        for v in 0..8 {
            a.try_push(Pd::new(v, 5, &c)).unwrap();
            b.try_push(Pd::new(10 + v, 5, &c)).unwrap();
        }
        drop(a);
        let mut m = merge(vec![ra, rb]);
        let first = m.next().unwrap();
        drop_quietly(first);
        let r = catch_unwind(AssertUnwindSafe(move || drop(m)));
        // `b` is still open: its ring was closed by the teardown, not dropped under it.
        let back = b.try_push(Pd::new(100, 5, &c));
        assert!(matches!(back, Err(PushError::Closed(_))));
        drop(back);
        drop(b);
        r.map_err(|p| message(&*p))
    });
    assert_eq!(r.unwrap(), Err("pd-drop 5".to_string()));
    counts.assert_balanced("merge");
}

/// `split`'s thread drops the items it holds when a part is dropped; a panicking one ends the
/// thread only after every ring is closed and dropped, and `Stages::join` reports that panic
/// (`Failure::SourcePanicked`). Every item is dropped once by the time `join` returns.
#[test]
fn split_thread_with_panicking_drop() {
    for round in 0..20u64 {
        let counts = Counts::new();
        let c = Arc::clone(&counts);
        let r = within("split", move || {
            let (mut tx, rx) = channel::<Pd>(8).unwrap();
            let (mut parts, splitter) = split(rx, 2).unwrap().into_vec();
            drop(parts.pop());
            let boom = round % 8;
            for v in 0..1_000 {
                if let Err(e) = tx.push(Pd::new(v, boom, &c)) {
                    drop_quietly(e.into_inner());
                    break;
                }
            }
            // The thread stops (a part was dropped) whatever is left in the other part.
            let joined = splitter.join().map_err(|f| match f {
                Failure::SourcePanicked { message, .. } => message,
                other => panic!("{other:?}"),
            });
            // What the thread left in its input ring, or in the part, is ours to drop.
            let dropped = catch_unwind(AssertUnwindSafe(move || drop((tx, parts))));
            (joined, dropped.map_err(|p| message(&*p)))
        });
        let (joined, dropped) = r.expect("the test thread itself does not panic");
        for m in [joined.err(), dropped.err()].into_iter().flatten() {
            assert!(m.starts_with("pd-drop"), "{m}");
        }
        counts.assert_balanced("split");
    }
}
