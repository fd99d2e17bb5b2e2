//! The raw-pointer cursors outside the ring, each behind a safe type: [`Unsent`] (the items of
//! a distributor's buffer not yet moved into a ring), and [`LocalQueue`] / [`RunCursor`] (a
//! run of merged items handed out one at a time).

use crate::BuildError;
use std::marker::PhantomData;

/// Items moved out of the rings with one copy, handed out one at a time: a buffer, and a
/// [`RunCursor`] over the items of its last fill.
pub(crate) struct LocalQueue<U> {
    /// Declared first: the items still owned are dropped before `items` frees the buffer.
    run: RunCursor<U>,
    /// The buffer; its length is 0 except inside [`fill`](Self::fill).
    items: Vec<U>,
}

impl<U> LocalQueue<U> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        LocalQueue {
            run: RunCursor::empty(),
            items: Vec::with_capacity(n.max(1)),
        }
    }

    /// As [`with_capacity`](Self::with_capacity), reserved fallibly.
    ///
    /// # Errors
    /// [`BuildError::Alloc`] if the memory is refused.
    pub(crate) fn try_with_capacity(n: usize) -> Result<Self, BuildError> {
        Ok(LocalQueue {
            run: RunCursor::empty(),
            items: crate::error::try_buffer(n.max(1), "merged stream's buffer")?,
        })
    }

    /// Drops the items not handed out yet.
    pub(crate) fn clear(&mut self) {
        drop(std::mem::replace(&mut self.run, RunCursor::empty()));
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<U> {
        self.run.pop()
    }

    /// Items not handed out yet.
    pub(crate) fn len(&self) -> usize {
        self.run.len()
    }

    /// Refills the queue with what `f` pushes into its (empty) buffer, and returns what `f`
    /// returned. Call only when `pop` returned `None` (checked in debug builds). Safe: a
    /// cursor taken with [`take_run`](Self::take_run), whose items sit in the same buffer, is
    /// empty or dropped by now, as `take_run`'s contract says.
    #[inline]
    pub(crate) fn fill<R>(&mut self, f: impl FnOnce(&mut Vec<U>) -> R) -> R {
        debug_assert_eq!(self.run.len(), 0);
        debug_assert!(self.items.is_empty());
        let r = f(&mut self.items);
        let len = self.items.len();
        // SAFETY: the cursor takes over the `len` items just pushed; `set_len(0)` first, so
        // the `Vec` never drops them (the cursor does, or hands them out).
        unsafe { self.items.set_len(0) };
        self.run = RunCursor {
            base: self.items.as_mut_ptr(),
            next: 0,
            len,
            _owns: PhantomData,
        };
        r
    }

    /// Hands every item still queued here to a [`RunCursor`]; the queue forgets them.
    ///
    /// # Safety
    /// The cursor points into this queue's buffer: the caller empties or drops it before
    /// this queue is [`fill`](Self::fill)ed again or dropped (else the refill overwrites, or
    /// the drop frees, items the cursor still owns).
    pub(crate) unsafe fn take_run(&mut self) -> RunCursor<U> {
        std::mem::replace(&mut self.run, RunCursor::empty())
    }
}

/// A run of merged items owned by a merged-stream iterator ([`Output`](crate::Output),
/// [`Driven`](crate::Driven)) and handed out one at a time by its `next`.
///
/// It sits in the iterator itself, while everything the iterator's slow path uses sits behind
/// a `Box`; the slow path is given that `Box`'s contents, never a pointer to the iterator. So
/// nothing the compiler cannot see can write the cursor, and it keeps `next` in a register
/// across a caller's loop, instead of storing and reloading it for every item.
///
/// It points into the buffer of the [`LocalQueue`] it was taken from ([`LocalQueue::take_run`]),
/// which its owner keeps alive (the cursor is dropped first) and does not refill before the
/// cursor is empty (it refills only when `pop` returned `None`).
pub(crate) struct RunCursor<U> {
    base: *mut U,
    next: usize,
    len: usize,
    _owns: PhantomData<U>,
}

// SAFETY: the cursor owns the items `base[next..len]` (like a `Vec<U>` would) and nothing else;
// the buffer they sit in is not touched by anyone else while they are there (see the type).
unsafe impl<U: Send> Send for RunCursor<U> {}

