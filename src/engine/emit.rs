//! A worker's output side: its output ring (plain or tagged), the local buffer outputs gather
//! in, and [`Emit`], through which the work function sends them.

use super::wire::{Mark, Tagged};
use crate::error::try_buffer;
use crate::ring::{Closed, Producer};
use crate::stats::WorkerStats;
use crate::wait::Park;
use crate::BuildError;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// A worker's output ring: plain outputs, or outputs tagged with their input's sequence number.
pub(crate) enum OutRing<U> {
    Plain(Producer<U>),
    Tagged(Producer<Tagged<Mark<U>>>),
}

impl<U> OutRing<U> {
    pub(crate) fn commit(&mut self) {
        match self {
            OutRing::Plain(p) => p.commit(),
            OutRing::Tagged(p) => p.commit(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        match self {
            OutRing::Plain(p) => p.is_closed(),
            OutRing::Tagged(p) => p.is_closed(),
        }
    }
}

impl<U> Park for OutRing<U> {
    fn announce(&self) {
        match self {
            OutRing::Plain(p) => p.announce(),
            OutRing::Tagged(p) => p.announce(),
        }
    }
    fn withdraw(&self) {
        match self {
            OutRing::Plain(p) => p.withdraw(),
            OutRing::Tagged(p) => p.withdraw(),
        }
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        match self {
            OutRing::Plain(p) => p.announce_task(waker),
            OutRing::Tagged(p) => p.announce_task(waker),
        }
    }
}

/// A worker's output ring with the local buffer its outputs gather in: they move to the ring
/// one run at a time, with one copy.
pub(crate) struct OutBuf<U> {
    pub(crate) ring: OutRing<U>,
    /// Outputs not yet in the ring (one of the two is used, by the ring's kind).
    plain: Vec<U>,
    tagged: Vec<Tagged<Mark<U>>>,
}

impl<U> OutBuf<U> {
    /// Reserved fallibly, on the thread that builds the engine (a refusal on the worker's
    /// thread could only abort).
    ///
    /// # Errors
    /// [`BuildError::Alloc`] if the memory is refused.
    pub(crate) fn try_new(ring: OutRing<U>, batch: usize) -> Result<Self, BuildError> {
        let (p, t) = match ring {
            OutRing::Plain(_) => (batch, 0),
            OutRing::Tagged(_) => (0, batch),
        };
        // `batch` is at least 1; the unused buffer stays unallocated.
        Ok(OutBuf {
            ring,
            plain: try_buffer(p, "worker's output buffer")?,
            tagged: try_buffer(t, "worker's output buffer")?,
        })
    }

    /// Moves the buffered outputs to the ring (staged), waiting (after publishing) while it is
    /// full. `false`: the ring is closed; the outputs are dropped.
    pub(crate) fn flush(&mut self, stats: &mut WorkerStats) -> bool {
        match &mut self.ring {
            OutRing::Plain(p) => move_all(p, &mut self.plain, stats),
            OutRing::Tagged(p) => move_all(p, &mut self.tagged, stats),
        }
    }
}

/// Moves every item of `buf` into `p`, waiting for room. `false` (and `buf` emptied, its items
/// dropped here, once): `p` is closed.
fn move_all<W>(p: &mut Producer<W>, buf: &mut Vec<W>, stats: &mut WorkerStats) -> bool {
    while !buf.is_empty() {
        match p.reserve() {
            Ok(0) => {
                stats.waits_full += 1;
                if p.wait_space().is_err() {
                    buf.clear();
                    return false;
                }
            }
            Ok(free) => {
                let k = free.min(buf.len());
                // SAFETY: `reserve` just counted `free >= k` free slots; `k <= buf.len()`.
                unsafe { p.stage_moved(buf, k) };
            }
            Err(Closed) => {
                buf.clear();
                return false;
            }
        }
    }
    true
}

/// Where a worker's function sends its outputs (the `stateful` form receives it).
///
/// Outputs are published once per input batch; a full output ring makes `push` wait. Once the
/// merged stream is gone, `push` drops its item and [`is_closed`](Self::is_closed) turns true.
pub struct Emit<'a, U> {
    out: &'a mut OutBuf<U>,
    /// The output ring carries plain items (`out.plain` is the buffer), not tagged ones.
    plain: bool,
    /// Plain: `out.plain`'s pointer, length and capacity, kept here rather than in the `Vec`
    /// so that the compiler keeps them in registers across a batch (`Vec::push` through
    /// `out` would store and reload the length for every item: nothing tells the compiler
    /// that the item's store cannot overwrite it). The length is written back to the `Vec`
    /// before `out` is used (`flush`) and when the `Emit` is dropped, so a panicking function
    /// leaves the buffered outputs to the `Vec` to drop. Unused (empty) when tagged.
    ptr: *mut U,
    len: usize,
    cap: usize,
    pub(crate) seq: usize,
    /// Tagged and one output per input: `push` sends `Mark::Last`.
    last: bool,
    pub(crate) closed: bool,
    stats: &'a mut WorkerStats,
}

impl<'a, U> Emit<'a, U> {
    pub(crate) fn new(
        out: &'a mut OutBuf<U>,
        last: bool,
        closed: bool,
        stats: &'a mut WorkerStats,
    ) -> Self {
        let plain = matches!(out.ring, OutRing::Plain(_));
        let (ptr, len, cap) = (
            out.plain.as_mut_ptr(),
            out.plain.len(),
            out.plain.capacity(),
        );
        Emit {
            out,
            plain,
            ptr,
            len,
            cap,
            seq: 0,
            last,
            closed,
            stats,
        }
    }

