//! A `stateful` worker's end-of-stream hook (`Pipeline::on_end`): it runs once per worker
//! after a normal end, with every launch mode, dispatch and order; its outputs come after the
//! worker's (with `Preserve`, after the whole stream's); it does not run after an early end or
//! a failure; its own panic is `Failure::EndPanicked`, re-raised by the iterator.

use fanring::{Dispatch, Engine, Failure, Order, Pinning};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

const N: u64 = 5_000;
const KEYS: u64 = 37;

/// Pass-through items and final per-key counts.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Out {
    Item(u64),
    Total { key: u64, count: u64 },
}

fn dispatches() -> Vec<(&'static str, Dispatch<u64>)> {
    vec![
        ("rr", Dispatch::RoundRobin),
        ("least", Dispatch::LeastLoaded),
        ("key", Dispatch::by_key(|x: &u64| *x % KEYS)),
    ]
}

/// A stateful pipeline that passes every item through and counts items per key; its hook
/// emits one total per key it saw, and counts its calls in `hooks`. (A macro: a `Pipeline`'s
/// work type cannot be named.)
macro_rules! counting {
    ($dispatch:expr, $order:expr, $capacity:expr, $hooks:expr) => {{
        let hooks = Arc::clone($hooks);
        Engine::builder()
            .workers(3)
            .capacity($capacity)
            .batch(8)
            .pinning(Pinning::None)
            .dispatch($dispatch)
            .order($order)
            .stateful(
                |_| HashMap::<u64, u64>::new(),
                |counts, x: u64, emit| {
                    *counts.entry(x % KEYS).or_default() += 1;
                    emit.push(Out::Item(x));
                },
            )
            .on_end(move |counts, emit| {
                hooks.fetch_add(1, SeqCst);
                for (key, count) in counts.drain() {
                    emit.push(Out::Total { key, count });
                }
            })
    }};
}

/// Checks a whole stream: every item once, the totals add up per key (with `by_key`, exactly
/// one total per key), and with `Preserve` the items in input order and every total after them.
fn check(got: &[Out], order: Order, by_key: bool, what: &str) {
    let items: Vec<u64> = got
        .iter()
        .filter_map(|o| match o {
            Out::Item(x) => Some(*x),
            Out::Total { .. } => None,
        })
        .collect();
    let mut sorted = items.clone();
    sorted.sort_unstable();
    assert!(sorted.iter().copied().eq(0..N), "{what}: every item once");
    let mut per_key: HashMap<u64, u64> = HashMap::new();
    let mut totals = 0;
    for o in got {
        if let Out::Total { key, count } = o {
            *per_key.entry(*key).or_default() += count;
            totals += 1;
        }
    }
    for key in 0..KEYS {
        let want = (0..N).filter(|x| x % KEYS == key).count() as u64;
        assert_eq!(per_key.get(&key).copied(), Some(want), "{what}: key {key}");
    }
    if by_key {
        assert_eq!(totals, KEYS, "{what}: one total per key");
    }
    if order == Order::Preserve {
        assert!(items.iter().copied().eq(0..N), "{what}: input order");
        let first_total = got
            .iter()
            .position(|o| matches!(o, Out::Total { .. }))
            .unwrap();
        assert!(
            got[first_total..]
                .iter()
                .all(|o| matches!(o, Out::Total { .. })),
            "{what}: the tails come after every item"
        );
    }
}

#[test]
fn the_hook_runs_once_per_worker_after_a_normal_end() {
    for mode in ["run", "drive", "start"] {
        for (name, dispatch) in dispatches() {
            for order in [Order::Any, Order::Preserve] {
                if order == Order::Preserve && name == "rr" {
                    continue; // round-robin Preserve needs `map` (refused: PreserveNeedsOneToOne)
                }
                // Small rings: the hook's outputs (up to 37 per worker) do not fit at once.
                for capacity in [4, 1024] {
                    let what = format!("{mode} {name} {order:?} capacity {capacity}");
                    let hooks = Arc::new(AtomicUsize::new(0));
                    let p = counting!(dispatch.clone(), order, capacity, &hooks);
                    let got: Vec<Out> = match mode {
                        "run" => p.run(0..N).unwrap().collect(),
                        "drive" => p.drive(0..N).unwrap().collect(),
                        _ => {
                            let (mut input, output) = p.start().unwrap();
                            let feeder = std::thread::spawn(move || {
                                input.send_all_blocking(0..N).unwrap();
                            }); // the `Input` dropped: a normal end
                            let got = output.collect();
                            feeder.join().unwrap();
                            got
                        }
                    };
                    check(&got, order, name == "key", &what);
                    assert_eq!(hooks.load(SeqCst), 3, "{what}: once per worker");
                }
            }
        }
    }
}

