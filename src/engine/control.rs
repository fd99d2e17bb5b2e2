//! What the engine's threads tell each other and the handle that joins them: the first
//! failure, the abort flag, each thread's counters, and how many threads have exited.

use super::merger::AbortFlag;
use crate::error::panic_message;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::sync::Mutex;
use crate::pinning::Plan;
use crate::stats::{DistributorStats, MergerStats, Stats, WorkerStats};
use crate::wait::Backoff;
use crate::Failure;
use crossbeam_utils::CachePadded;
use std::any::Any;

pub(crate) struct Control {
    /// A stage failed: the merger stops at the first closed ring instead of draining on.
    abort: AtomicBool,
    failure: Mutex<Option<Failed>>,
    workers: Mutex<Vec<WorkerStats>>,
    distributor: Mutex<Option<DistributorStats>>,
    merger: Mutex<Option<MergerStats>>,
    exited: AtomicUsize,
    /// Per worker (every stage's, in stage order): inputs it finished and outputs it sent for
    /// them, all published (for `drive`'s "is anything still in flight").
    done: Box<[CachePadded<Done>]>,
    /// Each stage's first worker (in `done`), and one past the last stage's last.
    stage_starts: Box<[usize]>,
    /// A handle ended the engine early (dropped or joined its stream before the end).
    cancelled: AtomicBool,
    /// Per group of threads: arrivals at the end-of-stream hooks' barrier (one per thread
    /// and level, [`end_barrier`](Self::end_barrier), [`hook_barrier`](Self::hook_barrier));
    /// and whether any worker ended without its input ending normally.
    hook_arrivals: Box<[AtomicUsize]>,
    undrained: AtomicBool,
    /// Where the engine's distributor thread is (`RUNNING`, `IN_SOURCE`, `EXITED`): a
    /// cancelling handle waits for it while it runs engine code, but not while it waits
    /// inside the user's source.
    distributor_at: AtomicUsize,
}

/// The engine's first failure, and what its iterator re-raises on the consumer's thread.
struct Failed {
    failure: Failure,
    /// The failing stage's own panic payload; taken when the iterator re-raises it.
    payload: Option<Box<dyn Any + Send>>,
    /// The iterator has re-raised it (once is enough: later calls end the stream quietly).
    raised: bool,
}

/// A worker's finished inputs and the outputs it sent for them.
struct Done {
    inputs: AtomicUsize,
    sent: AtomicUsize,
}

const RUNNING: usize = 0;
const IN_SOURCE: usize = 1;
const EXITED: usize = 2;

