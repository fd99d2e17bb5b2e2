//! A worker: reads its input ring(s) in batches, runs the user's function, writes its output
//! ring (or, in a graph, the rings to the next stage's workers).

use super::control::Control;
use super::emit::{Emit, OutBuf};
use super::inlet::{Depth, Inlet};
use super::spare::Spare;
use super::stage::Stage;
use super::wire::InWire;
use super::work::Work;
use crate::loom::sync::Arc;
use crate::ring::PopError;
use crate::stats::WorkerStats;
use crate::teardown::Teardown;
use crate::wait::{wait_until, WaitStrategy};
use crate::Failure;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What each worker's function is built from: a factory run once on each worker's own thread.
pub(crate) struct WorkerSpec<F> {
    /// A std `Arc`: read-only configuration, not state a model explores.
    pub(crate) factory: std::sync::Arc<F>,
    pub(crate) batch: usize,
    pub(crate) one_to_one: bool,
    /// The fewest items the worker's input ring keeps room for, whatever its items cost
    /// (`inlet::Depth`): two turns where its distributor keeps a fixed rotation (it cannot
    /// hand a turn to another worker while this ring is full, so a shallower ring would hold
    /// every other worker idle); else 1.
    pub(crate) floor: usize,
}

// Derived, it would demand `F: Clone`.
impl<F> Clone for WorkerSpec<F> {
    fn clone(&self) -> Self {
        WorkerSpec {
            factory: std::sync::Arc::clone(&self.factory),
            batch: self.batch,
            one_to_one: self.one_to_one,
            floor: self.floor,
        }
    }
}

/// A worker thread (run in the engine's thread shell, `engine::stage`): builds its work on
/// its own thread, processes its input ring into its output ring, runs the end-of-stream
/// hook after a normal end.
pub(crate) struct Worker<T, U, I, F, G> {
    /// Where it is: its index in the engine (its counters), its stage and its index there.
    at: WorkerAt,
    /// `None` once dropped (`drop_parts`).
    input: Option<Inlet<I>>,
    /// What its distributor left for any worker of the stage (`engine::spare`).
    spare: Option<Arc<Spare<I>>>,
    inbuf: Vec<I>,
    out: Option<OutBuf<U>>,
    spec: WorkerSpec<F>,
    stats: WorkerStats,
    /// Whether its work loop ended with its input closed and drained (and the spare empty).
    drained: bool,
    /// Whether it counts among the spare's workers (`Spare::enter`), and whether it is counted
    /// as done there (`Spare::finish`): once, whichever way it ends (`close`).
    entered: bool,
    finished: bool,
    _work: PhantomData<fn(T) -> G>,
}

/// Where a worker is in the engine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkerAt {
    /// Its index among all the engine's workers (every stage's, in stage order): its counters'
    /// place in [`Stats::workers`](crate::stats::Stats::workers).
    pub(crate) id: usize,
    /// Its stage (0 for a single farm), and its index among that stage's workers.
    pub(crate) stage: usize,
    pub(crate) index: usize,
    /// The group of threads whose end barrier it waits at: its stage's, which the stages
    /// fused after it share (`engine::fuse`).
    pub(crate) barrier: usize,
}

impl WorkerAt {
    /// Worker `i` of a single farm.
    pub(crate) fn farm(i: usize) -> Self {
        WorkerAt {
            id: i,
            stage: 0,
            index: i,
            barrier: 0,
        }
    }
}

impl<T, U, I, F, G> Worker<T, U, I, F, G> {
    pub(crate) fn new(
        at: WorkerAt,
        input: Inlet<I>,
        inbuf: Vec<I>,
        out: OutBuf<U>,
        spec: WorkerSpec<F>,
    ) -> Self {
        input.keep_at_least(spec.floor);
        Worker {
            at,
            input: Some(input),
            spare: None,
            inbuf,
            out: Some(out),
            spec,
            stats: WorkerStats::default(),
            drained: false,
            entered: false,
            finished: false,
            _work: PhantomData,
        }
    }
}

