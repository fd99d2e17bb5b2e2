//! The async bridge against async fan-out/fan-in built from tokio parts.
//!
//! `cargo bench -p fanbench --features async --bench async_fan` (criterion; `-- w2` for one
//! group).
//!
//! Each group (`w1`, `w2`, `w4`: that many workers) maps `0..N` through a trivial function and
//! sums the results on the caller's side; every sample starts its engine or its tasks afresh:
//! - `fanring_blocking`: `Engine::builder().workers(W).map(f).run(0..N)`, iterating `Output`;
//! - `fanring_stream`: the same engine and settings, its `Output` read as a `Stream` by a task
//!   on a current-thread tokio runtime, `poll_next` in a loop until `Pending`, the sum kept in
//!   a local during each poll (the async path's cost against the blocking one, as fanbench's
//!   `fanring-stream` row reads it); `fanring_stream_fold`: the same through
//!   `StreamExt::fold`, which builds and polls one future per item and keeps its accumulator
//!   in the future's memory;
//! - `tokio_mpsc`, `buffered`, `buffer_unordered`: the tokio baselines of fanbench
//!   (`fanbench::baselines::tokio_fan`), on a multi-thread runtime with 2 workers (`buffered*`
//!   run N / 16 items: one `spawn_blocking` per item; criterion's per-element figures stay
//!   comparable).
//!
//! The bench functions of a group run one after the other, each for its own few seconds: run
//! the group twice and compare within a run (the machine is shared and noisy).

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use fanbench::baselines::tokio_fan::{self, Feed};
use fanring::Engine;
use futures_util::{Stream, StreamExt};
use std::hint::black_box;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// Capacity of each tokio channel (as the engine's default ring holds a few runs).
const CHANNEL: usize = 1024;

/// Items per iteration.
const N: u64 = 1 << 18;

/// The trivial map.
fn work(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(7)
}

fn expected(n: u64) -> u64 {
    (0..n).map(work).fold(0, u64::wrapping_add)
}

fn engine(w: usize) -> fanring::Output<u64> {
    Engine::builder()
        .workers(w)
        .map(work)
        .run(0..N)
        .expect("engine")
}

fn groups(c: &mut Criterion) {
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (want, want_small) = (expected(N), expected(N / 16));
    for w in [1usize, 2, 4] {
        let mut g = c.benchmark_group(format!("w{w}"));
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
            .throughput(Throughput::Elements(N));
        g.bench_function("fanring_blocking", |b| {
            b.iter(|| {
                let sum = Iterator::fold(engine(w), 0u64, u64::wrapping_add);
                assert_eq!(black_box(sum), want);
            });
        });
        g.bench_function("fanring_stream", |b| {
            b.iter(|| {
                let mut out = engine(w);
                let mut total = 0u64;
                // `poll_next` until `Pending` or the end: the bridge's own cost, no future
                // built per item. The sum stays in a local during a poll (captured by
                // reference, every item would go through memory: 0.7x of this).
                let sum = current.block_on(std::future::poll_fn(|cx| {
                    let mut sum = total;
                    let r = loop {
                        match Pin::new(&mut out).poll_next(cx) {
                            Poll::Ready(Some(y)) => sum = sum.wrapping_add(y),
                            Poll::Ready(None) => break Poll::Ready(sum),
                            Poll::Pending => break Poll::Pending,
                        }
                    };
                    total = sum;
                    r
                }));
                assert_eq!(black_box(sum), want);
            });
        });
        g.bench_function("fanring_stream_fold", |b| {
            b.iter(|| {
                let out = engine(w);
                let sum = current.block_on(StreamExt::fold(out, 0u64, |s, y| async move {
                    s.wrapping_add(y)
                }));
                assert_eq!(black_box(sum), want);
            });
        });
        g.bench_function("tokio_mpsc", |b| {
            b.iter(|| {
                let mut sum = 0u64;
                tokio_fan::tokio_mpsc(&multi, 0..N, Feed::Task, w, CHANNEL, work, |y| {
                    sum = sum.wrapping_add(y);
                });
                assert_eq!(black_box(sum), want);
            });
        });
        g.throughput(Throughput::Elements(N / 16));
        g.bench_function("buffered", |b| {
            b.iter(|| {
                let mut sum = 0u64;
                tokio_fan::blocking_pool(&multi, 0..N / 16, Feed::Task, w, true, work, |y| {
                    sum = sum.wrapping_add(y);
                });
                assert_eq!(black_box(sum), want_small);
            });
        });
        g.bench_function("buffer_unordered", |b| {
            b.iter(|| {
                let mut sum = 0u64;
                tokio_fan::blocking_pool(&multi, 0..N / 16, Feed::Task, w, false, work, |y| {
                    sum = sum.wrapping_add(y);
                });
                assert_eq!(black_box(sum), want_small);
            });
        });
        g.finish();
    }
}

criterion_group!(benches, groups);
criterion_main!(benches);
