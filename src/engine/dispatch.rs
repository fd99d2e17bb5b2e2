//! Fan-out: the dispatch policies, and the distributor that owns one ring to each worker and
//! decides who gets an item; [`AnyDistributor`] over plain or tagged worker rings (its loop
//! over a source is `engine::feed`).

use super::control::Control;
use super::spare::Spare;
use super::window::{Window, WindowRoom};
use super::wire::{InWire, Tagged};
use crate::cursor::Unsent;
use crate::loom::sync::Arc;
use crate::ring::Producer;
use crate::stats::DistributorStats;
use crate::teardown::Teardown;
use crate::wait::{wait_until, WaitStrategy};
use std::fmt;

/// Which worker gets an item.
///
/// ```
/// use fanring::Dispatch;
/// let by_user = Dispatch::by_key(|order: &(u32, f64)| order.0 as u64);
/// # let _: Dispatch<(u32, f64)> = by_user;
/// ```
pub enum Dispatch<T> {
    /// The workers take turns, each getting a run of up to `batch` consecutive items (the
    /// engine's [`batch`](crate::Builder::batch)). A worker whose ring is full is skipped: its
    /// turn goes to the next one with room, and the distributor waits only when every ring is
    /// full. With `Order::Preserve` and `map`, the rotation is strict (the merger reads the
    /// workers in the same rotation, so order is restored with no buffer): a full worker is
    /// waited for, and with `batch(1)` item `i` goes to worker `i % n`, the seed's `Split`
    /// (which [`split`](crate::fan::split) keeps).
    RoundRobin,
    /// Each run of up to `batch` items goes to the worker with the most free ring slots at
    /// that moment, of equals one parked waiting for input (`FastFlow`'s on-demand scheduling;
    /// with `batch(1)`, item by item), so a worker that falls behind gets less. Free slots are
    /// what it sees: the items a worker has taken out of its ring (up to a run, about 500 µs
    /// of its work at the cost it has measured, or `batch`) no longer count, so a worker busy
    /// with a run of costly items whose ring is empty looks as free as an idle one (the parked
    /// one is chosen), and items queued in one worker's ring wait for it even when another
    /// is idle.
    LeastLoaded,
    /// The same key always goes to the same worker (`key % n`), so items with one key keep
    /// their order even with `Order::Any` (DPDK's flow affinity).
    ByKey(std::sync::Arc<dyn Fn(&T) -> u64 + Send + Sync>),
}

impl<T> Dispatch<T> {
    /// `ByKey` from a key function.
    pub fn by_key(key: impl Fn(&T) -> u64 + Send + Sync + 'static) -> Self {
        // A std `Arc`: configuration shared read-only, not state a model explores (and loom's
        // `Arc` cannot hold a `dyn`).
        Dispatch::ByKey(std::sync::Arc::new(key))
    }

    pub(crate) fn is_round_robin(&self) -> bool {
        matches!(self, Dispatch::RoundRobin)
    }

    pub(crate) fn is_by_key(&self) -> bool {
        matches!(self, Dispatch::ByKey(_))
    }
}

impl<T> Clone for Dispatch<T> {
    fn clone(&self) -> Self {
        match self {
            Dispatch::RoundRobin => Dispatch::RoundRobin,
            Dispatch::LeastLoaded => Dispatch::LeastLoaded,
            Dispatch::ByKey(f) => Dispatch::ByKey(std::sync::Arc::clone(f)),
        }
    }
}

impl<T> fmt::Debug for Dispatch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dispatch::RoundRobin => "RoundRobin",
            Dispatch::LeastLoaded => "LeastLoaded",
            Dispatch::ByKey(_) => "ByKey",
        })
    }
}

// Derived, it would demand `T: Default`.
#[allow(clippy::derivable_impls)]
impl<T> Default for Dispatch<T> {
    fn default() -> Self {
        Dispatch::RoundRobin
    }
}

/// Who runs a quiet run instead of a parked worker (`engine::inline`): given the run's items
/// and the sequence number of the first, it processes them and publishes their outputs.
pub(crate) trait QuietRun<T> {
    /// Whether it would take a quiet run of `k` items now: not while it backs off after runs
    /// whose work took long or kept it busy (those are better spread over the workers), nor
    /// a run whose work, at the cost per item its last run showed, would take long, nor one
    /// whose outputs its lane has no room for now (it never waits for the merger).
    fn willing(&mut self, k: usize) -> bool;

    /// Processes the first of `items`, numbered from `seq`, as the worker `worker` would
    /// have, and leaves in `items` (in order) those it did not get to: it stops once the run
    /// has taken long, after one item at least (the caller hands the rest to the workers).
    /// `Err` once the engine cannot go on (the merged stream went away, or the work panicked:
    /// then the failure is recorded before anything closes).
    fn run(&mut self, items: &mut Vec<T>, seq: usize, worker: usize) -> Result<(), Stopped>;
}

