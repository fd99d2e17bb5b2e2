//! The engine's distributor thread (`run`, `run_source`, `run_with_sink`), and how a handle
//! that ends the engine waits for it: never while it waits inside the source.

use super::control::{Control, DistributorAt};
use super::dispatch::{AnyDistributor, QuietSeed};
use super::stage::{spawn_stage, Stage};
use crate::loom::sync::Arc;
use crate::loom::thread::JoinHandle;
use crate::source::Source;
use crate::teardown::Teardown;
use crate::wait::Backoff;
use crate::{BuildError, Failure};

/// Starts the distributor thread: it drains `source` into the workers ([`AnyDistributor::pump`])
/// until the source ends, the engine stops, or a handle cancels it. Its handle is not among
/// the threads a handle reaps: see [`SourceThread`].
///
/// With a `quiet` runner (`engine::inline`), the thread runs a quiet run itself when its
/// worker is parked; the runner (and its lane to the merger) is closed and dropped with the
/// distributor's rings.
pub(crate) fn spawn_source<S>(
    source: S,
    distributor: AnyDistributor<S::Item>,
    buf: Vec<S::Item>,
    quiet: Option<QuietSeed<S::Item>>,
    control: Arc<Control>,
    core: Option<usize>,
) -> Result<SourceThread, BuildError>
where
    S: Source + Send + 'static,
    S::Item: Send + 'static,
{
    let stage = Distributing {
        source: Some(source),
        distributor,
        buf,
        seed: quiet,
    };
    let handle = spawn_stage("fanring-distributor".into(), core, control, stage)?;
    Ok(SourceThread {
        handle: Some(handle),
    })
}

/// The distributor thread's stage: the source, the distributor, its run buffer and its quiet
/// runner.
struct Distributing<S: Source> {
    source: Option<S>,
    distributor: AnyDistributor<S::Item>,
    /// A run at a time: taken from the source into this buffer, then moved to the rings with
    /// one copy. On a stop the items taken are dropped with it.
    buf: Vec<S::Item>,
    /// Makes the quiet runner on the thread (`engine::inline`).
    seed: Option<QuietSeed<S::Item>>,
}

impl<S> Stage for Distributing<S>
where
    S: Source + Send + 'static,
    S::Item: Send + 'static,
{
    fn run(&mut self, control: &Control) {
        // The runner lives on this thread only (its work need not be `Send`): dropped at the
        // end of the loop, its lane's producer publishes and closes the lane.
        let mut quiet = self.seed.take().map(|seed| seed());
        if let Some(source) = &mut self.source {
            let q = quiet.as_deref_mut();
            let _ = self
                .distributor
                .pump(source, &mut self.buf, Some(control), q);
        }
    }

    fn failure(&self, message: String) -> Failure {
        Failure::SourcePanicked { message }
    }

    fn close(&mut self, control: &Control) {
        self.distributor.close();
        control.set_distributor_stats(self.distributor.stats());
    }

    /// The source, the items taken and not handed out, then every ring.
    fn drop_parts(&mut self, td: &mut Teardown) {
        let (source, buf, seed) = (
            self.source.take(),
            std::mem::take(&mut self.buf),
            self.seed.take(),
        );
        td.step(|| drop(source));
        td.step(|| drop(buf));
        // A runner never made (a panic before `run`): its lane closes with it.
        td.step(|| drop(seed));
        self.distributor.drop_rings(td);
    }

    fn exit(&self, control: &Control) {
        control.distributor_exit();
    }
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
        let mut backoff = Backoff::default();
        loop {
            match control.distributor_at() {
                DistributorAt::Exited => {
                    // Exited (its last act): under loom, never join (see `reap`).
                    #[cfg(not(fanring_loom))]
                    let _ = handle.join();
                    #[cfg(fanring_loom)]
                    drop(handle);
                    return;
                }
                DistributorAt::InSource if !through_source => return, // left inside the source
                // Running engine code, which ends soon once cancelled (or, joining, the
                // source's `recv`).
                _ => backoff.snooze(),
            }
        }
    }
}