    /// Sends one output.
    #[inline]
    pub fn push(&mut self, item: U) {
        if self.closed {
            return; // the merged stream is gone: `item` is dropped here, once
        }
        if self.plain {
            if self.len == self.cap && !self.flush() {
                return;
            }
            // SAFETY: `len < cap`: the slot after the buffered outputs is spare capacity of
            // `out.plain` (`ptr` is its buffer, re-read after every `flush`).
            unsafe { self.ptr.add(self.len).write(item) };
            self.len += 1;
        } else {
            if self.out.tagged.len() == self.out.tagged.capacity() && !self.flush() {
                return;
            }
            let mark = if self.last {
                Mark::Last(item)
            } else {
                Mark::Item(item)
            };
            self.out.tagged.push(Tagged(self.seq, mark));
            self.stats.items_out += 1;
        }
    }

    /// Whether the merged stream is gone (outputs are dropped from now on).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Moves the buffered outputs to the ring. `false`: it is closed.
    #[inline]
    pub(crate) fn flush(&mut self) -> bool {
        if self.closed {
            return false;
        }
        if self.plain {
            self.stats.items_out += self.len as u64;
            // SAFETY: the first `len` slots of the buffer hold the outputs pushed so far.
            unsafe { self.out.plain.set_len(self.len) };
        }
        // Out of line, and given `out` and `stats` but never `self`, so that nothing can reach
        // `len` behind the compiler's back (see the fields). On a closed ring it drops the
        // outputs, and one's `Drop` may panic: the `Vec`'s length is then the truth (the
        // outputs it still counts), so ours is re-read before the panic goes on; otherwise
        // `drop` would write back the old length and the dropped outputs would be dropped
        // again.
        let r = catch_unwind(AssertUnwindSafe(|| flush_out(self.out, self.stats)));
        if self.plain {
            self.ptr = self.out.plain.as_mut_ptr();
            self.len = self.out.plain.len();
        }
        let ok = r.unwrap_or_else(|p| resume_unwind(p));
        self.closed = !ok;
        ok
    }

    /// Tagged, several outputs per input: marks the end of the current input's outputs.
    pub(crate) fn end(&mut self) {
        if self.closed {
            return;
        }
        if self.out.tagged.len() == self.out.tagged.capacity() && !self.flush() {
            return;
        }
        self.out.tagged.push(Tagged(self.seq, Mark::End));
    }
}

impl<U> Drop for Emit<'_, U> {
    #[inline]
    fn drop(&mut self) {
        if self.plain {
            // SAFETY: as in `flush`: the buffer's first `len` slots hold outputs, which the
            // `Vec` now owns (and drops, if nothing moves them to the ring).
            unsafe { self.out.plain.set_len(self.len) };
        }
    }
}

/// [`Emit::flush`]'s out-of-line part. `false`: the ring is closed (the outputs were dropped).
#[inline(never)]
fn flush_out<U>(out: &mut OutBuf<U>, stats: &mut WorkerStats) -> bool {
    out.flush(stats)
}
