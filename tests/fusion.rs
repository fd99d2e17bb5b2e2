//! Stages fused on the threads of the stage before them (`Fusion`): the same items, state,
//! order and end-of-stream hooks as on threads of their own; a panic (in the work or in a
//! hook) names the fused stage; `Auto` fuses only when the threads outnumber the cores.

mod common;

use common::tracked::{source, Counts, Tracked};
use fanring::{Engine, Failure, Fusion, Order, Output, Pinning};

/// Takes outputs until the failure: the stream must not end as if nothing failed.
fn first_failure(out: &mut Output<u64>) -> Failure {
    loop {
        match out.next_checked() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended as if nothing failed"),
            Err(e) => return e,
        }
    }
}

/// Stage 1 counts its items per worker and reports the count at the end; stage 0 (and, with
/// `three`, stage 2) map.
fn run(fusion: Fusion, order: Order, three: bool) -> (Vec<u64>, usize) {
    let g = Engine::builder()
        .workers(3)
        .order(order)
        .map(|x: u64| x * 2)
        .then(
            Engine::builder()
                .workers(3)
                .stateful(
                    |w| (w as u64, 0u64),
                    |s, x: u64, emit| {
                        s.1 += 1;
                        emit.push(x + 1);
                    },
                )
                .on_end(|s, emit| emit.push(1_000_000 + s.0 * 10_000 + s.1)),
        );
    let mut out = if three {
        g.then(Engine::builder().workers(3).map(|x: u64| x))
            .fusion(fusion)
            .run(0..3_000u64)
    } else {
        g.fusion(fusion).run(0..3_000u64)
    }
    .unwrap();
    let got: Vec<u64> = out.by_ref().collect();
    let stats = out.join().unwrap();
    (got, stats.workers.len())
}

#[test]
fn fused_stages_see_the_same_items_state_and_hooks() {
    // `Preserve` needs every stage before the last to be a `map`.
    for (order, three) in [
        (Order::Any, true),
        (Order::Any, false),
        (Order::Preserve, false),
    ] {
        let (mut never, threads) = run(Fusion::Never, order, three);
        assert_eq!(threads, if three { 9 } else { 6 }, "{order:?}");
        let (mut always, threads) = run(Fusion::Always, order, three);
        assert_eq!(threads, 3, "{order:?}");
        let body: Vec<u64> = (0..3_000u64).map(|x| x * 2 + 1).collect();
        for (got, what) in [(&mut never, "never"), (&mut always, "always")] {
            assert_eq!(got.len(), 3_003, "{order:?} {what}");
            if order == Order::Preserve {
                // Input order, the hooks' outputs last.
                assert!(got[..3_000] == body[..], "{order:?} {what}: out of order");
            }
            got.sort_unstable();
            assert!(got[..3_000] == body[..], "{order:?} {what}: items");
            // One hook per worker of stage 1, with its own state: its index, and the items
            // it saw (all of them in all).
            let hooks = &got[3_000..];
            let workers: Vec<u64> = hooks.iter().map(|h| (h - 1_000_000) / 10_000).collect();
            assert_eq!(workers, [0, 1, 2], "{order:?} {what}");
            let seen: u64 = hooks.iter().map(|h| (h - 1_000_000) % 10_000).sum();
            assert_eq!(seen, 3_000, "{order:?} {what}");
        }
    }
}

#[test]
fn a_fused_stage_panic_names_it() {
    for fusion in [Fusion::Never, Fusion::Always] {
        let mut out = Engine::builder()
            .workers(2)
            .map(|x: u64| x)
            .then(Engine::builder().workers(2).map(|x: u64| {
                assert!(x != 500, "stage 1 refused 500");
                x
            }))
            .fusion(fusion)
            .run(0..10_000u64)
            .unwrap();
        let err = first_failure(&mut out);
        assert!(
            matches!(&err, Failure::WorkerPanicked { stage: 1, message, .. } if message == "stage 1 refused 500"),
            "{fusion:?}: {err:?}"
        );
        assert!(out.join().is_err());
    }
}