/// Builds a distributor thread's quiet runner on that thread (the work is made there, as a
/// worker's is, by the work's factory; only stateless work gets one).
pub(crate) type QuietSeed<T> = Box<dyn FnOnce() -> Box<dyn QuietRun<T>> + Send>;

/// Why [`Distributor::try_send`] could not take an item; the item comes back.
pub(crate) enum NotSent<T> {
    /// The chosen ring (or, for `LeastLoaded`, every ring), or the reorder window, is full.
    Full(T),
    /// The engine stopped: a worker closed its ring (early end or panic).
    Stopped(T),
}

impl<T> NotSent<T> {
    /// The item that was not sent.
    #[cfg(feature = "async")]
    pub(crate) fn into_item(self) -> T {
        match self {
            NotSent::Full(t) | NotSent::Stopped(t) => t,
        }
    }
}

/// The distributor leaves items in the spare only behind rings kept this shallow or
/// shallower (`inlet::Depth`: items of about `RUN_BUDGET_NS / SPILL_DEPTH`, 16 µs, or more),
/// where a lock per run costs nothing next to the work, and a worker that waits for its
/// distributor to get a core loses a whole item's time.
pub(crate) const SPILL_DEPTH: usize = 32;

/// The spare holds at most this many times what the rings are told to keep (their depths
/// summed): about eight runs' budget of one worker's time (`inlet::RUN_BUDGET_NS`, 4 ms),
/// more items where the rings are at their floor (items dearer than the budget). Deep enough
/// to cover a distributor that waits for a core through a scheduler's slice or two (one that
/// yields while a worker computes beside it waited 3-4 ms here) while every worker keeps
/// running; no deeper, so that the items taken ahead stay few, in time and in memory.
const SPARE_FILLS: usize = 8;

/// What a `Full` from `try_send` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocked {
    /// Room in `rings[cur]`.
    Ring,
    /// Room in any ring (`LeastLoaded`).
    AnyRing,
    /// Room in the reorder window.
    Window,
}

/// How a distributor cuts the stream into runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Runs {
    /// Round-robin: up to `turn` consecutive items per worker per turn (1 is the seed's item
    /// by item); the ring is published at the end of each turn.
    pub(crate) turn: usize,
    /// Every ring is published after this many items staged in all.
    pub(crate) flush_every: usize,
    /// Round-robin runs keep their length `turn` when published early (`Order::Preserve`'s
    /// rotating merger counts on it); otherwise a run published early ends there.
    pub(crate) fixed_length: bool,
}

/// The engine stopped: a worker closed its ring (early end or panic), the merger is gone, or
/// a handle cancelled the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stopped;

/// `open` failed.
pub(crate) enum Shut {
    Full,
    Stopped,
}

/// The distributor: one producer per worker ring. `W` is the wire type on the rings.
///
/// The fast path of [`try_send`](Self::try_send) writes into a ring with no check at all: the
/// slow path (`open`) picks the ring and counts, once, how many items may go to it without
/// another look at shared state (`room`: free slots, the rest of the round-robin run, the room
/// left in the reorder window).
pub(crate) struct Distributor<T, W> {
    rings: Vec<Producer<W>>,
    dispatch: Dispatch<T>,
    window: Option<Arc<Window>>,
    wait: WaitStrategy,
    /// The ring items go to now.
    cur: usize,
    /// Items that may be staged into `rings[cur]` before `open` runs again.
    room: usize,
    /// Round-robin: consecutive items each worker gets in its turn (at most), and what is
    /// left of the current turn.
    turn: usize,
    turn_left: usize,
    /// Sequence number of the next item.
    seq: usize,
    /// The window's `done` as last loaded (tagged mode only).
    cached_done: usize,
    /// Items staged since the last flush, and how many trigger one.
    staged: usize,
    flush_every: usize,
    blocked: Blocked,
    /// Whether round-robin runs keep their length when published early.
    keep_runs: bool,
    /// A worker ring was closed by its worker (early end or panic): stop.
    stopped: bool,
    /// The engine's shared state, where a handle that ends the engine early says so before
    /// any worker has seen it (an `Input` then refuses items at once).
    control: Option<Arc<Control>>,
    /// A quiet run is run by the quiet runner whether or not its worker is parked (a graph:
    /// handing it to a worker would wake one worker per stage).
    quiet_any: bool,
    /// Where items go while every ring is full, for whichever worker runs dry first
    /// (`engine::spare`); only where any item may go to any worker.
    spare: Option<Arc<Spare<W>>>,
    pub(crate) stats: DistributorStats,
}

