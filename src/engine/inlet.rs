//! A worker's input side: one ring (from the distributor), or several read in any order (one
//! from each worker of the stage before it in a graph, or one from each of several `Input`s).

use super::control::Control;
use crate::loom::sync::Arc;
use crate::ring::{Consumer, PopError};
use crate::teardown::Teardown;
use crate::wait::{Park, WaitStrategy};

/// Where a worker takes its inputs from.
pub(crate) enum Inlet<I> {
    /// The distributor's ring.
    One(Consumer<I>),
    /// Several producers' rings.
    Many(Many<I>),
}

/// Several input rings, each taken from in turn: a run of what one ring has ready per call.
pub(crate) struct Many<I> {
    /// Open rings (one that is closed and drained moves to `ended`).
    rings: Vec<Consumer<I>>,
    /// Rings that ended (drained, or closed on an abort with what they hold): dropped at
    /// teardown, each in a step of its own.
    ended: Vec<Consumer<I>>,
    cur: usize,
    /// Where a stage's failure shows: an input closed by a failing producer ends the whole
    /// inlet at once (as the merger stops at the first closed ring on an abort).
    control: Arc<Control>,
}

impl<I> Inlet<I> {
    /// `rings` read in any order: `One` for a single ring.
    pub(crate) fn new(mut rings: Vec<Consumer<I>>, control: &Arc<Control>) -> Self {
        if rings.len() == 1 {
            if let Some(ring) = rings.pop() {
                return Inlet::One(ring);
            }
        }
        Inlet::Many(Many {
            rings,
            ended: Vec::new(),
            cur: 0,
            control: Arc::clone(control),
        })
    }

    /// Items ready to read (a hint, for the occupancy counter).
    pub(crate) fn len(&self) -> usize {
        match self {
            Inlet::One(c) => c.len(),
            Inlet::Many(m) => m.rings.iter().map(Consumer::len).sum(),
        }
    }

    /// The input rings' wait strategy.
    pub(crate) fn wait_strategy(&self) -> WaitStrategy {
        match self {
            Inlet::One(c) => c.wait_strategy(),
            Inlet::Many(m) => m
                .rings
                .first()
                .map_or(WaitStrategy::default(), Consumer::wait_strategy),
        }
    }

    /// Moves a run of up to `max` ready items to `buf` and releases their slots (one ring's,
    /// for `Many`: the next one in turn that has any). Never blocks.
    ///
    /// # Errors
    /// `Empty` when no ring has an item; `Closed` once every ring is closed and drained, or
    /// one was closed by a stage that failed.
    #[inline]
    pub(crate) fn take(&mut self, buf: &mut Vec<I>, max: usize) -> Result<usize, PopError> {
        match self {
            Inlet::One(c) => {
                let r = c.take_into(buf, max);
                c.release();
                r
            }
            Inlet::Many(m) => m.take(buf, max),
        }
    }

    /// Whether a `take` could make progress now (an item is ready, or a ring closed).
    pub(crate) fn ready_hint(&self) -> bool {
        match self {
            Inlet::One(c) => c.ready_hint(),
            Inlet::Many(m) => m.rings.is_empty() || m.rings.iter().any(Consumer::ready_hint),
        }
    }

    /// Closes every ring: the producers see the worker is gone.
    pub(crate) fn close(&mut self) {
        match self {
            Inlet::One(c) => c.close(),
            Inlet::Many(m) => m.rings.iter_mut().for_each(Consumer::close),
        }
    }

    /// Teardown: drops every ring, each in a step of its own.
    pub(crate) fn drop_rings(self, td: &mut Teardown) {
        match self {
            Inlet::One(c) => td.step(|| drop(c)),
            Inlet::Many(m) => {
                #[cfg(fanring_loom)] // canary: the items left in the rings leak
                let mut m = m;
                #[cfg(fanring_loom)]
                if crate::loom::canary::graph_inlet_leaks_items() {
                    let mut leaked = Vec::with_capacity(16);
                    for ring in m.rings.iter_mut().chain(&mut m.ended) {
                        while ring.take_into(&mut leaked, 16).is_ok_and(|n| n > 0) {
                            ring.release();
                        }
                    }
                    std::mem::forget(leaked);
                }
                for ring in m.rings.into_iter().chain(m.ended) {
                    td.step(|| drop(ring));
                }
            }
        }
    }
}

impl<I> Many<I> {
    fn take(&mut self, buf: &mut Vec<I>, max: usize) -> Result<usize, PopError> {
        let mut tried = 0;
        while tried < self.rings.len() {
            match self.rings[self.cur].take_into(buf, max) {
                Ok(n) => {
                    self.rings[self.cur].release();
                    self.cur = (self.cur + 1) % self.rings.len();
                    return Ok(n);
                }
                Err(PopError::Empty) => {
                    self.cur = (self.cur + 1) % self.rings.len();
                    tried += 1;
                }
                Err(PopError::Closed) => {
                    let abort = self.control.aborted();
                    #[cfg(fanring_loom)] // canary: the first closed ring ends the inlet
                    let abort = abort || crate::loom::canary::graph_first_close_ends_inlet();
                    if abort {
                        // A producer failed: the stream ends here; what the other rings
                        // hold is dropped at teardown.
                        self.rings.iter_mut().for_each(Consumer::close);
                        self.ended.append(&mut self.rings);
                        return Err(PopError::Closed);
                    }
                    self.ended.push(self.rings.swap_remove(self.cur));
                    if self.cur >= self.rings.len() {
                        self.cur = 0;
                    }
                }
            }
        }
        if self.rings.is_empty() {
            Err(PopError::Closed)
        } else {
            Err(PopError::Empty)
        }
    }
}

/// A wait for input announces on every open ring.
impl<I> Park for Inlet<I> {
    fn announce(&self) {
        match self {
            Inlet::One(c) => c.announce(),
            Inlet::Many(m) => m.rings[..].announce(),
        }
    }
    fn withdraw(&self) {
        match self {
            Inlet::One(c) => c.withdraw(),
            Inlet::Many(m) => m.rings[..].withdraw(),
        }
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        match self {
            Inlet::One(c) => c.announce_task(waker),
            Inlet::Many(m) => m.rings[..].announce_task(waker),
        }
    }
}
