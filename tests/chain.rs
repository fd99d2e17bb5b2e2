//! Engines chained through `run_source(output)`: an `Output` is a `Source`.

use fanring::{Engine, Failure, Order};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Counts its drops, so a test can check every item is dropped exactly once.
struct Counted(#[allow(dead_code)] u64, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Relaxed);
    }
}

#[test]
fn two_chained_farms_give_every_item_once() {
    for workers in [1, 2, 3] {
        let first = Engine::builder()
            .workers(workers)
            .map(|x: u64| x * 2)
            .run(0..100_000u64)
            .unwrap();
        let out = Engine::builder()
            .workers(workers)
            .map(|x: u64| x + 1)
            .run_source(first)
            .unwrap();
        let n = 100_000u64;
        assert_eq!(out.sum::<u64>(), n * (n - 1) + n, "workers {workers}");
    }
}

#[test]
fn an_output_read_as_an_iterator_promises_only_ready_items() {
    let mut out = Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .run(0..10_000u64)
        .unwrap();
    let mut seen = 0u64;
    loop {
        let (lo, hi) = out.size_hint();
        // Every promised item comes without a wait, and none is missing.
        for _ in 0..lo {
            assert!(out.next().is_some());
            seen += 1;
        }
        if hi == Some(0) {
            assert!(out.next().is_none());
            break;
        }
        match out.next() {
            Some(_) => seen += 1,
            None => break,
        }
    }
    assert_eq!(seen, 10_000);
    // The same through `run(output)`: the second engine takes the promised runs.
    let first = Engine::builder()
        .workers(2)
        .map(|x: u64| x * 2)
        .run(0..100_000u64)
        .unwrap();
    let sum: u64 = Engine::builder()
        .workers(2)
        .map(|x: u64| x + 1)
        .run(first)
        .unwrap()
        .sum();
    assert_eq!(sum, 100_000 * 99_999 + 100_000);
}

#[test]
fn preserve_holds_through_a_chain() {
    let first = Engine::builder()
        .workers(2)
        .order(Order::Preserve)
        .map(|x: u64| x * 3)
        .run(0..50_000u64)
        .unwrap();
    let second = Engine::builder()
        .workers(2)
        .order(Order::Preserve)
        .map(|x: u64| x / 3 + 1)
        .run_source(first)
        .unwrap();
    let got: Vec<u64> = second.collect();
    let want: Vec<u64> = (1..=50_000u64).collect();
    assert_eq!(got, want);
}

#[test]
fn a_chain_from_a_quiet_input_waits_and_ends() {
    let (mut input, first) = Engine::builder()
        .workers(2)
        .map(|x: u32| x + 1)
        .start()
        .unwrap();
    let out = Engine::builder()
        .workers(2)
        .map(|x: u32| u64::from(x))
        .run_source(first)
        .unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..200u32 {
            input.send_blocking(i).unwrap();
            if i % 50 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }); // the input dropped: both engines drain and end
    assert_eq!(out.sum::<u64>(), (1..=200u64).sum());
    feeder.join().unwrap();
}

#[test]
fn a_failed_upstream_stage_fails_the_chain() {
    let first = Engine::builder()
        .workers(2)
        .map(|x: u64| {
            assert!(x != 700, "bad item {x}");
            x
        })
        .run(0..10_000u64)
        .unwrap();
    let mut out = Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .run_source(first)
        .unwrap();
    let mut seen = 0u64;
    let failure = loop {
        match out.next_checked() {
            Ok(Some(_)) => seen += 1,
            Ok(None) => panic!("the chain ended quietly after {seen} items"),
            Err(e) => break e,
        }
    };
    assert!(seen < 10_000);
    match failure {
        Failure::SourcePanicked { message, .. } => {
            assert!(message.contains("bad item 700"), "{message}")
        }
        other => panic!("unexpected failure {other:?}"),
    }
    assert!(out.join().is_err());
}

#[test]
fn a_failed_upstream_stage_is_re_raised_by_the_iterator() {
    let first = Engine::builder()
        .workers(2)
        .map(|x: u64| {
            assert!(x != 5_000, "bad item");
            x
        })
        .run(0..10_000u64)
        .unwrap();
    let out = Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .run_source(first)
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| out.sum::<u64>()));
    assert!(r.is_err(), "a truncated sum came back");
}

#[test]
fn dropping_the_end_of_a_chain_drops_every_item_once() {
    for take in [0usize, 1, 1000] {
        let made = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let (m, d) = (Arc::clone(&made), Arc::clone(&drops));
        let first = Engine::builder()
            .workers(2)
            .map(move |x: u64| {
                m.fetch_add(1, Relaxed);
                Counted(x, Arc::clone(&d))
            })
            .run(0..20_000u64)
            .unwrap();
        let mut out = Engine::builder()
            .workers(2)
            .map(|c: Counted| c)
            .run_source(first)
            .unwrap();
        let taken: Vec<Counted> = out.by_ref().take(take).collect();
        assert_eq!(taken.len(), take);
        drop(taken);
        let _ = out.join();
        // `join` waited for the second engine's threads; its distributor dropped the first
        // `Output`, which stops the first engine without waiting for its workers: they end
        // by themselves, dropping what they hold.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while drops.load(Relaxed) != made.load(Relaxed) {
            assert!(
                std::time::Instant::now() < deadline,
                "made {}, dropped {}",
                made.load(Relaxed),
                drops.load(Relaxed)
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(drops.load(Relaxed) <= 20_000);
    }
}
