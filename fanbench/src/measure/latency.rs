//! Open loop: a paced source releases each item at its scheduled time and its latency is
//! counted from that time; saturation first (for --load), then every point, interleaved rep by
//! rep.

use std::time::Instant;

use fanbench::baselines::RunError;
use fanbench::baselines::{
    crossbeam_seed_source, fanring_defaults_source, fanring_engine_source, fanring_graph3_source,
    rtrb_pipeline_source,
};
use fanbench::{latency_histogram, Clock, Item, Paced, Probe, Tally, Work};
use indicatif::ProgressBar;

use crate::cli::Args;
use crate::measure::cpu::{CpuMark, CpuUse};
use crate::plan::{lat_impls, latency_loads, latency_rates, lowlat_config, LatImpl};
use crate::report::table::fmt_rate;
use crate::report::{LatRow, Saturation, SourceCpu};
use crate::stats::{median, median_of};

/// One paced (or, with an infinite rate, unpaced) run's figures.
#[derive(Clone, Copy, Debug)]
pub struct LatSample {
    /// Items taken out per second, from the schedule's start to the last one.
    pub achieved: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// What the whole process used from the start to the end of the run (`None` off Linux).
    pub cpu: Option<CpuUse>,
}

/// `n` items released at `rate` items/s through `imp` with `workers` workers.
pub fn lat_run(
    imp: LatImpl,
    workers: usize,
    n: u64,
    rate: f64,
    work: Work,
    args: &Args,
) -> Result<LatSample, RunError> {
    let source = Paced::new(n, rate);
    let clock = source.clock();
    let epoch = source.epoch();
    let mut h = latency_histogram();
    let probe = Some(Probe {
        hist: &mut h,
        every: 1,
    });
    let f = work.func();
    let mark = CpuMark::now();
    let tally = if imp.is_async() {
        async_source(imp, source, clock, workers, args.capacity, f, probe)?
    } else {
        sync_source(imp, source, clock, workers, f, probe, args)?
    };
    let cpu = mark.since();
    let secs = Instant::now()
        .saturating_duration_since(epoch)
        .as_secs_f64()
        .max(1e-9);
    assert_eq!(tally.count, n, "{}: lost or duplicated items", imp.name());
    let q = |q| h.value_at_quantile(q) as f64;
    Ok(LatSample {
        achieved: n as f64 / secs,
        p50: q(0.50),
        p99: q(0.99),
        p999: q(0.999),
        max: h.max() as f64,
        cpu,
    })
}

/// `source`'s items through one of the rows that take any source on a thread of their own
/// or on the distributor's ([`LatImpl::is_async`] is false), the caller consuming.
///
/// # Panics
/// For the async rows.
pub fn sync_source<S, F>(
    imp: LatImpl,
    source: S,
    clock: Clock,
    workers: usize,
    f: F,
    probe: Option<Probe<'_>>,
    args: &Args,
) -> Result<Tally, RunError>
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    Ok(match imp {
        LatImpl::Fanring => fanring_defaults_source(source, clock, workers, f, probe)?,
        LatImpl::Graph3 => fanring_graph3_source(source, clock, workers, f, probe)?,
        LatImpl::LowLat => {
            fanring_engine_source(source, clock, &lowlat_config(args, workers), f, probe)?.0
        }
        LatImpl::Crossbeam => {
            crossbeam_seed_source(source, clock, workers, args.capacity, f, probe)
        }
        LatImpl::Rtrb => rtrb_pipeline_source(source, clock, workers, args.capacity, f, probe),
        LatImpl::Stream | LatImpl::TokioMpsc | LatImpl::Buffered | LatImpl::BufferUnordered => {
            unreachable!("{} is an async row", imp.name())
        }
    })
}

/// The async rows fed by the paced source: fanring with the builder's defaults (as the
/// `fanring` row) read as a `Stream`; the tokio peers with the source on a thread of its own.
#[cfg(feature = "async")]
fn async_source(
    imp: LatImpl,
    source: Paced,
    clock: fanbench::Clock,
    workers: usize,
    capacity: usize,
    f: impl Fn(u64) -> u64 + Clone + Send + Sync + 'static,
    probe: Option<Probe<'_>>,
) -> Result<fanbench::Tally, RunError> {
    use fanbench::baselines::async_peers::{
        fanring_stream_defaults_source, spawn_blocking_pool_source, tokio_mpsc_source,
    };
    Ok(match imp {
        LatImpl::Stream => fanring_stream_defaults_source(source, clock, workers, f, probe)?,
        LatImpl::TokioMpsc => tokio_mpsc_source(source, clock, workers, capacity, f, probe),
        LatImpl::Buffered => spawn_blocking_pool_source(source, clock, workers, true, f, probe),
        _ => spawn_blocking_pool_source(source, clock, workers, false, f, probe),
    })
}

// Without the feature, `cli::validate` refuses the async rows before anything runs.
#[cfg(not(feature = "async"))]
fn async_source(
    _: LatImpl,
    _: Paced,
    _: fanbench::Clock,
    _: usize,
    _: usize,
    _: impl Fn(u64) -> u64,
    _: Option<Probe<'_>>,
) -> Result<fanbench::Tally, RunError> {
    unreachable!("the async rows need --features async (checked by cli::validate)")
}