impl<T, W: InWire<T>> Distributor<T, W> {
    /// A distributor over `rings` that runs items as `runs` says; every ring is also
    /// published whenever the source has nothing ready ([`idle`](Self::idle)). `wait` is how
    /// it waits for room (the rings' strategy).
    pub(crate) fn new(
        rings: Vec<Producer<W>>,
        dispatch: Dispatch<T>,
        window: Option<Arc<Window>>,
        runs: Runs,
        wait: WaitStrategy,
    ) -> Self {
        let Runs {
            turn,
            flush_every,
            fixed_length: keep_runs,
        } = runs;
        let turn = turn.max(1);
        Distributor {
            rings,
            dispatch,
            window,
            wait,
            cur: 0,
            room: 0,
            turn,
            turn_left: turn,
            seq: 0,
            cached_done: 0,
            staged: 0,
            flush_every: flush_every.max(1),
            blocked: Blocked::Ring,
            keep_runs,
            stopped: false,
            control: None,
            quiet_any: false,
            spare: None,
            stats: DistributorStats::default(),
        }
    }

    /// Leaves items in `spare` while every ring is full ([`spill`](Self::spill)). Only for a
    /// distributor that may give any item to any worker: round-robin without a fixed rotation,
    /// or least-loaded.
    pub(crate) fn share(&mut self, spare: Option<Arc<Spare<W>>>) {
        debug_assert!(spare.is_none() || (!self.keep_runs && !self.dispatch.is_by_key()));
        self.spare = spare;
    }

    /// Every ring is full (the last `open` said so) and its items are costly (the rings are
    /// kept shallow, `inlet::Depth`): moves items from the front of `buf` to the spare, where
    /// the first worker to run dry takes them. Call after a `Full`, before waiting. Cheap
    /// items are better left to the rings' long runs. `true` when it took all of `buf` and
    /// the spare has room for more: the distributor goes on taking items from its source
    /// (each behind the spare's, `feed`) instead of waiting.
    pub(crate) fn spill(&mut self, buf: &mut Vec<T>) -> bool {
        let costly = self.rings[self.cur].depth() <= SPILL_DEPTH;
        #[cfg(any(fanring_loom, feature = "shuttle"))] // the models: whatever the items cost
        let costly = costly || crate::loom::models::spare_always();
        if self.spare.is_some() && self.blocked == Blocked::AnyRing && costly {
            self.spill_behind(buf) && buf.is_empty()
        } else {
            false
        }
    }

    /// Moves items from the front of `buf` to the back of the spare, numbered as if staged
    /// (as many as it, its bound and the reorder window have room for). `true` while the
    /// spare has room for more after them.
    pub(crate) fn spill_behind(&mut self, buf: &mut Vec<T>) -> bool {
        if buf.is_empty() {
            return false;
        }
        let Ok(window) = self.window_room() else {
            return false;
        };
        let Some(spare) = &self.spare else {
            return false;
        };
        let seq = self.seq;
        let bound = SPARE_FILLS.saturating_mul(self.rings.iter().map(Producer::depth).sum());
        let (n, room) = spare.put(buf.len().min(window), bound, |k| {
            buf.drain(..k)
                .enumerate()
                .map(move |(j, x)| W::wrap(seq.wrapping_add(j), x))
        });
        self.seq = self.seq.wrapping_add(n);
        self.stats.items += n as u64;
        self.stats.spared += n as u64;
        room && window > n
    }

