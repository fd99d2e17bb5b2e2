//! The image-rows workload ([`crate::rows`]) through fanring and the peers that take any item
//! type: the plain loop, rayon `par_bridge`, the crossbeam seed. Each run renders rows
//! `0..spec.height`, the source allocating each row's buffer, and returns what the consumer
//! saw.

use fanring::{Engine, Order};

use super::engine::RunError;
use super::seed::crossbeam_seed_with;
use crate::rows::{PixelRow, RowSink, RowSpec, RowTally};

/// The rows as the source yields them: a fresh buffer per row.
fn source(spec: RowSpec) -> impl Iterator<Item = PixelRow> + Send + 'static {
    (0..spec.height).map(move |y| spec.alloc(y))
}

/// No threads: allocate, render and consume each row in turn on the caller's thread.
pub fn rows_sequential(spec: RowSpec) -> RowTally {
    let mut sink = RowSink::default();
    for row in source(spec) {
        sink.take(spec.render(row));
    }
    sink.tally()
}

/// `Engine::builder().workers(workers).order(order).map(render)`, every other setting the
/// builder's default, then `run` (a distributor thread drains the source) or `drive` (the
/// caller's thread distributes and merges); the caller consumes the `Output`.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn rows_fanring(
    spec: RowSpec,
    workers: usize,
    order: Order,
    drive: bool,
) -> Result<RowTally, RunError> {
    let pipeline = Engine::builder()
        .workers(workers)
        .order(order)
        .map(move |row: PixelRow| spec.render(row));
    let mut sink = RowSink::default();
    if drive {
        let mut out = pipeline.drive(source(spec))?;
        out.by_ref().for_each(|r| sink.take(r));
        out.join()?;
    } else {
        let mut out = pipeline.run(source(spec))?;
        out.by_ref().for_each(|r| sink.take(r));
        out.join()?;
    }
    Ok(sink.tally())
}

/// rayon's `par_bridge` over the source in a pool of `workers` threads, unordered, each row
/// consumed on the pool thread that rendered it (folded, then the folds merged).
pub fn rows_rayon(spec: RowSpec, workers: usize) -> RowTally {
    use rayon::iter::{ParallelBridge, ParallelIterator};
    assert!(workers > 0, "at least one worker");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon thread pool");
    pool.install(|| {
        source(spec)
            .par_bridge()
            .map(|row| spec.render(row))
            .fold(RowSink::default, |mut s, row| {
                s.take(row);
                s
            })
            .reduce(RowSink::default, RowSink::merge)
            .tally()
    })
}

/// The seed pattern on crossbeam-channel (bounded channels of `capacity`): a split thread,
/// `workers` workers, a forwarder per worker, the caller consuming in any order.
pub fn rows_crossbeam(spec: RowSpec, workers: usize, capacity: usize) -> RowTally {
    crossbeam_seed_with(
        source(spec),
        workers,
        capacity,
        move |row: PixelRow| spec.render(row),
        |rx| {
            let mut sink = RowSink::default();
            rx.into_iter().for_each(|r| sink.take(r));
            sink.tally()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runner_renders_the_same_image() {
        let spec = RowSpec {
            width: 40,
            height: 300,
            max_iter: 64,
        };
        let want = rows_sequential(spec);
        assert_eq!(want.rows, 300);
        assert!(want.in_order);
        let same = |t: RowTally| (t.rows, t.checksum) == (want.rows, want.checksum);
        for drive in [false, true] {
            let t = rows_fanring(spec, 2, Order::Preserve, drive).unwrap();
            assert!(same(t) && t.in_order, "{t:?} {want:?}");
            let t = rows_fanring(spec, 2, Order::Any, drive).unwrap();
            assert!(same(t), "{t:?} {want:?}");
        }
        assert!(same(rows_rayon(spec, 2)));
        assert!(same(rows_crossbeam(spec, 2, 16)));
    }
}
