//! Where a distributor takes its items from: a [`Source`] says what is ready without waiting,
//! and waits for more. The distributor drains what is ready a run at a time, and publishes
//! everything it holds before it waits (see `docs/design.md`, "Publishing").

use crate::clock::Clock;
use crate::ring::{Closed, Consumer, PopError};
use std::fmt;

/// Why [`Source::try_recv`] gave no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// Nothing is ready now; the source may give more later ([`Source::recv`] waits for it).
    Empty,
    /// The source has ended: it gives nothing more.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "nothing ready in the source",
            TryRecvError::Closed => "the source has ended",
        })
    }
}

impl std::error::Error for TryRecvError {}

/// The ring's answer as a source's.
impl From<PopError> for TryRecvError {
    fn from(e: PopError) -> Self {
        match e {
            PopError::Empty => TryRecvError::Empty,
            PopError::Closed => TryRecvError::Closed,
        }
    }
}

/// A stream of items that can say "nothing ready now" without waiting, and can wait.
///
/// The engine's distributor ([`Pipeline::run_source`](crate::Pipeline::run_source),
/// [`Pipeline::drive_source`](crate::Pipeline::drive_source)) takes up to `batch` ready items
/// with [`try_recv`](Self::try_recv) and hands them to the workers as one run. When nothing is
/// ready it first publishes everything it holds, and only then calls [`recv`](Self::recv),
/// which may block: no item waits in the engine while the source waits for the next one.
///
/// Implemented for the ring's [`Consumer`], [`std::sync::mpsc::Receiver`], and (with the
/// `crossbeam-channel` feature) `crossbeam_channel::Receiver`. Implement it for a socket or a
/// queue of your own:
///
/// ```
/// use fanring::source::Source;
/// use fanring::source::TryRecvError;
/// use std::collections::VecDeque;
///
/// /// A queue that never blocks: `recv` ends the stream when it is empty.
/// struct Queue(VecDeque<u32>);
///
/// impl Source for Queue {
///     type Item = u32;
///     fn try_recv(&mut self) -> Result<u32, TryRecvError> {
///         self.0.pop_front().ok_or(TryRecvError::Closed)
///     }
///     fn recv(&mut self) -> Option<u32> {
///         self.0.pop_front()
///     }
/// }
///
/// let out = fanring::Engine::builder()
///     .workers(2)
///     .map(|x: u32| x * 2)
///     .run_source(Queue((1..=4).collect()))
///     .unwrap();
/// assert_eq!(out.sum::<u32>(), 20);
/// ```
pub trait Source {
    /// What the source yields.
    type Item;

    /// The next item if one is ready now; never waits.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`]: nothing ready now (the distributor publishes, then calls
    /// [`recv`](Self::recv)); [`TryRecvError::Closed`]: the source has ended.
    fn try_recv(&mut self) -> Result<Self::Item, TryRecvError>;

    /// Waits for the next item; `None` once the source has ended.
    fn recv(&mut self) -> Option<Self::Item>;

    /// Moves up to `max` ready items to the end of `buf` without waiting.
    ///
    /// # Errors
    /// `Closed` once the source has ended (after moving what was ready).
    fn try_recv_into(&mut self, buf: &mut Vec<Self::Item>, max: usize) -> Result<(), Closed> {
        for _ in 0..max {
            match self.try_recv() {
                Ok(item) => buf.push(item),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return Err(Closed),
            }
        }
        Ok(())
    }
}

impl<T> Source for Consumer<T> {
    type Item = T;
    #[inline]
    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.try_pop().map_err(TryRecvError::from)
    }
    fn recv(&mut self) -> Option<T> {
        self.pop()
    }
    /// A run of ready items with one copy, their slots released at once.
    #[inline]
    fn try_recv_into(&mut self, buf: &mut Vec<T>, max: usize) -> Result<(), Closed> {
        match self.take_into(buf, max) {
            Ok(_) => {
                self.release();
                Ok(())
            }
            Err(PopError::Empty) => Ok(()),
            Err(PopError::Closed) => Err(Closed),
        }
    }
}

impl<T> Source for std::sync::mpsc::Receiver<T> {
    type Item = T;
    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        std::sync::mpsc::Receiver::try_recv(self).map_err(|e| match e {
            std::sync::mpsc::TryRecvError::Empty => TryRecvError::Empty,
            std::sync::mpsc::TryRecvError::Disconnected => TryRecvError::Closed,
        })
    }
    fn recv(&mut self) -> Option<T> {
        std::sync::mpsc::Receiver::recv(self).ok()
    }
}

#[cfg(feature = "crossbeam-channel")]
impl<T> Source for crossbeam_channel::Receiver<T> {
    type Item = T;
    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        crossbeam_channel::Receiver::try_recv(self).map_err(|e| match e {
            crossbeam_channel::TryRecvError::Empty => TryRecvError::Empty,
            crossbeam_channel::TryRecvError::Disconnected => TryRecvError::Closed,
        })
    }
    fn recv(&mut self) -> Option<T> {
        crossbeam_channel::Receiver::recv(self).ok()
    }
}

