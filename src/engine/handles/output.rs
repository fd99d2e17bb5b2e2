//! The merged stream of `start`, `run` and `run_source`.

use super::core::Core;
use super::OutputState;
use crate::pinning::Plan;
use crate::ring::Closed;
use crate::source::{Source, TryRecvError};
use crate::stats::Stats;
use crate::Failure;
use std::fmt;

/// The merged stream (from [`Pipeline::start`](crate::Pipeline::start) or [`Pipeline::run`](crate::Pipeline::run)): an iterator that ends
/// when every input item has been processed and merged.
///
/// **A failed stage is never a quiet end.** If a stage fails (a worker's function panics,
/// the source panics, the reorder window cannot grow), the stream ends early, and `next`
/// re-raises the failure on the caller's thread once the items already taken out of the
/// rings are handed out: a worker's or the source's own panic payload, as rayon and pariter
/// do, so `sum()`, `collect()` or `count()` never return a truncated result. For a
/// `Result` instead of a panic, read with [`next_checked`](Self::next_checked), or ask
/// [`error`](Self::error) / [`join`](Self::join); once raised (say, caught with
/// `catch_unwind`), the stream ends quietly.
///
/// Dropping it early stops the engine: every ring is closed, so every thread exits and every
/// item in flight is dropped exactly once, but the drop does not wait for the threads (a
/// worker may be inside your function, which can take long): they end by themselves as soon
/// as the user code they run returns. [`join`](Self::join) waits for them.
///
/// If an item's `Drop` panics on the caller's thread during the teardown (`join` or drop),
/// the panic reaches the caller as from a `Vec`, but only after every step ran: every ring
/// and the reorder window closed, every other item held here dropped.
///
/// ```should_panic
/// use fanring::Engine;
/// let out = Engine::builder()
///     .workers(2)
///     .map(|x: u64| if x == 700 { panic!("bad item") } else { x + 1 })
///     .run(0..1000u64)
///     .unwrap();
/// let _sum: u64 = out.sum(); // panics with "bad item": never a truncated sum
/// ```
pub struct Output<U> {
    core: Core<OutputState<U>>,
}

impl<U> Output<U> {
    pub(crate) fn new(state: OutputState<U>) -> Self {
        Output {
            core: Core::new(state),
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
    /// (never re-raised as a panic: the typed form of `next`).
    ///
    /// ```
    /// use fanring::{Engine, Failure};
    /// let mut out = Engine::builder()
    ///     .workers(1)
    ///     .map(|x: u32| if x == 3 { panic!("bad item") } else { x })
    ///     .run(0..10u32)
    ///     .unwrap();
    /// let mut seen = 0;
    /// let err = loop {
    ///     match out.next_checked() {
    ///         Ok(Some(_)) => seen += 1,
    ///         Ok(None) => unreachable!("the stream failed"),
    ///         Err(e) => break e,
    ///     }
    /// };
    /// assert!(matches!(err, Failure::WorkerPanicked { worker: 0, .. }));
    /// assert!(seen <= 3);
    /// ```
    ///
    /// # Errors
    /// The first stage failure (a worker, source or sink panic).
    pub fn next_checked(&mut self) -> Result<Option<U>, Failure> {
        self.core.next_checked()
    }

    /// Stops the engine if the stream has not ended (an early end: items in flight are
    /// dropped), waits for every thread, and returns the counters.
    ///
    /// # Errors
    /// The first stage failure, if any.
    pub fn join(self) -> Result<Stats, Failure> {
        self.core.join()
    }
}

impl<U> Iterator for Output<U> {
    type Item = U;

    #[inline]
    fn next(&mut self) -> Option<U> {
        self.core.next()
    }

    /// The items ready now (at least), so that a consumer that takes runs while the size
    /// hint promises them, such as another engine's `run(output)`, takes a run at a time.
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.core.size_hint()
    }
}

/// The async side (`async` feature). `Output` is both an `Iterator` and a `Stream`, so
/// `StreamExt` methods need their trait named (`StreamExt::next(&mut out)`); these inherent
/// methods need nothing.
#[cfg(feature = "async")]
impl<U> Output<U> {
    /// The next item without blocking the thread (the `Stream`'s `poll_next`, awaited); `None`
    /// at the end of the stream. A stage failure is re-raised here, as by the iterator; use
    /// [`next_checked_async`](Self::next_checked_async) for a `Result` instead. Dropping the
    /// future before it is ready takes nothing from the stream.
    pub async fn next_async(&mut self) -> Option<U> {
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut *self), cx)
        })
        .await
    }

    /// [`next_checked`](Self::next_checked) without blocking the thread: the next item,
    /// `Ok(None)` at the end of the stream, or the failure that ended it (never re-raised).
    ///
    /// # Errors
    /// The first stage failure (a worker, source or sink panic).
    pub async fn next_checked_async(&mut self) -> Result<Option<U>, Failure> {
        let core = &mut self.core;
        let next = std::future::poll_fn(|cx| {
            if let Some(u) = core.run.pop() {
                return std::task::Poll::Ready(Some(u));
            }
            // SAFETY: `core.run` is empty and the only cursor; the new one replaces it
            // (`Core`'s contract).
            unsafe { core.state.poll_run(cx, false) }.map(|(first, run)| {
                core.run = run;
                first
            })
        })
        .await;
        match next {
            Some(u) => Ok(Some(u)),
            None => self.core.report(),
        }
    }
}

