//! What a run reports: the rows, the machine, the settings; printed as a table (stdout) and
//! written as JSON, CSV and SVG on request.

pub mod csv;
pub mod idle;
pub mod json;
pub mod pipeline;
pub mod plot;
pub mod rows;
pub mod summary;
pub mod table;

use std::path::{Path, PathBuf};

use fanring::pinning::available_cores;
use serde::Serialize;

use crate::cli::{Args, MeasureArg};
use csv::{write_csv, write_idle_csv, write_latency_csv, write_pipeline_csv, write_rows_csv};
use json::write_json;
use plot::{write_latency_plot, write_pipeline_plot, write_plot};

// ---------------------------------------------------------------------------------------------
// Rows

/// One printed row (fanring configuration or baseline), as written to JSON and CSV.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `fanring`, `crossbeam-seed`, `std-seed`, `rtrb-pipeline`, `sequential` (one thread,
    /// whatever `workers` says: the reference measured alongside), `rayon-bridge`, `pariter`;
    /// with `--features async`: `fanring-stream`, `fanring-blocking`, `tokio-mpsc`,
    /// `buffered`, `buffer-unordered`.
    pub implementation: String,
    /// fanring's mode (`drive`, `thread`); `null` for baselines.
    pub mode: Option<String>,
    pub workers: usize,
    /// fanring's dispatch (`rr`, `least`, `key`); the seed and rtrb baselines are
    /// round-robin, rayon and pariter workers pull (`pull`), sequential has none (`-`).
    pub dispatch: String,
    /// fanring's order (`any`, `preserve`); baselines merge in any order.
    pub order: String,
    /// fanring's batch; `null` for baselines (one item at a time).
    pub batch: Option<usize>,
    pub work_ns: u64,
    pub items: u64,
    pub reps: u64,
    /// Median throughput, million items per second.
    pub mitems_per_s: f64,
    /// Median wall time per item, nanoseconds.
    pub ns_per_item: f64,
    /// Medians over the reps of each run's latency percentiles, nanoseconds (`null` with
    /// `--latency-every 0`).
    pub p50_ns: Option<f64>,
    pub p99_ns: Option<f64>,
    pub p999_ns: Option<f64>,
    /// Our throughput over each baseline's (fanring rows only, when that baseline ran).
    pub vs_crossbeam: Option<f64>,
    pub vs_std: Option<f64>,
    pub vs_rtrb: Option<f64>,
    pub vs_seq: Option<f64>,
    pub vs_rayon: Option<f64>,
    pub vs_pariter: Option<f64>,
    /// The `fanring-stream` row only: its throughput over `fanring-blocking`'s (the same
    /// engine settings, the `Output` iterated) and over `tokio-mpsc`'s, when those ran.
    pub vs_blocking: Option<f64>,
    pub vs_tokio_mpsc: Option<f64>,
    /// fanring rows, with the sequential peer: the ratio to it round by round, rep k of this
    /// row against rep k of the `sequential` row (the reps are interleaved), in rep order.
    pub vs_seq_rounds: Option<Vec<f64>>,
    /// CPU seconds per million items, every thread of the process during the run (engine
    /// or peer threads, the source, the consumer); median over the reps (`null` off Linux).
    pub cpu_s_per_mitem: Option<f64>,
    /// CPU seconds ÷ wall seconds of the run: how many cores it kept busy (median).
    pub cores_busy: Option<f64>,
    /// Voluntary and involuntary context switches per item (median), the proxy for futex
    /// wake-ups.
    pub switches_per_item: Option<f64>,
    /// The engine's pinning plan (fanring rows only).
    pub plan: Option<String>,
}

/// The saturation throughput of one latency configuration (the paced source unpaced).
#[derive(Clone, Debug, Serialize)]
pub struct Saturation {
    pub config: String,
    pub workers: usize,
    pub work_ns: u64,
    pub items: u64,
    /// Median over the reps, items per second.
    pub items_per_s: f64,
}

