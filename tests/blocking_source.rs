//! Sources that block: an item handed to the engine comes out while the source
//! waits for the next one, in every mode, dispatch policy and order; and a handle that ends
//! the engine while its distributor waits inside the source returns at once, with every item
//! dropped exactly once.

use fanring::source::Source;
use fanring::source::TryRecvError;
use fanring::{Dispatch, Engine, Order, Pinning};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Runs `f` on its own thread; fails the test if it has not finished in `secs` (a hang).
fn within<R: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(r) => r,
        Err(_) => panic!("{what}: did not finish in {secs} s (an item waits behind the source)"),
    }
}

fn dispatches() -> [(&'static str, Dispatch<u64>); 3] {
    [
        ("rr", Dispatch::RoundRobin),
        ("least", Dispatch::LeastLoaded),
        ("key", Dispatch::by_key(|x: &u64| *x)),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Via {
    /// `run_source(mpsc::Receiver)`
    RunSource,
    /// `run(rx.into_iter())`: an iterator whose `size_hint` promises nothing
    RunIter,
    /// `drive_source(mpsc::Receiver)`
    DriveSource,
    /// `drive(rx.into_iter())`
    DriveIter,
}

const VIAS: [Via; 4] = [
    Via::RunSource,
    Via::RunIter,
    Via::DriveSource,
    Via::DriveIter,
];

/// Sends one item, reads its output, sends another, reads it: the source blocks in between
/// and at the end. Then closes the source and checks the stream ends.
fn one_at_a_time(workers: usize, dispatch: Dispatch<u64>, order: Order, via: Via) {
    let (tx, rx) = mpsc::channel::<u64>();
    let b = Engine::builder()
        .workers(workers)
        .pinning(Pinning::None)
        .dispatch(dispatch)
        .order(order)
        .map(|x: u64| x + 1);
    let mut out: Box<dyn Iterator<Item = u64>> = match via {
        Via::RunSource => Box::new(b.run_source(rx).unwrap()),
        Via::RunIter => Box::new(b.run(rx).unwrap()),
        Via::DriveSource => Box::new(b.drive_source(rx).unwrap()),
        Via::DriveIter => Box::new(b.drive(rx).unwrap()),
    };
    for i in 0..3 {
        tx.send(10 * i).unwrap();
        assert_eq!(out.next(), Some(10 * i + 1));
    }
    drop(tx);
    assert_eq!(out.next(), None);
}

#[test]
fn an_item_comes_out_while_the_source_blocks() {
    for workers in [1, 2, 4] {
        for (name, dispatch) in dispatches() {
            for order in [Order::Any, Order::Preserve] {
                for via in VIAS {
                    let what = format!("W={workers} {name} {order:?} {via:?}");
                    let d = dispatch.clone();
                    within(30, &what.clone(), move || {
                        one_at_a_time(workers, d, order, via);
                    });
                }
            }
        }
    }
}

/// The issue's input: `batch(1)`, `rx.into_iter()`, `run`, two workers.
#[test]
fn issue_input_batch_one_mpsc_into_iter() {
    within(30, "issue input", || {
        let (tx, rx) = mpsc::channel::<u64>();
        let mut out = Engine::builder()
            .workers(2)
            .batch(1)
            .pinning(Pinning::None)
            .map(|x: u64| x + 1)
            .run(rx)
            .unwrap();
        tx.send(0).unwrap();
        assert_eq!(out.next(), Some(1));
    });
}

/// Default batch (256) with a source that blocks between items, and `filter_map` (inputs that
/// give no output) under `drive`: every output still comes while the source waits.
#[test]
fn filter_map_under_drive_with_a_blocking_source() {
    within(30, "filter_map drive", || {
        let (tx, rx) = mpsc::channel::<u64>();
        let mut out = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .filter_map(|x: u64| x.is_multiple_of(2).then_some(x))
            .drive_source(rx)
            .unwrap();
        for i in 0..6 {
            tx.send(2 * i + 1).unwrap(); // filtered out
            tx.send(2 * i).unwrap();
            assert_eq!(out.next(), Some(2 * i));
        }
        drop(tx);
        assert_eq!(out.next(), None);
    });
}

/// The ring's `Consumer` as a source.
#[test]
fn a_fanring_consumer_as_the_source() {
    within(30, "consumer source", || {
        let (mut tx, rx) = fanring::channel::<u64>(16).unwrap();
        let mut out = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .map(|x: u64| x * 2)
            .run_source(rx)
            .unwrap();
        for i in 1..=3 {
            tx.push(i).unwrap();
            assert_eq!(out.next(), Some(2 * i));
        }
        drop(tx);
        assert_eq!(out.next(), None);
        out.join().unwrap();
    });
}

#[cfg(feature = "crossbeam-channel")]
#[test]
fn a_crossbeam_receiver_as_the_source() {
    for (name, dispatch) in dispatches() {
        within(30, name, move || {
            let (tx, rx) = crossbeam_channel::unbounded::<u64>();
            let mut out = Engine::builder()
                .workers(2)
                .pinning(Pinning::None)
                .dispatch(dispatch)
                .order(Order::Preserve)
                .map(|x: u64| x + 100)
                .run_source(rx)
                .unwrap();
            tx.send(1).unwrap();
            assert_eq!(out.next(), Some(101));
            drop(tx);
            assert_eq!(out.next(), None);
        });
    }
}

/// A burst of ready items is taken as runs (and comes out in order under `Preserve`), then
/// the source waits: the tail of the burst still comes out.
#[test]
fn a_burst_then_a_pause() {
    within(30, "burst", || {
        let (tx, rx) = mpsc::channel::<u64>();
        let mut out = Engine::builder()
            .workers(3)
            .batch(64)
            .pinning(Pinning::None)
            .order(Order::Preserve)
            .map(|x: u64| x)
            .run_source(rx)
            .unwrap();
        for round in 0..4u64 {
            let base = round * 1000;
            for i in 0..(100 + round * 37) {
                tx.send(base + i).unwrap();
            }
            for i in 0..(100 + round * 37) {
                assert_eq!(out.next(), Some(base + i));
            }
        }
    });
}

/// Counts the items alive.
struct Tracked {
    live: Arc<AtomicUsize>,
}

impl Tracked {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, SeqCst);
        Tracked {
            live: Arc::clone(live),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, SeqCst);
    }
}

fn wait_for_zero(live: &AtomicUsize, what: &str) {
    let t = Instant::now();
    while live.load(SeqCst) != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{what}: {} items never dropped",
            live.load(SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[derive(Clone, Copy, Debug)]
enum End {
    Drop,
    Join,
}

#[derive(Clone, Copy, Debug)]
enum Wake {
    /// Send one more item: the distributor takes it, sees the engine gone, drops it.
    Feed,
    /// Close the source: `recv` returns `None`.
    Close,
}

/// Dropping or joining the stream while the distributor waits in the source returns at once;
/// the distributor ends when the source next returns; every item is dropped exactly once.
#[test]
fn cancel_while_the_source_blocks() {
    for end in [End::Drop, End::Join] {
        for wake in [Wake::Feed, Wake::Close] {
            for (name, dispatch) in [
                ("rr", Dispatch::RoundRobin),
                ("key", Dispatch::by_key(|_: &Tracked| 1)),
            ] {
                for order in [Order::Any, Order::Preserve] {
                    let what = format!("{end:?} {wake:?} {name} {order:?}");
                    let w = what.clone();
                    let dispatch = dispatch.clone();
                    within(30, &what, move || {
                        let live = Arc::new(AtomicUsize::new(0));
                        let (tx, rx) = mpsc::channel::<Tracked>();
                        let mut out = Engine::builder()
                            .workers(2)
                            .pinning(Pinning::None)
                            .dispatch(dispatch)
                            .order(order)
                            .map(|t: Tracked| t)
                            .run_source(rx)
                            .unwrap();
                        for _ in 0..5 {
                            tx.send(Tracked::new(&live)).unwrap();
                        }
                        drop(out.next().expect("an item"));
                        // The distributor now waits in `recv` (or soon will).
                        let t = Instant::now();
                        match end {
                            End::Drop => drop(out),
                            End::Join => {
                                let stats = out.join().unwrap();
                                assert!(stats.merger.items >= 1, "{w}");
                            }
                        }
                        assert!(
                            t.elapsed() < Duration::from_secs(10),
                            "{w}: the end waited for the source"
                        );
                        match wake {
                            Wake::Feed => {
                                // The distributor may be gone already if it saw the end
                                // before it entered the source.
                                let _ = tx.send(Tracked::new(&live));
                            }
                            Wake::Close => drop(tx),
                        }
                        wait_for_zero(&live, &w);
                    });
                }
            }
        }
    }
}

/// `run_with_sink`'s `Running` dropped while its source blocks: the drop returns; the engine
/// finishes by itself once the source ends, and every item reaches the sink once.
#[test]
fn running_dropped_while_the_source_blocks() {
    within(30, "running drop", || {
        let live = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel::<Tracked>();
        let s = Arc::clone(&seen);
        let running = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .map(|t: Tracked| t)
            .run_with_sink(rx, move |_t: Tracked| {
                s.fetch_add(1, SeqCst);
            })
            .unwrap();
        tx.send(Tracked::new(&live)).unwrap();
        let t = Instant::now();
        while seen.load(SeqCst) < 1 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the item never arrived"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(running); // the distributor waits in `recv`: not waited for
        tx.send(Tracked::new(&live)).unwrap();
        drop(tx);
        wait_for_zero(&live, "running drop");
        let t = Instant::now();
        while seen.load(SeqCst) < 2 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the last item was lost"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// A source of one's own: a queue behind a mutex whose `recv` polls (the trait's contract).
struct Polled {
    rx: Arc<std::sync::Mutex<std::collections::VecDeque<Option<u64>>>>,
}

impl Source for Polled {
    type Item = u64;
    fn try_recv(&mut self) -> Result<u64, TryRecvError> {
        match self.rx.lock().unwrap().pop_front() {
            Some(Some(x)) => Ok(x),
            Some(None) => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }
    fn recv(&mut self) -> Option<u64> {
        loop {
            match self.try_recv() {
                Ok(x) => return Some(x),
                Err(TryRecvError::Closed) => return None,
                Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_micros(100)),
            }
        }
    }
}

#[test]
fn a_user_source() {
    within(30, "user source", || {
        let q = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let mut out = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .order(Order::Preserve)
            .map(|x: u64| x * 3)
            .run_source(Polled { rx: Arc::clone(&q) })
            .unwrap();
        q.lock().unwrap().extend([Some(1), Some(2)]);
        assert_eq!(out.next(), Some(3));
        assert_eq!(out.next(), Some(6));
        q.lock().unwrap().push_back(None);
        assert_eq!(out.next(), None);
        assert!(out.join().is_ok());
    });
}

/// An iterator that promises its items (`(0..n).map(..)`, an exact `size_hint`) but yields
/// them paced, one every 5 ms: its first item took too long, so every later `next()` comes
/// after a publish, and item `i` comes out while the source waits for item `i + 1`. (Checked
/// with a count of the items produced, with slack for a loaded machine (a 15 ms stall): before the fix, the
/// first output came after the whole run of 30.)
#[test]
fn a_paced_iterator_that_promises_its_items() {
    for drive in [false, true] {
        within(60, "paced iterator", move || {
            let produced = Arc::new(AtomicUsize::new(0));
            let p = Arc::clone(&produced);
            let source = (0..30u64).inspect(move |_| {
                std::thread::sleep(Duration::from_millis(5));
                p.fetch_add(1, SeqCst);
            });
            let b = Engine::builder()
                .workers(2)
                .pinning(Pinning::None)
                .order(Order::Preserve)
                .map(|x: u64| x);
            let out: Box<dyn Iterator<Item = u64>> = if drive {
                Box::new(b.drive(source).unwrap())
            } else {
                Box::new(b.run(source).unwrap())
            };
            for (i, x) in out.enumerate() {
                assert_eq!(x, i as u64);
                let made = produced.load(SeqCst);
                assert!(
                    made <= i + 4,
                    "drive {drive}: item {i} came out after {made} items were produced"
                );
            }
        });
    }
}