#[test]
fn a_fused_stage_hook_panic_is_end_panicked() {
    for fusion in [Fusion::Never, Fusion::Always] {
        let mut out = Engine::builder()
            .workers(2)
            .map(|x: u64| x)
            .then(
                Engine::builder()
                    .workers(2)
                    .stateful(|w| w, |_, x: u64, emit| emit.push(x))
                    .on_end(|w, _emit| assert!(*w != 1, "hook of worker 1")),
            )
            .fusion(fusion)
            .run(0..1_000u64)
            .unwrap();
        let err = first_failure(&mut out);
        assert!(
            matches!(&err, Failure::EndPanicked { stage: 1, worker: 1, message, .. } if message == "hook of worker 1"),
            "{fusion:?}: {err:?}"
        );
        assert!(out.join().is_err());
    }
}

#[test]
fn auto_fuses_only_when_threads_outnumber_cores() {
    let cores = fanring::pinning::available_cores().len();
    let out = Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .then(Engine::builder().workers(2).map(|x: u64| x))
        .run(0..100u64)
        .unwrap();
    let stats = out.join().unwrap();
    // Unfused: 4 workers and the distributor thread (the caller merges).
    let want = if 5 > cores { 2 } else { 4 };
    assert_eq!(stats.workers.len(), want, "{cores} cores");
}

#[test]
fn only_one_to_one_links_fuse() {
    // 2 → 3 (all to all) and 3 → 3 by key: nothing to fuse.
    let out = Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .then(Engine::builder().workers(3).map(|x: u64| x))
        .then(
            Engine::builder()
                .workers(3)
                .dispatch(fanring::Dispatch::by_key(|x: &u64| *x))
                .map(|x: u64| x),
        )
        .fusion(Fusion::Always)
        .run(0..1_000u64)
        .unwrap();
    assert_eq!(out.sum::<u64>(), (0..1_000u64).sum::<u64>());
}

/// A fused `stateful` stage's state is made on its worker's thread: a panic of its
/// constructor names the fused stage (as on threads of its own), whether the worker had
/// input or not.
#[test]
fn a_fused_state_constructor_panic_names_its_stage() {
    for fusion in [Fusion::Never, Fusion::Always, Fusion::Auto] {
        for items in [100u64, 1, 0] {
            for hook in [true, false] {
                let last = Engine::builder().workers(2).stateful(
                    |w: usize| {
                        assert!(w != 1, "no state for worker 1");
                        w
                    },
                    |_, x: u64, emit| emit.push(x),
                );
                let g = Engine::builder()
                    .workers(2)
                    .map(|x: u64| x)
                    .then(Engine::builder().workers(2).map(|x: u64| x));
                let g = if hook {
                    g.then(last.on_end(|_, _emit| {}))
                } else {
                    g.then(last)
                };
                let mut out = g.fusion(fusion).run(0..items).unwrap();
                let err = first_failure(&mut out);
                assert!(
                    matches!(&err, Failure::WorkerPanicked { stage: 2, worker: 1, message, .. } if message == "no state for worker 1"),
                    "{fusion:?}, {items} items, hook {hook}: {err:?}"
                );
                assert!(out.join().is_err());
            }
        }
    }
}

/// Every worker of a `stateful` stage makes its state once, when its thread starts, fused or
/// not, whether or not any input reaches it (0 items, fewer items than workers, all
/// filtered out before it).
#[test]
fn fused_states_are_made_once_per_worker_whatever_the_input() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    for fusion in [Fusion::Never, Fusion::Always, Fusion::Auto] {
        for (items, keep) in [(0u64, true), (1, true), (1_000, true), (1_000, false)] {
            let made: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
            let m = Arc::clone(&made);
            let m2 = Arc::clone(&made);
            let out = Engine::builder()
                .workers(3)
                .filter_map(move |x: u64| keep.then_some(x))
                .then(Engine::builder().workers(3).stateful(
                    move |w: usize| {
                        m[w].fetch_add(1, SeqCst);
                        w
                    },
                    |_, x: u64, emit| emit.push(x),
                ))
                .then(Engine::builder().workers(3).stateful(
                    move |w: usize| m2[w].fetch_add(10, SeqCst),
                    |_, x: u64, emit| emit.push(x),
                ))
                .fusion(fusion)
                .run(0..items)
                .unwrap();
            let mut out = out;
            let n = out.by_ref().count();
            out.join().unwrap();
            assert_eq!(n as u64, if keep { items } else { 0 });
            let made: Vec<usize> = made.iter().map(|m| m.load(SeqCst)).collect();
            assert_eq!(made, [11, 11, 11], "{fusion:?}, {items} items, kept {keep}");
        }
    }
}

