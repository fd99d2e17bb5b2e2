//! Property tests: random engine configurations and random stop points against a simple model
//! (the input sequence mapped), checking exactly-once delivery, order where promised, and
//! balanced drop counters.

use fanring::{Dispatch, Engine, Order, Pinning, WaitStrategy};
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// A value whose drops are counted per test case.
struct Tracked {
    v: u32,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

#[derive(Clone, Debug)]
enum Kind {
    RoundRobin,
    LeastLoaded,
    ByKey,
}

fn config() -> impl Strategy<Value = (usize, usize, usize, Kind, bool, bool, u32, Option<u32>)> {
    (
        1usize..=6,
        1usize..=64,
        1usize..=32,
        prop_oneof![
            Just(Kind::RoundRobin),
            Just(Kind::LeastLoaded),
            Just(Kind::ByKey)
        ],
        any::<bool>(), // Preserve?
        any::<bool>(), // SpinThenPark (else SpinYield)
        0u32..1500,
        proptest::option::of(0u32..1600), // stop after this many outputs
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(debug_assertions) { 48 } else { 256 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_model((workers, capacity, batch, kind, preserve, park, n, stop) in config()) {
        let drops = Arc::new(AtomicUsize::new(0));
        let created = Arc::new(AtomicUsize::new(0));
        let (d, c) = (Arc::clone(&drops), Arc::clone(&created));
        let source = (0..n).map(move |v| {
            c.fetch_add(1, SeqCst);
            Tracked { v, drops: Arc::clone(&d) }
        });
        let order = if preserve { Order::Preserve } else { Order::Any };
        let dispatch = match kind {
            Kind::RoundRobin => Dispatch::RoundRobin,
            Kind::LeastLoaded => Dispatch::LeastLoaded,
            Kind::ByKey => Dispatch::by_key(|t: &Tracked| u64::from(t.v % 5)),
        };
        let wait = if park { WaitStrategy::default() } else { WaitStrategy::SPIN_YIELD };
        let d2 = Arc::clone(&drops);
        let c2 = Arc::clone(&created);
        let mut out = Engine::builder()
            .workers(workers)
            .capacity(capacity)
            .batch(batch)
            .wait(wait)
            .pinning(Pinning::None)
            .dispatch(dispatch)
            .order(order)
            .map(move |t: Tracked| {
                c2.fetch_add(1, SeqCst);
                Tracked { v: t.v * 2, drops: Arc::clone(&d2) }
            })
            .run(source)
            .unwrap();
        let mut got = Vec::new();
        for t in out.by_ref() {
            got.push(t.v);
            if Some(got.len() as u32) == stop {
                break;
            }
        }
        let stats = out.join().unwrap();
        // Every value created (inputs and outputs) was dropped exactly once.
        prop_assert_eq!(created.load(SeqCst), drops.load(SeqCst));
        let complete = stop.is_none_or(|s| s >= n);
        if complete {
            prop_assert_eq!(got.len(), n as usize);
            // Every item went through a worker, or (a quiet run) through the distributor.
            let inline = stats.distributor.map_or(0, |d| d.inline);
            prop_assert_eq!(stats.workers.iter().map(|w| w.items_in).sum::<u64>() + inline, u64::from(n));
            prop_assert_eq!(stats.merger.items, u64::from(n));
        }
        let want: Vec<u32> = (0..n).map(|v| v * 2).collect();
        if preserve {
            // A prefix of the input order.
            prop_assert_eq!(&got[..], &want[..got.len()]);
        } else {
            let mut sorted = got.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), got.len(), "an item came out twice");
            if complete {
                prop_assert_eq!(sorted, want);
            }
        }
        for w in &stats.workers {
            prop_assert!(w.peak_occupancy <= capacity.next_power_of_two());
        }
    }
}
