//! Single-threaded behaviour of the SPSC ring: explicit unit tests (capacities, ZSTs, drop
//! accounting, close semantics, panics in user code) and a proptest that runs random
//! operation sequences against a `VecDeque` model.

use fanring::ring::{
    channel_with, CapacityError, Closed, Consumer, PopError, Producer, PushError, MAX_CAPACITY,
};
use fanring::{channel, WaitStrategy};
use proptest::prelude::*;
use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Drop accounting
// ---------------------------------------------------------------------------------------------

/// Per-id drop counts for one test (ids are handed out in creation order).
#[derive(Default)]
struct Counters {
    drops: Mutex<Vec<u32>>,
    /// Total drops, and whether any item was dropped twice (cheap per-step checks).
    total: AtomicUsize,
    doubled: AtomicUsize,
}

impl Counters {
    fn new() -> Arc<Self> {
        Arc::new(Counters::default())
    }

    fn make(self: &Arc<Self>) -> Tracked {
        self.make_with(false)
    }

    fn make_with(self: &Arc<Self>, panic_on_drop: bool) -> Tracked {
        let mut d = self.drops.lock().unwrap();
        d.push(0);
        Tracked {
            id: (d.len() - 1) as u64,
            counters: Arc::clone(self),
            panic_on_drop,
        }
    }

    fn created(&self) -> usize {
        self.drops.lock().unwrap().len()
    }

    fn drops_of(&self, id: u64) -> u32 {
        self.drops.lock().unwrap()[id as usize]
    }

    fn total_dropped(&self) -> usize {
        self.total.load(SeqCst)
    }

    /// Every created item was dropped exactly once.
    fn assert_all_dropped_once(&self) {
        let d = self.drops.lock().unwrap();
        for (id, &n) in d.iter().enumerate() {
            assert_eq!(n, 1, "item {id} dropped {n} times (created {})", d.len());
        }
    }
}