/// One row of the latency table, as written to JSON and CSV.
#[derive(Clone, Debug, Serialize)]
pub struct LatRow {
    /// `fanring` (builder defaults), `fanring-lowlat`, `crossbeam-seed`, `rtrb-pipeline`;
    /// with `--features async`: `fanring-stream`, `tokio-mpsc`, `buffered`,
    /// `buffer-unordered`.
    pub config: String,
    pub workers: usize,
    pub work_ns: u64,
    /// The `--load` fraction the offered rate came from (`null` for `--rate` rows).
    pub load: Option<f64>,
    /// Items per second the source was scheduled to release.
    pub offered_per_s: f64,
    /// Items per second taken out (median of the reps): items ÷ (last out − schedule start).
    pub achieved_per_s: f64,
    /// Items per run.
    pub items: u64,
    pub reps: u64,
    /// Latency from each item's scheduled time to the consumer taking it out, microseconds:
    /// medians over the reps of each rep's percentile, and the largest of any rep.
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// Microseconds of CPU per item, every thread of the process (the pipeline's, the paced
    /// source's, the consumer's) from the start to the end of the run; median over the reps
    /// (`null` off Linux).
    pub cpu_us_per_item: Option<f64>,
    /// CPU seconds ÷ wall seconds of the run (median).
    pub cores_busy: Option<f64>,
    /// Voluntary and involuntary context switches per item (median).
    pub switches_per_item: Option<f64>,
}

/// The paced source alone at a fixed rate (nothing behind it, the consumer on its thread):
/// the CPU the source itself takes, under every latency row's at that rate.
#[derive(Clone, Debug, Serialize)]
pub struct SourceCpu {
    pub offered_per_s: f64,
    pub items: u64,
    /// Microseconds of CPU per item, the whole process (`null` off Linux).
    pub cpu_us_per_item: Option<f64>,
    /// CPU seconds ÷ wall seconds.
    pub cores_busy: Option<f64>,
}

/// One row of the image-rows table (`--measure rows`), as written to JSON and CSV.
#[derive(Clone, Debug, Serialize)]
pub struct RowsRow {
    /// `sequential` (one thread, the reference), `fanring`, `rayon-bridge`, `crossbeam-seed`.
    pub implementation: String,
    /// fanring's mode (`drive`, `thread`); `null` for the peers.
    pub mode: Option<String>,
    pub workers: usize,
    /// `preserve` or `any`.
    pub order: String,
    /// Image rows per run (the items), and pixels per row (calibrated).
    pub rows: u64,
    pub width: usize,
    pub reps: u64,
    /// Median over the reps.
    pub rows_per_s: f64,
    /// Wall time per row at that rate, microseconds.
    pub us_per_row: f64,
    /// Rows per second over the sequential row's (medians).
    pub vs_seq: f64,
    /// Microseconds of CPU per row, every thread of the process (median; `null` off Linux).
    pub cpu_us_per_row: Option<f64>,
    /// CPU seconds ÷ wall seconds (median).
    pub cores_busy: Option<f64>,
    /// Voluntary and involuntary context switches per row (median).
    pub switches_per_row: Option<f64>,
}

/// One row of the pipeline table (`--measure pipeline`), as written to JSON and CSV.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineRow {
    /// `mandelbrot 2048:20+10x4`, `image 96x96`, `compress 64KiB`.
    pub workload: String,
    /// Stages per item.
    pub stages: usize,
    /// `plain loop` (every stage on one thread, the reference), `plain loop per core` (one on
    /// each core at once, taking the next item from a shared counter: no hand-off),
    /// `fanring`, `fanring unfused`, `fanring chained`, `std threads + crossbeam`, `rayon
    /// par_bridge`, `tokio pipeline`.
    pub implementation: String,
    /// Threads (workers, tasks) per stage; 1 for the plain loop, the cores for the plain loop
    /// per core.
    pub workers: usize,
    pub items: u64,
    pub reps: u64,
    /// Median over the rounds.
    pub items_per_s: f64,
    /// Wall time per item at that rate, microseconds.
    pub us_per_item: f64,
    /// Items per second over the plain loop's (medians).
    pub vs_plain: f64,
    /// Items per second of each round, in round order.
    pub items_per_s_rounds: Vec<f64>,
    /// Microseconds of CPU per item, every thread of the process (median; `null` off Linux).
    pub cpu_us_per_item: Option<f64>,
    /// CPU seconds ÷ wall seconds (median).
    pub cores_busy: Option<f64>,
    /// Voluntary and involuntary context switches per item (median).
    pub switches_per_item: Option<f64>,
    /// The fastest row of its workload and worker count (the plain loop and the plain loop
    /// per core never are).
    pub fastest: bool,
}

/// One row of the idle check (`--measure idle`), as written to JSON and CSV.
#[derive(Clone, Debug, Serialize)]
pub struct IdleRow {
    /// `fanring` (builder defaults), `fanring-lowlat`, `crossbeam-seed`, `rtrb-pipeline`.
    pub config: String,
    pub workers: usize,
    /// Items fed before the quiet window, and the gap between them (µs).
    pub fed: u64,
    pub gap_us: f64,
    pub reps: u64,
    /// The quiet window's length as measured, milliseconds (median).
    pub window_ms: Option<f64>,
    /// CPU time of every thread of the process in the window, % of one core: median and
    /// largest over the reps (`null` off Linux).
    pub cpu_pct: Option<f64>,
    pub cpu_pct_max: Option<f64>,
    /// Context switches in the window (median).
    pub switches: Option<f64>,
}

