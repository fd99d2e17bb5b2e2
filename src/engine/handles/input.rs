//! The caller's end of the distributor ([`Pipeline::start`](crate::Pipeline::start)).

use crate::engine::dispatch::AnyDistributor;
use crate::source;
use crate::stats::DistributorStats;
use crate::teardown::Teardown;
use std::fmt;

/// The caller's end of the distributor (from [`Pipeline::start`](crate::Pipeline::start)). Dropping it (or
/// [`close`](Self::close)) ends the input: the workers drain and the merged stream ends. (A
/// ring whose worker is gone is dropped with it, and its items; one whose `Drop` panics is
/// re-raised after every ring was closed and dropped.)
pub struct Input<T: Send + 'static> {
    pub(crate) distributor: AnyDistributor<T>,
    /// `send_all`'s run buffer (`batch` items, reserved when the engine started).
    pub(crate) buf: Vec<T>,
    /// The `Sink`'s state (`async` feature).
    #[cfg(feature = "async")]
    pub(crate) sink: SinkSlot<T>,
}

/// What `Input` keeps as a `Sink` (`async` feature): the item `start_send` accepted while its
/// worker's ring had no room, and whether `poll_close` ran.
#[cfg(feature = "async")]
pub(crate) struct SinkSlot<T> {
    pending: Option<T>,
    closed: bool,
}

#[cfg(feature = "async")]
impl<T> SinkSlot<T> {
    pub(crate) fn new() -> Self {
        SinkSlot {
            pending: None,
            closed: false,
        }
    }
}

// Nothing in an `Input` is pinned: the `Sink`'s pending item is only ever moved, never
// borrowed through a `Pin`, so it can be polled through `&mut` whatever `T` is.
impl<T: Send + 'static> Unpin for Input<T> {}

