//! Multi-stage pipelines ([`crate::pipeline`]) through fanring and the peers a user would
//! write by hand. Every runner takes a [`Workload`], makes its items `0..items()` on a source,
//! runs every stage with `workers` threads per stage (the plain loop: one thread for all),
//! hands the results to the workload's sink **in source order** on the caller's thread, and
//! returns what the sink saw. No runner spins: every thread that waits blocks (fanring's
//! default wait parks after a short spin), so they all make progress with more threads than
//! cores.
//!
//! - [`pipeline_sequential`]: the plain loop, every stage of an item in turn on one thread
//!   (the ratio base);
//! - [`pipeline_loop_per_core`]: a plain loop on each core at once, each taking the next
//!   item's index from a shared counter, nothing else handed between threads (what the cores
//!   give with no hand-off);
//! - [`pipeline_fanring`]: the engine, a graph of farms ([`fanring_stages`]: stages ring to
//!   ring, fused onto one thread per worker where the threads would outnumber the cores:
//!   `Fusion::Auto`); with `Fusion::Never`, every stage on threads of its own;
//! - [`pipeline_fanring_chained`]: one engine per stage, each reading the previous one's
//!   `Output` as its source (`run_source`);
//! - [`pipeline_crossbeam`]: per stage `workers` std threads on one shared
//!   `crossbeam_channel::bounded` channel, items tagged with their index, the caller
//!   reordering with a `BTreeMap`;
//! - [`pipeline_rayon`]: `par_bridge` in a pool of `workers` threads, collected, sorted by
//!   index;
//! - [`pipeline_tokio`]: tokio `mpsc` channels between stages, `workers` tasks per stage on a
//!   multi-thread runtime of `workers` threads, the caller reordering.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fanring::{BuildError, Engine, Fusion, Graph, Order, Output};

use super::engine::RunError;
use crate::pipeline::{OrderedSink, PipeTally, Stage, Workload};

/// Slots per channel of the channel peers (crossbeam, tokio). Items are large (a row, an
/// image, a 64 KiB block), so a few dozen in flight per stage are plenty.
pub const PIPE_CAPACITY: usize = 64;

/// One stage as a farm of `workers` workers: `Engine::builder().workers(workers)
/// .order(order).map(stage)` (a macro: the work's type cannot be named outside fanring).
macro_rules! farm {
    ($stage:expr, $workers:expr, $order:expr) => {{
        let f = Arc::clone($stage);
        Engine::builder()
            .workers($workers)
            .order($order)
            .map(move |x| f(x))
    }};
}

/// The workload's items, made on whichever thread iterates this.
pub fn source<W: Workload>(wl: &Arc<W>) -> impl Iterator<Item = W::Item> + Send + 'static {
    let wl = Arc::clone(wl);
    (0..wl.items()).map(move |i| wl.make(i))
}

/// One item through every stage.
#[inline]
fn all_stages<T>(stages: &[Stage<T>], item: T) -> T {
    stages.iter().fold(item, |x, s| s(x))
}

/// The plain loop: each item through every stage in turn, then into the sink, on the
/// caller's thread ("the stages on one thread").
pub fn pipeline_sequential<W: Workload>(wl: &Arc<W>) -> PipeTally {
    let stages = wl.stages();
    let mut sink = wl.sink();
    for item in source(wl) {
        sink.take(all_stages(&stages, item));
    }
    sink.tally()
}

/// What the cores give a workload with no hand-off: `loops` plain loops at once, each on a
/// thread of its own with a sink of its own, each taking the next item's index from a shared
/// counter (so they finish together); nothing else passes between threads. Where the cores
/// share caches, memory bandwidth or a physical core, this stays below `loops` × the plain
/// loop. Returns the items the sinks took (each sink saw a share of the items, out of the
/// source's order, so their checksums are not compared with the plain loop's).
///
/// # Panics
/// If a loop panics (a stage or the sink did).
pub fn pipeline_loop_per_core<W: Workload>(wl: &Arc<W>, loops: usize) -> u64 {
    let n = wl.items();
    let next = AtomicU64::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..loops.max(1))
            .map(|_| {
                s.spawn(|| {
                    let stages = wl.stages();
                    let mut sink = wl.sink();
                    // Relaxed: the counter only hands out distinct indices; the items are made
                    // from the index on this thread.
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        sink.take(all_stages(&stages, wl.make(i)));
                    }
                    sink.tally().items
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a plain loop per core panicked"))
            .sum()
    })
}

/// fanring's multi-stage pipeline over `stages`: a graph of one farm per stage
/// (`Pipeline::then`, ring to ring), `workers` workers each, `Order::Preserve` end to end,
/// stages fused as `fusion` says; every other setting the builder's default.
///
/// # Errors
/// The engine's configuration errors.
///
/// # Panics
/// With no stage.
pub fn fanring_stages<T, I>(
    source: I,
    stages: &[Stage<T>],
    workers: usize,
    fusion: Fusion,
) -> Result<Output<T>, BuildError>
where
    T: Send + 'static,
    I: Iterator<Item = T> + Send + 'static,
{
    let (first, rest) = stages.split_first().expect("at least one stage");
    let mut graph = Graph::from(farm!(first, workers, Order::Preserve));
    for s in rest {
        graph = graph.then(farm!(s, workers, Order::Any));
    }
    graph.fusion(fusion).run(source)
}

