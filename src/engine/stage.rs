//! The one shell every thread of the engine runs in (a worker, the distributor thread, the
//! merger thread of `run_with_sink`): pinned and with punctual timers, its loop run under
//! `catch_unwind` with a panic recorded as the engine's failure (with its payload, before any
//! of its rings closes), then its rings closed and its counters recorded, then what it holds
//! dropped, each part in a step of its own (a panicking `Drop` is recorded too and skips
//! nothing), then its exit counted. One home for the order that makes every end safe: record
//! the failure, then close, then drop, then exit.

use super::control::Control;
use crate::loom::sync::Arc;
use crate::loom::thread::{Builder as ThreadBuilder, JoinHandle};
use crate::pinning::pin_current;
use crate::teardown::Teardown;
use crate::{BuildError, Failure};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a thread of the engine does, in the shell's order.
pub(crate) trait Stage: Send + 'static {
    /// The thread's loop; it runs user code, so it may unwind.
    fn run(&mut self, control: &Control);

    /// The engine's failure for a panic of this thread (`run`, or a `Drop` in `drop_parts`).
    fn failure(&self, message: String) -> Failure;

    /// After `run`, whatever ended it: publishes, closes every ring (nothing waits on this
    /// thread any more) and records the counters. Drops no item, so it cannot panic.
    fn close(&mut self, control: &Control);

    /// Drops what the thread holds (rings whose other end is gone drop their items with
    /// them), each part in a step of `td` of its own.
    fn drop_parts(&mut self, td: &mut Teardown);

    /// The thread's last act: counted as exited.
    fn exit(&self, control: &Control) {
        control.exit();
    }
}

/// Starts `stage` on a thread named `name`, pinned to `core` (or to every core of the process).
///
/// # Errors
/// [`BuildError::Spawn`] if the OS refuses the thread (`stage` is dropped: its rings close).
pub(crate) fn spawn_stage<S: Stage>(
    name: String,
    core: Option<usize>,
    control: Arc<Control>,
    mut stage: S,
) -> Result<JoinHandle<()>, BuildError> {
    ThreadBuilder::new()
        .name(name)
        .spawn(move || {
            pin_current(core);
            crate::wait::punctual_timers();
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| stage.run(&control))) {
                #[cfg(fanring_loom)] // canary: the rings close before the failure is recorded
                if crate::loom::canary::graph_close_before_failure() {
                    stage.close(&control);
                }
                // Recorded (and the abort flag raised) before the rings close, so whoever
                // sees them closed also sees why; with its payload, which the merged
                // stream's iterator re-raises.
                control.panicked(|message| stage.failure(message), payload);
            }
            stage.close(&control);
            let mut td = Teardown::new();
            stage.drop_parts(&mut td);
            if let Some(payload) = td.into_panic() {
                control.panicked(|message| stage.failure(message), payload);
            }
            stage.exit(&control);
        })
        .map_err(BuildError::Spawn)
}
