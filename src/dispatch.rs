//! Fan-out: the distributor that owns one ring to each worker and decides who gets an item.

use crate::engine::wire::InWire;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::sync::Arc;
use crate::wait::{wait_until, WaitStrategy, WakeSlot};
use crate::{Producer, PushError};
use std::fmt;

/// Which worker gets an item.
///
/// ```
/// use fanring::Dispatch;
/// let by_user = Dispatch::by_key(|order: &(u32, f64)| order.0 as u64);
/// # let _: Dispatch<(u32, f64)> = by_user;
/// ```
pub enum Dispatch<T> {
    /// Item `i` goes to worker `i % n`, waiting for that worker when its ring is full (the
    /// seed's `Split`). With `Order::Preserve` the merger reads the workers in the same
    /// rotation, so order is restored with no buffer.
    RoundRobin,
    /// Work-conserving: each item goes to the worker with the most free ring slots, so a slow
    /// worker never holds the others up (`FastFlow`'s on-demand scheduling).
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

/// The reorder window between a tagging distributor and the merger: the distributor hands out
/// sequence number `s` only while `s < done + size`, so the merger never holds more than `size`
/// inputs' outputs.
pub(crate) struct Window {
    /// The merger's next sequence number to emit (published in batches, never ahead of it).
    pub(crate) done: AtomicUsize,
    /// The merger is gone: stop waiting for room.
    pub(crate) closed: AtomicBool,
    /// Where the distributor parks while the window is full.
    pub(crate) slot: WakeSlot,
    pub(crate) size: usize,
}

impl Window {
    pub(crate) fn new(size: usize) -> Self {
        Window {
            done: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            slot: WakeSlot::new(),
            size,
        }
    }

    /// Merger side: everything before `next` has been emitted.
    pub(crate) fn advance(&self, next: usize) {
        // Release: pairs with the distributor's Acquire load in `has_room`; nothing is read
        // through it, it only lets the distributor go on.
        self.done.store(next, Release);
        self.slot.notify();
    }

    /// Merger side: the merger is gone.
    pub(crate) fn close(&self) {
        // Release: pairs with the Acquire load in `has_room`.
        self.closed.store(true, Release);
        self.slot.notify();
    }

    /// Whether `seq` may be handed out: `Some(Ok(done))` yes (with the `done` seen),
    /// `Some(Err(()))` the merger is gone, `None` not yet.
    fn room(&self, seq: usize) -> Option<Result<usize, ()>> {
        // Acquire: pairs with `close`.
        if self.closed.load(Acquire) {
            return Some(Err(()));
        }
        // Acquire: pairs with `advance`.
        let done = self.done.load(Acquire);
        (seq.wrapping_sub(done) < self.size).then_some(Ok(done))
    }
}

/// Counters kept by the distributor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DistributorStats {
    /// Items handed to workers.
    pub items: u64,
    /// Times it had to wait for a full worker ring (or a full reorder window).
    pub waits_full: u64,
}

/// The distributor: one producer per worker ring. `W` is the wire type on the rings.
pub(crate) struct Distributor<T, W> {
    rings: Vec<Producer<W>>,
    dispatch: Dispatch<T>,
    window: Option<Arc<Window>>,
    wait: WaitStrategy,
    /// Next worker for round-robin.
    next: usize,
    /// Sequence number of the next item.
    seq: usize,
    /// The window's `done` as last loaded (tagged mode only).
    cached_done: usize,
    /// Items staged since the last commit, and how many trigger one.
    staged: usize,
    flush_every: usize,
    /// A worker ring was closed by its worker (early end or panic): stop.
    stopped: bool,
    pub(crate) stats: DistributorStats,
}

impl<T, W: InWire<T>> Distributor<T, W> {
    pub(crate) fn new(
        rings: Vec<Producer<W>>,
        dispatch: Dispatch<T>,
        window: Option<Arc<Window>>,
        batch: usize,
    ) -> Self {
        let wait = rings[0].wait_strategy();
        let flush_every = batch.saturating_mul(rings.len()).max(1);
        Distributor {
            rings,
            dispatch,
            window,
            wait,
            next: 0,
            seq: 0,
            cached_done: 0,
            staged: 0,
            flush_every,
            stopped: false,
            stats: DistributorStats::default(),
        }
    }

