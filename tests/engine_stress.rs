//! Stress of the whole engine on an oversubscribed machine (8 workers plus a distributor and
//! a merger, whatever the core count): delivery (count and checksum), input order under
//! `Order::Preserve`, per-key order under `ByKey`, early drops of the merged stream at random
//! points, panics of a worker, of the source and of the sink, the lifecycle corner cases, the
//! configuration errors and the counters.
//!
//! Items that must be accounted for carry a counter: `Tracked::new` counts a creation, its
//! `Drop` a drop, and every scenario ends with `created == dropped` once the engine is gone.
//! Sources create their items lazily, so items a source never handed out never exist. The
//! items, their counters, their source and the generator are in `common/tracked.rs` (the soak
//! tool, `fanbench-soak`, has the same as `fanbench::tracked`).
//!
//! No timing is asserted: every test only has to finish, whatever the scheduling. The tests
//! of this file run one at a time (a shared lock), so they never compete for the cores. A
//! watchdog aborts the process (with the scenario's name) if one scenario runs for more than
//! ten minutes, so a hang fails the run instead of stalling it.

#[macro_use]
mod common;

use common::tracked::{source, Counts, Rng, Tracked};
use common::MODES;
use fanring::pinning::available_cores;
use fanring::ring::CapacityError;
use fanring::stats::Stats;
use fanring::{BuildError, Dispatch, Engine, Failure, Order, Pinning, SendError, WaitStrategy};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Once};
use std::thread;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The engine as most scenarios here set it up: unpinned (the tests share the machine).
fn builder<T: Send + 'static>(
    workers: usize,
    capacity: usize,
    batch: usize,
    wait: WaitStrategy,
    dispatch: Dispatch<T>,
    order: Order,
) -> fanring::Builder<T> {
    Engine::builder()
        .workers(workers)
        .capacity(capacity)
        .batch(batch)
        .wait(wait)
        .pinning(Pinning::None)
        .dispatch(dispatch)
        .order(order)
}

/// Serialises the tests of this binary.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Items per delivery run: millions optimised, 200k in debug.
fn big() -> u64 {
    if cfg!(debug_assertions) {
        200_000
    } else {
        2_000_000
    }
}

const WORKERS: usize = 8;

fn waits() -> [(&'static str, WaitStrategy); 2] {
    [
        ("SpinYield", WaitStrategy::SPIN_YIELD),
        ("SpinThenPark", WaitStrategy::SPIN_THEN_PARK),
    ]
}

fn key_of(v: u64) -> u64 {
    v % 13
}

fn dispatches() -> [(&'static str, Dispatch<u64>); 3] {
    [
        ("RoundRobin", Dispatch::RoundRobin),
        ("LeastLoaded", Dispatch::LeastLoaded),
        ("ByKey", Dispatch::by_key(|x: &u64| key_of(*x))),
    ]
}

/// The work of the delivery runs (not the identity, so a lost or doubled item shows in the
/// checksum).
fn f(x: u64) -> u64 {
    (x ^ 0x5555)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
}

/// Reads `it` to its end into `got`, which must re-raise a stage's panic with `message` (a
/// failed stream never ends quietly); afterwards it ends quietly.
fn read_until_raised<U>(
    it: &mut impl Iterator<Item = U>,
    got: &mut Vec<U>,
    message: &str,
    what: &str,
) {
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for u in it.by_ref() {
            got.push(u);
        }
    }));
    let payload = unwound.expect_err("the stage's panic reaches the reader");
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()));
    assert_eq!(
        text.as_deref(),
        Some(message),
        "{what}: the stage's own payload"
    );
    assert!(it.next().is_none(), "{what}: raised once, then a quiet end");
}

/// A panic on the caller's thread (in `drive`) reached the caller with `message`.
fn expect_unwind(unwound: std::thread::Result<()>, message: &str, what: &str) {
    let payload = unwound.expect_err("the panic reaches the caller");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some(message),
        "{what}"
    );
}

/// A generator for one test; `FANRING_STRESS_SEED=<u64>` varies every test's choices
/// (printed on failure through the scenario names, which carry every choice).
fn rng(seed: u64) -> Rng {
    let extra = std::env::var("FANRING_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    Rng::new((seed ^ extra.rotate_left(32)).wrapping_mul(0x2545_F491_4F6C_DD1D) | 1)
}

/// Aborts the process if the guarded scenario is not over in ten minutes: a hang must fail
/// the run (with the scenario's name), not stall it. Not a timing assertion: any scheduling
/// finishes these scenarios in seconds.
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new(what: String) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(600))
            {
                eprintln!("engine_stress: `{what}` still running after 600 s: hung");
                std::process::abort();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Keeps the expected panics of the engine's threads (and of our own deliberate ones) off
/// stderr; every other panic is reported as usual.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let engine_thread = thread::current()
                .name()
                .is_some_and(|n| n.starts_with("fanring-"));
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !(engine_thread && msg.starts_with("boom")) {
                default(info);
            }
        }));
    });
}

/// The engine shapes the drop and panic scenarios go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Round-robin, any order.
    RrAny,
    /// Round-robin, input order by rotation.
    RrRotate,
    /// Least-loaded, input order by tags and the reorder window.
    LlTagged,
    /// By key, any order.
    KeyAny,
    /// By key, input order by tags.
    KeyTagged,
}

const SHAPES: [Shape; 5] = [
    Shape::RrAny,
    Shape::RrRotate,
    Shape::LlTagged,
    Shape::KeyAny,
    Shape::KeyTagged,
];