/// An [`Iterator`] as a [`Source`]: what [`Pipeline::run`] and [`Pipeline::drive`] use.
///
/// An iterator cannot say "nothing ready now", so `Iter` decides which `next()` calls may
/// wait, and the distributor publishes everything it holds before those:
///
/// - An item the iterator's [`size_hint`](Iterator::size_hint) lower bound does not promise
///   may wait: a channel's iterator, `iter::from_fn`, `repeat_with`, anything whose lower
///   bound is 0 or unbounded. Each such `next()` comes after a publish.
/// - Promised items (a range, a `Vec`, a `map` over them) are taken in runs, each published
///   when it is staged, whose length adapts so that taking a run from the iterator lasts
///   about 2 µs at most: a run doubles (up to the engine's `batch`) while it took under 1 µs,
///   and halves, down to one item, when it took over 2 µs (a paced or slow source: then
///   every `next()` comes after a publish). Two clock reads a run.
///
/// So an item taken from a steady iterator waits at most about 2 µs (its run) before it is
/// published, however fast or slow the iterator, and a saturating one still fills runs of
/// `batch`. An iterator that promises an item and then waits long for it in the middle of a
/// run holds the run's earlier items for that wait (one that waits for this engine's own
/// output, lock-step, can deadlock): such a stream belongs in a [`Source`] whose `try_recv`
/// says when nothing is ready, or an iterator that promises nothing (`iter::from_fn`).
///
/// [`Pipeline::run`]: crate::Pipeline::run
/// [`Pipeline::drive`]: crate::Pipeline::drive
///
/// ```
/// use fanring::source::{Iter, Source};
/// let mut ready = Iter::new(0..3);
/// assert_eq!(ready.try_recv(), Ok(0)); // promised by `0..3`'s size_hint
/// let (tx, rx) = std::sync::mpsc::channel::<u8>();
/// tx.send(7).unwrap();
/// let mut blocking = Iter::new(rx.into_iter());
/// assert!(blocking.try_recv().is_err()); // promises nothing: only `recv` calls `next`
/// assert_eq!(blocking.recv(), Some(7));
/// ```
#[derive(Debug)]
pub struct Iter<I> {
    inner: I,
    /// Items still promised by the last `size_hint`.
    promised: usize,
    /// Promised items the next run may take (at least 1): adapted so that a run takes about
    /// `RUN_NS` at most.
    run: usize,
}

/// How long taking one run from an iterator may last before its items, held meanwhile, are
/// published, in ns. Publishing a run costs about 0.1 µs, so runs this long keep that under a
/// tenth of the time whatever the iterator's pace.
const RUN_NS: u128 = 2_000;

impl<I: Iterator> Iter<I> {
    /// Wraps `iter`.
    pub fn new(iter: I) -> Self {
        Iter {
            inner: iter,
            promised: 0,
            run: 1,
        }
    }

    /// Items `size_hint` promises now: its lower bound, unless it is unbounded (`usize::MAX`,
    /// an endless generator, which may well block); `Err` when it says it has ended.
    fn promise(&mut self) -> Result<usize, Closed> {
        match self.inner.size_hint() {
            (0, Some(0)) => Err(Closed),
            (usize::MAX, _) => Ok(0),
            (n, _) => Ok(n),
        }
    }

    /// How many items the next run may take now (0: none is ready).
    fn ready(&mut self, max: usize) -> Result<usize, Closed> {
        if self.promised == 0 {
            self.promised = self.promise()?;
        }
        Ok(self.promised.min(self.run).min(max))
    }

    /// A run of `k` items took `elapsed`: the next may be twice as long, or half as long
    /// (one item at least).
    fn judge(&mut self, k: usize, elapsed: std::time::Duration) {
        let ns = elapsed.as_nanos();
        if ns > RUN_NS {
            self.run = (k / 2).max(1);
        } else if 2 * ns < RUN_NS && k == self.run {
            self.run = self.run.saturating_mul(2);
        }
    }
}

impl<I: Iterator> Source for Iter<I> {
    type Item = I::Item;

    fn try_recv(&mut self) -> Result<I::Item, TryRecvError> {
        if self.ready(1).map_err(|Closed| TryRecvError::Closed)? == 0 {
            return Err(TryRecvError::Empty);
        }
        self.promised -= 1;
        let t = Clock::now();
        let item = self.inner.next();
        self.judge(1, t.elapsed());
        // A promise broken by the iterator ends it like a `None` from `recv`.
        item.ok_or(TryRecvError::Closed)
    }

    fn recv(&mut self) -> Option<I::Item> {
        self.promised = self.promised.saturating_sub(1);
        self.inner.next()
    }

    #[inline]
    fn try_recv_into(&mut self, buf: &mut Vec<I::Item>, max: usize) -> Result<(), Closed> {
        let k = self.ready(max)?;
        if k == 0 {
            return Ok(());
        }
        let before = buf.len();
        let t = Clock::now();
        buf.extend(self.inner.by_ref().take(k));
        self.judge(k, t.elapsed());
        self.promised -= k;
        if buf.len() - before < k {
            return Err(Closed); // the iterator ended before its promise
        }
        Ok(())
    }
}
