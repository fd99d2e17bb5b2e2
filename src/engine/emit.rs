//! A worker's output side: its output ring (plain or tagged), the local buffer outputs gather
//! in, and [`Emit`], through which the work function sends them.

use super::dispatch::{Distributor, Stopped};
use super::wire::{InWire, Mark, Tagged};
use crate::cursor::VecWriter;
use crate::error::try_buffer;
use crate::ring::{Closed, Producer};
use crate::stats::WorkerStats;
use crate::wait::{Park, WakeSlot};
use crate::BuildError;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// A worker's output side with the local buffer its outputs gather in (they move on one run
/// at a time, with one copy): a ring to the merger (plain outputs, or outputs tagged with
/// their input's sequence number), or, in a graph, a distributor over one ring to each worker
/// of the next stage (plain, or each output with its input's sequence number). The one place
/// the worker's side of plain, tagged and fanned-out differs.
pub(crate) enum OutBuf<U> {
    Plain(Producer<U>, Vec<U>),
    Tagged(Producer<Tagged<Mark<U>>>, Vec<Tagged<Mark<U>>>),
    /// To the next stage of a graph.
    Fan(Distributor<U, U>, Vec<U>),
    /// To the next stage of a graph whose order is restored at its end: every stage before
    /// the last gives one output per input, which keeps the input's sequence number.
    FanTagged(Distributor<Tagged<U>, Tagged<U>>, Vec<Tagged<U>>),
    /// Kept on this thread for the next stage's work (a graph's quiet run, `engine::inline`):
    /// a flush only makes room.
    Local(Vec<U>),
    /// To the next stage of a graph run on this same thread (stages fused, `engine::fuse`).
    Through(Handover<U>),
}

/// The outputs a worker hands to the stage fused after it on its thread ([`OutBuf::Through`]):
/// a flush runs them through that stage's work.
pub(crate) struct Handover<U> {
    /// The outputs, in the order they were made.
    items: Vec<U>,
    /// Each output's input sequence number, where the graph keeps them (`None`: it keeps
    /// none, and the outputs gather plain, through `Emit`'s writer, when `every > 1`).
    seqs: Option<Vec<usize>>,
    /// Outputs gathered before they go on ([`OutBuf::set_flush`]).
    every: usize,
    next: Box<dyn Downstream<U>>,
}

impl<U> Handover<U> {
    /// Whether `Emit`'s writer gathers the outputs (plain, several at a time). Fixed while
    /// an `Emit` is over the output side (only `set_flush` changes `every`, between runs):
    /// so whether the writer is over `items` is too.
    fn gathers_plain(&self) -> bool {
        self.seqs.is_none() && self.every > 1
    }

    /// Whether one more output (and its sequence number) would outgrow a buffer: never grown
    /// on the worker's thread, where a refused allocation could only abort.
    fn is_full(&self) -> bool {
        let seqs = self.seqs.as_ref().map_or(usize::MAX, Vec::capacity);
        self.items.len() >= self.items.capacity().min(seqs)
    }
}

/// The next stage of a graph run on a worker's own thread, behind [`OutBuf::Through`]
/// (`engine::fuse`): its work, and its own output side.
pub(crate) trait Downstream<U>: Send {
    /// At the thread's start, after the thread's own stage made its work: this stage's work
    /// and state, then those of the stages after it on the thread (as each unfused worker
    /// makes its own when its thread starts, whether or not any input comes). A constructor
    /// that panics is recorded as its stage's, and the panic goes on.
    fn start(&mut self);
    /// Runs `items` through the stage (emptying it and `seqs`, the sequence number of each,
    /// where the graph keeps them), its outputs moved on (staged). `false`: nobody reads any
    /// more; the items are dropped.
    fn run(&mut self, items: &mut Vec<U>, seqs: Option<&mut Vec<usize>>) -> bool;
    /// Whether its outputs carry their input's sequence number on (the graph keeps order).
    fn sequenced(&self) -> bool;
    /// Publishes what was moved on.
    fn commit(&mut self);
    /// Publishes and closes every ring of the output side.
    fn close(&mut self);
    /// Whether nobody reads any more.
    fn is_closed(&self) -> bool;
    /// Calls `f` on the close slot of every ring the output side writes to.
    fn each_close_slot(&self, f: &mut dyn FnMut(&WakeSlot));
    /// Whether this stage, or one after it on the thread, has an end-of-stream hook.
    fn has_end(&self) -> bool;
    /// After a normal end: this stage's end-of-stream hook, then those after it, each
    /// publishing its outputs (a hook that panics is recorded, and the rest do not run).
    fn end(&mut self);
    /// [`OutBuf::set_flush`] for the stages after this one.
    fn set_flush(&mut self, every: usize);
    /// [`OutBuf::fused_counts`]: the last stage's outputs, and every fused stage's waits for
    /// room.
    fn counts(&self) -> (u64, u64);
    /// Teardown: the work, then the output side, each in a step of its own.
    fn drop_parts(self: Box<Self>, td: &mut crate::teardown::Teardown);
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