/// One engine per stage, `Engine::builder().workers(workers).order(Order::Preserve)
/// .map(stage)`: the first runs on `source`, each next one on the previous one's `Output`
/// (`run_source`, which takes the runs that are ready). What a user writes today.
///
/// # Errors
/// The engine's configuration errors.
///
/// # Panics
/// With no stage.
pub fn fanring_chained<T, I>(
    source: I,
    stages: &[Stage<T>],
    workers: usize,
) -> Result<Output<T>, BuildError>
where
    T: Send + 'static,
    I: Iterator<Item = T> + Send + 'static,
{
    let (first, rest) = stages.split_first().expect("at least one stage");
    let mut out = farm!(first, workers, Order::Preserve).run(source)?;
    for s in rest {
        out = farm!(s, workers, Order::Preserve).run_source(out)?;
    }
    Ok(out)
}

/// The caller consumes an `Output` into the sink, then joins the last engine (a failure of
/// any stage ends the chain and is reported there).
fn drain<T, S: OrderedSink<T>>(mut out: Output<T>, mut sink: S) -> Result<PipeTally, RunError> {
    out.by_ref().for_each(|x| sink.take(x));
    out.join()?;
    Ok(sink.tally())
}

/// The `fanring` row (`Fusion::Auto`) and the `fanring unfused` row (`Fusion::Never`):
/// [`fanring_stages`], the caller taking the `Output` into the sink.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn pipeline_fanring<W: Workload>(
    wl: &Arc<W>,
    workers: usize,
    fusion: Fusion,
) -> Result<PipeTally, RunError> {
    let out = fanring_stages(source(wl), &wl.stages(), workers, fusion)?;
    drain(out, wl.sink())
}

/// The `fanring chained` row: [`fanring_chained`], the caller taking the `Output` into the
/// sink.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn pipeline_fanring_chained<W: Workload>(
    wl: &Arc<W>,
    workers: usize,
) -> Result<PipeTally, RunError> {
    let out = fanring_chained(source(wl), &wl.stages(), workers)?;
    drain(out, wl.sink())
}

/// The reorder buffer of the hand-written peers: items come tagged with their index, in any
/// order; the sink gets them in index order.
struct Reorder<T, S> {
    next: u64,
    pending: BTreeMap<u64, T>,
    sink: S,
}

impl<T, S: OrderedSink<T>> Reorder<T, S> {
    fn new(sink: S) -> Self {
        Reorder {
            next: 0,
            pending: BTreeMap::new(),
            sink,
        }
    }

    #[inline]
    fn push(&mut self, index: u64, item: T) {
        if index == self.next {
            self.sink.take(item);
            self.next += 1;
            while let Some(x) = self.pending.remove(&self.next) {
                self.sink.take(x);
                self.next += 1;
            }
        } else {
            self.pending.insert(index, item);
        }
    }

    /// # Panics
    /// If an item never came (a gap: held items left over).
    fn finish(self) -> PipeTally {
        assert!(
            self.pending.is_empty(),
            "item {} never arrived ({} held after it)",
            self.next,
            self.pending.len()
        );
        self.sink.tally()
    }
}

/// Hand-built threads: a source thread sends `(index, item)` into a bounded crossbeam
/// channel; per stage, `workers` std threads share that channel's receiver, apply the stage
/// and send into the next stage's channel; the caller receives from the last channel and
/// reorders (a `BTreeMap` of early items). Channels of `capacity` slots; every thread blocks
/// in `send`/`recv` (no spinning). The threads are scoped: joined before it returns.
///
/// # Panics
/// A stage's panic (re-raised when the scope ends), or an item lost.
pub fn pipeline_crossbeam<W: Workload>(wl: &Arc<W>, workers: usize, capacity: usize) -> PipeTally {
    use crossbeam_channel::bounded;
    assert!(workers > 0, "at least one worker");
    let stages = wl.stages();
    std::thread::scope(|s| {
        let (tx, mut rx) = bounded::<(u64, W::Item)>(capacity);
        let src = source(wl);
        s.spawn(move || {
            for (i, x) in (0u64..).zip(src) {
                if tx.send((i, x)).is_err() {
                    return;
                }
            }
        });
        for stage in &stages {
            let (tx, next) = bounded::<(u64, W::Item)>(capacity);
            for _ in 0..workers {
                let (rx, tx, f) = (rx.clone(), tx.clone(), Arc::clone(stage));
                s.spawn(move || {
                    for (i, x) in rx {
                        if tx.send((i, f(x))).is_err() {
                            return;
                        }
                    }
                });
            }
            rx = next;
        }
        let mut out = Reorder::new(wl.sink());
        for (i, x) in rx {
            out.push(i, x);
        }
        out.finish()
    })
}

