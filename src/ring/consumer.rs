use super::{PopError, Shared};
use crate::loom::sync::atomic::Ordering::*;
use crate::loom::sync::Arc;
use crate::wait::{wait_until, Notifier, Park, WaitStrategy};
use std::fmt;
use std::time::{Duration, Instant};

/// The reading end of a ring. `Send`, not `Clone`: exactly one thread reads.
///
/// Dropping it closes the ring: later pushes return `Closed(v)`, and the items still inside
/// are dropped when the producer is dropped too.
///
/// ```
/// let (mut tx, mut rx) = fanring::channel::<u32>(4).unwrap();
/// tx.try_push(1).unwrap();
/// assert_eq!(rx.try_pop(), Ok(1));
/// assert_eq!(rx.try_pop(), Err(fanring::ring::PopError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_pop(), Err(fanring::ring::PopError::Closed));
/// ```
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Next index we read. Equal to the shared `head` except while taken (moved out but not yet
    /// released) items exist: batches and the engine's merger release once per batch.
    head: usize,
    /// The shared `head` as last stored by `release`, so that it skips a store that would change
    /// nothing. The single-item fast path (`pop_one`) stores `head` without updating this: a
    /// later `release` then stores the same value once more, which is harmless.
    released: usize,
    /// `close()` was called: nothing more will be waited for.
    closed: bool,
    /// `Closed` was returned: it stays the answer.
    ended: bool,
    /// The producer's `tail` as last loaded. It only lags behind the real one, so the items it
    /// implies are a lower bound: reload it only when it says "empty".
    cached_tail: usize,
    wait: WaitStrategy,
    /// How our publishes notify the producer: decided here once from the strategy and the
    /// slot's handshake, so the fast path reads one byte of this handle.
    notify: Notifier,
}

/// Wakes a ring's consumer, if it is parked, from outside the ring (`Consumer::doorbell`): for
/// a thread that published something else the consumer's wait also looks at (the engine's
/// spare), after the `Release` store that publishes it.
pub(crate) struct Doorbell<T>(Arc<Shared<T>>);

impl<T> Doorbell<T> {
    /// The consumer's wake-up handshake, as after a publish (`WakeSlot::notify`).
    pub(crate) fn ring(&self) {
        self.0.consumer.wake.notify();
    }
}

