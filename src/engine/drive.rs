//! The caller-driven mode: one thread (the caller's) distributes and merges, so the engine
//! runs on `workers + 1` threads and no stage hands items to a thread that then has to be
//! scheduled to pass them on.

use super::{AnyDistributor, OutputState, Stats};
use crate::merge::{RunCursor, Step};
use crate::teardown::Teardown;
use crate::{EngineError, Plan};
use std::fmt;

/// The merged stream of [`Pipeline::drive`](crate::Pipeline::drive): an iterator that feeds
/// the workers from its source on the caller's thread as it goes.
///
/// It never waits while it can do something: it takes outputs while there are any, hands
/// items to the workers while their rings have room, and waits (by the engine's strategy) only
/// for an output when neither is possible. It ends when the source is exhausted and every
/// item has been processed and merged, or early when a stage failed (then
/// [`join`](Self::join) returns the error). Dropping it early stops the engine like dropping
/// an [`Output`](crate::Output): every thread exits and every item in flight is dropped exactly once (items
/// still in the source are never taken from it). A panicking item `Drop` during that teardown
/// reaches the caller only after every ring was closed, every other item dropped and every
/// thread joined.
pub struct Driven<I: Iterator, U>
where
    I::Item: Send + 'static,
{
    /// The run being handed out. Declared first: its items are dropped before the rest.
    run: RunCursor<U>,
    /// Everything else, behind a `Box` so that `next`'s slow path never sees `run` (see
    /// [`RunCursor`]).
    state: Box<DrivenState<I, U>>,
}

/// A [`Driven`]'s distributing and merging side.
struct DrivenState<I: Iterator, U>
where
    I::Item: Send + 'static,
{
    /// `None` once exhausted (the workers' rings are then closed) or the engine stopped.
    source: Option<I>,
    /// Items taken from `source` and not handed out yet (a run at most): they go to the
    /// rings with one copy per run.
    inbuf: Vec<I::Item>,
    // Declared before `output`: on an early drop the worker rings close first, then the
    // output side closes and joins the workers.
    distributor: AnyDistributor<I::Item>,
    output: OutputState<U>,
    /// Outputs taken out of the rings since the last feed, and how many call for the next one.
    since_feed: usize,
    feed_every: usize,
}

impl<I: Iterator, U> Driven<I, U>
where
    I::Item: Send + 'static,
{
    pub(super) fn new(
        source: I,
        distributor: AnyDistributor<I::Item>,
        output: OutputState<U>,
    ) -> Self {
        // Top the workers up once a run per worker has come out (or whenever nothing has).
        let workers = output.plan.workers.len();
        let feed_every = distributor.run().saturating_mul(workers).max(1);
        Driven {
            run: RunCursor::empty(),
            state: Box::new(DrivenState {
                source: Some(source),
                inbuf: Vec::with_capacity(distributor.run().max(1)),
                distributor,
                output,
                since_feed: 0,
                feed_every,
            }),
        }
    }

    /// Where each thread runs.
    pub fn plan(&self) -> &Plan {
        &self.state.output.plan
    }

    /// The failure that ended the stream early, if any (known once `next` returned `None`).
    pub fn error(&self) -> Option<EngineError> {
        self.state.output.control.failure()
    }

    /// The next item, or `Ok(None)` at the end of the stream, or the failure that ended it.
    ///
    /// # Errors
    /// The first stage failure (a worker panic).
    pub fn try_next(&mut self) -> Result<Option<U>, EngineError> {
        match self.next() {
            Some(u) => Ok(Some(u)),
            None => self.error().map_or(Ok(None), Err),
        }
    }

    /// Stops the engine if the stream has not ended (an early end: items in flight are
    /// dropped), waits for every thread, and returns the counters (the distributor's included).
    ///
    /// # Errors
    /// The first stage failure, if any.
    pub fn join(self) -> Result<Stats, EngineError> {
        let Driven { run, mut state } = self;
        // Items moved out of the rings but never handed out do not count as merged.
        let unmerged = run.len() + state.output.local.len();
        // If an item's `Drop` panics here, `state` is dropped while unwinding: its teardown
        // still runs every step.
        drop(run);
        let dist_stats = state.distributor.stats();
        // Every ring closed, every item dropped, every thread joined; a panicking item
        // `Drop` is re-raised after that.
        state.teardown();
        state.output.result(unmerged).map(|mut s| {
            s.distributor = Some(dist_stats);
            s
        })
    }
}