impl Shape {
    fn dispatch(self) -> Dispatch<Tracked> {
        match self {
            Shape::RrAny | Shape::RrRotate => Dispatch::RoundRobin,
            Shape::LlTagged => Dispatch::LeastLoaded,
            Shape::KeyAny | Shape::KeyTagged => Dispatch::by_key(|t: &Tracked| key_of(t.v)),
        }
    }
    fn order(self) -> Order {
        match self {
            Shape::RrAny | Shape::KeyAny => Order::Any,
            _ => Order::Preserve,
        }
    }
    /// The worker item `v` goes to, where the dispatch fixes it: round-robin `Preserve` (the
    /// rotation) gives each worker a run of exactly `run = min(batch, capacity)` items per
    /// turn; round-robin `Any` ends a run early whenever the source has nothing ready (a
    /// batch is an upper bound), so there it depends on the source's pace.
    fn worker_of(self, v: u64, workers: usize, run: usize) -> Option<usize> {
        match self {
            Shape::RrRotate => Some((v / run as u64 % workers as u64) as usize),
            Shape::RrAny => None,
            Shape::KeyAny | Shape::KeyTagged => Some((key_of(v) % workers as u64) as usize),
            Shape::LlTagged => None,
        }
    }
}

/// A random small configuration: workers, capacity, batch, wait.
fn random_config(rng: &mut Rng) -> (usize, usize, usize, WaitStrategy) {
    let workers = rng.pick(&[1, 2, 3, 4, 8]);
    let capacity = rng.pick(&[1, 2, 4, 16, 64]);
    let batch = rng.pick(&[1, 3, 16, 64]);
    let wait = rng.pick(&[WaitStrategy::SPIN_YIELD, WaitStrategy::SPIN_THEN_PARK]);
    (workers, capacity, batch, wait)
}

/// The sum over the workers' counters.
/// Items in and out of the workers, with the items of quiet runs the distributor ran itself
/// (`map`: one output each).
fn worker_totals(stats: &Stats) -> (u64, u64) {
    let inline = stats.distributor.map_or(0, |d| d.inline);
    stats.workers.iter().fold((inline, inline), |(i, o), w| {
        (i + w.items_in, o + w.items_out)
    })
}