    /// Refills every ring that has room from the front of the spare (its oldest items) and
    /// publishes it. `Ok(true)` when the spare still holds items (every ring is then full);
    /// `Err` once a worker has closed its ring (the engine stops: the spare is drained at
    /// teardown).
    pub(crate) fn unspill(&mut self) -> Result<bool, Stopped> {
        let Some(spare) = &self.spare else {
            return Ok(false);
        };
        if spare.looks_empty() {
            return Ok(false);
        }
        let mut closed = false;
        for (i, ring) in self.rings.iter_mut().enumerate() {
            match ring.reserve() {
                Ok(0) => {}
                Ok(free) => {
                    // `free` slots are free by the cached count: each stage succeeds.
                    spare.take_with(free, |w| {
                        let staged = ring.stage(w);
                        debug_assert!(staged.is_ok());
                    });
                    ring.commit();
                    // The ring `open` chose last has fewer free slots than its `room` says:
                    // the next item opens it again (`try_send_from` stages at most `room`).
                    if i == self.cur {
                        self.room = 0;
                    }
                    if spare.looks_empty() {
                        return Ok(false);
                    }
                }
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            self.stop();
            return Err(Stopped);
        }
        self.blocked = Blocked::AnyRing;
        Ok(true)
    }

    /// Stops taking items as soon as `control` says a handle ended the engine early
    /// ([`peer_gone`](Self::peer_gone)), not only once a worker has closed its ring.
    pub(crate) fn watch(&mut self, control: Arc<Control>) {
        self.control = Some(control);
    }

    /// Quiet runs go to the quiet runner whether or not their worker is parked.
    pub(crate) fn quiet_whenever_quiet(&mut self) {
        self.quiet_any = true;
    }

    /// The engine's shared state, once [`watch`](Self::watch)ed.
    pub(crate) fn control(&self) -> Option<&Arc<Control>> {
        self.control.as_ref()
    }

    /// Publishes every ring's staged items.
    pub(crate) fn flush(&mut self) {
        self.staged = 0;
        self.rings.iter_mut().for_each(Producer::commit);
    }

    /// The source has nothing ready: publish every ring, and end the current run there (a
    /// batch is an upper bound, never a fill target), so the next item goes where the policy
    /// says now: the next worker in turn, or the least loaded one. `Order::Preserve`'s
    /// rotation (`keep_runs`) needs full runs: its run goes on, published.
    pub(crate) fn idle(&mut self) {
        self.flush();
        if !self.keep_runs {
            self.room = 0;
            if self.turn_left < self.turn {
                self.turn_left = 0;
            }
        }
    }

    /// Whether the engine stopped taking items: a worker closed its ring (it ended or
    /// failed). Asks the rings (one load each) rather than trusting the cached free slots.
    pub(crate) fn check_stopped(&mut self) -> bool {
        if self.peer_gone() && !self.stopped {
            self.stop();
        }
        self.stopped
    }

    /// [`check_stopped`](Self::check_stopped) without acting on it.
    pub(crate) fn peer_gone(&self) -> bool {
        self.stopped
            || self.control.as_ref().is_some_and(|c| c.cancelled())
            || self.rings.iter().any(Producer::is_closed)
    }

    /// Stages `item` for a worker without waiting. Staged items are published at the end of
    /// a round-robin run, every `flush_every` items and by [`flush`](Self::flush).
    #[inline]
    pub(crate) fn try_send(&mut self, item: T) -> Result<(), NotSent<T>> {
        if self.room == 0 {
            match self.open(Some(&item)) {
                Ok(()) => {}
                Err(Shut::Full) => return Err(NotSent::Full(item)),
                Err(Shut::Stopped) => return Err(NotSent::Stopped(item)),
            }
        }
        // `open` set `room` to at most the ring's free slots, so it takes the item.
        if let Err(wire) = self.rings[self.cur].stage(W::wrap(self.seq, item)) {
            self.room = 0;
            return Err(NotSent::Full(wire.unwrap().1));
        }
        self.staged_into_cur(1);
        Ok(())
    }

    /// Stages items from the front of `buf` (removing them) until it is empty or a ring (or
    /// the window) is full; returns how many went. Plain items move in runs, one copy each;
    /// whatever is left moves to the front of `buf` once, at the end.
    ///
    /// # Errors
    /// `Err(Stopped)` if the engine stopped (the rest stays in `buf`).
    #[inline]
    pub(crate) fn try_send_from(&mut self, buf: &mut Vec<T>) -> Result<usize, Stopped> {
        let mut rest = Unsent::new(buf);
        let mut sent = 0;
        loop {
            sent += self.by_key_cached(&mut rest);
            let Some(first) = rest.first() else {
                break;
            };
            if self.room == 0 {
                // `key` (user code) may panic here: `rest` then gives `buf` its unsent items.
                match self.open(Some(first)) {
                    Ok(()) => {}
                    Err(Shut::Full) => break,
                    Err(Shut::Stopped) => return Err(Stopped),
                }
            }
            let ring = &mut self.rings[self.cur];
            // `open` set `room` to at most the ring's free slots, less what was staged since.
            let k = self.room.min(rest.len()).min(ring.free_cached());
            debug_assert!(k > 0, "`room` counts free slots of `rings[cur]`");
            if k == 0 {
                // Never expected (`unspill` resets `room`): open a ring again, never spin.
                self.room = 0;
                continue;
            }
            // SAFETY: `k <= ring.free_cached()`; the `k` items at the front of `rest` are
            // given up to the ring (`take` below, before anything else).
            unsafe {
                W::stage_from(ring, rest.as_ptr(), k, self.seq);
                rest.take(k);
            }
            self.staged_into_cur(k);
            sent += k;
        }
        Ok(sent)
    }

    /// `ByKey` with plain items: stages items from the front of `rest` while each one's ring
    /// has a free slot by its cached index, with the loop's counters in registers (a store
    /// into a slot could alias any field of `self`). Returns how many went; the item that did
    /// not fit (if any) goes through `open`'s general path, which reloads the index, sees a
    /// closed ring, or waits.
    #[inline]
    pub(crate) fn by_key_cached(&mut self, rest: &mut Unsent<'_, T>) -> usize {
        let Distributor {
            rings,
            dispatch: Dispatch::ByKey(key),
            window: None,
            stopped: false,
            ..
        } = self
        else {
            return 0;
        };
        // `ByKey` opens a ring for one item at a time, and stages it at once.
        debug_assert_eq!(self.room, 0);
        let n = rings.len() as u64;
        let (seq, mut staged, flush_every) = (self.seq, self.staged, self.flush_every);
        let mut k = 0;
        while let Some(item) = rest.first() {
            // The remainder is below the ring count, a `usize`. `key` (user code) may panic:
            // `rest` then gives `buf` its unsent items.
            #[allow(clippy::cast_possible_truncation)]
            let ring = &mut rings[(key(item) % n) as usize];
            if ring.free_cached() == 0 {
                break;
            }
            // SAFETY: the cached count shows a free slot in `ring`; the item at the front of
            // `rest` is given up to it (`take`, at once).
            unsafe {
                W::stage_from(ring, rest.as_ptr(), 1, seq.wrapping_add(k));
                rest.take(1);
            }
            k += 1;
            staged += 1;
            if staged >= flush_every {
                rings.iter_mut().for_each(Producer::commit);
                staged = 0;
            }
        }
        self.seq = seq.wrapping_add(k);
        self.stats.items += k as u64;
        self.staged = staged;
        k
    }

    /// Counts `k` items just staged into `rings[cur]` (out of `room` and the run); publishes
    /// every ring every `flush_every` items.
    #[inline]
    pub(crate) fn staged_into_cur(&mut self, k: usize) {
        self.room -= k;
        self.turn_left -= k;
        self.seq = self.seq.wrapping_add(k);
        self.stats.items += k as u64;
        self.staged += k;
        if self.staged >= self.flush_every {
            self.flush();
        }
    }

    /// For a quiet run of `k` items: the worker it would go to now, if that worker is parked
    /// (waking it would cost a futex wake and a scheduling), and the sequence number of the
    /// run's first item. That worker's turn ends there; [`quiet_ran`](Self::quiet_ran) then
    /// counts the items the runner took. `None` for `ByKey` (a key's items must keep its
    /// worker's order), a worker that is not parked, or a reorder window without room.
    pub(crate) fn quiet_target(&mut self, k: usize) -> Option<(usize, usize)> {
        if self.stopped {
            return None;
        }
        let target = match self.dispatch {
            // The ring the next item goes to: the next one once the turn is complete.
            Dispatch::RoundRobin if self.turn_left == 0 => self.next_in_turn(),
            Dispatch::RoundRobin if self.room == 0 => self.cur,
            Dispatch::LeastLoaded => self.least_loaded(),
            _ => return None,
        };
        let parked = self.quiet_any || self.rings[target].peer_parked();
        if !parked || self.window_room().ok()? < k {
            return None;
        }
        // Everything staged so far is published first: the runner's outputs must not reach
        // the merger before what was handed out earlier (the tagged window orders them, but
        // `Order::Any` must not hold an earlier item back behind a later one).
        self.flush();
        self.cur = target;
        self.turn_left = 0;
        self.room = 0;
        Some((target, self.seq))
    }

    /// The quiet runner took the first `j` items of the run [`quiet_target`](Self::quiet_target)
    /// numbered: they count as handed out (`inline` in the counters), and the next item staged
    /// gets the sequence number after theirs.
    pub(crate) fn quiet_ran(&mut self, j: usize) {
        self.seq = self.seq.wrapping_add(j);
        self.stats.items += j as u64;
        self.stats.inline += j as u64;
    }

    /// Stages `item` for a worker, waiting while the chosen ring (or the reorder window) is
    /// full. Returns the item if the engine stopped.
    pub(crate) fn send(&mut self, mut item: T) -> Result<(), T> {
        loop {
            match self.try_send(item) {
                Ok(()) => return Ok(()),
                Err(NotSent::Stopped(back)) => return Err(back),
                Err(NotSent::Full(back)) => {
                    item = back;
                    self.wait_room();
                }
            }
        }
    }

    /// Picks the ring for `item` and sets `room`; `Err` when nothing may be staged now.
    ///
    /// Without an item ([`reserve_any`](Self::reserve_any)), `ByKey` cannot pick a ring: it
    /// checks that *every* ring (and the window) has room for one more item, and leaves
    /// `room` at 0 (the next `try_send` opens its item's ring, which then has room).
    pub(crate) fn open(&mut self, item: Option<&T>) -> Result<(), Shut> {
        if self.stopped {
            return Err(Shut::Stopped);
        }
        let n = self.rings.len();
        match &self.dispatch {
            Dispatch::RoundRobin => {
                if self.turn_left == 0 {
                    // The run is complete: publish it, next worker.
                    if self.turn > 1 {
                        self.rings[self.cur].commit();
                    }
                    self.cur = self.next_in_turn();
                    self.turn_left = self.turn;
                }
            }
            Dispatch::LeastLoaded => {
                // A run of up to `run` items to the ring with the most free slots now; the
                // last run is published first, so its worker can start on it.
                if self.turn > 1 {
                    self.rings[self.cur].commit();
                }
                self.cur = self.least_loaded();
                self.turn_left = self.turn;
            }
            Dispatch::ByKey(key) => {
                let Some(item) = item else {
                    return self.open_every();
                };
                // The remainder is below the ring count, a `usize`.
                #[allow(clippy::cast_possible_truncation)]
                let i = (key(item) % n as u64) as usize;
                self.cur = i;
                self.turn_left = 1;
            }
        }
        let window = self.window_room()?;
        let limit = self.turn_left.min(window);
        if self.turn_left == 1 {
            // One item at a time (`ByKey`): while the cached index shows a free slot, no
            // shared access and no prefetch (the next slot is on the line just written). A
            // ring closed by its worker is seen once the cache shows it full, as a run's end
            // is in round-robin; until then items staged into it are dropped with it, once.
            let free = self.rings[self.cur].free_cached();
            if free > 0 {
                self.room = free.min(limit);
                return Ok(());
            }
        }
        match self.rings[self.cur].reserve() {
            Ok(0)
                if self.dispatch.is_round_robin()
                    && !self.keep_runs
                    && self.rings[self.cur].is_shallow() =>
            {
                self.skip_full(window)
            }
            Ok(0) => {
                if matches!(self.dispatch, Dispatch::LeastLoaded) {
                    // Every ring is full. One closed by its worker ends the engine (waiting
                    // on it would return at once, forever).
                    if self.rings.iter().any(Producer::is_closed) {
                        self.stop();
                        return Err(Shut::Stopped);
                    }
                    self.blocked = Blocked::AnyRing;
                } else {
                    self.blocked = Blocked::Ring;
                }
                Err(Shut::Full)
            }
            Ok(free) => {
                self.room = free.min(limit);
                Ok(())
            }
            Err(_) => {
                self.stop();
                Err(Shut::Stopped)
            }
        }
    }

    /// Round-robin, `rings[cur]` full and kept shallow by its worker (its items take long:
    /// `inlet::Depth`): its turn ends there, and the next worker in turn with room gets the
    /// run (a worker that fell behind must not hold the others idle behind a queue of a few
    /// items). Only when every ring is full does the distributor wait, for any of them. A
    /// full ring of cheap items is waited for, as before: it frees a long run at once, and
    /// skipping it would cut every run short. Not with
    /// `keep_runs` (the rotating merger and the seed's `split` need the strict rotation).
    /// `window`: the room the reorder window leaves.
    fn skip_full(&mut self, window: usize) -> Result<(), Shut> {
        let limit = self.turn.min(window);
        for _ in 1..self.rings.len() {
            // Leaving `cur`: publish its run.
            self.rings[self.cur].commit();
            self.cur = self.next_in_turn();
            self.turn_left = self.turn;
            match self.rings[self.cur].reserve() {
                Ok(0) => {}
                Ok(free) => {
                    self.room = free.min(limit);
                    return Ok(());
                }
                Err(_) => {
                    self.stop();
                    return Err(Shut::Stopped);
                }
            }
        }
        self.blocked = Blocked::AnyRing;
        Err(Shut::Full)
    }

    /// The ring after `cur` in the round-robin rotation.
    fn next_in_turn(&self) -> usize {
        if self.cur + 1 == self.rings.len() {
            0
        } else {
            self.cur + 1
        }
    }

    /// How many more sequence numbers fit the reorder window (`usize::MAX` without one).
    fn window_room(&mut self) -> Result<usize, Shut> {
        let Some(w) = &self.window else {
            return Ok(usize::MAX);
        };
        // Tagged mode: `seq` must fit the reorder window. Like a ring index, the merger's
        // `done` is cached and reloaded only when the cached value says "full".
        if self.seq.wrapping_sub(self.cached_done) >= w.size {
            match w.room(self.seq) {
                WindowRoom::Open { done } => self.cached_done = done,
                WindowRoom::Closed => {
                    self.stop();
                    return Err(Shut::Stopped);
                }
                WindowRoom::Full => {
                    self.blocked = Blocked::Window;
                    return Err(Shut::Full);
                }
            }
        }
        Ok(w.size - self.seq.wrapping_sub(self.cached_done))
    }

    /// `ByKey` without an item: `Ok` once the window and every ring have room for one more
    /// item (`room` stays 0); otherwise the first full ring is the one to wait for.
    fn open_every(&mut self) -> Result<(), Shut> {
        self.room = 0;
        self.window_room()?;
        for i in 0..self.rings.len() {
            if self.rings[i].free_cached() > 0 {
                continue;
            }
            match self.rings[i].reserve() {
                Ok(0) => {
                    self.cur = i;
                    self.blocked = Blocked::Ring;
                    return Err(Shut::Full);
                }
                Ok(_) => {}
                Err(_) => {
                    self.stop();
                    return Err(Shut::Stopped);
                }
            }
        }
        Ok(())
    }

    /// Whether the next [`try_send`](Self::try_send), whatever its item, will stage it:
    /// `Ok(true)` (room is reserved: nothing else is staged before it, as this distributor is
    /// owned by one caller), `Ok(false)` when a ring or the window is full (wait with
    /// `wait_room` / `poll_room`, then ask again), `Err` once the engine stopped.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn reserve_any(&mut self) -> Result<bool, Stopped> {
        if self.stopped {
            return Err(Stopped);
        }
        if self.room > 0 {
            return Ok(true);
        }
        match self.open(None) {
            Ok(()) => Ok(true),
            Err(Shut::Full) => Ok(false),
            Err(Shut::Stopped) => Err(Stopped),
        }
    }

