//! The spare (`docs/design.md`, "The spare"): while every worker's ring is full of costly
//! items, the distributor leaves the items it has taken where any worker that runs dry takes
//! them. Every shape that has one (round-robin and least-loaded farms, a graph's first stage,
//! fused or not): every item arrives once, in input order where asked; every item created is
//! dropped once after a normal end, an early end and a panic.

mod common;

use common::tracked::{source, Counts, Tracked};
use fanring::stats::Stats;
use fanring::{Dispatch, Engine, Failure, Fusion, Graph, Order, Output, Pinning};
use std::time::{Duration, Instant};

/// Spins for about `us` microseconds: items costly enough that rings are kept a few deep.
fn spin(us: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

/// The shapes with a spare.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// A farm, round-robin, `Order::Any`.
    RoundRobin(usize),
    /// A farm, least-loaded, `Order::Preserve` (items tagged with their sequence numbers).
    LeastLoaded(usize),
    /// Two stages of two workers, `Order::Preserve`.
    Graph(Fusion),
}

const SHAPES: [Shape; 5] = [
    Shape::RoundRobin(2),
    Shape::RoundRobin(3),
    Shape::LeastLoaded(2),
    Shape::Graph(Fusion::Always),
    Shape::Graph(Fusion::Never),
];

impl Shape {
    fn order(self) -> Order {
        match self {
            Shape::RoundRobin(_) => Order::Any,
            _ => Order::Preserve,
        }
    }

    /// Runs `src` through items of about 40 µs; the item whose value is `panic_at` panics.
    fn run(
        self,
        src: impl Iterator<Item = Tracked> + Send + 'static,
        panic_at: Option<u64>,
    ) -> Output<Tracked> {
        self.run_costing(src, panic_at, |_| 40)
    }

    /// Runs `src` through items of `cost(value)` µs; the item whose value is `panic_at`
    /// panics.
    fn run_costing(
        self,
        src: impl Iterator<Item = Tracked> + Send + 'static,
        panic_at: Option<u64>,
        cost: fn(u64) -> u64,
    ) -> Output<Tracked> {
        let work = move |t: Tracked| {
            assert!(panic_at != Some(t.v), "refused {}", t.v);
            spin(cost(t.v));
            t
        };
        let farm = |w: usize| Engine::builder().workers(w).pinning(Pinning::None);
        match self {
            Shape::RoundRobin(w) => farm(w).map(work).run(src),
            Shape::LeastLoaded(w) => farm(w)
                .dispatch(Dispatch::LeastLoaded)
                .order(Order::Preserve)
                .map(work)
                .run(src),
            Shape::Graph(fusion) => Graph::from(farm(2).order(Order::Preserve).map(work))
                .then(farm(2).map(|t: Tracked| t))
                .fusion(fusion)
                .run(src),
        }
        .unwrap()
    }
}

/// Every value `out` gives (sorted where `shape` keeps no order), and its join's counters.
fn read_all(shape: Shape, mut out: Output<Tracked>) -> (Vec<u64>, Stats) {
    let mut got = Vec::new();
    while let Some(t) = out.next_checked().unwrap() {
        got.push(t.v);
    }
    let stats = out.join().unwrap();
    if shape.order() == Order::Any {
        got.sort_unstable();
    }
    (got, stats)
}

#[test]
fn costly_items_left_in_the_spare_arrive_once_in_order() {
    for shape in SHAPES {
        let counts = Counts::new();
        let out = shape.run(source(Some(400), &counts), None);
        let (got, stats) = read_all(shape, out);
        assert_eq!(got, (0..400).collect::<Vec<_>>(), "{shape:?}");
        counts.assert_balanced(&format!("{shape:?}"));
        // The source is far ahead of the workers: every ring fills, and the rest waits in
        // the spare.
        let d = stats.distributor.expect("a distributor thread");
        assert!(d.spared > 0 && d.spared <= d.items, "{shape:?}: {d:?}");
        // Each item was taken once: by a worker (from its ring or the spare), or run by the
        // distributor itself; a fused second stage's thread counts its first stage's inputs.
        let stage0: u64 = stats.workers[..2.min(stats.workers.len())]
            .iter()
            .map(|w| w.items_in)
            .sum();
        let farm: u64 = stats.workers.iter().map(|w| w.items_in).sum();
        let taken = if matches!(shape, Shape::Graph(_)) {
            stage0
        } else {
            farm
        };
        assert_eq!(taken + d.inline, 400, "{shape:?}: {stats:?}");
    }
}

#[test]
fn an_early_end_drops_what_the_spare_holds_once() {
    for shape in SHAPES {
        for take in [0, 1, 50] {
            let what = format!("{shape:?} take {take}");
            let counts = Counts::new();
            // An endless source: only the early end stops it.
            let mut out = shape.run(source(None, &counts), None);
            for _ in 0..take {
                assert!(out.next_checked().unwrap().is_some(), "{what}");
            }
            // Joining before the end stops every stage, and waits for every thread.
            let _ = out.join();
            counts.assert_balanced(&what);
        }
    }
}

