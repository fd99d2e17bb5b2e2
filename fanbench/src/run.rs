//! The whole run: check the settings, warm up, measure, print the tables, write the files.

use std::io::IsTerminal;

use fanbench::baselines::RunError;
use fanbench::Work;
use fanring::BuildError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{validate, Args, MeasureArg};
use crate::measure::latency::{lat_run, run_latency};
use crate::measure::throughput::{preflight, run_group};
use crate::plan::{build_groups, lat_impls, latency_runs, lowlat_config, peers, Group};
use crate::report::summary::{latency_winners, throughput_winner};
use crate::report::table::{
    fmt_rate, format_lat_row, format_row, header, latency_header, print_break_even, print_header,
    print_latency_intro,
};
use crate::report::{machine, write_outputs, PlanInfo, Report, Settings};
use crate::stats::{async_ratios, break_even, rows_of};

fn progress(total: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} {msg}")
            .expect("valid template"),
    );
    bar
}

pub enum Failure {
    /// Bad configuration: exit code 2.
    Config(String),
    /// Anything else: exit code 1.
    Other(String),
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Failed(_) | RunError::Build(BuildError::Spawn(_)) => {
                Failure::Other(format!("engine failed: {e}"))
            }
            RunError::Build(BuildError::SpinOversubscribed { .. }) => Failure::Config(format!(
                "engine configuration error: {e} (use fewer workers, another --wait, or \
                 --allow-oversubscribed-spin)"
            )),
            _ => Failure::Config(format!("engine configuration error: {e}")),
        }
    }
}

pub fn run(args: &Args) -> Result<(), Failure> {
    let m = machine();
    let workers: Vec<usize> = if args.sweep {
        (1..=m.cores.max(1)).collect()
    } else {
        args.workers.clone()
    };
    validate(args, &workers);
    let thr = args.measure.contains(&MeasureArg::Throughput);
    let lat = args.measure.contains(&MeasureArg::Latency);
    let peers = peers(&args.baseline);
    let groups = if thr {
        build_groups(args, &workers)
    } else {
        Vec::new()
    };
    let mut plans: Vec<PlanInfo> = Vec::new();
    if lat {
        // Checks the latency configurations (an engine error ends the program first) and
        // warms up.
        let work = Work::busy_ns(args.latency_work_ns);
        for &w in &args.latency_workers {
            for imp in lat_impls(args) {
                lat_run(imp, w, 1000, f64::INFINITY, work, args)?;
            }
        }
    }
    for g in &groups {
        for p in preflight(g, args.items)? {
            if !plans
                .iter()
                .any(|q| q.workers == p.workers && q.mode == p.mode)
            {
                plans.push(p);
            }
        }
    }
    let settings = Settings {
        items: args.items,
        capacity: args.capacity,
        reps: args.reps,
        wait: format!("{:?}", args.wait.strategy()),
        pinning: format!("{:?}", args.pin.pinning()),
        work_rounds_per_ns: fanbench::rounds_per_ns(),
        latency_every: args.latency_every,
        plans,
        latency_secs: lat.then_some(args.latency_secs),
        latency_work_ns: lat.then_some(args.latency_work_ns),
        lowlat: lat.then(|| {
            let c = lowlat_config(args, 1);
            format!(
                "run, batch {}, capacity {}, {:?}",
                c.batch, c.capacity, c.wait
            )
        }),
    };
    print_header(&m, &settings);
    let runs_per_group = |g: &Group| (g.configs.len() + peers.len()) as u64 * args.reps;
    let lat_runs = if lat { latency_runs(args) } else { 0 };
    let bar = progress(groups.iter().map(runs_per_group).sum::<u64>() + lat_runs);
    if thr {
        println!("{}", header(&peers));
    }
    let mut rows = Vec::new();
    for g in &groups {
        let samples = run_group(g, args, &peers, &bar)?;
        let new = rows_of(g, args, &peers, &samples, &settings.plans);
        bar.suspend(|| {
            for r in &new {
                println!("{}", format_row(r, &peers));
            }
            if let Some(l) = async_ratios(&new) {
                println!("{l}");
            }
            if let Some(l) = throughput_winner(&new) {
                println!("  {l}");
            }
            println!();
        });
        rows.extend(new);
    }
    let be = break_even(&rows);
    if let Some(b) = &be {
        bar.suspend(|| print_break_even(b));
    }
    let (saturation, lat_rows) = if lat {
        bar.suspend(|| print_latency_intro(args, &lowlat_config(args, 1)));
        let (sat, lat_rows) = run_latency(args, &bar)?;
        bar.suspend(|| {
            if !sat.is_empty() {
                let s: Vec<String> = sat
                    .iter()
                    .map(|s| format!("{} W={} {}/s", s.config, s.workers, fmt_rate(s.items_per_s)))
                    .collect();
                println!(
                    "  saturation (unpaced, {} items, median): {}",
                    args.items,
                    s.join(", ")
                );
            }
            println!();
            println!("{}", latency_header());
            for r in &lat_rows {
                println!("{}", format_lat_row(r));
            }
            println!();
            for l in latency_winners(&lat_rows) {
                println!("  {l}");
            }
            println!();
        });
        (sat, lat_rows)
    } else {
        (Vec::new(), Vec::new())
    };
    bar.finish_and_clear();
    let report = Report {
        machine: &m,
        settings: &settings,
        rows: &rows,
        break_even: be,
        latency_saturation: &saturation,
        latency: &lat_rows,
    };
    write_outputs(args, &report).map_err(Failure::Other)
}
