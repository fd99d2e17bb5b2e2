//! A worker: reads its input ring in batches, runs the user's function, writes its output ring.

use super::control::Control;
use super::wire::{InWire, Mark, Tagged};
use super::Work;
use crate::error::try_buffer;
use crate::loom::sync::Arc;
use crate::pinning::pin_current;
use crate::wait::{wait_until, Park};
use crate::{Closed, Consumer, EngineError, PopError, Producer};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Counters kept by one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Items taken from its input ring.
    pub items_in: u64,
    /// Outputs written to its output ring.
    pub items_out: u64,
    /// Times it waited on an empty input ring.
    pub waits_empty: u64,
    /// Times it waited on a full output ring.
    pub waits_full: u64,
    /// The most items seen in its input ring at once.
    pub peak_occupancy: usize,
}

/// A worker's output ring: plain outputs, or outputs tagged with their input's sequence number.
pub(crate) enum OutRing<U> {
    Plain(Producer<U>),
    Tagged(Producer<Tagged<Mark<U>>>),
}

impl<U> OutRing<U> {
    fn commit(&mut self) {
        match self {
            OutRing::Plain(p) => p.commit(),
            OutRing::Tagged(p) => p.commit(),
        }
    }

    fn is_closed(&self) -> bool {
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
}

/// A worker's output ring with the local buffer its outputs gather in: they move to the ring
/// one run at a time, with one copy.
pub(crate) struct OutBuf<U> {
    ring: OutRing<U>,
    /// Outputs not yet in the ring (one of the two is used, by the ring's kind).
    plain: Vec<U>,
    tagged: Vec<Tagged<Mark<U>>>,
}

impl<U> OutBuf<U> {
    /// Reserved fallibly, on the thread that builds the engine (a refusal on the worker's
    /// thread could only abort).
    ///
    /// # Errors
    /// [`EngineError::Alloc`] if the memory is refused.
    pub(crate) fn try_new(ring: OutRing<U>, batch: usize) -> Result<Self, EngineError> {
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
    fn flush(&mut self, stats: &mut WorkerStats) -> bool {
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
    seq: usize,
    /// Tagged and one output per input: `push` sends `Mark::Last`.
    last: bool,
    closed: bool,
    stats: &'a mut WorkerStats,
}

impl<'a, U> Emit<'a, U> {
    fn new(out: &'a mut OutBuf<U>, last: bool, closed: bool, stats: &'a mut WorkerStats) -> Self {
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
    fn flush(&mut self) -> bool {
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
    fn end(&mut self) {
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

/// What each worker's function is built from: a factory run once on each worker's own thread.
pub(crate) struct WorkerSpec<F> {
    /// A std `Arc`: read-only configuration, not state a model explores.
    pub(crate) factory: std::sync::Arc<F>,
    pub(crate) batch: usize,
    pub(crate) one_to_one: bool,
}

// Derived, it would demand `F: Clone`.
impl<F> Clone for WorkerSpec<F> {
    fn clone(&self) -> Self {
        WorkerSpec {
            factory: std::sync::Arc::clone(&self.factory),
            batch: self.batch,
            one_to_one: self.one_to_one,
        }
    }
}

/// The worker thread's body: build the function, run the loop, record a panic, close.
// Owned: they move into the worker's thread with it.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn worker_main<T, U, I, F, G>(
    id: usize,
    mut input: Consumer<I>,
    mut inbuf: Vec<I>,
    mut out: OutBuf<U>,
    spec: WorkerSpec<F>,
    control: Arc<Control>,
    core: Option<usize>,
) where
    I: InWire<T>,
    F: Fn(usize) -> G,
    G: Work<T, U>,
{
    pin_current(core);
    let mut stats = WorkerStats::default();
    let run = catch_unwind(AssertUnwindSafe(|| {
        let mut work = (spec.factory)(id);
        work_loop(
            &mut input,
            &mut inbuf,
            &mut out,
            &mut work,
            &spec,
            &mut stats,
            &|n| control.set_done(id, n),
        );
    }));
    if let Err(payload) = run {
        // Recorded (and the abort flag raised) before our rings close, so whoever sees them
        // closed also sees why.
        control.worker_panicked(id, &*payload);
    }
    control.set_worker_stats(id, stats);
    // Closing our output publishes what is staged (the merger drains it); closing our input
    // stops the distributor if it is still sending. If we hold the last handle, the ring's
    // leftover items are dropped here, and an item whose `Drop` panics is reported (the rest
    // are still dropped) instead of killing the thread before it counts its exit.
    let closed = catch_unwind(AssertUnwindSafe(move || {
        drop(inbuf);
        drop(out);
        drop(input);
    }));
    if let Err(payload) = closed {
        control.worker_panicked(id, &*payload);
    }
    control.exit();
}

fn work_loop<T, U, I, G>(
    input: &mut Consumer<I>,
    inbuf: &mut Vec<I>,
    out: &mut OutBuf<U>,
    work: &mut G,
    spec: &WorkerSpec<impl Sized>,
    stats: &mut WorkerStats,
    done: &dyn Fn(usize),
) where
    I: InWire<T>,
    G: Work<T, U>,
{
    let tagged = matches!(out.ring, OutRing::Tagged(_));
    let wait = input.wait_strategy();
    // `inbuf`: a run of inputs moved out of the ring with one copy (its slots are released
    // at once); if the work panics, the rest are dropped with it.
    let mut closed = false;
    loop {
        stats.peak_occupancy = stats.peak_occupancy.max(input.len());
        match input.take_into(inbuf, spec.batch) {
            Ok(n) => {
                input.release();
                stats.items_in += n as u64;
                let mut emit = Emit::new(&mut *out, spec.one_to_one, closed, &mut *stats);
                for wire in inbuf.drain(..) {
                    if emit.closed {
                        continue; // the merged stream is gone: the item is dropped here, once
                    }
                    let (seq, item) = wire.unwrap();
                    emit.seq = seq;
                    work.call(item, &mut emit);
                    if tagged && !spec.one_to_one {
                        emit.end();
                    }
                }
                closed = !emit.flush();
                drop(emit);
                out.ring.commit();
                if closed {
                    return;
                }
                // The counter wraps as `usize` (as the sum it is compared with does).
                #[allow(clippy::cast_possible_truncation)]
                done(stats.items_in as usize);
            }
            Err(PopError::Empty) => {
                // Everything is published; wait for input or for the merger to go away.
                stats.waits_empty += 1;
                let (inp, outp) = (&*input, &out.ring);
                wait_until(wait, &(inp, outp), None, || {
                    (inp.ready_hint() || outp.is_closed()).then_some(())
                });
                if out.ring.is_closed() {
                    return;
                }
            }
            Err(PopError::Closed) => return,
        }
    }
}
