//! The caller-driven mode: one thread (the caller's) distributes and merges, so the engine
//! runs on `workers + 1` threads and no stage hands items to a thread that then has to be
//! scheduled to pass them on.

use super::core::{Core, Merging};
use super::OutputState;
use crate::cursor::RunCursor;
use crate::engine::dispatch::AnyDistributor;
use crate::engine::feed::Fed;
use crate::engine::merger::Step;
use crate::error::panic_message;
use crate::source::Source;
use crate::stats::Stats;
use crate::teardown::Teardown;
use crate::wait::Backoff;
use crate::{Failure, Plan};
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// The merged stream of [`Pipeline::drive`](crate::Pipeline::drive) and
/// [`Pipeline::drive_source`](crate::Pipeline::drive_source): an iterator that feeds the
/// workers from its source on the caller's thread as it goes.
///
/// It never waits while it can do something: it takes outputs while there are any, hands
/// the items its source has ready to the workers while their rings have room (publishing
/// them before it waits for anything), and waits only when neither is possible: for an
/// output while items are in flight, and in the source's blocking `recv` only once every item
/// handed out has come back. It ends when the source is exhausted and every item has been
/// processed and merged. A stage's failure is never a quiet end: as with
/// [`Output`](crate::Output), `next` re-raises a worker's panic on the caller's thread once
/// the outputs already taken are out ([`next_checked`](Self::next_checked) gives it as a
/// [`Failure`] instead). Dropping it early stops the engine like dropping an
/// [`Output`](crate::Output): every ring is closed, so every thread exits and every item in
/// flight is dropped exactly once (items still in the source are never taken from it), and
/// the drop does not wait for a worker inside your function ([`join`](Self::join) waits). A
/// panicking item `Drop` during that teardown reaches the caller only after every ring was
/// closed and every other item held here dropped.
///
/// A panic in the source (or in a [`Dispatch::by_key`](crate::Dispatch::by_key) key
/// function) unwinds out of `next`; the stream is then over: later calls return `None`, and
/// [`join`](Self::join) returns [`Failure::SourcePanicked`].
pub struct Driven<S: Source, U>
where
    S::Item: Send + 'static,
{
    core: Core<DrivenState<S, U>>,
}

/// A [`Driven`]'s distributing and merging side.
struct DrivenState<S: Source, U>
where
    S::Item: Send + 'static,
{
    /// `None` once exhausted (the workers' rings are then closed), the engine stopped, or
    /// the source panicked.
    source: Option<S>,
    /// Items taken from `source` and not handed out yet (a run at most): they go to the
    /// rings with one copy per run.
    inbuf: Vec<S::Item>,
    // Declared before `output`: on an early drop the worker rings close first, then the
    // output side closes and joins the workers.
    distributor: AnyDistributor<S::Item>,
    output: OutputState<U>,
    /// Every input gives exactly one output (`map`): in flight is "handed out − merged".
    one_to_one: bool,
    /// Outputs taken out of the rings since the last feed, and how many call for the next one.
    since_feed: usize,
    feed_every: usize,
    /// The source (or a key function) panicked: the stream is over.
    poisoned: bool,
}

impl<S: Source, U> Driven<S, U>
where
    S::Item: Send + 'static,
{
    pub(crate) fn new(
        source: S,
        distributor: AnyDistributor<S::Item>,
        inbuf: Vec<S::Item>,
        output: OutputState<U>,
        one_to_one: bool,
    ) -> Self {
        // Top the workers up once a run per worker has come out (or whenever nothing has).
        let workers = output.plan.workers.len();
        let feed_every = inbuf.capacity().saturating_mul(workers).max(1);
        Driven {
            core: Core::new(DrivenState {
                source: Some(source),
                inbuf,
                distributor,
                output,
                one_to_one,
                since_feed: 0,
                feed_every,
                poisoned: false,
            }),
        }
    }

    /// Where each thread runs.
    pub fn plan(&self) -> &Plan {
        self.core.plan()
    }

    /// The failure that ended the stream early, if any, as soon as a stage failed (it only
    /// looks: the iterator, `next`, still re-raises the failing stage's panic once at the end
    /// of the stream, unless [`next_checked`](Self::next_checked) gave the failure as `Err`
    /// first; `join` returns it too).
    pub fn error(&self) -> Option<Failure> {
        self.core.error()
    }

    /// The next item, or `Ok(None)` at the end of the stream, or the failure that ended it
    /// (never re-raised as a panic: the typed form of `next`). A panic in the source itself
    /// still unwinds out of it (it runs on this thread).
    ///
    /// # Errors
    /// The first stage failure (a worker panic).
    pub fn next_checked(&mut self) -> Result<Option<U>, Failure> {
        self.core.next_checked()
    }

    /// Stops the engine if the stream has not ended (an early end: items in flight are
    /// dropped), waits for every thread, and returns the counters (the distributor's included).
    ///
    /// # Errors
    /// The first stage failure, if any.
    pub fn join(self) -> Result<Stats, Failure> {
        self.core.join()
    }
}

