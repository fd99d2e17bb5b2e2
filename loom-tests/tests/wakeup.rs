//! loom models of the wake-up handshake: a side blocked in `pop` / `push` with
//! `SpinThenPark { spins: 0, yields: 0 }` parks at its first failed try, so a lost wake-up
//! leaves a thread parked forever, which loom reports as a deadlock. Build and run with
//!
//! ```text
//! RUSTFLAGS="--cfg fanring_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p fanring-loom-tests --profile loom --target-dir target/loom
//! ```
//!
//! `wakeup_yield.rs` compiles this file again as a module, with `park` mapped to `yield_now`
//! (spurious wake-ups): every model reads the mode from `crate::PARK_AS_YIELD`, which is
//! `false` here and `true` there (the `PARK_AS_YIELD` below is then unused).
//!
//! Thread layout (loom issue 249: unparking a thread blocked in `JoinHandle::join` crashes the
//! model): both ring handles live on spawned threads, and only the main thread joins. The main
//! thread never waits on the ring, so it is never in a `WakeSlot` and nothing unparks it; a
//! late `notify` can only unpark a ring thread, which never joins.

#![cfg(fanring_loom)]

use fanring::ring::{channel_with, PushError};
use fanring::WaitStrategy;
use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::*};
use loom::sync::Arc;
use loom::thread;

/// Straight to `park` at the first failed try.
const PARK: WaitStrategy = WaitStrategy::SpinThenPark {
    spins: 0,
    yields: 0,
};

/// The mode of this binary's models: real parking.
#[allow(dead_code)]
const PARK_AS_YIELD: bool = false;

/// Runs `f` under `loom::model` with `park` real or mapped to a yield, per `crate::PARK_AS_YIELD`.
/// The flag is a process-wide std static: every test of one binary sets the same value, so
/// tests running on parallel threads do not disturb each other.
fn model(f: impl Fn() + Sync + Send + 'static) {
    fanring::loom_hooks::park_as_yield(crate::PARK_AS_YIELD);
    loom::model(f);
}

/// An item that counts its drops.
#[derive(Debug)]
struct Tracked {
    id: usize,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// a. The consumer parks on an empty ring; the producer pushes k items, then drops.
// ---------------------------------------------------------------------------------------------

fn consumer_parks_on_empty(k: usize) {
    model(move || {
        let (mut tx, mut rx) = channel_with::<usize>(2, PARK).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..k {
                tx.push(i).unwrap(); // capacity 2 >= k: never waits
            }
            // dropping `tx` closes the ring and must wake a parked consumer
        });
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(v) = rx.pop() {
                got.push(v);
            }
            got
        });
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), (0..k).collect::<Vec<_>>());
    });
}

#[test]
fn consumer_parks_on_empty_one_item() {
    consumer_parks_on_empty(1);
}

#[test]
fn consumer_parks_on_empty_two_items() {
    consumer_parks_on_empty(2);
}

// ---------------------------------------------------------------------------------------------
// b. The producer parks on a full ring (capacity 1, k items); the consumer parks on empty.
//
// These found that loom 0.7.3 does not keep a `swap`'s write ordered before the waiter's next
// `announce` store (tokio-rs/loom#254), reporting a deadlock the C++ model rules out;
// `WakeSlot::wake` therefore clears the flag with `compare_exchange(true, false)`.
// ---------------------------------------------------------------------------------------------

/// Also called by `wakeup_yield.rs`.
pub(crate) fn producer_parks_on_full(k: usize) {
    model(move || {
        let (mut tx, mut rx) = channel_with::<usize>(1, PARK).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..k {
                tx.push(i).unwrap(); // full until the consumer pops the one before: parks
            }
        });
        let consumer = thread::spawn(move || {
            for i in 0..k {
                assert_eq!(rx.pop(), Some(i));
            }
            assert_eq!(rx.pop(), None);
        });
        producer.join().unwrap();
        consumer.join().unwrap();
    });
}

#[test]
fn producer_parks_on_full_two_items() {
    producer_parks_on_full(2);
}

