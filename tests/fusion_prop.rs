//! Property test: a graph run with its one-to-one links fused (`Fusion::Always`) against the
//! same graph on threads of its own (`Fusion::Never`). Fusion must change nothing a user can
//! see but the thread count: the same outputs (with the hooks' outputs), every `stateful`
//! state made once per worker whatever input reaches it, each hook run once per worker after
//! its stage's last input, the same failure (variant and stage) when a stage panics, and
//! every item dropped exactly once.

use fanring::{Engine, Failure, Fusion, Graph, Pinning};
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// What a stage does with each item.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `x + 1`.
    Map,
    /// Keeps the items whose value is not a multiple of 3.
    Filter,
    /// `x % 3` outputs per item (`x`, `x + 1`, …).
    Flat,
    /// Counts its items per worker; its hook emits `1_000_000` (which worker got how many
    /// items depends on timing: the counts are checked in sum).
    Counted,
}

/// A stage: its workers, its work, whether it has an end-of-stream hook, and the input
/// value (`panic_at`) or the worker (`ctor_panics`) at which it panics.
#[derive(Clone, Copy, Debug)]
struct StageSpec {
    workers: usize,
    kind: Kind,
    hook: bool,
    panic_at: Option<u64>,
    ctor_panics: Option<usize>,
}

/// What one run showed.
#[derive(Debug, PartialEq)]
struct Seen {
    /// Outputs, sorted; `None` when a stage failed (then only the failure is compared).
    outputs: Option<Vec<u64>>,
    /// The failure's variant and stage.
    failure: Option<(&'static str, usize)>,
    /// Per stage: states made (after a normal end only).
    made: Vec<usize>,
    /// Per stage: the inputs the stage had taken in all when each hook ran, sorted, and the
    /// sum of the hooks' own counts (after a normal end only).
    hooks: Vec<Hooks>,
}

/// A stage's hooks: the inputs the stage had taken when each ran, and their counts' sum.
type Hooks = (Vec<usize>, u64);

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Map),
        Just(Kind::Filter),
        Just(Kind::Flat),
        Just(Kind::Counted)
    ]
}

fn stage() -> impl Strategy<Value = StageSpec> {
    (1usize..=3, kind(), any::<bool>()).prop_map(|(workers, kind, hook)| StageSpec {
        workers,
        kind,
        hook: hook || matches!(kind, Kind::Counted),
        panic_at: None,
        ctor_panics: None,
    })
}