impl<I: Iterator, U> DrivenState<I, U>
where
    I::Item: Send + 'static,
{
    /// Panic-safe teardown (see `Teardown`): first close every ring, worker rings first, so
    /// the workers end however far they got, and the window; then drop the source, the
    /// unsent items and every ring and buffered item, each in a step of its own; join the
    /// workers; re-raise the first panic. Idempotent.
    fn teardown(&mut self) {
        let mut td = Teardown::new();
        td.step(|| self.distributor.close());
        self.output.signal();
        td.step(|| drop(self.source.take()));
        td.step(|| drop(std::mem::take(&mut self.inbuf)));
        self.distributor.drop_rings(&mut td);
        self.output.finish_into(&mut td);
        td.finish();
    }
}

impl<I: Iterator, U> Drop for DrivenState<I, U>
where
    I::Item: Send + 'static,
{
    fn drop(&mut self) {
        self.teardown();
    }
}

impl<I: Iterator, U> DrivenState<I, U>
where
    I::Item: Send + 'static,
{
    /// Hands items to the workers until a ring (or the window) is full or the source ends
    /// (then closes the workers' rings); publishes them. Returns whether anything changed.
    fn feed(&mut self) -> bool {
        self.since_feed = 0;
        let Some(source) = &mut self.source else {
            return false;
        };
        let mut moved = false;
        loop {
            if self.inbuf.is_empty() {
                let want = self.inbuf.capacity();
                self.inbuf.extend(source.by_ref().take(want));
                if self.inbuf.is_empty() {
                    // Normal end: publish and close every worker ring.
                    self.distributor.close();
                    self.source = None;
                    return true;
                }
            }
            if let Ok(n) = self.distributor.try_send_from(&mut self.inbuf) {
                moved |= n > 0;
            } else {
                // A worker closed its ring (it failed, or the outputs were closed): the
                // merger sees the end; the rest of the source is left alone.
                self.inbuf.clear();
                self.source = None;
                return true;
            }
            if !self.inbuf.is_empty() {
                break; // a ring or the window is full
            }
        }
        self.distributor.flush();
        moved
    }
}

impl<I: Iterator, U> Iterator for Driven<I, U>
where
    I::Item: Send + 'static,
{
    type Item = U;

    #[inline]
    fn next(&mut self) -> Option<U> {
        // Fast path: the run taken last time.
        if let Some(u) = self.run.pop() {
            return Some(u);
        }
        // Given the boxed state, never `self` (see `RunCursor`).
        let (first, run) = self.state.next_run();
        self.run = run;
        first
    }
}

impl<I: Iterator, U> DrivenState<I, U>
where
    I::Item: Send + 'static,
{
    /// `Driven::next`'s slow path (its cursor is empty): takes the next run of outputs
    /// (feeding the workers on the way) and returns its first item and a cursor over the rest.
    #[inline(never)]
    fn next_run(&mut self) -> (Option<U>, RunCursor<U>) {
        match self.next_item() {
            Some(u) => (Some(u), self.output.local.take_run()),
            None => (None, RunCursor::empty()),
        }
    }

    fn next_item(&mut self) -> Option<U> {
        loop {
            if self.since_feed >= self.feed_every {
                self.feed();
            }
            match self.output.poll(false) {
                Step::Item(u) => {
                    self.since_feed += 1 + self.output.local.len();
                    return Some(u);
                }
                Step::End => return None,
                Step::Empty => {}
            }
            if !self.feed() {
                // Nothing could be handed out (the rings or the window are full, or the
                // source has ended): whatever was handed out comes back, so an output will
                // come, or the end.
                return match self.output.poll(true) {
                    Step::Item(u) => {
                        self.since_feed += 1 + self.output.local.len();
                        Some(u)
                    }
                    Step::Empty | Step::End => None,
                };
            }
        }
    }
}

impl<I: Iterator, U> fmt::Debug for Driven<I, U>
where
    I::Item: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driven")
            .field("source_done", &self.state.source.is_none())
            .field("output", &self.state.output)
            .finish()
    }
}
