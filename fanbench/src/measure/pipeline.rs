//! The pipeline table (`--measure pipeline`): multi-stage workloads with real work, fanring
//! against the pipelines a user writes by hand, every row once per round, rounds
//! interleaved, each run's ordered sink checked against the plain loop's.

use std::sync::Arc;
use std::time::Instant;

use fanbench::baselines::pipeline::{
    pipeline_crossbeam, pipeline_fanring, pipeline_fanring_chained, pipeline_loop_per_core,
    pipeline_rayon, pipeline_sequential, pipeline_tokio, PIPE_CAPACITY,
};
use fanbench::baselines::RunError;
use fanbench::pipeline::blocks::Blocks;
use fanbench::pipeline::filters::Filters;
use fanbench::pipeline::mandel::Mandel;
use fanbench::pipeline::{PipeTally, Workload};
use fanring::Fusion;
use indicatif::ProgressBar;

use crate::cli::{Args, PipelineArg};
use crate::measure::cpu::{cpu_of, CpuUse};
use crate::report::pipeline::{PER_CORE, PLAIN};
use crate::report::PipelineRow;
use crate::stats::{median, median_of};

/// What carries the items through the stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeImpl {
    /// Every stage of an item in turn on one thread: the ratio base.
    Plain,
    /// A plain loop per core at once, each taking the next item from a shared counter: what
    /// the cores give with no hand-off (a reference, like the plain loop, not in the
    /// running).
    LoopPerCore,
    /// `fanring_stages`: a graph of farms, stages fused where the threads would outnumber
    /// the cores (`Fusion::Auto`).
    Fanring,
    /// The same graph with every stage on threads of its own (`Fusion::Never`).
    FanringUnfused,
    /// One engine per stage, each reading the previous `Output`.
    FanringChained,
    /// Per stage W std threads on a shared crossbeam channel, reordered by the caller.
    Crossbeam,
    /// `par_bridge` in a pool of W threads, collected and sorted.
    Rayon,
    /// tokio `mpsc` between stages, W tasks per stage on W runtime threads.
    Tokio,
}

/// Every row but the plain loop, in table order, at each worker count.
pub const PIPE_IMPLS: [PipeImpl; 6] = [
    PipeImpl::Fanring,
    PipeImpl::FanringUnfused,
    PipeImpl::FanringChained,
    PipeImpl::Crossbeam,
    PipeImpl::Rayon,
    PipeImpl::Tokio,
];

impl PipeImpl {
    /// The references (the plain loop, the plain loop per core): measured once per workload,
    /// never the fastest row.
    pub fn is_reference(self) -> bool {
        matches!(self, PipeImpl::Plain | PipeImpl::LoopPerCore)
    }

    pub fn name(self) -> &'static str {
        match self {
            PipeImpl::Plain => PLAIN,
            PipeImpl::LoopPerCore => PER_CORE,
            PipeImpl::Fanring => "fanring",
            PipeImpl::FanringUnfused => "fanring unfused",
            PipeImpl::FanringChained => "fanring chained",
            PipeImpl::Crossbeam => "std threads + crossbeam",
            PipeImpl::Rayon => "rayon par_bridge",
            PipeImpl::Tokio => "tokio pipeline",
        }
    }
}

/// One row of a workload's table: an implementation and a worker count (per stage).
#[derive(Clone, Copy, Debug)]
pub struct PipeConfig {
    pub imp: PipeImpl,
    pub workers: usize,
}

/// The table's rows for one workload: the plain loop and the plain loop per core (one on
/// each of `cores` threads) once, then every implementation at each worker count.
pub fn pipeline_configs(workers: &[usize], cores: usize) -> Vec<PipeConfig> {
    let mut v = vec![
        PipeConfig {
            imp: PipeImpl::Plain,
            workers: 1,
        },
        PipeConfig {
            imp: PipeImpl::LoopPerCore,
            workers: cores.max(1),
        },
    ];
    for &w in workers {
        v.extend(PIPE_IMPLS.iter().map(|&imp| PipeConfig { imp, workers: w }));
    }
    v
}

/// A workload of any kind.
pub enum AnyWorkload {
    Mandel(Arc<Mandel>),
    Filters(Arc<Filters>),
    Blocks(Arc<Blocks>),
}

fn run_on<W: Workload>(wl: &Arc<W>, c: PipeConfig) -> Result<PipeTally, RunError> {
    Ok(match c.imp {
        PipeImpl::Plain => pipeline_sequential(wl),
        // Only the count is comparable: each loop's sink saw a share of the items, out of order
        // (see pipeline_loop_per_core).
        PipeImpl::LoopPerCore => PipeTally {
            items: pipeline_loop_per_core(wl, c.workers),
            checksum: 0,
            in_order: true,
        },
        PipeImpl::Fanring => pipeline_fanring(wl, c.workers, Fusion::Auto)?,
        PipeImpl::FanringUnfused => pipeline_fanring(wl, c.workers, Fusion::Never)?,
        PipeImpl::FanringChained => pipeline_fanring_chained(wl, c.workers)?,
        PipeImpl::Crossbeam => pipeline_crossbeam(wl, c.workers, PIPE_CAPACITY),
        PipeImpl::Rayon => pipeline_rayon(wl, c.workers),
        PipeImpl::Tokio => pipeline_tokio(wl, c.workers, PIPE_CAPACITY),
    })
}