fn lock<T>(m: &Mutex<T>) -> crate::loom::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot happen (no user code runs under them),
    // but a poisoned lock still holds valid counters.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Control {
    /// A single farm of `workers` workers.
    pub(crate) fn new(workers: usize) -> Self {
        Control::stages(&[workers])
    }

    /// A graph whose groups of worker threads have `workers[k]` threads each: a stage with
    /// threads of its own, together with the stages fused onto them (`engine::fuse`).
    pub(crate) fn stages(workers: &[usize]) -> Self {
        let mut stage_starts = Vec::with_capacity(workers.len() + 1);
        let mut all = 0usize;
        for &w in workers {
            stage_starts.push(all);
            all += w;
        }
        stage_starts.push(all);
        Control {
            abort: AtomicBool::new(false),
            failure: Mutex::new(None),
            workers: Mutex::new(vec![WorkerStats::default(); all]),
            distributor: Mutex::new(None),
            merger: Mutex::new(None),
            exited: AtomicUsize::new(0),
            done: (0..all)
                .map(|_| {
                    CachePadded::new(Done {
                        inputs: AtomicUsize::new(0),
                        sent: AtomicUsize::new(0),
                    })
                })
                .collect(),
            stage_starts: stage_starts.into_boxed_slice(),
            cancelled: AtomicBool::new(false),
            hook_arrivals: workers.iter().map(|_| AtomicUsize::new(0)).collect(),
            undrained: AtomicBool::new(false),
            distributor_at: AtomicUsize::new(RUNNING),
        }
    }

    /// A handle ends the engine early; from now on the distributor thread never enters the
    /// source again.
    pub(crate) fn cancel(&self) {
        // SeqCst, with `enter_source`'s two accesses: of "we cancel, then read where the
        // distributor is" and "it says it is in the source, then reads the flag", at least
        // one side sees the other's store (Dekker). So either the distributor sees the flag
        // and does not enter, or we see it inside and do not wait for it.
        self.cancelled.store(true, SeqCst);
    }

    /// Whether a handle ended the engine early.
    pub(crate) fn cancelled(&self) -> bool {
        // Acquire: pairs with the store in `cancel` through the chain of Release closes that
        // follows it (the merger closes the output rings after cancelling, every other ring
        // closes after that), so a worker that sees its input closed by an early end sees
        // the flag. (The Dekker pair with `cancel` is `enter_source`'s own SeqCst load.)
        self.cancelled.load(Acquire)
    }

    /// The distributor thread is about to call the source's blocking `recv`: `false` if the
    /// engine was cancelled (then it must not).
    pub(crate) fn enter_source(&self) -> bool {
        // SeqCst: see `cancel`.
        self.distributor_at.store(IN_SOURCE, SeqCst);
        if self.cancelled.load(SeqCst) {
            self.distributor_at.store(RUNNING, SeqCst);
            return false;
        }
        true
    }

    /// The source's `recv` returned: `false` if the engine was cancelled meanwhile (a handle
    /// may have stopped waiting for this thread: it must stage nothing more).
    pub(crate) fn leave_source(&self) -> bool {
        // SeqCst: see `cancel`.
        self.distributor_at.store(RUNNING, SeqCst);
        !self.cancelled.load(SeqCst)
    }

    /// The distributor thread's last act (instead of [`exit`](Self::exit)).
    pub(crate) fn distributor_exit(&self) {
        // Release: pairs with the Acquire load in `distributor_at`: its stats are
        // visible.
        self.distributor_at.store(EXITED, Release);
    }

    /// Where the distributor thread is now.
    pub(crate) fn distributor_at(&self) -> DistributorAt {
        // SeqCst: see `cancel` (also Acquire for `distributor_exit`).
        match self.distributor_at.load(SeqCst) {
            EXITED => DistributorAt::Exited,
            IN_SOURCE => DistributorAt::InSource,
            _ => DistributorAt::Running,
        }
    }

    /// Records the first failure and raises the abort flag. Called before the failing thread
    /// closes its rings.
    pub(crate) fn fail(&self, e: Failure) {
        self.fail_with(e, None);
    }

    /// [`fail`](Self::fail) with the stage's panic payload, which the merged stream's
    /// iterator re-raises on the consumer's thread ([`take_raise`](Self::take_raise)). A
    /// payload that comes after the first failure is dropped here.
    pub(crate) fn fail_with(&self, e: Failure, payload: Option<Box<dyn Any + Send>>) {
        let later = {
            let mut f = lock(&self.failure);
            if f.is_some() {
                payload
            } else {
                *f = Some(Failed {
                    failure: e,
                    payload,
                    raised: false,
                });
                None
            }
        };
        // Outside the lock: a payload's `Drop` is user code. One that panics is leaked
        // (nothing may unwind out of a stage's failure path).
        if let Some(p) = later {
            crate::teardown::discard(p);
        }
        // Release: pairs with the Acquire load in `aborted`; the thread then closes its rings
        // (Release), so a merger that sees a ring closed (Acquire) sees the flag.
        self.abort.store(true, Release);
    }

    /// A stage's panic, caught on its thread: recorded with its payload.
    pub(crate) fn panicked(&self, e: impl FnOnce(String) -> Failure, payload: Box<dyn Any + Send>) {
        let message = panic_message(&*payload);
        self.fail_with(e(message), Some(payload));
    }

    pub(crate) fn failure(&self) -> Option<Failure> {
        lock(&self.failure).as_ref().map(|f| f.failure.clone())
    }

    /// The failure, reported as a value (`next_checked`): it counts as raised, so the iterator
    /// then ends quietly instead of re-raising it.
    pub(crate) fn report_failure(&self) -> Option<Failure> {
        let (failure, payload) = {
            let mut f = lock(&self.failure);
            let f = f.as_mut()?;
            f.raised = true;
            (f.failure.clone(), f.payload.take())
        };
        // Outside the lock: a payload's `Drop` is user code.
        if let Some(p) = payload {
            crate::teardown::discard(p);
        }
        Some(failure)
    }

    /// What the merged stream's iterator raises once it has handed out every item it holds
    /// and the engine failed: the failing stage's own panic payload, or (a failure without
    /// one, or a payload already re-raised) a `String` naming the failure. `None` if the
    /// engine did not fail, or the failure was raised before (the stream then ends quietly).
    pub(crate) fn take_raise(&self) -> Option<Box<dyn Any + Send>> {
        let mut f = lock(&self.failure);
        let f = f.as_mut().filter(|f| !f.raised)?;
        f.raised = true;
        Some(
            f.payload
                .take()
                .unwrap_or_else(|| Box::new(format!("fanring: {}", f.failure))),
        )
    }

    pub(crate) fn set_worker_stats(&self, worker: usize, stats: WorkerStats) {
        lock(&self.workers)[worker] = stats;
    }

    pub(crate) fn set_distributor_stats(&self, stats: DistributorStats) {
        *lock(&self.distributor) = Some(stats);
    }

    pub(crate) fn set_merger_stats(&self, stats: MergerStats) {
        *lock(&self.merger) = Some(stats);
    }

    /// The engine's outcome once its threads have ended: its first failure, or its counters,
    /// with `merger`'s if the caller merged (else the merger thread's, recorded here).
    pub(crate) fn outcome(
        &self,
        plan: &Plan,
        merger: Option<MergerStats>,
    ) -> Result<Stats, Failure> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        Ok(Stats {
            distributor: *lock(&self.distributor),
            workers: lock(&self.workers).clone(),
            merger: merger.or(*lock(&self.merger)).unwrap_or_default(),
            plan: plan.clone(),
        })
    }

    /// Worker `worker` has finished `inputs` inputs in all, and published their `sent`
    /// outputs.
    #[inline]
    pub(crate) fn set_done(&self, worker: usize, inputs: usize, sent: usize) {
        let d = &self.done[worker];
        // Release (both, `sent` first): pair with the Acquire loads in `all_done`: the
        // outputs committed before are visible to whoever sees the counts, and whoever sees
        // `inputs` sees the `sent` that goes with it.
        d.sent.store(sent, Release);
        d.inputs.store(inputs, Release);
    }

    /// Whether every one of the `handed` items handed to the first stage went through every
    /// stage: each stage finished as many inputs as the stage before it sent (the first:
    /// `handed`), their outputs published. Read stage by stage from the first: once a stage
    /// has finished all it was given, it sends nothing more, so the count it is compared
    /// with next is final.
    pub(crate) fn all_done(&self, handed: usize) -> bool {
        let mut given = handed;
        for stage in self.stage_starts.windows(2) {
            let workers = &self.done[stage[0]..stage[1]];
            // Acquire: pairs with `set_done` (`inputs` first: its `sent` is then at least
            // as new).
            let inputs = workers
                .iter()
                .fold(0usize, |sum, d| sum.wrapping_add(d.inputs.load(Acquire)));
            if inputs != given {
                return false;
            }
            given = workers
                .iter()
                .fold(0usize, |sum, d| sum.wrapping_add(d.sent.load(Acquire)));
        }
        true
    }

    /// A worker's work loop ended, `drained` if its input ended normally. With end-of-stream
    /// hooks every thread of `group` (a stage's threads, which the stages fused onto them
    /// share) calls this, and waits here until every thread's loop has ended: `true` if all
    /// drained and the engine neither failed nor was stopped by a handle meanwhile (the hooks
    /// may run), `false` as soon as one of those is known. So a worker that fails, or a handle
    /// that stops the engine, before every input ended stops every hook. The wait is a backoff
    /// (it happens once per thread and hook level, at the end).
    pub(crate) fn end_barrier(&self, group: usize, drained: bool) -> bool {
        if !drained {
            // Release: pairs with the Acquire loads in `hook_barrier`, in the other workers.
            self.undrained.store(true, Release);
        }
        self.hook_barrier(group, 0)
    }

    /// Level `level` of `group`'s end barrier (level 0: [`end_barrier`](Self::end_barrier)):
    /// before the hook of the `level`-th stage fused onto the group's threads, every thread
    /// waits until every other has run the hooks before it, and passed their outputs through
    /// the stages on its own thread (`engine::fuse`). So a fused stage's hook, as an unfused
    /// one's, runs only once every worker of its stage has every input it will get, and only
    /// after a normal end (as at level 0). Every thread of the group reaches the levels in
    /// order, one call each, until one returns `false`.
    pub(crate) fn hook_barrier(&self, group: usize, level: usize) -> bool {
        let threads = self.stage_starts[group + 1] - self.stage_starts[group];
        let arrived = threads.saturating_mul(level + 1);
        // Release (after the thread's hooks, and the `undrained` store): a thread that counts
        // everyone sees them.
        self.hook_arrivals[group].fetch_add(1, Release);
        let mut backoff = Backoff::default();
        loop {
            // Acquire: pairs with the Release accesses above, in every thread of the group.
            if self.undrained.load(Acquire) || self.cancelled() || self.aborted() {
                return false;
            }
            if self.hook_arrivals[group].load(Acquire) >= arrived {
                return !self.undrained.load(Acquire) && !self.cancelled() && !self.aborted();
            }
            backoff.snooze();
        }
    }

    /// A thread's last act.
    pub(crate) fn exit(&self) {
        // Release: pairs with the Acquire load in `exited`: the thread's stats are visible.
        self.exited.fetch_add(1, Release);
    }

    #[cfg_attr(not(fanring_loom), allow(dead_code))]
    pub(crate) fn exited(&self) -> usize {
        self.exited.load(Acquire)
    }

    /// Whether a stage failed.
    pub(crate) fn aborted(&self) -> bool {
        // Acquire: pairs with the Release store in `fail`.
        self.abort.load(Acquire)
    }
}

impl AbortFlag for Control {
    fn aborted(&self) -> bool {
        Control::aborted(self)
    }
    fn report(&self, e: Failure) {
        self.fail(e);
    }
}

/// Where the distributor thread is ([`Control::distributor_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DistributorAt {
    /// It exited (its last act): its stats are visible and it may be joined.
    Exited,
    /// It waits inside the source's `recv`, and will exit without touching the engine when
    /// the source returns.
    InSource,
    /// It runs engine code, and once cancelled exits soon.
    Running,
}