/// An item that records its drop in its `Counters`.
#[derive(Debug)]
struct Tracked {
    id: u64,
    counters: Arc<Counters>,
    panic_on_drop: bool,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counters")
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // Count first, then panic: the count tells that the drop ran.
        if let Ok(mut d) = self.counters.drops.lock() {
            d[self.id as usize] += 1;
            if d[self.id as usize] > 1 {
                self.counters.doubled.fetch_add(1, SeqCst);
            }
        }
        self.counters.total.fetch_add(1, SeqCst);
        if self.panic_on_drop {
            panic!("Tracked {} panics in drop (on purpose)", self.id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Capacities
// ---------------------------------------------------------------------------------------------

#[test]
fn capacity_zero_is_an_error() {
    assert_eq!(channel::<u8>(0).unwrap_err(), CapacityError::Zero);
    assert_eq!(
        channel_with::<String>(0, WaitStrategy::BusySpin).unwrap_err(),
        CapacityError::Zero
    );
    assert_eq!(channel::<()>(0).unwrap_err(), CapacityError::Zero);
}

#[test]
fn capacity_too_large_is_an_error() {
    for req in [usize::MAX, MAX_CAPACITY + 1, usize::MAX / 2 + 2] {
        assert_eq!(
            channel::<u8>(req).unwrap_err(),
            CapacityError::TooLarge { requested: req },
            "requested {req}"
        );
        assert_eq!(
            channel::<()>(req).unwrap_err(),
            CapacityError::TooLarge { requested: req },
            "ZST, requested {req}"
        );
    }
    // The slot count is fine but the buffer's bytes overflow isize: an error, no panic/abort.
    let req = 1usize << 50;
    assert!(req <= MAX_CAPACITY);
    assert_eq!(
        channel::<[u8; 1 << 20]>(req).unwrap_err(),
        CapacityError::TooLarge { requested: req }
    );
    assert_eq!(
        channel::<u64>(MAX_CAPACITY).unwrap_err(),
        CapacityError::TooLarge {
            requested: MAX_CAPACITY
        }
    );
    // Not a power of two, rounds up past isize::MAX bytes.
    let req = (1usize << 43) + 1;
    assert_eq!(
        channel::<[u8; 1 << 20]>(req).unwrap_err(),
        CapacityError::TooLarge { requested: req }
    );
    // Errors display something.
    assert!(!CapacityError::Zero.to_string().is_empty());
    assert!(CapacityError::TooLarge { requested: 7 }
        .to_string()
        .contains('7'));
}

#[test]
fn capacity_rounds_up_to_a_power_of_two() {
    for req in 1..=130usize {
        let (tx, rx) = channel::<u32>(req).unwrap();
        assert_eq!(tx.capacity(), req.next_power_of_two(), "requested {req}");
        assert_eq!(rx.capacity(), req.next_power_of_two());
        assert_eq!(tx.slots(), tx.capacity());
        assert_eq!((tx.len(), rx.len()), (0, 0));
        assert!(tx.is_empty() && rx.is_empty());
        assert!(!tx.is_closed() && !rx.is_closed());
    }
    let (tx, rx) = channel_with::<u8>(1000, WaitStrategy::SPIN_YIELD).unwrap();
    assert_eq!(tx.capacity(), 1024);
    assert_eq!(tx.wait_strategy(), WaitStrategy::SPIN_YIELD);
    assert_eq!(rx.wait_strategy(), WaitStrategy::SPIN_YIELD);
    let (tx, _rx) = channel::<u8>(1).unwrap();
    assert_eq!(tx.wait_strategy(), WaitStrategy::default());
}

// ---------------------------------------------------------------------------------------------
// Zero-sized types
// ---------------------------------------------------------------------------------------------

#[test]
fn zst_unit_push_pop() {
    let (mut tx, mut rx) = channel::<()>(3).unwrap();
    assert_eq!(tx.capacity(), 4);
    for round in 0..50 {
        for _ in 0..4 {
            tx.try_push(()).unwrap();
        }
        assert!(matches!(tx.try_push(()), Err(PushError::Full(()))));
        assert_eq!((tx.len(), rx.len(), tx.slots()), (4, 4, 0));
        assert_eq!(rx.try_pop(), Ok(()));
        assert_eq!(tx.try_push_slice(&[(); 10]), Ok(1));
        let mut out = [(); 3];
        assert_eq!(rx.try_pop_slice(&mut out), Ok(3));
        let mut n = 0;
        assert_eq!(rx.try_pop_each(usize::MAX, |()| n += 1), Ok(1));
        assert_eq!(n, 1, "round {round}");
        assert_eq!(rx.try_pop(), Err(PopError::Empty));
        assert_eq!(tx.try_push_iter(&mut std::iter::repeat_n((), 3)), Ok(3));
        let got = rx.read_slices(usize::MAX, |a, b| assert_eq!(a.len() + b.len(), 3));
        assert_eq!(got, Ok(3));
    }
    tx.try_push(()).unwrap();
    drop(tx);
    assert_eq!(rx.pop(), Some(()));
    assert_eq!(rx.pop(), None);
}

thread_local! {
    static ZST_DROPS: Cell<usize> = const { Cell::new(0) };
}

/// A zero-sized type whose drops are counted (thread-locally: the test is single-threaded).
#[derive(Debug)]
struct ZstDrop;

impl Drop for ZstDrop {
    fn drop(&mut self) {
        ZST_DROPS.with(|c| c.set(c.get() + 1));
    }
}

fn zst_drops() -> usize {
    ZST_DROPS.with(Cell::get)
}

#[test]
fn zst_with_drop_is_dropped_exactly_once() {
    assert_eq!(std::mem::size_of::<ZstDrop>(), 0);
    let (mut tx, mut rx) = channel::<ZstDrop>(4).unwrap();
    let base = zst_drops();
    let mut made = 0;
    for _ in 0..4 {
        tx.try_push(ZstDrop).unwrap();
        made += 1;
    }
    assert_eq!(zst_drops(), base);
    // The refused value comes back inside the error and is dropped with it.
    let err = tx.try_push(ZstDrop).unwrap_err();
    made += 1;
    assert!(matches!(err, PushError::Full(_)));
    assert_eq!(zst_drops(), base);
    drop(err);
    assert_eq!(zst_drops(), base + 1);
    // Pop one: dropped by us.
    let v = rx.try_pop().unwrap();
    assert_eq!(zst_drops(), base + 1);
    drop(v);
    assert_eq!(zst_drops(), base + 2);
    // try_pop_each moves them into the closure (which drops them).
    assert_eq!(rx.try_pop_each(1, drop), Ok(1));
    assert_eq!(zst_drops(), base + 3);
    // read_slices drops what it showed.
    assert_eq!(
        rx.read_slices(1, |a, b| assert_eq!(a.len() + b.len(), 1)),
        Ok(1)
    );
    assert_eq!(zst_drops(), base + 4);
    // Refill across the wrap, then let Shared's drop take care of the rest.
    let mut it = (0..10).map(|_| {
        made += 1;
        ZstDrop
    });
    assert_eq!(tx.try_push_iter(&mut it), Ok(3));
    drop(it);
    assert_eq!(zst_drops(), base + 4);
    drop(rx);
    assert_eq!(zst_drops(), base + 4, "items must outlive the consumer");
    drop(tx);
    assert_eq!(zst_drops(), base + made, "every ZST dropped exactly once");
}

// ---------------------------------------------------------------------------------------------
// Drop accounting with heap items
// ---------------------------------------------------------------------------------------------

/// Push `n` tracked items, pop `popped` of them, then drop the handles in the given order.
fn drop_order_case(cap: usize, n: usize, popped: usize, consumer_first: bool) {
    let c = Counters::new();
    let (mut tx, mut rx) = channel::<Tracked>(cap).unwrap();
    // Go round the ring a few times first so that what is left wraps.
    for _ in 0..(3 * cap + 1) {
        tx.try_push(c.make()).unwrap();
        drop(rx.try_pop().unwrap());
    }
    for _ in 0..n {
        tx.try_push(c.make()).unwrap();
    }
    for _ in 0..popped {
        drop(rx.try_pop().unwrap());
    }
    let before = c.total_dropped();
    if consumer_first {
        drop(rx);
        assert_eq!(
            c.total_dropped(),
            before,
            "consumer drop must not drop items"
        );
        // Pushes now fail, and the value comes back.
        let v = c.make();
        let id = v.id;
        match tx.try_push(v) {
            Err(PushError::Closed(v)) => assert_eq!(v.id, id),
            other => panic!("expected Closed, got {other:?}"),
        }
        assert_eq!(c.drops_of(id), 1);
        drop(tx);
    } else {
        drop(tx);
        assert_eq!(
            c.total_dropped(),
            before,
            "producer drop must not drop items"
        );
        drop(rx);
    }
    c.assert_all_dropped_once();
}

#[test]
fn every_item_dropped_once_whichever_side_drops_first() {
    for cap in [1, 2, 4, 8] {
        for n in 0..=cap {
            for popped in 0..=n {
                drop_order_case(cap, n, popped, false);
                drop_order_case(cap, n, popped, true);
            }
        }
    }
}

#[test]
fn push_error_returns_the_value_and_drops_it_once() {
    let c = Counters::new();
    let (mut tx, rx) = channel::<Tracked>(1).unwrap();
    tx.try_push(c.make()).unwrap();
    // Full(v) through every push flavour.
    let v = c.make();
    let id = v.id;
    let err = tx.try_push(v).unwrap_err();
    assert!(!err.is_closed());
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert_eq!(err.to_string(), "ring is full");
    assert_eq!(c.drops_of(id), 0);
    let v = err.into_inner();
    assert_eq!((v.id, c.drops_of(id)), (id, 0));
    let err = tx.push_timeout(v, Duration::from_millis(1)).unwrap_err();
    assert!(matches!(&err, PushError::Full(v) if v.id == id));
    drop(err);
    assert_eq!(c.drops_of(id), 1);
    // Closed(v).
    drop(rx);
    let v = c.make();
    let id = v.id;
    let err = tx.push(v).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(format!("{err:?}"), "Closed(..)");
    assert_eq!(err.to_string(), "ring is closed");
    assert_eq!(c.drops_of(id), 0);
    drop(err);
    assert_eq!(c.drops_of(id), 1);
    let v = c.make();
    let id = v.id;
    assert!(
        matches!(tx.push_timeout(v, Duration::from_secs(60)), Err(PushError::Closed(ref v)) if v.id == id)
    );
    assert_eq!(c.drops_of(id), 1);
    drop(tx);
    c.assert_all_dropped_once();
}

// ---------------------------------------------------------------------------------------------
// Close semantics
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_only_after_drained() {
    for how in 0..2 {
        let (mut tx, mut rx) = channel::<u32>(8).unwrap();
        tx.try_push_slice(&[1, 2, 3, 4, 5, 6]).unwrap();
        if how == 0 {
            tx.close();
            tx.close(); // idempotent
            assert!(tx.is_closed());
        } else {
            drop(tx);
        }
        assert!(rx.is_closed(), "the flag is visible at once");
        assert_eq!(rx.len(), 6);
        assert_eq!(rx.try_pop(), Ok(1));
        assert_eq!(rx.pop(), Some(2));
        assert_eq!(rx.pop_timeout(Duration::from_secs(60)), Ok(3));
        let mut out = [0; 1];
        assert_eq!(rx.try_pop_slice(&mut out), Ok(1));
        assert_eq!(out, [4]);
        let mut got = Vec::new();
        assert_eq!(rx.try_pop_each(1, |v| got.push(v)), Ok(1));
        assert_eq!(
            rx.read_slices(8, |a, b| got.extend(a.iter().chain(b))),
            Ok(1)
        );
        assert_eq!(got, [5, 6]);
        // Drained: now every read says Closed, repeatedly.
        for _ in 0..3 {
            assert_eq!(rx.try_pop(), Err(PopError::Closed));
            assert_eq!(rx.pop(), None);
            assert_eq!(
                rx.pop_timeout(Duration::from_secs(60)),
                Err(PopError::Closed)
            );
            assert_eq!(rx.try_pop_slice(&mut out), Err(PopError::Closed));
            assert_eq!(
                rx.try_pop_each(4, |_| unreachable!()),
                Err(PopError::Closed)
            );
            assert_eq!(
                rx.read_slices(4, |_, _| unreachable!()),
                Err(PopError::Closed)
            );
        }
        // Zero-length batch reads are Ok(0) whatever the state.
        assert_eq!(rx.try_pop_slice(&mut []), Ok(0));
        assert_eq!(rx.try_pop_each(0, |_| unreachable!()), Ok(0));
        assert_eq!(rx.read_slices(0, |_, _| unreachable!()), Ok(0));
        assert_eq!(rx.iter().count(), 0);
    }
}

#[test]
fn push_after_own_close_is_closed() {
    let (mut tx, mut rx) = channel::<u32>(4).unwrap();
    tx.try_push(1).unwrap();
    tx.close();
    assert!(tx.is_closed());
    assert!(matches!(tx.try_push(2), Err(PushError::Closed(2))));
    assert!(matches!(tx.push(3), Err(PushError::Closed(3))));
    assert!(matches!(
        tx.push_timeout(4, Duration::from_secs(60)),
        Err(PushError::Closed(4))
    ));
    assert_eq!(tx.try_push_slice(&[5, 6]), Err(Closed));
    let mut it = 7..10;
    assert_eq!(tx.try_push_iter(&mut it), Err(Closed));
    assert_eq!(it, 7..10, "nothing taken from the iterator");
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(rx.try_pop(), Err(PopError::Closed));
    assert_eq!(Closed.to_string(), "ring is closed");
}

#[test]
fn consumer_close_refuses_pushes_but_keeps_items_readable() {
    let (mut tx, mut rx) = channel::<u32>(4).unwrap();
    tx.try_push_slice(&[1, 2]).unwrap();
    rx.close();
    rx.close(); // idempotent
    assert!(tx.is_closed());
    assert!(!rx.is_closed(), "rx.is_closed() is about the producer");
    assert!(matches!(tx.try_push(3), Err(PushError::Closed(3))));
    assert!(matches!(tx.push(3), Err(PushError::Closed(3))));
    assert_eq!(tx.try_push_slice(&[3]), Err(Closed));
    assert_eq!(tx.len(), 2);
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(rx.try_pop(), Ok(2));
    // Drained after our own close: the end of the stream, never a wait.
    assert_eq!(rx.try_pop(), Err(PopError::Closed));
    assert_eq!(rx.pop(), None);
    drop(tx);
    assert_eq!(rx.try_pop(), Err(PopError::Closed));
}

#[test]
fn timeouts_return_empty_and_full() {
    let t = Duration::from_millis(20);
    for wait in [
        WaitStrategy::BusySpin,
        WaitStrategy::SPIN_YIELD,
        WaitStrategy::SPIN_THEN_PARK,
        WaitStrategy::SpinThenPark {
            spins: 0,
            yields: 0,
        },
    ] {
        let (mut tx, mut rx) = channel_with::<u32>(2, wait).unwrap();
        // Lower bounds only (the deadline has passed when they return), never upper bounds.
        let start = Instant::now();
        assert_eq!(rx.pop_timeout(t), Err(PopError::Empty), "{wait:?}");
        assert!(start.elapsed() >= t);
        assert_eq!(rx.pop_timeout(Duration::ZERO), Err(PopError::Empty));
        tx.try_push_slice(&[1, 2]).unwrap();
        let start = Instant::now();
        assert!(
            matches!(tx.push_timeout(3, t), Err(PushError::Full(3))),
            "{wait:?}"
        );
        assert!(start.elapsed() >= t);
        assert!(matches!(
            tx.push_timeout(3, Duration::ZERO),
            Err(PushError::Full(3))
        ));
        // Ready at once: no waiting needed, even with a zero timeout.
        assert_eq!(rx.pop_timeout(Duration::ZERO), Ok(1));
        assert_eq!(tx.push_timeout(3, Duration::ZERO), Ok(()));
    }
}

// ---------------------------------------------------------------------------------------------
// Panics in user code
// ---------------------------------------------------------------------------------------------

#[test]
fn try_pop_each_panicking_closure() {
    let c = Counters::new();
    let (mut tx, mut rx) = channel::<Tracked>(8).unwrap();
    // Wrap the ring first.
    for _ in 0..5 {
        tx.try_push(c.make()).unwrap();
        drop(rx.try_pop().unwrap());
    }
    let ids: Vec<u64> = (0..7)
        .map(|_| {
            let v = c.make();
            let id = v.id;
            tx.try_push(v).unwrap();
            id
        })
        .collect();
    let mut given = Vec::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rx.try_pop_each(6, |v| {
            given.push(v.id);
            if given.len() == 3 {
                panic!("closure panics on its 3rd item (on purpose)");
            }
        })
    }));
    assert!(r.is_err());
    assert_eq!(given, ids[..3]);
    // The three items given to the closure were taken (and dropped by it), the rest remain.
    for &id in &ids[..3] {
        assert_eq!(c.drops_of(id), 1);
    }
    for &id in &ids[3..] {
        assert_eq!(c.drops_of(id), 0);
    }
    assert_eq!((rx.len(), tx.len(), tx.slots()), (4, 4, 4));
    let rest: Vec<u64> = std::iter::from_fn(|| rx.try_pop().ok().map(|v| v.id)).collect();
    assert_eq!(rest, ids[3..]);
    // The ring is still usable.
    tx.try_push(c.make()).unwrap();
    drop(rx);
    drop(tx);
    c.assert_all_dropped_once();
}

