//! The handles a caller holds, and the one finish path they share: [`OutputState`], the
//! merging side of an [`Output`] or a [`Driven`], whose teardown every early or normal end
//! goes through.

mod core;
mod driven;
mod input;
mod output;
mod running;

pub use driven::Driven;
pub use input::{Input, SendError};
pub use output::Output;
pub use running::Running;

use super::control::Control;
use super::merger::{Merger, Step};
use super::source_thread::SourceThread;
use crate::cursor::{LocalQueue, RunCursor};
use crate::loom::sync::Arc;
use crate::loom::thread::JoinHandle;
use crate::pinning::Plan;
use crate::source::TryRecvError;
use crate::stats::Stats;
use crate::teardown::Teardown;
use crate::Failure;
use std::fmt;

/// Waits for the engine's threads. Under loom, `JoinHandle::join` must not be unparked by the
/// thread it joins (loom issue 249) and a worker may still be notifying us, so wait for the
/// exit counter instead.
pub(crate) fn reap(control: &Control, threads: Vec<JoinHandle<()>>) {
    #[cfg(not(fanring_loom))]
    {
        let _ = control;
        for t in threads {
            // Each thread catches the user's panics itself; a panic here would be ours.
            let _ = t.join();
        }
    }
    #[cfg(fanring_loom)]
    {
        let n = threads.len();
        drop(threads);
        while control.exited() < n {
            crate::loom::thread::yield_now();
        }
    }
}

/// The merging side of an [`Output`] or a [`Driven`].
pub(crate) struct OutputState<U> {
    merger: Merger<U>,
    /// Items the merger moved out of the rings in one copy (handed to the iterator's
    /// [`RunCursor`]).
    pub(super) local: LocalQueue<U>,
    control: Arc<Control>,
    threads: Vec<JoinHandle<()>>,
    /// The engine's distributor thread, if it has one (`run`).
    pub(crate) source: Option<SourceThread>,
    plan: Plan,
    pub(super) ended: bool,
    /// An async poll left the task's waker announced on the merger's rings.
    #[cfg(feature = "async")]
    announced: bool,
}

impl<U> OutputState<U> {
    pub(crate) fn new(
        merger: Merger<U>,
        control: Arc<Control>,
        threads: Vec<JoinHandle<()>>,
        plan: Plan,
        local: LocalQueue<U>,
    ) -> Self {
        OutputState {
            merger,
            local,
            control,
            threads,
            source: None,
            plan,
            ended: false,
            #[cfg(feature = "async")]
            announced: false,
        }
    }

    /// [`Output::join`], with `unmerged` items that were taken out of the rings but never
    /// handed out (besides those still in `local`).
    pub(crate) fn join(mut self, unmerged: usize) -> Result<Stats, Failure> {
        let unmerged = unmerged + self.local.len();
        self.shutdown(true);
        self.result(unmerged)
    }

    /// The engine's outcome once it is torn down, with `unmerged` items that were taken out
    /// of the rings but never handed out.
    pub(crate) fn result(&self, unmerged: usize) -> Result<Stats, Failure> {
        let mut merger = self.merger.stats();
        merger.items -= unmerged as u64;
        self.control.outcome(&self.plan, Some(merger))
    }

    /// Teardown: [`signal`](Self::signal), then [`finish_into`](Self::finish_into) (joining
    /// the threads if `join`); a panicking item `Drop` is re-raised once every step ran.
    fn shutdown(&mut self, join: bool) {
        let mut td = Teardown::new();
        self.signal();
        self.finish_into(&mut td, join);
        td.finish();
    }

    /// Teardown's first step: ends the stream and closes every output ring and the reorder
    /// window, so that no thread waits on the merger any more. Drops nothing (cannot panic).
    /// An early end also cancels the engine: its distributor thread stops entering the
    /// source, and is not waited for while it waits inside it.
    pub(crate) fn signal(&mut self) {
        self.ended = true;
        self.control.cancel();
        self.merger.close();
    }

    /// Teardown's other steps, after [`signal`](Self::signal) (and after the worker rings
    /// are closed): drops every item the merging side holds, each container in a step of its
    /// own; then, if `join`, waits for the engine's threads (but not for a distributor thread
    /// waiting inside its source), or else detaches them: a worker busy in the user's
    /// function is never waited for by a drop. Each detached thread ends by itself as soon as
    /// the user code it runs returns (every ring it uses is closed), dropping what it holds.
    /// Idempotent.
    pub(crate) fn finish_into(&mut self, td: &mut Teardown, join: bool) {
        td.step(|| self.local.clear());
        self.merger.drop_items(td);
        let threads = std::mem::take(&mut self.threads);
        let source = self.source.take();
        if !join {
            // Detached: dropping a `JoinHandle` waits for nothing.
            return;
        }
        let control = &self.control;
        td.step(|| reap(control, threads));
        if let Some(mut source) = source {
            td.step(|| {
                source.settle(control);
            });
        }
    }