// SAFETY: `&RunCursor` only reads the two counters.
unsafe impl<U: Sync> Sync for RunCursor<U> {}

// Like a `Vec<U>`: the items live in a heap buffer and are only ever moved out, never pinned,
// so moving the cursor (an `Output` or `Merged` polled as a `Stream`) moves no item.
impl<U> Unpin for RunCursor<U> {}

impl<U> RunCursor<U> {
    /// A cursor with no items.
    pub(crate) fn empty() -> Self {
        RunCursor {
            base: std::ptr::NonNull::dangling().as_ptr(),
            next: 0,
            len: 0,
            _owns: PhantomData,
        }
    }

    /// The next item of the run, if any.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<U> {
        if self.next < self.len {
            // SAFETY: `base[next]` is an item still owned here (`next < len`); `next` passes
            // it, so it is neither read nor dropped here again.
            let u = unsafe { self.base.add(self.next).read() };
            self.next += 1;
            Some(u)
        } else {
            None
        }
    }

    /// Items not handed out yet.
    pub(crate) fn len(&self) -> usize {
        self.len - self.next
    }

    /// Moves up to `max` of the run's items to the end of `buf` with one copy; returns how
    /// many.
    pub(crate) fn move_into(&mut self, buf: &mut Vec<U>, max: usize) -> usize {
        let k = self.len().min(max);
        buf.reserve(k);
        // SAFETY: `base[next..next + k]` are items still owned here (`k <= len - next`);
        // they are copied into `buf`'s spare capacity (`reserve`d, and a different
        // allocation), which then owns them, and `next` passes them, so they are neither
        // read nor dropped here again.
        unsafe {
            let end = buf.as_mut_ptr().add(buf.len());
            std::ptr::copy_nonoverlapping(self.base.add(self.next), end, k);
            buf.set_len(buf.len() + k);
        }
        self.next += k;
        k
    }
}

impl<U> Drop for RunCursor<U> {
    #[inline]
    fn drop(&mut self) {
        if self.next < self.len {
            // SAFETY: `base[next..len]` are the items still owned here; a panicking `Drop`
            // still drops the rest of the slice. `next = len` first: nothing is dropped twice.
            unsafe {
                let rest = std::ptr::slice_from_raw_parts_mut(
                    self.base.add(self.next),
                    self.len - self.next,
                );
                self.next = self.len;
                std::ptr::drop_in_place(rest);
            }
        }
    }
}

/// The items of a buffer not yet moved out of its front. While it lives, the buffer's length
/// is 0, so nothing else can reach (or drop) an item that already moved; when it is dropped
/// (unwinding included) the items left move to the front of the buffer, once, and the buffer
/// owns them again.
pub(crate) struct Unsent<'a, T> {
    buf: &'a mut Vec<T>,
    len: usize,
    taken: usize,
}

impl<'a, T> Unsent<'a, T> {
    pub(crate) fn new(buf: &'a mut Vec<T>) -> Self {
        let len = buf.len();
        // SAFETY: the `len` items stay initialised in the buffer; `Unsent` owns them now.
        unsafe { buf.set_len(0) };
        Unsent { buf, len, taken: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len - self.taken
    }

    pub(crate) fn as_ptr(&self) -> *const T {
        // In bounds: `taken <= len <= capacity`.
        self.buf.as_ptr().wrapping_add(self.taken)
    }

    pub(crate) fn first(&self) -> Option<&T> {
        // SAFETY: items [taken, len) are initialised and owned by `self`.
        (self.taken < self.len).then(|| unsafe { &*self.as_ptr() })
    }

    /// Forgets the first `k` items left (they were moved out).
    ///
    /// # Safety
    /// `k <= self.len()`, and those items were moved out (they are not dropped here).
    pub(crate) unsafe fn take(&mut self, k: usize) {
        debug_assert!(k <= self.len());
        self.taken += k;
    }
}

impl<T> Drop for Unsent<'_, T> {
    fn drop(&mut self) {
        let left = self.len();
        let p = self.buf.as_mut_ptr();
        // SAFETY: [taken, len) are the initialised items left; they move (overlapping copy)
        // to [0, left), and the buffer owns exactly those again.
        unsafe {
            std::ptr::copy(p.add(self.taken), p, left);
            self.buf.set_len(left);
        }
    }
}

