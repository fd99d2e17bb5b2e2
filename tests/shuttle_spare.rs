//! The spare (`docs/design.md`, "The spare") under shuttle's randomized and PCT schedulers:
//! every distributor that finds every ring full leaves its items there, and every worker's
//! run of more than one item is cut after its first item, the rest put back at the spare's
//! front (`fanring::loom_hooks::spare(2)`: under shuttle no time passes, so nothing is ever
//! timed as costly). Its own binary: the switch is process-wide.
//!
//! ```text
//! cargo test --features shuttle --test shuttle_spare --release
//! ```
//!
//! Every item arrives once (in input order under `Preserve`) after a normal end, also when a
//! worker puts items back after another has left (it must run them itself: nothing else
//! will); an early end and a worker's panic drop every item once, the panic typed.
#![cfg(feature = "shuttle")]

mod common;

use common::shuttle::{check_both, source, Counts, Tracked, PARK, YIELD};
use fanring::{Dispatch, Engine, Failure, Order, Output, Pinning, WaitStrategy};
use std::sync::Arc;

/// [`ITEMS`] counted items through three workers on rings of two slots, runs of up to two
/// items, least-loaded or round-robin dispatch; the item whose value is `panic_at` panics
/// ("boom").
fn start(
    (least_loaded, order, wait): (bool, Order, WaitStrategy),
    counts: &Arc<Counts>,
    panic_at: Option<usize>,
) -> Output<Tracked> {
    fanring::loom_hooks::spare(2);
    let dispatch = if least_loaded {
        Dispatch::LeastLoaded
    } else {
        Dispatch::RoundRobin
    };
    Engine::builder()
        .workers(3)
        .capacity(2)
        .batch(2)
        .dispatch(dispatch)
        .order(order)
        .wait(wait)
        .pinning(Pinning::None)
        .map(move |t: Tracked| {
            assert!(Some(t.v) != panic_at, "boom");
            t
        })
        .run(source(ITEMS, counts))
        .unwrap()
}

/// (least-loaded, order, wait strategy).
const SETUPS: [(bool, Order, WaitStrategy); 3] = [
    (false, Order::Any, PARK),
    (true, Order::Preserve, PARK),
    (false, Order::Preserve, YIELD),
];

const ITEMS: usize = 14;

#[test]
fn spare_normal_end_every_item_once() {
    for (least_loaded, order, wait) in SETUPS {
        let name = format!("normal end least-loaded {least_loaded} {order:?} {wait:?}");
        check_both(
            (name.clone(), move || {
                let counts = Arc::new(Counts::default());
                let mut out = start((least_loaded, order, wait), &counts, None);
                let mut got: Vec<usize> = out.by_ref().map(|t| t.v).collect();
                let stats = out.join().unwrap();
                if order == Order::Any {
                    got.sort_unstable();
                }
                assert_eq!(got, (0..ITEMS).collect::<Vec<_>>(), "{name}");
                assert_eq!(
                    stats.workers.iter().map(|w| w.items_in).sum::<u64>()
                        + stats.distributor.unwrap().inline,
                    ITEMS as u64,
                    "{name}: {stats:?}"
                );
                counts.assert_balanced(&name);
            }),
            2_000,
        );
    }
}

#[test]
fn spare_early_end_drops_every_item_once() {
    for (least_loaded, order, wait) in SETUPS {
        for take in [0, 3] {
            let name =
                format!("early end after {take} least-loaded {least_loaded} {order:?} {wait:?}");
            check_both(
                (name.clone(), move || {
                    let counts = Arc::new(Counts::default());
                    let mut out = start((least_loaded, order, wait), &counts, None);
                    for _ in 0..take {
                        drop(out.next());
                    }
                    drop(out);
                    counts.assert_balanced_eventually(&name);
                }),
                1_000,
            );
        }
    }
}

#[test]
fn spare_worker_panic_is_typed_and_drops_every_item_once() {
    for (least_loaded, order, wait) in SETUPS {
        let name = format!("panic least-loaded {least_loaded} {order:?} {wait:?}");
        check_both(
            (name.clone(), move || {
                let counts = Arc::new(Counts::default());
                let mut out = start((least_loaded, order, wait), &counts, Some(5));
                let failure = loop {
                    match out.next_checked() {
                        Ok(Some(_)) => {}
                        Ok(None) => panic!("{name}: the stream ended as if complete"),
                        Err(f) => break f,
                    }
                };
                assert!(
                    matches!(failure, Failure::WorkerPanicked { .. }),
                    "{name}: {failure:?}"
                );
                assert!(out.join().is_err(), "{name}");
                counts.assert_balanced(&name);
            }),
            1_000,
        );
    }
}