/// One fanring configuration's break-even work size.
#[derive(Clone, Debug, Serialize)]
pub struct BreakEvenConfig {
    /// `mode dispatch order bBATCH`.
    pub config: String,
    /// As printed: `drive/rr/any` (with `, batch N` when the configurations differ in it).
    #[serde(skip)]
    pub label: String,
    /// The smallest measured work size from which on (at it and at every larger size
    /// measured) this configuration moves more items per second than the sequential loop;
    /// `null` if it never does at the largest size.
    pub work_ns: Option<u64>,
    /// Its throughput ÷ the sequential loop's at that size.
    pub ratio: Option<f64>,
    /// (work_ns, ratio) at every size measured.
    pub ratios: Vec<(u64, f64)>,
}

/// The break-even of every fanring configuration at W = 2.
#[derive(Clone, Debug, Serialize)]
pub struct BreakEven {
    pub workers: usize,
    /// The smallest of the configurations' break-even work sizes.
    pub work_ns: Option<u64>,
    /// The configuration that reaches it (the highest ratio there on a tie).
    pub config: Option<String>,
    pub per_config: Vec<BreakEvenConfig>,
}

// ---------------------------------------------------------------------------------------------
// The machine and the settings

/// What the program measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Cores this process may run on (`fanring::pinning::available_cores`).
    pub cores: usize,
    pub core_ids: Vec<usize>,
    /// `model name` from /proc/cpuinfo, when there is one.
    pub cpu_model: Option<String>,
    pub os: &'static str,
    pub arch: &'static str,
}

pub fn machine() -> Machine {
    let core_ids = available_cores();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    Machine {
        cores: core_ids.len(),
        core_ids,
        cpu_model,
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    }
}

/// The run's settings, as written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub items: u64,
    pub capacity: usize,
    pub reps: u64,
    pub wait: String,
    pub pinning: String,
    /// The allocator's policy for freed memory (`--heap`), in words.
    pub heap: String,
    /// Calibration of the busy work: hash rounds per nanosecond.
    pub work_rounds_per_ns: f64,
    /// Items stamped for latency: about 1 in N (0 = none).
    pub latency_every: u64,
    /// The engine's pinning plan for each worker count.
    pub plans: Vec<PlanInfo>,
    /// Latency table: seconds per paced run, work per item, and the fanring-lowlat
    /// settings (`null`s when the table was not run).
    pub latency_secs: Option<f64>,
    pub latency_work_ns: Option<u64>,
    pub lowlat: Option<String>,
}

/// The engine's pinning plan for a worker count.
#[derive(Clone, Debug, Serialize)]
pub struct PlanInfo {
    pub workers: usize,
    /// fanring's mode (`drive`, `thread`).
    pub mode: String,
    /// The plan's Display: `distributor: 0; workers: [1, 0]; merger: -` (`-`: not pinned).
    pub plan: String,
    /// The same in words, as printed: `... a distributor thread on core 0; the caller's
    /// thread merges, unpinned; workers on cores 1, 0`.
    pub description: String,
}

#[derive(Serialize)]
pub struct Report<'a> {
    pub machine: &'a Machine,
    pub settings: &'a Settings,
    /// The throughput table.
    pub rows: &'a [Row],
    /// W = 2, fanring against the sequential loop over the work sizes (`null` when the
    /// sequential baseline or W = 2 was not measured).
    pub break_even: Option<BreakEven>,
    /// Open-loop latency: each configuration's saturation (for --load), then the rows.
    pub latency_saturation: &'a [Saturation],
    pub latency: &'a [LatRow],
    /// The paced source alone at each --rate (the floor under the rows' CPU).
    pub latency_source_cpu: &'a [SourceCpu],
    /// The image-rows table (`--measure rows`).
    pub image_rows: &'a [RowsRow],
    /// The idle check (`--measure idle`).
    pub idle: &'a [IdleRow],
    /// The pipeline table (`--measure pipeline`).
    pub pipeline: &'a [PipelineRow],
}

// ---------------------------------------------------------------------------------------------
// Files

/// `dir/stem.ext` → `dir/stem-latency.ext`.
pub fn latency_path(p: &Path) -> PathBuf {
    sibling_path(p, "latency")
}

