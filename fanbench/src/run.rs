//! The whole run: check the settings, warm up, measure, print the tables, write the files.

use std::io::IsTerminal;

use fanbench::baselines::RunError;
use fanbench::Work;
use fanring::BuildError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{validate, Args, MeasureArg};
use crate::measure::idle::{idle_runs, run_idle, IDLE_FEED, IDLE_GAP, IDLE_WINDOW};
use crate::measure::latency::{lat_run, run_latency, LatencyTable};
use crate::measure::pipeline::{pipeline_configs, pipeline_workloads, run_pipeline};
use crate::measure::rows::{rows_configs, rows_spec, run_rows};
use crate::measure::throughput::{preflight, run_group};
use crate::plan::{build_groups, lat_impls, latency_runs, lowlat_config, peers, Group};
use crate::report::idle::{format_idle_row, idle_header, print_idle_intro};
use crate::report::pipeline::{
    format_pipeline_row, pipeline_header, pipeline_winner, print_pipeline_intro,
    print_workload_heading,
};
use crate::report::rows::{format_rows_row, print_rows_intro, rows_header, rows_winner};
use crate::report::summary::{latency_winners, throughput_winner};
use crate::report::table::{
    fmt_rate, format_lat_row, format_row, header, latency_header, print_break_even, print_header,
    print_latency_intro, print_round_ratios, print_source_cpu,
};
use crate::report::{machine, write_outputs, PlanInfo, Report, Settings};
use crate::stats::{async_ratios, break_even, rows_of};

/// The progress bar (stderr, only on a terminal). It has no ticker thread (no
/// `enable_steady_tick`): it draws only when the main thread moves it, between runs, so no
/// thread of fanbench's own takes CPU while a run is measured.
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

pub fn run(args: &Args, heap: &'static str) -> Result<(), Failure> {
    let m = machine();
    let workers: Vec<usize> = if args.sweep {
        (1..=m.cores.max(1)).collect()
    } else {
        args.workers.clone()
    };
    validate(args, &workers);
    let thr = args.measure.contains(&MeasureArg::Throughput);
    let lat = args.measure.contains(&MeasureArg::Latency);
    let rows_table = args.measure.contains(&MeasureArg::Rows);
    let idle = args.measure.contains(&MeasureArg::Idle);
    let pipeline = args.measure.contains(&MeasureArg::Pipeline);
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
        heap: heap.to_string(),
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
    print_header(&m, &settings, thr);
    let runs_per_group = |g: &Group| (g.configs.len() + peers.len()) as u64 * args.reps;
    let lat_runs = if lat { latency_runs(args) } else { 0 };
    let row_configs = if rows_table {
        rows_configs(args, &workers)
    } else {
        Vec::new()
    };
    let (workloads, pipe_configs) = if pipeline {
        (
            pipeline_workloads(args),
            pipeline_configs(&workers, m.cores),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let extra_runs = row_configs.len() as u64 * args.reps
        + if idle { idle_runs(args) } else { 0 }
        + (workloads.len() * pipe_configs.len()) as u64 * args.reps;
    let bar = progress(groups.iter().map(runs_per_group).sum::<u64>() + lat_runs + extra_runs);
    if thr {
        println!(
            "cpu-s/M: CPU seconds of the whole process (every thread of the run) per million \
             items; cores: CPU seconds ÷ wall seconds of the run"
        );
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
    bar.suspend(|| print_round_ratios(&rows));
    let (saturation, lat_rows, source_cpu) = if lat {
        bar.suspend(|| print_latency_intro(args, &lowlat_config(args, 1)));
        let LatencyTable {
            saturation: sat,
            rows: lat_rows,
            source,
        } = run_latency(args, &bar)?;
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
            print_source_cpu(&source);
            for l in latency_winners(&lat_rows) {
                println!("  {l}");
            }
            println!();
        });
        (sat, lat_rows, source)
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let image_rows = if rows_table {
        let spec = rows_spec(args);
        bar.suspend(|| {
            print_rows_intro(&spec, args.row_us, args.reps);
            println!("{}", rows_header());
        });
        let rows = run_rows(args, spec, &row_configs, &bar)?;
        bar.suspend(|| {
            for r in &rows {
                println!("{}", format_rows_row(r));
            }
            println!();
            for &w in &workers {
                if let Some(l) = rows_winner(&rows, w) {
                    println!("  {l}");
                }
            }
            println!();
        });
        rows
    } else {
        Vec::new()
    };
    let idle_rows = if idle {
        bar.suspend(|| {
            print_idle_intro(
                IDLE_FEED,
                IDLE_GAP.as_secs_f64() * 1e6,
                IDLE_WINDOW.as_secs_f64() * 1e3,
                args.reps,
            );
        });
        let rows = run_idle(args, &bar)?;
        bar.suspend(|| {
            println!("{}", idle_header());
            for r in &rows {
                println!("{}", format_idle_row(r));
            }
            println!();
        });
        rows
    } else {
        Vec::new()
    };
    let mut pipeline_rows = Vec::new();
    if pipeline {
        bar.suspend(|| print_pipeline_intro(args.reps));
        for wl in &workloads {
            let rows = run_pipeline(args, wl, &pipe_configs, &bar)?;
            bar.suspend(|| {
                print_workload_heading(&wl.label(), &wl.describe(), wl.items());
                println!("{}", pipeline_header());
                for r in &rows {
                    println!("{}", format_pipeline_row(r));
                }
                for &w in &workers {
                    if let Some(l) = pipeline_winner(&rows, &wl.label(), w) {
                        println!("  {l}");
                    }
                }
                println!();
            });
            pipeline_rows.extend(rows);
        }
    }
    bar.finish_and_clear();
    let report = Report {
        machine: &m,
        settings: &settings,
        rows: &rows,
        break_even: be,
        latency_saturation: &saturation,
        latency: &lat_rows,
        latency_source_cpu: &source_cpu,
        image_rows: &image_rows,
        idle: &idle_rows,
        pipeline: &pipeline_rows,
    };
    write_outputs(args, &report).map_err(Failure::Other)
}