    /// To the next stage of a graph, its rings run by `distributor`; the buffer reserved
    /// fallibly (see [`plain`](Self::plain)).
    ///
    /// # Errors
    /// As [`plain`](Self::plain).
    pub(crate) fn fan(distributor: Distributor<U, U>, batch: usize) -> Result<Self, BuildError> {
        Ok(OutBuf::Fan(
            distributor,
            try_buffer(batch, "worker's output buffer")?,
        ))
    }

    /// [`fan`](Self::fan) with sequence numbers.
    ///
    /// # Errors
    /// As [`plain`](Self::plain).
    pub(crate) fn fan_tagged(
        distributor: Distributor<Tagged<U>, Tagged<U>>,
        batch: usize,
    ) -> Result<Self, BuildError> {
        Ok(OutBuf::FanTagged(
            distributor,
            try_buffer(batch, "worker's output buffer")?,
        ))
    }

    /// To `next`, a stage fused after this one on the thread, which keeps each output's
    /// sequence number if `next.sequenced()`; the buffers reserved fallibly (see
    /// [`plain`](Self::plain)). Each output goes on at once until `set_flush` says otherwise.
    ///
    /// # Errors
    /// As [`plain`](Self::plain).
    pub(crate) fn through(next: Box<dyn Downstream<U>>, batch: usize) -> Result<Self, BuildError> {
        let seqs = if next.sequenced() {
            Some(try_buffer(batch, "worker's output buffer")?)
        } else {
            None
        };
        Ok(OutBuf::Through(Handover {
            items: try_buffer(batch, "worker's output buffer")?,
            seqs,
            every: 1,
            next,
        }))
    }

    /// Whether outputs go to the merger tagged (each input's outputs then end with a mark).
    pub(crate) fn is_tagged(&self) -> bool {
        matches!(self, OutBuf::Tagged(..))
    }

    /// Whether each output carries its input's sequence number on: to a tagged merger or
    /// next stage, or through fused stages that do.
    pub(crate) fn sequenced(&self) -> bool {
        match self {
            OutBuf::Tagged(..) | OutBuf::FanTagged(..) => true,
            OutBuf::Through(h) => h.seqs.is_some(),
            OutBuf::Plain(..) | OutBuf::Fan(..) | OutBuf::Local(_) => false,
        }
    }

    /// Whether `n` more outputs fit without waiting: the ring has room for them and for what
    /// the local buffer holds (`Producer::has_room`). Only a ring's (the quiet runner's lane);
    /// `false` for the other kinds.
    pub(crate) fn has_room(&mut self, n: usize) -> bool {
        match self {
            OutBuf::Plain(p, buf) => p.has_room(n + buf.len()),
            OutBuf::Tagged(p, buf) => p.has_room(n + buf.len()),
            _ => false,
        }
    }

    /// The plain buffer [`Emit`] writes through, if the outputs are plain, and how many it
    /// may hold before they move on: through fused stages, only where they gather several
    /// at a time (one at a time, each goes on as soon as it is made: `Emit::push`).
    fn plain_buf(&mut self) -> Option<(&mut Vec<U>, usize)> {
        match self {
            OutBuf::Plain(_, buf) | OutBuf::Fan(_, buf) | OutBuf::Local(buf) => {
                Some((buf, usize::MAX))
            }
            OutBuf::Through(h) if h.gathers_plain() => Some((&mut h.items, h.every)),
            OutBuf::Tagged(..) | OutBuf::FanTagged(..) | OutBuf::Through(..) => None,
        }
    }
}

