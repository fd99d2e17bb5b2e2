//! Fan-in: the merger that reads every worker's output ring into one stream, in any order
//! ([`any`]), by the distributor's rotation ([`rotate`]), or by sequence number through the
//! reorder window ([`tagged`]).

mod any;
mod rotate;
mod tagged;

pub(crate) use any::AnyMerge;
pub(crate) use rotate::RotateMerge;
pub(crate) use tagged::{max_window, window_slots, TaggedMerge};

use crate::cursor::LocalQueue;
use crate::ring::Consumer;
use crate::stats::MergerStats;
use crate::teardown::Teardown;
use crate::Failure;

/// The order of the merged stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Whatever order items finish in (each worker's outputs stay in that worker's order).
    #[default]
    Any,
    /// Input order. With round-robin dispatch and `map`, the merger reads the workers in the
    /// distributor's rotation (no buffer); otherwise items carry sequence numbers and are
    /// reordered in a bounded window (`window(n)`), which holds the distributor back when full.
    Preserve,
}

/// Says whether the engine is aborting (a stage panicked), checked when an input closes; and
/// where the merger reports its own failure (the reorder window could not grow).
pub(crate) trait AbortFlag {
    fn aborted(&self) -> bool;
    /// Records `e` as the engine's failure (and raises the flag).
    fn report(&self, e: Failure);
}

/// For the seed `merge`: nothing can abort, and it never reorders (nothing to report).
impl AbortFlag for () {
    fn aborted(&self) -> bool {
        false
    }
    fn report(&self, _e: Failure) {}
}

/// A merger. `Any` and `Rotate` read plain items; `Tagged` reorders by sequence number.
pub(crate) enum Merger<U> {
    Any(AnyMerge<U>),
    Rotate(RotateMerge<U>),
    Tagged(TaggedMerge<U>),
}

/// One step of a merger.
pub(crate) enum Step<U> {
    /// The next item (or, from `poll_into`, how many items were moved).
    Item(U),
    /// Nothing ready now (only when not blocking).
    Empty,
    /// The stream ended: every input closed and drained, or the engine aborted.
    End,
}

impl<U> Merger<U> {
    /// The next item: from `local`, or else from a run moved into it (waiting for one);
    /// `None` at the end of the stream.
    #[inline]
    pub(crate) fn next_via(
        &mut self,
        local: &mut LocalQueue<U>,
        abort: &dyn AbortFlag,
    ) -> Option<U> {
        if let Some(u) = local.pop() {
            return Some(u);
        }
        match local.fill(|buf| self.poll_into(abort, true, buf)) {
            Step::Item(_) => local.pop(),
            Step::Empty | Step::End => None,
        }
    }

    /// Moves a run of items (as many as are ready in one ring, up to `buf`'s spare capacity)
    /// to `buf` with one copy, waiting (as the rings' strategy says) if `block`: `Item(n)`
    /// says how many; `End` at the end of the stream (every input closed and drained, or the
    /// engine aborted); without `block`, `Empty` instead of waiting.
    pub(crate) fn poll_into(
        &mut self,
        abort: &dyn AbortFlag,
        block: bool,
        buf: &mut Vec<U>,
    ) -> Step<usize> {
        match self {
            Merger::Any(m) => m.poll_into(abort, block, buf),
            Merger::Rotate(m) => m.poll_into(block, buf),
            Merger::Tagged(m) => m.poll_into(abort, block, buf),
        }
    }

    /// Whether some output ring shows an output (a hint: one load per ring, nothing taken).
    pub(crate) fn ready_hint(&self) -> bool {
        match self {
            Merger::Any(m) => m.rings.iter().any(Consumer::ready_hint),
            Merger::Rotate(m) => m.rings.iter().any(Consumer::ready_hint),
            Merger::Tagged(m) => m.rings.iter().any(Consumer::ready_hint),
        }
    }

    pub(crate) fn stats(&self) -> MergerStats {
        match self {
            Merger::Any(m) => m.stats,
            Merger::Rotate(m) => m.stats,
            Merger::Tagged(m) => m.stats,
        }
    }

    /// Early end, first step: close every input (workers see it and stop) and the reorder
    /// window (a distributor waiting for room sees it). Drops nothing, so it cannot panic:
    /// after it, nothing waits on the merger. What is buffered goes in
    /// [`drop_items`](Self::drop_items).
    pub(crate) fn close(&mut self) {
        match self {
            Merger::Any(m) => m.rings.iter_mut().for_each(Consumer::close),
            Merger::Rotate(m) => m.rings.iter_mut().for_each(Consumer::close),
            Merger::Tagged(m) => m.close_all(),
        }
    }

