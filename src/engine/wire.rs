//! What travels on the engine's rings: plain items when no order has to be restored (or when
//! round-robin rotation restores it); items tagged with their input sequence number otherwise.

use crate::Producer;

/// An item on a worker's input ring.
pub(crate) trait InWire<T>: Send + 'static {
    fn wrap(seq: usize, item: T) -> Self;
    fn unwrap(self) -> (usize, T);

    /// Stages the first `k` items of `buf` (numbered from `seq`) into `p` and removes them
    /// from `buf`.
    ///
    /// # Safety
    /// As [`Producer::stage_moved`]: `k <= buf.len()` reserved slots are free.
    unsafe fn stage_from(p: &mut Producer<Self>, buf: &mut Vec<T>, k: usize, seq: usize)
    where
        Self: Sized;
}

/// An item with the sequence number of its input.
pub(crate) struct Tagged<T>(pub(crate) usize, pub(crate) T);

/// A plain item is its own wire (coherent beside `Tagged<T>`: `T = Tagged<T>` has no solution).
impl<T: Send + 'static> InWire<T> for T {
    #[inline]
    fn wrap(_seq: usize, item: T) -> Self {
        item
    }
    #[inline]
    fn unwrap(self) -> (usize, T) {
        (0, self)
    }
    #[inline]
    unsafe fn stage_from(p: &mut Producer<Self>, buf: &mut Vec<T>, k: usize, _seq: usize) {
        // SAFETY: the caller's contract is `stage_moved`'s. Plain items move as one copy.
        unsafe { p.stage_moved(buf, k) };
    }
}

impl<T: Send + 'static> InWire<T> for Tagged<T> {
    #[inline]
    fn wrap(seq: usize, item: T) -> Self {
        Tagged(seq, item)
    }
    #[inline]
    fn unwrap(self) -> (usize, T) {
        (self.0, self.1)
    }
    #[inline]
    unsafe fn stage_from(p: &mut Producer<Self>, buf: &mut Vec<T>, k: usize, seq: usize) {
        for (j, item) in buf.drain(..k).enumerate() {
            // SAFETY: the caller reserved `k` free slots; each item takes one.
            unsafe { p.stage_reserved(Tagged(seq.wrapping_add(j), item)) };
        }
    }
}

/// A tagged output: one of an input's outputs, its last one, or the end of its outputs.
pub(crate) enum Mark<U> {
    /// An output; more may follow for the same input.
    Item(U),
    /// The input's only (or last) output (what `map` sends).
    Last(U),
    /// The input produced all its outputs (possibly none).
    End,
}
