//! The async rows (`--features async`): fanring's `Output` read as a `Stream`, and the tokio
//! peers of [`tokio_fan`] on fanbench's items, each returning the same
//! [`Tally`] as every other runner.
//!
//! - [`fanring_stream_source`]: `Engine::builder()…map(work).run(source)` (a distributor
//!   thread drains the source), its `Output` read as a `futures_core::Stream` on a
//!   current-thread tokio runtime whose `block_on` runs on the calling thread, so the read
//!   happens where the blocking `Output` is iterated and the executor adds no thread;
//! - [`tokio_mpsc_source`], [`spawn_blocking_pool_source`] (`buffered` or
//!   `buffer_unordered`): on a multi-thread runtime built for the run (tokio's default of one
//!   worker thread per core), the caller's thread receiving in `block_on`.
//!
//! Each has a `0..n` form for the throughput table (for the tokio peers, the distributor is a
//! task); the `_source` forms take a paced source, which the tokio peers iterate on a thread
//! of their own ([`Feed::Thread`]), as fanring's `run` does on its distributor thread.

use std::pin::Pin;
use std::task::Poll;

use futures_util::Stream;
use tokio::runtime::Runtime;

use super::engine::{EngineConfig, RunError};
use super::tokio_fan::{self, Feed};
use crate::item::{Clock, Item, Probe, Tally};

/// Counts and (with a probe) records each item the consumer takes out.
struct Counter<'a> {
    tally: Tally,
    clock: Clock,
    lat: Option<Probe<'a>>,
}

impl<'a> Counter<'a> {
    fn new(clock: Clock, lat: Option<Probe<'a>>) -> Self {
        Counter {
            tally: Tally::default(),
            clock,
            lat,
        }
    }

    #[inline]
    fn take(&mut self, it: Item) {
        self.tally.count += 1;
        self.tally.checksum = self.tally.checksum.wrapping_add(it.value);
        if let Some(p) = &mut self.lat {
            if it.t0 != 0 {
                // `t0` is the stamp plus one.
                p.hist
                    .saturating_record((self.clock.now() + 1).saturating_sub(it.t0).max(1));
            }
        }
    }
}

/// A multi-thread runtime for one run of a tokio peer (a worker thread per core).
fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .build()
        .expect("tokio runtime")
}

/// Reads `stream` to its end on a current-thread runtime on this thread: `poll_next` until
/// `Pending` or the end, the tally kept in a local during each poll (so the per-item loop
/// runs in registers, as the blocking consumer's does, and not through the future's memory).
fn consume_stream<S: Stream<Item = Item> + Unpin>(
    stream: &mut S,
    clock: Clock,
    lat: Option<Probe<'_>>,
) -> Tally {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let mut counter = Counter::new(clock, lat);
    rt.block_on(std::future::poll_fn(|cx| {
        let mut local = Counter {
            tally: counter.tally,
            clock: counter.clock,
            lat: counter.lat.take(),
        };
        let r = loop {
            match Pin::new(&mut *stream).poll_next(cx) {
                Poll::Ready(Some(it)) => local.take(it),
                Poll::Ready(None) => break Poll::Ready(()),
                Poll::Pending => break Poll::Pending,
            }
        };
        counter.tally = local.tally;
        counter.lat = local.lat;
        r
    }));
    counter.tally
}

/// `n` items through fanring with `cfg` (always `run`: a distributor thread; `cfg.drive` is
/// ignored, `Driven` is no `Stream`), the `Output` read as a `Stream`.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn fanring_stream<F>(
    n: u64,
    cfg: &EngineConfig,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<Tally, RunError>
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let clock = Clock::new(lat.as_ref());
    fanring_stream_source((0..n).map(move |i| clock.item(i)), clock, cfg, work, lat)
}

/// [`fanring_stream`] drawing its items from `source` on the distributor thread.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn fanring_stream_source<S, F>(
    source: S,
    clock: Clock,
    cfg: &EngineConfig,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<Tally, RunError>
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let mut out = fanring::Engine::builder()
        .workers(cfg.workers)
        .capacity(cfg.capacity)
        .batch(cfg.batch)
        .wait(cfg.wait)
        .dispatch(cfg.dispatch.clone())
        .order(cfg.order)
        .pinning(cfg.pinning.clone())
        .allow_oversubscribed_spin(cfg.allow_oversubscribed_spin)
        .map(move |it: Item| it.process(&work))
        .run(source)?;
    let tally = consume_stream(&mut out, clock, lat);
    out.join()?;
    Ok(tally)
}

/// The engine exactly as a user gets it (`Engine::builder().workers(workers).map(work)
/// .run(source)`, every other setting the builder's default), read as a `Stream`: the
/// latency table's counterpart of `fanring_defaults_source`.
///
/// # Errors
/// A stage failure.
pub fn fanring_stream_defaults_source<S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<Tally, RunError>
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let mut out = fanring::Engine::builder()
        .workers(workers)
        .map(move |it: Item| it.process(&work))
        .run(source)?;
    let tally = consume_stream(&mut out, clock, lat);
    out.join()?;
    Ok(tally)
}

/// `n` items through the tokio `mpsc` fan-out/fan-in (distributor task, channels of
/// `capacity`).
pub fn tokio_mpsc<F>(
    n: u64,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let clock = Clock::new(lat.as_ref());
    let source = (0..n).map(move |i| clock.item(i));
    tokio_mpsc_on(source, Feed::Task, clock, workers, capacity, work, lat)
}

/// The tokio `mpsc` fan-out/fan-in fed by `source` on a thread of its own.
pub fn tokio_mpsc_source<S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    tokio_mpsc_on(source, Feed::Thread, clock, workers, capacity, work, lat)
}

fn tokio_mpsc_on<S, F>(
    source: S,
    feed: Feed,
    clock: Clock,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let rt = multi_thread();
    let mut c = Counter::new(clock, lat);
    tokio_fan::tokio_mpsc(
        &rt,
        source,
        feed,
        workers,
        capacity,
        move |it: Item| it.process(&work),
        |it| c.take(it),
    );
    c.tally
}

/// `n` items through `buffered(workers)` over one `spawn_blocking` per item (ordered), or
/// with `ordered == false`, `buffer_unordered(workers)`.
pub fn spawn_blocking_pool<F>(
    n: u64,
    workers: usize,
    ordered: bool,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let clock = Clock::new(lat.as_ref());
    let source = (0..n).map(move |i| clock.item(i));
    pool_on(source, Feed::Task, clock, workers, ordered, work, lat)
}

/// [`spawn_blocking_pool`] fed by `source` on a thread of its own.
pub fn spawn_blocking_pool_source<S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    ordered: bool,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    pool_on(source, Feed::Thread, clock, workers, ordered, work, lat)
}

fn pool_on<S, F>(
    source: S,
    feed: Feed,
    clock: Clock,
    workers: usize,
    ordered: bool,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let rt = multi_thread();
    let mut c = Counter::new(clock, lat);
    let f = move |it: Item| it.process(&work);
    tokio_fan::blocking_pool(&rt, source, feed, workers, ordered, f, |it| c.take(it));
    c.tally
}
