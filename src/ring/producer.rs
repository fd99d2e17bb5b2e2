use super::{Closed, PushError, Shared};
use crate::loom::sync::atomic::Ordering::*;
use crate::loom::sync::Arc;
use crate::wait::WakeSlot;
use crate::wait::{wait_until, Notifier, Park, WaitStrategy};
use std::fmt;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

/// The writing end of a ring. `Send`, not `Clone`: exactly one thread writes.
///
/// Dropping it closes the ring: the consumer reads what is left, then gets
/// [`PopError::Closed`](crate::ring::PopError::Closed).
///
/// ```
/// let (mut tx, mut rx) = fanring::channel::<u32>(2).unwrap();
/// tx.try_push(1).unwrap();
/// tx.try_push(2).unwrap();
/// assert!(matches!(tx.try_push(3), Err(fanring::ring::PushError::Full(3))));
/// assert_eq!(rx.try_pop(), Ok(1));
/// ```
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Next index we write. Equal to the shared `tail` except while staged (written but
    /// unpublished) items exist: only the engine stages.
    tail: usize,
    /// The shared `tail` as last stored by `commit`, so that it skips a store that would change
    /// nothing. The single-item fast path (`push_one`) stores `tail` without updating this: a
    /// later `commit` then stores the same value once more, which is harmless.
    published: usize,
    /// The consumer's `head` as last loaded, plus the capacity: the `tail` at which the ring
    /// looks full (the cached-index trick, kept as a limit so that the fast path is one
    /// compare). `head` only lags behind the real one, so the free space `limit - tail` is a
    /// lower bound: reload it only when it says "full".
    limit: usize,
    /// `close()` was called.
    closed: bool,
    wait: WaitStrategy,
    /// How our publishes notify the consumer: decided here once from the strategy and the
    /// slot's handshake, so the fast path reads one byte of this handle.
    notify: Notifier,
}

