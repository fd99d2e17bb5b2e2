//! A worker: reads its input ring in batches, runs the user's function, writes its output ring.

use super::control::Control;
use super::wire::{InWire, Mark, Tagged};
use super::Work;
use crate::loom::sync::Arc;
use crate::pinning::pin_current;
use crate::wait::{wait_until, Park};
use crate::{Consumer, PopError, Producer, PushError};
use std::panic::{catch_unwind, AssertUnwindSafe};

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

/// Where a worker's function sends its outputs (the `stateful` form receives it).
///
/// Outputs are published once per input batch; a full output ring makes `push` wait. Once the
/// merged stream is gone, `push` drops its item and [`is_closed`](Self::is_closed) turns true.
pub struct Emit<'a, U> {
    out: &'a mut OutRing<U>,
    seq: usize,
    /// Tagged and one output per input: `push` sends `Mark::Last`.
    last: bool,
    closed: bool,
    stats: &'a mut WorkerStats,
}

impl<U> Emit<'_, U> {
    /// Sends one output.
    #[inline]
    pub fn push(&mut self, item: U) {
        if self.closed {
            return;
        }
        let ok = match self.out {
            OutRing::Plain(p) => put(p, item, self.stats),
            OutRing::Tagged(p) => {
                let mark = if self.last {
                    Mark::Last(item)
                } else {
                    Mark::Item(item)
                };
                put(p, Tagged(self.seq, mark), self.stats)
            }
        };
        self.stats.items_out += u64::from(ok);
        self.closed = !ok;
    }

    /// Whether the merged stream is gone (outputs are dropped from now on).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Tagged, several outputs per input: marks the end of the current input's outputs.
    fn end(&mut self) {
        if let (OutRing::Tagged(p), false) = (&mut *self.out, self.closed) {
            self.closed = !put(p, Tagged(self.seq, Mark::End), self.stats);
        }
    }
}

/// Stages `w`, waiting while the ring is full. `false`: the ring is closed (`w` is dropped).
#[inline]
fn put<W>(p: &mut Producer<W>, mut w: W, stats: &mut WorkerStats) -> bool {
    loop {
        match p.stage(w) {
            Ok(()) => return true,
            Err(PushError::Full(back)) => {
                w = back;
                stats.waits_full += 1;
                if p.wait_space().is_err() {
                    return false;
                }
            }
            Err(PushError::Closed(_)) => return false,
        }
    }
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
    mut out: OutRing<U>,
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
        work_loop(&mut input, &mut out, &mut work, &spec, &mut stats);
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
    out: &mut OutRing<U>,
    work: &mut G,
    spec: &WorkerSpec<impl Sized>,
    stats: &mut WorkerStats,
) where
    I: InWire<T>,
    G: Work<T, U>,
{
    let tagged = matches!(out, OutRing::Tagged(_));
    let wait = input.wait_strategy();
    let mut closed = false;
    loop {
        stats.peak_occupancy = stats.peak_occupancy.max(input.len());
        let mut emit = Emit {
            out: &mut *out,
            seq: 0,
            last: spec.one_to_one,
            closed,
            stats: &mut *stats,
        };
        let r = input.try_pop_each(spec.batch, |wire| {
            let (seq, item) = wire.unwrap();
            if emit.closed {
                return; // the merged stream is gone: the item is dropped here, once
            }
            emit.seq = seq;
            work.call(item, &mut emit);
            if tagged && !spec.one_to_one {
                emit.end();
            }
        });
        closed = emit.closed;
        match r {
            Ok(n) => {
                stats.items_in += n as u64;
                out.commit();
                if closed {
                    return;
                }
            }
            Err(PopError::Empty) => {
                // Flush before waiting, then wait for input or for the merger to go away.
                out.commit();
                input.release();
                stats.waits_empty += 1;
                let (inp, outp) = (&*input, &*out);
                wait_until(wait, &(inp, outp), None, || {
                    (inp.ready_hint() || outp.is_closed()).then_some(())
                });
                if out.is_closed() {
                    return;
                }
            }
            Err(PopError::Closed) => return,
        }
    }
}
