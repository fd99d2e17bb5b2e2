//! The pipeline table's fused graph against rayon's `par_bridge` on one Mandelbrot
//! configuration, alternated round by round (`graph`, then `rayon`, each round), many rounds:
//! a paired comparison finer than the table's medians of three. Prints, per runner, the
//! median wall time per item, the CPU time per item (every thread of the process, from
//! `getrusage`) and the context switches per item; and each round's rayon time over the
//! graph's (above 1: the graph was faster in that round), median, lowest and highest.
//!
//! `cargo run --release -p fanbench --example pipe_probe -- [workers] [rounds] [ROWS:I1+I2xF]`
//! (defaults: 2, 16, `2048:20+10x4`, the table's ~30 µs rows). `PIPE_PROBE_ONLY=graph` (or
//! `rayon`) runs one runner alone, for a profiler; `PIPE_PROBE_SINK_TIME=1` times each call
//! of the sink and prints its time per item.

use fanbench::baselines::pipeline::{pipeline_fanring, pipeline_rayon};
use fanbench::pipeline::mandel::{Mandel, MandelConfig};
use fanbench::pipeline::Workload;
use fanring::Fusion;
use std::sync::Arc;
use std::time::Instant;

/// CPU seconds of every thread of the process, and its context switches so far.
fn usage() -> (f64, i64) {
    // SAFETY: `getrusage` writes the struct it is given, which is plain data.
    let r = unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut r);
        r
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (
        secs(r.ru_utime) + secs(r.ru_stime),
        r.ru_nvcsw + r.ru_nivcsw,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A run like `pipeline_fanring` (`graph`) or `pipeline_rayon`, timing each call of the sink:
/// the graph's caller takes each row as it comes (just written on another core), rayon's
/// once every row is done and sorted. Prints the sink's time per item to stderr.
fn timed_sink(wl: &Arc<Mandel>, workers: usize, graph: bool) -> fanbench::pipeline::PipeTally {
    use fanbench::baselines::pipeline::{fanring_stages, source};
    use fanbench::pipeline::OrderedSink;
    let stages = wl.stages();
    let mut sink = wl.sink();
    let mut spent = std::time::Duration::ZERO;
    let mut take = |x| {
        let t = Instant::now();
        sink.take(x);
        spent += t.elapsed();
    };
    if graph {
        let mut out = fanring_stages(source(wl), &stages, workers, Fusion::Auto).expect("built");
        out.by_ref().for_each(&mut take);
        out.join().expect("the graph runs");
    } else {
        use rayon::iter::{ParallelBridge, ParallelIterator};
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .expect("rayon pool");
        let mut done: Vec<(u64, _)> = pool.install(|| {
            (0u64..)
                .zip(source(wl))
                .par_bridge()
                .map(|(i, x)| (i, stages.iter().fold(x, |x, s| s(x))))
                .collect()
        });
        done.sort_unstable_by_key(|p| p.0);
        done.into_iter().for_each(|(_, x)| take(x));
    }
    eprintln!(
        "{} sink {:.3} µs/item",
        if graph { "graph" } else { "rayon" },
        spent.as_secs_f64() / wl.items() as f64 * 1e6
    );
    sink.tally()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("pipe_probe [workers] [rounds] [ROWS:I1+I2xF]: the fused graph against rayon, round by round");
        return;
    }
    let workers: usize = args.get(1).map_or(2, |s| s.parse().expect("workers"));
    let rounds: usize = args
        .get(2)
        .map_or(16, |s| s.parse().expect("rounds"))
        .max(1);
    let config: MandelConfig = args
        .get(3)
        .map_or("2048:20+10x4", String::as_str)
        .parse()
        .expect("ROWS:I1+I2xF");
    fanbench::process::keep_freed_memory();
    let wl = Arc::new(Mandel::new(config));
    let n = wl.items() as f64;
    let want = pipeline_rayon(&wl, workers); // warm-up, and the reference tally
    let names = ["graph", "rayon"];
    // `PIPE_PROBE_ONLY=graph|rayon`: run that runner alone (for profilers).
    let only = std::env::var("PIPE_PROBE_ONLY").ok();
    // `PIPE_PROBE_SINK_TIME=1`: time each call of the sink, and print the time per item.
    let sink_time = std::env::var_os("PIPE_PROBE_SINK_TIME").is_some();
    // Per runner, per round: (µs per item wall, µs per item CPU, switches per item).
    let mut all = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (k, rows) in all.iter_mut().enumerate() {
            if only.as_deref().is_some_and(|o| o != names[k]) {
                rows.push((1.0, 0.0, 0.0));
                continue;
            }
            let (cpu0, csw0) = usage();
            let t = Instant::now();
            let got = if sink_time {
                timed_sink(&wl, workers, k == 0)
            } else if k == 0 {
                pipeline_fanring(&wl, workers, Fusion::Auto).expect("the graph runs")
            } else {
                pipeline_rayon(&wl, workers)
            };
            let wall = t.elapsed().as_secs_f64();
            let (cpu1, csw1) = usage();
            assert_eq!(got, want, "{} saw another stream", names[k]);
            rows.push((
                wall / n * 1e6,
                (cpu1 - cpu0) / n * 1e6,
                (csw1 - csw0) as f64 / n,
            ));
        }
    }
    println!("{} W={workers}, {rounds} rounds, medians:", wl.label());
    for (name, rows) in names.iter().zip(&all) {
        println!(
            "  {name:5} {:7.2} µs/item  cpu {:6.2} µs/item  {:.4} switches/item",
            median(rows.iter().map(|r| r.0).collect()),
            median(rows.iter().map(|r| r.1).collect()),
            median(rows.iter().map(|r| r.2).collect()),
        );
    }
    let ratios: Vec<f64> = all[1].iter().zip(&all[0]).map(|(r, g)| r.0 / g.0).collect();
    let ahead = ratios.iter().filter(|r| **r > 1.0).count();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(*r), hi.max(*r))
        });
    println!(
        "  graph's speed over rayon's, round by round: median {:.3}, {lo:.3}–{hi:.3}; graph ahead in {ahead} of {rounds}",
        median(ratios.clone())
    );
}