    /// After a `Full`: publish everything, then wait for what it was about.
    #[cold]
    pub(crate) fn wait_room(&mut self) {
        self.flush();
        self.stats.waits_full += 1;
        match self.blocked {
            Blocked::Ring => {
                // A close wakes it too; the next `open` then sees it.
                let _ = self.rings[self.cur].wait_space();
            }
            Blocked::AnyRing => {
                let rings = &self.rings;
                wait_until(self.wait, &rings[..], None, || {
                    rings.iter().any(Producer::ready_hint).then_some(())
                });
            }
            Blocked::Window => {
                if let Some(w) = &self.window {
                    let seq = self.seq;
                    wait_until(self.wait, &w.slot, None, || w.room(seq).ready());
                }
            }
        }
    }

    /// The async form of [`wait_room`](Self::wait_room) (`async` feature): publishes
    /// everything, then `Ready` once what the last `Full` was about has room (or closed), or
    /// `Pending` with the task's waker announced where `wait_room` would park (the worker's
    /// release, or the merger's advance of the reorder window, wakes it).
    #[cfg(feature = "async")]
    pub(crate) fn poll_room(&mut self, cx: &std::task::Context<'_>) -> std::task::Poll<()> {
        use crate::wait::task::{poll_until, poll_until_spinning, spin};
        self.flush();
        // Each wait first spins (and yields) as the blocking `wait_room` would before it
        // parks (`wait::task::spin`): a worker usually frees its ring within microseconds.
        let r = match self.blocked {
            Blocked::Ring => {
                let ring = &self.rings[self.cur];
                poll_until_spinning(cx, ring, self.wait, || ring.ready_hint().then_some(()))
            }
            Blocked::AnyRing => {
                let rings = &self.rings[..];
                poll_until_spinning(cx, rings, self.wait, || {
                    rings.iter().any(Producer::ready_hint).then_some(())
                })
            }
            Blocked::Window => match &self.window {
                // The merger always notifies the window's slot (`Window::advance`).
                Some(w) => {
                    let seq = self.seq;
                    let room = || w.room(seq).ready();
                    match spin(self.wait, room) {
                        Some(()) => std::task::Poll::Ready(()),
                        None => poll_until(cx, &w.slot, true, room),
                    }
                }
                None => std::task::Poll::Ready(()),
            },
        };
        if r.is_pending() {
            self.stats.waits_full += 1;
        }
        r
    }