fn assert_stats(stats: &Stats, n: u64, capacity: usize, what: &str) {
    assert_eq!(stats.workers.len(), WORKERS, "{what}");
    assert_eq!(worker_totals(stats), (n, n), "{what}: worker items in/out");
    assert_eq!(stats.merger.items, n, "{what}: merger items");
    if let Some(d) = stats.distributor {
        assert_eq!(d.items, n, "{what}: distributor items");
    }
    for (i, w) in stats.workers.iter().enumerate() {
        assert!(
            w.peak_occupancy <= capacity,
            "{what}: worker {i} peak occupancy {} > capacity {capacity}",
            w.peak_occupancy
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Delivery, order, per-key order
// ---------------------------------------------------------------------------------------------

/// Every wait strategy that yields × every dispatch, `Order::Any`: every item exactly once
/// (count and an order-independent checksum), and the counters add up.
#[test]
fn delivery_count_and_checksum_any_order() {
    let _s = serial();
    for mode in MODES {
        let n = big();
        let capacity = 256;
        let want: u64 = (0..n).map(f).fold(0, u64::wrapping_add);
        for (wname, wait) in waits() {
            for (dname, dispatch) in dispatches() {
                let what = format!("{wname}/{dname}/Any");
                let what = format!("{what} {mode:?}");
                let _w = Watchdog::new(what.clone());
                let pipeline = builder(WORKERS, capacity, 32, wait, dispatch, Order::Any).map(f);
                let mut out = launch!(pipeline, mode, 0..n);
                let (mut count, mut sum) = (0u64, 0u64);
                for v in out.by_ref() {
                    count += 1;
                    sum = sum.wrapping_add(v);
                }
                assert_eq!(count, n, "{what}: count");
                assert_eq!(sum, want, "{what}: checksum");
                let stats = out.join().unwrap();
                assert_stats(&stats, n, capacity, &what);
            }
        }
    }
}

/// `Order::Preserve` under every dispatch (round-robin by rotation, the others by tags):
/// output `i` is `f(i)`.
#[test]
fn preserve_restores_input_order() {
    let _s = serial();
    for mode in MODES {
        let n = big();
        let capacity = 128;
        for (wname, wait) in waits() {
            for (dname, dispatch) in dispatches() {
                let what = format!("{wname}/{dname}/Preserve");
                let what = format!("{what} {mode:?}");
                let _w = Watchdog::new(what.clone());
                let pipeline =
                    builder(WORKERS, capacity, 16, wait, dispatch, Order::Preserve).map(f);
                let mut out = launch!(pipeline, mode, 0..n);
                let mut i = 0u64;
                for v in out.by_ref() {
                    assert_eq!(v, f(i), "{what}: output {i} out of order");
                    i += 1;
                }
                assert_eq!(i, n, "{what}: count");
                let stats = out.join().unwrap();
                assert_stats(&stats, n, capacity, &what);
            }
        }
    }
}

/// The tagged merger with 0 to 3 outputs per input, and now and then a burst longer than a
/// batch: `LeastLoaded` and `ByKey` with `Preserve`, a small window and batch, so that outputs
/// go straight out, wait in their slots (second outputs included), and fill the caller's
/// buffer part-way through an input. The merged stream is exactly the inputs' outputs in input
/// order.
#[test]
fn preserve_with_flat_map_restores_input_order() {
    let _s = serial();
    let n = big() / 4;
    let outputs = |x: u64| -> usize {
        if x.is_multiple_of(997) {
            40
        } else {
            (f(x) % 4) as usize
        }
    };
    for mode in MODES {
        // LeastLoaded and ByKey: round-robin with `Preserve` refuses `flat_map`.
        for (dname, dispatch) in dispatches().into_iter().skip(1) {
            for window in [None, Some(5)] {
                let what = format!("{dname}/Preserve/flat_map window {window:?} {mode:?}");
                let _w = Watchdog::new(what.clone());
                let mut b = builder(
                    WORKERS,
                    64,
                    8,
                    WaitStrategy::SPIN_THEN_PARK,
                    dispatch.clone(),
                    Order::Preserve,
                );
                if let Some(w) = window {
                    b = b.window(w);
                }
                let pipeline = b.flat_map(move |x: u64| (0..outputs(x)).map(move |k| (x, k)));
                let mut out = launch!(pipeline, mode, 0..n);
                let mut expect = (0..n).flat_map(|x| (0..outputs(x)).map(move |k| (x, k)));
                let mut count = 0u64;
                for v in out.by_ref() {
                    assert_eq!(Some(v), expect.next(), "{what}: output {count}");
                    count += 1;
                }
                assert_eq!(expect.next(), None, "{what}: outputs missing after {count}");
                out.join().unwrap();
            }
        }
    }
}

/// `ByKey` with `Order::Any`: items `(key, seq)` with a per-key sequence; in the output each
/// key's sequence is exactly 0, 1, 2, … (every item once, per-key order kept).
#[test]
fn by_key_keeps_per_key_order() {
    let _s = serial();
    for mode in MODES {
        let n = big();
        const KEYS: usize = 37;
        for (wname, wait) in waits() {
            let what = format!("{wname}/ByKey/Any per-key");
            let what = format!("{what} {mode:?}");
            let _w = Watchdog::new(what.clone());
            let mut rng = rng(0xB1_4E5);
            let mut next_seq = [0u64; KEYS];
            let items: Vec<(u64, u64)> = (0..n)
                .map(|_| {
                    let k = rng.below(KEYS as u64);
                    let s = next_seq[k as usize];
                    next_seq[k as usize] += 1;
                    (k, s)
                })
                .collect();
            let pipeline = Engine::builder()
                .workers(WORKERS)
                .capacity(64)
                .batch(8)
                .wait(wait)
                .pinning(Pinning::None)
                .dispatch(Dispatch::by_key(|&(k, _): &(u64, u64)| k))
                .order(Order::Any)
                // some work, so the workers interleave differently
                .map(|(k, s): (u64, u64)| (k, s, f(s)));
            let out = launch!(pipeline, mode, items);
            let mut seen = [0u64; KEYS];
            for (k, s, fs) in out {
                assert_eq!(fs, f(s), "{what}");
                assert_eq!(
                    s, seen[k as usize],
                    "{what}: key {k} got seq {s}, expected {}",
                    seen[k as usize]
                );
                seen[k as usize] += 1;
            }
            assert_eq!(seen, next_seq, "{what}: per-key counts");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Early drops
// ---------------------------------------------------------------------------------------------

/// How many items to take before dropping the merged stream: 0, 1, or a random number (up
/// to 2,000 in debug, 20,000 optimised: tiny rings on shared cores hand items over slowly).
fn drop_points(rng: &mut Rng) -> [u64; 3] {
    let max = if cfg!(debug_assertions) {
        2_000
    } else {
        20_000
    };
    [0, 1, 2 + rng.below(max)]
}

/// Checks what was received before the drop: in input order under `Preserve`, no item twice.
fn check_prefix(shape: Shape, got: &[u64], what: &str) {
    if shape.order() == Order::Preserve {
        for (i, &v) in got.iter().enumerate() {
            assert_eq!(v, i as u64, "{what}: out of order");
        }
    } else {
        let mut g = got.to_vec();
        g.sort_unstable();
        g.dedup();
        assert_eq!(g.len(), got.len(), "{what}: an item came twice");
    }
}

/// `run(source)` over an endless lazy source; the merged stream is dropped after 0, 1 or a
/// random number of items: afterwards every created item has been dropped exactly once.
#[test]
fn early_drop_with_run_balances_drops() {
    let _s = serial();
    for mode in MODES {
        quiet_expected_panics();
        let mut rng = rng(0x5EED_0001);
        let rounds = if cfg!(debug_assertions) { 2 } else { 6 };
        for round in 0..rounds {
            for shape in SHAPES {
                for take in drop_points(&mut rng) {
                    let (workers, capacity, batch, wait) = random_config(&mut rng);
                    let what = format!(
                        "run {shape:?} round {round} take {take} workers {workers} cap {capacity} \
                     batch {batch} {wait:?}"
                    );
                    let what = format!("{what} {mode:?}");
                    let _w = Watchdog::new(what.clone());
                    let counts = Counts::new();
                    let pipeline = builder(
                        workers,
                        capacity,
                        batch,
                        wait,
                        shape.dispatch(),
                        shape.order(),
                    )
                    .map(|t: Tracked| t);
                    let mut out = launch!(pipeline, mode, source(None, &counts));
                    let got: Vec<u64> = out.by_ref().take(take as usize).map(|t| t.v).collect();
                    assert_eq!(got.len() as u64, take, "{what}: an endless stream ended");
                    check_prefix(shape, &got, &what);
                    drop(out);
                    counts.assert_balanced_soon(&what);
                    assert!(counts.created() >= take, "{what}");
                }
            }
        }
    }
}

/// `start()` with the `Input` fed from another thread (by `send` or by `send_all` over an
/// endless lazy iterator); the merged stream is dropped after 0, 1 or a random number of
/// items: the feeder gets `Closed` back, and once it is done every created item has been
/// dropped exactly once.
#[test]
fn early_drop_with_start_balances_drops() {
    let _s = serial();
    let mut rng = rng(0x5EED_0002);
    let rounds = if cfg!(debug_assertions) { 2 } else { 6 };
    for round in 0..rounds {
        for shape in SHAPES {
            for take in drop_points(&mut rng) {
                let (workers, capacity, batch, wait) = random_config(&mut rng);
                let by_one = rng.below(2) == 0;
                let what = format!(
                    "start {shape:?} round {round} take {take} workers {workers} cap {capacity} \
                     batch {batch} {wait:?} send{}",
                    if by_one { "" } else { "_all" }
                );
                let _w = Watchdog::new(what.clone());
                let counts = Counts::new();
                let (mut input, mut out) = builder(
                    workers,
                    capacity,
                    batch,
                    wait,
                    shape.dispatch(),
                    shape.order(),
                )
                .map(|t: Tracked| t)
                .start()
                .unwrap();
                let c = Arc::clone(&counts);
                let feeder = thread::spawn(move || {
                    if by_one {
                        let mut i = 0;
                        loop {
                            match input.send_blocking(Tracked::new(i, &c)) {
                                Ok(()) => i += 1,
                                Err(SendError(t)) => {
                                    assert_eq!(t.v, i);
                                    break;
                                }
                            }
                        }
                    } else {
                        let back = input.send_all_blocking(source(None, &c)).unwrap_err();
                        drop(back);
                    }
                    assert!(input.is_closed());
                    input.stats().items
                });
                let got: Vec<u64> = out.by_ref().take(take as usize).map(|t| t.v).collect();
                assert_eq!(got.len() as u64, take, "{what}: an endless stream ended");
                check_prefix(shape, &got, &what);
                drop(out);
                let sent = feeder.join().unwrap();
                assert!(sent >= take, "{what}: sent {sent}");
                counts.assert_balanced_soon(&what);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Panics: worker, source, sink
// ---------------------------------------------------------------------------------------------

fn expect_worker_panic(err: Failure, message: &str, worker: Option<usize>, what: &str) {
    match err {
        Failure::WorkerPanicked {
            worker: w,
            message: m,
            ..
        } => {
            assert_eq!(m, message, "{what}");
            if let Some(want) = worker {
                assert_eq!(w, want, "{what}: worker index");
            }
        }
        other => panic!("{what}: expected WorkerPanicked, got {other:?}"),
    }
}

/// A worker panics at the first, a random or the last item: the stream ends early (no item
/// twice, order kept under `Preserve`), `join` returns `WorkerPanicked` with the panic's
/// message (and the right worker where the dispatch decides it), `try_next` reports the same,
/// every created item is dropped, nothing hangs.
#[test]
fn worker_panic_is_reported_and_balanced() {
    let _s = serial();
    for mode in MODES {
        quiet_expected_panics();
        let mut rng = rng(0x5EED_0003);
        let n: u64 = if cfg!(debug_assertions) {
            5_000
        } else {
            20_000
        };
        let rounds = if cfg!(debug_assertions) { 1 } else { 3 };
        for round in 0..rounds {
            for shape in SHAPES {
                for at in [0, rng.below(n), n - 1] {
                    let (workers, capacity, batch, wait) = random_config(&mut rng);
                    let via_try_next = rng.below(2) == 0;
                    let what = format!(
                        "worker panic {shape:?} round {round} at {at} workers {workers} cap \
                     {capacity} batch {batch} {wait:?}"
                    );
                    let what = format!("{what} {mode:?}");
                    let _w = Watchdog::new(what.clone());
                    let counts = Counts::new();
                    let pipeline = builder(
                        workers,
                        capacity,
                        batch,
                        wait,
                        shape.dispatch(),
                        shape.order(),
                    )
                    .map(move |t: Tracked| {
                        if t.v == at {
                            panic!("boom at {}", t.v);
                        }
                        t
                    });
                    let mut out = launch!(pipeline, mode, source(Some(n), &counts));
                    let message = format!("boom at {at}");
                    let mut got = Vec::new();
                    let err = if via_try_next {
                        loop {
                            match out.next_checked() {
                                Ok(Some(t)) => got.push(t.v),
                                Ok(None) => panic!("{what}: try_next ended without the error"),
                                Err(e) => break e,
                            }
                        }
                    } else {
                        let mut items = Vec::new();
                        read_until_raised(&mut out, &mut items, &message, &what);
                        got.extend(items.iter().map(|t| t.v));
                        drop(items);
                        out.error().expect("error() after the stream ended")
                    };
                    expect_worker_panic(
                        err,
                        &message,
                        shape.worker_of(at, workers, batch.min(capacity)),
                        &what,
                    );
                    assert!(!got.contains(&at), "{what}: the panicking item came out");
                    assert!((got.len() as u64) < n, "{what}");
                    check_prefix(shape, &got, &what);
                    let err = out.join().unwrap_err();
                    expect_worker_panic(
                        err,
                        &message,
                        shape.worker_of(at, workers, batch.min(capacity)),
                        &what,
                    );
                    counts.assert_balanced(&what);
                }
            }
        }
    }
}

/// The same with the `Input` on another thread: the feeder gets `Closed` back once the engine
/// stopped; the merged stream reports the panic.
#[test]
fn worker_panic_with_start() {
    let _s = serial();
    quiet_expected_panics();
    let mut rng = rng(0x5EED_0004);
    for shape in SHAPES {
        let (workers, capacity, batch, wait) = random_config(&mut rng);
        let at = rng.below(3_000);
        let what = format!("start worker panic {shape:?} at {at} workers {workers} cap {capacity}");
        let _w = Watchdog::new(what.clone());
        let counts = Counts::new();
        let (mut input, mut out) = builder(
            workers,
            capacity,
            batch,
            wait,
            shape.dispatch(),
            shape.order(),
        )
        .map(move |t: Tracked| {
            if t.v == at {
                panic!("boom at {}", t.v);
            }
            t
        })
        .start()
        .unwrap();
        let c = Arc::clone(&counts);
        // Endless: only the engine's stop ends the feeder.
        let feeder =
            thread::spawn(move || drop(input.send_all_blocking(source(None, &c)).unwrap_err()));
        let mut items = Vec::new();
        read_until_raised(&mut out, &mut items, &format!("boom at {at}"), &what);
        let got: Vec<u64> = items.iter().map(|t| t.v).collect();
        drop(items);
        assert!(!got.contains(&at), "{what}");
        check_prefix(shape, &got, &what);
        let err = out.join().unwrap_err();
        expect_worker_panic(
            err,
            &format!("boom at {at}"),
            shape.worker_of(at, workers, batch.min(capacity)),
            &what,
        );
        feeder.join().unwrap();
        counts.assert_balanced(&what);
    }
}

/// A `stateful` worker whose `init` panics (on its own thread, before any item): reported as
/// that worker's panic, every created item dropped.
#[test]
fn worker_init_panic_is_reported() {
    let _s = serial();
    quiet_expected_panics();
    for shape in SHAPES {
        let what = format!("init panic {shape:?}");
        let _w = Watchdog::new(what.clone());
        let counts = Counts::new();
        let mut out = Engine::builder()
            .workers(4)
            .capacity(8)
            .pinning(Pinning::None)
            .dispatch(shape.dispatch())
            .order(Order::Any)
            .stateful(
                |w| {
                    if w == 2 {
                        panic!("boom in init");
                    }
                },
                |_: &mut (), t: Tracked, emit| emit.push(t),
            )
            .run(source(Some(5_000), &counts))
            .unwrap();
        let mut items = Vec::new();
        read_until_raised(&mut out, &mut items, "boom in init", &what);
        assert!(items.len() < 5_000 || shape == Shape::LlTagged, "{what}");
        drop(items);
        expect_worker_panic(out.join().unwrap_err(), "boom in init", Some(2), &what);
        counts.assert_balanced(&what);
    }
}

/// The source iterator panics at the first, a random or the last item: `SourcePanicked` with
/// its message, every created item dropped.
#[test]
fn source_panic_is_reported_and_balanced() {
    let _s = serial();
    quiet_expected_panics();
    let mut rng = rng(0x5EED_0005);
    let n: u64 = 4_000;
    for shape in SHAPES {
        for at in [0, rng.below(n), n - 1] {
            let (workers, capacity, batch, wait) = random_config(&mut rng);
            let what = format!("source panic {shape:?} at {at} workers {workers} cap {capacity}");
            let _w = Watchdog::new(what.clone());
            let counts = Counts::new();
            let c = Arc::clone(&counts);
            let src = (0..n).map(move |i| {
                if i == at {
                    panic!("boom in source at {i}");
                }
                Tracked::new(i, &c)
            });
            let mut out = builder(
                workers,
                capacity,
                batch,
                wait,
                shape.dispatch(),
                shape.order(),
            )
            .map(|t: Tracked| t)
            .run(src)
            .unwrap();
            let mut items = Vec::new();
            read_until_raised(
                &mut out,
                &mut items,
                &format!("boom in source at {at}"),
                &what,
            );
            let got: Vec<u64> = items.iter().map(|t| t.v).collect();
            drop(items);
            assert!(got.len() as u64 <= at, "{what}: items past the panic");
            check_prefix(shape, &got, &what);
            let err = out.join().unwrap_err();
            assert!(
                matches!(err, Failure::SourcePanicked { message, .. } if message == format!("boom in source at {at}")),
                "{what}"
            );
            assert_eq!(counts.created(), at, "{what}: items created");
            counts.assert_balanced(&what);
        }
    }
}

/// The sink of `run_with_sink` panics at the first, a random or the last item: `Running::join`
/// returns `SinkPanicked` with its message, every created item dropped.
#[test]
fn sink_panic_is_reported_and_balanced() {
    let _s = serial();
    quiet_expected_panics();
    let mut rng = rng(0x5EED_0006);
    let n: u64 = 4_000;
    for shape in SHAPES {
        for at in [0, rng.below(n), n - 1] {
            let (workers, capacity, batch, wait) = random_config(&mut rng);
            let what = format!("sink panic {shape:?} at {at} workers {workers} cap {capacity}");
            let _w = Watchdog::new(what.clone());
            let counts = Counts::new();
            let sunk = Arc::new(AtomicU64::new(0));
            let s = Arc::clone(&sunk);
            let running = builder(
                workers,
                capacity,
                batch,
                wait,
                shape.dispatch(),
                shape.order(),
            )
            .map(|t: Tracked| t)
            .run_with_sink(source(Some(n), &counts), move |t: Tracked| {
                let k = s.fetch_add(1, Relaxed);
                if k == at {
                    panic!("boom in sink at {k}");
                }
                drop(t);
            })
            .unwrap();
            let err = running.join().unwrap_err();
            assert!(
                matches!(err, Failure::SinkPanicked { message, .. } if message == format!("boom in sink at {at}")),
                "{what}"
            );
            assert_eq!(
                sunk.load(Relaxed),
                at + 1,
                "{what}: the sink ran on after its panic"
            );
            counts.assert_balanced(&what);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Lifecycle
// ---------------------------------------------------------------------------------------------

/// `Input` dropped (or closed) before sending anything: the merged stream ends at once and
/// `join` is `Ok` with zero items, for every shape.
#[test]
fn input_dropped_without_sending() {
    let _s = serial();
    for shape in SHAPES {
        let what = format!("empty input {shape:?}");
        let _w = Watchdog::new(what.clone());
        let (input, mut out) = Engine::builder()
            .workers(WORKERS)
            .pinning(Pinning::None)
            .dispatch(shape.dispatch())
            .order(shape.order())
            .map(|t: Tracked| t)
            .start()
            .unwrap();
        drop(input);
        assert!(out.next().is_none(), "{what}");
        assert!(out.next_checked().unwrap().is_none(), "{what}");
        let stats = out.join().unwrap();
        assert_eq!(stats.merger.items, 0, "{what}");
        assert_eq!(worker_totals(&stats), (0, 0), "{what}");
        assert_eq!(stats.distributor, None, "{what}: the caller distributed");
    }
}

/// `Output::join` while items are still in flight (after 0 or a few items, with `run` and
/// with `start`): an early end, `Ok` counters, no hang, every item dropped.
#[test]
fn join_with_items_in_flight() {
    let _s = serial();
    let mut rng = rng(0x5EED_0007);
    for shape in SHAPES {
        for take in [0, 1 + rng.below(500)] {
            for mode in MODES {
                let what = format!("join in flight ({mode:?}) {shape:?} take {take}");
                let _w = Watchdog::new(what.clone());
                let counts = Counts::new();
                let pipeline = Engine::builder()
                    .workers(WORKERS)
                    .capacity(32)
                    .pinning(Pinning::None)
                    .dispatch(shape.dispatch())
                    .order(shape.order())
                    .map(|t: Tracked| t);
                let mut out = launch!(pipeline, mode, source(None, &counts));
                assert_eq!(out.by_ref().take(take as usize).count() as u64, take);
                let stats = out.join().unwrap();
                // Items moved out of the rings but not handed out are not counted as merged.
                assert_eq!(stats.merger.items, take, "{what}");
                let (items_in, _) = worker_totals(&stats);
                assert!(items_in >= stats.merger.items, "{what}");
                counts.assert_balanced(&what);
            }

            let what = format!("join in flight (start) {shape:?} take {take}");
            let counts = Counts::new();
            let (mut input, mut out) = Engine::builder()
                .workers(WORKERS)
                .capacity(32)
                .pinning(Pinning::None)
                .dispatch(shape.dispatch())
                .order(shape.order())
                .map(|t: Tracked| t)
                .start()
                .unwrap();
            let c = Arc::clone(&counts);
            let feeder =
                thread::spawn(move || drop(input.send_all_blocking(source(None, &c)).unwrap_err()));
            assert_eq!(out.by_ref().take(take as usize).count() as u64, take);
            let stats = out.join().unwrap();
            assert!(stats.merger.items >= take, "{what}");
            feeder.join().unwrap();
            counts.assert_balanced(&what);
        }
    }
}

/// `Output` dropped without `join`, before or after the stream ended: every thread is reaped
/// (the drop returns) and every item dropped.
#[test]
fn output_dropped_without_join() {
    let _s = serial();
    for mode in MODES {
        for shape in SHAPES {
            for consume in [false, true] {
                let what = format!("drop without join {shape:?} consume {consume}");
                let what = format!("{what} {mode:?}");
                let _w = Watchdog::new(what.clone());
                let counts = Counts::new();
                let pipeline = Engine::builder()
                    .workers(WORKERS)
                    .capacity(16)
                    .pinning(Pinning::None)
                    .dispatch(shape.dispatch())
                    .order(shape.order())
                    .map(|t: Tracked| t);
                let mut out = launch!(pipeline, mode, source(Some(3_000), &counts));
                if consume {
                    assert_eq!(out.by_ref().count(), 3_000, "{what}");
                }
                drop(out);
                counts.assert_balanced_soon(&what);
            }
        }
    }
}

/// With `drive` the source runs on the caller's thread: its panic unwinds out of `next`, the
/// items taken before it are in order, and dropping the stream during the unwind stops the
/// engine and drops every created item exactly once.
#[test]
fn drive_source_panic_unwinds_and_balances() {
    let _s = serial();
    quiet_expected_panics();
    let mut rng = rng(0x5EED_0008);
    let n: u64 = 4_000;
    for shape in SHAPES {
        for at in [0, rng.below(n), n - 1] {
            let (workers, capacity, batch, wait) = random_config(&mut rng);
            let what = format!("drive source panic {shape:?} at {at} workers {workers}");
            let _w = Watchdog::new(what.clone());
            let counts = Counts::new();
            let c = Arc::clone(&counts);
            let src = (0..n).map(move |i| {
                if i == at {
                    panic!("boom in source at {i}");
                }
                Tracked::new(i, &c)
            });
            let mut got = Vec::new();
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let out = builder(
                    workers,
                    capacity,
                    batch,
                    wait,
                    shape.dispatch(),
                    shape.order(),
                )
                .map(|t: Tracked| t)
                .drive(src)
                .unwrap();
                for t in out {
                    got.push(t.v);
                }
            }));
            expect_unwind(unwound, &format!("boom in source at {at}"), &what);
            assert!(got.len() as u64 <= at, "{what}: items past the panic");
            check_prefix(shape, &got, &what);
            assert_eq!(counts.created(), at, "{what}: items created");
            counts.assert_balanced_soon(&what);
        }
    }
}

/// A `ByKey` key function panics at the first, a random or the last item (with the items of a
/// batch still in the distributor's buffer): with its own distributor thread the engine
/// reports `SourcePanicked` (the key runs there); driven, the panic reaches the caller. Either
/// way every created item is dropped exactly once.
#[test]
fn key_panic_is_reported_and_balanced() {
    let _s = serial();
    quiet_expected_panics();
    let mut rng = rng(0x5EED_000B);
    let n: u64 = 4_000;
    for order in [Order::Any, Order::Preserve] {
        for at in [0, rng.below(n), n - 1] {
            for drive in [false, true] {
                let (workers, capacity, batch, wait) = random_config(&mut rng);
                let what = format!(
                    "key panic {order:?} at {at} drive {drive} workers {workers} cap {capacity} \
                     batch {batch}"
                );
                let _w = Watchdog::new(what.clone());
                let counts = Counts::new();
                let key = Dispatch::by_key(move |t: &Tracked| {
                    assert!(t.v != at, "boom in key at {at}");
                    key_of(t.v)
                });
                let pipeline =
                    builder(workers, capacity, batch, wait, key, order).map(|t: Tracked| t);
                let mut got = Vec::new();
                if drive {
                    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        for t in pipeline.drive(source(Some(n), &counts)).unwrap() {
                            got.push(t.v);
                        }
                    }));
                    expect_unwind(unwound, &format!("boom in key at {at}"), &what);
                } else {
                    let mut out = pipeline.run(source(Some(n), &counts)).unwrap();
                    let mut items = Vec::new();
                    read_until_raised(&mut out, &mut items, &format!("boom in key at {at}"), &what);
                    got.extend(items.iter().map(|t| t.v));
                    drop(items);
                    assert!(
                        matches!(out.join().unwrap_err(), Failure::SourcePanicked { message, .. } if message == format!("boom in key at {at}")),
                        "{what}"
                    );
                }
                assert!(got.len() as u64 <= at, "{what}: items past the panic");
                if order == Order::Preserve {
                    assert!(got.iter().copied().eq(0..got.len() as u64), "{what}: order");
                }
                assert!(counts.created() > at, "{what}: items created");
                counts.assert_balanced_soon(&what);
            }
        }
    }
}

/// `LeastLoaded` feeds the worker with room: one worker that takes 2 ms per item gets few of
/// the items, the other almost all (round-robin would give each half).
#[test]
fn least_loaded_skips_a_slow_worker() {
    let _s = serial();
    let n: u64 = 2_000;
    let mut out = Engine::builder()
        .workers(2)
        .capacity(16)
        .batch(4)
        .pinning(Pinning::None)
        .dispatch(Dispatch::LeastLoaded)
        .stateful(
            |id| id,
            |id: &mut usize, x: u64, e| {
                if *id == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                e.push(x);
            },
        )
        .run(0..n)
        .unwrap();
    assert_eq!(out.by_ref().count() as u64, n);
    let stats = out.join().unwrap();
    let (slow, fast) = (stats.workers[0].items_in, stats.workers[1].items_in);
    assert_eq!(slow + fast, n);
    // Round-robin would give it exactly half; here it gets about one item per 2 ms of the
    // run (a few dozen), and half only if the run took seconds.
    assert!(slow < n / 2, "the slow worker got {slow} of {n} items");
}

/// `run_with_sink` to the end: `Running::join` returns the counters, the sink saw every item
/// (in order under `Preserve`); a `Running` dropped without `join` waits for the end too
/// (dropping it is not an early stop: the last item still reaches the sink).
#[test]
fn running_joined_and_dropped() {
    let _s = serial();
    let n = 20_000u64;
    for shape in SHAPES {
        let what = format!("run_with_sink {shape:?}");
        let _w = Watchdog::new(what.clone());
        let counts = Counts::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let running = Engine::builder()
            .workers(WORKERS)
            .capacity(64)
            .pinning(Pinning::None)
            .dispatch(shape.dispatch())
            .order(shape.order())
            .map(|t: Tracked| t)
            .run_with_sink(source(Some(n), &counts), move |t: Tracked| {
                s.lock().unwrap().push(t.v)
            })
            .unwrap();
        let stats = running.join().unwrap();
        assert_eq!(stats.merger.items, n, "{what}");
        assert_eq!(stats.distributor.map(|d| d.items), Some(n), "{what}");
        assert_eq!(worker_totals(&stats), (n, n), "{what}");
        let mut got = std::mem::take(&mut *seen.lock().unwrap());
        if shape.order() == Order::Any {
            got.sort_unstable();
        }
        assert!(
            got.iter().copied().eq(0..n),
            "{what}: sink saw the wrong items"
        );
        counts.assert_balanced(&what);

        // Dropped without join: the drop waits for the threads.
        let counts = Counts::new();
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        let running = Engine::builder()
            .workers(WORKERS)
            .capacity(64)
            .pinning(Pinning::None)
            .dispatch(shape.dispatch())
            .order(shape.order())
            .map(|t: Tracked| t)
            .run_with_sink(source(Some(n), &counts), move |t: Tracked| {
                if t.v == n - 1 {
                    d.store(true, Relaxed);
                }
            })
            .unwrap();
        // Dropped without join: the drop detaches (it never waits on the source or the
        // sink); the engine finishes by itself.
        drop(running);
        let t = std::time::Instant::now();
        while !(done.load(Relaxed) && counts.created() == n && counts.created() == counts.dropped())
        {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{what}: the detached engine never finished"
            );
            thread::sleep(Duration::from_millis(1));
        }
        counts.assert_balanced(&what);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Configuration errors
// ---------------------------------------------------------------------------------------------

fn start_err<T: Send + 'static>(b: fanring::Builder<T>) -> BuildError {
    b.pinning(Pinning::None)
        .map(|t: T| t)
        .start()
        .map(drop)
        .unwrap_err()
}

#[test]
fn config_errors() {
    let _s = serial();
    let b = || Engine::builder::<u64>();
    assert_eq!(
        start_err(b().workers(0)),
        BuildError::ZeroSetting("workers")
    );
    assert_eq!(start_err(b().batch(0)), BuildError::ZeroSetting("batch"));
    assert_eq!(
        start_err(
            b().window(0)
                .order(Order::Preserve)
                .dispatch(Dispatch::LeastLoaded)
        ),
        BuildError::ZeroSetting("window")
    );
    assert_eq!(
        start_err(b().capacity(0)),
        BuildError::Capacity(CapacityError::Zero)
    );
    assert!(matches!(
        start_err(b().capacity(usize::MAX)),
        BuildError::Capacity(CapacityError::TooLarge { .. })
    ));
    // Same errors through `run` and `run_with_sink`.
    assert_eq!(
        b().workers(0)
            .map(|x| x)
            .run(0..10u64)
            .map(drop)
            .unwrap_err(),
        BuildError::ZeroSetting("workers")
    );
    assert_eq!(
        b().batch(0)
            .map(|x| x)
            .run_with_sink(0..10u64, drop)
            .map(drop)
            .unwrap_err(),
        BuildError::ZeroSetting("batch")
    );

    // Pinning.
    let cores = available_cores();
    let err = b()
        .workers(2)
        .pinning(Pinning::Explicit {
            distributor: None,
            workers: vec![cores[0], 10_000],
            merger: None,
        })
        .map(|x| x)
        .start()
        .map(drop)
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::NoSuchCore {
            core: 10_000,
            available: cores.clone()
        }
    );
    let err = b()
        .workers(1)
        .pinning(Pinning::Explicit {
            distributor: Some(10_000),
            workers: vec![cores[0]],
            merger: None,
        })
        .map(|x| x)
        .run(0..1u64)
        .map(drop)
        .unwrap_err();
    assert!(
        matches!(err, BuildError::NoSuchCore { core: 10_000, .. }),
        "{err:?}"
    );
    let err = b()
        .workers(3)
        .pinning(Pinning::Explicit {
            distributor: None,
            workers: vec![cores[0]],
            merger: None,
        })
        .map(|x| x)
        .start()
        .map(drop)
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::PinCount {
            workers: 3,
            cores: 1
        }
    );

    // BusySpin on more threads than cores (8 workers on this 2-core machine; at least as many
    // workers as cores anywhere, so the engine's threads always outnumber them).
    let workers = WORKERS.max(cores.len());
    let err = start_err(b().workers(workers).wait(WaitStrategy::BusySpin));
    assert_eq!(
        err,
        BuildError::SpinOversubscribed {
            threads: workers + 2,
            cores: cores.len()
        }
    );
    // …which `allow_oversubscribed_spin(true)` lets run (briefly: spinners on shared cores).
    let _w = Watchdog::new("oversubscribed BusySpin".into());
    let out = b()
        .workers(workers)
        .capacity(1024)
        .wait(WaitStrategy::BusySpin)
        .allow_oversubscribed_spin(true)
        .pinning(Pinning::None)
        .map(|x| x + 1)
        .run(0..1_000u64)
        .unwrap();
    assert_eq!(out.sum::<u64>(), (1..=1_000u64).sum::<u64>());

    // Preserve + round-robin needs one output per input.
    let preserve_rr = || b().order(Order::Preserve).pinning(Pinning::None);
    assert_eq!(
        preserve_rr()
            .filter_map(|x: u64| Some(x))
            .start()
            .map(drop)
            .unwrap_err(),
        BuildError::PreserveNeedsOneToOne
    );
    assert_eq!(
        preserve_rr()
            .flat_map(|x: u64| [x, x])
            .run(0..4u64)
            .map(drop)
            .unwrap_err(),
        BuildError::PreserveNeedsOneToOne
    );
    assert_eq!(
        preserve_rr()
            .stateful(|_| (), |_: &mut (), x: u64, e| e.push(x))
            .run_with_sink(0..4u64, drop)
            .map(drop)
            .unwrap_err(),
        BuildError::PreserveNeedsOneToOne
    );
    // …but is fine with tags (another dispatch) or any order.
    let got: Vec<u64> = preserve_rr()
        .dispatch(Dispatch::LeastLoaded)
        .filter_map(|x: u64| x.is_multiple_of(2).then_some(x))
        .run(0..100u64)
        .unwrap()
        .collect();
    assert_eq!(got, (0..100).step_by(2).collect::<Vec<u64>>());
}