impl AnyWorkload {
    pub fn label(&self) -> String {
        match self {
            AnyWorkload::Mandel(w) => w.label(),
            AnyWorkload::Filters(w) => w.label(),
            AnyWorkload::Blocks(w) => w.label(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            AnyWorkload::Mandel(w) => w.describe(),
            AnyWorkload::Filters(w) => w.describe(),
            AnyWorkload::Blocks(w) => w.describe(),
        }
    }

    pub fn items(&self) -> u64 {
        match self {
            AnyWorkload::Mandel(w) => w.items(),
            AnyWorkload::Filters(w) => w.items(),
            AnyWorkload::Blocks(w) => w.items(),
        }
    }

    pub fn stages(&self) -> usize {
        match self {
            AnyWorkload::Mandel(w) => w.stages().len(),
            AnyWorkload::Filters(w) => w.stages().len(),
            AnyWorkload::Blocks(w) => w.stages().len(),
        }
    }

    fn run(&self, c: PipeConfig) -> Result<PipeTally, RunError> {
        match self {
            AnyWorkload::Mandel(w) => run_on(w, c),
            AnyWorkload::Filters(w) => run_on(w, c),
            AnyWorkload::Blocks(w) => run_on(w, c),
        }
    }
}

/// The workloads asked for (`--pipelines`), in that order: each `--mandel` configuration, the
/// image filters, the compressed blocks. Generating their inputs (images, the text corpus)
/// happens here, outside any timed run.
pub fn pipeline_workloads(args: &Args) -> Vec<AnyWorkload> {
    let mut v = Vec::new();
    for p in &args.pipelines {
        match p {
            PipelineArg::Mandel => v.extend(
                args.mandel
                    .iter()
                    .map(|&c| AnyWorkload::Mandel(Arc::new(Mandel::new(c)))),
            ),
            PipelineArg::Image => v.push(AnyWorkload::Filters(Arc::new(Filters::new(
                args.images,
                args.image_size.0,
                args.image_size.1,
            )))),
            PipelineArg::Compress => v.push(AnyWorkload::Blocks(Arc::new(Blocks::new(
                args.blocks,
                args.block_kib as usize * 1024,
            )))),
        }
    }
    v
}

/// One run: wall seconds and what the process used.
#[derive(Clone, Copy, Debug)]
struct PipeSample {
    secs: f64,
    cpu: Option<CpuUse>,
}

/// One workload's table: a plain-loop run first (the reference tally, untimed: it also
/// warms the caches and the allocator), then `reps` rounds, each running every
/// configuration once in order; every run's tally must equal the reference (count, checksum,
/// and order: every row hands the sink the items in order).
///
/// # Panics
/// A run whose sink saw something else than the plain loop's: items lost, duplicated,
/// computed wrong or out of order.
pub fn run_pipeline(
    args: &Args,
    wl: &AnyWorkload,
    configs: &[PipeConfig],
    bar: &ProgressBar,
) -> Result<Vec<PipelineRow>, RunError> {
    let label = wl.label();
    let want = wl.run(configs[0])?;
    assert!(
        want.in_order && want.items == wl.items(),
        "{label}: the plain loop's sink saw {want:?}"
    );
    let mut samples = vec![Vec::new(); configs.len()];
    for rep in 0..args.reps {
        for (k, c) in configs.iter().enumerate() {
            bar.set_message(format!(
                "pipeline {label} W={} {} (rep {})",
                c.workers,
                c.imp.name(),
                rep + 1
            ));
            let start = Instant::now();
            let (tally, cpu) = cpu_of(|| wl.run(*c));
            let secs = start.elapsed().as_secs_f64();
            let tally = tally?;
            if c.imp == PipeImpl::LoopPerCore {
                assert_eq!(
                    tally.items, want.items,
                    "{label}: the plain loops per core lost or repeated items"
                );
            } else {
                assert!(
                    tally.in_order,
                    "{label}: {} W={}: the sink got the items out of order",
                    c.imp.name(),
                    c.workers
                );
                assert_eq!(
                    tally,
                    want,
                    "{label}: {} W={}: items lost, duplicated or computed wrong",
                    c.imp.name(),
                    c.workers
                );
            }
            samples[k].push(PipeSample { secs, cpu });
            bar.inc(1);
        }
    }
    let n = wl.items();
    let rate = |v: &[PipeSample]| n as f64 / median(v.iter().map(|s| s.secs).collect());
    let plain = rate(&samples[0]);
    let mut rows: Vec<PipelineRow> = configs
        .iter()
        .zip(&samples)
        .map(|(c, v)| {
            let r = rate(v);
            PipelineRow {
                workload: label.clone(),
                stages: wl.stages(),
                implementation: c.imp.name().to_string(),
                workers: c.workers,
                items: n,
                reps: args.reps,
                items_per_s: r,
                us_per_item: 1e6 / r,
                vs_plain: r / plain,
                items_per_s_rounds: v.iter().map(|s| n as f64 / s.secs).collect(),
                cpu_us_per_item: median_of(v, |s| s.cpu.map(|c| c.cpu_us_per_item(n))),
                cores_busy: median_of(v, |s| s.cpu.map(|c| c.cores_busy())),
                switches_per_item: median_of(v, |s| s.cpu.map(|c| c.switches_per_item(n))),
                fastest: false,
            }
        })
        .collect();
    mark_fastest(&mut rows, configs);
    Ok(rows)
}

/// Marks the fastest row of each worker count (`rows[k]` is `configs[k]`'s; the references,
/// the plain loop and the plain loop per core, are not in the running).
fn mark_fastest(rows: &mut [PipelineRow], configs: &[PipeConfig]) {
    let workers: Vec<usize> = rows.iter().map(|r| r.workers).collect();
    for w in workers {
        let best = rows
            .iter()
            .enumerate()
            .filter(|&(k, r)| r.workers == w && !configs[k].imp.is_reference())
            .max_by(|a, b| a.1.items_per_s.total_cmp(&b.1.items_per_s))
            .map(|(i, _)| i);
        if let Some(i) = best {
            rows[i].fastest = true;
        }
    }
}