/// rayon, as the RustStreamBench peers write it: `source.enumerate().par_bridge()
/// .map(stage 1).map(stage 2)…` in a pool of `workers` threads, `collect`ed into a `Vec`,
/// sorted by index, then handed to the sink. rayon fuses the maps (an item goes through every
/// stage on the thread that took it), so the chain of `map`s is written here as one `map`
/// over the stages. The sink starts only once every item is done.
pub fn pipeline_rayon<W: Workload>(wl: &Arc<W>, workers: usize) -> PipeTally {
    use rayon::iter::{ParallelBridge, ParallelIterator};
    assert!(workers > 0, "at least one worker");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon thread pool");
    let stages = wl.stages();
    let mut done: Vec<(u64, W::Item)> = pool.install(|| {
        (0u64..)
            .zip(source(wl))
            .par_bridge()
            .map(|(i, x)| (i, all_stages(&stages, x)))
            .collect()
    });
    done.sort_unstable_by_key(|p| p.0);
    let mut sink = wl.sink();
    for (_, x) in done {
        sink.take(x);
    }
    sink.tally()
}

/// tokio: a multi-thread runtime of `workers` threads; a task sends `(index, item)` from the
/// source into a bounded `mpsc` channel; per stage, `workers` tasks share that channel's
/// receiver (`Arc<tokio::sync::Mutex<Receiver>>`: `mpsc` has one receiver), apply the stage
/// inline (`spawn`, not `spawn_blocking`: the stages are short, and that is the task per
/// stage worker a tokio user writes) and send into the next stage's channel; the caller's
/// `block_on` receives from the last channel and reorders. Channels of `capacity` slots. The
/// runtime is shut down (its threads joined) before it returns.
///
/// # Panics
/// An item lost (a stage's panic ends its task, so its item never arrives).
pub fn pipeline_tokio<W: Workload>(wl: &Arc<W>, workers: usize, capacity: usize) -> PipeTally {
    use tokio::sync::{mpsc, Mutex};
    assert!(workers > 0, "at least one worker");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("tokio runtime");
    let stages = wl.stages();
    let src = source(wl);
    let sink = wl.sink();
    let tally = rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<(u64, W::Item)>(capacity);
        tokio::spawn(async move {
            for (i, x) in (0u64..).zip(src) {
                if tx.send((i, x)).await.is_err() {
                    return;
                }
            }
        });
        for stage in &stages {
            let (tx, next) = mpsc::channel::<(u64, W::Item)>(capacity);
            let shared = Arc::new(Mutex::new(rx));
            for _ in 0..workers {
                let (shared, tx, f) = (Arc::clone(&shared), tx.clone(), Arc::clone(stage));
                tokio::spawn(async move {
                    loop {
                        let got = shared.lock().await.recv().await;
                        let Some((i, x)) = got else { return };
                        if tx.send((i, f(x))).await.is_err() {
                            return;
                        }
                    }
                });
            }
            rx = next;
        }
        let mut out = Reorder::new(sink);
        while let Some((i, x)) = rx.recv().await {
            out.push(i, x);
        }
        out.finish()
    });
    drop(rt);
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::blocks::Blocks;
    use crate::pipeline::filters::Filters;
    use crate::pipeline::mandel::Mandel;

    fn every_runner_agrees<W: Workload>(wl: W) {
        let wl = Arc::new(wl);
        let want = pipeline_sequential(&wl);
        assert!(want.in_order && want.items == wl.items(), "{want:?}");
        for w in [1, 3] {
            for fusion in [Fusion::Auto, Fusion::Never, Fusion::Always] {
                let got = pipeline_fanring(&wl, w, fusion).unwrap();
                assert_eq!(got, want, "fanring W={w} {fusion:?}");
            }
            assert_eq!(
                pipeline_fanring_chained(&wl, w).unwrap(),
                want,
                "fanring chained W={w}"
            );
            assert_eq!(pipeline_crossbeam(&wl, w, 4), want, "crossbeam W={w}");
            assert_eq!(pipeline_rayon(&wl, w), want, "rayon W={w}");
            assert_eq!(pipeline_tokio(&wl, w, 4), want, "tokio W={w}");
            assert_eq!(
                pipeline_loop_per_core(&wl, w),
                wl.items(),
                "plain loop per core, {w} loops"
            );
        }
    }

    #[test]
    fn mandelbrot_rows_through_every_runner() {
        every_runner_agrees(Mandel::new("96:6+4".parse().unwrap()));
    }

    #[test]
    fn image_filters_through_every_runner() {
        every_runner_agrees(Filters::new(40, 24, 16));
    }

    #[test]
    fn compressed_blocks_through_every_runner() {
        every_runner_agrees(Blocks::new(50, 2048));
    }

    #[test]
    fn a_wrong_pipeline_does_not_pass() {
        // Stages swapped: the blocks are framed before they are compressed.
        let wl = Arc::new(Blocks::new(10, 1024));
        let want = pipeline_sequential(&wl);
        let mut stages = wl.stages();
        stages.reverse();
        let mut out = fanring_stages(source(&wl), &stages, 2, Fusion::Auto).unwrap();
        let mut sink = wl.sink();
        out.by_ref().for_each(|x| sink.take(x));
        assert_ne!(sink.tally(), want);
    }
}