impl<T> Producer<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        let wait = shared.wait;
        let notify = shared.consumer.wake.notifier(wait.can_park());
        Producer {
            shared,
            tail: 0,
            published: 0,
            // "Full" until the first push reloads it: the consumer may have lowered the
            // ring's depth (`Consumer::set_depth`) before then.
            limit: 0,
            closed: false,
            wait,
            notify,
        }
    }

    /// How our publishes notify the consumer, and whether its slot is asymmetric (for tests).
    #[cfg(all(test, not(fanring_loom), not(feature = "shuttle")))]
    pub(super) fn notify_mode(&self) -> (crate::wait::Notify, bool) {
        (
            self.notify.mode(),
            self.shared.consumer.wake.is_asymmetric(),
        )
    }

    /// Number of slots (a power of two).
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// The ring's wait strategy.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.wait
    }

    /// Items in the ring now (a snapshot: the consumer may be taking some).
    ///
    /// ```
    /// let (mut tx, _rx) = fanring::channel::<u8>(4).unwrap();
    /// tx.try_push(1).unwrap();
    /// assert_eq!((tx.len(), tx.slots()), (1, 3));
    /// ```
    pub fn len(&self) -> usize {
        // Acquire: pairs with the consumer's Release store of `head`.
        self.tail.wrapping_sub(self.shared.head.load(Acquire))
    }

    /// Whether the ring holds no item now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Free slots now (at least this many pushes would succeed).
    pub fn slots(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Whether a push can no longer succeed: the consumer closed or was dropped, or
    /// [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        // Relaxed: a flag with no data behind it; see `close` for the store.
        self.closed || self.shared.consumer.closed.load(Relaxed)
    }

    /// Closes the ring from this side: the consumer drains what was pushed and then gets
    /// `Closed`; later pushes return `Closed(v)`. A parked consumer is woken. Dropping the
    /// producer does the same.
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<u8>(4).unwrap();
    /// tx.try_push(9).unwrap();
    /// tx.close();
    /// assert!(tx.try_push(1).unwrap_err().is_closed());
    /// assert_eq!(rx.pop(), Some(9));
    /// assert_eq!(rx.pop(), None);
    /// ```
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            // Staged items become visible before the close flag, so they are drained, not
            // stranded (or leaked: only published slots are dropped with the ring).
            self.commit();
            // From now on the cached `head` says "full" and is never reloaded (`free`), so the
            // single-item fast path (`can_push_cached`) fails without testing `closed`.
            self.limit = self.tail;
            // Release: pairs with the consumer's Acquire load of the flag in `available`; our
            // last `tail` store happens-before it, so a consumer that sees the flag and then
            // re-reads `tail` sees every item.
            self.shared.producer.closed.store(true, Release);
            self.shared.consumer.wake.notify();
        }
    }

    /// Free slots, reloading the consumer's `head` only if the cached copy shows fewer than
    /// `want`.
    #[inline]
    fn free(&mut self, want: usize) -> usize {
        let mut free = self.limit.wrapping_sub(self.tail);
        // Once closed, the cache stays "full" (see `close`).
        if free < want && !self.closed {
            self.limit = self.shared.limit_for(self.tail);
            free = self.limit.wrapping_sub(self.tail);
        }
        free
    }

    /// Makes every written slot visible and wakes a parked consumer.
    #[inline]
    pub(crate) fn commit(&mut self) {
        if self.tail == self.published {
            return;
        }
        let new_tail = self.tail;
        self.published = new_tail;
        // Release: pairs with the consumer's Acquire load of `tail`: the items written into
        // the slots before it are visible to the consumer.
        self.shared.tail.store(new_tail, Release);
        self.notify.after_publish(&self.shared.consumer.wake);
    }

    #[inline]
    fn write(&self, index: usize, value: T) {
        // SAFETY: `index` is in [tail, head + capacity): a free slot that the consumer does not
        // read until we publish a `tail` beyond it.
        self.shared
            .slot(index)
            .with_mut(|p| unsafe { p.write(MaybeUninit::new(value)) });
    }

    /// Pushes `value` if there is a free slot. Never blocks. Wakes a parked consumer.
    ///
    /// # Errors
    /// `Full(value)` if no slot is free, `Closed(value)` if nobody will read it.
    ///
    /// ```
    /// let (mut tx, rx) = fanring::channel::<&str>(1).unwrap();
    /// assert!(tx.try_push("a").is_ok());
    /// assert!(matches!(tx.try_push("b"), Err(fanring::ring::PushError::Full("b"))));
    /// drop(rx);
    /// assert!(matches!(tx.try_push("c"), Err(fanring::ring::PushError::Closed("c"))));
    /// ```
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), PushError<T>> {
        if !self.can_push_cached() {
            if let Err(e) = self.refresh(false, None) {
                return Err(e.with(value));
            }
        }
        self.push_one(value);
        Ok(())
    }

    /// The fast-path test of every single-item push: the consumer has not closed, and the
    /// cached `head` shows a free slot. A closed producer's cache always shows "full" (see
    /// `close`), so the second test also means "not closed by us". Small on purpose, so that
    /// `push`/`try_push` inline into the caller's loop.
    #[inline]
    fn can_push_cached(&self) -> bool {
        // Relaxed: pairs with the Release store in `Consumer::close`; only a flag, nothing is
        // read through it (as in `is_closed`).
        !self.shared.consumer.closed.load(Relaxed) && self.tail != self.limit
    }

    /// Writes `value` at `tail` and publishes it (and anything staged before it).
    #[inline]
    fn push_one(&mut self, value: T) {
        self.write(self.tail, value);
        let new_tail = self.tail.wrapping_add(1);
        self.tail = new_tail;
        // Release: pairs with the consumer's Acquire load of `tail`: the item written into
        // the slot before it is visible to the consumer.
        self.shared.tail.store(new_tail, Release);
        self.notify.after_publish(&self.shared.consumer.wake);
    }

    /// The single-item slow path, when the cached `head` says full (or the ring is closed):
    /// reloads `head`, waiting for room if `block` (until `deadline`, if any). On success the
    /// cache shows a free slot. (Nothing is staged here: only the crate's run-at-a-time paths
    /// stage, and they commit before any single-item call.)
    ///
    /// The out-of-line part ([`find_room`]) takes the handle's fields by value and never sees
    /// `&mut self`: a call that could write the handle would make the compiler reload `tail`
    /// and `limit` from memory on every push of a caller's loop (a store-to-load round trip
    /// each time); this way they stay in registers across it.
    // Always: this must never become a call that takes `&mut self` (see above).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn refresh(&mut self, block: bool, deadline: Option<Instant>) -> Result<(), NoRoom> {
        // Few, small arguments and an `Option<usize>` back (registers only), so that the
        // inlined fast path stays small.
        let found = match deadline {
            None => find_room(&self.shared, self.tail, self.closed, block),
            Some(d) => find_room_until(&self.shared, self.tail, self.closed, d),
        };
        match found {
            None => Err(NoRoom::Closed),
            Some(limit) => {
                self.limit = limit;
                if limit == self.tail {
                    Err(NoRoom::Full)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Free slots according to the cached `head` (a lower bound; no shared access).
    #[inline]
    pub(crate) fn free_cached(&self) -> usize {
        self.limit.wrapping_sub(self.tail)
    }

    /// Whether the consumer keeps the ring shallower than its capacity (`Consumer::set_depth`).
    pub(crate) fn is_shallow(&self) -> bool {
        self.shared.depth() < self.capacity()
    }

    /// The most items the consumer asked the ring to hold (`Consumer::set_depth`): its
    /// capacity unless the items are costly. A hint.
    pub(crate) fn depth(&self) -> usize {
        self.shared.depth()
    }

    /// Whether `n` slots are free: the cached count first, the consumer's `head` reloaded only
    /// when that is short of them (a shared load the cached answer spares).
    #[inline]
    pub(crate) fn has_room(&mut self, n: usize) -> bool {
        self.free(n) >= n
    }

    /// Free slots after reloading the consumer's `head`.
    #[inline]
    pub(crate) fn free_refresh(&mut self) -> usize {
        self.free(usize::MAX)
    }

    /// Whether a push could make progress now: a slot is free or the ring is closed. Reads the
    /// shared state only, so it can run while the slots of several rings are announced on.
    pub(crate) fn ready_hint(&self) -> bool {
        // Acquire: pairs with the consumer's Release store of `head`.
        self.is_closed()
            || self.tail.wrapping_sub(self.shared.head.load(Acquire)) < self.shared.depth()
    }

    /// Commits staged items, then waits by the ring's strategy until a slot is free.
    ///
    /// # Errors
    /// [`Closed`] if nobody will read (the wait ends on the consumer's close).
    pub(crate) fn wait_space(&mut self) -> Result<(), Closed> {
        self.commit();
        if self.free(1) > 0 {
            return Ok(());
        }
        let (wait, shared) = (self.wait, Arc::clone(&self.shared));
        wait_until(wait, &shared.producer.wake, None, || {
            if self.is_closed() {
                Some(Err(Closed))
            } else {
                (self.free(1) > 0).then_some(Ok(()))
            }
        })
        .unwrap_or(Ok(()))
    }
    /// Pushes `value`, waiting by the ring's [`WaitStrategy`] while the ring is full.
    ///
    /// # Errors
    /// `Closed(value)` if the consumer is gone (also while we wait: its close wakes us).
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<u64>(2).unwrap();
    /// let t = std::thread::spawn(move || (0..100).for_each(|i| tx.push(i).unwrap()));
    /// assert_eq!(rx.into_iter().sum::<u64>(), 4950);
    /// t.join().unwrap();
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        if !self.can_push_cached() {
            // Reloads `head` first, then waits if still full.
            if let Err(e) = self.refresh(true, None) {
                return Err(e.with(value));
            }
        }
        self.push_one(value);
        Ok(())
    }

    /// Like [`push`](Self::push), giving up with `Full(value)` after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut tx, _rx) = fanring::channel::<u8>(1).unwrap();
    /// tx.push(1).unwrap();
    /// let err = tx.push_timeout(2, Duration::from_millis(1)).unwrap_err();
    /// assert!(matches!(err, fanring::ring::PushError::Full(2)));
    /// ```
    ///
    /// # Errors
    /// `Full(value)` at the deadline, `Closed(value)` if nobody will read it.
    pub fn push_timeout(&mut self, value: T, timeout: Duration) -> Result<(), PushError<T>> {
        if !self.can_push_cached() {
            if let Err(e) = self.refresh(true, Some(Instant::now() + timeout)) {
                return Err(e.with(value));
            }
        }
        self.push_one(value);
        Ok(())
    }

    /// Copies as many items from `items` as there are free slots, publishing once. Never
    /// blocks.
    ///
    /// # Errors
    /// [`Closed`] if nobody will read them (nothing is written).
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<u32>(4).unwrap();
    /// assert_eq!(tx.try_push_slice(&[1, 2, 3, 4, 5]), Ok(4));
    /// let mut out = [0; 8];
    /// assert_eq!(rx.try_pop_slice(&mut out), Ok(4));
    /// assert_eq!(out[..4], [1, 2, 3, 4]);
    /// ```
    pub fn try_push_slice(&mut self, items: &[T]) -> Result<usize, Closed>
    where
        T: Copy,
    {
        if self.is_closed() {
            return Err(Closed);
        }
        let n = self.free(items.len()).min(items.len());
        #[cfg(not(fanring_loom))]
        {
            let (start, first, rest) = self.shared.runs(self.tail, n);
            let base = self.shared.base();
            // SAFETY: [tail, tail + n) are free slots that the consumer does not read before
            // we publish; [start, start + first) and [0, rest) are those slots in order, inside
            // the buffer; `items` is borrowed, so it cannot overlap the ring's own buffer.
            unsafe {
                std::ptr::copy_nonoverlapping(items.as_ptr(), base.add(start), first);
                std::ptr::copy_nonoverlapping(items.as_ptr().add(first), base, rest);
            }
            self.tail = self.tail.wrapping_add(n);
        }
        // loom tracks each slot's cell: one at a time.
        #[cfg(fanring_loom)]
        for &item in &items[..n] {
            self.write(self.tail, item);
            self.tail = self.tail.wrapping_add(1);
        }
        self.commit();
        Ok(n)
    }

    /// Moves items from `iter` into the free slots, publishing once, and stops when the ring is
    /// full or the iterator ends. Takes from the iterator only items it can store, so nothing
    /// is lost: call again with the same iterator to go on. Never blocks.
    ///
    /// # Errors
    /// [`Closed`] if nobody will read them (nothing is taken from the iterator).
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<String>(2).unwrap();
    /// let mut words = ["a", "b", "c"].iter().map(|s| s.to_string());
    /// assert_eq!(tx.try_push_iter(&mut words), Ok(2));
    /// assert_eq!(words.next().as_deref(), Some("c"));
    /// # drop(rx);
    /// ```
    pub fn try_push_iter<I: Iterator<Item = T>>(&mut self, iter: &mut I) -> Result<usize, Closed> {
        if self.is_closed() {
            return Err(Closed);
        }
        let free = self.free(usize::MAX);
        // The guard commits what was written even if `next` panics, so no written item is
        // left unpublished (and later overwritten without being dropped).
        let batch = Batch(self);
        let mut n = 0;
        while n < free {
            match iter.next() {
                Some(item) => {
                    batch.0.write(batch.0.tail, item);
                    batch.0.tail = batch.0.tail.wrapping_add(1);
                    n += 1;
                }
                None => break,
            }
        }
        drop(batch);
        Ok(n)
    }
}

/// The engine's staging fast path: check once, then write many. What may be staged without a
/// look at the consumer is the ring's own cached count of free slots
/// ([`free_cached`](Producer::free_cached)); [`reserve`](Producer::reserve) reloads it.
impl<T> Producer<T> {
    /// Free slots to stage into (the cached `head` is reloaded only when it shows none), or
    /// `Closed` if nobody will read them: what [`free_cached`](Self::free_cached) says until
    /// items are staged.
    #[inline]
    pub(crate) fn reserve(&mut self) -> Result<usize, Closed> {
        if self.is_closed() {
            return Err(Closed);
        }
        let free = self.free(1);
        self.shared.prefetch(self.tail, free, true);
        Ok(free)
    }

    /// Stages `value` (not published: see [`commit`](Self::commit)) if the cached count shows
    /// a free slot; else hands it back (`reserve` reloads the count).
    #[inline]
    pub(crate) fn stage(&mut self, value: T) -> Result<(), T> {
        if self.tail == self.limit {
            return Err(value);
        }
        self.write(self.tail, value);
        self.tail = self.tail.wrapping_add(1);
        Ok(())
    }

    /// Moves up to `k` items from the front of `buf` into the ring (staged, not published),
    /// as many as the cached count has free slots for, and removes them from `buf`; the rest
    /// of `buf` moves to its front. Returns how many moved.
    #[inline]
    pub(crate) fn stage_moved(&mut self, buf: &mut Vec<T>, k: usize) -> usize {
        let len = buf.len();
        let k = k.min(len).min(self.free_cached());
        let src = buf.as_mut_ptr();
        // SAFETY: `buf` forgets its items before they move (its length drops before anything
        // can panic); the first `k` move into free slots (`k <= free_cached`, checked above),
        // and its tail [k, len) moves to its front and is owned by it again.
        unsafe {
            buf.set_len(0);
            self.stage_copied(src, k);
            std::ptr::copy(src.add(k), src, len - k);
            buf.set_len(len - k);
        }
        k
    }

    /// Moves the `k` items at `src` into the ring (staged, not published), with one copy per
    /// contiguous part of the ring; the next run's slots are prefetched after a run.
    ///
    /// # Safety
    /// `k <= self.free_cached()`, and `src` points to `k` initialised items that the caller
    /// gives up: it must not use or drop them again.
    #[inline]
    pub(crate) unsafe fn stage_copied(&mut self, src: *const T, k: usize) {
        debug_assert!(k <= self.free_cached());
        if k == 1 {
            // One item (a per-item policy): a plain store, no copy call.
            // SAFETY: `src` holds one item the caller gives up; the slot at `tail` is free.
            self.write(self.tail, unsafe { src.read() });
            self.tail = self.tail.wrapping_add(1);
            return;
        }
        #[cfg(not(fanring_loom))]
        {
            let (start, first, rest) = self.shared.runs(self.tail, k);
            let base = self.shared.base();
            // SAFETY: [tail, tail + k) are free slots (the caller's contract) that the consumer
            // does not read before we publish; [start, start + first) and [0, rest) are those
            // slots in order, and `src` holds `k` items the caller no longer owns.
            unsafe {
                std::ptr::copy_nonoverlapping(src, base.add(start), first);
                std::ptr::copy_nonoverlapping(src.add(first), base, rest);
            }
        }
        // loom tracks each slot's cell: one at a time.
        #[cfg(fanring_loom)]
        for j in 0..k {
            // SAFETY: `src` holds `k` items the caller no longer owns; each is read once.
            self.write(self.tail.wrapping_add(j), unsafe { src.add(j).read() });
        }
        self.tail = self.tail.wrapping_add(k);
        // The slots of the next run (released by the consumer, as far as we know) start on
        // their way while this one is published.
        if k > 1 {
            self.shared.prefetch(self.tail, self.free_cached(), true);
        }
    }

    /// Stages `k` items made by `item(j)`, `j` in `0..k` (not published).
    ///
    /// # Safety
    /// `k <= self.free_cached()`.
    #[inline]
    pub(crate) unsafe fn stage_with(&mut self, k: usize, mut item: impl FnMut(usize) -> T) {
        debug_assert!(k <= self.free_cached());
        for j in 0..k {
            // The slot at `tail` is free (the caller's contract, one slot per item).
            self.write(self.tail, item(j));
            self.tail = self.tail.wrapping_add(1);
        }
    }
}

/// Commits the items written by a batch when the batch ends or unwinds.
struct Batch<'a, T>(&'a mut Producer<T>);

