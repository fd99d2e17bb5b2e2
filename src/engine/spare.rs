//! The spare: items a distributor took from its source while every worker's ring was full,
//! put where any worker of the stage can take them once its own ring runs dry.
//!
//! A worker's ring holds a few items of its own measured time (`inlet::Depth`), so that no
//! worker sits on a queue the others could have run. When items are costly, that is a few
//! items; the distributor must then refill each ring within an item's time or the worker runs
//! dry, and with more threads than cores it waits for a core for longer than that (a worker
//! that computes holds its core for the scheduler's slice). The spare takes that wait away:
//! while every ring is full, the distributor leaves up to [`Spare::new`]'s capacity of the
//! items it has taken here, already numbered, and a worker whose ring is empty takes a run
//! from it before it parks. Being shared, the spare can be deep without holding one worker's
//! items back from another.
//!
//! Only a distributor thread that may give any item to any worker has one (round-robin
//! without a fixed rotation, least-loaded); never by key, never the caller's `drive` or an
//! `Input` (nothing of theirs would fill it, and every look at an empty one would still cost
//! a load).
//!
//! Ownership: the spare's items are dropped exactly once, by whoever takes them out. Workers
//! take them to run; after a normal end none are left (a worker leaves only once its ring is
//! closed and the spare is empty, and nothing is added after the rings close); after a stop,
//! each worker drains it at teardown, and a distributor that stopped drains what it added
//! since.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use crate::loom::sync::Mutex;
use crate::ring::Doorbell;
use std::collections::VecDeque;

/// Items any worker of a stage may take (see the module).
pub(crate) struct Spare<W> {
    queue: Mutex<VecDeque<W>>,
    /// Items in `queue`, kept beside it so that a worker checks it without the lock.
    len: AtomicUsize,
    cap: usize,
    /// The workers' doorbells, rung after a worker puts a run back (`shed`): a worker parked
    /// on its empty ring wakes and takes it (the distributor, which refills the rings from
    /// here, may be waiting in its source).
    bells: Mutex<Vec<Doorbell<W>>>,
    /// Workers of the stage that have started (`enter`).
    workers: AtomicUsize,
    /// Workers of the stage that are done: their input closed and drained and the spare
    /// empty (they wait for the others before they leave: `finish`), or gone otherwise.
    finished: AtomicUsize,
}

impl<W> Spare<W> {
    /// A spare that holds at most `cap` items. Its queue is allocated on first use.
    pub(crate) fn new(cap: usize) -> Self {
        Spare {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            cap: cap.max(1),
            bells: Mutex::new(Vec::new()),
            workers: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        }
    }

    /// A worker of the stage: rung when another puts a run back.
    pub(crate) fn watch(&self, bell: Doorbell<W>) {
        self.bells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(bell);
    }

    /// A worker of the stage has started (on its thread, before anything else): it counts
    /// among those `finish` waits for. One that never starts is not waited for.
    pub(crate) fn enter(&self) {
        // SeqCst: one total order with `finish`, `unfinish` and `all_finished`.
        self.workers.fetch_add(1, SeqCst);
    }

    /// A worker is done: its input is closed and drained and it found the spare empty, or it
    /// stopped. Counted once per worker (`unfinish` takes it back); the last one rings every
    /// doorbell, so that the workers waiting for it leave.
    pub(crate) fn finish(&self) {
        // SeqCst: the store the doorbells' handshake follows (as `len`'s in `shed`), and one
        // total order with `unfinish` and `all_finished`.
        let now = self.finished.fetch_add(1, SeqCst) + 1;
        if now >= self.workers.load(SeqCst) {
            self.ring_all();
        }
    }

    /// A done worker found items here (put back by one still running): it runs them first.
    pub(crate) fn unfinish(&self) {
        // SeqCst: see `finish`.
        self.finished.fetch_sub(1, SeqCst);
    }

    /// Whether every worker of the stage that has started is done. The spare was empty when
    /// each finished, and only a worker that is not done puts items back; one that starts
    /// late runs its own ring and whatever it puts back itself.
    pub(crate) fn all_finished(&self) -> bool {
        // SeqCst: see `finish`.
        self.finished.load(SeqCst) >= self.workers.load(SeqCst)
    }

    fn ring_all(&self) {
        self.bells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .for_each(Doorbell::ring);
    }