impl<U: Send + 'static> OutBuf<U> {
    /// Publishes what was moved on; to a next stage, the round-robin turn ends there (a batch
    /// is an upper bound, never a fill target).
    pub(crate) fn commit(&mut self) {
        match self {
            OutBuf::Plain(p, _) => p.commit(),
            OutBuf::Tagged(p, _) => p.commit(),
            OutBuf::Fan(d, _) => d.idle(),
            OutBuf::FanTagged(d, _) => d.idle(),
            OutBuf::Local(_) => {}
            OutBuf::Through(h) => h.next.commit(),
        }
    }

    /// Through fused stages: hand each `every` outputs on at once (1: each as it is made,
    /// while it is in the cache; more: fewer calls for cheap items).
    pub(crate) fn set_flush(&mut self, every: usize) {
        if let OutBuf::Through(h) = self {
            h.every = every.max(1);
            h.next.set_flush(every);
        }
    }

    /// Outputs moved on by the last stage on this thread: `own` (the caller's count), or,
    /// through fused stages, the last one's.
    pub(crate) fn sent(&self, own: u64) -> u64 {
        self.fused_counts().map_or(own, |(sent, _)| sent)
    }

    /// Through fused stages: the outputs the last stage on this thread sent on, and the
    /// times the fused stages waited for room (`None`: nothing is fused after this stage).
    pub(crate) fn fused_counts(&self) -> Option<(u64, u64)> {
        match self {
            OutBuf::Through(h) => Some(h.next.counts()),
            _ => None,
        }
    }

    /// Whether a stage fused after this one has an end-of-stream hook.
    pub(crate) fn has_end(&self) -> bool {
        matches!(self, OutBuf::Through(h) if h.next.has_end())
    }

    /// At the thread's start: the work and state of the stages fused after this one
    /// ([`Downstream::start`]).
    pub(crate) fn start(&mut self) {
        if let OutBuf::Through(h) = self {
            h.next.start();
        }
    }

    /// After a normal end and this stage's own hook: the hooks of the stages fused after it.
    pub(crate) fn end(&mut self) {
        if let OutBuf::Through(h) = self {
            h.next.end();
        }
    }

    /// Publishes what was moved on and closes every ring (the merger, or the next stage's
    /// workers, drain them). The outputs still in the local buffer are dropped with it.
    pub(crate) fn close(&mut self) {
        match self {
            OutBuf::Plain(p, _) => p.close(),
            OutBuf::Tagged(p, _) => p.close(),
            OutBuf::Fan(d, _) => d.close(),
            OutBuf::FanTagged(d, _) => d.close(),
            OutBuf::Local(_) => {}
            OutBuf::Through(h) => h.next.close(),
        }
    }

    /// Whether nobody reads any more: the merger closed the ring, or a worker of the next
    /// stage closed one of its rings (it ended early or failed), or a handle ended the engine.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            OutBuf::Plain(p, _) => p.is_closed(),
            OutBuf::Tagged(p, _) => p.is_closed(),
            OutBuf::Fan(d, _) => d.peer_gone(),
            OutBuf::FanTagged(d, _) => d.peer_gone(),
            OutBuf::Local(_) => false,
            OutBuf::Through(h) => h.next.is_closed(),
        }
    }

    /// Moves the buffered outputs on (staged), waiting (after publishing) while a ring is
    /// full. `false`: nobody reads any more; the outputs are dropped.
    pub(crate) fn flush(&mut self, stats: &mut WorkerStats) -> bool {
        match self {
            OutBuf::Plain(p, buf) => move_all(p, buf, stats),
            OutBuf::Tagged(p, buf) => move_all(p, buf, stats),
            OutBuf::Fan(d, buf) => fan_all(d, buf, stats),
            OutBuf::Local(buf) => {
                buf.reserve(buf.len().max(16));
                true
            }
            OutBuf::FanTagged(d, buf) => fan_all(d, buf, stats),
            OutBuf::Through(h) => h.next.run(&mut h.items, h.seqs.as_mut()),
        }
    }

    /// Where the worker waits for its readers to close (and for nothing else: their releases
    /// of slots do not wake it).
    pub(crate) fn on_close(&self) -> OutClosed<'_, U> {
        OutClosed(self)
    }

    /// Teardown: drops the buffer and every ring, each in a step of its own.
    pub(crate) fn drop_parts(self, td: &mut crate::teardown::Teardown) {
        match self {
            OutBuf::Plain(p, buf) => {
                td.step(|| drop(buf));
                td.step(|| drop(p));
            }
            OutBuf::Tagged(p, buf) => {
                td.step(|| drop(buf));
                td.step(|| drop(p));
            }
            OutBuf::Fan(mut d, buf) => {
                td.step(|| drop(buf));
                d.drop_rings(td);
            }
            OutBuf::FanTagged(mut d, buf) => {
                td.step(|| drop(buf));
                d.drop_rings(td);
            }
            OutBuf::Local(buf) => td.step(|| drop(buf)),
            OutBuf::Through(Handover {
                items, seqs, next, ..
            }) => {
                td.step(|| drop(items));
                td.step(|| drop(seqs));
                next.drop_parts(td);
            }
        }
    }
}

