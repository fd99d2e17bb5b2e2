//! Graphs of farms: stages connected ring to ring. Every launch mode, every dispatch between
//! stages, order end to end, many inputs, and the close/drain protocol (end, early drop,
//! panic) with every item dropped exactly once.

mod common;

use common::{in_some_attempt, quiet_feed};
use fanring::{BuildError, Dispatch, Engine, Failure, Fusion, Order, WaitStrategy};

#[test]
fn two_stages_any_order_every_item() {
    for (w1, w2) in [(1, 1), (1, 3), (2, 2), (3, 1), (4, 2)] {
        let mut out: Vec<u64> = Engine::builder()
            .workers(w1)
            .batch(7)
            .map(|x: u64| x * 3)
            .then(Engine::builder().workers(w2).batch(5).map(|x: u64| x + 1))
            .run(0..10_000u64)
            .unwrap()
            .collect();
        out.sort_unstable();
        assert_eq!(
            out,
            (0..10_000u64).map(|x| x * 3 + 1).collect::<Vec<_>>(),
            "{w1}×{w2}"
        );
    }
}

#[test]
fn preserve_end_to_end_with_every_dispatch() {
    let dispatches: Vec<Dispatch<u64>> = vec![
        Dispatch::RoundRobin,
        Dispatch::LeastLoaded,
        Dispatch::by_key(|x: &u64| *x / 3),
    ];
    for d in dispatches {
        let out: Vec<u64> = Engine::builder()
            .workers(2)
            .order(Order::Preserve)
            .batch(3)
            .map(|x: u64| x + 1)
            .then(
                Engine::builder()
                    .workers(3)
                    .dispatch(d.clone())
                    .batch(4)
                    .map(|x: u64| x * 2),
            )
            .then(
                Engine::builder()
                    .workers(2)
                    .filter_map(|x: u64| (!x.is_multiple_of(4)).then_some(x)),
            )
            .run(0..20_000u64)
            .unwrap()
            .collect();
        let want: Vec<u64> = (0..20_000u64)
            .map(|x| (x + 1) * 2)
            .filter(|x| x % 4 != 0)
            .collect();
        assert_eq!(out, want, "{d:?}");
    }
}

#[test]
fn preserve_needs_maps_before_the_last_stage() {
    let r = Engine::builder()
        .workers(2)
        .order(Order::Preserve)
        .filter_map(|x: u64| Some(x))
        .then(Engine::builder().workers(2).map(|x: u64| x))
        .run(0..10u64);
    assert_eq!(r.err(), Some(BuildError::PreserveNeedsOneToOne));
}

#[test]
fn every_launch_mode() {
    for (fusion, threads) in [(Fusion::Never, 4), (Fusion::Always, 2)] {
        every_launch_mode_with(fusion, threads);
    }
}

/// `threads`: the worker threads the graph runs on.
fn every_launch_mode_with(fusion: Fusion, threads: usize) {
    let g = || {
        Engine::builder()
            .workers(2)
            .map(|x: u64| x + 1)
            .then(Engine::builder().workers(2).flat_map(|x: u64| [x, x]))
            .fusion(fusion)
    };
    let want: u64 = (1..=1000u64).sum::<u64>() * 2;
    assert_eq!(g().run(0..1000u64).unwrap().sum::<u64>(), want);
    assert_eq!(g().drive(0..1000u64).unwrap().sum::<u64>(), want);
    let (mut input, output) = g().start().unwrap();
    let feeder = std::thread::spawn(move || input.send_all_blocking(0..1000u64).unwrap());
    assert_eq!(output.sum::<u64>(), want);
    feeder.join().unwrap();
    let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let t = std::sync::Arc::clone(&total);
    let stats = g()
        .run_with_sink(0..1000u64, move |x| {
            t.fetch_add(x, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), want);
    assert_eq!(stats.workers.len(), threads, "{fusion:?}");
}

#[test]
fn drive_with_a_filtering_stage_waits_for_the_source_only_when_idle() {
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let mut out = Engine::builder()
        .workers(2)
        .filter_map(|x: u64| x.is_multiple_of(2).then_some(x))
        .then(Engine::builder().workers(2).map(|x: u64| x * 10))
        .drive_source(rx)
        .unwrap();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(out.next(), Some(20));
    tx.send(3).unwrap();
    tx.send(4).unwrap();
    assert_eq!(out.next(), Some(40));
    drop(tx);
    assert_eq!(out.next(), None);
}

#[test]
fn end_hooks_run_per_stage_after_it_drained() {
    let mut out: Vec<(u8, u64)> = Engine::builder()
        .workers(3)
        .stateful(
            |_| 0u64,
            |sum, x: u64, emit| {
                *sum += x;
                emit.push(x);
            },
        )
        .on_end(|sum, emit| emit.push(1_000_000 + *sum))
        .then(
            Engine::builder()
                .workers(2)
                .stateful(|_| 0u64, |n, x: u64, _emit| *n += x)
                .on_end(|n, emit| emit.push((0u8, *n))),
        )
        .run(0..1000u64)
        .unwrap()
        .collect();
    out.sort_unstable();
    let total: u64 = out.iter().map(|&(_, n)| n).sum();
    // Stage 2 saw every input and each stage-1 worker's total (its hook's output).
    let s: u64 = (0..1000u64).sum();
    assert_eq!(total, s + 3 * 1_000_000 + s);
}

#[test]
fn many_inputs_feed_the_first_stage() {
    let (inputs, output) = Engine::builder()
        .workers(2)
        .dispatch(Dispatch::by_key(|x: &(u64, u64)| x.0))
        .map(|x: (u64, u64)| x)
        .then(
            Engine::builder()
                .workers(3)
                .dispatch(Dispatch::by_key(|x: &(u64, u64)| x.0))
                .map(|x: (u64, u64)| x),
        )
        .start_many(3)
        .unwrap();
    let feeders: Vec<_> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, mut input)| {
            std::thread::spawn(move || {
                input
                    .send_all_blocking((0..5000u64).map(|k| (i as u64, k)))
                    .unwrap()
            })
        })
        .collect();
    let mut last = [None::<u64>; 3];
    let mut n = 0;
    for (i, k) in output {
        let i = i as usize;
        // One input's items go to one worker of each stage (by key on every stage): their
        // order holds.
        assert!(
            last[i].is_none_or(|p| p < k),
            "input {i}: {k} after {:?}",
            last[i]
        );
        last[i] = Some(k);
        n += 1;
    }
    assert_eq!(n, 15_000);
    feeders.into_iter().for_each(|f| f.join().unwrap());
}