impl<S: Source, U> DrivenState<S, U>
where
    S::Item: Send + 'static,
{
    /// Panic-safe teardown (see `Teardown`): first cancel (an early end: no worker runs its
    /// end-of-stream hook) and close every ring, worker rings first, so the workers end
    /// however far they got, and the window; then drop the source, the unsent items and every
    /// ring and buffered item, each in a step of its own; join the workers if `join` (a drop
    /// detaches them); re-raise the first panic. Idempotent.
    fn teardown(&mut self, join: bool) {
        let mut td = Teardown::new();
        self.output.control.cancel();
        td.step(|| self.distributor.close());
        self.output.signal();
        td.step(|| drop(self.source.take()));
        td.step(|| drop(std::mem::take(&mut self.inbuf)));
        self.distributor.drop_rings(&mut td);
        self.output.finish_into(&mut td, join);
        td.finish();
    }
}

impl<S: Source, U> Merging for DrivenState<S, U>
where
    S::Item: Send + 'static,
{
    type Item = U;

    /// `Driven::next`'s slow path: takes the next run of outputs, feeding the workers on the
    /// way.
    #[inline(never)]
    unsafe fn next_run(&mut self, raise: bool) -> (Option<U>, RunCursor<U>) {
        if self.poisoned {
            return (None, RunCursor::empty());
        }
        if let Some(u) = self.next_item() {
            // SAFETY: the caller keeps the cursor's contract (`Merging::next_run`'s Safety).
            return (Some(u), unsafe { self.output.local.take_run() });
        }
        if raise {
            self.output.raise();
        }
        (None, RunCursor::empty())
    }

    fn output(&self) -> &OutputState<U> {
        &self.output
    }

    /// The distributor's counters are the caller's (it distributed).
    fn finish(mut self: Box<Self>, unmerged: usize) -> Result<Stats, Failure> {
        let unmerged = unmerged + self.output.local.len();
        let dist_stats = self.distributor.stats();
        // Every ring closed, every item dropped, every thread joined; a panicking item
        // `Drop` is re-raised after that.
        self.teardown(true);
        self.output.result(unmerged).map(|mut s| {
            s.distributor = Some(dist_stats);
            s
        })
    }
}

impl<S: Source, U> Drop for DrivenState<S, U>
where
    S::Item: Send + 'static,
{
    fn drop(&mut self) {
        self.teardown(false);
    }
}