/// Explicit pinning names a core per worker thread: every stage's workers under `Auto`
/// (nothing is fused) and `Never`, the threads left under `Always`.
#[test]
fn explicit_pinning_counts_the_threads_left() {
    use fanring::Pinning;
    let cores = fanring::pinning::available_cores();
    let pins = |n: usize| Pinning::Explicit {
        distributor: None,
        workers: (0..n).map(|i| cores[i % cores.len()]).collect(),
        merger: None,
    };
    for (fusion, n, threads) in [
        (Fusion::Auto, 4, 4),
        (Fusion::Never, 4, 4),
        (Fusion::Always, 2, 2),
    ] {
        let out = Engine::builder()
            .workers(2)
            .pinning(pins(n))
            .map(|x: u64| x + 1)
            .then(Engine::builder().workers(2).map(|x: u64| x * 2))
            .fusion(fusion)
            .run(0..100u64)
            .unwrap();
        let mut out = out;
        assert_eq!(out.by_ref().sum::<u64>(), (1..=100u64).sum::<u64>() * 2);
        assert_eq!(out.join().unwrap().workers.len(), threads, "{fusion:?}");
    }
    // A list for the wrong count is a typed error.
    let r = Engine::builder()
        .workers(2)
        .pinning(pins(4))
        .map(|x: u64| x)
        .then(Engine::builder().workers(2).map(|x: u64| x))
        .fusion(Fusion::Always)
        .run(0..10u64);
    assert!(
        matches!(r.err(), Some(fanring::BuildError::PinCount { .. })),
        "four cores for two threads"
    );
}

/// A graph's threads are placed by its first stage's pinning: a later stage that sets another
/// (a list of cores, valid or not, or `None` under an `Auto` first stage) is a typed error,
/// fused or not, in every entry point; the default, or the first stage's own, is accepted.
#[test]
fn a_later_stage_pinning_is_refused_unless_it_is_the_first_stages() {
    use fanring::{BuildError, Pinning};
    let cores = fanring::pinning::available_cores();
    let list = |workers: Vec<usize>| Pinning::Explicit {
        distributor: None,
        workers,
        merger: None,
    };
    let graph = |first: Pinning, second: Pinning, third: Pinning| {
        Engine::builder()
            .workers(2)
            .pinning(first)
            .map(|x: u64| x + 1)
            .then(Engine::builder().workers(2).pinning(second).map(|x: u64| x))
            .then(Engine::builder().workers(2).pinning(third).map(|x: u64| x))
    };
    let refused = [
        (Pinning::Auto, list(vec![999, 998]), Pinning::Auto, 1),
        (
            Pinning::Auto,
            list(vec![cores[0], cores[0]]),
            Pinning::Auto,
            1,
        ),
        (Pinning::Auto, Pinning::Auto, Pinning::None, 2),
        (Pinning::None, Pinning::None, list(vec![cores[0]; 2]), 2),
    ];
    for (first, second, third, stage) in refused {
        for fusion in [Fusion::Never, Fusion::Always, Fusion::Auto] {
            let what = format!("{first:?} {second:?} {third:?} {fusion:?}");
            let g = || graph(first.clone(), second.clone(), third.clone()).fusion(fusion);
            let want = || Some(BuildError::PinningOnLaterStage { stage });
            assert_eq!(g().run(0..10u64).err(), want(), "{what}: run");
            assert_eq!(g().start().err(), want(), "{what}: start");
            assert_eq!(g().drive(0..10u64).err(), want(), "{what}: drive");
        }
    }
    let accepted = [
        (Pinning::None, Pinning::None, Pinning::None),
        (Pinning::None, Pinning::Auto, Pinning::None),
        (Pinning::Auto, Pinning::Auto, Pinning::Auto),
    ];
    for (first, second, third) in accepted {
        let out = graph(first.clone(), second.clone(), third.clone())
            .run(0..100u64)
            .unwrap_or_else(|e| panic!("{first:?} {second:?} {third:?}: {e}"));
        assert_eq!(out.sum::<u64>(), (1..=100u64).sum::<u64>());
    }
    assert!(BuildError::PinningOnLaterStage { stage: 2 }
        .to_string()
        .contains("stage 2 sets a pinning"));
}

