//! The caller's end of the distributor ([`Pipeline::start`](crate::Pipeline::start)).

use crate::engine::dispatch::AnyDistributor;
#[cfg(feature = "async")]
use crate::engine::dispatch::{NotSent, Stopped};
use crate::error::panic_message;
use crate::source;
use crate::stats::DistributorStats;
use crate::teardown::Teardown;
use crate::Failure;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// The caller's end of the distributor (from [`Pipeline::start`](crate::Pipeline::start)).
///
/// Three ways to send, all on the same distributor and in the order they are called:
/// [`send_blocking`](Self::send_blocking) (and [`send_all_blocking`](Self::send_all_blocking))
/// wait on the thread; `send_async` (feature `async`) and the `futures_sink::Sink` impl
/// (`async` feature: `SinkExt::send`, `send_all`, `StreamExt::forward`) wait without blocking
/// the executor. No method of an `Input` has the name of a `SinkExt` or `StreamExt` method and
/// blocks, so async code cannot block its executor by accident: `input.send(x).await` is
/// `SinkExt::send`.
///
/// Dropping it ends the input: everything sent is published, the workers drain and the
/// merged stream ends. (A ring whose worker is gone is dropped with it, and its items; one
/// whose `Drop` panics is re-raised after every ring was closed and dropped.) It never waits.
pub struct Input<T: Send + 'static> {
    pub(crate) distributor: AnyDistributor<T>,
    /// `send_all_blocking`'s run buffer (`batch` items, reserved when the engine started).
    pub(crate) buf: Vec<T>,
    /// `SinkExt::close` ran: nothing more is taken.
    pub(crate) closed: bool,
}

// Nothing in an `Input` is pinned, so it can be polled as a `Sink` through `&mut` whatever `T`
// is.
impl<T: Send + 'static> Unpin for Input<T> {}

impl<T: Send + 'static> Input<T> {
    /// Whether the engine still takes items: not after its output was dropped or joined, a
    /// stage failed, or the sink was closed (`SinkExt::close`). Asks the rings (one load each),
    /// not the cached free slots, so every way of sending gives the same answer.
    fn stopped(&mut self) -> bool {
        self.closed || self.distributor.check_stopped()
    }

    /// Runs a send, which calls user code (the items' iterator, a `Dispatch::by_key` key
    /// function, an item's `Drop`). A panic there ends the engine as a failed source would:
    /// it is recorded as [`Failure::SourcePanicked`] (so the merged stream ends with it,
    /// re-raised, never quietly), every worker ring is closed, the items taken and not sent
    /// are dropped, this `Input` refuses every item from now on; then the panic goes on to
    /// the caller.
    fn guarded<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(r) => r,
            Err(payload) => {
                if let Some(control) = self.distributor.control() {
                    control.fail(Failure::SourcePanicked {
                        message: panic_message(&*payload),
                    });
                }
                self.closed = true;
                self.distributor.stop();
                // A panicking item `Drop` among them must not hide the first panic.
                let buf = std::mem::take(&mut self.buf);
                let _ = catch_unwind(AssertUnwindSafe(move || drop(buf)));
                resume_unwind(payload)
            }
        }
    }

    /// Hands one item to a worker and publishes it at once, waiting on this thread while that
    /// worker's ring (or the reorder window) is full. In async code use
    /// `send_async` (feature `async`) or `SinkExt::send`, which wait without blocking the
    /// executor.
    ///
    /// ```
    /// use fanring::Engine;
    /// let (mut input, output) = Engine::builder().workers(2).map(|x: u32| x + 1).start().unwrap();
    /// let feeder = std::thread::spawn(move || {
    ///     for i in 0..100 {
    ///         input.send_blocking(i).unwrap();
    ///     }
    /// }); // dropping `input` ends the stream
    /// assert_eq!(output.sum::<u32>(), (1..=100).sum());
    /// feeder.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// `SendError(item)` once the engine has stopped (the merged stream was dropped or a stage
    /// failed) or the sink was closed.
    pub fn send_blocking(&mut self, item: T) -> Result<(), SendError<T>> {
        if self.stopped() {
            return Err(SendError(item));
        }
        self.guarded(|s| {
            let r = s.distributor.send(item).map_err(SendError);
            s.distributor.flush();
            r
        })
    }

    /// Hands every item of `items` to the workers a run at a time, publishing each run, and
    /// everything before each `next()` that `items`' `size_hint` does not promise (it may
    /// block), and at the end (see [`source::Iter`](crate::source::Iter)). Waits on this
    /// thread while a ring is full.
    ///
    /// # Errors
    /// `SendError(item)` with the first item that could not be sent, once the engine has
    /// stopped; the other items taken from `items` and not handed out are dropped, and the
    /// rest of the iterator is not consumed.
    pub fn send_all_blocking<I: IntoIterator<Item = T>>(
        &mut self,
        items: I,
    ) -> Result<(), SendError<T>> {
        let mut items = items.into_iter();
        if self.stopped() {
            return items.next().map_or(Ok(()), |x| Err(SendError(x)));
        }
        let r = self.guarded(|s| {
            let r = s
                .distributor
                .pump(&mut source::Iter::new(items), &mut s.buf, None, None);
            s.distributor.flush();
            r
        });
        if r.is_ok() {
            return Ok(());
        }
        // `send_from` leaves the item it could not stage at the front of `buf`; the rest
        // are dropped.
        let mut left = self.buf.drain(..);
        left.next().map_or(Ok(()), |x| Err(SendError(x)))
    }

    /// [`send_blocking`](Self::send_blocking) for async code (`async` feature): waits for room
    /// in the worker's ring (or the reorder window) without blocking the thread, then hands
    /// the item over and publishes it. The wait registers the task's waker where
    /// `send_blocking` would park.
    ///
    /// Dropping the future before it is ready drops the item with it: it was never handed to
    /// the engine, so nothing is sent twice or dropped twice.
    ///
    /// # Errors
    /// `SendError(item)` once the engine has stopped or the sink was closed (as
    /// [`send_blocking`](Self::send_blocking)).
    #[cfg(feature = "async")]
    pub async fn send_async(&mut self, item: T) -> Result<(), SendError<T>> {
        let mut item = item;
        loop {
            match self.offer(item) {
                Ok(()) => {
                    self.distributor.flush();
                    return Ok(());
                }
                Err(NotSent::Stopped(back)) => return Err(SendError(back)),
                Err(NotSent::Full(back)) => item = back,
            }
            std::future::poll_fn(|cx| self.distributor.poll_room(cx)).await;
        }
    }

    /// Stages `item` if the engine takes items and its ring (and the window) has room.
    #[cfg(feature = "async")]
    fn offer(&mut self, item: T) -> Result<(), NotSent<T>> {
        if self.stopped() {
            return Err(NotSent::Stopped(item));
        }
        self.guarded(|s| s.distributor.try_send(item))
    }

    /// Whether the engine stopped taking items: its output was dropped or joined, a worker
    /// ended (failed), or the sink was closed; asks the rings, one load each. Once true, every
    /// way of sending fails: `send_blocking`, `send_async` and `start_send` give the item back,
    /// the `Sink`'s `poll_ready` and `poll_flush` return `Err(SendError(None))`.
    pub fn is_closed(&self) -> bool {
        self.closed || self.distributor.peer_gone()
    }

    /// The distributor's counters so far.
    pub fn stats(&self) -> DistributorStats {
        self.distributor.stats()
    }
}

