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
    /// The distributor's ring. Until the worker has timed a run, the ring holds at most a
    /// first run's items (see [`Depth`]).
    pub(crate) fn one(ring: Consumer<I>) -> Self {
        ring.set_depth(FIRST_RUN);
        Inlet::One(ring)
    }

    /// A doorbell for its ring, if it has one ring (a first stage's worker).
    pub(crate) fn doorbell(&self) -> Option<crate::ring::Doorbell<I>> {
        match self {
            Inlet::One(c) => Some(c.doorbell()),
            Inlet::Many(_) => None,
        }
    }

    /// `rings` read in any order: `One` for a single ring.
    pub(crate) fn new(mut rings: Vec<Consumer<I>>, control: &Arc<Control>) -> Self {
        if rings.len() == 1 {
            if let Some(ring) = rings.pop() {
                return Inlet::one(ring);
            }
        }
        for c in &rings {
            c.set_depth(FIRST_RUN);
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

    /// Lets each ring hold at least `floor` items before its first timed run (see
    /// [`Depth`]).
    pub(crate) fn keep_at_least(&self, floor: usize) {
        if floor > FIRST_RUN {
            self.set_depth(floor);
        }
    }

    /// Keeps at most `depth` items waiting in each ring (see [`Depth`]).
    fn set_depth(&self, depth: usize) {
        match self {
            Inlet::One(c) => c.set_depth(depth),
            Inlet::Many(m) => m.rings.iter().for_each(|c| c.set_depth(depth)),
        }
    }

    /// How many rings feed it (still open).
    fn rings(&self) -> usize {
        match self {
            Inlet::One(_) => 1,
            Inlet::Many(m) => m.rings.len().max(1),
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

/// The work a worker keeps waiting for it, and takes at once, bounded in time: about
/// [`RUN_BUDGET_NS`] of its own measured time per item. Items that take nanoseconds are
/// unaffected (the ring's capacity and the batch bound them first); items of tens of
/// microseconds then wait in short queues and go in short runs, so what a stage holds is
/// bounded in time and memory (a 64 KiB block a few at a time, not a thousand), each run's
/// outputs reach the next stage within about the budget, and a distributor choosing the
/// least-loaded worker sees loads that mean something.
pub(crate) struct Depth {
    /// Nanoseconds per item, smoothed (0 until the first run is timed).
    item_ns: u64,
    /// What the rings were last told, per ring.
    told: usize,
    /// Runs since the last timed one.
    untimed: u32,
    /// The fewest items a ring is told to keep (`WorkerSpec::floor`).
    floor: usize,
}

/// A run estimated under this many nanoseconds is timed only every [`CHEAP_EVERY`] runs:
/// reading the clock twice costs a few percent of a run of 256 trivial items.
const CHEAP_RUN_NS: u64 = 20_000;
const CHEAP_EVERY: u32 = 16;

/// About how much of a worker's time waits in its rings, and goes in one run.
pub(crate) const RUN_BUDGET_NS: u64 = 500_000;

/// The fewest items a ring is told to keep: the next item waits while the worker runs one,
/// however long items take (with one, a worker that takes its item leaves its ring empty, and
/// waits for the distributor to be woken and to make the next one).
const MIN_DEPTH: usize = 2;

/// A worker's items cost at least this much: each is handed to the stage fused after it at
/// once (see [`Depth::flush_every`]).
const FLUSH_NS: u64 = 1_000;

/// Items in a worker's first run, before any is timed.
const FIRST_RUN: usize = 8;

impl Depth {
    /// `floor`: the fewest items a ring is told to keep.
    pub(crate) fn new(floor: usize) -> Self {
        Depth {
            item_ns: 0,
            told: usize::MAX,
            untimed: 0,
            floor: floor.max(MIN_DEPTH),
        }
    }

    /// Whether to time the next run of `n` items (always while the items look costly).
    #[inline]
    pub(crate) fn times(&mut self, n: usize) -> bool {
        if self.item_ns == 0 || self.item_ns.saturating_mul(n as u64) >= CHEAP_RUN_NS {
            return true;
        }
        self.untimed += 1;
        if self.untimed >= CHEAP_EVERY {
            self.untimed = 0;
            return true;
        }
        false
    }

    /// Whether a run may be cut short by time (`worker::CUT_RUN_NS`): items timed at
    /// [`FLUSH_NS`] or more, or not timed yet (the clock is read every few of them:
    /// `worker::Cut`).
    #[inline]
    pub(crate) fn may_cut(&self) -> bool {
        self.item_ns == 0 || self.item_ns >= FLUSH_NS
    }

    /// How many outputs a worker gathers before it hands them to a stage fused after it
    /// (`OutBuf::set_flush`): each at once for items of [`FLUSH_NS`] or more (so each goes
    /// on while it is in the cache, as in one loop over both stages), more for cheaper items
    /// (so the call per hand-over stays a small part of their time).
    #[inline]
    pub(crate) fn flush_every(&self) -> usize {
        match self.item_ns {
            0 => 1,
            ns => usize::try_from(FLUSH_NS / ns).unwrap_or(usize::MAX).max(1),
        }
    }

    /// The most items to take in the next run.
    #[inline]
    pub(crate) fn run(&self) -> usize {
        match self.item_ns {
            0 => FIRST_RUN,
            ns => usize::try_from(RUN_BUDGET_NS / ns)
                .unwrap_or(usize::MAX)
                .max(1),
        }
    }

    /// A run of `n` items took `ns` nanoseconds of wall time: the estimate moves to the run's
    /// time per item, at most twofold a run either way (the first run sets it). Items that
    /// got costlier must not go on queueing as many as the cheap ones did: a stream whose
    /// items cost a few microseconds for a while, then hundreds, would otherwise leave a
    /// hundred costly ones queued on one worker while another runs dry (rising by an eighth a
    /// run, a worker of Mandelbrot rows kept its depth 10 to 40 times too deep all frame
    /// long). Not at once either: a stretch of costly items after cheap ones then makes every
    /// ring shallow at once, behind a run the workers have yet to share out (stretches of
    /// 2000 items of 200 ns and 200 of 50 µs ran 1.17-1.22x their ideal time rising twofold,
    /// 1.37-1.44x rising at once). A run that was descheduled (more threads than cores)
    /// makes the ring shallower for the run or two it takes to double back. The rings are
    /// told a new depth when it is off by more than a quarter.
    #[inline]
    pub(crate) fn ran<I>(&mut self, n: usize, ns: u64, inlet: &Inlet<I>) {
        let per = (ns / n.max(1) as u64).max(1);
        self.item_ns = if self.item_ns == 0 {
            per
        } else {
            per.clamp(self.item_ns / 2, self.item_ns.saturating_mul(2))
        };
        let want = (self.run() / inlet.rings()).max(self.floor);
        let (lo, hi) = (
            self.told - self.told / 4,
            self.told.saturating_add(self.told / 4),
        );
        if want < lo || want > hi {
            self.told = want;
            inlet.set_depth(want);
        }
    }
}

#[cfg(all(test, not(fanring_loom), not(feature = "shuttle")))]
mod tests {
    use super::{Depth, FIRST_RUN, FLUSH_NS, MIN_DEPTH, RUN_BUDGET_NS};
    use crate::ring::channel_for_runs;
    use crate::wait::WaitStrategy;

    fn inlet(capacity: usize) -> (crate::ring::Producer<u32>, super::Inlet<u32>) {
        let (tx, rx) = channel_for_runs::<u32>(capacity, WaitStrategy::default()).unwrap();
        (tx, super::Inlet::one(rx))
    }

    #[test]
    fn costly_items_keep_two_in_the_ring_and_go_on_one_at_a_time() {
        let (mut tx, inlet) = inlet(1024);
        assert_eq!(tx.reserve(), Ok(FIRST_RUN));
        let mut d = Depth::new(1);
        assert_eq!((d.run(), d.flush_every()), (FIRST_RUN, 1));
        // Items of a millisecond: one per run, two waiting, each handed on at once.
        d.ran(1, 1_000_000, &inlet);
        assert_eq!((d.run(), d.flush_every()), (1, 1));
        assert_eq!(tx.free_refresh(), MIN_DEPTH);
        // Items of 10 ns: runs and depth bounded by the budget, hand-overs by `FLUSH_NS`.
        let mut d = Depth::new(1);
        d.ran(100, 1_000, &inlet);
        assert_eq!(d.run(), usize::try_from(RUN_BUDGET_NS / 10).unwrap());
        assert_eq!(d.flush_every(), usize::try_from(FLUSH_NS / 10).unwrap());
    }

    /// The depth follows the items' cost at most twofold a run, either way.
    #[test]
    fn the_depth_moves_twofold_a_run() {
        let (mut tx, inlet) = inlet(1024);
        let mut d = Depth::new(1);
        // Rows of 5 µs: a hundred in the ring.
        d.ran(10, 50_000, &inlet);
        assert_eq!(tx.free_refresh(), 100);
        // Runs of rows of 250 µs: 50, 25, 12… a run, down to two.
        let mut depths = Vec::new();
        for _ in 0..7 {
            d.ran(3, 750_000, &inlet);
            depths.push(d.run());
        }
        assert_eq!(depths, [50, 25, 12, 6, 3, 2, 2]);
        assert_eq!(tx.free_refresh(), 2);
        // Cheap again: 4, 8, 16… a run, not a hundred at once.
        depths.clear();
        for _ in 0..8 {
            d.ran(1, 5_000, &inlet);
            depths.push(d.run());
        }
        assert_eq!(depths, [4, 8, 16, 32, 64, 100, 100, 100]);
    }

    /// A fixed rotation's worker keeps room for its floor whatever its items cost.
    #[test]
    fn the_floor_holds_whatever_items_cost() {
        let (mut tx, inlet) = inlet(1024);
        inlet.keep_at_least(512);
        assert_eq!(tx.reserve(), Ok(512));
        let mut d = Depth::new(512);
        d.ran(1, 1_000_000, &inlet);
        assert_eq!(d.run(), 1);
        assert_eq!(tx.free_refresh(), 512);
    }
}