#[test]
fn producer_parks_on_full_three_items() {
    producer_parks_on_full(3);
}

// ---------------------------------------------------------------------------------------------
// c. A parked side is woken by the other side's close, with nothing published.
// ---------------------------------------------------------------------------------------------

/// The consumer blocks in `pop` on an empty ring; the producer drops without pushing.
#[test]
fn consumer_woken_by_producer_drop() {
    model(|| {
        let (tx, mut rx) = channel_with::<usize>(1, PARK).unwrap();
        let producer = thread::spawn(move || drop(tx));
        let consumer = thread::spawn(move || assert_eq!(rx.pop(), None));
        producer.join().unwrap();
        consumer.join().unwrap();
    });
}

/// The producer blocks in `push` on a full ring; the consumer drops (or, keeping its handle,
/// closes) without popping: the push returns `Closed(v)` with the value, and every item is
/// dropped exactly once.
fn producer_woken_by_consumer_close(drop_handle: bool) {
    model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let item = |id| Tracked {
            id,
            drops: Arc::clone(&drops),
        };
        let (mut tx, mut rx) = channel_with::<Tracked>(1, PARK).unwrap();
        // Full before the consumer can go away.
        tx.try_push(item(0)).unwrap();
        let second = item(1);
        let producer = thread::spawn(move || match tx.push(second) {
            Err(PushError::Closed(v)) => assert_eq!(v.id, 1),
            other => panic!("push into a full ring nobody reads: {other:?}"),
        });
        let consumer = thread::spawn(move || {
            if drop_handle {
                drop(rx);
            } else {
                rx.close();
                thread::yield_now();
                drop(rx);
            }
        });
        producer.join().unwrap();
        consumer.join().unwrap();
        // Item 1 came back in the error, item 0 was dropped with the ring.
        assert_eq!(drops.load(Relaxed), 2);
    });
}

#[test]
fn producer_woken_by_consumer_drop() {
    producer_woken_by_consumer_close(true);
}

#[test]
fn producer_woken_by_consumer_close_keeping_handle() {
    producer_woken_by_consumer_close(false);
}

// ---------------------------------------------------------------------------------------------
// e. Canary: a Release/Acquire-only wake-up handshake loses the wake-up, and loom must say so.
// ---------------------------------------------------------------------------------------------

/// The handshake of `WakeSlot`, written here with loom types (not the crate). The waiter
/// (main thread) announces `waiting`, re-checks `data`, and parks if it is still 0; the
/// publisher stores `data`, then unparks the waiter if it sees `waiting`. With `fences`, a
/// `fence(SeqCst)` sits between each side's store and load, as in `WakeSlot`; without, the
/// stores are `Release` and the loads `Acquire`, and both loads may read the old value: the
/// waiter parks after the publisher decided not to unpark it, a deadlock.
///
/// The main thread is the waiter and never joins, so issue 249 does not arise; loom waits for
/// the publisher at the end of each execution anyway.
fn handshake(fences: bool) {
    loom::model(move || {
        let data = Arc::new(AtomicUsize::new(0));
        let waiting = Arc::new(AtomicBool::new(false));
        let me = thread::current();
        {
            let (data, waiting) = (Arc::clone(&data), Arc::clone(&waiting));
            thread::spawn(move || {
                data.store(1, Release);
                if fences {
                    fence(SeqCst);
                }
                if waiting.load(Acquire) {
                    me.unpark();
                }
            });
        }
        while data.load(Acquire) == 0 {
            waiting.store(true, Release);
            if fences {
                fence(SeqCst);
            }
            if data.load(Acquire) != 0 {
                break;
            }
            thread::park();
        }
        assert_eq!(data.load(Acquire), 1);
    });
}

/// Must fail with loom's deadlock report: proves the models above can see a lost wake-up.
#[test]
#[should_panic(expected = "deadlock")]
fn canary_release_acquire_handshake_loses_wakeup() {
    handshake(false);
}

/// The same handshake with the two `SeqCst` fences passes.
#[test]
fn canary_control_fenced_handshake() {
    handshake(true);
}
