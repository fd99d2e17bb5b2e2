//! The seed's two functions, `Split` and `Merge`, over SPSC rings. They compose like the Go
//! originals: `merge(workers(split(rx, n)))`.

use crate::cursor::LocalQueue;
use crate::engine::dispatch::{Dispatch, Distributor};
use crate::engine::merger::{AnyMerge, Merger};
use crate::loom::thread::{Builder as ThreadBuilder, JoinHandle};
use crate::ring::{channel_with, Consumer, PopError, Producer};
use crate::teardown::Teardown;
use crate::wait::wait_until;
use crate::BuildError;

/// Splits `input` round-robin over `n` new rings (of `input`'s capacity and wait strategy),
/// fed by a distributor thread. When `input` is closed and drained, every output ring is
/// closed. If any output is closed (its consumer dropped), the distributor stops and closes
/// `input` too, so the producer upstream sees `Closed`; items in flight are dropped exactly
/// once.
///
/// Returns the parts and the thread's [`SplitHandle`]: [`join`](SplitHandle::join) it to know
/// that the thread has exited, and so that every item it held has been dropped (an item the
/// thread held when a part was dropped is dropped by the thread itself, possibly after every
/// other thread of yours has finished).
///
/// ```
/// use fanring::channel;
/// use fanring::fan::{merge, split};
/// let (mut tx, rx) = channel::<u32>(64).unwrap();
/// let (parts, splitter) = split(rx, 3).unwrap();
/// std::thread::spawn(move || (0..300).for_each(|i| tx.push(i).unwrap()));
/// // each part could go to a worker; here they are merged straight back
/// let mut all: Vec<u32> = merge(parts).collect();
/// all.sort();
/// assert_eq!(all, (0..300).collect::<Vec<_>>());
/// splitter.join().unwrap(); // the thread has exited; nothing is left in flight
/// ```
///
/// # Errors
/// [`BuildError::ZeroWorkers`] for `n == 0`; [`BuildError::Spawn`] if the thread is refused.
pub fn split<T: Send + 'static>(
    mut input: Consumer<T>,
    n: usize,
) -> Result<(Vec<Consumer<T>>, SplitHandle), BuildError> {
    if n == 0 {
        return Err(BuildError::ZeroWorkers);
    }
    let (capacity, wait) = (input.capacity(), input.wait_strategy());
    let mut producers = Vec::with_capacity(n);
    let mut consumers = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = channel_with(capacity, wait)?;
        producers.push(tx);
        consumers.push(rx);
    }
    let batch = 64.min(capacity);
    // Item by item, as the seed's `Split`; published every `batch` items per ring.
    let mut dist: Distributor<T, T> = Distributor::new(
        producers,
        Dispatch::RoundRobin,
        None,
        (1, batch * n),
        false,
        wait,
    );
    let thread = ThreadBuilder::new()
        .name("fanring-split".into())
        .spawn(move || {
            // A panicking item `Drop` (an item dropped after a stop) ends the loop; then
            // every ring is closed before anything else is dropped, each ring is dropped in
            // a step of its own, and the first panic ends the thread (`join` returns it).
            let mut td = Teardown::new();
            td.step(|| split_loop(&mut input, &mut dist, wait, batch));
            dist.stop();
            input.close();
            dist.drop_rings(&mut td);
            td.step(|| drop(input));
            td.finish();
        })
        .map_err(BuildError::Spawn)?;
    Ok((consumers, SplitHandle { thread }))
}

/// The split thread's loop: returns when `input` ended (every output is then closed) or an
/// output was closed (the distributor is stopped).
fn split_loop<T: Send + 'static>(
    input: &mut Consumer<T>,
    dist: &mut Distributor<T, T>,
    wait: crate::WaitStrategy,
    batch: usize,
) {
    loop {
        let r = input.try_pop_each(batch, |item| {
            // After a stop, the rest of the batch is dropped here, once each.
            let _ = dist.send(item);
        });
        match r {
            Ok(_) if !dist.is_stopped() => {}
            Err(PopError::Empty) => {
                // Publish before waiting; wait for input or for an output to close.
                dist.flush();
                input.release();
                let (inp, outs) = (&*input, dist.rings());
                wait_until(wait, &(inp, outs), None, || {
                    (inp.ready_hint() || outs.iter().any(Producer::is_closed)).then_some(())
                });
                if dist.rings().iter().any(Producer::is_closed) {
                    dist.stop();
                    return; // the caller closes `input`
                }
            }
            // Input ended (close every output) or an output closed (stop).
            _ => {
                dist.close();
                return;
            }
        }
    }
}