    /// Teardown, after [`close`](Self::close): drops every item the merger holds (the window,
    /// the scratch buffer) and its rings (with the items left in a ring whose worker is gone),
    /// each in a step of its own. The merger must not be polled afterwards.
    pub(crate) fn drop_items(&mut self, td: &mut Teardown) {
        let rings = match self {
            Merger::Any(m) => {
                let mut r = std::mem::take(&mut m.rings);
                r.append(&mut m.retired);
                r
            }
            Merger::Rotate(m) => std::mem::take(&mut m.rings),
            Merger::Tagged(m) => {
                td.step(|| drop(std::mem::take(&mut m.scratch)));
                td.step(|| drop(std::mem::take(&mut m.tails)));
                for slot in std::mem::take(&mut m.slots) {
                    td.step(|| drop(slot));
                }
                let mut r = std::mem::take(&mut m.rings);
                r.append(&mut m.retired);
                return drop_rings(r, td);
            }
        };
        drop_rings(rings, td);
    }
}

/// Drops each ring in a step of its own (the last handle drops the items left in it).
fn drop_rings<W>(rings: Vec<Consumer<W>>, td: &mut Teardown) {
    for r in rings {
        td.step(|| drop(r));
    }
}

/// The async side (`async` feature).
#[cfg(feature = "async")]
impl<U> Merger<U> {
    /// After a `poll_into` without `block` returned `Empty`: registers the task's waker on what
    /// a blocking poll would wait on (every open ring for `Any` and `Tagged`, the current one
    /// for `Rotate`) and announces it (full barrier per ring), so that the caller's re-check
    /// (another `poll_into` without `block`) either sees a worker's publish or close, or that
    /// worker's notify sees the announcement and wakes the task. Returns whether to re-check
    /// (see [`task::announce`](crate::wait::task::announce)).
    pub(crate) fn announce_task(&self, cx: &std::task::Context<'_>) -> bool {
        use crate::wait::task::announce;
        match self {
            Merger::Any(m) => announce(cx, &m.rings[..], m.wait.can_park()),
            Merger::Rotate(m) => match m.rings.get(m.cur) {
                Some(r) => announce(cx, r, r.wait_strategy().can_park()),
                None => true,
            },
            Merger::Tagged(m) => announce(cx, &m.rings[..], m.wait.can_park()),
        }
    }

    /// How a blocking poll of this merger waits (its rings' strategy).
    fn wait_strategy(&self) -> crate::WaitStrategy {
        match self {
            Merger::Any(m) => m.wait,
            Merger::Rotate(m) => m
                .rings
                .get(m.cur)
                .map_or(crate::WaitStrategy::default(), Consumer::wait_strategy),
            Merger::Tagged(m) => m.wait,
        }
    }

    /// Un-announces what [`announce_task`](Self::announce_task) announced (a late publish that
    /// still sees it only wakes the task once more).
    pub(crate) fn withdraw(&self) {
        use crate::wait::Park;
        match self {
            Merger::Any(m) => m.rings[..].withdraw(),
            Merger::Rotate(m) => m.rings.iter().for_each(Park::withdraw),
            Merger::Tagged(m) => m.rings[..].withdraw(),
        }
    }

    /// One async poll through `local` (the task form of [`next_via`](Self::next_via)):
    /// `Ready(Step::Item(u))` or `Ready(Step::End)`, or `Pending` with the waker registered;
    /// `announced` remembers a registration to withdraw at the next poll.
    pub(crate) fn poll_task(
        &mut self,
        local: &mut LocalQueue<U>,
        abort: &dyn AbortFlag,
        announced: &mut bool,
        cx: &std::task::Context<'_>,
    ) -> std::task::Poll<Step<U>> {
        use std::task::Poll;
        if let Some(u) = local.pop() {
            return Poll::Ready(Step::Item(u));
        }
        if std::mem::take(announced) {
            self.withdraw();
        }
        let mut attempt = |m: &mut Self| match local.fill(|buf| m.poll_into(abort, false, buf)) {
            Step::Item(_) => local.pop().map(Step::Item),
            Step::Empty => None,
            Step::End => Some(Step::End),
        };
        if let Some(s) = attempt(self) {
            return Poll::Ready(s);
        }
        // What a blocking poll does before it parks: spin, then yield (bounded; see
        // `task::spin`). The hint is one load per ring; only a ring that shows something is
        // taken from.
        let strategy = self.wait_strategy();
        let spun = crate::wait::task::spin(strategy, || {
            if self.ready_hint() {
                attempt(self)
            } else {
                None
            }
        });
        if let Some(s) = spun {
            return Poll::Ready(s);
        }
        if self.announce_task(cx) {
            if let Some(s) = attempt(self) {
                self.withdraw();
                return Poll::Ready(s);
            }
        }
        *announced = true;
        Poll::Pending
    }
}
