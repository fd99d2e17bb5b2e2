//! The engine's distributor thread (`run`, `run_source`, `run_with_sink`), and how a handle
//! that ends the engine waits for it: never while it waits inside the source.

use super::control::Control;
use super::dispatch::{AnyDistributor, QuietSeed};

use crate::error::panic_message;
use crate::loom::sync::Arc;
use crate::loom::thread::{Builder as ThreadBuilder, JoinHandle};
use crate::pinning::pin_current;
use crate::source::Source;
use crate::teardown::Teardown;
use crate::{BuildError, Failure};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Starts the distributor thread: it drains `source` into the workers ([`AnyDistributor::pump`])
/// until the source ends, the engine stops, or a handle cancels it. Its handle is not among
/// the threads a handle reaps: see [`SourceThread`].
///
/// With a `quiet` runner (`engine::inline`), the thread runs a quiet run itself when its
/// worker is parked; the runner (and its lane to the merger) is closed and dropped with the
/// distributor's rings.
pub(crate) fn spawn_source<S>(
    source: S,
    mut distributor: AnyDistributor<S::Item>,
    mut buf: Vec<S::Item>,
    quiet: Option<QuietSeed<S::Item>>,
    control: Arc<Control>,
    core: Option<usize>,
) -> Result<SourceThread, BuildError>
where
    S: Source + Send + 'static,
    S::Item: Send + 'static,
{
    let c = control;
    let handle = ThreadBuilder::new()
        .name("fanring-distributor".into())
        .spawn(move || {
            pin_current(core);
            crate::wait::punctual_timers();
            let mut quiet = quiet.map(|seed| seed());
            let run = catch_unwind(AssertUnwindSafe(|| {
                // A run at a time: taken from the source into a local buffer, then moved to
                // the rings with one copy. On a stop the items taken are dropped with `buf`.
                let mut source = source;
                let q = quiet.as_deref_mut();
                let _ = distributor.pump(&mut source, &mut buf, Some(&c), q);
                drop(buf);
            }));
            if let Err(p) = run {
                // With its payload: the merged stream's iterator re-raises it.
                c.panicked(|message| Failure::SourcePanicked { message }, p);
            }
            distributor.close();
            c.set_distributor_stats(distributor.stats());
            // The rings' last handles drop the items left in them: a panicking `Drop` is
            // reported, and every ring is still dropped, before the thread says it exited.
            let mut td = Teardown::new();
            // The lane closes as its producer (the runner) is dropped, after publishing.
            td.step(|| drop(quiet.take()));
            distributor.drop_rings(&mut td);
            if let Some(p) = td.into_panic() {
                c.fail(Failure::SourcePanicked {
                    message: panic_message(&*p),
                });
            }
            c.distributor_exit();
        })
        .map_err(BuildError::Spawn)?;
    Ok(SourceThread {
        handle: Some(handle),
    })
}

/// The engine's distributor thread, seen from the handle that ends the engine. Ending
/// normally (the source ended and everything drained), the thread has exited: it is joined.
/// Ending early ([`Control::cancel`] first), the handle waits for it only while it runs
/// engine code; one that waits inside the source's blocking `recv` is left to exit by itself
/// when the source returns (it then stages nothing, and drops what it took, once).
pub(crate) struct SourceThread {
    handle: Option<JoinHandle<()>>,
}

impl SourceThread {
    /// Waits until the thread exited (and joins it) or waits inside the source (and leaves
    /// it). Call after [`Control::cancel`], or once the stream ended.
    pub(crate) fn settle(&mut self, control: &Control) {
        self.wait(control, false);
    }

    /// Waits until the thread exited, also from inside the source, and joins it.
    pub(crate) fn join(&mut self, control: &Control) {
        self.wait(control, true);
    }

    fn wait(&mut self, control: &Control, through_source: bool) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        #[cfg(not(fanring_loom))]
        if through_source {
            let _ = handle.join();
            return;
        }
        let mut polls = 0u32;
        loop {
            match control.distributor_settled() {
                Some(true) => {
                    // Exited (its last act): under loom, never join (see `reap`).
                    #[cfg(not(fanring_loom))]
                    let _ = handle.join();
                    #[cfg(fanring_loom)]
                    drop(handle);
                    return;
                }
                Some(false) if !through_source => return, // inside the source: left
                _ => {
                    // Running engine code, which ends soon once cancelled (or, joining, the
                    // source's `recv`). A few yields, then short sleeps.
                    polls = polls.saturating_add(1);
                    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
                    if polls > 64 {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                        continue;
                    }
                    crate::loom::thread::yield_now();
                }
            }
        }
    }
}