/// A thread that runs fused stages counts as one worker: its input, and what the last stage
/// on it sent on. (Driven by the caller: no quiet run takes items past the workers.)
#[test]
fn a_fused_thread_counts_its_input_and_what_it_sent() {
    for fusion in [Fusion::Never, Fusion::Always] {
        let mut out = Engine::builder()
            .workers(2)
            .map(|x: u64| x)
            .then(
                Engine::builder()
                    .workers(2)
                    .filter_map(|x: u64| x.is_multiple_of(4).then_some(x)),
            )
            .fusion(fusion)
            .drive(0..1_000u64)
            .unwrap();
        assert_eq!(out.by_ref().count(), 250);
        let stats = out.join().unwrap();
        let last = &stats.workers[stats.workers.len() - 2..];
        let sent: u64 = last.iter().map(|w| w.items_out).sum();
        assert_eq!(sent, 250, "{fusion:?}: {stats:?}");
        let taken: u64 = stats.workers[..2].iter().map(|w| w.items_in).sum();
        assert_eq!(taken, 1_000, "{fusion:?}");
        assert_eq!(stats.merger.items, 250);
    }
}

/// A fused stage's hook runs when an unfused one would: once every thread of its stage has
/// every input it will get. Here stage 0's hooks each emit one more item, worker 1's late, so
/// the last stage's hooks must see all of them; with three stages, through a middle stage
/// that has no hook of its own.
#[test]
fn a_fused_stage_hook_waits_for_every_thread_of_its_stage() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    for three in [false, true] {
        for fusion in [Fusion::Never, Fusion::Always, Fusion::Auto] {
            let seen = Arc::new(AtomicU64::new(0));
            let at_hook = Arc::new(Mutex::new(Vec::new()));
            let first = Engine::builder()
                .workers(2)
                .stateful(|w| w, |_, x: u64, emit| emit.push(x))
                .on_end(|w, emit| {
                    if *w == 1 {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    emit.push(1_000 + *w as u64);
                });
            let (s, h) = (Arc::clone(&seen), Arc::clone(&at_hook));
            let last = Engine::builder()
                .workers(2)
                .stateful(
                    |w| w,
                    move |_, x: u64, emit| {
                        s.fetch_add(1, SeqCst);
                        emit.push(x);
                    },
                )
                .on_end(move |w, _emit| h.lock().unwrap().push((*w, seen.load(SeqCst))));
            let out = if three {
                first
                    .then(Engine::builder().workers(2).map(|x: u64| x))
                    .then(last)
                    .fusion(fusion)
                    .run(0..100u64)
            } else {
                first.then(last).fusion(fusion).run(0..100u64)
            }
            .unwrap();
            assert_eq!(out.count(), 102, "{fusion:?}, three stages: {three}");
            let mut hooks = at_hook.lock().unwrap().clone();
            hooks.sort_unstable();
            assert_eq!(
                hooks,
                [(0, 102), (1, 102)],
                "{fusion:?}, three stages: {three}: (worker, items its stage had seen)"
            );
        }
    }
}

/// Stage 1's state holds a sender whose last copy, with the stage's factory, goes when the
/// engine's threads have let go of everything: by then every hook that will run has run.
struct Dropped(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

/// Waits until every sender is dropped (the engine's threads are done with stage 1).
fn engine_done(rx: &std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Err(RecvTimeoutError::Disconnected) => {}
        other => panic!("the engine still holds stage 1: {other:?}"),
    }
}