/// The refused combination is a typed error, not a surprise at run time.
#[test]
fn round_robin_preserve_with_a_hook_is_refused() {
    let hooks = Arc::new(AtomicUsize::new(0));
    let err = counting!(Dispatch::RoundRobin, Order::Preserve, 64, &hooks)
        .run(0..N)
        .unwrap_err();
    assert_eq!(err, fanring::BuildError::PreserveNeedsOneToOne);
}

/// An early end (the stream joined or dropped before its end): no worker runs its hook.
#[test]
fn the_hook_does_not_run_after_an_early_end() {
    for how in ["join", "drop"] {
        for (name, dispatch) in dispatches() {
            let what = format!("{how} {name}");
            let hooks = Arc::new(AtomicUsize::new(0));
            // Endless: only the early end ends it.
            let mut out = counting!(dispatch, Order::Any, 16, &hooks)
                .run(0..u64::MAX)
                .unwrap();
            assert!(out.by_ref().take(100).count() == 100);
            let threads_done = Arc::clone(&hooks);
            if how == "join" {
                out.join().unwrap();
            } else {
                drop(out);
                // The drop detached the workers; give them time to have run a hook, if
                // they wrongly would.
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert_eq!(threads_done.load(SeqCst), 0, "{what}");
        }
    }
}

/// A worker's failure: the stream fails, and no worker runs its hook.
#[test]
fn the_hook_does_not_run_after_a_failure() {
    for (name, dispatch) in dispatches() {
        let hooks = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hooks);
        let mut out = Engine::builder()
            .workers(3)
            .capacity(8)
            .pinning(Pinning::None)
            .dispatch(dispatch)
            .stateful(
                |_| 0u64,
                |n, x: u64, emit| {
                    assert!(x != 3, "bad item");
                    *n += 1;
                    emit.push(x);
                },
            )
            .on_end(move |n, emit| {
                h.fetch_add(1, SeqCst);
                emit.push(*n);
            })
            .run(0..N)
            .unwrap();
        while let Ok(Some(_)) = out.next_checked() {}
        let err = out.join().unwrap_err();
        assert!(
            matches!(&err, Failure::WorkerPanicked { message, .. } if message == "bad item"),
            "{name}: {err:?}"
        );
        assert_eq!(hooks.load(SeqCst), 0, "{name}");
    }
}

/// The hook's own panic: `Failure::EndPanicked` naming the worker, re-raised by the iterator
/// with the hook's payload; `join` reports it as a value.
#[test]
fn a_panicking_hook_is_end_panicked() {
    for reader in ["iterator", "next_checked"] {
        let mut out = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .dispatch(Dispatch::LeastLoaded)
            .stateful(|w| w, |_, x: u64, emit| emit.push(x))
            .on_end(|w, _emit| {
                assert!(*w != 1, "hook boom");
            })
            .run(0..1000u64)
            .unwrap();
        if reader == "iterator" {
            let unwound = catch_unwind(AssertUnwindSafe(|| out.by_ref().count()));
            let payload = unwound.expect_err("a failed stream never ends quietly");
            assert_eq!(
                payload.downcast_ref::<&str>().copied(),
                Some("hook boom"),
                "the hook's own payload"
            );
        } else {
            let err = loop {
                match out.next_checked() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("ended quietly"),
                    Err(e) => break e,
                }
            };
            assert!(
                matches!(&err, Failure::EndPanicked { worker: 1, message, .. } if message == "hook boom"),
                "{err:?}"
            );
        }
        let err = out.join().unwrap_err();
        assert!(
            matches!(err, Failure::EndPanicked { worker: 1, .. }),
            "{err:?}"
        );
    }
}

/// A worker that fails after another worker has finished its input stops every hook: the
/// hooks wait until every worker's input has ended normally (every dispatch policy; the
/// panic on the last item, after a pause, so the other workers are done first).
#[test]
fn a_failure_after_another_worker_finished_runs_no_hook() {
    for (name, dispatch) in dispatches() {
        let hooks = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hooks);
        let mut out = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .dispatch(dispatch)
            .stateful(
                |_| (),
                |(), x: u64, emit| {
                    if x == 99 {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        panic!("last item fails");
                    }
                    emit.push(x);
                },
            )
            .on_end(move |(), _| {
                h.fetch_add(1, SeqCst);
            })
            .run(0..100u64)
            .unwrap();
        let failure = loop {
            match out.next_checked() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{name}: a quiet end"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(failure, Failure::WorkerPanicked { .. }),
            "{name}: {failure:?}"
        );
        assert!(out.join().is_err());
        assert_eq!(hooks.load(SeqCst), 0, "{name}: a hook ran in a failed run");
    }
}
