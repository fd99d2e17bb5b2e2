//! A worker's output side: its output ring (plain or tagged), the local buffer outputs gather
//! in, and [`Emit`], through which the work function sends them.

use super::wire::{Mark, Tagged};
use crate::cursor::VecWriter;
use crate::error::try_buffer;
use crate::ring::{Closed, Producer};
use crate::stats::WorkerStats;
use crate::wait::WakeSlot;
use crate::BuildError;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// A worker's output ring with the local buffer its outputs gather in (they move to the ring
/// one run at a time, with one copy): plain outputs, or outputs tagged with their input's
/// sequence number. The one place the worker's side of plain and tagged differs.
pub(crate) enum OutBuf<U> {
    Plain(Producer<U>, Vec<U>),
    Tagged(Producer<Tagged<Mark<U>>>, Vec<Tagged<Mark<U>>>),
}

impl<U> OutBuf<U> {
    /// Plain outputs; the buffer reserved fallibly, on the thread that builds the engine (a
    /// refusal on the worker's thread could only abort).
    ///
    /// # Errors
    /// [`BuildError::Alloc`] if the memory is refused.
    pub(crate) fn plain(ring: Producer<U>, batch: usize) -> Result<Self, BuildError> {
        Ok(OutBuf::Plain(
            ring,
            try_buffer(batch, "worker's output buffer")?,
        ))
    }

    /// Tagged outputs, as [`plain`](Self::plain).
    ///
    /// # Errors
    /// As [`plain`](Self::plain).
    pub(crate) fn tagged(
        ring: Producer<Tagged<Mark<U>>>,
        batch: usize,
    ) -> Result<Self, BuildError> {
        Ok(OutBuf::Tagged(
            ring,
            try_buffer(batch, "worker's output buffer")?,
        ))
    }

    pub(crate) fn is_tagged(&self) -> bool {
        matches!(self, OutBuf::Tagged(..))
    }

    /// Publishes what was moved to the ring.
    pub(crate) fn commit(&mut self) {
        match self {
            OutBuf::Plain(p, _) => p.commit(),
            OutBuf::Tagged(p, _) => p.commit(),
        }
    }

    /// Publishes what was moved to the ring and closes it (the merger drains it). The
    /// outputs still in the local buffer are dropped with it.
    pub(crate) fn close(&mut self) {
        match self {
            OutBuf::Plain(p, _) => p.close(),
            OutBuf::Tagged(p, _) => p.close(),
        }
    }

    /// Whether the merger closed the ring.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            OutBuf::Plain(p, _) => p.is_closed(),
            OutBuf::Tagged(p, _) => p.is_closed(),
        }
    }

    /// Moves the buffered outputs to the ring (staged), waiting (after publishing) while it is
    /// full. `false`: the ring is closed; the outputs are dropped.
    pub(crate) fn flush(&mut self, stats: &mut WorkerStats) -> bool {
        match self {
            OutBuf::Plain(p, buf) => move_all(p, buf, stats),
            OutBuf::Tagged(p, buf) => move_all(p, buf, stats),
        }
    }
}

