//! The distributor running a quiet run itself: when the source had no more items ready and the
//! worker the run would go to is parked, waking that worker costs a futex wake and a
//! scheduling (several µs on a VM) for every item of a quiet stream, and the item then crosses
//! two hops (distributor → worker → merger). With stateless work of at most one output per
//! input (`map`, `filter_map`; `Work::QUIET_RUNS`) the distributor's own copy of the work can
//! process the run instead and publish its outputs on a ring of its own, the *lane*, which the
//! merger reads like a worker's output ring: one hop, and no worker woken.
//!
//! A quiet run never keeps the distributor from its source for long: it is taken only when
//! the lane has room for all its outputs (so it never waits for the merger; a caller that
//! feeds the source before it reads the output would otherwise wait on the distributor while
//! the distributor waited on it: `flat_map`, whose outputs per input are unbounded, has no
//! quiet runs), it stops once its work has taken 5 µs and hands the rest to the workers, and
//! quiet runs stop for a while when their work keeps taking long or keeps the distributor
//! busy (see below).
//!
//! In a graph of such stages with no `by_key` stage, the work is every stage's in turn
//! (`work::ChainWork`), and the lane feeds the merger after the last stage.
//!
//! Used by the engine's distributor thread (`run`, `run_source`, `run_with_sink`) with
//! round-robin or least-loaded dispatch and `Order::Any` or the tagged `Preserve` (the lane's
//! outputs carry their sequence numbers into the reorder window). Not with `ByKey` (a key's
//! items keep their worker's order), the rotating `Preserve` (the merger reads the workers in
//! turn), `stateful` work (its state lives on its worker), or where the caller distributes.

use super::control::Control;
use super::dispatch::{QuietRun, Stopped};
use super::emit::OutBuf;
use super::work::Work;
use super::worker::stage_run;
use crate::loom::sync::Arc;
use crate::stats::WorkerStats;
use crate::Failure;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Quiet runs whose work took longer than this, [`LONG_RUNS`] in a row, are better spread over
/// the workers: the distributor stops taking quiet runs for [`BACK_OFF_RUNS`] runs (a row of
/// an image, say, whose source is quick but whose work takes tens of µs: run by the
/// distributor it would serialise the stream, while the work on a parked worker costs one
/// wake-up). In a row, so that one run stretched by a preemption does not count. Each time it
/// finds them long again the pause doubles, up to [`MAX_BACK_OFF_RUNS`] (items of hundreds of
/// µs would otherwise take a few percent of the stream onto one thread, each holding the
/// other workers' next items back); a quiet run that is quick, while quiet runs take under a
/// sixteenth of the distributor's time (below), brings it back to the first. A pause also ends
/// as soon as two short runs in a row come further apart than sixteen times the work a quiet
/// run took when it began: the stream has gone quiet, and a pause counted in runs would
/// otherwise last thousands of its items (seconds, at one item a millisecond).
///
/// A run of many items is taken only if its work, at the cost per item of the last quiet run,
/// would not take long ([`LONG_RUN_NS`]); before any run, one item (its cost is unknown). A run
/// whose work takes long all the same (items dearer than the last) stops after the item that
/// took it past [`LONG_RUN_NS`], and the rest go to the workers. So a burst of costly items (or
/// an iterator whose runs are cut short by time) is not serialised on the distributor's
/// thread while its workers sleep.
///
/// Quiet runs whose work takes more than a quarter of the distributor's time, averaged over the
/// last runs (the work, and the time from one quiet run's start to the next's, each a moving
/// average weighing the last run an eighth), stop for a pause at once, as long ones do: the
/// source is not quiet, only slow (an iterator whose `next()` takes a few µs gives runs of one
/// item), and running the work there would make the stream as slow as the source and the work
/// in turn. An average, not a row of runs: cheap items between costly ones would break a row.
const LONG_RUN_NS: u64 = 5_000;
const LONG_RUNS: u32 = 3;
const BACK_OFF_RUNS: u32 = 64;
const MAX_BACK_OFF_RUNS: u32 = 4096;

/// The distributor's own copy of the work and its output lane.
pub(crate) struct Inline<T, U, K> {
    work: K,
    /// The lane to the merger (plain or tagged, as the workers' output rings).
    lane: OutBuf<U>,
    one_to_one: bool,
    control: Arc<Control>,
    /// Counted as a worker's would be; not reported (the distributor's `inline` counts it).
    stats: WorkerStats,
    /// Quiet runs in a row whose work took long, and runs left before it takes a quiet run
    /// again after `LONG_RUNS` of them.
    long_runs: u32,
    back_off: u32,
    /// The next pause, doubled each time it is taken.
    next_back_off: u32,
    /// The most items a quiet run may have: its work's expected time stays under
    /// `LONG_RUN_NS` at the last run's cost per item (one item at least).
    max_items: usize,
    /// When the last quiet run started (fast-clock ns; 0: none yet), and the moving averages
    /// of the quiet runs' work and of the time from one's start to the next's, in ns.
    last_start: u64,
    work_avg: u64,
    span_avg: u64,
    /// Runs averaged since the averages started (again).
    samples: u32,
    /// The work per quiet run (ns) when the current pause began, and when the source last
    /// handed over a short run during it (fast-clock ns; the pause's first run to begin with).
    paused_work: u64,
    last_ask: u64,
    /// Short runs in a row during a pause that came that far apart.
    far_asks: u32,
    _t: PhantomData<fn(T)>,
}