#[test]
fn try_push_iter_panicking_iterator() {
    let c = Counters::new();
    let (mut tx, mut rx) = channel::<Tracked>(8).unwrap();
    for _ in 0..6 {
        tx.try_push(c.make()).unwrap();
        drop(rx.try_pop().unwrap());
    }
    tx.try_push(c.make()).unwrap();
    let mut made = Vec::new();
    let mut it = std::iter::from_fn(|| {
        if made.len() == 4 {
            panic!("iterator panics after 4 items (on purpose)");
        }
        let v = c.make();
        made.push(v.id);
        Some(v)
    });
    let r = catch_unwind(AssertUnwindSafe(|| tx.try_push_iter(&mut it)));
    assert!(r.is_err());
    assert_eq!(made.len(), 4);
    // The four items written before the panic are published, in order, after the first one.
    assert_eq!((tx.len(), rx.len()), (5, 5));
    let first = rx.try_pop().unwrap().id;
    let got: Vec<u64> = std::iter::from_fn(|| rx.try_pop().ok().map(|v| v.id)).collect();
    assert_eq!(got, made);
    assert!(first < made[0]);
    // And the ring goes on working; nothing lost or doubled.
    assert_eq!(tx.try_push_iter(&mut (0..20).map(|_| c.make())), Ok(8));
    drop(tx);
    assert_eq!(rx.iter().count(), 8);
    drop(rx);
    c.assert_all_dropped_once();
}