impl<T> Consumer<T> {
    /// A [`Doorbell`] for this consumer.
    pub(crate) fn doorbell(&self) -> Doorbell<T> {
        Doorbell(Arc::clone(&self.shared))
    }

    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        let wait = shared.wait;
        let notify = shared.producer.wake.notifier(wait.can_park());
        Consumer {
            shared,
            head: 0,
            released: 0,
            closed: false,
            ended: false,
            cached_tail: 0,
            wait,
            notify,
        }
    }

    /// How our publishes notify the producer, and whether its slot is asymmetric (for tests).
    #[cfg(all(test, not(fanring_loom), not(feature = "shuttle")))]
    pub(super) fn notify_mode(&self) -> (crate::wait::Notify, bool) {
        (
            self.notify.mode(),
            self.shared.producer.wake.is_asymmetric(),
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

    /// Items ready to read now (a snapshot: the producer may be adding some).
    pub fn len(&self) -> usize {
        // Acquire: pairs with the producer's Release store of `tail`.
        self.shared.tail.load(Acquire).wrapping_sub(self.head)
    }

    /// Whether no item is ready now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the producer closed or was dropped. Items may still be left to read: the
    /// stream has ended when a pop returns [`PopError::Closed`].
    pub fn is_closed(&self) -> bool {
        // Acquire: pairs with the Release store in `Producer::close`.
        self.shared.producer.closed.load(Acquire)
    }

    /// Closes the ring from this side: the producer's pushes fail with `Closed(v)` from now on
    /// and a parked producer is woken. Items already in the ring can still be read; once they
    /// are taken, pops return `Closed` (they never wait again). Dropping the consumer does the
    /// same.
    pub fn close(&mut self) {
        // Items already moved out must not be dropped again with the ring.
        self.release();
        self.closed = true;
        let consumer = &self.shared.consumer;
        // Relaxed load and Release store: only this side writes the flag; the store pairs
        // with the producer's load in `is_closed` (no data depends on it).
        if !consumer.closed.load(Relaxed) {
            consumer.closed.store(true, Release);
            self.shared.producer.wake.notify();
            self.shared.producer.close_wake.notify();
        }
    }

    /// Items ready to read, reloading the producer's `tail` only if the cached copy shows
    /// fewer than `want`.
    ///
    /// # Errors
    /// `Empty` or `Closed` when nothing is ready.
    #[inline]
    fn available(&mut self, want: usize) -> Result<usize, PopError> {
        let mut n = self.cached_tail.wrapping_sub(self.head);
        if n < want {
            if self.ended {
                return Err(PopError::Closed);
            }
            // Acquire: pairs with the producer's Release store of `tail`: the items in the
            // slots before it are initialised and visible.
            self.cached_tail = self.shared.tail.load(Acquire);
            n = self.cached_tail.wrapping_sub(self.head);
            if n == 0 {
                // Acquire: pairs with the Release store in `Producer::close`, which follows
                // the producer's last `tail` store. After our own `close()` nothing more is
                // waited for either (a push racing it is dropped with the ring).
                if !self.closed && !self.shared.producer.closed.load(Acquire) {
                    return Err(PopError::Empty);
                }
                // The producer may have pushed between our `tail` load and its close:
                // re-read `tail` now that the flag is seen (the loom canary removes this).
                self.cached_tail = self.shared.tail.load(Acquire);
                n = self.cached_tail.wrapping_sub(self.head);
                if n == 0 {
                    self.ended = true;
                    return Err(PopError::Closed);
                }
            }
        }
        Ok(n)
    }

    /// Frees the slots of every item moved out so far and wakes a parked producer.
    #[inline]
    pub(crate) fn release(&mut self) {
        if self.head == self.released {
            return;
        }
        let new_head = self.head;
        self.released = new_head;
        // Release: pairs with the producer's Acquire load of `head`: our reads of the slots
        // before it are done before the producer overwrites them.
        self.shared.head.store(new_head, Release);
        self.notify.after_publish(&self.shared.producer.wake);
    }

    #[inline]
    fn read(&self, index: usize) -> T {
        // SAFETY: `index` is in [head, tail): the producer initialised the slot and published
        // it, and will not touch it until we release it. We move the item out exactly once.
        self.shared
            .slot(index)
            .with(|p| unsafe { (*p).assume_init_read() })
    }

    /// Takes the oldest item if there is one. Never blocks. Wakes a parked producer.
    ///
    /// # Errors
    /// `Empty` if nothing is ready; `Closed` once the producer closed and every item has been
    /// taken.
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<u8>(2).unwrap();
    /// assert_eq!(rx.try_pop(), Err(fanring::ring::PopError::Empty));
    /// tx.try_push(3).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_pop(), Ok(3)); // items first,
    /// assert_eq!(rx.try_pop(), Err(fanring::ring::PopError::Closed)); // then the end
    /// ```
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        if self.cached_tail == self.head {
            self.refill(false, None)?;
        }
        Ok(self.pop_one())
    }

    /// Moves the item at `head` out and releases its slot (and any taken before it). The
    /// caller has seen that the cached `tail` is past `head`.
    #[inline]
    fn pop_one(&mut self) -> T {
        let item = self.read(self.head);
        let new_head = self.head.wrapping_add(1);
        self.head = new_head;
        // Release: pairs with the producer's Acquire load of `head`: our read of the slot is
        // done before the producer overwrites it.
        self.shared.head.store(new_head, Release);
        self.notify.after_publish(&self.shared.producer.wake);
        item
    }

    /// The single-item slow path, when the cached `tail` says empty: reloads `tail`, then the
    /// closed flags, waiting for an item if `block` (until `deadline`, if any). On success the
    /// cache shows an item.
    ///
    /// The out-of-line part ([`find_items`]) takes the handle's fields by value and never sees
    /// `&mut self`, so that the compiler can keep `head` and `cached_tail` in registers across
    /// a caller's loop of pops (see `Producer::refresh`).
    // Always: this must never become a call that takes `&mut self` (see above).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn refill(&mut self, block: bool, deadline: Option<Instant>) -> Result<(), PopError> {
        if self.ended {
            return Err(PopError::Closed);
        }
        // Few, small arguments and an `Option<usize>` back (registers only), so that the
        // inlined fast path stays small.
        let found = match deadline {
            None => find_items(&self.shared, self.head, self.closed, block),
            Some(d) => find_items_until(&self.shared, self.head, self.closed, d),
        };
        match found {
            None => Err(PopError::Empty),
            Some(tail) if tail == self.head => {
                self.ended = true;
                Err(PopError::Closed)
            }
            Some(tail) => {
                self.cached_tail = tail;
                Ok(())
            }
        }
    }

    /// Moves up to `max` ready items (no more than `buf` has spare capacity for) to the end of
    /// `buf`, without releasing their slots (see [`release`](Self::release)). Never blocks.
    ///
    /// # Errors
    /// `Empty` or `Closed` when no item is ready.
    #[inline]
    pub(crate) fn take_into(&mut self, buf: &mut Vec<T>, max: usize) -> Result<usize, PopError> {
        let max = max.min(buf.capacity() - buf.len());
        if max == 0 {
            return Ok(0);
        }
        let n = self.available(max)?.min(max);
        #[cfg(not(fanring_loom))]
        {
            self.shared.prefetch(self.head, n, false);
            let (start, first, rest) = self.shared.runs(self.head, n);
            let base = self.shared.base().cast_const();
            let len = buf.len();
            // SAFETY: slots [head, head + n) are initialised and published, and the producer
            // does not touch them until we release them; [start, start + first) and [0, rest)
            // are those slots in order. `buf` has room for `n` more (checked above). The items
            // are moved: `head` passes them right after, so the ring never reads or drops them
            // again.
            unsafe {
                let dst = buf.as_mut_ptr().add(len);
                std::ptr::copy_nonoverlapping(base.add(start), dst, first);
                std::ptr::copy_nonoverlapping(base, dst.add(first), rest);
                buf.set_len(len + n);
            }
            self.head = self.head.wrapping_add(n);
        }
        // loom tracks each slot's cell: one at a time.
        #[cfg(fanring_loom)]
        for _ in 0..n {
            buf.push(self.read(self.head));
            self.head = self.head.wrapping_add(1);
        }
        // The next run, if it is already published, starts on its way while this one is used.
        self.shared
            .prefetch(self.head, self.cached_tail.wrapping_sub(self.head), false);
        Ok(n)
    }

    /// Keeps at most `depth` items in the ring (clamped to 1 ..= capacity): the producer
    /// sees it when it next reloads `head`, and then waits for room beyond it. An engine
    /// worker lowers it when its items take long.
    pub(crate) fn set_depth(&self, depth: usize) {
        // Relaxed: a hint (see `Shared::depth`).
        self.shared
            .depth
            .store(depth, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a pop could make progress now: an item is ready or the producer closed. Reads
    /// the shared state only, so it can run while the slots of several rings are announced on.
    pub(crate) fn ready_hint(&self) -> bool {
        // Acquire: pairs with the producer's Release stores of `tail` and of its closed flag.
        self.shared.tail.load(Acquire) != self.head || self.is_closed()
    }

    /// Releases taken items, then waits by the ring's strategy until an item is ready or the
    /// stream has ended.
    ///
    /// # Errors
    /// [`PopError::Closed`] at the end of the stream.
    pub(crate) fn wait_ready(&mut self) -> Result<(), PopError> {
        self.release();
        match self.available(1) {
            Err(PopError::Empty) => {}
            r => return r.map(drop),
        }
        let (wait, shared) = (self.wait, Arc::clone(&self.shared));
        wait_until(wait, &shared.consumer.wake, None, || {
            match self.available(1) {
                Err(PopError::Empty) => None,
                r => Some(r.map(drop)),
            }
        })
        .unwrap_or(Ok(()))
    }
    /// Takes the oldest item, waiting by the ring's [`WaitStrategy`] while the ring is empty.
    /// Returns `None` once the producer closed and every item has been taken.
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<u8>(2).unwrap();
    /// std::thread::spawn(move || tx.push(42).unwrap());
    /// assert_eq!(rx.pop(), Some(42));
    /// assert_eq!(rx.pop(), None);
    /// ```
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.cached_tail == self.head {
            // Reloads `tail` first, then waits if still empty; `Err` only at the end.
            self.refill(true, None).ok()?;
        }
        Some(self.pop_one())
    }

    /// Like [`pop`](Self::pop), giving up with `Empty` after `timeout`.
    ///
    /// # Errors
    /// `Empty` at the deadline, `Closed` at the end of the stream.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, mut rx) = fanring::channel::<u8>(1).unwrap();
    /// assert_eq!(rx.pop_timeout(Duration::from_millis(1)), Err(fanring::ring::PopError::Empty));
    /// ```
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<T, PopError> {
        if self.cached_tail == self.head {
            self.refill(true, Some(Instant::now() + timeout))?;
        }
        Ok(self.pop_one())
    }

    /// Copies up to `out.len()` ready items into `out`, releasing their slots once. Never
    /// blocks. Returns how many were copied.
    ///
    /// # Errors
    /// `Empty` or `Closed` when no item is ready.
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<u16>(8).unwrap();
    /// tx.try_push_slice(&[1, 2, 3]).unwrap();
    /// let mut out = [0; 2];
    /// assert_eq!(rx.try_pop_slice(&mut out), Ok(2));
    /// assert_eq!(out, [1, 2]);
    /// ```
    pub fn try_pop_slice(&mut self, out: &mut [T]) -> Result<usize, PopError>
    where
        T: Copy,
    {
        if out.is_empty() {
            return Ok(0);
        }
        let n = self.available(out.len())?.min(out.len());
        #[cfg(not(fanring_loom))]
        {
            let (start, first, rest) = self.shared.runs(self.head, n);
            let base = self.shared.base();
            // SAFETY: [head, head + n) are published items (`T: Copy`, so copying moves them);
            // [start, start + first) and [0, rest) are those slots in order; `out` is borrowed
            // mutably, so it cannot overlap the ring's buffer.
            unsafe {
                std::ptr::copy_nonoverlapping(base.add(start), out.as_mut_ptr(), first);
                std::ptr::copy_nonoverlapping(base, out.as_mut_ptr().add(first), rest);
            }
            self.head = self.head.wrapping_add(n);
        }
        // loom tracks each slot's cell: one at a time.
        #[cfg(fanring_loom)]
        for slot in &mut out[..n] {
            *slot = self.read(self.head);
            self.head = self.head.wrapping_add(1);
        }
        self.release();
        Ok(n)
    }

    /// Moves up to `max` ready items, oldest first, into `f`, releasing their slots once at
    /// the end. Never blocks. Returns how many were taken. If `f` panics, the items already
    /// given to it count as taken and the rest stay in the ring.
    ///
    /// # Errors
    /// `Empty` or `Closed` when no item is ready.
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<String>(8).unwrap();
    /// tx.try_push("a".into()).unwrap();
    /// tx.try_push("b".into()).unwrap();
    /// let mut got = Vec::new();
    /// assert_eq!(rx.try_pop_each(16, |s| got.push(s)), Ok(2));
    /// assert_eq!(got, ["a", "b"]);
    /// ```
    pub fn try_pop_each(&mut self, max: usize, mut f: impl FnMut(T)) -> Result<usize, PopError> {
        if max == 0 {
            return Ok(0);
        }
        let n = self.available(max)?.min(max);
        let batch = Taken(self);
        for _ in 0..n {
            let item = batch.0.read(batch.0.head);
            batch.0.head = batch.0.head.wrapping_add(1);
            f(item);
        }
        Ok(n)
    }

    /// Shows up to `max` ready items to `f` as two slices (the second is non-empty when the
    /// items wrap around the end of the buffer), then drops them and releases their slots
    /// once. Never blocks; returns how many were read. If `f` panics, the items stay in the
    /// ring. Not available under the loom cfg (loom tracks slots one at a time).
    ///
    /// # Errors
    /// `Empty` or `Closed` when no item is ready.
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<u64>(4).unwrap();
    /// tx.try_push_slice(&[1, 2, 3]).unwrap();
    /// let mut sum = 0;
    /// rx.read_slices(usize::MAX, |a, b| sum = a.iter().chain(b).sum()).unwrap();
    /// assert_eq!(sum, 6);
    /// ```
    #[cfg(not(fanring_loom))]
    pub fn read_slices(
        &mut self,
        max: usize,
        f: impl FnOnce(&[T], &[T]),
    ) -> Result<usize, PopError> {
        if max == 0 {
            return Ok(0);
        }
        let n = self.available(max)?.min(max);
        let (start, first, rest) = self.shared.runs(self.head, n);
        let base = self.shared.base().cast_const();
        // SAFETY: the shim's `UnsafeCell` is `repr(transparent)` over std's, which is over
        // `MaybeUninit<T>`, so the buffer has the layout of `[T]`. Slots [head, head + n) are
        // initialised and published, and the producer does not touch them until we release
        // them; [start, start + first) and [0, rest) are those slots, in order.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(base.add(start), first),
                std::slice::from_raw_parts(base, rest),
            )
        };
        f(a, b);
        self.head = self.head.wrapping_add(n);
        let batch = Taken(self);
        // SAFETY: the slots are initialised and ours; `batch` releases them even if a drop
        // panics, so none is dropped twice. Unwinding out of `drop_in_place` on a slice still
        // drops the rest of that slice, and `second` drops the other one (as `VecDeque` does).
        unsafe {
            let second = DropSlice(std::ptr::from_ref(b).cast_mut());
            std::ptr::drop_in_place(std::ptr::from_ref(a).cast_mut());
            drop(second);
        }
        drop(batch);
        Ok(n)
    }

    /// A blocking iterator over the items, ending when the stream ends (see [`pop`](Self::pop)).
    ///
    /// ```
    /// let (mut tx, mut rx) = fanring::channel::<u8>(4).unwrap();
    /// tx.try_push_slice(&[1, 2]).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn iter(&mut self) -> Iter<'_, T> {
        Iter { consumer: self }
    }
}