/// Reads `out` until it fails: a worker of stage 0 panicked, never a clean end.
fn expect_stage0_panic(out: &mut Output<Tracked>, what: &str) {
    let failure = loop {
        match out.next_checked() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("{what}: the stream ended as if complete"),
            Err(f) => break f,
        }
    };
    assert!(
        matches!(failure, Failure::WorkerPanicked { stage: 0, .. }),
        "{what}: {failure:?}"
    );
}

#[test]
fn a_panic_with_items_in_the_spare_is_typed_and_drops_each_once() {
    for shape in SHAPES {
        for panic_at in [0, 5, 150] {
            let what = format!("{shape:?} panic at {panic_at}");
            let counts = Counts::new();
            let mut out = shape.run(source(Some(400), &counts), Some(panic_at));
            expect_stage0_panic(&mut out, &what);
            assert!(out.join().is_err(), "{what}");
            counts.assert_balanced(&what);
        }
    }
}

/// A caller that sends a burst of costly items through a channel, then waits for all of
/// their outputs before it sends the next (request/response): the distributor waits in the
/// source after every burst, and nothing it left in the spare may wait with it (a worker
/// parked on an empty ring while items sat in the spare would hang the caller). Round-robin
/// and least-loaded under `Preserve`, 2 and 4 workers, 100 bursts of 64.
#[test]
fn bursts_through_the_spare_never_wait_for_the_next_burst() {
    use std::sync::mpsc;
    for (dispatch, order) in [
        (Dispatch::RoundRobin, Order::Any),
        (Dispatch::LeastLoaded, Order::Preserve),
    ] {
        for workers in [2, 4] {
            let what = format!("{dispatch:?} {order:?} {workers} workers");
            let (tx, rx) = mpsc::channel::<u64>();
            let mut out = Engine::builder()
                .workers(workers)
                .pinning(Pinning::None)
                .dispatch(dispatch.clone())
                .order(order)
                .map(|x: u64| {
                    spin(30);
                    x
                })
                .run_source(rx)
                .unwrap();
            // The outputs through a channel, so that a hang is a timeout, not a stuck test.
            let (otx, orx) = mpsc::channel::<u64>();
            let reader = std::thread::spawn(move || {
                for x in out.by_ref() {
                    if otx.send(x).is_err() {
                        break;
                    }
                }
                out.join()
            });
            let mut next = 0;
            for round in 0..100 {
                let first = next;
                for _ in 0..64 {
                    tx.send(next).unwrap();
                    next += 1;
                }
                let mut got: Vec<u64> = (0..64)
                    .map(|_| {
                        orx.recv_timeout(Duration::from_secs(10))
                            .unwrap_or_else(|_| panic!("{what}: round {round} hangs"))
                    })
                    .collect();
                if order == Order::Any {
                    got.sort_unstable();
                }
                assert_eq!(
                    got,
                    (first..next).collect::<Vec<_>>(),
                    "{what}: round {round}"
                );
            }
            drop(tx);
            let stats = reader.join().unwrap().unwrap();
            assert_eq!(stats.distributor.unwrap().items, next, "{what}");
        }
    }
}

/// Stretches of 600 items of 2 µs, then 30 of 1.5 ms: the rings are deep with cheap items
/// when the costly ones come, so a worker's run takes far longer than planned, is cut short,
/// and the rest goes back to the spare for whichever worker runs dry.
fn stretches(v: u64) -> u64 {
    if v % 630 < 600 {
        2
    } else {
        1_500
    }
}

/// Runs cut short and shared out through the spare (`WorkerStats::shed`): every item
/// arrives once, in input order where asked, also when the rings close with such items still
/// in the spare (the last stretch); an early end and a panic in a costly stretch drop every
/// item once.
#[test]
fn runs_that_turn_costly_are_shared_out_once_in_order() {
    let mut shed = 0;
    for shape in SHAPES {
        let n = 3 * 630;
        let counts = Counts::new();
        let out = shape.run_costing(source(Some(n), &counts), None, stretches);
        let (got, stats) = read_all(shape, out);
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "{shape:?}");
        counts.assert_balanced(&format!("{shape:?}"));
        shed += stats.workers.iter().map(|w| w.shed).sum::<u64>();

        for (take, panic_at) in [(605, None), (0, Some(610)), (0, Some(1250))] {
            let what = format!("{shape:?} take {take} panic at {panic_at:?}");
            let counts = Counts::new();
            let mut out = shape.run_costing(source(Some(n), &counts), panic_at, stretches);
            for _ in 0..take {
                assert!(out.next_checked().unwrap().is_some(), "{what}");
            }
            if panic_at.is_some() {
                expect_stage0_panic(&mut out, &what);
            }
            let _ = out.join();
            counts.assert_balanced(&what);
        }
    }
    assert!(shed > 0, "no run was cut short");
}
