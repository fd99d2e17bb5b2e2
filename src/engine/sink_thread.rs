//! The engine's merger thread (`run_with_sink`): it merges the workers' output rings into the
//! user's sink, in the engine's thread shell (`engine::stage`).

use super::control::Control;
use super::merger::Merger;
use super::stage::Stage;
use crate::cursor::LocalQueue;
use crate::teardown::Teardown;
use crate::Failure;

/// The merger thread's stage: the merger, its run buffer, and the sink it feeds.
pub(crate) struct Sinking<U, S> {
    pub(crate) merger: Merger<U>,
    pub(crate) local: LocalQueue<U>,
    /// The user's sink; `None` once dropped.
    pub(crate) sink: Option<S>,
}

impl<U, S> Stage for Sinking<U, S>
where
    U: Send + 'static,
    S: FnMut(U) + Send + 'static,
{
    fn run(&mut self, control: &Control) {
        let Some(sink) = &mut self.sink else {
            return;
        };
        while let Some(u) = self.merger.next_via(&mut self.local, control) {
            sink(u);
        }
    }

    fn failure(&self, message: String) -> Failure {
        Failure::SinkPanicked { message }
    }

    fn close(&mut self, control: &Control) {
        self.merger.close();
        let mut stats = self.merger.stats();
        // Outputs taken out of the rings but never given to the sink (it panicked).
        stats.items -= self.local.len() as u64;
        control.set_merger_stats(stats);
    }

    fn drop_parts(&mut self, td: &mut Teardown) {
        let sink = self.sink.take();
        td.step(|| drop(sink));
        td.step(|| self.local.clear());
        self.merger.drop_items(td);
    }
}