#[test]
fn many_inputs_refuse_preserve() {
    let r = Engine::builder()
        .workers(2)
        .order(Order::Preserve)
        .map(|x: u64| x)
        .then(Engine::builder().workers(2).map(|x: u64| x))
        .start_many(2);
    assert_eq!(r.err(), Some(BuildError::PreserveNeedsOneInput));
}

#[test]
fn a_panic_names_its_stage_and_worker() {
    let out = Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .then(Engine::builder().workers(1).map(|x: u64| {
            assert!(x != 500, "bad item");
            x
        }))
        .then(Engine::builder().workers(2).map(|x: u64| x))
        .run(0..10_000u64)
        .unwrap();
    let mut out = out;
    let err = loop {
        match out.next_checked() {
            Ok(Some(_)) => {}
            Err(e) => break e,
            Ok(None) => panic!("the stream ended as if nothing failed"),
        }
    };
    assert!(
        matches!(&err, Failure::WorkerPanicked { stage: 1, worker: 0, message, .. } if message == "bad item"),
        "{err:?}"
    );
}

#[test]
fn dropping_the_stream_early_stops_every_stage() {
    for wait in [WaitStrategy::ADAPTIVE, WaitStrategy::SPIN_THEN_PARK] {
        let mut out = Engine::builder()
            .workers(2)
            .wait(wait)
            .map(|x: u64| x)
            .then(Engine::builder().workers(2).wait(wait).map(|x: u64| x))
            .run(0..u64::MAX)
            .unwrap();
        assert!(out.by_ref().take(10_000).count() == 10_000);
        drop(out); // must not hang
    }
}

/// A quiet stream through a graph of `map` and `filter_map` stages: the distributor runs a
/// quiet run through every stage itself (one hop to the merger, no worker woken), and
/// every item still comes out once, in order under `Preserve`.
#[test]
fn quiet_runs_go_through_every_stage_on_the_distributor() {
    for order in [Order::Any, Order::Preserve] {
        in_some_attempt(5, &format!("{order:?}: a quiet run"), || {
            let n = 300;
            let mut out = Engine::builder()
                .workers(2)
                .order(order)
                .map(|x: u64| x + 1)
                .then(Engine::builder().workers(2).map(|x: u64| x * 3))
                .then(
                    Engine::builder()
                        .workers(2)
                        .filter_map(|x: u64| (!x.is_multiple_of(5)).then_some(x + 1)),
                )
                .run_source(quiet_feed(n, std::time::Duration::from_micros(300)))
                .unwrap();
            let mut got: Vec<u64> = out.by_ref().collect();
            let stats = out.join().unwrap();
            let d = stats.distributor.unwrap();
            let first_stage: u64 = stats.workers[..2].iter().map(|w| w.items_in).sum();
            assert_eq!(first_stage + d.inline, n, "{order:?}: every item once");
            if order == Order::Any {
                got.sort_unstable();
            }
            let mut want: Vec<u64> = (0..n)
                .map(|x| (x + 1) * 3)
                .filter(|y| !y.is_multiple_of(5))
                .map(|y| y + 1)
                .collect();
            if order == Order::Any {
                want.sort_unstable();
            }
            assert_eq!(got, want, "{order:?}");
            d.inline > 0
        });
    }
}