impl<T, U, I, F, G> Worker<T, U, I, F, G> {
    /// Takes items from `spare` too, whenever its own ring is empty.
    pub(crate) fn share(mut self, spare: Option<Arc<Spare<I>>>) -> Self {
        if let (Some(spare), Some(bell)) = (&spare, self.input.as_ref().and_then(Inlet::doorbell)) {
            spare.watch(bell);
        }
        self.spare = spare;
        self
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
            at,
            input: Some(input),
            spare,
            inbuf,
            out: Some(out),
            spec,
            stats,
            drained: loop_drained,
            entered,
            finished,
            ..
        } = self
        else {
            return;
        };
        let at = *at;
        if let Some(spare) = spare.as_deref() {
            spare.enter();
            *entered = true;
        }
        let mut work = (spec.factory)(at.index);
        // The stages fused after this one make theirs now too, as their own threads would.
        out.start();
        let spare = spare.as_deref();
        let drained = work_loop(
            input,
            spare,
            inbuf,
            out,
            &mut work,
            spec,
            stats,
            &|n, sent| {
                control.set_done(at.id, n, sent);
            },
            finished,
        );
        *loop_drained = drained;
        // The hooks run only after a normal end: every worker of the stage has its input
        // drained and closed, the engine neither failed nor ended early by a handle. Then
        // the hooks of the stages fused after it, in stage order (each records its own
        // panic).
        if (G::HAS_END || out.has_end()) && control.end_barrier(at.barrier, drained) {
            let end = catch_unwind(AssertUnwindSafe(|| {
                if G::HAS_END {
                    end_of_stream(&mut work, out, stats);
                }
            }));
            match end {
                Ok(()) => out.end(),
                Err(payload) => {
                    control.panicked(
                        |message| Failure::EndPanicked {
                            stage: at.stage,
                            worker: at.index,
                            message,
                        },
                        payload,
                    );
                }
            }
        }
    }

    fn failure(&self, message: String) -> Failure {
        Failure::WorkerPanicked {
            stage: self.at.stage,
            worker: self.at.index,
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
        // A worker that stopped (a panic, the merged stream gone) is done too: the others,
        // waiting to leave, must not wait for it.
        if let Some(spare) = self
            .spare
            .as_deref()
            .filter(|_| self.entered && !self.finished)
        {
            spare.finish();
            self.finished = true;
        }
        let mut stats = self.stats;
        if let Some(out) = &mut self.out {
            out.close();
            // A thread that runs fused stages counts as one: its input's counters, and the
            // outputs and waits of the last stage on it (what it sent on, and where it waited
            // to send them).
            if let Some((items_out, waits_full)) = out.fused_counts() {
                stats.items_out = items_out;
                stats.waits_full += waits_full;
            }
        }
        control.set_worker_stats(self.at.id, stats);
    }

    fn drop_parts(&mut self, td: &mut Teardown) {
        let (input, inbuf, out) = (
            self.input.take(),
            std::mem::take(&mut self.inbuf),
            self.out.take(),
        );
        if let Some(input) = input {
            input.drop_rings(td);
        }
        // A worker that left it empty (a drained input) leaves it alone: another worker of
        // the stage may still put the rest of a run there (`Spare::shed`), and runs it before
        // it leaves. After a stop, what is left there is dropped once, by whichever worker
        // (or distributor) takes it first; each worker that shed there and did not drain it
        // comes here after its last shed.
        if let Some(spare) = self.spare.take().filter(|_| !self.drained) {
            td.step(|| drop(spare.drain()));
        }
        td.step(|| drop(inbuf));
        if let Some(out) = out {
            out.drop_parts(td);
        }
    }
}

/// The end-of-stream hook: its outputs (tagged as the stream's tail with `Preserve`, so the
/// merger hands them out after every input's outputs) are published before the worker closes
/// its output ring.
pub(crate) fn end_of_stream<T, U: Send + 'static, G: Work<T, U>>(
    work: &mut G,
    out: &mut OutBuf<U>,
    stats: &mut WorkerStats,
) {
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
pub(crate) fn process_run<T, U: Send + 'static, G: Work<T, U>>(
    run: impl Iterator<Item = (usize, T)>,
    out: &mut OutBuf<U>,
    work: &mut G,
    one_to_one: bool,
    stats: &mut WorkerStats,
) -> bool {
    let open = stage_run(run, out, work, one_to_one, stats);
    out.commit();
    open
}

