//! The fan-out/fan-in engine against the seed pattern and a hand-built ring pipeline.
//!
//! `cargo bench -p fanbench --bench fan` (criterion; `-- GROUP` to run some groups, e.g.
//! `-- trivial/`).
//!
//! Groups `trivial/W{1,2,4}` (a multiply per item) and `work1us/W{1,2,4}` (about 1 µs of
//! calibrated busy work per item), each with these peers moving the same 16-byte items
//! (the `fanbench` library's `baselines`, the ones `fanbench` measures):
//! - `fanring_{drive,thread}_{any,preserve}`: the engine with its defaults (capacity 1024,
//!   batch 256, `SpinThenPark`, `Pinning::Auto`, round-robin), `Order::Any` / `Order::Preserve`,
//!   with the caller distributing and merging (`drive`) or with a distributor thread (`run`);
//! - `crossbeam_seed`: the seed's Go `Split`/`Merge` over `crossbeam-channel` bounded(1024);
//! - `std_mpsc_seed`: the same over `std::sync::mpsc::sync_channel(1024)`;
//! - `rtrb_pipeline`: distributor, workers and a merging caller over `rtrb` rings of 1024, one
//!   item at a time with a spin-then-yield retry loop;
//! - `sequential`: no threads, `source.map(work).for_each(sink)` on one thread (the same in
//!   every `W` group: the break-even reference measured alongside);
//! - `rayon_bridge`: rayon's `par_bridge` on the unsplittable source in a `ThreadPool` of `W`
//!   threads (unordered, the sink folded on the pool's threads);
//! - `pariter`: pariter's `parallel_map` with `W` threads (ordered).
//!
//! One iteration is a whole run, thread start-up included (the same for every peer). Every
//! run's tally is checked against the expected count and checksum. With more threads than
//! cores (W = 4 is 6 to 10 threads) the figures are noisy: compare peers within one run.

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use fanbench::baselines::{
    crossbeam_seed, fanring_engine, pariter_map, rayon_bridge, rtrb_pipeline, sequential,
    std_mpsc_seed, EngineConfig,
};
use fanbench::{expected, rounds_per_ns, Tally, Work};
use fanring::Order;

/// Items per iteration with trivial work.
const N_TRIVIAL: u64 = 1 << 18;
/// Items per iteration with 1 µs of work.
const N_WORK: u64 = 1 << 15;
/// Slots per channel or ring, for every peer.
const CAP: usize = 1024;
/// Worker counts.
const WORKERS: [usize; 3] = [1, 2, 4];

fn time(iters: u64, want: Tally, mut run: impl FnMut() -> Tally) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let got = run();
        total += start.elapsed();
        assert_eq!(got, want, "a run lost or corrupted items");
    }
    total
}

fn group(c: &mut Criterion, label: &str, n: u64, work: Work) {
    let want = expected(n, work);
    for w in WORKERS {
        let mut g = c.benchmark_group(format!("{label}/W{w}"));
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1500))
            .throughput(Throughput::Elements(n));
        for (name, order, drive) in [
            ("fanring_drive_any", Order::Any, true),
            ("fanring_drive_preserve", Order::Preserve, true),
            ("fanring_thread_any", Order::Any, false),
            ("fanring_thread_preserve", Order::Preserve, false),
        ] {
            let cfg = EngineConfig {
                order,
                capacity: CAP,
                drive,
                ..EngineConfig::new(w)
            };
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    time(iters, want, || {
                        fanring_engine(n, &cfg, work.func(), None)
                            .expect("engine run")
                            .0
                    })
                })
            });
        }
        g.bench_function("crossbeam_seed", |b| {
            b.iter_custom(|iters| {
                time(iters, want, || crossbeam_seed(n, w, CAP, work.func(), None))
            })
        });
        g.bench_function("std_mpsc_seed", |b| {
            b.iter_custom(|iters| time(iters, want, || std_mpsc_seed(n, w, CAP, work.func(), None)))
        });
        g.bench_function("rtrb_pipeline", |b| {
            b.iter_custom(|iters| time(iters, want, || rtrb_pipeline(n, w, CAP, work.func(), None)))
        });
        g.bench_function("sequential", |b| {
            b.iter_custom(|iters| time(iters, want, || sequential(n, work.func(), None)))
        });
        g.bench_function("rayon_bridge", |b| {
            b.iter_custom(|iters| time(iters, want, || rayon_bridge(n, w, work.func(), None)))
        });
        g.bench_function("pariter", |b| {
            b.iter_custom(|iters| time(iters, want, || pariter_map(n, w, work.func(), None)))
        });
        g.finish();
    }
}

fn trivial(c: &mut Criterion) {
    group(c, "trivial", N_TRIVIAL, Work::TRIVIAL);
}

fn work_1us(c: &mut Criterion) {
    let work = Work::busy_ns(1_000);
    eprintln!(
        "work1us: {} hash rounds per item ({:.2} rounds/ns)",
        work.rounds(),
        rounds_per_ns()
    );
    group(c, "work1us", N_WORK, work);
}

criterion_group!(benches, trivial, work_1us);
criterion_main!(benches);