/// Appends to a `Vec`'s spare capacity with its pointer, length and capacity in a cursor of
/// their own rather than in the `Vec`, so that a caller's loop keeps them in registers
/// (`Vec::push` through a `&mut` would store and reload the length for every item: nothing
/// tells the compiler that the item's store cannot overwrite it). What the worker's `Emit`
/// writes its plain outputs with.
///
/// While it is in use, the `Vec` it was made [`over`](Self::over) must not be touched: its
/// length is stale until [`store_into`](Self::store_into) writes it back.
pub(crate) struct VecWriter<U> {
    ptr: *mut U,
    len: usize,
    cap: usize,
}

impl<U> VecWriter<U> {
    /// A writer that appends to `vec` until it holds `limit` items or is full (a `vec` that
    /// holds `limit` or more already takes none; `usize::MAX`: until it is full).
    ///
    /// # Safety
    /// Until [`store_into`](Self::store_into) is called with the same `vec`, `vec` is not
    /// used (not moved, grown, read or dropped), and then `store_into` is called before it
    /// is; the writer is not used after `vec` was touched without a new `over`.
    pub(crate) unsafe fn over(vec: &mut Vec<U>, limit: usize) -> Self {
        // `len <= cap <= capacity`: `try_push` writes only spare capacity.
        VecWriter {
            ptr: vec.as_mut_ptr(),
            len: vec.len(),
            cap: vec.capacity().min(limit).max(vec.len()),
        }
    }

    /// An empty writer over nothing (capacity 0: every `try_push` fails).
    pub(crate) fn none() -> Self {
        VecWriter {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
            cap: 0,
        }
    }

    /// Items in the `Vec`, counting those written here.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `item`, or gives it back if the `Vec` is full.
    // Always: a worker's per-item path (see `Emit::push`).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn try_push(&mut self, item: U) -> Result<(), U> {
        if self.len == self.cap {
            return Err(item);
        }
        // SAFETY: `len < cap`: the slot is spare capacity of the `Vec` the writer is over,
        // which nobody else touches meanwhile (see `over`).
        unsafe { self.ptr.add(self.len).write(item) };
        self.len += 1;
        Ok(())
    }

    /// Writes the length back to `vec` (the one this writer is over), which then owns the
    /// items written.
    ///
    /// # Safety
    /// `vec` is the `Vec` given to [`over`](Self::over), untouched since.
    #[inline]
    pub(crate) unsafe fn store_into(&self, vec: &mut Vec<U>) {
        debug_assert_eq!(vec.as_mut_ptr(), self.ptr);
        // SAFETY: its first `len` slots hold items (those it had, and those written here).
        unsafe { vec.set_len(self.len) };
    }
}

#[cfg(test)]
mod writer_tests {
    use super::VecWriter;

    #[test]
    fn a_writer_stops_at_its_limit_or_the_capacity() {
        let mut v: Vec<u32> = Vec::with_capacity(8);
        // SAFETY: `v` is untouched until `store_into`.
        let mut w = unsafe { VecWriter::over(&mut v, 3) };
        assert_eq!((0..5).filter(|&i| w.try_push(i).is_ok()).count(), 3);
        // SAFETY: the same `v`, untouched.
        unsafe { w.store_into(&mut v) };
        assert_eq!(v, [0, 1, 2]);
        // Holding the limit already: it takes none; past the capacity: only to it.
        // SAFETY: as above.
        let mut w = unsafe { VecWriter::over(&mut v, 2) };
        assert!(w.try_push(9).is_err());
        // SAFETY: as above.
        unsafe { w.store_into(&mut v) };
        let cap = v.capacity();
        // SAFETY: as above.
        let mut w = unsafe { VecWriter::over(&mut v, usize::MAX) };
        assert_eq!((0..100).filter(|&i| w.try_push(i).is_ok()).count(), cap - 3);
        // SAFETY: as above.
        unsafe { w.store_into(&mut v) };
        assert_eq!(v.len(), cap);
    }
}
