//! loom models of the SPSC ring: ordering, close/drain, wrap-around batches and exactly-once
//! drops. Build and run with
//!
//! ```text
//! RUSTFLAGS="--cfg fanring_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p fanring-loom-tests --profile loom --target-dir target/loom
//! ```
//!
//! The rings here use spinning strategies (`SpinYield { spins: 0 }`: every failed try is a
//! `yield_now`, which loom needs to make progress), so no side ever parks and no thread is
//! ever unparked: joining the other side is safe (loom issue 249 does not arise). The parking
//! paths are in `wakeup.rs`.

#![cfg(fanring_loom)]

use fanring::ring::{channel_with, PopError, PushError};
use fanring::WaitStrategy;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use loom::sync::Arc;
use loom::thread;

/// Every failed try yields to the model.
const SPIN: WaitStrategy = WaitStrategy::SpinYield { spins: 0 };

/// An item that counts its drops, to check that each item is dropped exactly once (popped,
/// returned in an error, or left in the ring when both handles are gone).
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

/// Creates items and counts them.
#[derive(Clone)]
struct Counter {
    created: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Counter {
    fn new() -> Self {
        Counter {
            created: Arc::new(AtomicUsize::new(0)),
            drops: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn item(&self, id: usize) -> Tracked {
        self.created.fetch_add(1, Relaxed);
        Tracked {
            id,
            drops: Arc::clone(&self.drops),
        }
    }

    /// Call once every thread is joined and every handle dropped.
    fn assert_all_dropped_once(&self) {
        let created = self.created.load(Relaxed);
        let dropped = self.drops.load(Relaxed);
        assert_eq!(
            created, dropped,
            "created {created} items, dropped {dropped}"
        );
    }
}

/// Pops with `try_pop` until `Closed`, yielding on `Empty`.
fn drain_try_pop<T>(rx: &mut fanring::ring::Consumer<T>, got: &mut Vec<T>) {
    loop {
        match rx.try_pop() {
            Ok(v) => got.push(v),
            Err(PopError::Empty) => thread::yield_now(),
            Err(PopError::Closed) => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The producer pushes k items and closes: the consumer gets all k in order, then `Closed`.
// ---------------------------------------------------------------------------------------------

fn push_then_close(k: usize, cap: usize, drop_to_close: bool, use_pop: bool) {
    loom::model(move || {
        let (mut tx, mut rx) = channel_with::<usize>(cap, SPIN).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..k {
                // `push` spins (yields) while full: with cap < k this wraps around.
                tx.push(i).unwrap();
            }
            if drop_to_close {
                drop(tx);
            } else {
                tx.close();
                assert!(matches!(tx.try_push(99), Err(PushError::Closed(99))));
            }
        });
        let mut got = Vec::new();
        if use_pop {
            while let Some(v) = rx.pop() {
                got.push(v);
            }
            assert_eq!(rx.try_pop(), Err(PopError::Closed), "Closed must be final");
        } else {
            drain_try_pop(&mut rx, &mut got);
        }
        // Never `Closed` early (an item missing), never a phantom or reordered item.
        assert_eq!(got, (0..k).collect::<Vec<_>>());
        producer.join().unwrap();
    });
}

#[test]
fn close_after_two_items_try_pop() {
    push_then_close(2, 2, true, false);
}

#[test]
fn explicit_close_after_two_items_pop() {
    push_then_close(2, 2, false, true);
}

#[test]
fn close_after_three_items_try_pop() {
    push_then_close(3, 4, true, false);
}

#[test]
fn close_after_three_items_wrapping_capacity_two() {
    push_then_close(3, 2, true, true);
}

// ---------------------------------------------------------------------------------------------
// 2. The consumer goes away mid-stream: the producer gets `Closed(v)` with its value back, and
//    every item is dropped exactly once.
// ---------------------------------------------------------------------------------------------

fn consumer_drops_mid_stream(pops: usize) {
    loom::model(move || {
        let counter = Counter::new();
        // Capacity 1 and at most one pop: of the 3 items at most 2 fit, so a push must end
        // in `Closed` once the consumer is gone.
        let (mut tx, mut rx) = channel_with::<Tracked>(1, SPIN).unwrap();
        let c = counter.clone();
        let producer = thread::spawn(move || {
            for id in 0..3 {
                let mut item = c.item(id);
                loop {
                    match tx.try_push(item) {
                        Ok(()) => break,
                        Err(PushError::Full(v)) => {
                            item = v;
                            thread::yield_now();
                        }
                        Err(PushError::Closed(v)) => {
                            assert_eq!(v.id, id, "Closed must return the value pushed");
                            assert!(tx.is_closed());
                            return id; // `v` dropped here
                        }
                    }
                }
            }
            panic!("3 pushes into capacity 1 succeeded with at most 1 pop");
        });
        for want in 0..pops {
            loop {
                match rx.try_pop() {
                    Ok(v) => {
                        assert_eq!(v.id, want);
                        break;
                    }
                    Err(PopError::Empty) => thread::yield_now(),
                    Err(PopError::Closed) => panic!("producer never closes here"),
                }
            }
        }
        drop(rx);
        let refused = producer.join().unwrap();
        // The consumer took `pops` items and at most one more fit in the ring.
        assert!(
            (pops..=pops + 1).contains(&refused),
            "refused item {refused}"
        );
        // Both handles are gone: the item left in the ring (if any) was dropped with it.
        counter.assert_all_dropped_once();
    });
}

#[test]
fn consumer_drops_before_popping() {
    consumer_drops_mid_stream(0);
}

#[test]
fn consumer_drops_after_one_pop() {
    consumer_drops_mid_stream(1);
}

// ---------------------------------------------------------------------------------------------
// 3. Capacity 2 with wrap-around (4 items: the indices wrap twice), batch writes racing batch
//    reads.
// ---------------------------------------------------------------------------------------------

#[test]
fn batches_slice_wrap_around() {
    loom::model(|| {
        const ITEMS: [u32; 4] = [10, 11, 12, 13];
        let (mut tx, mut rx) = channel_with::<u32>(2, SPIN).unwrap();
        let producer = thread::spawn(move || {
            let mut sent = 0;
            while sent < ITEMS.len() {
                let n = tx.try_push_slice(&ITEMS[sent..]).unwrap();
                assert!(n <= 2, "wrote {n} items into 2 slots");
                sent += n;
                if n == 0 {
                    thread::yield_now();
                }
            }
        });
        let mut got = Vec::new();
        let mut out = [0u32; 2];
        loop {
            match rx.try_pop_slice(&mut out) {
                Ok(n) => {
                    assert!((1..=2).contains(&n));
                    got.extend_from_slice(&out[..n]);
                }
                Err(PopError::Empty) => thread::yield_now(),
                Err(PopError::Closed) => break,
            }
        }
        assert_eq!(got, ITEMS);
        producer.join().unwrap();
    });
}

#[test]
fn batches_iter_each_wrap_around() {
    loom::model(|| {
        let counter = Counter::new();
        let (mut tx, mut rx) = channel_with::<Tracked>(2, SPIN).unwrap();
        let c = counter.clone();
        let producer = thread::spawn(move || {
            let mut items = (0..4).map(|id| c.item(id)).peekable();
            while items.peek().is_some() {
                let n = tx.try_push_iter(&mut items).unwrap();
                assert!(n <= 2);
                if n == 0 {
                    thread::yield_now();
                }
            }
        });
        let mut got = Vec::new();
        loop {
            match rx.try_pop_each(2, |v| got.push(v.id)) {
                Ok(n) => assert!((1..=2).contains(&n)),
                Err(PopError::Empty) => thread::yield_now(),
                Err(PopError::Closed) => break,
            }
        }
        assert_eq!(got, [0, 1, 2, 3]);
        drop(rx);
        producer.join().unwrap();
        counter.assert_all_dropped_once();
    });
}

// ---------------------------------------------------------------------------------------------
// 4. close() racing a push and a pop.
// ---------------------------------------------------------------------------------------------

/// The producer pushes two items and closes while the consumer pops: the consumer gets both,
/// then `Closed`; a push after the producer's own close returns the value.
#[test]
fn producer_close_races_pop() {
    loom::model(|| {
        let counter = Counter::new();
        let (mut tx, mut rx) = channel_with::<Tracked>(2, SPIN).unwrap();
        let c = counter.clone();
        let producer = thread::spawn(move || {
            tx.try_push(c.item(0)).unwrap();
            tx.try_push(c.item(1)).unwrap();
            tx.close();
            match tx.try_push(c.item(2)) {
                Err(PushError::Closed(v)) => assert_eq!(v.id, 2),
                other => panic!("push after close: {other:?}"),
            }
        });
        let mut got = Vec::new();
        drain_try_pop(&mut rx, &mut got);
        let ids: Vec<usize> = got.iter().map(|v| v.id).collect();
        assert_eq!(ids, [0, 1], "Closed before the ring was drained");
        drop(got);
        drop(rx);
        producer.join().unwrap();
        counter.assert_all_dropped_once();
    });
}

/// The consumer pops at most once, then `close()`s (keeping its handle) while the producer
/// pushes: each item is either accepted or returned in `Closed(v)`, and the accepted ones form
/// a prefix. After its own close the consumer takes what it can still see and then gets
/// `Closed` without waiting; a push that raced the close may stay in the ring and is dropped
/// with it. So the consumer gets a prefix of the accepted items, in order, and every item is
/// dropped exactly once.
#[test]
fn consumer_close_races_push() {
    loom::model(|| {
        let counter = Counter::new();
        let (mut tx, mut rx) = channel_with::<Tracked>(2, SPIN).unwrap();
        let c = counter.clone();
        let producer = thread::spawn(move || {
            let mut accepted = 0;
            for id in 0..2 {
                match tx.try_push(c.item(id)) {
                    Ok(()) => {
                        assert_eq!(accepted, id, "accepted after a Closed");
                        accepted += 1;
                    }
                    Err(PushError::Closed(v)) => assert_eq!(v.id, id),
                    Err(PushError::Full(_)) => panic!("2 items cannot fill capacity 2"),
                }
            }
            accepted
        });
        let mut got = Vec::new();
        if let Ok(v) = rx.try_pop() {
            got.push(v);
        }
        rx.close();
        drain_try_pop(&mut rx, &mut got);
        let accepted = producer.join().unwrap();
        let ids: Vec<usize> = got.iter().map(|v| v.id).collect();
        assert!(ids.len() <= accepted, "got {ids:?}, accepted {accepted}");
        assert_eq!(
            ids,
            (0..ids.len()).collect::<Vec<_>>(),
            "phantom or reordered item"
        );
        drop(got);
        drop(rx);
        counter.assert_all_dropped_once();
    });
}

/// Items the consumer has seen stay readable after its own `close()`: the producer publishes
/// two items at once (one `tail` store); a consumer that popped the first before closing has
/// seen both, and must still get the second before `Closed`.
#[test]
fn consumer_close_keeps_visible_items() {
    loom::model(|| {
        let (mut tx, mut rx) = channel_with::<u32>(2, SPIN).unwrap();
        let producer = thread::spawn(move || {
            // `Closed` if the consumer closed first: then nothing was written.
            if let Ok(n) = tx.try_push_slice(&[0, 1]) {
                assert_eq!(n, 2);
            }
        });
        let first = rx.try_pop();
        rx.close();
        let mut got = Vec::new();
        drain_try_pop(&mut rx, &mut got);
        match first {
            Ok(v) => {
                assert_eq!(v, 0);
                assert_eq!(got, [1], "an item seen before close() was lost");
            }
            Err(e) => assert_eq!(e, PopError::Empty),
        }
        producer.join().unwrap();
    });
}

/// The consumer drops (not closes) at once while the producer pushes: items that got in stay
/// in the ring and are dropped with it; the others come back in `Closed(v)`.
#[test]
fn consumer_drop_races_push_leaves_items() {
    loom::model(|| {
        let counter = Counter::new();
        let (mut tx, rx) = channel_with::<Tracked>(2, SPIN).unwrap();
        let c = counter.clone();
        let producer = thread::spawn(move || {
            let mut closed = false;
            for id in 0..2 {
                match tx.try_push(c.item(id)) {
                    Ok(()) => assert!(!closed, "accepted after a Closed"),
                    Err(PushError::Closed(v)) => {
                        assert_eq!(v.id, id);
                        closed = true;
                    }
                    Err(PushError::Full(_)) => panic!("2 items cannot fill capacity 2"),
                }
            }
        });
        drop(rx);
        producer.join().unwrap();
        counter.assert_all_dropped_once();
    });
}

// ---------------------------------------------------------------------------------------------
// 5. Canary: a drain that trusts a stale tail loses an item, and loom must notice.
// ---------------------------------------------------------------------------------------------

/// A minimal SPSC with one item, written here with loom types (not the crate): the producer
/// writes a slot, publishes `tail`, then sets `closed`. The consumer, on seeing an empty ring
/// and the flag, reports the end; with `reread` it first loads `tail` again, as
/// `Consumer::available` does. Without the re-read the interleaving
/// "consumer loads tail (0); producer publishes and closes; consumer loads closed (true)"
/// ends the stream with the item still in the ring.
fn tiny_spsc_drain(reread: bool) {
    loom::model(move || {
        struct Tiny {
            slot: UnsafeCell<usize>,
            tail: AtomicUsize,
            closed: AtomicBool,
        }
        // SAFETY (for the model): the slot is written before `tail` is published and read
        // only after `tail` is seen; loom checks exactly that.
        unsafe impl Sync for Tiny {}

        let q = Arc::new(Tiny {
            slot: UnsafeCell::new(0),
            tail: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        });
        let p = Arc::clone(&q);
        thread::spawn(move || {
            p.slot.with_mut(|s| unsafe { *s = 42 });
            p.tail.store(1, Release);
            p.closed.store(true, Release);
        });

        let mut head = 0;
        let mut got = Vec::new();
        loop {
            let mut tail = q.tail.load(Acquire);
            if tail == head {
                if !q.closed.load(Acquire) {
                    thread::yield_now();
                    continue;
                }
                if reread {
                    tail = q.tail.load(Acquire);
                }
                if tail == head {
                    break; // "Closed"
                }
            }
            got.push(q.slot.with(|s| unsafe { *s }));
            head += 1;
        }
        assert_eq!(got, [42], "the drain lost an item");
    });
}

/// Must fail: proves that the models above can see a lost item.
#[test]
#[should_panic(expected = "the drain lost an item")]
fn canary_drain_without_reread_loses_item() {
    tiny_spsc_drain(false);
}

/// The same model with the re-read passes: the canary fails for the missing re-read only.
#[test]
fn canary_control_drain_with_reread() {
    tiny_spsc_drain(true);
}