impl<T: Send + 'static> Input<T> {
    /// Hands one item to a worker and publishes it at once, waiting while that worker's ring
    /// (or the reorder window) is full. This blocks the thread: in async code use
    /// `send_async` (`async` feature); this method wins over `SinkExt::send` of the same name,
    /// so name the trait to use the `Sink` (`SinkExt::send(&mut input, x)`).
    ///
    /// # Errors
    /// `SendError(item)` once the engine has stopped (the merged stream was dropped or a stage
    /// failed).
    pub fn send(&mut self, item: T) -> Result<(), SendError<T>> {
        // The cached free slots say nothing of a worker that is gone: ask the rings.
        if self.distributor.check_stopped() {
            return Err(SendError(item));
        }
        let r = self.distributor.send(item).map_err(SendError);
        self.distributor.flush();
        r
    }

    /// [`send`](Self::send) for async code (`async` feature): waits for room in the worker's
    /// ring (or the reorder window) without blocking the thread, then hands the item over and
    /// publishes it. The wait registers the task's waker where `send` would park.
    ///
    /// Dropping the future before it is ready drops the item with it: it was never handed to
    /// the engine, so nothing is sent twice or dropped twice.
    ///
    /// # Errors
    /// `Closed(item)` once the engine has stopped (as [`send`](Self::send)).
    #[cfg(feature = "async")]
    pub async fn send_async(&mut self, item: T) -> Result<(), SendError<T>> {
        use crate::engine::dispatch::SendError as Full;
        if self.distributor.check_stopped() {
            return Err(SendError(item));
        }
        let mut item = item;
        loop {
            match self.distributor.try_send(item) {
                Ok(()) => {
                    self.distributor.flush();
                    return Ok(());
                }
                Err(Full::Stopped(back)) => return Err(SendError(back)),
                Err(Full::Full(back)) => item = back,
            }
            std::future::poll_fn(|cx| self.distributor.poll_room(cx)).await;
        }
    }

    /// The `Sink`'s wait: hands the item `start_send` kept (if any) to the engine, waiting
    /// for room as [`send_async`](Self::send_async) does. Staged, not published: `poll_flush`
    /// publishes (so `SinkExt::send_all` and `forward` publish a run at a time).
    #[cfg(feature = "async")]
    fn poll_deliver(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), SendError<T>>> {
        use crate::engine::dispatch::SendError as Full;
        use std::task::Poll;
        while let Some(item) = self.sink.pending.take() {
            if self.sink.closed || self.distributor.check_stopped() {
                return Poll::Ready(Err(SendError(item)));
            }
            match self.distributor.try_send(item) {
                Ok(()) => {}
                Err(Full::Stopped(back)) => return Poll::Ready(Err(SendError(back))),
                Err(Full::Full(back)) => {
                    self.sink.pending = Some(back);
                    if self.distributor.poll_room(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Hands every item of `items` to the workers a run at a time, publishing each run, and
    /// everything before each `next()` that `items`' `size_hint` does not promise (it may
    /// block), and at the end (see [`source::Iter`](crate::source::Iter)).
    ///
    /// # Errors
    /// The first item that could not be sent, once the engine has stopped; the other items
    /// taken from `items` and not handed out are dropped, and the rest of the iterator is not
    /// consumed.
    pub fn send_all<I: IntoIterator<Item = T>>(&mut self, items: I) -> Result<(), T> {
        let mut items = items.into_iter();
        if self.distributor.check_stopped() {
            return items.next().map_or(Ok(()), Err);
        }
        let r = self
            .distributor
            .pump(&mut source::Iter::new(items), &mut self.buf, None);
        self.distributor.flush();
        if r.is_ok() {
            return Ok(());
        }
        // `send_from` leaves the item it could not stage at the front of `buf`; the rest
        // are dropped.
        let mut left = self.buf.drain(..);
        left.next().map_or(Ok(()), Err)
    }

    /// Whether the engine stopped taking items: its output was dropped or joined, or a
    /// worker ended (failed); asks the rings, one load each. Once true, every `send` returns
    /// `SendError(item)`.
    pub fn is_closed(&self) -> bool {
        self.distributor.peer_gone()
    }

    /// The distributor's counters so far.
    pub fn stats(&self) -> DistributorStats {
        self.distributor.stats()
    }

    /// Ends the input (same as dropping it).
    pub fn close(self) {}
}

impl<T: Send + 'static> Drop for Input<T> {
    /// Publishes and closes every worker ring, then drops the rings (with the items left in
    /// one whose worker is gone), each in a step of its own; a panicking item `Drop` is
    /// re-raised after all of them.
    fn drop(&mut self) {
        let mut td = Teardown::new();
        td.step(|| self.distributor.close());
        self.distributor.drop_rings(&mut td);
        td.finish();
    }
}

/// The input as a `futures_sink::Sink` (`async` feature): `SinkExt::send`, `send_all`, and
/// `StreamExt::forward` from an async source, without blocking the executor.
///
/// `start_send` stages the item for its worker (or, when that worker's ring is full, keeps it
/// until `poll_ready` finds room, waiting as [`send_async`](Input::send_async) does);
/// `poll_flush` publishes everything staged; `poll_close` publishes and ends the input (the
/// workers drain and the merged stream ends, as when the `Input` is dropped). Once the engine
/// has stopped (its output dropped, a stage failed) or the sink was closed, the item comes back
/// as `SendError(item)`, from `start_send` or from the next `poll_ready`/`poll_flush` for the
/// item it kept. Dropping the `Input` drops a kept item once.
///
/// ```
/// # #[cfg(feature = "async")] {
/// use fanring::Engine;
/// use futures_util::{stream, SinkExt, StreamExt};
///
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let (mut input, output) = Engine::builder().workers(2).map(|x: u64| x * 2).start().unwrap();
/// let feeder = std::thread::spawn(move || {
///     let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
///     rt.block_on(async {
///         // An async source forwarded into the engine: published a run at a time.
///         stream::iter(0..1000u64).map(Ok).forward(&mut input).await.unwrap();
///     }); // `forward` closed the sink: the stream ends
/// });
/// let sum = rt.block_on(StreamExt::fold(output, 0, |s, y| async move { s + y }));
/// assert_eq!(sum, 999 * 1000);
/// feeder.join().unwrap();
/// # }
/// ```
///
/// A `start_send` while an item it kept is still waiting for room (without a `poll_ready`
/// that returned `Ready(Ok(()))` since, which the `Sink` contract requires) takes nothing: its
/// item comes back as `SendError(item)`, and the kept one stays first in line.
#[cfg(feature = "async")]
impl<T: Send + 'static> futures_sink::Sink<T> for Input<T> {
    type Error = SendError<T>;

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), SendError<T>>> {
        self.get_mut().poll_deliver(cx)
    }

    fn start_send(self: std::pin::Pin<&mut Self>, item: T) -> Result<(), SendError<T>> {
        use crate::engine::dispatch::SendError as Full;
        let this = self.get_mut();
        // A broken contract (no `poll_ready` since an item was kept) refuses the item rather
        // than reorder it or panic in the library.
        if this.sink.pending.is_some() || this.sink.closed || this.distributor.check_stopped() {
            return Err(SendError(item));
        }
        match this.distributor.try_send(item) {
            Ok(()) => Ok(()),
            Err(Full::Stopped(back)) => Err(SendError(back)),
            Err(Full::Full(back)) => {
                this.sink.pending = Some(back);
                Ok(())
            }
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), SendError<T>>> {
        let this = self.get_mut();
        let r = this.poll_deliver(cx);
        if r.is_ready() {
            this.distributor.flush();
        }
        r
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), SendError<T>>> {
        let this = self.get_mut();
        let r = this.poll_deliver(cx);
        if r.is_ready() && !this.sink.closed {
            this.sink.closed = true;
            this.distributor.close();
        }
        r
    }
}

impl<T: Send + 'static> fmt::Debug for Input<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// An item [`Input::send`] could not hand to the engine, because the engine has stopped (its
/// output was dropped or joined, or a stage failed). The item comes back.
///
/// ```
/// use fanring::{Engine, SendError};
/// let (mut input, output) = Engine::builder().workers(1).map(|x: u8| x).start().unwrap();
/// drop(output);
/// assert_eq!(input.send(7), Err(SendError(7)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending into a stopped engine")
    }
}

impl<T> std::error::Error for SendError<T> {}