    /// The ring with the most free slots, each reloaded (one shared load per ring, once per
    /// run); the first of equals.
    pub(crate) fn least_loaded(&mut self) -> usize {
        let mut best = 0;
        let mut best_free = 0;
        for i in 0..self.rings.len() {
            let free = self.rings[i].free_refresh();
            if free > best_free {
                best = i;
                best_free = free;
            } else if free == best_free && free > 0 && Self::idle_first(&self.rings, i, best) {
                best = i;
            }
        }
        best
    }

    /// Of two rings equally free, whether to take `i` over `best`: its worker is parked
    /// waiting for input and `best`'s is not (a worker whose ring is as empty may be busy with
    /// the run it took out of it). A hint only (a `Relaxed` load each); not under loom and
    /// shuttle, where it would only add states: any choice keeps the protocol.
    fn idle_first(rings: &[Producer<W>], i: usize, best: usize) -> bool {
        #[cfg(not(any(fanring_loom, feature = "shuttle")))]
        {
            rings[i].peer_parked() && !rings[best].peer_parked()
        }
        #[cfg(any(fanring_loom, feature = "shuttle"))]
        {
            let _ = (rings, i, best);
            false
        }
    }

    /// The worker rings.
    pub(crate) fn rings(&self) -> &[Producer<W>] {
        &self.rings
    }