/// No fused stage's hook runs after a failure: stage 0's hook panics on worker 0 while
/// worker 1's is running.
#[test]
fn a_fused_stage_hook_does_not_run_after_a_failure() {
    use std::sync::{Arc, Mutex};
    for fusion in [Fusion::Never, Fusion::Always] {
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let h = Arc::clone(&hooks);
        let both = Arc::new(std::sync::Barrier::new(2));
        let mut out = Engine::builder()
            .workers(2)
            .stateful(|w| w, |_, x: u64, emit| emit.push(x))
            .on_end(move |w, _emit| {
                // Both hooks run (both workers passed the end barrier), then one fails.
                both.wait();
                assert!(*w != 0, "stage 0's hook fails");
                std::thread::sleep(std::time::Duration::from_millis(100));
            })
            .then(
                Engine::builder()
                    .workers(2)
                    .stateful(
                        move |w| (w, Dropped(tx.lock().unwrap().clone())),
                        |_, x: u64, emit| emit.push(x),
                    )
                    .on_end(move |s, _emit| h.lock().unwrap().push(s.0)),
            )
            .fusion(fusion)
            .run(0..100u64)
            .unwrap();
        let err = first_failure(&mut out);
        assert!(
            matches!(
                &err,
                Failure::EndPanicked {
                    stage: 0,
                    worker: 0,
                    ..
                }
            ),
            "{fusion:?}: {err:?}"
        );
        assert!(out.join().is_err());
        engine_done(&rx);
        assert_eq!(*hooks.lock().unwrap(), [] as [usize; 0], "{fusion:?}");
    }
}

/// No fused stage's hook runs after an early end: the stream is dropped while stage 0's hook
/// runs, with the item it emitted not yet through stage 1.
#[test]
fn a_fused_stage_hook_does_not_run_after_an_early_end() {
    use std::sync::{Arc, Mutex};
    for fusion in [Fusion::Never, Fusion::Always] {
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let (hook_in, in_hook) = std::sync::mpsc::channel();
        let hook_in = Mutex::new(hook_in);
        let h = Arc::clone(&hooks);
        let mut out = Engine::builder()
            .workers(1)
            .stateful(|w| w, |_, x: u64, emit| emit.push(x))
            .on_end(move |_, emit| {
                emit.push(1_000);
                let _ = hook_in.lock().unwrap().send(());
                std::thread::sleep(std::time::Duration::from_millis(100));
            })
            .then(
                Engine::builder()
                    .workers(1)
                    .stateful(
                        move |w| (w, Dropped(tx.lock().unwrap().clone())),
                        |_, x: u64, emit| emit.push(x),
                    )
                    .on_end(move |s, _emit| h.lock().unwrap().push(s.0)),
            )
            .fusion(fusion)
            .run(0..100u64)
            .unwrap();
        assert_eq!(out.by_ref().take(100).count(), 100);
        in_hook
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("stage 0's hook runs");
        drop(out);
        engine_done(&rx);
        assert_eq!(*hooks.lock().unwrap(), [] as [usize; 0], "{fusion:?}");
    }
}

/// Every stage on the first stage's threads: the graph has a farm's threads, and
/// `Pinning::Auto` plans them as a farm's (pinned as cores allow, even with more threads
/// than cores). With a stage on threads of its own, it pins them only with a core for each.
#[test]
fn a_fused_graph_is_pinned_as_a_farm() {
    let farm = Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .run(0..10u64)
        .unwrap();
    let graph = |fusion| {
        Engine::builder()
            .workers(2)
            .map(|x: u64| x)
            .then(Engine::builder().workers(2).map(|x: u64| x))
            .fusion(fusion)
            .run(0..10u64)
            .unwrap()
    };
    let fused = graph(Fusion::Always);
    assert_eq!(fused.plan(), farm.plan());
    let single = Engine::builder().workers(2).map(|x: u64| x);
    let single = fanring::Graph::from(single).run(0..10u64).unwrap();
    assert_eq!(single.plan(), farm.plan(), "a graph of one stage");
    let apart = graph(Fusion::Never);
    let plan = apart.plan().clone();
    assert_eq!(plan.workers.len(), 4);
    if plan.oversubscribed() {
        assert!(
            plan.distributor.is_none() && plan.workers.iter().all(Option::is_none),
            "{plan}"
        );
    } else {
        assert!(plan.workers.iter().all(Option::is_some), "{plan}");
    }
    for out in [farm, fused, single, apart] {
        assert_eq!(out.sum::<u64>(), 45);
    }
    // Under explicit pinning, the first stage's list places every thread, fused or not.
    let explicit = Pinning::Explicit {
        distributor: None,
        workers: vec![0, 0],
        merger: None,
    };
    let out = Engine::builder()
        .workers(2)
        .pinning(explicit)
        .map(|x: u64| x)
        .then(Engine::builder().workers(2).map(|x: u64| x))
        .fusion(Fusion::Always)
        .run(0..10u64)
        .unwrap();
    assert_eq!(out.plan().workers, vec![Some(0), Some(0)]);
    assert_eq!(out.sum::<u64>(), 45);
}