impl<T> Drop for Batch<'_, T> {
    fn drop(&mut self) {
        self.0.commit();
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .field("wait", &self.wait)
            .finish()
    }
}

impl<T> Producer<T> {
    /// Whether the consumer has announced a park (a hint, see `WakeSlot::is_announced`): a
    /// publish now would have to wake it.
    pub(crate) fn peer_parked(&self) -> bool {
        self.shared.consumer.wake.is_announced()
    }

    /// Where to wait for the consumer to close the ring, and for nothing else: its releases
    /// of slots do not wake this (a worker waiting for input watches its output ring so).
    pub(crate) fn on_close(&self) -> &WakeSlot {
        &self.shared.producer.close_wake
    }
}

impl<T> Park for Producer<T> {
    fn announce(&self) {
        self.shared.producer.wake.announce();
    }
    fn withdraw(&self) {
        self.shared.producer.wake.withdraw();
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        self.shared.producer.wake.announce_task(waker);
    }
}

/// Why a single-item push found no slot (the value is handed back by the caller).
#[derive(Clone, Copy, Debug)]
enum NoRoom {
    Full,
    Closed,
}

impl NoRoom {
    #[inline]
    fn with<T>(self, value: T) -> PushError<T> {
        match self {
            NoRoom::Full => PushError::Full(value),
            NoRoom::Closed => PushError::Closed(value),
        }
    }
}