    /// A worker closed its ring: the engine is ending early. Close every ring.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.room = 0;
        self.rings.iter_mut().for_each(Producer::close);
    }

    /// Normal end of input: publish and close every ring.
    pub(crate) fn close(&mut self) {
        self.room = 0;
        self.flush();
        self.rings.iter_mut().for_each(Producer::close);
    }

    /// Teardown, after [`close`](Self::close) or [`stop`](Self::stop): drops every ring, each
    /// in a step of its own (the last handle drops the items left in it, and one whose `Drop`
    /// panics does not keep the others from being dropped). Nothing can be sent afterwards.
    pub(crate) fn drop_rings(&mut self, td: &mut Teardown) {
        let stopped = std::mem::replace(&mut self.stopped, true);
        self.room = 0;
        for ring in std::mem::take(&mut self.rings) {
            td.step(|| drop(ring));
        }
        // After a stop, what it left in the spare (the workers may be gone); after a normal
        // end, what is there is the workers' to run.
        if let Some(spare) = self.spare.take().filter(|_| stopped) {
            td.step(|| drop(spare.drain()));
        }
    }
}

/// The distributor for plain or tagged worker rings.
pub(crate) enum AnyDistributor<T> {
    Plain(Distributor<T, T>),
    Tagged(Distributor<T, Tagged<T>>),
}