#[test]
fn read_slices_panicking_closure_leaves_items() {
    let c = Counters::new();
    let (mut tx, mut rx) = channel::<Tracked>(4).unwrap();
    for _ in 0..3 {
        tx.try_push(c.make()).unwrap();
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        rx.read_slices(2, |_, _| panic!("read_slices closure panics (on purpose)"))
    }));
    assert!(r.is_err());
    assert_eq!(c.total_dropped(), 0);
    assert_eq!(rx.len(), 3);
    let ids: Vec<u64> = std::iter::from_fn(|| rx.try_pop().ok().map(|v| v.id)).collect();
    assert_eq!(ids, [0, 1, 2]);
    drop((tx, rx));
    c.assert_all_dropped_once();
}

/// An item whose `Drop` panics inside `read_slices`' drop of the shown items: the slots must
/// still be released once, and (like `Vec`) the other shown items must still be dropped.
#[test]
fn read_slices_panicking_drop_drops_the_rest() {
    let c = Counters::new();
    let (mut tx, mut rx) = channel::<Tracked>(4).unwrap();
    // head at slot 2, so four items wrap: a = slots 2..4, b = slots 0..2.
    for _ in 0..2 {
        tx.try_push(c.make()).unwrap();
        drop(rx.try_pop().unwrap());
    }
    let ids: Vec<u64> = (0..4)
        .map(|k| {
            let v = c.make_with(k == 0); // the first item of `a` panics in drop
            let id = v.id;
            tx.try_push(v).unwrap();
            id
        })
        .collect();
    let mut lens = (0, 0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        rx.read_slices(4, |a, b| lens = (a.len(), b.len()))
    }));
    assert_eq!(lens, (2, 2));
    assert!(r.is_err());
    // Released exactly once: nothing left to read, and the ring goes on.
    assert_eq!((rx.len(), tx.len()), (0, 0));
    assert_eq!(rx.try_pop().map(|v| v.id), Err(PopError::Empty));
    for &id in &ids[..2] {
        assert_eq!(c.drops_of(id), 1, "item {id} in the first slice");
    }
    for &id in &ids[2..] {
        assert_eq!(
            c.drops_of(id),
            1,
            "item {id} in the second slice was leaked after a panic in the first slice's drop"
        );
    }
    drop((tx, rx));
    c.assert_all_dropped_once();
}

