//! The merged-stream core behind [`Output`](super::Output) and [`Driven`](super::Driven): the
//! run being handed out and the boxed merging side, with the one implementation of `next`,
//! `next_checked`, `plan`, `error` and `join`. The handles only say what their merging side is
//! (`Merging`).

use super::OutputState;
use crate::cursor::RunCursor;
use crate::pinning::Plan;
use crate::stats::Stats;
use crate::Failure;

/// The merging side of a handle: an [`OutputState`], with a distributor beside it for `drive`.
pub(crate) trait Merging {
    type Item;

    /// The slow path of `next` (the cursor is empty): the next run's first item and a cursor
    /// over the rest; at the end of a failed stream, re-raises the failure if `raise`.
    ///
    /// # Safety
    /// The cursor points into a buffer of `self`'s, which the next call refills: every cursor
    /// returned before is empty or dropped, and the one returned is emptied or dropped before
    /// the next call and before `self` is dropped. ([`Core`] keeps this: it holds the one
    /// cursor, calls only once it is empty, and drops it first.)
    unsafe fn next_run(&mut self, raise: bool) -> (Option<Self::Item>, RunCursor<Self::Item>);

    /// The output side.
    fn output(&self) -> &OutputState<Self::Item>;

    /// Ends the engine if the stream has not ended, waits for every thread, and returns the
    /// counters; `unmerged` items were taken out of the rings but never handed out.
    ///
    /// # Errors
    /// The first stage failure.
    fn finish(self: Box<Self>, unmerged: usize) -> Result<Stats, Failure>;
}

/// A merged stream: the run being handed out, and everything else.
///
/// It keeps [`Merging::next_run`]'s contract for its handles: `run` is the one cursor; a new
/// one is asked for only once it is empty, and replaces it; it is dropped before `state`
/// (field order, and [`join`](Self::join)).
pub(crate) struct Core<M: Merging> {
    /// The run being handed out. Declared first: its items are dropped before the rest.
    pub(crate) run: RunCursor<M::Item>,
    /// Everything else, behind a `Box` so that `next`'s slow path never sees `run` (see
    /// [`RunCursor`]).
    pub(crate) state: Box<M>,
}

impl<M: Merging> Core<M> {
    pub(crate) fn new(state: M) -> Self {
        Core {
            run: RunCursor::empty(),
            state: Box::new(state),
        }
    }

    /// The next item; at the end of a failed stream the failure is re-raised.
    #[inline]
    pub(crate) fn next(&mut self) -> Option<M::Item> {
        if let Some(u) = self.run.pop() {
            return Some(u);
        }
        // Given the boxed state, never `self` (see `RunCursor`).
        // SAFETY: `run` is empty (it popped `None`), and is the only cursor: `Core`'s contract.
        let (first, run) = unsafe { self.state.next_run(true) };
        self.run = run;
        first
    }

    /// The next item, `Ok(None)` at the end, or the failure that ended the stream (reported,
    /// so never re-raised afterwards).
    pub(crate) fn next_checked(&mut self) -> Result<Option<M::Item>, Failure> {
        if let Some(u) = self.run.pop() {
            return Ok(Some(u));
        }
        // SAFETY: as in `next`.
        let (first, run) = unsafe { self.state.next_run(false) };
        self.run = run;
        match first {
            Some(u) => Ok(Some(u)),
            None => self.report(),
        }
    }

    /// The items that are ready (the run being handed out, and what the merger has moved out
    /// of the rings): `next` returns them without waiting. So an engine reading this stream
    /// as an iterator (`run(output)`) takes them as one run. `(0, Some(0))` once the stream
    /// has ended and every item is out.
    pub(crate) fn size_hint(&self) -> (usize, Option<usize>) {
        let output = self.state.output();
        let ready = self.run.len() + output.local.len();
        (ready, (ready == 0 && output.ended).then_some(0))
    }

    /// At the end of the stream: `Ok(None)`, or the failure, counted as reported.
    pub(crate) fn report(&self) -> Result<Option<M::Item>, Failure> {
        self.state
            .output()
            .control
            .report_failure()
            .map_or(Ok(None), Err)
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.state.output().plan
    }

    pub(crate) fn error(&self) -> Option<Failure> {
        self.state.output().control.failure()
    }

    pub(crate) fn join(self) -> Result<Stats, Failure> {
        let Core { run, state } = self;
        // Items moved out of the rings but never handed out do not count as merged.
        let unmerged = run.len();
        // If an item's `Drop` panics here, `state` is dropped while unwinding: its teardown
        // still runs every step.
        drop(run);
        state.finish(unmerged)
    }
}