impl<S: Source, U> DrivenState<S, U>
where
    S::Item: Send + 'static,
{
    /// Hands the items the source has ready to the workers until a ring (or the window) is
    /// full or nothing more is ready, publishing them (`Distributor::feed`, which after a
    /// short run lets the caller take an output that is ready first); at the source's end
    /// closes the workers' rings. Returns whether anything changed.
    fn feed(&mut self) -> bool {
        self.since_feed = 0;
        let DrivenState {
            source,
            inbuf,
            distributor,
            output,
            ..
        } = self;
        let Some(src) = source else {
            return false;
        };
        let before = distributor.stats().items;
        let fed = distributor.feed(src, inbuf, None, &mut || output.ready_hint());
        match fed {
            Fed::Ended => {
                // Normal end: publish and close every worker ring.
                distributor.close();
                *source = None;
                true
            }
            Fed::Stopped => {
                // A worker closed its ring (it failed, or the outputs were closed): the
                // merger sees the end; the rest of the source is left alone.
                inbuf.clear();
                *source = None;
                true
            }
            Fed::Full | Fed::Dry => distributor.stats().items != before,
        }
    }

    /// Whether every item handed out has come back: its outputs are all in the merger's
    /// rings (or already taken out of them).
    fn nothing_in_flight(&self) -> bool {
        let handed = self.distributor.stats().items;
        if self.one_to_one {
            return self.output.merger.stats().items >= handed;
        }
        // Each worker counts the inputs it finished after publishing their outputs.
        #[allow(clippy::cast_possible_truncation)]
        let handed = handed as usize;
        self.output.control.all_done(handed)
    }

    /// The source has nothing ready and nothing is in flight: publish, then wait in the
    /// source's `recv` (nothing in the engine waits behind it). Returns whether it gave an
    /// item (`false`: the source ended, and the workers' rings are closed).
    fn wait_for_source(&mut self) -> bool {
        let Some(source) = &mut self.source else {
            return false;
        };
        self.distributor.idle();
        if let Some(item) = source.recv() {
            self.inbuf.push(item);
            return true;
        }
        self.distributor.close();
        self.source = None;
        false
    }

    /// Runs `f` (which calls the source or a key function); a panic there ends the stream:
    /// it is recorded as [`Failure::SourcePanicked`], the engine stops, and the panic
    /// goes on to the caller.
    fn guarded<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(r) => r,
            Err(payload) => {
                self.poisoned = true;
                self.output.control.fail(Failure::SourcePanicked {
                    message: panic_message(&*payload),
                });
                self.source = None;
                self.distributor.stop();
                self.output.signal();
                // Items taken and not handed out: dropped here (a panicking `Drop` among them
                // must not hide the source's panic).
                let inbuf = std::mem::take(&mut self.inbuf);
                let _ = catch_unwind(AssertUnwindSafe(move || drop(inbuf)));
                resume_unwind(payload)
            }
        }
    }

    fn next_item(&mut self) -> Option<U> {
        let mut backoff = Backoff::default();
        loop {
            if self.since_feed >= self.feed_every {
                self.guarded(Self::feed);
            }
            match self.take_output(false) {
                Step::Item(u) => return Some(u),
                Step::End => return None,
                Step::Empty => {}
            }
            if self.guarded(Self::feed) {
                backoff.reset();
                continue;
            }
            // Nothing could be handed out: the rings or the window are full, or the source
            // has nothing ready, or it has ended.
            if self.source.is_some() && self.inbuf.is_empty() {
                // The source has nothing ready.
                if self.nothing_in_flight() {
                    // The last outputs may have come since the poll above: take them first.
                    match self.take_output(false) {
                        Step::Item(u) => return Some(u),
                        Step::End => return None,
                        Step::Empty => {}
                    }
                    // Given an item, feed it; at the end, the rings are closed and the
                    // merger sees the end.
                    self.guarded(Self::wait_for_source);
                    continue;
                }
            }
            if !self.one_to_one && (self.source.is_some() || !self.inbuf.is_empty()) {
                // Items in flight may give no output at all (a filter), which would not wake
                // us, and yet free the rings or the reorder window the feed waits for (a
                // dropped input's end still moves the window on): waiting for an output
                // could wait for ever. Poll (outputs, then the feed) with a short, growing
                // pause.
                backoff.snooze();
                continue;
            }
            // Whatever was handed out comes back as an output (each input gives one), or the
            // source has ended and the merger sees the end: wait for it.
            return match self.take_output(true) {
                Step::Item(u) => Some(u),
                Step::Empty | Step::End => None,
            };
        }
    }

    /// The next output (waiting for one if `block`), counted towards the next feed.
    fn take_output(&mut self, block: bool) -> Step<U> {
        let step = self.output.poll(block);
        if let Step::Item(_) = step {
            self.since_feed += 1 + self.output.local.len();
        }
        step
    }
}

impl<S: Source, U> Iterator for Driven<S, U>
where
    S::Item: Send + 'static,
{
    type Item = U;

    #[inline]
    fn next(&mut self) -> Option<U> {
        self.core.next()
    }

    /// The items ready now (at least), as [`Output`](crate::Output)'s.
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.core.size_hint()
    }
}

impl<S: Source, U> fmt::Debug for Driven<S, U>
where
    S::Item: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driven")
            .field("source_done", &self.core.state.source.is_none())
            .field("output", &self.core.state.output)
            .finish()
    }
}
