//! What the engine's threads tell each other and the handle that joins them: the first
//! failure, the abort flag, each thread's counters, and how many threads have exited.

use super::worker::WorkerStats;
use crate::dispatch::DistributorStats;
use crate::error::panic_message;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::sync::Mutex;
use crate::merge::{AbortFlag, MergerStats};
use crate::EngineError;
use std::any::Any;

pub(crate) struct Control {
    /// A stage failed: the merger stops at the first closed ring instead of draining on.
    abort: AtomicBool,
    failure: Mutex<Option<EngineError>>,
    workers: Mutex<Vec<WorkerStats>>,
    distributor: Mutex<Option<DistributorStats>>,
    merger: Mutex<Option<MergerStats>>,
    exited: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> crate::loom::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot happen (no user code runs under them),
    // but a poisoned lock still holds valid counters.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Control {
    pub(crate) fn new(workers: usize) -> Self {
        Control {
            abort: AtomicBool::new(false),
            failure: Mutex::new(None),
            workers: Mutex::new(vec![WorkerStats::default(); workers]),
            distributor: Mutex::new(None),
            merger: Mutex::new(None),
            exited: AtomicUsize::new(0),
        }
    }

    /// Records the first failure and raises the abort flag. Called before the failing thread
    /// closes its rings.
    pub(crate) fn fail(&self, e: EngineError) {
        lock(&self.failure).get_or_insert(e);
        // Release: pairs with the Acquire load in `aborted`; the thread then closes its rings
        // (Release), so a merger that sees a ring closed (Acquire) sees the flag.
        self.abort.store(true, Release);
    }

    pub(crate) fn worker_panicked(&self, worker: usize, payload: &(dyn Any + Send)) {
        self.fail(EngineError::WorkerPanicked {
            worker,
            message: panic_message(payload),
        });
    }

    pub(crate) fn failure(&self) -> Option<EngineError> {
        lock(&self.failure).clone()
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

    pub(crate) fn stats(
        &self,
    ) -> (
        Option<DistributorStats>,
        Vec<WorkerStats>,
        Option<MergerStats>,
    ) {
        (
            *lock(&self.distributor),
            lock(&self.workers).clone(),
            *lock(&self.merger),
        )
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
}

impl AbortFlag for Control {
    fn aborted(&self) -> bool {
        // Acquire: pairs with the Release store in `fail`.
        self.abort.load(Acquire)
    }
    fn report(&self, e: EngineError) {
        self.fail(e);
    }
}
