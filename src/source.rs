//! Where a distributor takes its items from: a [`Source`] says what is ready without waiting,
//! and waits for more. The distributor drains what is ready a run at a time, and publishes
//! everything it holds before it waits (see `docs/design.md`, "Publishing").

use crate::{Closed, Consumer, PopError};

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
/// use fanring::{source::Source, PopError};
/// use std::collections::VecDeque;
///
/// /// A queue that never blocks: `recv` ends the stream when it is empty.
/// struct Queue(VecDeque<u32>);
///
/// impl Source for Queue {
///     type Item = u32;
///     fn try_recv(&mut self) -> Result<u32, PopError> {
///         self.0.pop_front().ok_or(PopError::Closed)
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
    /// [`PopError::Empty`]: nothing ready now (the distributor publishes, then calls
    /// [`recv`](Self::recv)); [`PopError::Closed`]: the source has ended.
    fn try_recv(&mut self) -> Result<Self::Item, PopError>;

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
                Err(PopError::Empty) => break,
                Err(PopError::Closed) => return Err(Closed),
            }
        }
        Ok(())
    }
}

impl<T> Source for Consumer<T> {
    type Item = T;
    #[inline]
    fn try_recv(&mut self) -> Result<T, PopError> {
        self.try_pop()
    }
    fn recv(&mut self) -> Option<T> {
        self.pop()
    }
}

impl<T> Source for std::sync::mpsc::Receiver<T> {
    type Item = T;
    fn try_recv(&mut self) -> Result<T, PopError> {
        std::sync::mpsc::Receiver::try_recv(self).map_err(|e| match e {
            std::sync::mpsc::TryRecvError::Empty => PopError::Empty,
            std::sync::mpsc::TryRecvError::Disconnected => PopError::Closed,
        })
    }
    fn recv(&mut self) -> Option<T> {
        std::sync::mpsc::Receiver::recv(self).ok()
    }
}

#[cfg(feature = "crossbeam-channel")]
impl<T> Source for crossbeam_channel::Receiver<T> {
    type Item = T;
    fn try_recv(&mut self) -> Result<T, PopError> {
        crossbeam_channel::Receiver::try_recv(self).map_err(|e| match e {
            crossbeam_channel::TryRecvError::Empty => PopError::Empty,
            crossbeam_channel::TryRecvError::Disconnected => PopError::Closed,
        })
    }
    fn recv(&mut self) -> Option<T> {
        crossbeam_channel::Receiver::recv(self).ok()
    }
}

/// An [`Iterator`] as a [`Source`]: the items its [`size_hint`](Iterator::size_hint)'s lower
/// bound promises are ready (a range, a `Vec`, a `map` over them); any other `next()` may
/// block (a channel's iterator, `iter::from_fn`, `repeat_with`, anything whose lower bound is
/// 0 or unbounded), so the distributor publishes before it. What [`Pipeline::run`] and
/// [`Pipeline::drive`] use.
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
    iter: I,
    /// Items still promised by the last `size_hint`.
    promised: usize,
}

impl<I: Iterator> Iter<I> {
    /// Wraps `iter`.
    pub fn new(iter: I) -> Self {
        Iter { iter, promised: 0 }
    }

    /// Items `size_hint` promises now: its lower bound, unless it is unbounded (`usize::MAX`,
    /// an endless generator, which may well block); `Err` when it says it has ended.
    fn promise(&mut self) -> Result<usize, Closed> {
        match self.iter.size_hint() {
            (0, Some(0)) => Err(Closed),
            (usize::MAX, _) => Ok(0),
            (n, _) => Ok(n),
        }
    }
}

impl<I: Iterator> Source for Iter<I> {
    type Item = I::Item;

    #[inline]
    fn try_recv(&mut self) -> Result<I::Item, PopError> {
        if self.promised == 0 {
            self.promised = self.promise().map_err(|Closed| PopError::Closed)?;
            if self.promised == 0 {
                return Err(PopError::Empty);
            }
        }
        self.promised -= 1;
        // A promise broken by the iterator ends it like a `None` from `recv`.
        self.iter.next().ok_or(PopError::Closed)
    }

    fn recv(&mut self) -> Option<I::Item> {
        self.promised = self.promised.saturating_sub(1);
        self.iter.next()
    }

    #[inline]
    fn try_recv_into(&mut self, buf: &mut Vec<I::Item>, max: usize) -> Result<(), Closed> {
        if self.promised == 0 {
            self.promised = self.promise()?;
        }
        let k = self.promised.min(max);
        let before = buf.len();
        buf.extend(self.iter.by_ref().take(k));
        let got = buf.len() - before;
        self.promised -= k;
        if got < k {
            return Err(Closed); // the iterator ended before its promise
        }
        Ok(())
    }
}