/// [`process_run`] without the final publish: the outputs are moved on (staged), not yet
/// committed (the quiet runner times the work alone, then publishes).
// Always: see `process_run`.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn stage_run<T, U: Send + 'static, G: Work<T, U>>(
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
    open
}

/// A run whose items were timed as costly is cut short once it has taken this long (wall
/// time) and its worker leaves the rest in the spare for whichever worker runs dry first:
/// twice the time a run is planned to take (`inlet::RUN_BUDGET_NS`). Items whose cost rose
/// since they were queued (rows of an image that go from empty sky to the detail, a
/// hundredfold dearer) are otherwise run by the worker that took them while the others idle:
/// a run of 256 items planned at 2 µs each took 20-30 ms with rows of 120 µs.
const CUT_RUN_NS: u64 = 1_000_000;

/// A run that may be cut short reads the clock after its first item, then about every this
/// many nanoseconds of items at the cost they have had in the run so far (a read costs a few
/// ns: a tenth of a percent of that), and at least every [`CUT_CHECK_MAX`] items.
const CUT_CHECK_NS: u64 = 4_000;
const CUT_CHECK_MAX: u64 = 64;

/// A run's items, handed out one by one until it has run past `until` (the clock read between
/// items, as [`CUT_CHECK_NS`] says); `ran` counts what it handed out.
struct Cut<'a, I> {
    items: std::vec::Drain<'a, I>,
    ran: usize,
    start: u64,
    until: u64,
    /// Items left before the next clock read.
    left: u64,
}

impl<I> Iterator for Cut<'_, I> {
    type Item = I;

    #[inline]
    fn next(&mut self) -> Option<I> {
        if self.ran > 0 {
            self.left -= 1;
            if self.left == 0 {
                let now = crate::clock::now_ns();
                if now > self.until {
                    return None;
                }
                let spent = now.saturating_sub(self.start).max(1);
                self.left =
                    (CUT_CHECK_NS.saturating_mul(self.ran as u64) / spent).clamp(1, CUT_CHECK_MAX);
            }
            #[cfg(any(fanring_loom, feature = "shuttle"))] // the models: cut after one item
            if crate::loom::models::spare_sheds() {
                return None;
            }
        }
        let item = self.items.next()?;
        self.ran += 1;
        Some(item)
    }
}

/// Runs the run in `inbuf`, begun at `start`, until it has run [`CUT_RUN_NS`], and leaves the
/// rest in `spare`, at its front, for whichever worker of the stage runs dry first (counted
/// in `items_in` by whoever runs them; here in `shed`). Returns how many items it ran (all of
/// them, if the spare could not take the rest), `None` once the merged stream has gone (the
/// rest of the run is then dropped here, once each).
fn cut_run<T, U, I, G>(
    inbuf: &mut Vec<I>,
    spare: &Spare<I>,
    start: u64,
    out: &mut OutBuf<U>,
    work: &mut G,
    one_to_one: bool,
    stats: &mut WorkerStats,
) -> Option<usize>
where
    U: Send + 'static,
    I: InWire<T>,
    G: Work<T, U>,
{
    let n = inbuf.len();
    let mut run = Cut {
        items: inbuf.drain(..),
        ran: 0,
        start,
        until: start.saturating_add(CUT_RUN_NS),
        left: 1,
    };
    if !process_run(
        run.by_ref().map(InWire::unwrap),
        out,
        work,
        one_to_one,
        stats,
    ) {
        return None;
    }
    let ran = run.ran;
    if ran == n {
        return Some(n);
    }
    if spare.shed(run.items.by_ref()) {
        let rest = (n - ran) as u64;
        stats.items_in -= rest;
        stats.shed += rest;
        return Some(ran);
    }
    process_run(run.items.map(InWire::unwrap), out, work, one_to_one, stats).then_some(n)
}

/// Waits as `wait` says until `ready()` or the merged stream has gone: woken by the
/// distributor's publish or close, by the merger's close of `out` (not by its releases:
/// `on_close`), or by the input ring's doorbell (a sibling that put a run back in the spare,
/// the last worker of the stage to finish: `Spare`). `false` once `out` is closed.
fn wait_for<I, U: Send + 'static>(
    wait: WaitStrategy,
    input: &Inlet<I>,
    out: &OutBuf<U>,
    ready: impl Fn() -> bool,
) -> bool {
    wait_until(wait, &(input, &out.on_close()), None, || {
        (ready() || out.is_closed()).then_some(())
    });
    !out.is_closed()
}