/// Releases the items moved out by a batch read when the batch ends or unwinds, so each is
/// counted as taken exactly once.
struct Taken<'a, T>(&'a mut Consumer<T>);

impl<T> Drop for Taken<'_, T> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Drops a slice of taken items when dropped, also while unwinding from another drop.
#[cfg(not(fanring_loom))]
struct DropSlice<T>(*mut [T]);

#[cfg(not(fanring_loom))]
impl<T> Drop for DropSlice<T> {
    fn drop(&mut self) {
        // SAFETY: built in `read_slices` over initialised slots that the consumer owns and
        // releases afterwards; dropped exactly once.
        unsafe { std::ptr::drop_in_place(self.0) }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .field("wait", &self.wait)
            .finish()
    }
}

/// Blocking iterator borrowed from a [`Consumer`]; see [`Consumer::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    consumer: &'a mut Consumer<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.consumer.pop()
    }
}

/// Blocking iterator that owns a [`Consumer`]; see [`Consumer::iter`].
#[derive(Debug)]
pub struct IntoIter<T> {
    consumer: Consumer<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.consumer.pop()
    }
}

impl<T> IntoIterator for Consumer<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { consumer: self }
    }
}

impl<T> Park for Consumer<T> {
    fn announce(&self) {
        self.shared.consumer.wake.announce();
    }
    fn withdraw(&self) {
        self.shared.consumer.wake.withdraw();
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        self.shared.consumer.wake.announce_task(waker);
    }
}