    /// Whether it looks empty (a hint, read without the lock).
    #[inline]
    pub(crate) fn looks_empty(&self) -> bool {
        // Acquire: pairs with the Release store in `put`; a worker that sees items here finds
        // them under the lock (the lock orders the queue itself).
        self.len.load(Acquire) == 0
    }

    /// Distributor side: adds at the back the items `fill(k)` yields (`k` of them, already
    /// wrapped for the rings), `k` at most `max` and what room is left under `bound` items
    /// (and the capacity). Returns `k`, and whether room is left after them. Never allocates
    /// past the capacity; if the allocator refuses the room, it adds none (and `fill` is not
    /// called).
    pub(crate) fn put<I: Iterator<Item = W>>(
        &self,
        max: usize,
        bound: usize,
        fill: impl FnOnce(usize) -> I,
    ) -> (usize, bool) {
        // Nothing that runs under the lock can panic but an allocation failure's abort.
        let mut q = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let limit = bound.clamp(1, self.cap);
        let k = max.min(limit.saturating_sub(q.len()));
        if k == 0 || q.try_reserve(k).is_err() {
            return (0, false);
        }
        q.extend(fill(k).take(k));
        // Release: pairs with `looks_empty`'s Acquire load (a hint; the lock orders the items).
        self.len.store(q.len(), Release);
        (k, q.len() < limit)
    }

    /// Worker side: moves up to `max` items from the front to `buf`, waiting for the lock (held
    /// only for a few moves by whoever holds it; a worker that gave up on a held lock would have
    /// to wait for the items some other way: its wait wakes while the spare holds items).
    /// Returns how many it moved.
    pub(crate) fn take(&self, buf: &mut Vec<W>, max: usize) -> usize {
        if self.looks_empty() {
            return 0;
        }
        let mut q = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Its share: the items are costly (left behind full rings, or put back by a worker
        // whose run took long), and the other workers may be waking for them (`shed` rings
        // them): a worker that takes back everything it just put back would run them alone.
        // Relaxed: a share; a worker that starts meanwhile only makes it smaller next time.
        let workers = self.workers.load(Relaxed).max(1);
        let k = max
            .min(q.len().div_ceil(workers))
            .min(buf.capacity() - buf.len());
        buf.extend(q.drain(..k));
        // Release: see `put`.
        self.len.store(q.len(), Release);
        k
    }

    /// Worker side: puts the rest of a run the worker took and will not run itself (it has
    /// run long: `worker::cut_run`) at the front, in their order, to go on first: they are
    /// older than every item the distributor left here (it stages items in rings only while
    /// the spare is empty, and leaves them here only behind full rings). Past the capacity:
    /// the items are already out of a ring, and putting them here cannot fail but by the
    /// allocator. Returns whether it took them (if the allocator refuses the room, it takes
    /// none, and the worker runs them).
    pub(crate) fn shed<I: DoubleEndedIterator<Item = W> + ExactSizeIterator>(
        &self,
        items: I,
    ) -> bool {
        let mut q = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if q.try_reserve(items.len()).is_err() {
            return false;
        }
        for x in items.rev() {
            q.push_front(x);
        }
        // Release: see `put`; and the store each doorbell's handshake follows.
        self.len.store(q.len(), Release);
        drop(q);
        // Every worker parked on its empty ring (or waiting to leave) re-checks, and sees the
        // items (its wait looks at `looks_empty` too); the one that put them back rings its
        // own, which costs a load.
        self.ring_all();
        true
    }

    /// Distributor side: moves up to `max` items from the front to `put` (a ring with room
    /// for them: the distributor refills rings from here first, so that every item in a ring
    /// is older than every item left here). Returns how many moved.
    pub(crate) fn take_with(&self, max: usize, mut put: impl FnMut(W)) -> usize {
        if self.looks_empty() {
            return 0;
        }
        let mut q = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let k = max.min(q.len());
        q.drain(..k).for_each(&mut put);
        // Release: see `put`.
        self.len.store(q.len(), Release);
        k
    }

    /// Teardown: everything it holds, for the caller to drop (in a teardown step).
    pub(crate) fn drain(&self) -> VecDeque<W> {
        let mut q = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.len.store(0, Release);
        std::mem::take(&mut *q)
    }
}
