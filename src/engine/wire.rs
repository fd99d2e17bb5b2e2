//! What travels on the engine's rings: plain items when no order has to be restored (or when
//! round-robin rotation restores it); items tagged with their input sequence number otherwise.

use crate::ring::Producer;

/// An item on a worker's input ring.
pub(crate) trait InWire<T>: Send + 'static {
    fn wrap(seq: usize, item: T) -> Self;
    fn unwrap(self) -> (usize, T);

    /// Stages the `k` items at `src` (numbered from `seq`) into `p`, taking them over.
    ///
    /// # Safety
    /// As [`Producer::stage_copied`]: `k <= p.free_cached()`, and `src` points to `k` items
    /// that the caller gives up.
    unsafe fn stage_from(p: &mut Producer<Self>, src: *const T, k: usize, seq: usize)
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
    unsafe fn stage_from(p: &mut Producer<Self>, src: *const T, k: usize, _seq: usize) {
        // SAFETY: the caller's contract is `stage_copied`'s. Plain items move as one copy.
        unsafe { p.stage_copied(src, k) };
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
    unsafe fn stage_from(p: &mut Producer<Self>, src: *const T, k: usize, seq: usize) {
        // SAFETY: `k <= p.free_cached()` (the caller's contract), and the caller gave up the
        // `k` items at `src`: each is read once, and nothing here can panic between the reads.
        unsafe { p.stage_with(k, |j| Tagged(seq.wrapping_add(j), src.add(j).read())) };
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
    /// An output of a worker's end-of-stream hook: it belongs to no input, and comes after
    /// every input's outputs (its sequence number means nothing).
    Tail(U),
}