/// The out-of-line part of [`Consumer::refill`]: `Some(tail)` with the producer's `tail` once
/// it is past `head`, `Some(head)` once the stream has ended (the producer closed, or we did,
/// and nothing is left), `None` if nothing is ready. If `block`, waits by the ring's strategy
/// while it is empty.
#[cold]
#[inline(never)]
fn find_items<T>(shared: &Shared<T>, head: usize, closed: bool, block: bool) -> Option<usize> {
    items(shared, head, closed, block, None)
}

/// [`find_items`], waiting at most until `deadline`.
#[cold]
#[inline(never)]
fn find_items_until<T>(
    shared: &Shared<T>,
    head: usize,
    closed: bool,
    deadline: Instant,
) -> Option<usize> {
    items(shared, head, closed, true, Some(deadline))
}

#[inline]
fn items<T>(
    shared: &Shared<T>,
    head: usize,
    closed: bool,
    block: bool,
    deadline: Option<Instant>,
) -> Option<usize> {
    let attempt = || {
        // Acquire: pairs with the producer's Release store of `tail`: the items in the slots
        // before it are initialised and visible.
        let tail = shared.tail.load(Acquire);
        if tail != head {
            return Some(tail);
        }
        // Acquire: pairs with the Release store in `Producer::close`, which follows the
        // producer's last `tail` store. After our own `close()` nothing more is waited for
        // either (a push racing it is dropped with the ring).
        if !closed && !shared.producer.closed.load(Acquire) {
            return None;
        }
        // The producer may have pushed between our `tail` load and its close: re-read `tail`
        // now that the flag is seen (`head` if still nothing: the end).
        Some(shared.tail.load(Acquire))
    };
    if block {
        wait_until(shared.wait, &shared.consumer.wake, deadline, attempt)
    } else {
        attempt()
    }
}