impl<T, U, K: Work<T, U>> Inline<T, U, K> {
    pub(crate) fn new(work: K, lane: OutBuf<U>, one_to_one: bool, control: Arc<Control>) -> Self {
        Inline {
            work,
            lane,
            one_to_one,
            control,
            stats: WorkerStats::default(),
            long_runs: 0,
            back_off: 0,
            next_back_off: BACK_OFF_RUNS,
            max_items: 1,
            last_start: 0,
            work_avg: 0,
            span_avg: 0,
            samples: 0,
            paused_work: 0,
            last_ask: 0,
            far_asks: 0,
            _t: PhantomData,
        }
    }
}

impl<T, U: Send + 'static, K: Work<T, U>> QuietRun<T> for Inline<T, U, K> {
    fn willing(&mut self, k: usize) -> bool {
        if self.back_off > 0 {
            // Short runs far apart against the work that started the pause: quiet again.
            let now = crate::clock::now_ns();
            // Two in a row: one long gap may be this thread descheduled.
            let far =
                self.last_ask != 0 && now.saturating_sub(self.last_ask) > 16 * self.paused_work;
            self.far_asks = if far { self.far_asks + 1 } else { 0 };
            if self.far_asks >= 2 {
                (self.back_off, self.far_asks) = (0, 0);
                self.next_back_off = BACK_OFF_RUNS;
            }
            self.last_ask = now;
        }
        self.back_off = self.back_off.saturating_sub(1);
        // A tagged lane carries an `End` mark after each input of work that is not one to one.
        let slots = if self.lane.is_tagged() && !self.one_to_one {
            2 * k
        } else {
            k
        };
        self.back_off == 0 && k <= self.max_items && self.lane.has_room(slots)
    }

    fn run(&mut self, items: &mut Vec<T>, seq: usize, worker: usize) -> Result<(), Stopped> {
        let started = crate::clock::now_ns();
        let Inline {
            work,
            lane,
            one_to_one,
            stats,
            ..
        } = self;
        // The items are taken from the back of the reversed run, one at a time, so that the
        // run can stop after any of them with the rest still in `items`, in order once
        // reversed back (and its allocation kept: its capacity is the distributor's run).
        items.reverse();
        let mut taken = 0usize;
        let run = std::iter::from_fn(|| {
            if taken > 0 && crate::clock::now_ns().saturating_sub(started) > LONG_RUN_NS {
                return None; // long enough: the rest goes to the workers
            }
            let item = items.pop()?;
            let numbered = (seq.wrapping_add(taken), item);
            taken += 1;
            Some(numbered)
        });
        let done = catch_unwind(AssertUnwindSafe(|| {
            stage_run(run, lane, work, *one_to_one, stats)
        }));
        items.reverse();
        // The work's time alone: the publish below may wake the merger (a futex wake, several
        // µs on a VM), which says nothing about the work.
        let took = crate::clock::now_ns().saturating_sub(started);
        let per_item = took / taken.max(1) as u64;
        self.max_items = usize::try_from(LONG_RUN_NS / per_item.max(1))
            .unwrap_or(usize::MAX)
            .max(1);
        if done.is_ok() {
            // (After a panic, what was staged is published when the lane closes, once the
            // failure is recorded.)
            self.lane.commit();
        }
        // Busy: quiet runs take over a quarter of the distributor's time, on average (see
        // `LONG_RUN_NS`); idle: under a sixteenth over eight runs at least (only then does a
        // quick run bring the pause back to the first, so that a slow source's pauses keep
        // doubling even when cheap items come between its costly ones).
        if self.last_start != 0 {
            let span = started.saturating_sub(self.last_start);
            self.work_avg = self.work_avg - self.work_avg / 8 + took / 8;
            self.span_avg = self.span_avg - self.span_avg / 8 + span / 8;
            self.samples = self.samples.saturating_add(1);
        }
        let busy = self.work_avg.saturating_mul(4) > self.span_avg;
        let idle = self.samples >= 8 && self.work_avg.saturating_mul(16) <= self.span_avg;
        self.last_start = started;
        let long = took > LONG_RUN_NS;
        self.long_runs = if long { self.long_runs + 1 } else { 0 };
        if busy || self.long_runs >= LONG_RUNS {
            self.long_runs = 0;
            self.back_off = self.next_back_off;
            self.next_back_off = (self.next_back_off * 2).min(MAX_BACK_OFF_RUNS);
            self.paused_work = self.work_avg.max(took);
            (self.last_ask, self.far_asks) = (started, 0);
            // After the pause the averages start again: the time it spans says nothing of
            // the quiet runs' share.
            (self.last_start, self.work_avg, self.span_avg, self.samples) = (0, 0, 0, 0);
        } else if !long && idle {
            self.next_back_off = BACK_OFF_RUNS;
        }
        let (stage, worker) = (self.work.stage(), self.work.worker(worker));
        match done {
            Ok(true) => Ok(()),
            // The merged stream went away: the engine is ending early.
            Ok(false) => Err(Stopped),
            Err(payload) => {
                // The work's panic, as the worker it stood in for would have reported it:
                // recorded (and `abort` raised) before the lane and the rings close.
                self.control.panicked(
                    |message| Failure::WorkerPanicked {
                        stage,
                        worker,
                        message,
                    },
                    payload,
                );
                Err(Stopped)
            }
        }
    }
}