/// An item whose `Drop` panics while the ring itself drops its leftovers (`Drop for Shared`):
/// the remaining items must still be dropped (as `Vec` does), not leaked.
#[test]
fn shared_drop_continues_after_a_panicking_item_drop() {
    for panicking in 0..4usize {
        for consumer_last in [false, true] {
            let c = Counters::new();
            let (mut tx, mut rx) = channel::<Tracked>(4).unwrap();
            // Leftovers wrap around the end of the buffer.
            for _ in 0..3 {
                tx.try_push(c.make()).unwrap();
                drop(rx.try_pop().unwrap());
            }
            for k in 0..4 {
                tx.try_push(c.make_with(k == panicking)).unwrap();
            }
            let r = if consumer_last {
                drop(tx);
                catch_unwind(AssertUnwindSafe(move || drop(rx)))
            } else {
                drop(rx);
                catch_unwind(AssertUnwindSafe(move || drop(tx)))
            };
            assert!(
                r.is_err(),
                "the item's panic propagates out of the last handle's drop"
            );
            let d = c.drops.lock().unwrap().clone();
            assert_eq!(
                d,
                vec![1; 7],
                "drop counts per item (leftovers are the last 4; item {} of them panics; \
                 consumer dropped last: {consumer_last})",
                panicking
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Static properties of the handles
// ---------------------------------------------------------------------------------------------

/// Compiles only if `$ty` does NOT implement `$tr` (the `static_assertions` ambiguity trick).
macro_rules! assert_not_impl {
    ($ty:ty: $tr:path) => {{
        #[allow(dead_code)]
        trait AmbiguousIfImpl<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
        #[allow(dead_code)]
        struct Invalid;
        impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
        let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
    }};
}

#[test]
fn handles_are_send_and_not_clone() {
    fn assert_send<T: Send>() {}
    fn assert_send_val<T: Send>(_: &T) {}
    assert_send::<Producer<String>>();
    assert_send::<Consumer<String>>();
    assert_send::<Producer<Vec<u8>>>();
    assert_send::<Consumer<()>>();
    assert_send::<fanring::ring::IntoIter<u64>>();
    let (tx, rx) = channel::<Box<u32>>(2).unwrap();
    assert_send_val(&tx);
    assert_send_val(&rx);
    assert_not_impl!(Producer<u64>: Clone);
    assert_not_impl!(Consumer<u64>: Clone);
    assert_not_impl!(Producer<std::rc::Rc<u64>>: Send);
    assert_not_impl!(Consumer<std::rc::Rc<u64>>: Send);
    // Debug is implemented and says something useful.
    assert!(format!("{tx:?}").contains("capacity: 2"));
    assert!(format!("{rx:?}").contains("Consumer"));
}

// ---------------------------------------------------------------------------------------------
// Long deterministic wrap-around run
// ---------------------------------------------------------------------------------------------

#[test]
fn many_wraparounds_keep_order() {
    for cap in [1usize, 2, 4, 8] {
        let (mut tx, mut rx) = channel::<u64>(cap).unwrap();
        let (mut next_in, mut next_out) = (0u64, 0u64);
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ cap as u64;
        while next_out < 20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 6) as usize;
            if x & 64 == 0 {
                let items: Vec<u64> = (next_in..next_in + n as u64).collect();
                let k = tx.try_push_slice(&items).unwrap();
                assert_eq!(k, n.min(cap - (next_in - next_out) as usize));
                next_in += k as u64;
            } else {
                let mut out = [0u64; 5];
                match rx.try_pop_slice(&mut out[..n]) {
                    Ok(k) => {
                        for &v in &out[..k] {
                            assert_eq!(v, next_out);
                            next_out += 1;
                        }
                    }
                    Err(e) => {
                        assert_eq!(e, PopError::Empty);
                        assert_eq!(next_in, next_out);
                    }
                }
            }
            assert_eq!(rx.len() as u64, next_in - next_out);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Model-based proptest
// ---------------------------------------------------------------------------------------------

/// One operation on the ring. Lengths and maxima are random.
#[derive(Clone, Debug)]
enum Op {
    TryPush,
    /// Blocking `push`, run only when it cannot block (not full, or closed).
    Push,
    PushTimeout(u64),
    TryPushSlice(usize),
    TryPushIter(usize),
    TryPop,
    /// Blocking `pop`, run only when it cannot block (not empty, or producer closed).
    Pop,
    PopTimeout(u64),
    TryPopSlice(usize),
    TryPopEach(usize),
    ReadSlices(usize),
}

/// Closing events, inserted at random points of the sequence.
#[derive(Clone, Copy, Debug)]
enum CloseEv {
    CloseProducer,
    CloseConsumer,
    DropProducer,
    DropConsumer,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::TryPush),
        1 => Just(Op::Push),
        1 => (0u64..30).prop_map(Op::PushTimeout),
        3 => (0usize..=20).prop_map(Op::TryPushSlice),
        3 => (0usize..=20).prop_map(Op::TryPushIter),
        4 => Just(Op::TryPop),
        1 => Just(Op::Pop),
        1 => (0u64..30).prop_map(Op::PopTimeout),
        3 => (0usize..=20).prop_map(Op::TryPopSlice),
        3 => prop_oneof![Just(usize::MAX), 0usize..=20].prop_map(Op::TryPopEach),
        3 => prop_oneof![Just(usize::MAX), 0usize..=20].prop_map(Op::ReadSlices),
    ]
}

fn close_strategy() -> impl Strategy<Value = CloseEv> {
    prop_oneof![
        Just(CloseEv::CloseProducer),
        Just(CloseEv::CloseConsumer),
        Just(CloseEv::DropProducer),
        Just(CloseEv::DropConsumer),
    ]
}

fn wait_strategy() -> impl Strategy<Value = WaitStrategy> {
    prop_oneof![
        Just(WaitStrategy::BusySpin),
        Just(WaitStrategy::SPIN_YIELD),
        Just(WaitStrategy::SPIN_THEN_PARK),
        Just(WaitStrategy::SpinThenPark {
            spins: 0,
            yields: 1
        }),
    ]
}

/// The item types the model runs with: `u64` (Copy, so the slice operations apply) and
/// `Tracked` (drop accounting; the slice operations are replaced by their iterator/closure
/// counterparts).
trait Item: Sized + std::fmt::Debug {
    fn make(id: u64, c: &Arc<Counters>) -> Self;
    fn id(&self) -> u64;
    /// `Some(result, ids pushed)` if `T: Copy`.
    fn push_slice(tx: &mut Producer<Self>, ids: &[u64]) -> Option<Result<usize, Closed>>;
    /// `Some` if `T: Copy`: the result and the ids read.
    fn pop_slice(rx: &mut Consumer<Self>, n: usize) -> Option<(Result<usize, PopError>, Vec<u64>)>;
    const TRACKED: bool;
}

impl Item for u64 {
    fn make(id: u64, _: &Arc<Counters>) -> Self {
        id
    }
    fn id(&self) -> u64 {
        *self
    }
    fn push_slice(tx: &mut Producer<u64>, ids: &[u64]) -> Option<Result<usize, Closed>> {
        Some(tx.try_push_slice(ids))
    }
    fn pop_slice(rx: &mut Consumer<u64>, n: usize) -> Option<(Result<usize, PopError>, Vec<u64>)> {
        let mut out = vec![u64::MAX; n];
        let r = rx.try_pop_slice(&mut out);
        let k = *r.as_ref().unwrap_or(&0);
        assert!(
            out[k..].iter().all(|&v| v == u64::MAX),
            "try_pop_slice wrote past the count it returned"
        );
        out.truncate(k);
        Some((r, out))
    }
    const TRACKED: bool = false;
}

impl Item for Tracked {
    fn make(id: u64, c: &Arc<Counters>) -> Self {
        let v = c.make();
        assert_eq!(v.id, id, "ids are handed out in order");
        v
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn push_slice(_: &mut Producer<Tracked>, _: &[u64]) -> Option<Result<usize, Closed>> {
        None
    }
    fn pop_slice(
        _: &mut Consumer<Tracked>,
        _: usize,
    ) -> Option<(Result<usize, PopError>, Vec<u64>)> {
        None
    }
    const TRACKED: bool = true;
}

/// The reference: a bounded FIFO of ids plus both sides' closed flags.
struct Model {
    q: VecDeque<u64>,
    cap: usize,
    /// Items taken so far: `popped % cap` is the consumer's slot.
    popped: u64,
    producer_closed: bool,
    consumer_closed: bool,
}

impl Model {
    fn push_closed(&self) -> bool {
        self.producer_closed || self.consumer_closed
    }
    fn free(&self) -> usize {
        self.cap - self.q.len()
    }
    /// What a read of up to `max` (> 0) items returns, and takes them from the model.
    fn take(&mut self, max: usize) -> (Result<usize, PopError>, Vec<u64>) {
        if self.q.is_empty() {
            // After either side closed, an empty ring is the end of the stream.
            let e = if self.producer_closed || self.consumer_closed {
                PopError::Closed
            } else {
                PopError::Empty
            };
            return (Err(e), Vec::new());
        }
        let k = max.min(self.q.len());
        self.popped += k as u64;
        (Ok(k), self.q.drain(..k).collect())
    }
    /// The expected result of a single push, updating the model.
    fn push_one(&mut self, id: u64, timeout_or_try: bool) -> Result<(), PushError<u64>> {
        if self.push_closed() {
            Err(PushError::Closed(id))
        } else if self.q.len() == self.cap {
            assert!(
                timeout_or_try,
                "a blocking push is only run when it cannot block"
            );
            Err(PushError::Full(id))
        } else {
            self.q.push_back(id);
            Ok(())
        }
    }
}

fn ids_of<T: Item>(r: Result<(), PushError<T>>) -> Result<(), PushError<u64>> {
    match r {
        Ok(()) => Ok(()),
        Err(PushError::Full(v)) => Err(PushError::Full(v.id())),
        Err(PushError::Closed(v)) => Err(PushError::Closed(v.id())),
    }
}

fn run_model<T: Item>(
    requested: usize,
    wait: WaitStrategy,
    ops: &[Op],
    closes: &[(usize, CloseEv)],
    consumer_dropped_first: bool,
) -> Result<(), TestCaseError> {
    let c = Counters::new();
    let (tx, rx) = channel_with::<T>(requested, wait).unwrap();
    let cap = requested.next_power_of_two();
    prop_assert_eq!(tx.capacity(), cap);
    prop_assert_eq!(rx.capacity(), cap);
    let (mut tx, mut rx) = (Some(tx), Some(rx));
    let mut m = Model {
        q: VecDeque::new(),
        cap,
        popped: 0,
        producer_closed: false,
        consumer_closed: false,
    };
    let mut next_id = 0u64;
    let short = |us: u64| Duration::from_micros(us);

    for (step, op) in ops.iter().enumerate() {
        for &(_, ev) in closes.iter().filter(|&&(at, _)| at == step) {
            match ev {
                CloseEv::CloseProducer => {
                    if let Some(tx) = tx.as_mut() {
                        tx.close();
                        m.producer_closed = true;
                    }
                }
                CloseEv::CloseConsumer => {
                    if let Some(rx) = rx.as_mut() {
                        rx.close();
                        m.consumer_closed = true;
                    }
                }
                CloseEv::DropProducer => {
                    if tx.take().is_some() {
                        m.producer_closed = true;
                    }
                }
                CloseEv::DropConsumer => {
                    if rx.take().is_some() {
                        m.consumer_closed = true;
                    }
                }
            }
        }

        if tx.is_none() && rx.is_none() {
            // Both handles gone: the ring dropped what it held.
            m.q.clear();
        }

        // Push-side operations.
        if let Some(tx) = tx.as_mut() {
            match *op {
                Op::TryPush => {
                    let expect = m.push_one(next_id, true);
                    let got = ids_of(tx.try_push(T::make(next_id, &c)));
                    next_id += 1;
                    prop_assert_eq!(got, expect, "step {}: try_push", step);
                }
                Op::Push if m.push_closed() || m.free() > 0 => {
                    let expect = m.push_one(next_id, false);
                    let got = ids_of(tx.push(T::make(next_id, &c)));
                    next_id += 1;
                    prop_assert_eq!(got, expect, "step {}: push", step);
                }
                Op::PushTimeout(us) => {
                    let expect = m.push_one(next_id, true);
                    let got = ids_of(tx.push_timeout(T::make(next_id, &c), short(us)));
                    next_id += 1;
                    prop_assert_eq!(got, expect, "step {}: push_timeout", step);
                }
                Op::TryPushSlice(n) | Op::TryPushIter(n) => {
                    let ids: Vec<u64> = (next_id..next_id + n as u64).collect();
                    let sliced = match *op {
                        Op::TryPushSlice(_) => T::push_slice(tx, &ids),
                        _ => None,
                    };
                    let (got, taken) = match sliced {
                        Some(r) => {
                            let k = *r.as_ref().unwrap_or(&0);
                            (r, k)
                        }
                        None => {
                            let mut it = ids.iter().map(|&id| T::make(id, &c));
                            let r = tx.try_push_iter(&mut it);
                            let left = it.len();
                            (r, n - left)
                        }
                    };
                    let expect = if m.push_closed() {
                        Err(Closed)
                    } else {
                        Ok(n.min(m.free()))
                    };
                    prop_assert_eq!(got, expect, "step {}: {:?}", step, op);
                    prop_assert_eq!(taken, *expect.as_ref().unwrap_or(&0), "items taken");
                    m.q.extend(&ids[..taken]);
                    next_id += taken as u64;
                }
                _ => {}
            }
        }

        // Pop-side operations.
        if let Some(rx) = rx.as_mut() {
            match *op {
                Op::TryPop => {
                    let (expect, ids) = m.take(1);
                    let got = rx.try_pop().map(|v| v.id());
                    prop_assert_eq!(got, expect.map(|_| ids[0]), "step {}: try_pop", step);
                }
                Op::Pop if m.producer_closed || m.consumer_closed || !m.q.is_empty() => {
                    let (_, ids) = m.take(1);
                    let got = rx.pop().map(|v| v.id());
                    prop_assert_eq!(got, ids.first().copied(), "step {}: pop", step);
                }
                Op::PopTimeout(us) => {
                    let (expect, ids) = m.take(1);
                    let got = rx.pop_timeout(short(us)).map(|v| v.id());
                    prop_assert_eq!(got, expect.map(|_| ids[0]), "step {}: pop_timeout", step);
                }
                Op::TryPopSlice(n) | Op::TryPopEach(n) => {
                    let sliced = match *op {
                        Op::TryPopSlice(_) => T::pop_slice(rx, n),
                        _ => None,
                    };
                    let (got, got_ids) = match sliced {
                        Some(r) => r,
                        None => {
                            let mut got_ids = Vec::new();
                            let r = rx.try_pop_each(n, |v| got_ids.push(v.id()));
                            (r, got_ids)
                        }
                    };
                    let (expect, ids) = if n == 0 {
                        (Ok(0), Vec::new())
                    } else {
                        m.take(n)
                    };
                    prop_assert_eq!(got, expect, "step {}: {:?}", step, op);
                    prop_assert_eq!(got_ids, ids, "step {}: items of {:?}", step, op);
                }
                Op::ReadSlices(max) => {
                    let slot = (m.popped % cap as u64) as usize;
                    let mut seen = None;
                    let got = rx.read_slices(max, |a, b| {
                        let ids: Vec<u64> = a.iter().chain(b).map(T::id).collect();
                        seen = Some((a.len(), b.len(), ids));
                    });
                    let (expect, ids) = if max == 0 {
                        (Ok(0), Vec::new())
                    } else {
                        m.take(max)
                    };
                    prop_assert_eq!(got, expect, "step {}: read_slices({})", step, max);
                    match expect {
                        Ok(k) if k > 0 => {
                            let (a, b, seen_ids) = seen.expect("closure called");
                            prop_assert_eq!(a, k.min(cap - slot), "first slice length");
                            prop_assert_eq!(b, k - a, "second slice length");
                            prop_assert_eq!(seen_ids, ids);
                        }
                        _ => prop_assert!(seen.is_none(), "closure not called"),
                    }
                }
                _ => {}
            }
        }

        // Snapshot queries agree with the model after every operation.
        if let Some(tx) = tx.as_ref() {
            prop_assert_eq!(tx.len(), m.q.len(), "step {}: tx.len", step);
            prop_assert_eq!(tx.slots(), m.free(), "step {}: tx.slots", step);
            prop_assert_eq!(tx.is_empty(), m.q.is_empty());
            prop_assert_eq!(
                tx.is_closed(),
                m.push_closed(),
                "step {}: tx.is_closed",
                step
            );
        }
        if let Some(rx) = rx.as_ref() {
            prop_assert_eq!(rx.len(), m.q.len(), "step {}: rx.len", step);
            prop_assert_eq!(rx.is_empty(), m.q.is_empty());
            prop_assert_eq!(
                rx.is_closed(),
                m.producer_closed,
                "step {}: rx.is_closed",
                step
            );
        }
        if T::TRACKED {
            // Whatever is in the ring is alive; everything else created was dropped once.
            prop_assert_eq!(c.created() as u64, next_id, "created items");
            prop_assert_eq!(
                c.doubled.load(SeqCst),
                0,
                "step {}: an item dropped twice",
                step
            );
            prop_assert_eq!(
                c.total_dropped() as u64,
                next_id - m.q.len() as u64,
                "step {}: drops",
                step
            );
            for &id in &m.q {
                prop_assert_eq!(c.drops_of(id), 0, "step {}: item {} in the ring", step, id);
            }
        }
    }

    // End: drop the handles in the chosen order; items still inside go with the last one.
    let both_alive = tx.is_some() && rx.is_some();
    let dropped_before = c.total_dropped();
    if consumer_dropped_first {
        drop(rx);
        if both_alive {
            prop_assert_eq!(
                c.total_dropped(),
                dropped_before,
                "first handle drop drops nothing"
            );
        }
        drop(tx);
    } else {
        drop(tx);
        if both_alive {
            prop_assert_eq!(
                c.total_dropped(),
                dropped_before,
                "first handle drop drops nothing"
            );
        }
        drop(rx);
    }
    if T::TRACKED {
        prop_assert_eq!(c.created() as u64, next_id);
        let d = c.drops.lock().unwrap();
        prop_assert!(
            d.iter().all(|&n| n == 1),
            "every item dropped exactly once: {:?}",
            d
        );
    }
    Ok(())
}

fn model_config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(debug_assertions) { 200 } else { 1000 },
        // Keep the tree clean; a failure prints the minimal case and its seed.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

type Closes = Vec<(usize, CloseEv)>;

fn closes_strategy() -> impl Strategy<Value = Closes> {
    // Each event lands somewhere in 0..400; past the end of the ops, it never happens.
    prop::collection::vec((0usize..400, close_strategy()), 0..=2)
}

proptest! {
    #![proptest_config(model_config())]

    #[test]
    fn model_u64(
        requested in 1usize..=16,
        wait in wait_strategy(),
        ops in prop::collection::vec(op_strategy(), 0..250),
        closes in closes_strategy(),
        consumer_first in any::<bool>(),
    ) {
        run_model::<u64>(requested, wait, &ops, &closes, consumer_first)?;
    }

    #[test]
    fn model_tracked(
        requested in 1usize..=16,
        wait in wait_strategy(),
        ops in prop::collection::vec(op_strategy(), 0..250),
        closes in closes_strategy(),
        consumer_first in any::<bool>(),
    ) {
        run_model::<Tracked>(requested, wait, &ops, &closes, consumer_first)?;
    }
}