/// The thread of a [`split`]. Dropping the handle detaches the thread (it never waits: the
/// thread may be waiting for input from a producer that is still open); it ends on its own
/// when its input ends or a part is dropped.
#[must_use = "dropping the handle detaches the split thread; `join` it to wait for it"]
pub struct SplitHandle {
    thread: JoinHandle<()>,
}

impl SplitHandle {
    /// Waits for the split thread to exit: after the input ended and every item was handed to
    /// a part (so the parts must be read, or dropped, for this to return), or after a part was
    /// dropped. Every item the thread held has been dropped when it returns.
    ///
    /// # Errors
    /// The panic payload, if an item's `Drop` panicked on the thread (the thread still
    /// closed and dropped everything it held first).
    pub fn join(self) -> std::thread::Result<()> {
        self.thread.join()
    }

    /// Whether the split thread has exited.
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

impl std::fmt::Debug for SplitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SplitHandle")
    }
}

/// Merges `inputs` into one stream, read on the caller's thread (no thread is spawned): each
/// input's items keep their order, inputs interleave in batches, and the stream ends when
/// every input is closed and drained. Waits on all inputs at once by their wait strategy.
/// Dropping the stream closes every input.
///
/// ```
/// use fanring::channel;
/// use fanring::fan::merge;
/// let (mut a, ra) = channel::<u8>(4).unwrap();
/// let (mut b, rb) = channel::<u8>(4).unwrap();
/// a.try_push(1).unwrap();
/// b.try_push(2).unwrap();
/// drop((a, b));
/// let mut got: Vec<u8> = merge(vec![ra, rb]).collect();
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// ```
pub fn merge<T>(inputs: Vec<Consumer<T>>) -> Merged<T> {
    let batch = inputs
        .iter()
        .map(Consumer::capacity)
        .min()
        .unwrap_or(1)
        .min(64);
    Merged {
        inner: Merger::Any(AnyMerge::new(inputs)),
        local: LocalQueue::with_capacity(batch),
        #[cfg(feature = "async")]
        announced: false,
    }
}

/// The stream returned by [`merge`].
pub struct Merged<T> {
    inner: Merger<T>,
    /// A run moved out of one input with one copy, handed out by `next`.
    local: LocalQueue<T>,
    /// A pending `poll_next` left the task's waker announced on the inputs.
    #[cfg(feature = "async")]
    announced: bool,
}

// Nothing in a `Merged` is pinned: its items sit in heap buffers and are only moved out, so it
// can be polled as a `Stream` through `&mut` whatever `T` is.
impl<T> Unpin for Merged<T> {}

impl<T> Iterator for Merged<T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        self.inner.next_via(&mut self.local, &())
    }
}

/// The merged items as a `Stream` (`async` feature): a pending poll registers the task's waker
/// on every open input ring (announce, full barrier, re-check) and the next publish or close
/// on any of them wakes it. Ends when every input has closed and been drained.
#[cfg(feature = "async")]
impl<T> futures_core::Stream for Merged<T> {
    type Item = T;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        use crate::engine::merger::Step;
        let this = self.get_mut();
        this.inner
            .poll_task(&mut this.local, &(), &mut this.announced, cx)
            .map(|s| match s {
                Step::Item(t) => Some(t),
                Step::Empty | Step::End => None,
            })
    }
}

#[cfg(feature = "async")]
impl<T> Merged<T> {
    /// The next item without blocking the thread (the `Stream`'s `poll_next`, awaited: `Merged`
    /// is also an `Iterator`, so `StreamExt::next` needs its trait named). `None` once every
    /// input has closed and been drained; dropping the future early takes nothing.
    pub async fn next_async(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut *self), cx)
        })
        .await
    }
}

impl<T> Drop for Merged<T> {
    /// Closes every input first (a producer waiting for room sees it), then drops what is
    /// held, each container in a step of its own; a panicking item `Drop` is re-raised after
    /// all of them.
    fn drop(&mut self) {
        let mut td = Teardown::new();
        self.inner.close();
        td.step(|| self.local.clear());
        self.inner.drop_items(&mut td);
        td.finish();
    }
}

impl<T> std::fmt::Debug for Merged<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Merged")
    }
}