/// `dir/stem.ext` → `dir/stem-TAG.ext`.
pub fn sibling_path(p: &Path, tag: &str) -> PathBuf {
    let stem = p
        .file_stem()
        .map_or("fanbench".into(), |s| s.to_string_lossy());
    let name = match p.extension() {
        Some(e) => format!("{stem}-{tag}.{}", e.to_string_lossy()),
        None => format!("{stem}-{tag}"),
    };
    p.with_file_name(name)
}

/// `p` with the extension `ext` if it has none (`--csv fan` writes `fan.csv` and
/// `fan-pipeline.csv`, and `--plot fan` `fan.svg`: the same name given to both flags
/// never makes one file overwrite the other).
pub fn with_default_ext(p: &Path, ext: &str) -> PathBuf {
    if p.extension().is_some() {
        p.to_path_buf()
    } else {
        p.with_extension(ext)
    }
}

/// Writes the files asked for (`--json`, `--csv`, `--plot`) and says on stderr where each
/// went, one line per flag: `wrote fan.csv, fan-latency.csv`.
pub fn write_outputs(args: &Args, report: &Report<'_>) -> Result<(), String> {
    let thr = args.measure.contains(&MeasureArg::Throughput);
    let lat = !report.latency.is_empty();
    let wrote = |paths: &[&Path]| {
        if !paths.is_empty() {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            eprintln!("wrote {}", names.join(", "));
        }
    };
    if let Some(p) = &args.json {
        let p = &with_default_ext(p, "json");
        write_json(p, report).map_err(|e| format!("writing {}: {e}", p.display()))?;
        wrote(&[p]);
    }
    if let Some(p) = &args.csv {
        let p = &with_default_ext(p, "csv");
        let mut done: Vec<&Path> = Vec::new();
        if thr {
            write_csv(p, report.rows).map_err(|e| format!("writing {}: {e}", p.display()))?;
            done.push(p);
        }
        let q = latency_path(p);
        if lat {
            write_latency_csv(&q, report.latency)
                .map_err(|e| format!("writing {}: {e}", q.display()))?;
            done.push(&q);
        }
        let r = sibling_path(p, "rows");
        if !report.image_rows.is_empty() {
            write_rows_csv(&r, report.image_rows)
                .map_err(|e| format!("writing {}: {e}", r.display()))?;
            done.push(&r);
        }
        let i = sibling_path(p, "idle");
        if !report.idle.is_empty() {
            write_idle_csv(&i, report.idle).map_err(|e| format!("writing {}: {e}", i.display()))?;
            done.push(&i);
        }
        let q = sibling_path(p, "pipeline");
        if !report.pipeline.is_empty() {
            write_pipeline_csv(&q, report.pipeline)
                .map_err(|e| format!("writing {}: {e}", q.display()))?;
            done.push(&q);
        }
        wrote(&done);
    }
    if let Some(p) = &args.plot {
        let p = &with_default_ext(p, "svg");
        let mut done: Vec<&Path> = Vec::new();
        if thr && !report.rows.is_empty() {
            write_plot(p, report.rows, report.machine)
                .map_err(|e| format!("drawing {}: {e}", p.display()))?;
            done.push(p);
        }
        let q = latency_path(p);
        if lat {
            write_latency_plot(&q, report.latency, report.machine)
                .map_err(|e| format!("drawing {}: {e}", q.display()))?;
            done.push(&q);
        }
        let r = sibling_path(p, "pipeline");
        if !report.pipeline.is_empty() {
            write_pipeline_plot(&r, report.pipeline, report.machine)
                .map_err(|e| format!("drawing {}: {e}", r.display()))?;
            done.push(&r);
        }
        wrote(&done);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{sibling_path, with_default_ext};
    use std::path::Path;

    /// One name for `--csv` and `--plot` without an extension: two files, never one over
    /// the other.
    #[test]
    fn a_name_without_extension_gets_the_flags_own() {
        let csv = with_default_ext(Path::new("out/fan"), "csv");
        let svg = with_default_ext(Path::new("out/fan"), "svg");
        assert_eq!(csv, Path::new("out/fan.csv"));
        assert_eq!(
            sibling_path(&csv, "pipeline"),
            Path::new("out/fan-pipeline.csv")
        );
        assert_eq!(
            sibling_path(&svg, "pipeline"),
            Path::new("out/fan-pipeline.svg")
        );
        assert_eq!(
            with_default_ext(Path::new("fan.data"), "csv"),
            Path::new("fan.data")
        );
    }
}