/// The close of an output's readers, as a waiter announces on it.
pub(crate) struct OutClosed<'a, U>(&'a OutBuf<U>);

impl<U: Send + 'static> OutClosed<'_, U> {
    /// Calls `f` on the close slot of every ring the output writes to.
    pub(crate) fn each(&self, mut f: impl FnMut(&WakeSlot)) {
        match self.0 {
            OutBuf::Plain(p, _) => f(p.on_close()),
            OutBuf::Tagged(p, _) => f(p.on_close()),
            OutBuf::Fan(d, _) => d.rings().iter().for_each(|p| f(p.on_close())),
            OutBuf::FanTagged(d, _) => d.rings().iter().for_each(|p| f(p.on_close())),
            OutBuf::Local(_) => {}
            OutBuf::Through(h) => h.next.each_close_slot(&mut f),
        }
    }
}

impl<U: Send + 'static> Park for OutClosed<'_, U> {
    fn announce(&self) {
        self.each(WakeSlot::announce);
    }
    fn withdraw(&self) {
        self.each(WakeSlot::withdraw);
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        self.each(|s| s.announce_task(waker));
    }
}

/// Moves every item of `buf` to the next stage through `d`, waiting for room. `false` (and
/// `buf` emptied, its items dropped here, once): the next stage stopped.
fn fan_all<T, W: InWire<T>>(
    d: &mut Distributor<T, W>,
    buf: &mut Vec<T>,
    stats: &mut WorkerStats,
) -> bool {
    loop {
        match d.try_send_from(buf) {
            Err(Stopped) => {
                buf.clear();
                return false;
            }
            Ok(_) if buf.is_empty() => return true,
            Ok(_) => {
                stats.waits_full += 1;
                // Publishes first; a ring's close ends the wait too (the next try sees it).
                d.wait_room();
            }
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

impl<'a, U: Send + 'static> Emit<'a, U> {
    pub(crate) fn new(
        out: &'a mut OutBuf<U>,
        last: bool,
        closed: bool,
        stats: &'a mut WorkerStats,
    ) -> Self {
        let plain = match out.plain_buf() {
            // SAFETY: the buffer is used only through the writer until `flush` or `drop`
            // writes the length back (`Emit` holds `out` exclusively meanwhile, and touches
            // the buffer only after `store_into`).
            Some((buf, limit)) => unsafe { VecWriter::over(buf, limit) },
            None => VecWriter::none(),
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
            OutBuf::Plain(..) | OutBuf::Fan(..) | OutBuf::Local(_) => self.push_full(item),
            OutBuf::FanTagged(_, ref buf) => {
                if buf.len() == buf.capacity() && !self.flush() {
                    return;
                }
                if let OutBuf::FanTagged(_, buf) = self.out {
                    buf.push(Tagged(self.seq, item));
                }
                self.stats.items_out += 1;
            }
            // Gathered by the writer, which is full: they go on, and this one starts anew.
            OutBuf::Through(ref h) if h.gathers_plain() => self.push_full(item),
            OutBuf::Through(ref h) => {
                if h.is_full() && !self.flush() {
                    return;
                }
                self.stats.items_out += 1;
                if let OutBuf::Through(h) = self.out {
                    h.items.push(item);
                    if let Some(seqs) = &mut h.seqs {
                        seqs.push(self.seq);
                    }
                    if h.items.len() < h.every {
                        return;
                    }
                }
                // On to the fused stage while the output is in the cache.
                self.flush();
            }
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

    /// Moves the buffered outputs to the ring. `false`: it is closed.
    #[inline]
    pub(crate) fn flush(&mut self) -> bool {
        if self.closed {
            return false;
        }
        // Counted here when the writer gathered them (else as each was pushed).
        if self.out.plain_buf().is_some() {
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
        if let Some((buf, limit)) = self.out.plain_buf() {
            // SAFETY: as in `new`.
            self.plain = unsafe { VecWriter::over(buf, limit) };
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

impl<U> Emit<'_, U> {
    /// Writes the plain writer's length back to the buffer (which then owns the outputs).
    fn store_plain(&mut self) {
        if let Some((buf, _)) = self.out.plain_buf() {
            // SAFETY: `plain` is over this buffer, untouched since (see `new`).
            unsafe { self.plain.store_into(buf) };
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
fn flush_out<U: Send + 'static>(
    out: &mut OutBuf<U>,
    stats: &mut WorkerStats,
) -> std::thread::Result<bool> {
    catch_unwind(AssertUnwindSafe(|| out.flush(stats)))
}