/// The async side (`async` feature): waits register the task's waker instead of parking.
#[cfg(feature = "async")]
impl<T> Consumer<T> {
    /// Takes the oldest item without blocking the thread: `Ready(Some(item))`, `Ready(None)`
    /// once the producer closed and every item has been taken, or `Pending` with the task's
    /// waker registered (the producer's next publish or its close wakes it). Only the waker of
    /// the latest call is woken.
    ///
    /// On a ring whose strategy never parks (`BusySpin`, `SpinYield`), publishers skip the
    /// wake-up check, so a pending poll instead wakes its own task at once: the task yields to
    /// the executor and is polled again (the async form of spinning).
    pub fn poll_pop(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        use std::task::Poll;
        loop {
            match self.try_pop() {
                Ok(v) => return Poll::Ready(Some(v)),
                Err(PopError::Closed) => return Poll::Ready(None),
                Err(PopError::Empty) => {}
            }
            let shared = &*self.shared;
            let (head, closed) = (self.head, self.closed);
            let found = crate::wait::task::poll_until_spinning(
                cx,
                &shared.consumer.wake,
                self.wait,
                || items(shared, head, closed, false, None),
            );
            if found.is_pending() {
                return Poll::Pending;
            }
            // An item or the end is there: the next `try_pop` takes it or says so.
        }
    }

    /// [`pop`](Self::pop) for async code: waits for an item without blocking the thread.
    /// `None` at the end of the stream. Dropping the future before it is ready takes nothing.
    ///
    /// ```
    /// # #[cfg(feature = "async")] {
    /// use std::future::Future;
    /// let (mut tx, mut rx) = fanring::channel::<u8>(2).unwrap();
    /// tx.push(7).unwrap();
    /// drop(tx);
    /// let waker = std::task::Waker::noop();
    /// let mut cx = std::task::Context::from_waker(&waker);
    /// let mut next = std::pin::pin!(rx.pop_async());
    /// assert_eq!(next.as_mut().poll(&mut cx), std::task::Poll::Ready(Some(7)));
    /// # }
    /// ```
    pub async fn pop_async(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_pop(cx)).await
    }
}

/// The items as a `Stream` (`async` feature): [`Consumer::poll_pop`].
#[cfg(feature = "async")]
impl<T> futures_core::Stream for Consumer<T> {
    type Item = T;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.get_mut().poll_pop(cx)
    }
}