/// Runs the graph of `specs` over `0..items` with `fusion`.
fn run(specs: &[StageSpec], items: u64, fusion: Fusion) -> Seen {
    let n = specs.len();
    let made: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let taken: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let hooks: Arc<Mutex<Vec<Hooks>>> = Arc::new(Mutex::new(vec![(Vec::new(), 0); n]));
    let farm = |s: usize| {
        let spec = specs[s];
        let (made, taken) = (Arc::clone(&made), Arc::clone(&taken));
        Engine::builder()
            .workers(spec.workers)
            .capacity(4)
            .batch(2)
            .pinning(Pinning::None)
            .stateful(
                move |w: usize| {
                    made[s].fetch_add(1, SeqCst);
                    assert!(spec.ctor_panics != Some(w), "boom: no state for {w}");
                    0u64
                },
                move |count, x: u64, emit| {
                    taken[s].fetch_add(1, SeqCst);
                    assert!(spec.panic_at != Some(x), "boom at {x}");
                    *count += 1;
                    match spec.kind {
                        Kind::Map | Kind::Counted => emit.push(x + 1),
                        Kind::Filter => {
                            if !x.is_multiple_of(3) {
                                emit.push(x);
                            }
                        }
                        Kind::Flat => (0..x % 3).for_each(|k| emit.push(x + k)),
                    }
                },
            )
    };
    let hook = |s: usize| {
        let (taken, hooks) = (Arc::clone(&taken), Arc::clone(&hooks));
        let counted = matches!(specs[s].kind, Kind::Counted);
        move |count: &mut u64, emit: &mut fanring::Emit<'_, u64>| {
            {
                let mut h = hooks.lock().unwrap();
                h[s].0.push(taken[s].load(SeqCst));
                h[s].1 += *count;
            }
            // Not under the lock: a stage fused after this one runs inside `push`.
            if counted {
                emit.push(1_000_000);
            }
        }
    };
    let mut g: Graph<u64, u64> = if specs[0].hook {
        Graph::from(farm(0).on_end(hook(0)))
    } else {
        Graph::from(farm(0))
    };
    for (s, spec) in specs.iter().enumerate().skip(1) {
        g = if spec.hook {
            g.then(farm(s).on_end(hook(s)))
        } else {
            g.then(farm(s))
        };
    }
    let mut out = g.fusion(fusion).run(0..items).expect("a valid graph");
    let mut outputs = Vec::new();
    let failure = loop {
        match out.next_checked() {
            Ok(Some(x)) => outputs.push(x),
            Ok(None) => break None,
            Err(Failure::WorkerPanicked { stage, .. }) => break Some(("WorkerPanicked", stage)),
            Err(Failure::EndPanicked { stage, .. }) => break Some(("EndPanicked", stage)),
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(out.join().is_err(), failure.is_some());
    outputs.sort_unstable();
    let mut hooks = hooks.lock().unwrap().clone();
    hooks.iter_mut().for_each(|h| h.0.sort_unstable());
    Seen {
        outputs: failure.is_none().then_some(outputs),
        failure,
        // After a failure, which states were made and which hooks ran before it was seen
        // depends on timing (unfused stages start on threads of their own).
        made: if failure.is_none() {
            made.iter().map(|m| m.load(SeqCst)).collect()
        } else {
            Vec::new()
        },
        hooks: if failure.is_none() { hooks } else { Vec::new() },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Half the stages take their predecessor's worker count, so that links fuse.
    #[test]
    fn fused_and_unfused_graphs_agree(
        mut specs in proptest::collection::vec(stage(), 2..=3),
        same in proptest::collection::vec(any::<bool>(), 3),
        items in prop_oneof![Just(0u64), 1u64..4, 4u64..300],
        fault in prop_oneof![
            3 => Just(None),
            1 => (0usize..3, 0u64..300).prop_map(|(s, at)| Some((s, at, false))),
            1 => (0usize..3, 0u64..3).prop_map(|(s, w)| Some((s, w, true))),
        ],
    ) {
        for s in 1..specs.len() {
            if same[s] {
                specs[s].workers = specs[s - 1].workers;
            }
        }
        if let Some((s, v, ctor)) = fault {
            let s = s % specs.len();
            if ctor {
                specs[s].ctor_panics = Some(v as usize % specs[s].workers);
            } else {
                specs[s].panic_at = Some(v);
            }
        }
        let never = run(&specs, items, Fusion::Never);
        let always = run(&specs, items, Fusion::Always);
        // A panic at an input value no stage sees (filtered before it, or past the end)
        // fails neither.
        prop_assert_eq!(&never, &always, "{:?}, {} items", specs, items);
        if never.failure.is_none() {
            let workers: Vec<usize> = specs.iter().map(|s| s.workers).collect();
            prop_assert_eq!(&never.made, &workers, "a state per worker");
            for (s, (h, counted)) in never.hooks.iter().enumerate() {
                if !specs[s].hook {
                    prop_assert!(h.is_empty());
                    continue;
                }
                prop_assert_eq!(h.len(), specs[s].workers, "a hook per worker");
                // Every hook of a stage saw every input of that stage, and the workers'
                // counts add up to them.
                prop_assert!(h.windows(2).all(|p| p[0] == p[1]), "stage {}: {:?}", s, h);
                prop_assert_eq!(h[0] as u64, *counted, "stage {}", s);
            }
        }
    }
}
