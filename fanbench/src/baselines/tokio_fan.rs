//! Async fan-out/fan-in from tokio parts, generic over the items (`--features async`).
//!
//! The async rows of `fanbench` and the criterion bench `benches/async_fan.rs` use it.
//!
//! Every runner maps each item of `source` through `work` on `workers` parallel stages and
//! hands every result to `sink` on the caller's task (the `block_on` of `rt`, on the calling
//! thread), in any order except for [`blocking_pool`] with `ordered`:
//! - [`tokio_mpsc`]: the engine's topology from tokio parts: a distributor sending round-robin
//!   into `workers` bounded `mpsc` channels, one task per worker mapping into one bounded
//!   output channel, the caller's task receiving from it;
//! - [`blocking_pool`]: `futures`' `StreamExt::buffered(workers)` (ordered)
//!   or `buffer_unordered(workers)` over one `spawn_blocking` per item.
//!
//! [`Feed`] says where the source is iterated: in a task ([`Feed::Task`], for a source that
//! never blocks, such as a range) or on a thread of its own that sends with `blocking_send`
//! ([`Feed::Thread`], for a source that sleeps between items, such as a paced one: a task
//! would hold one of the runtime's threads while it sleeps, as fanring's `run` drains its
//! source on a distributor thread).

use futures_util::StreamExt;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Where a runner iterates its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// In a task of the runtime (the source must not block).
    Task,
    /// On a thread of its own, sending with `blocking_send`.
    Thread,
}

/// The tokio `mpsc` fan-out/fan-in, run to the end on `rt`: channels of `capacity` items.
pub fn tokio_mpsc<T, U, S, F>(
    rt: &Runtime,
    source: S,
    feed: Feed,
    workers: usize,
    capacity: usize,
    work: F,
    mut sink: impl FnMut(U),
) where
    T: Send + 'static,
    U: Send + 'static,
    S: Iterator<Item = T> + Send + 'static,
    F: Fn(T) -> U + Clone + Send + Sync + 'static,
{
    assert!(workers > 0, "at least one worker");
    rt.block_on(async move {
        let (out_tx, mut out_rx) = mpsc::channel::<U>(capacity);
        let mut inputs = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, mut rx) = mpsc::channel::<T>(capacity);
            inputs.push(tx);
            let (out, work) = (out_tx.clone(), work.clone());
            tokio::spawn(async move {
                while let Some(x) = rx.recv().await {
                    if out.send(work(x)).await.is_err() {
                        return;
                    }
                }
            });
        }
        drop(out_tx);
        let feeder = match feed {
            Feed::Task => {
                tokio::spawn(async move {
                    for (i, x) in source.enumerate() {
                        if inputs[i % inputs.len()].send(x).await.is_err() {
                            return;
                        }
                    }
                });
                None
            }
            Feed::Thread => Some(std::thread::spawn(move || {
                for (i, x) in source.enumerate() {
                    if inputs[i % inputs.len()].blocking_send(x).is_err() {
                        return;
                    }
                }
            })),
        };
        while let Some(y) = out_rx.recv().await {
            sink(y);
        }
        if let Some(t) = feeder {
            t.join().expect("feeder thread");
        }
    });
}

/// Channel between a [`Feed::Thread`] source and the `buffered` stream.
const FEED_CHANNEL: usize = 1024;

/// `source.map(spawn_blocking(work))` through `buffered(workers)` (ordered) or, with
/// `ordered == false`, `buffer_unordered(workers)`; each result to `sink`.
pub fn blocking_pool<T, U, S, F>(
    rt: &Runtime,
    source: S,
    feed: Feed,
    workers: usize,
    ordered: bool,
    work: F,
    mut sink: impl FnMut(U),
) where
    T: Send + 'static,
    U: Send + 'static,
    S: Iterator<Item = T> + Send + 'static,
    F: Fn(T) -> U + Clone + Send + Sync + 'static,
{
    assert!(workers > 0, "at least one worker");
    match feed {
        Feed::Task => rt.block_on(drain(
            futures_util::stream::iter(source).boxed(),
            workers,
            work,
            &mut sink,
            ordered,
        )),
        Feed::Thread => {
            let (tx, mut rx) = mpsc::channel::<T>(FEED_CHANNEL);
            let feeder = std::thread::spawn(move || {
                for x in source {
                    if tx.blocking_send(x).is_err() {
                        return;
                    }
                }
            });
            let items = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
            rt.block_on(drain(items, workers, work, &mut sink, ordered));
            feeder.join().expect("feeder thread");
        }
    }
}

/// One `spawn_blocking` per item of `items`, `workers` at a time, each result to `sink`.
async fn drain<T, U, F>(
    items: futures_util::stream::BoxStream<'static, T>,
    workers: usize,
    work: F,
    sink: &mut impl FnMut(U),
    ordered: bool,
) where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(T) -> U + Clone + Send + Sync + 'static,
{
    let jobs = items.map(move |x: T| {
        let work = work.clone();
        tokio::task::spawn_blocking(move || work(x))
    });
    let mut out = if ordered {
        jobs.buffered(workers).boxed()
    } else {
        jobs.buffer_unordered(workers).boxed()
    };
    while let Some(y) = out.next().await {
        sink(y.expect("the work panicked"));
    }
}