/// A panic in a later stage's function during a quiet run names that stage.
#[test]
fn a_panic_in_a_quiet_run_names_its_stage() {
    let mut out = Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .then(Engine::builder().workers(2).map(|x: u64| {
            assert!(x != 50, "stage 1 refused 50");
            x
        }))
        .run_source(quiet_feed(200, std::time::Duration::from_micros(300)))
        .unwrap();
    let err = loop {
        match out.next_checked() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended as if nothing failed"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(&err, Failure::WorkerPanicked { stage: 1, message, .. } if message == "stage 1 refused 50"),
        "{err:?}"
    );
}

/// A panic names the worker whose work panicked, a worker its stage has: on a worker's own
/// thread (or the thread a fused stage shares with it), that worker; in a quiet run on the
/// distributor's thread, the first stage's worker the run was for where every link up to the
/// stage is one to one, else worker 0 (whose work the distributor's thread runs), whatever the
/// worker counts. Which thread runs the failing item depends on timing (a quiet run is taken
/// only while items come one at a time), so each panic records where it ran.
#[test]
fn a_panic_in_a_quiet_run_names_a_worker_of_its_stage() {
    use std::sync::{Arc, Mutex};
    // (item, the name of the thread that panicked on it), for every panic of a case.
    type Seen = Arc<Mutex<Vec<(u64, String)>>>;
    let stage = |workers: usize, fail: Option<u64>, seen: &Seen| {
        let seen = Arc::clone(seen);
        Engine::builder().workers(workers).map(move |x: u64| {
            if fail.is_some_and(|at| x >= at) {
                let name = std::thread::current().name().unwrap_or("").to_owned();
                seen.lock().unwrap().push((x, name));
                panic!("boom from item {x} on");
            }
            x
        })
    };
    for at in [30, 100, 170] {
        for (shape, failing) in [
            (&[3, 1][..], 1),
            (&[3, 2][..], 1),
            (&[2, 3][..], 1),
            (&[3, 3][..], 1),
            (&[3, 3, 1][..], 2),
            (&[3, 1, 3][..], 2),
        ] {
            let seen: Seen = Arc::default();
            let mut g = fanring::Graph::from(stage(shape[0], None, &seen));
            for (s, &w) in shape.iter().enumerate().skip(1) {
                g = g.then(stage(w, (failing == s).then_some(at), &seen));
            }
            let mut out = g
                .run_source(quiet_feed(200, std::time::Duration::from_micros(300)))
                .unwrap();
            let err = loop {
                match out.next_checked() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("{shape:?}: the stream ended as if nothing failed"),
                    Err(e) => break e,
                }
            };
            let Failure::WorkerPanicked {
                stage,
                worker,
                message,
                ..
            } = err
            else {
                panic!("{shape:?}: {err:?}");
            };
            assert_eq!(stage, failing, "{shape:?}");
            assert!(
                worker < shape[stage],
                "{shape:?}: stage {stage} has {} workers, the failure names worker {worker}",
                shape[stage]
            );
            // The thread that panicked on the item the failure reports.
            let item: u64 = message
                .strip_prefix("boom from item ")
                .and_then(|m| m.strip_suffix(" on"))
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("{shape:?}: {message}"));
            let thread = seen
                .lock()
                .unwrap()
                .iter()
                .find(|(x, _)| *x == item)
                .map(|(_, name)| name.clone())
                .unwrap_or_else(|| panic!("{shape:?}: no panic on item {item} was seen"));
            // `fanring-s{stage}-worker-{index}`: that worker's own thread, or the thread of the
            // worker of an earlier stage that it is fused onto (one to one: the same index).
            let on_worker = thread
                .strip_prefix("fanring-s")
                .and_then(|t| t.split_once("-worker-"))
                .map(|(_, index)| index.parse::<usize>().expect("a worker's index"));
            match on_worker {
                Some(index) => assert_eq!(worker, index, "{shape:?}: panicked on {thread}"),
                None => {
                    assert_eq!(thread, "fanring-distributor", "{shape:?}");
                    let one_to_one = shape[..=stage].iter().all(|&w| w == shape[0]);
                    if !one_to_one {
                        assert_eq!(worker, 0, "{shape:?}: a quiet run");
                    }
                }
            }
            assert!(out.join().is_err(), "{shape:?}");
        }
    }
}