/// The paced source alone at `rate` for `n` items, iterated on this thread with nothing
/// behind it: what the source itself costs (its sleeps, and its yields for the last few µs
/// before each item), the floor under every row's CPU at that rate.
pub fn source_alone(rate: f64, n: u64) -> SourceCpu {
    let source = Paced::new(n, rate);
    let mark = CpuMark::now();
    let sum = source.fold(0u64, |s, it| s.wrapping_add(std::hint::black_box(it).value));
    std::hint::black_box(sum);
    let cpu = mark.since();
    SourceCpu {
        offered_per_s: rate,
        items: n,
        cpu_us_per_item: cpu.map(|c| c.cpu_us_per_item(n)),
        cores_busy: cpu.map(|c| c.cores_busy()),
    }
}

/// A point of the latency table.
#[derive(Clone, Copy, Debug)]
pub struct LatPoint {
    pub imp: LatImpl,
    pub workers: usize,
    /// The fraction of saturation it was derived from (`--load`), if any.
    pub load: Option<f64>,
    pub rate: f64,
}

/// What the latency table measured.
pub struct LatencyTable {
    pub saturation: Vec<Saturation>,
    pub rows: Vec<LatRow>,
    /// The paced source alone at each --rate.
    pub source: Vec<SourceCpu>,
}

/// The whole latency table: saturation first (if any --load), then every point, interleaved
/// rep by rep, then the paced source alone at each fixed rate.
pub fn run_latency(args: &Args, bar: &ProgressBar) -> Result<LatencyTable, RunError> {
    let work = Work::busy_ns(args.latency_work_ns);
    let loads = latency_loads(args);
    let impls = lat_impls(args);
    let pairs: Vec<(usize, LatImpl)> = args
        .latency_workers
        .iter()
        .flat_map(|&w| impls.iter().map(move |&i| (w, i)))
        .collect();
    // Saturation of each configuration: every configuration once per rep, interleaved.
    let mut sat_samples = vec![Vec::new(); pairs.len()];
    if !loads.is_empty() {
        for rep in 0..args.reps {
            for (k, &(w, imp)) in pairs.iter().enumerate() {
                bar.set_message(format!(
                    "latency W={w} {} saturation (rep {})",
                    imp.name(),
                    rep + 1
                ));
                let s = lat_run(imp, w, args.items, f64::INFINITY, work, args)?;
                sat_samples[k].push(s.achieved);
                bar.inc(1);
            }
        }
    }
    let saturation: Vec<Saturation> = if loads.is_empty() {
        Vec::new()
    } else {
        pairs
            .iter()
            .zip(sat_samples)
            .map(|(&(w, imp), v)| Saturation {
                config: imp.name().to_string(),
                workers: w,
                work_ns: args.latency_work_ns,
                items: args.items,
                items_per_s: median(v),
            })
            .collect()
    };
    let mut points = Vec::new();
    for (k, &(w, imp)) in pairs.iter().enumerate() {
        for &f in &loads {
            points.push(LatPoint {
                imp,
                workers: w,
                load: Some(f),
                rate: f * saturation[k].items_per_s,
            });
        }
        for &r in &latency_rates(args) {
            points.push(LatPoint {
                imp,
                workers: w,
                load: None,
                rate: r,
            });
        }
    }
    let items_at = |rate: f64| (rate * args.latency_secs).ceil().max(1.0) as u64;
    let mut samples = vec![Vec::new(); points.len()];
    for rep in 0..args.reps {
        for (k, p) in points.iter().enumerate() {
            bar.set_message(format!(
                "latency W={} {} at {}/s (rep {})",
                p.workers,
                p.imp.name(),
                fmt_rate(p.rate),
                rep + 1
            ));
            samples[k].push(lat_run(
                p.imp,
                p.workers,
                items_at(p.rate),
                p.rate,
                work,
                args,
            )?);
            bar.inc(1);
        }
    }
    let rows = points
        .iter()
        .zip(samples)
        .map(|(p, v)| {
            let med = |f: fn(&LatSample) -> f64| median(v.iter().map(f).collect());
            LatRow {
                config: p.imp.name().to_string(),
                workers: p.workers,
                work_ns: args.latency_work_ns,
                load: p.load,
                offered_per_s: p.rate,
                achieved_per_s: med(|s| s.achieved),
                items: items_at(p.rate),
                reps: args.reps,
                p50_us: med(|s| s.p50) / 1e3,
                p99_us: med(|s| s.p99) / 1e3,
                p999_us: med(|s| s.p999) / 1e3,
                max_us: v.iter().map(|s| s.max).fold(0.0, f64::max) / 1e3,
                cpu_us_per_item: median_of(&v, |s| {
                    s.cpu.map(|c| c.cpu_us_per_item(items_at(p.rate)))
                }),
                cores_busy: median_of(&v, |s| s.cpu.map(|c| c.cores_busy())),
                switches_per_item: median_of(&v, |s| {
                    s.cpu.map(|c| c.switches_per_item(items_at(p.rate)))
                }),
            }
        })
        .collect();
    let source = latency_rates(args)
        .into_iter()
        .map(|r| {
            bar.set_message(format!(
                "latency: the paced source alone at {}/s",
                fmt_rate(r)
            ));
            source_alone(r, items_at(r))
        })
        .collect();
    Ok(LatencyTable {
        saturation,
        rows,
        source,
    })
}
