//! Graphs under faults: every item created is dropped exactly once after a normal end, an
//! early end and a panic in any stage (or in a repartitioning key function), in both caller
//! modes and in every connection (all to all, one to one, three stages), with the one-to-one
//! links fused or not; and every bad setting of any stage is a typed error before anything
//! runs.

mod common;

use common::tracked::{source, Counts, Tracked};
use common::{Merged, Mode, MODES};
use fanring::{BuildError, Dispatch, Engine, Failure, Fusion, Graph, Order, Pinning, WaitStrategy};
use std::sync::Arc;

type G = Graph<Tracked, Tracked>;

/// The graph shapes: (workers of each stage, the second stage by key).
const SHAPES: [(&[usize], bool); 5] = [
    (&[2, 3], false),
    (&[2, 2], false),
    (&[2, 2], true),
    (&[1, 3, 2], false),
    (&[2, 2, 2], false),
];

/// Stages linked one to one on threads of their own, and on the threads before them.
const FUSIONS: [Fusion; 2] = [Fusion::Never, Fusion::Always];

/// A graph of `workers.len()` stages that pass items on; stage `panic_at.0` panics on the item
/// whose value is `panic_at.1`; the last stage drops odd items (a `filter_map`).
fn graph(
    workers: &[usize],
    by_key: bool,
    order: Order,
    panic_at: Option<(usize, u64)>,
    fusion: Fusion,
) -> G {
    let stage = |k: usize| {
        let b = Engine::builder()
            .workers(workers[k])
            .capacity(8)
            .batch(3)
            .pinning(Pinning::None);
        if k == 1 && by_key {
            b.dispatch(Dispatch::by_key(|t: &Tracked| t.v / 5))
        } else {
            b
        }
    };
    let pass = move |k: usize| {
        move |t: Tracked| {
            if panic_at == Some((k, t.v)) {
                panic!("stage {k} refused {}", t.v);
            }
            t
        }
    };
    let last = workers.len() - 1;
    let filter = move |t: Tracked| {
        if panic_at == Some((last, t.v)) {
            panic!("stage {last} refused {}", t.v);
        }
        t.v.is_multiple_of(2).then_some(t)
    };
    let first = stage(0).order(order).map(pass(0));
    match workers.len() {
        2 => first.then(stage(1).filter_map(filter)),
        _ => first
            .then(stage(1).map(pass(1)))
            .then(stage(2).filter_map(filter)),
    }
    .fusion(fusion)
}

fn launch(
    g: G,
    mode: Mode,
    n: Option<u64>,
    counts: &Arc<Counts>,
) -> Merged<impl Iterator<Item = Tracked> + Send, Tracked> {
    let src = source(n, counts);
    match mode {
        Mode::Run => Merged::Run(g.run(src).unwrap()),
        Mode::Drive => Merged::Drive(g.drive(src).unwrap()),
    }
}

#[test]
fn normal_end_delivers_each_once_and_drops_each_once() {
    for (workers, by_key) in SHAPES {
        for (order, fusion) in [Order::Any, Order::Preserve]
            .into_iter()
            .flat_map(|o| FUSIONS.map(|f| (o, f)))
        {
            for mode in MODES {
                let what = format!("{workers:?} by_key={by_key} {order:?} {fusion:?} {mode:?}");
                let counts = Counts::new();
                let mut out = launch(
                    graph(workers, by_key, order, None, fusion),
                    mode,
                    Some(3_000),
                    &counts,
                );
                let mut got = Vec::new();
                while let Some(t) = out.next_checked().unwrap() {
                    got.push(t.v);
                }
                out.join().unwrap();
                if order == Order::Any {
                    got.sort_unstable();
                }
                let want: Vec<u64> = (0..3_000).filter(|v| v % 2 == 0).collect();
                assert_eq!(got, want, "{what}");
                counts.assert_balanced(&what);
            }
        }
    }
}

#[test]
fn early_end_drops_each_once() {
    for (workers, by_key) in SHAPES {
        for (order, fusion) in [Order::Any, Order::Preserve]
            .into_iter()
            .flat_map(|o| FUSIONS.map(|f| (o, f)))
        {
            for mode in MODES {
                for take in [0, 1, 500] {
                    let what = format!(
                        "{workers:?} by_key={by_key} {order:?} {fusion:?} {mode:?} take {take}"
                    );
                    let counts = Counts::new();
                    // An endless source: only the early end stops it.
                    let g = graph(workers, by_key, order, None, fusion);
                    let mut out = launch(g, mode, None, &counts);
                    for _ in 0..take {
                        assert!(out.next_checked().unwrap().is_some(), "{what}");
                    }
                    // Joining before the end stops every stage, and waits for every thread.
                    let _ = out.join();
                    counts.assert_balanced(&what);
                }
            }
        }
    }
}