impl<U> OutBuf<U> {
    /// Where the worker waits for the merger to close its output ring (and for nothing else:
    /// the merger's releases of slots do not wake it).
    pub(crate) fn on_close(&self) -> &WakeSlot {
        match self {
            OutBuf::Plain(p, _) => p.on_close(),
            OutBuf::Tagged(p, _) => p.on_close(),
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
                p.stage_moved(buf, free);
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
    /// Plain: appends to the plain buffer with its length in registers across a batch (see
    /// [`VecWriter`]); written back before `out` is used (`flush`) and when the `Emit` is
    /// dropped, so a panicking function leaves the buffered outputs to the `Vec` to drop.
    /// Tagged: over nothing (every push goes to the tagged buffer).
    plain: VecWriter<U>,
    pub(crate) seq: usize,
    /// Tagged and one output per input: `push` sends `Mark::Last`.
    last: bool,
    /// Tagged, in the end-of-stream hook: `push` sends `Mark::Tail`.
    pub(crate) tail: bool,
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
        let plain = match out {
            // SAFETY: the buffer is used only through the writer until `flush` or `drop`
            // writes the length back (`Emit` holds `out` exclusively meanwhile, and touches
            // the buffer only after `store_into`).
            OutBuf::Plain(_, buf) => unsafe { VecWriter::over(buf) },
            OutBuf::Tagged(..) => VecWriter::none(),
        };
        Emit {
            out,
            plain,
            seq: 0,
            last,
            tail: false,
            closed,
            stats,
        }
    }

    /// Sends one output.
    // Always: the worker's per-item loop must stay one loop (a call per output costs more
    // than the map itself), and no call may be given `self`: the writer's length then stays
    // in a register (the flush itself is out of line in `flush_out`, given `out` and `stats`).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn push(&mut self, item: U) {
        if self.closed {
            return; // the merged stream is gone: `item` is dropped here, once
        }
        let Err(item) = self.plain.try_push(item) else {
            return;
        };
        match self.out {
            OutBuf::Plain(..) => self.push_full(item),
            OutBuf::Tagged(_, ref buf) => {
                if buf.len() == buf.capacity() && !self.flush() {
                    return;
                }
                let mark = if self.tail {
                    Mark::Tail(item)
                } else if self.last {
                    Mark::Last(item)
                } else {
                    Mark::Item(item)
                };
                if let OutBuf::Tagged(_, buf) = self.out {
                    buf.push(Tagged(self.seq, mark));
                }
                self.stats.items_out += 1;
            }
        }
    }

    /// [`push`](Self::push) into a full plain buffer: move it to the ring, then append.
    /// Inline (see `push`).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn push_full(&mut self, item: U) {
        if self.flush() {
            let r = self.plain.try_push(item);
            debug_assert!(r.is_ok(), "a flushed buffer has room");
        }
    }

    /// Whether the merged stream is gone (outputs are dropped from now on).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Writes the plain writer's length back to the buffer (which then owns the outputs).
    fn store_plain(&mut self) {
        if let OutBuf::Plain(_, buf) = self.out {
            // SAFETY: `plain` is over this buffer, untouched since (see `new`).
            unsafe { self.plain.store_into(buf) };
        }
    }

    /// Moves the buffered outputs to the ring. `false`: it is closed.
    #[inline]
    pub(crate) fn flush(&mut self) -> bool {
        if self.closed {
            return false;
        }
        if let OutBuf::Plain(..) = self.out {
            self.stats.items_out += self.plain.len() as u64;
        }
        self.store_plain();
        // Out of line, and given `out` and `stats` but never `self`, so that nothing can reach
        // the writer behind the compiler's back. On a closed ring it drops the outputs, and
        // one's `Drop` may panic: the `Vec`'s length is then the truth (the outputs it still
        // counts), so the writer is made anew over it before the panic goes on; otherwise
        // `drop` would write back the old length and the dropped outputs would be dropped
        // again.
        let r = flush_out(self.out, self.stats);
        if let OutBuf::Plain(_, buf) = self.out {
            // SAFETY: as in `new`.
            self.plain = unsafe { VecWriter::over(buf) };
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
        let full = matches!(self.out, OutBuf::Tagged(_, ref buf) if buf.len() == buf.capacity());
        if full && !self.flush() {
            return;
        }
        if let OutBuf::Tagged(_, buf) = self.out {
            buf.push(Tagged(self.seq, Mark::End));
        }
    }
}

impl<U> Drop for Emit<'_, U> {
    #[inline]
    fn drop(&mut self) {
        // The buffer owns the outputs written (and drops them, if nothing moves them to the
        // ring).
        self.store_plain();
    }
}

/// [`Emit::flush`]'s out-of-line part. `Ok(false)`: the ring is closed (the outputs were
/// dropped); `Err`: an output's `Drop` panicked meanwhile. The `catch_unwind` is in here, not
/// in `Emit::flush`, so that `Emit` itself never has its address taken by a closure: the
/// compiler keeps its writer in registers across a batch.
#[inline(never)]
fn flush_out<U>(out: &mut OutBuf<U>, stats: &mut WorkerStats) -> std::thread::Result<bool> {
    catch_unwind(AssertUnwindSafe(|| out.flush(stats)))
}
