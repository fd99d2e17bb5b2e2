//! Ends that every handle records: an `Input` whose engine has
//! stopped says so at its next operation, and `drive` after its source panicked is over and
//! says why.

use fanring::{Dispatch, Engine, Failure, Order, Pinning, SendError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

fn dispatches() -> [Dispatch<u64>; 3] {
    [
        Dispatch::RoundRobin,
        Dispatch::LeastLoaded,
        Dispatch::by_key(|x: &u64| *x),
    ]
}

/// The input, for every dispatch policy and order.
#[test]
fn input_is_closed_once_the_output_is_dropped() {
    for dispatch in dispatches() {
        for order in [Order::Any, Order::Preserve] {
            let (mut input, mut output) = Engine::builder()
                .workers(2)
                .capacity(16)
                .batch(1)
                .pinning(Pinning::None)
                .dispatch(dispatch.clone())
                .order(order)
                .map(|x: u64| x)
                .start()
                .unwrap();
            input.send_blocking(1).unwrap();
            assert_eq!(output.next(), Some(1));
            assert!(!input.is_closed());
            drop(output); // engine stopped (its threads detached, ending by themselves)
            assert!(input.is_closed(), "{dispatch:?} {order:?}");
            for i in 2..100 {
                assert!(
                    matches!(input.send_blocking(i), Err(SendError(x)) if x == i),
                    "{dispatch:?} {order:?}: send {i} after the output was dropped"
                );
            }
            assert_eq!(input.send_all_blocking(100..200), Err(SendError(100)));
        }
    }
}

#[test]
fn input_is_closed_once_the_output_is_joined() {
    let (mut input, output) = Engine::builder()
        .workers(3)
        .pinning(Pinning::None)
        .map(|x: u64| x)
        .start()
        .unwrap();
    input.send_blocking(1).unwrap();
    output.join().unwrap();
    assert!(input.is_closed());
    assert!(matches!(input.send_blocking(2), Err(SendError(2))));
}

/// A worker that panicked ends the engine: the input says so once the panic has closed its
/// ring (the merged stream ended with the error), and refuses every item after.
#[test]
fn input_is_closed_after_a_worker_panic() {
    let live = Arc::new(AtomicUsize::new(0));
    struct T(Arc<AtomicUsize>, u64);
    impl Drop for T {
        fn drop(&mut self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }
    let mk = |v| {
        live.fetch_add(1, SeqCst);
        T(Arc::clone(&live), v)
    };
    let (mut input, mut output) = Engine::builder()
        .workers(2)
        .capacity(8)
        .batch(1)
        .pinning(Pinning::None)
        .map(|t: T| {
            assert!(t.1 != 3, "boom");
            t.1
        })
        .start()
        .unwrap();
    for v in 0..4 {
        if input.send_blocking(mk(v)).is_err() {
            break;
        }
    }
    while let Ok(Some(_)) = output.next_checked() {}
    assert!(matches!(
        output.error(),
        Some(Failure::WorkerPanicked { .. })
    ));
    assert!(input.is_closed());
    let back = input.send_blocking(mk(9)).unwrap_err();
    assert!(matches!(back, SendError(T(_, 9))));
    drop(back);
    drop(input);
    output.join().unwrap_err(); // waits for the workers: every item is dropped by then
    assert_eq!(live.load(SeqCst), 0, "every item dropped once");
}

/// `drive`: once the source panicked, the stream is over (fused) and `join` says why, even
/// if the caller catches the panic and goes on iterating.
#[test]
fn drive_after_a_source_panic_is_fused_and_recorded() {
    for dispatch in dispatches() {
        for order in [Order::Any, Order::Preserve] {
            let live = Arc::new(AtomicUsize::new(0));
            let l = Arc::clone(&live);
            let source = (0..10_000u64).inspect(move |&i| {
                assert!(i != 700, "source-boom");
                l.fetch_add(1, SeqCst);
            });
            let mut out = Engine::builder()
                .workers(2)
                .capacity(64)
                .batch(16)
                .pinning(Pinning::None)
                .dispatch(dispatch.clone())
                .order(order)
                .map(|x: u64| x)
                .drive(source)
                .unwrap();
            let mut got = 0u64;
            let r = catch_unwind(AssertUnwindSafe(|| {
                for _ in out.by_ref() {
                    got += 1;
                }
            }));
            assert!(r.is_err(), "the panic reaches the caller");
            assert!(got < 10_000);
            // The caller goes on: the stream is over.
            assert_eq!(out.next(), None, "{dispatch:?} {order:?}: fused");
            assert_eq!(out.next(), None);
            match out.join() {
                Err(Failure::SourcePanicked { message, .. }) => {
                    assert!(message.contains("source-boom"), "{message}");
                }
                other => panic!("{dispatch:?} {order:?}: join gave {other:?}"),
            }
        }
    }
}

/// A key function that panics under `drive` ends the stream the same way.
#[test]
fn drive_after_a_key_panic_is_fused_and_recorded() {
    let mut out = Engine::builder()
        .workers(2)
        .pinning(Pinning::None)
        .dispatch(Dispatch::by_key(|x: &u64| {
            assert!(*x != 300, "key-boom");
            *x
        }))
        .map(|x: u64| x)
        .drive(0..1_000u64)
        .unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| out.by_ref().count()));
    assert!(r.is_err());
    assert_eq!(out.next(), None);
    assert!(matches!(
        out.join(),
        Err(Failure::SourcePanicked { message, .. }) if message.contains("key-boom")
    ));
}