    /// Publishes every ring's staged items.
    pub(crate) fn flush(&mut self) {
        self.staged = 0;
        self.rings.iter_mut().for_each(Producer::commit);
    }

    /// Whether the engine stopped taking items (a worker closed its ring).
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Stages `item` for a worker, waiting while the chosen ring (or the reorder window) is
    /// full; publishes every `batch` items per worker. Returns the item if the engine stopped.
    pub(crate) fn send(&mut self, item: T) -> Result<(), T> {
        if self.stopped {
            return Err(item);
        }
        let seq = self.seq;
        // Tagged mode: `seq` must fit the reorder window. Like a ring index, the merger's
        // `done` is cached and reloaded only when the cached value says "full".
        if let Some(w) = &self.window {
            if seq.wrapping_sub(self.cached_done) >= w.size {
                let room = if let Some(r) = w.room(seq) {
                    r
                } else {
                    // Slow path only: the clone lets us flush while waiting.
                    let w = Arc::clone(w);
                    self.flush();
                    self.stats.waits_full += 1;
                    wait_until(self.wait, &w.slot, None, || w.room(seq)).unwrap_or(Err(()))
                };
                if let Ok(done) = room {
                    self.cached_done = done;
                } else {
                    self.stop();
                    return Err(item);
                }
            }
        }
        let mut wire = W::wrap(seq, item);
        let mut target = self.pick(&wire);
        loop {
            match self.rings[target].stage(wire) {
                Ok(()) => break,
                Err(PushError::Full(w)) => {
                    wire = w;
                    self.flush();
                    self.stats.waits_full += 1;
                    if matches!(self.dispatch, Dispatch::LeastLoaded) {
                        // Any ring with room will do: wait on all of them.
                        let rings = &self.rings;
                        let ready = wait_until(self.wait, &rings[..], None, || {
                            rings.iter().position(Producer::ready_hint)
                        });
                        // A ring that is ready because its worker closed it ends the engine:
                        // go to it (`stage` says `Closed`). `least_loaded` could pick a full
                        // open ring instead, and the loop would spin without waiting.
                        target = match ready {
                            Some(i) if self.rings[i].is_closed() => i,
                            _ => self.least_loaded(),
                        };
                    } else if self.rings[target].wait_space().is_err() {
                        self.stop();
                        return Err(wire.unwrap().1);
                    }
                }
                Err(PushError::Closed(w)) => {
                    self.stop();
                    return Err(w.unwrap().1);
                }
            }
        }
        self.stats.items += 1;
        self.seq = self.seq.wrapping_add(1);
        if matches!(self.dispatch, Dispatch::RoundRobin) {
            self.next = if self.next + 1 == self.rings.len() {
                0
            } else {
                self.next + 1
            };
        }
        self.staged += 1;
        if self.staged >= self.flush_every {
            self.flush();
        }
        Ok(())
    }

    #[inline]
    fn pick(&mut self, wire: &W) -> usize
    where
        W: InWire<T>,
    {
        match &self.dispatch {
            Dispatch::RoundRobin => self.next,
            Dispatch::LeastLoaded => self.least_loaded(),
            Dispatch::ByKey(key) => {
                // The key function sees the item; the wire only wraps it.
                let item = W::peek(wire);
                let n = self.rings.len() as u64;
                // The remainder is below the ring count, a `usize`.
                #[allow(clippy::cast_possible_truncation)]
                let i = (key(item) % n) as usize;
                i
            }
        }
    }

    /// The ring with the most free slots by the cached indices (no shared access), refreshing
    /// a ring's view only when it looks full.
    fn least_loaded(&mut self) -> usize {
        let mut best = 0;
        let mut best_free = 0;
        for (i, r) in self.rings.iter_mut().enumerate() {
            let free = match r.free_cached() {
                0 => r.free_refresh(),
                f => f,
            };
            if free > best_free {
                best = i;
                best_free = free;
            }
        }
        best
    }

    /// The worker rings.
    pub(crate) fn rings(&self) -> &[Producer<W>] {
        &self.rings
    }

    /// A worker closed its ring: the engine is ending early. Close every ring.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.rings.iter_mut().for_each(Producer::close);
    }

    /// Normal end of input: publish and close every ring.
    pub(crate) fn close(&mut self) {
        self.flush();
        self.rings.iter_mut().for_each(Producer::close);
    }
}