/// Processes the input until it ends: `true` when it was closed and drained (a normal end, or
/// a distributor that stopped), `false` when the merged stream went away (the output ring was
/// closed).
#[allow(clippy::too_many_arguments)]
fn work_loop<T, U, I, G>(
    input: &mut Inlet<I>,
    spare: Option<&Spare<I>>,
    inbuf: &mut Vec<I>,
    out: &mut OutBuf<U>,
    work: &mut G,
    spec: &WorkerSpec<impl Sized>,
    stats: &mut WorkerStats,
    done: &dyn Fn(usize, usize),
    finished: &mut bool,
) -> bool
where
    U: Send + 'static,
    I: InWire<T>,
    G: Work<T, U>,
{
    let wait = input.wait_strategy();
    // `inbuf`: a run of inputs moved out of the ring with one copy (its slots are released
    // at once); if the work panics, the rest are dropped with it. Taken into a local (its
    // reserved buffer moves, no allocation) so that the loop keeps its length and pointer in
    // registers: through `&mut` every store of an item could alias them.
    let mut inbuf = std::mem::take(inbuf);
    let mut depth = Depth::new(spec.floor);
    loop {
        stats.peak_occupancy = stats.peak_occupancy.max(input.len());
        let max = spec.batch.min(depth.run());
        let taken = match input.take(&mut inbuf, max) {
            // Its own ring is empty (or closed): a run from the spare first. Once the ring is
            // closed, the distributor adds nothing more: the spare is emptied before leaving.
            Err(e) => match spare.map_or(0, |sp| sp.take(&mut inbuf, max)) {
                0 => Err(e),
                n => Ok(n),
            },
            ok => ok,
        };
        match taken {
            Ok(n) => {
                stats.items_in += n as u64;
                // A run that may prove dearer than its items were (a spare to shed into, and
                // items timed at a microsecond or more) is cut short once it has run long.
                let may_cut = n > 1 && depth.may_cut();
                #[cfg(any(fanring_loom, feature = "shuttle"))] // the models: whatever they cost
                let may_cut = may_cut || (n > 1 && crate::loom::models::spare_sheds());
                let cut = spare.filter(|_| may_cut);
                let start = (cut.is_some() || depth.times(n)).then(crate::clock::now_ns);
                let ran = if let (Some(spare), Some(start)) = (cut, start) {
                    let one = spec.one_to_one;
                    match cut_run(&mut inbuf, spare, start, out, work, one, stats) {
                        Some(ran) => ran,
                        None => return false,
                    }
                } else {
                    let run = inbuf.drain(..).map(InWire::unwrap);
                    if !process_run(run, out, work, spec.one_to_one, stats) {
                        return false;
                    }
                    n
                };
                if let Some(start) = start {
                    depth.ran(ran, crate::clock::now_ns().saturating_sub(start), input);
                    out.set_flush(depth.flush_every());
                }
                // The counters wrap as `usize` (as the sums they are compared with do).
                #[allow(clippy::cast_possible_truncation)]
                done(stats.items_in as usize, out.sent(stats.items_out) as usize);
            }
            Err(PopError::Empty) => {
                // Everything is published; wait for input (in its ring, or put back in the
                // spare by a sibling: `Spare::shed`) or for the merger to go away.
                stats.waits_empty += 1;
                let inp = &*input;
                let spared = || spare.is_some_and(|s| !s.looks_empty());
                if !wait_for(wait, inp, out, || inp.ready_hint() || spared()) {
                    return false;
                }
            }
            Err(PopError::Closed) => {
                let Some(spare) = spare else { return true };
                // Done, and the spare empty: it stays until every worker of the stage is done,
                // for a run another puts back meanwhile (a costly tail would otherwise run on
                // whichever workers are still there).
                if !*finished {
                    spare.finish();
                    *finished = true;
                }
                if !wait_for(wait, input, out, || {
                    spare.all_finished() || !spare.looks_empty()
                }) {
                    return false;
                }
                if !spare.looks_empty() {
                    spare.unfinish();
                    *finished = false;
                } else if spare.all_finished() {
                    return true;
                }
            }
        }
    }
}
