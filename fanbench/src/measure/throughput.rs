//! Closed loop: every configuration of a group and every peer, interleaved rep by rep, each run
//! timed and (for a hashed sample of its items) its latency under full load recorded.

use std::time::Instant;

use fanbench::baselines::fanring_engine;
use fanbench::baselines::RunError;
use fanbench::{latency_histogram, Probe, Tally};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;

use crate::cli::Args;
use crate::measure::cpu::{CpuMark, CpuUse};
use crate::plan::{Group, Peer};
use crate::report::table::plan_in_words;
use crate::report::PlanInfo;

pub type Hist = Histogram<u64>;

/// One run's figures (latency percentiles in nanoseconds, `NaN` when not measured).
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub secs: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    /// What the whole process used during the run (`None` off Linux).
    pub cpu: Option<CpuUse>,
}

impl Sample {
    pub fn new(secs: f64, h: &Hist, cpu: Option<CpuUse>) -> Self {
        let q = |q| {
            if h.is_empty() {
                f64::NAN
            } else {
                h.value_at_quantile(q) as f64
            }
        };
        Sample {
            secs,
            p50: q(0.50),
            p99: q(0.99),
            p999: q(0.999),
            cpu,
        }
    }
}

/// Times `run`, which records latencies (every `every`-th item; none for 0) into the probe
/// it is given, and reads the process's CPU time and context switches around it.
pub fn measure<E>(
    every: u64,
    run: impl FnOnce(Option<Probe<'_>>) -> Result<Tally, E>,
) -> Result<(Sample, Tally), E> {
    let mut h = latency_histogram();
    let probe = (every > 0).then_some(Probe {
        hist: &mut h,
        every,
    });
    let mark = CpuMark::now();
    let start = Instant::now();
    let tally = run(probe)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = mark.since();
    Ok((Sample::new(secs, &h, cpu), tally))
}

/// Every run of a workload must hand back the same tally.
pub fn check_tally(what: &str, got: Tally, want: &mut Option<Tally>, items: u64) {
    assert_eq!(got.count, items, "{what}: lost or duplicated items");
    match want {
        Some(w) => assert_eq!(got, *w, "{what}: checksum differs from the other runs"),
        None => *want = Some(got),
    }
}

/// Runs every configuration of `group` once on a small input: checks the settings (an engine
/// error ends the program before anything is measured), warms up, and returns the plan each
/// worker count gets.
pub fn preflight(group: &Group, items: u64) -> Result<Vec<PlanInfo>, RunError> {
    let n = items.min(10_000);
    let mut plans: Vec<PlanInfo> = Vec::new();
    for c in &group.configs {
        let mut h = latency_histogram();
        let probe = Probe {
            hist: &mut h,
            every: 1,
        };
        let (tally, p) = fanring_engine(n, &c.engine, group.work.func(), Some(probe))?;
        assert_eq!(tally.count, n, "preflight lost items");
        if !plans.iter().any(|q| q.mode == c.mode.name()) {
            plans.push(PlanInfo {
                workers: group.workers,
                mode: c.mode.name().to_string(),
                plan: p.to_string(),
                description: plan_in_words(c.mode, &p),
            });
        }
    }
    Ok(plans)
}

/// Samples of one group: per fanring configuration, then per baseline.
pub struct GroupSamples {
    pub ours: Vec<Vec<Sample>>,
    pub base: Vec<Vec<Sample>>,
}

pub fn run_group(
    group: &Group,
    args: &Args,
    peers: &[Peer],
    bar: &ProgressBar,
) -> Result<GroupSamples, RunError> {
    let mut s = GroupSamples {
        ours: vec![Vec::new(); group.configs.len()],
        base: vec![Vec::new(); peers.len()],
    };
    let mut want = None;
    let tag = format!("W={} work={}ns", group.workers, group.work_ns);
    for rep in 0..args.reps {
        for (i, c) in group.configs.iter().enumerate() {
            bar.set_message(format!(
                "{tag} fanring {} {} {} b{} (rep {})",
                c.mode.name(),
                c.dispatch.name(),
                c.order.name(),
                c.batch,
                rep + 1
            ));
            let (sample, tally) = measure(args.latency_every, |probe| {
                fanring_engine(args.items, &c.engine, group.work.func(), probe).map(|r| r.0)
            })?;
            check_tally("fanring", tally, &mut want, args.items);
            s.ours[i].push(sample);
            bar.inc(1);
        }
        for (i, p) in peers.iter().enumerate() {
            bar.set_message(format!("{tag} {} (rep {})", p.name(), rep + 1));
            let (sample, tally) = measure::<RunError>(args.latency_every, |probe| {
                Ok(p.run(args.items, group.workers, args.capacity, group.work, probe))
            })?;
            check_tally(p.name(), tally, &mut want, args.items);
            s.base[i].push(sample);
            bar.inc(1);
        }
    }
    Ok(s)
}