impl<T: Send + 'static> Drop for Input<T> {
    /// Publishes and closes every worker ring, then drops the rings (with the items left in
    /// one whose worker is gone), each in a step of its own; a panicking item `Drop` is
    /// re-raised after all of them. Never waits.
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
/// `poll_ready` waits (as [`send_async`](Input::send_async) does) until the next item has room
/// in its worker's ring and the reorder window, and reserves it (with `Dispatch::by_key`,
/// whose ring depends on the item, until every ring has room); `start_send` then stages the
/// item there, so the `Sink` never keeps an item of its own: whatever is sent after it, by
/// any method, comes after it. `poll_flush` publishes everything staged; `poll_close`
/// publishes and ends the input (the workers drain and the merged stream ends, as when the
/// `Input` is dropped).
///
/// The error says the engine has stopped (its output was dropped, a stage failed) or the
/// sink was closed: `SendError(Some(item))` from `start_send`, with the item, and
/// `SendError(None)` from `poll_ready` and `poll_flush`, which have none. A `start_send`
/// without a `poll_ready` that returned `Ready(Ok(()))` since the last one (which the `Sink`
/// contract requires) when there is no room refuses the item the same way, rather than
/// keep it or wait.
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
///         input.send(1).await.unwrap(); // `SinkExt::send`: no `Input` method shadows it
///         // An async source forwarded into the engine: published a run at a time.
///         stream::iter(2..1000u64).map(Ok).forward(&mut input).await.unwrap();
///     }); // `forward` closed the sink: the stream ends
/// });
/// let sum = rt.block_on(StreamExt::fold(output, 0, |s, y| async move { s + y }));
/// assert_eq!(sum, 999 * 1000);
/// feeder.join().unwrap();
/// # }
/// ```
#[cfg(feature = "async")]
impl<T: Send + 'static> futures_sink::Sink<T> for Input<T> {
    type Error = SendError<Option<T>>;

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if this.stopped() {
                return Poll::Ready(Err(SendError(None)));
            }
            match this.distributor.reserve_any() {
                Ok(true) => return Poll::Ready(Ok(())),
                Ok(false) => {
                    if this.distributor.poll_room(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Err(Stopped) => return Poll::Ready(Err(SendError(None))),
            }
        }
    }

    fn start_send(self: std::pin::Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        // `Full`: no room reserved (no `poll_ready` first); `Stopped`: the engine stopped.
        self.get_mut()
            .offer(item)
            .map_err(|e| SendError(Some(e.into_item())))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if this.closed {
            // Closing published everything; the sink takes nothing more.
            return std::task::Poll::Ready(Err(SendError(None)));
        }
        this.distributor.flush();
        if this.stopped() {
            return std::task::Poll::Ready(Err(SendError(None)));
        }
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if !this.closed {
            this.closed = true;
            this.distributor.close();
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl<T: Send + 'static> fmt::Debug for Input<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// An item an [`Input`] could not hand to the engine, because the engine has stopped (its
/// output was dropped or joined, or a stage failed) or the input was closed. The item comes
/// back (as `SendError(Some(item))` or `SendError(None)` from the `Sink`, whose `poll_ready`
/// and `poll_flush` have no item).
///
/// ```
/// use fanring::{Engine, SendError};
/// let (mut input, output) = Engine::builder().workers(1).map(|x: u8| x).start().unwrap();
/// drop(output);
/// assert_eq!(input.send_blocking(7), Err(SendError(7)));
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
