//! A worker: reads its input ring in batches, runs the user's function, writes its output ring.

use super::control::Control;
use super::emit::{Emit, OutBuf};
use super::stage::Stage;
use super::wire::InWire;
use super::work::Work;
use crate::ring::{Consumer, PopError};
use crate::stats::WorkerStats;
use crate::teardown::Teardown;
use crate::wait::wait_until;
use crate::Failure;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

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

/// A worker thread (run in the engine's thread shell, `engine::stage`): builds its work on
/// its own thread, processes its input ring into its output ring, runs the end-of-stream
/// hook after a normal end.
pub(crate) struct Worker<T, U, I, F, G> {
    id: usize,
    /// `None` once dropped (`drop_parts`).
    input: Option<Consumer<I>>,
    inbuf: Vec<I>,
    out: Option<OutBuf<U>>,
    spec: WorkerSpec<F>,
    stats: WorkerStats,
    _work: PhantomData<fn(T) -> G>,
}

impl<T, U, I, F, G> Worker<T, U, I, F, G> {
    pub(crate) fn new(
        id: usize,
        input: Consumer<I>,
        inbuf: Vec<I>,
        out: OutBuf<U>,
        spec: WorkerSpec<F>,
    ) -> Self {
        Worker {
            id,
            input: Some(input),
            inbuf,
            out: Some(out),
            spec,
            stats: WorkerStats::default(),
            _work: PhantomData,
        }
    }
}

impl<T, U, I, F, G> Stage for Worker<T, U, I, F, G>
where
    T: 'static,
    U: Send + 'static,
    I: InWire<T>,
    F: Fn(usize) -> G + Send + Sync + 'static,
    G: Work<T, U> + 'static,
{
    fn run(&mut self, control: &Control) {
        let Worker {
            id,
            input: Some(input),
            inbuf,
            out: Some(out),
            spec,
            stats,
            ..
        } = self
        else {
            return;
        };
        let id = *id;
        let mut work = (spec.factory)(id);
        let drained = work_loop(input, inbuf, out, &mut work, spec, stats, &|n| {
            control.set_done(id, n);
        });
        // The hooks run only after a normal end: every worker's input drained and closed by
        // the distributor, the engine neither failed nor ended early by a handle.
        if G::HAS_END && control.end_barrier(drained) {
            let end = catch_unwind(AssertUnwindSafe(|| end_of_stream(&mut work, out, stats)));
            if let Err(payload) = end {
                control.panicked(
                    |message| Failure::EndPanicked {
                        worker: id,
                        message,
                    },
                    payload,
                );
            }
        }
    }

    fn failure(&self, message: String) -> Failure {
        Failure::WorkerPanicked {
            worker: self.id,
            message,
        }
    }

    /// Closes the input first (the distributor stops if it is still sending, and an `Input`
    /// learns the engine stopped), then the output (what is staged is published; the merger
    /// drains it): whoever sees the output closed, the end of the stream, also sees the input
    /// closed.
    fn close(&mut self, control: &Control) {
        if let Some(input) = &mut self.input {
            input.close();
        }
        if let Some(out) = &mut self.out {
            out.close();
        }
        control.set_worker_stats(self.id, self.stats);
    }

    fn drop_parts(&mut self, td: &mut Teardown) {
        let (input, inbuf, out) = (
            self.input.take(),
            std::mem::take(&mut self.inbuf),
            self.out.take(),
        );
        td.step(|| drop(input));
        td.step(|| drop(inbuf));
        td.step(|| drop(out));
    }
}

/// The end-of-stream hook: its outputs (tagged as the stream's tail with `Preserve`, so the
/// merger hands them out after every input's outputs) are published before the worker closes
/// its output ring.
fn end_of_stream<T, U, G: Work<T, U>>(work: &mut G, out: &mut OutBuf<U>, stats: &mut WorkerStats) {
    let closed = out.is_closed();
    let mut emit = Emit::new(&mut *out, false, closed, &mut *stats);
    emit.tail = true;
    work.end(&mut emit);
    emit.flush();
    drop(emit);
    out.commit();
}

/// One run of inputs (each with its sequence number) through the work, its outputs moved to
/// `out` and published: the worker's per-run body, and the distributor's when it runs a quiet
/// run itself (`engine::inline`). Returns whether the merged stream is still there; once it is
/// gone, the rest of the run is dropped here, once each.
// Always: the per-item loop must stay one loop with the work and `Emit::push` inlined into it.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn process_run<T, U, G: Work<T, U>>(
    run: impl Iterator<Item = (usize, T)>,
    out: &mut OutBuf<U>,
    work: &mut G,
    one_to_one: bool,
    stats: &mut WorkerStats,
) -> bool {
    let tagged = out.is_tagged();
    let mut emit = Emit::new(&mut *out, one_to_one, false, &mut *stats);
    for (seq, item) in run {
        if emit.closed {
            continue; // the merged stream is gone: the item is dropped here, once
        }
        emit.seq = seq;
        work.call(item, &mut emit);
        if tagged && !one_to_one {
            emit.end();
        }
    }
    let open = emit.flush();
    drop(emit);
    out.commit();
    open
}

/// Processes the input until it ends: `true` when it was closed and drained (a normal end, or
/// a distributor that stopped), `false` when the merged stream went away (the output ring was
/// closed).
fn work_loop<T, U, I, G>(
    input: &mut Consumer<I>,
    inbuf: &mut Vec<I>,
    out: &mut OutBuf<U>,
    work: &mut G,
    spec: &WorkerSpec<impl Sized>,
    stats: &mut WorkerStats,
    done: &dyn Fn(usize),
) -> bool
where
    I: InWire<T>,
    G: Work<T, U>,
{
    let wait = input.wait_strategy();
    // `inbuf`: a run of inputs moved out of the ring with one copy (its slots are released
    // at once); if the work panics, the rest are dropped with it. Taken into a local (its
    // reserved buffer moves, no allocation) so that the loop keeps its length and pointer in
    // registers: through `&mut` every store of an item could alias them.
    let mut inbuf = std::mem::take(inbuf);
    loop {
        stats.peak_occupancy = stats.peak_occupancy.max(input.len());
        match input.take_into(&mut inbuf, spec.batch) {
            Ok(n) => {
                input.release();
                stats.items_in += n as u64;
                let run = inbuf.drain(..).map(InWire::unwrap);
                if !process_run(run, out, work, spec.one_to_one, stats) {
                    return false;
                }
                // The counter wraps as `usize` (as the sum it is compared with does).
                #[allow(clippy::cast_possible_truncation)]
                done(stats.items_in as usize);
            }
            Err(PopError::Empty) => {
                // Everything is published; wait for input or for the merger to go away.
                stats.waits_empty += 1;
                // Woken by the distributor's publish or close, or by the merger's close of
                // our output (not by its releases: `on_close`).
                let (inp, outp) = (&*input, &*out);
                wait_until(wait, &(inp, outp.on_close()), None, || {
                    (inp.ready_hint() || outp.is_closed()).then_some(())
                });
                if out.is_closed() {
                    return false;
                }
            }
            Err(PopError::Closed) => return true,
        }
    }
}
