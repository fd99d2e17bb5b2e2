//! The async wake-up models (`async` feature), shared by `wakeup_async.rs` (the real
//! handshake: every model passes) and the canary binaries (a broken handshake switched on for
//! the whole binary: the first model must fail). Not a test target itself (a subdirectory).
//!
//! A task here is a future driven by [`block_on`] on a spawned loom thread, whose waker unparks
//! that thread: a lost wake-up leaves it parked forever, which loom reports as a deadlock, as
//! for a thread parked in `pop` / `push` (`wakeup.rs`). The main thread only joins (loom issue
//! 249), and no waker ever unparks it.

use fanring::ring::{channel_with, PushError};
use fanring::WaitStrategy;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::task::{Context, Poll, Wake, Waker};

/// Registers at the first failed try.
pub const PARK: WaitStrategy = WaitStrategy::SpinThenPark {
    spins: 0,
    yields: 0,
};

/// A waker that unparks one loom thread.
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker for the current loom thread.
pub fn thread_waker() -> Waker {
    Waker::from(std::sync::Arc::new(Unpark(thread::current())))
}

/// Polls `f` on this thread until ready, parking between polls (woken by the waker).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// An item that counts its drops.
#[derive(Debug)]
pub struct Tracked {
    pub id: usize,
    pub drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Relaxed);
    }
}

/// A publish races the registration: the consumer task polls an empty ring while the producer
/// pushes one item and keeps its handle (so no close can stand in for the lost publish).
pub fn publish_races_registration() {
    loom::model(|| {
        let (mut tx, mut rx) = channel_with::<usize>(1, PARK).unwrap();
        let producer = thread::spawn(move || {
            tx.try_push(7).unwrap();
            tx // dropped by the main thread, after the consumer has its item
        });
        let consumer = thread::spawn(move || block_on(rx.pop_async()));
        assert_eq!(consumer.join().unwrap(), Some(7));
        drop(producer.join().unwrap());
    });
}

/// A waker that raises a flag.
struct Flag(Arc<AtomicBool>);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        // Release: pairs with the Acquire load after the joins (which already order it).
        self.0.store(true, Release);
    }
}

/// The same race, checked without parking: the consumer polls once. Once the push is done
/// (the producer joined), a poll that returned `Pending` must have been woken. (The canaries
/// use this form: a deadlock report unwinds through the loom objects still held by the parked
/// thread, and a drop that touches loom during that cleanup aborts the test binary.)
pub fn publish_races_single_poll() {
    loom::model(|| {
        let woken = Arc::new(AtomicBool::new(false));
        let (mut tx, mut rx) = channel_with::<usize>(1, PARK).unwrap();
        let producer = thread::spawn(move || {
            tx.try_push(7).unwrap();
            tx
        });
        let flag = Arc::clone(&woken);
        let consumer = thread::spawn(move || {
            let waker = Waker::from(std::sync::Arc::new(Flag(flag)));
            let r = rx.poll_pop(&mut Context::from_waker(&waker));
            (rx, r)
        });
        let tx = producer.join().unwrap();
        let (rx, r) = consumer.join().unwrap();
        match r {
            // Acquire: pairs with the Release store in `Flag::wake`.
            Poll::Pending => assert!(
                woken.load(Acquire),
                "lost wake-up: pending, the item published, the task never woken"
            ),
            Poll::Ready(v) => assert_eq!(v, Some(7)),
        }
        drop((tx, rx));
    });
}

/// A close races the registration: the producer drops with nothing pushed.
pub fn close_races_registration() {
    loom::model(|| {
        let (tx, mut rx) = channel_with::<usize>(1, PARK).unwrap();
        let producer = thread::spawn(move || drop(tx));
        let consumer = thread::spawn(move || block_on(rx.pop_async()));
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), None);
    });
}

/// A producer task on a full ring (capacity 1) is woken by a blocking consumer's release,
/// then the consumer, parked on the empty ring, by the task's push.
pub fn producer_task_woken_by_release() {
    loom::model(|| {
        let (mut tx, mut rx) = channel_with::<usize>(1, PARK).unwrap();
        tx.try_push(0).unwrap();
        let producer = thread::spawn(move || {
            block_on(tx.push_async(1)).unwrap();
            tx
        });
        let consumer = thread::spawn(move || {
            assert_eq!(rx.pop(), Some(0));
            assert_eq!(rx.pop(), Some(1));
            rx
        });
        let rx = consumer.join().unwrap();
        drop(producer.join().unwrap());
        drop(rx);
    });
}

/// A producer task on a full ring is woken by the consumer's drop: `Closed(v)` with the value,
/// and each item dropped exactly once.
pub fn producer_task_woken_by_close() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut tx, rx) = channel_with::<Tracked>(1, PARK).unwrap();
        tx.try_push(Tracked {
            id: 0,
            drops: Arc::clone(&drops),
        })
        .unwrap();
        let second = Tracked {
            id: 1,
            drops: Arc::clone(&drops),
        };
        let producer = thread::spawn(move || match block_on(tx.push_async(second)) {
            Err(PushError::Closed(v)) => assert_eq!(v.id, 1),
            other => panic!("push into a ring nobody reads: {other:?}"),
        });
        let consumer = thread::spawn(move || drop(rx));
        consumer.join().unwrap();
        producer.join().unwrap();
        assert_eq!(drops.load(Relaxed), 2);
    });
}

/// A waker replaced between polls: the task polls once with a waker that wakes nobody, then
/// waits with its real one. A publish that wakes the stale waker only is a lost wake-up.
pub fn waker_replaced_between_polls() {
    struct Nobody;
    impl Wake for Nobody {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    loom::model(|| {
        let (mut tx, mut rx) = channel_with::<usize>(1, PARK).unwrap();
        let producer = thread::spawn(move || {
            tx.try_push(7).unwrap();
            tx
        });
        let consumer = thread::spawn(move || {
            let stale = Waker::from(std::sync::Arc::new(Nobody));
            if let Poll::Ready(v) = rx.poll_pop(&mut Context::from_waker(&stale)) {
                return v;
            }
            let real = thread_waker();
            loop {
                if let Poll::Ready(v) = rx.poll_pop(&mut Context::from_waker(&real)) {
                    return v;
                }
                thread::park();
            }
        });
        assert_eq!(consumer.join().unwrap(), Some(7));
        drop(producer.join().unwrap());
    });
}

/// The seed's `merge` as a `Stream` over two rings: the task registers on both; each producer
/// pushes one item and closes.
pub fn merged_stream_two_inputs() {
    loom::model(|| {
        let (mut tx0, rx0) = channel_with::<usize>(1, PARK).unwrap();
        let (mut tx1, rx1) = channel_with::<usize>(1, PARK).unwrap();
        let p0 = thread::spawn(move || tx0.try_push(0).unwrap());
        let p1 = thread::spawn(move || tx1.try_push(1).unwrap());
        let consumer = thread::spawn(move || {
            let mut merged = fanring::fan::merge(vec![rx0, rx1]);
            let mut got = Vec::new();
            while let Some(v) = block_on(merged.next_async()) {
                got.push(v);
            }
            got.sort_unstable();
            got
        });
        p0.join().unwrap();
        p1.join().unwrap();
        assert_eq!(consumer.join().unwrap(), [0, 1]);
    });
}
