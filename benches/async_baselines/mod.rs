//! Async fan-out/fan-in baselines for `benches/async_fan.rs` (kept in a file of their own so
//! that a fanbench row can include them later: `#[path = "../benches/async_baselines/mod.rs"]`).
//!
//! Every runner maps `0..n` through `work` on `workers` parallel stages and returns the
//! wrapping sum of the results, the same for every runner:
//! - [`tokio_mpsc`]: the engine's topology from tokio parts: a distributor task sending
//!   round-robin into `workers` bounded `mpsc` channels, one task per worker mapping into one
//!   bounded output channel, the caller's task receiving from it;
//! - [`buffered`] / [`buffer_unordered`]: `futures`' `StreamExt::buffered(workers)` (ordered)
//!   or `buffer_unordered(workers)` over one `spawn_blocking` per item.

use futures_util::StreamExt;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Capacity of each tokio channel (as the engine's default ring holds a few runs).
pub const CHANNEL: usize = 1024;

/// The tokio `mpsc` fan-out/fan-in, run to the end on `rt`.
pub fn tokio_mpsc<F>(rt: &Runtime, n: u64, workers: usize, work: F) -> u64
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    rt.block_on(async move {
        let (out_tx, mut out_rx) = mpsc::channel::<u64>(CHANNEL);
        let mut inputs = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, mut rx) = mpsc::channel::<u64>(CHANNEL);
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
        tokio::spawn(async move {
            for i in 0..n {
                #[allow(clippy::cast_possible_truncation)] // `workers` is small
                let w = (i % workers as u64) as usize;
                if inputs[w].send(i).await.is_err() {
                    return;
                }
            }
        });
        let mut sum = 0u64;
        while let Some(y) = out_rx.recv().await {
            sum = sum.wrapping_add(y);
        }
        sum
    })
}

/// `stream::iter(0..n).map(spawn_blocking(work)).buffered(workers)`: ordered.
pub fn buffered<F>(rt: &Runtime, n: u64, workers: usize, work: F) -> u64
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    rt.block_on(async move {
        futures_util::stream::iter(0..n)
            .map(|i| {
                let work = work.clone();
                tokio::task::spawn_blocking(move || work(i))
            })
            .buffered(workers)
            .fold(0u64, |s, y| async move { s.wrapping_add(y.unwrap()) })
            .await
    })
}

/// As [`buffered`], with `buffer_unordered(workers)`.
pub fn buffer_unordered<F>(rt: &Runtime, n: u64, workers: usize, work: F) -> u64
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    rt.block_on(async move {
        futures_util::stream::iter(0..n)
            .map(|i| {
                let work = work.clone();
                tokio::task::spawn_blocking(move || work(i))
            })
            .buffer_unordered(workers)
            .fold(0u64, |s, y| async move { s.wrapping_add(y.unwrap()) })
            .await
    })
}