    /// At the end of the stream: re-raises a stage's failure on this thread, once (the
    /// stage's own panic payload), so that a stream that ended because a stage failed never
    /// looks like one that ended.
    pub(crate) fn raise(&self) {
        if let Some(p) = self.control.take_raise() {
            std::panic::resume_unwind(p);
        }
    }

    /// Whether an output is ready to hand out now (a hint).
    pub(crate) fn ready_hint(&self) -> bool {
        self.local.len() > 0 || self.merger.ready_hint()
    }

    /// The next item: from the local queue, or else from a run the merger moves into it; at
    /// the end of the stream, closes the merger's rings. Call only while the iterator's
    /// [`RunCursor`] is empty (a refill reuses the buffer it points into).
    #[inline]
    pub(crate) fn poll(&mut self, block: bool) -> Step<U> {
        if let Some(u) = self.local.pop() {
            return Step::Item(u);
        }
        if self.ended {
            return Step::End;
        }
        let (merger, control) = (&mut self.merger, &*self.control);
        match self.local.fill(|buf| merger.poll_into(control, block, buf)) {
            Step::Item(_) => self.local.pop().map_or(Step::Empty, Step::Item),
            Step::Empty => Step::Empty,
            Step::End => {
                self.ended = true;
                self.merger.close();
                Step::End
            }
        }
    }

    /// The async form of [`poll`](Self::poll) (`async` feature): `Pending` once the task's
    /// waker is announced on the merger's rings and a re-check found nothing (see
    /// `Merger::poll_task`); then returns the first item and a cursor over the rest of its run.
    ///
    /// # Safety
    /// As [`Merging::next_run`](core::Merging::next_run): every cursor returned before is
    /// empty or dropped, and the one returned is emptied or dropped before the next call and
    /// before `self` is dropped.
    #[cfg(feature = "async")]
    #[inline(never)]
    pub(crate) unsafe fn poll_run(
        &mut self,
        cx: &std::task::Context<'_>,
        raise: bool,
    ) -> std::task::Poll<(Option<U>, RunCursor<U>)> {
        use std::task::Poll;
        if self.ended {
            // SAFETY: the caller keeps the cursor's contract (this function's Safety section).
            return Poll::Ready((self.local.pop(), unsafe { self.local.take_run() }));
        }
        let (merger, control) = (&mut self.merger, &*self.control);
        match merger.poll_task(&mut self.local, control, &mut self.announced, cx) {
            Poll::Pending => Poll::Pending,
            // SAFETY: as above.
            Poll::Ready(Step::Item(u)) => Poll::Ready((Some(u), unsafe { self.local.take_run() })),
            Poll::Ready(Step::Empty | Step::End) => {
                self.ended = true;
                self.merger.close();
                if raise {
                    self.raise();
                }
                Poll::Ready((None, RunCursor::empty()))
            }
        }
    }

    /// `Output`'s `Source::try_recv` slow path (its cursor is empty): the next run's first
    /// item and a cursor over the rest if one is ready, without waiting. At the end of a
    /// failed stream, re-raises the failure.
    ///
    /// # Safety
    /// As [`Merging::next_run`](core::Merging::next_run).
    pub(crate) unsafe fn try_run(&mut self) -> Result<(U, RunCursor<U>), TryRecvError> {
        match self.poll(false) {
            // SAFETY: the caller keeps the cursor's contract (this function's Safety section).
            Step::Item(u) => Ok((u, unsafe { self.local.take_run() })),
            Step::Empty => Err(TryRecvError::Empty),
            Step::End => {
                self.raise();
                Err(TryRecvError::Closed)
            }
        }
    }
}

impl<U> core::Merging for OutputState<U> {
    type Item = U;

    /// `Output::next`'s slow path: waits for the next run.
    #[inline(never)]
    unsafe fn next_run(&mut self, raise: bool) -> (Option<U>, RunCursor<U>) {
        match self.poll(true) {
            // SAFETY: the caller keeps the cursor's contract (`Merging::next_run`'s Safety).
            Step::Item(u) => (Some(u), unsafe { self.local.take_run() }),
            Step::Empty | Step::End => {
                if raise {
                    self.raise();
                }
                (None, RunCursor::empty())
            }
        }
    }

    fn output(&self) -> &OutputState<U> {
        self
    }

    fn finish(self: Box<Self>, unmerged: usize) -> Result<Stats, Failure> {
        (*self).join(unmerged)
    }
}

impl<U> Drop for OutputState<U> {
    /// The stream's teardown: every ring and the window closed, every item held here dropped,
    /// the threads detached (never waited for: see `finish_into`), and only then a panicking
    /// item `Drop` re-raised (see `Teardown`).
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

impl<U> fmt::Debug for OutputState<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("plan", &self.plan)
            .field("ended", &self.ended)
            .finish()
    }
}
