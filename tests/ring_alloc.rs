//! The ring allocates only in `channel`: no operation allocates afterwards.
//!
//! A counting global allocator counts allocations made by threads that switched counting on
//! (a thread-local flag), so the test harness and other threads do not disturb the count.
//! One `#[test]` only, so nothing else runs in this binary while we count.

use fanring::ring::{channel_with, PopError};
use fanring::{channel, WaitStrategy};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // const-initialised and without a destructor: reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_alloc() {
    // `try_with`: during thread teardown the slot may be gone; such allocations do not count.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, SeqCst);
    }
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting on for this thread and returns the allocations it made.
fn count<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.load(SeqCst);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCS.load(SeqCst) - before, r)
}

fn count_on(on: bool) {
    COUNTING.with(|c| c.set(on));
}

const N: u64 = 100_000;

#[test]
fn no_allocation_after_construction() {
    // The counter works at all (otherwise every zero below would prove nothing).
    let (n, v) = count(|| std::hint::black_box(vec![1u8; 16]));
    assert!(n >= 1, "the counting allocator does not see allocations");
    drop(v);

    // ---- One thread, every strategy: single and batch ops, blocking ops that need no wait.
    for wait in [
        WaitStrategy::BusySpin,
        WaitStrategy::SPIN_YIELD,
        WaitStrategy::SPIN_THEN_PARK,
    ] {
        let (mut tx, mut rx) = channel_with::<u64>(64, wait).unwrap();
        let (allocs, sum) = count(|| {
            let mut sum = 0u64;
            for i in 0..N {
                tx.try_push(i).unwrap();
                sum += rx.try_pop().unwrap();
            }
            // Batches, wrapping the ring many times.
            let src: [u64; 48] = std::array::from_fn(|k| k as u64);
            let mut out = [0u64; 48];
            for _ in 0..(N / 48) {
                assert_eq!(tx.try_push_slice(&src), Ok(48));
                assert_eq!(rx.try_pop_slice(&mut out), Ok(48));
                sum += out.iter().sum::<u64>();
                assert_eq!(tx.try_push_iter(&mut (0..40u64)), Ok(40));
                assert_eq!(rx.try_pop_each(usize::MAX, |v| sum += v), Ok(40));
                assert_eq!(tx.try_push_iter(&mut (0..30u64)), Ok(30));
                rx.read_slices(usize::MAX, |a, b| sum += a.iter().chain(b).sum::<u64>())
                    .unwrap();
            }
            // Blocking ops that succeed at once, and timed ops that time out.
            for i in 0..N {
                tx.push(i).unwrap();
                sum += rx.pop().unwrap();
            }
            for i in 0..64 {
                tx.push_timeout(i, Duration::from_secs(1)).unwrap();
            }
            assert!(tx.push_timeout(0, Duration::from_micros(200)).is_err());
            for _ in 0..64 {
                sum += rx.pop_timeout(Duration::from_secs(1)).unwrap();
            }
            assert_eq!(
                rx.pop_timeout(Duration::from_micros(200)),
                Err(PopError::Empty)
            );
            // Snapshots and errors.
            sum += (tx.len() + rx.len() + tx.slots() + tx.capacity()) as u64;
            assert!(!tx.is_closed() && !rx.is_closed());
            sum
        });
        assert_eq!(
            allocs, 0,
            "{wait:?}: allocations after construction (sum {sum})"
        );
        // Closing, draining to the end, and dropping the first handle do not allocate either.
        tx.try_push(7).unwrap();
        let (allocs, ()) = count(|| {
            tx.close();
            assert_eq!(rx.try_pop(), Ok(7));
            assert_eq!(rx.try_pop(), Err(PopError::Closed));
            assert_eq!(rx.pop(), None);
            drop(tx);
        });
        assert_eq!(allocs, 0, "{wait:?}: close/drain");
        drop(rx);
    }

    // Heap items are moved, not copied: pushing a `String` made before counting allocates
    // nothing, and the refused value comes back without allocation.
    let (mut tx, mut rx) = channel::<String>(2).unwrap();
    let (a, b, c) = ("a".to_string(), "b".to_string(), "c".to_string());
    let (allocs, ()) = count(|| {
        tx.try_push(a).unwrap();
        tx.try_push(b).unwrap();
        let c = tx.try_push(c).unwrap_err().into_inner();
        let a = rx.try_pop().unwrap();
        tx.try_push(c).unwrap();
        drop(a);
    });
    assert_eq!(allocs, 0, "String items");
    drop((tx, rx));

    // ---- Two threads, blocking push/pop with real waiting (parking, unparking, yielding).
    // The consumer thread is spawned (which allocates) before counting starts; both threads
    // count only between the barrier and the end of their loops.
    for wait in [
        WaitStrategy::SPIN_YIELD,
        WaitStrategy::SPIN_THEN_PARK,
        WaitStrategy::SpinThenPark {
            spins: 0,
            yields: 0,
        },
    ] {
        let (mut tx, mut rx) = channel_with::<u64>(8, wait).unwrap();
        let start = Arc::new(Barrier::new(2));
        let consumer = std::thread::spawn({
            let start = Arc::clone(&start);
            move || {
                // Warm up thread-local state (e.g. `thread::current()`) before counting.
                let _ = std::thread::current();
                start.wait();
                let before = ALLOCS.load(SeqCst);
                count_on(true);
                let mut sum = 0u64;
                let mut expect = 0u64;
                let mut out = [0u64; 5];
                loop {
                    if expect.is_multiple_of(3) {
                        match rx.pop() {
                            Some(v) => {
                                assert_eq!(v, expect);
                                sum += v;
                                expect += 1;
                            }
                            None => break,
                        }
                    } else {
                        match rx.try_pop_slice(&mut out) {
                            Ok(k) => {
                                for &v in &out[..k] {
                                    assert_eq!(v, expect);
                                    sum += v;
                                    expect += 1;
                                }
                            }
                            Err(PopError::Empty) => std::thread::yield_now(),
                            Err(PopError::Closed) => break,
                        }
                    }
                }
                count_on(false);
                (ALLOCS.load(SeqCst) - before, expect, sum)
            }
        });
        let _ = std::thread::current();
        start.wait();
        let (allocs, ()) = count(|| {
            for i in 0..N {
                tx.push(i).unwrap();
            }
            tx.close();
        });
        let (consumer_allocs, got, sum) = consumer.join().unwrap();
        assert_eq!((got, sum), (N, N * (N - 1) / 2), "{wait:?}");
        // Each thread's count also includes the other's counted allocations, if any: both
        // must be zero anyway.
        assert_eq!(allocs, 0, "{wait:?}: producer thread allocated");
        assert_eq!(consumer_allocs, 0, "{wait:?}: consumer thread allocated");
        drop(tx);
    }
}