/// The merged stream as a `Stream` (`async` feature): the same items, ends, failures (a failed
/// stage's panic is re-raised in `poll_next`, so in the task that reads the stream) and
/// teardown as the iterator, without blocking the thread. A pending poll registers the task's waker on the
/// worker rings the merger waits on (announce, full barrier, re-check: `docs/design.md`,
/// "Async"), and a worker's publish or close wakes it. Use
/// [`next_checked_async`](Output::next_checked_async) for a `Result` instead of a re-raised
/// panic; dropping the stream early stops the engine as dropping the iterator does (without
/// waiting for the threads, so without blocking the executor). Mixing
/// `next` and `poll_next` on one `Output` is allowed. In a debug build, very large items held
/// inline (tens of KiB each) can overflow a small thread's stack through the poll's unoptimised
/// frames (each holds a copy); box them, or read them with the iterator.
#[cfg(feature = "async")]
impl<U> futures_core::Stream for Output<U> {
    type Item = U;

    #[inline]
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<U>> {
        let core = &mut self.get_mut().core;
        if let Some(u) = core.run.pop() {
            return std::task::Poll::Ready(Some(u));
        }
        // SAFETY: as in `next_checked_async`.
        unsafe { core.state.poll_run(cx, true) }.map(|(first, run)| {
            core.run = run;
            first
        })
    }
}

/// The merged stream as the [`Source`] of another engine (`run_source(output)`): a chain of
/// farms. The next engine's distributor takes the runs that are ready, a run at a time with
/// one copy, and waits in `recv` (this stream's `next`) only when none is. A failure that
/// ended this stream is re-raised in the next engine's distributor, so it ends that engine
/// too, as [`Failure::SourcePanicked`] carrying the message.
///
/// ```
/// use fanring::Engine;
/// let parsed = Engine::builder().workers(2).map(|x: u64| x * 2).run(0..1000u64).unwrap();
/// let out = Engine::builder().workers(2).map(|x: u64| x + 1).run_source(parsed).unwrap();
/// assert_eq!(out.sum::<u64>(), 999 * 1000 + 1000);
/// ```
impl<U> Source for Output<U> {
    type Item = U;

    fn try_recv(&mut self) -> Result<U, TryRecvError> {
        let core = &mut self.core;
        if let Some(u) = core.run.pop() {
            return Ok(u);
        }
        // SAFETY: `core.run` is empty and the only cursor; the new one replaces it (`Core`'s
        // contract).
        let (first, run) = unsafe { core.state.try_run() }?;
        core.run = run;
        Ok(first)
    }

    fn recv(&mut self) -> Option<U> {
        self.core.next()
    }

    fn try_recv_into(&mut self, buf: &mut Vec<U>, max: usize) -> Result<(), Closed> {
        if max == 0 {
            return Ok(());
        }
        let core = &mut self.core;
        let mut max = max;
        if core.run.len() == 0 {
            // SAFETY: as in `try_recv`.
            match unsafe { core.state.try_run() } {
                Ok((first, run)) => {
                    core.run = run;
                    buf.push(first);
                    max -= 1;
                }
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Closed) => return Err(Closed),
            }
        }
        core.run.move_into(buf, max);
        Ok(())
    }
}

impl<U> fmt::Debug for Output<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.state.fmt(f)
    }
}