/// The out-of-line part of [`Producer::refresh`]: `Some(limit)` with the new `limit` (the
/// consumer's `head` plus the capacity; equal to `tail` if the ring is still full), or `None`
/// if either side closed. If `block`, waits by the ring's strategy while it is full.
#[cold]
#[inline(never)]
fn find_room<T>(shared: &Shared<T>, tail: usize, closed: bool, block: bool) -> Option<usize> {
    room(shared, tail, closed, block, None)
}

/// [`find_room`], waiting at most until `deadline`.
#[cold]
#[inline(never)]
fn find_room_until<T>(
    shared: &Shared<T>,
    tail: usize,
    closed: bool,
    deadline: Instant,
) -> Option<usize> {
    room(shared, tail, closed, true, Some(deadline))
}

#[inline]
fn room<T>(
    shared: &Shared<T>,
    tail: usize,
    closed: bool,
    block: bool,
    deadline: Option<Instant>,
) -> Option<usize> {
    if closed {
        return None;
    }
    let attempt = || {
        // Relaxed: pairs with the Release store in `Consumer::close`; only a flag (as in
        // `is_closed`).
        if shared.consumer.closed.load(Relaxed) {
            return Some(None);
        }
        let limit = shared.limit_for(tail);
        (limit != tail).then_some(Some(limit))
    };
    if block {
        wait_until(shared.wait, &shared.producer.wake, deadline, attempt)
    } else {
        attempt()
    }
    .unwrap_or(Some(tail))
}