#[test]
fn a_panic_in_any_stage_is_typed_and_drops_each_once() {
    for (workers, by_key) in SHAPES {
        for (stage, fusion) in (0..workers.len()).flat_map(|s| FUSIONS.map(|f| (s, f))) {
            for at in [0, 777] {
                for mode in MODES {
                    let what = format!(
                        "{workers:?} by_key={by_key} stage {stage} at {at} {fusion:?} {mode:?}"
                    );
                    let counts = Counts::new();
                    let g = graph(workers, by_key, Order::Any, Some((stage, at)), fusion);
                    let mut out = launch(g, mode, Some(5_000), &counts);
                    let err = loop {
                        match out.next_checked() {
                            Ok(Some(_)) => {}
                            Ok(None) => panic!("{what}: the stream ended as if nothing failed"),
                            Err(e) => break e,
                        }
                    };
                    match &err {
                        Failure::WorkerPanicked {
                            stage: s, message, ..
                        } => {
                            assert_eq!(*s, stage, "{what}");
                            assert_eq!(message, &format!("stage {stage} refused {at}"), "{what}");
                        }
                        other => panic!("{what}: {other:?}"),
                    }
                    assert!(out.join().is_err(), "{what}");
                    counts.assert_balanced(&what);
                }
            }
        }
    }
}

/// A repartitioning key function runs on the workers of the stage before: its panic is theirs.
#[test]
fn a_panicking_key_function_between_stages_is_typed() {
    for mode in MODES {
        let counts = Counts::new();
        let g = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .map(|t: Tracked| t)
            .then(
                Engine::builder()
                    .workers(3)
                    .pinning(Pinning::None)
                    .dispatch(Dispatch::by_key(|t: &Tracked| {
                        assert!(t.v != 1_000, "no key for 1000");
                        t.v
                    }))
                    .map(|t: Tracked| t),
            );
        let mut out = launch(g, mode, Some(5_000), &counts);
        let err = loop {
            match out.next_checked() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{mode:?}: the stream ended as if nothing failed"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(&err, Failure::WorkerPanicked { stage: 0, message, .. } if message == "no key for 1000"),
            "{mode:?}: {err:?}"
        );
        let _ = out.join();
        counts.assert_balanced(&format!("{mode:?}"));
    }
}

