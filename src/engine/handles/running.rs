//! An engine running entirely on its own threads (`run_with_sink`).

use super::reap;
use crate::engine::control::Control;
use crate::engine::source_thread::SourceThread;
use crate::loom::sync::Arc;
use crate::loom::thread::JoinHandle;
use crate::pinning::Plan;
use crate::stats::Stats;
use crate::Failure;
use std::fmt;

/// An engine running entirely on its own threads (from [`Pipeline::run_with_sink`](crate::Pipeline::run_with_sink)).
pub struct Running {
    pub(crate) control: Arc<Control>,
    pub(crate) threads: Vec<JoinHandle<()>>,
    pub(crate) source: Option<SourceThread>,
    pub(crate) plan: Plan,
}

impl Running {
    /// Where each thread runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Waits until the source is drained and every output went to the sink; returns the
    /// counters.
    ///
    /// # Errors
    /// The first stage failure (worker, source or sink panic).
    pub fn join(mut self) -> Result<Stats, Failure> {
        if let Some(mut source) = self.source.take() {
            source.join(&self.control);
        }
        let threads = std::mem::take(&mut self.threads);
        reap(&self.control, threads);
        self.control.outcome(&self.plan, None)
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("plan", &self.plan).finish()
    }
}

impl Drop for Running {
    /// Leaves the engine to finish by itself, like a dropped `JoinHandle` (its source and sink
    /// are user code that may wait for a long time, and a handle's drop never waits on
    /// them): every item still reaches the sink or is dropped once, and every thread exits
    /// once the source has ended. [`join`](Self::join) to wait.
    fn drop(&mut self) {
        // Detached: nothing here is waited for.
        self.source.take();
        self.threads.clear();
    }
}