/// Forwards a call to whichever distributor `$any` holds.
macro_rules! each {
    ($any:expr, $d:ident => $call:expr) => {
        match $any {
            AnyDistributor::Plain($d) => $call,
            AnyDistributor::Tagged($d) => $call,
        }
    };
}

impl<T: Send + 'static> AnyDistributor<T> {
    #[inline]
    pub(crate) fn send(&mut self, item: T) -> Result<(), T> {
        each!(self, d => d.send(item))
    }
    /// [`Distributor::try_send`], the item back on `Err` with whether the engine stopped.
    #[cfg(feature = "async")]
    pub(crate) fn try_send(&mut self, item: T) -> Result<(), NotSent<T>> {
        each!(self, d => d.try_send(item))
    }
    /// See [`Distributor::reserve_any`].
    #[cfg(feature = "async")]
    pub(crate) fn reserve_any(&mut self) -> Result<bool, Stopped> {
        each!(self, d => d.reserve_any())
    }
    #[cfg(feature = "async")]
    pub(crate) fn poll_room(&mut self, cx: &std::task::Context<'_>) -> std::task::Poll<()> {
        each!(self, d => d.poll_room(cx))
    }
    pub(crate) fn flush(&mut self) {
        each!(self, d => d.flush());
    }
    pub(crate) fn close(&mut self) {
        each!(self, d => d.close());
    }
    /// Teardown, after `close`: drops every ring, each in a step of its own.
    pub(crate) fn drop_rings(&mut self, td: &mut Teardown) {
        each!(self, d => d.drop_rings(td));
    }
    pub(crate) fn idle(&mut self) {
        each!(self, d => d.idle());
    }
    pub(crate) fn check_stopped(&mut self) -> bool {
        each!(self, d => d.check_stopped())
    }
    pub(crate) fn stop(&mut self) {
        each!(self, d => d.stop());
    }
    pub(crate) fn peer_gone(&self) -> bool {
        each!(self, d => d.peer_gone())
    }
    pub(crate) fn watch(&mut self, control: Arc<Control>) {
        each!(self, d => d.watch(control));
    }
    pub(crate) fn quiet_whenever_quiet(&mut self) {
        each!(self, d => d.quiet_whenever_quiet());
    }
    pub(crate) fn control(&self) -> Option<&Arc<Control>> {
        each!(self, d => d.control())
    }
    pub(crate) fn stats(&self) -> DistributorStats {
        each!(self, d => d.stats)
    }
}