/// The stream dropped (not joined) while every stage is busy: nothing hangs, and once the
/// threads are gone every item was dropped once.
#[test]
fn dropping_the_stream_mid_flight_does_not_hang() {
    for wait in [
        WaitStrategy::ADAPTIVE,
        WaitStrategy::SPIN_THEN_PARK,
        WaitStrategy::SPIN_YIELD,
    ] {
        let counts = Counts::new();
        let mut out = Engine::builder()
            .workers(2)
            .wait(wait)
            .map(|t: Tracked| t)
            .then(Engine::builder().workers(3).wait(wait).map(|t: Tracked| t))
            .then(Engine::builder().workers(2).wait(wait).map(|t: Tracked| t))
            .run(source(None, &counts))
            .unwrap();
        assert_eq!(out.by_ref().take(2_000).count(), 2_000);
        drop(out);
        // The threads end on their own soon after; wait for the last item's drop.
        let t = std::time::Instant::now();
        while counts.created() != counts.dropped() {
            assert!(t.elapsed().as_secs() < 30, "{wait:?}: items never dropped");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Every bad setting, at any stage, is the same typed error as for a single farm.
#[test]
fn bad_settings_of_any_stage_are_typed() {
    type B = fanring::Builder<u64>;
    type Bad = fn(B) -> B;
    let cases: Vec<(Bad, BuildError)> = vec![
        (|b| b.workers(0), BuildError::ZeroSetting("workers")),
        (|b| b.batch(0), BuildError::ZeroSetting("batch")),
        (|b| b.window(0), BuildError::ZeroSetting("window")),
        (
            |b| b.capacity(0),
            BuildError::Capacity(fanring::ring::CapacityError::Zero),
        ),
    ];
    for (bad, want) in cases {
        for at in 0..3 {
            let stage = |k: usize| {
                let b = Engine::builder().workers(2);
                if k == at {
                    bad(b)
                } else {
                    b
                }
            };
            let r = stage(0)
                .map(|x: u64| x)
                .then(stage(1).map(|x: u64| x))
                .then(stage(2).map(|x: u64| x))
                .run(0..10u64);
            assert_eq!(r.err(), Some(want.clone_kind()), "stage {at}");
        }
    }
    // Too many workers in all.
    let r = Engine::builder()
        .workers(Engine::MAX_WORKERS)
        .map(|x: u64| x)
        .then(Engine::builder().workers(1).map(|x: u64| x))
        .run(0..10u64);
    assert!(matches!(
        r.err(),
        Some(BuildError::TooLarge {
            setting: "workers",
            ..
        })
    ));
    // A huge capacity: refused before anything is allocated.
    let r = Engine::builder()
        .map(|x: u64| x)
        .then(Engine::builder().capacity(usize::MAX / 2).map(|x: u64| x))
        .run(0..10u64);
    assert!(matches!(
        r.err(),
        Some(BuildError::Capacity(_) | BuildError::TooLarge { .. })
    ));
    // Spinning with more threads than cores.
    let cores = fanring::pinning::available_cores().len();
    let r = Engine::builder()
        .workers(cores)
        .wait(WaitStrategy::BusySpin)
        .map(|x: u64| x)
        .then(Engine::builder().workers(cores).map(|x: u64| x))
        .run(0..10u64);
    assert!(matches!(
        r.err(),
        Some(BuildError::SpinOversubscribed { .. })
    ));
    // No inputs.
    let r = Engine::builder()
        .map(|x: u64| x)
        .then(Engine::builder().map(|x: u64| x))
        .start_many(0);
    assert_eq!(r.err(), Some(BuildError::ZeroSetting("inputs")));
}

trait CloneKind {
    fn clone_kind(&self) -> Self;
}

impl CloneKind for BuildError {
    fn clone_kind(&self) -> Self {
        match self {
            BuildError::ZeroSetting(s) => BuildError::ZeroSetting(s),
            BuildError::Capacity(e) => BuildError::Capacity(*e),
            _ => unreachable!(),
        }
    }
}

/// `drive` with a stage that drops long runs of items (a filter keeping 1 in 10, 1 in 1000, or
/// only the first and last; a `flat_map` giving nothing), in any order and under `Preserve`
/// with small and large reorder windows, in a farm and in a graph: the dropped inputs give no
/// output, yet free the rings and the window the caller's feed waits for. Every kept item
/// comes out once, in order under `Preserve`, and nothing waits for ever.
#[test]
fn drive_through_filters_that_drop_long_runs_ends() {
    let n = 20_000u64;
    type Keep = fn(u64) -> bool;
    let keeps: [(&str, Keep); 3] = [
        ("1 in 10", |x| x % 10 == 0),
        ("1 in 1000", |x| x % 1000 == 0),
        ("first and last", |x| x == 0 || x == 20_000 - 1),
    ];
    for (name, keep) in keeps {
        for window in [None, Some(1), Some(2), Some(16)] {
            for order in [Order::Any, Order::Preserve] {
                let what = format!("{name}, window {window:?}, {order:?}");
                let stage = || {
                    let b = Engine::builder()
                        .workers(2)
                        .capacity(8)
                        .batch(4)
                        .order(order);
                    match window {
                        Some(w) => b.window(w),
                        None => b,
                    }
                };
                let want: Vec<u64> = (0..n).filter(|&x| keep(x)).collect();
                // A farm (tagged under `Preserve`: least-loaded), filtering.
                let mut got: Vec<u64> = stage()
                    .dispatch(Dispatch::LeastLoaded)
                    .filter_map(move |x: u64| keep(x).then_some(x))
                    .drive(0..n)
                    .unwrap()
                    .collect();
                if order == Order::Any {
                    got.sort_unstable();
                }
                assert_eq!(got, want, "farm, {what}");
                // A graph whose last stage filters with a `flat_map`.
                let mut got: Vec<u64> = stage()
                    .map(|x: u64| x)
                    .then(stage().flat_map(move |x: u64| keep(x).then_some(x)))
                    .drive(0..n)
                    .unwrap()
                    .collect();
                if order == Order::Any {
                    got.sort_unstable();
                }
                assert_eq!(got, want, "graph, {what}");
            }
        }
    }
}

/// More inputs than an engine may have workers: a typed error before anything is sized.
#[test]
fn too_many_inputs_is_an_error_not_an_abort() {
    for inputs in [Engine::MAX_WORKERS + 1, 1 << 40, usize::MAX] {
        let r = Engine::builder()
            .workers(2)
            .map(|x: u64| x)
            .then(Engine::builder().workers(2).map(|x: u64| x))
            .start_many(inputs);
        assert!(
            matches!(r.err(), Some(BuildError::TooLarge { setting: "inputs", value, .. }) if value == inputs),
            "{inputs}"
        );
        let r = Engine::builder()
            .workers(2)
            .map(|x: u64| x)
            .start_many(inputs);
        assert!(
            matches!(
                r.err(),
                Some(BuildError::TooLarge {
                    setting: "inputs",
                    ..
                })
            ),
            "{inputs}"
        );
    }
}