/// The async side (`async` feature): waits register the task's waker instead of parking.
#[cfg(feature = "async")]
impl<T> Producer<T> {
    /// Waits without blocking the thread until a slot is free: `Ready(Ok(()))` (the next
    /// [`try_push`](Self::try_push) succeeds unless the consumer closes meanwhile),
    /// `Ready(Err(Closed))` if nobody will read, or `Pending` with the task's waker registered
    /// (the consumer's next release or its close wakes it). On a ring whose strategy never
    /// parks, a pending poll wakes its own task at once (see [`Consumer::poll_pop`](crate::ring::Consumer::poll_pop)).
    ///
    /// # Errors
    /// [`Closed`] once the consumer closed or was dropped, or this producer closed.
    pub fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Closed>> {
        use std::task::Poll;
        if self.can_push_cached() {
            return Poll::Ready(Ok(()));
        }
        loop {
            match self.refresh(false, None) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(NoRoom::Closed) => return Poll::Ready(Err(Closed)),
                Err(NoRoom::Full) => {}
            }
            let shared = &*self.shared;
            let (tail, closed) = (self.tail, self.closed);
            let found = crate::wait::task::poll_until_spinning(
                cx,
                &shared.producer.wake,
                self.wait,
                || (room(shared, tail, closed, false, None) != Some(tail)).then_some(()),
            );
            if found.is_pending() {
                return Poll::Pending;
            }
            // Room or a close: the next `refresh` sees which.
        }
    }

    /// [`push`](Self::push) for async code: waits for a free slot without blocking the thread.
    /// Dropping the future before it is ready drops `value` with it (it was never pushed).
    ///
    /// # Errors
    /// `Closed(value)` if nobody will read it.
    pub async fn push_async(&mut self, value: T) -> Result<(), PushError<T>> {
        if std::future::poll_fn(|cx| self.poll_ready(cx))
            .await
            .is_err()
        {
            return Err(PushError::Closed(value));
        }
        // Not `Full`: only this handle fills the ring, and room only grows until it pushes.
        self.try_push(value)
    }
}