/// Cheap items through fused stages: a worker gathers many outputs before it hands them to
/// the stage fused after it (once its items are timed), and every item still comes out once,
/// is dropped once, after a normal end, a panic in a fused stage (named, never a clean end),
/// and an early drop of the stream.
#[test]
fn cheap_items_through_fused_stages_are_each_dropped_once() {
    const N: u64 = 200_000;
    for order in [Order::Any, Order::Preserve] {
        for panic_at in [None, Some(150_001)] {
            let counts = Counts::new();
            let graph = Engine::builder()
                .workers(2)
                .order(order)
                .map(|mut t: Tracked| {
                    t.v += 1;
                    t
                })
                .then(Engine::builder().workers(2).filter_map(move |t: Tracked| {
                    assert!(Some(t.v) != panic_at, "bad item");
                    (!t.v.is_multiple_of(5)).then_some(t.v)
                }));
            let mut out = graph
                .fusion(Fusion::Always)
                .run(source(Some(N), &counts))
                .unwrap();
            let what = format!("{order:?}, panic at {panic_at:?}");
            match panic_at {
                None => {
                    let got: Vec<u64> = out.by_ref().collect();
                    let stats = out.join().unwrap();
                    assert_eq!(stats.workers.len(), 2, "{what}: fused");
                    let want: Vec<u64> = (1..=N).filter(|v| !v.is_multiple_of(5)).collect();
                    if order == Order::Preserve {
                        assert_eq!(got, want, "{what}");
                    } else {
                        let mut got = got;
                        got.sort_unstable();
                        assert_eq!(got, want, "{what}");
                    }
                }
                Some(_) => {
                    let err = first_failure(&mut out);
                    assert!(
                        matches!(&err, Failure::WorkerPanicked { stage: 1, message, .. } if message == "bad item"),
                        "{what}: {err:?}"
                    );
                    drop(out);
                }
            }
            counts.assert_balanced_soon(&what);
        }
        // Dropped early, while the stages are busy.
        let counts = Counts::new();
        let mut out = Engine::builder()
            .workers(2)
            .order(order)
            .map(|t: Tracked| t)
            .then(Engine::builder().workers(2).map(|t: Tracked| t.v))
            .fusion(Fusion::Always)
            .run(source(None, &counts))
            .unwrap();
        assert_eq!(out.by_ref().take(50_000).count(), 50_000);
        drop(out);
        counts.assert_balanced_soon(&format!("{order:?}, dropped early"));
    }
}

/// Zero-sized items through fused stages, with and without sequence numbers (`Preserve`
/// carries each item's number in a buffer of its own beside the items'): every one comes out.
#[test]
fn zero_sized_items_through_fused_stages() {
    const N: usize = 300_000;
    for order in [Order::Any, Order::Preserve] {
        for fusion in [Fusion::Always, Fusion::Never] {
            let mut out = Engine::builder()
                .workers(2)
                .order(order)
                .map(|()| ())
                .then(Engine::builder().workers(2).filter_map(|()| Some(())))
                .fusion(fusion)
                .run(std::iter::repeat_n((), N))
                .unwrap();
            assert_eq!(out.by_ref().count(), N, "{order:?} {fusion:?}");
            out.join().unwrap();
        }
    }
}
