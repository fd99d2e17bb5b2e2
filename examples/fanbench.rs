//! `fanbench`: throughput and end-to-end latency of the fanring engine against the seed's
//! fan-out/fan-in pattern, measured in the same run.
//!
//! ```text
//! cargo run --release --example fanbench                      # defaults, 1–1.5 min on 2 cores
//! cargo run --release --example fanbench -- --help
//! cargo run --release --example fanbench -- --sweep --plot fan.svg --json fan.json
//! ```
//!
//! For every configuration (workers × dispatch × order × batch × work) it pushes `--items`
//! items through `.map(work).run(source)` and iterates the `Output` on the main thread; then
//! the same items and work through the baselines of `benches/baselines/mod.rs` (the seed's Go
//! `Split`/`Merge` over crossbeam-channel and over std mpsc, and optionally the hand-built rtrb
//! pipeline). Runs are interleaved (ours, crossbeam, std, ours, …) `--reps` times and every
//! figure shown is the median over the reps.
//!
//! Each item is stamped (nanoseconds on one clock) by the source as it enters and the main
//! thread records `now - stamp` in an HDR histogram when it comes out, for every peer alike:
//! the latencies are end to end under full load, queueing in the rings included.
//!
//! Alongside the seed pattern, the table has what a user would pick instead of a fan-out
//! engine: a plain loop on one thread (`sequential`, the break-even reference), rayon's
//! `par_bridge` and pariter's `parallel_map`. With several `--work-ns` values it reports, for
//! W = 2, the smallest work per item from which on fanring beats the sequential loop.
//!
//! Then an open-loop latency table (`--measure latency`, on by default): a paced source
//! releases item `i` at `t0 + i / R` and each item's latency is counted from that scheduled
//! time (coordinated omission corrected, as wrk2 does), at `--rate` items/s or at `--load`
//! fractions of each configuration's saturation throughput measured first in the same run,
//! for fanring with its defaults, a latency-tuned fanring, the crossbeam seed and the rtrb
//! pipeline.

#[path = "../benches/baselines/mod.rs"]
mod baselines;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use baselines::{
    crossbeam_seed, crossbeam_seed_source, fanring_defaults_source, fanring_engine,
    fanring_engine_source, key_dispatch, latency_histogram, pariter_map, rayon_bridge,
    rtrb_pipeline, rtrb_pipeline_source, sequential, std_mpsc_seed, EngineConfig, Paced, Probe,
    RunError, Tally, Work,
};
use clap::{CommandFactory, Parser, ValueEnum};
use fanring::pinning::available_cores;
use fanring::{BuildError, Dispatch, Order, Pinning, WaitStrategy};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Command line

const AFTER_HELP: &str = "\
The table goes to stdout, a progress bar to stderr (only on a terminal). Bad flags and engine
configuration errors exit with code 2.

Open-loop latency (--measure latency, on by default): the source releases item i at its
scheduled time t0 + i/R and the consumer records (now - scheduled time), so a pipeline that
falls behind is charged for every item it delays (coordinated omission corrected, as wrk2
and HdrHistogram's corrected recording do). The pacer sleeps while more than 15 µs remain
(its thread's timer slack set to 1 ns, so a sleep wakes ~6 µs late instead of ~55 µs), wakes
10 µs early and yields until the due time: it never spins on a core the pipeline needs. At
high rates one clock read releases every item already due. --load rates are fractions of
each configuration's own saturation throughput (the same source unpaced, --items items),
measured first in the same run. Rows are interleaved rep by rep; p50/p99/p99.9 are medians
over the reps, max the largest of any rep. The latency rows: fanring (the builder's
defaults, .run(paced source)), fanring-lowlat (--lowlat-*), crossbeam-seed, rtrb-pipeline.

Examples:
  fanbench                                    # W=1,2,4, trivial and 1 µs work, latency at W=2
  fanbench --sweep --plot fan.svg --json fan.json
  fanbench --workers 2 --pin 0,1,1,- --wait yield --baseline all,rtrb
  fanbench --workers 4 --dispatch rr,least,key --order preserve --batch 16,64,256
  fanbench --measure throughput --workers 2 --work-ns 0,50,100,200,1000 --baseline alt
  fanbench --measure latency --load 0.1,0.5,0.9 --latency-workers 1,2 --plot lat.svg
  fanbench --measure latency --rate 10000,100000,1000000 --latency-secs 1";

/// Benchmarks the fanring fan-out/fan-in engine against the seed pattern (Go's Split/Merge)
/// built on crossbeam-channel and on std::sync::mpsc, in the same run.
///
/// Every list flag takes comma-separated values; one table row is printed per combination of
/// --workers, --dispatch, --order, --batch and --work-ns, with the baselines (which have no
/// dispatch, order or batch settings) printed once per workers × work-ns.
#[derive(Parser, Debug)]
#[command(name = "fanbench", version, about, long_about, after_help = AFTER_HELP)]
struct Args {
    /// Worker counts to measure, e.g. `1,2,4`.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    workers: Vec<usize>,

    /// Measure every worker count from 1 up to the number of cores available (replaces
    /// --workers).
    #[arg(long, conflicts_with = "workers")]
    sweep: bool,

    /// Items pushed through the pipeline per run.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    items: u64,

    /// Slots per ring or channel (every peer uses the same).
    #[arg(long, default_value_t = 1024)]
    capacity: usize,

    /// fanring batch sizes (items a stage moves before publishing), e.g. `16,64`.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    batch: Vec<usize>,

    /// How fanring's stages wait: busy = BusySpin, yield = SpinYield{64},
    /// park = SpinThenPark{64,16} (the engine's default).
    #[arg(long, value_enum, default_value_t = WaitArg::Park)]
    wait: WaitArg,

    /// Let --wait busy run with more threads than cores (the engine refuses it otherwise).
    #[arg(long)]
    allow_oversubscribed_spin: bool,

    /// fanring dispatch policies: rr = round-robin, least = least loaded, key = by a hash of
    /// the item.
    #[arg(long, value_delimiter = ',', value_enum, default_value = "rr")]
    dispatch: Vec<DispatchArg>,

    /// fanring modes: drive = the caller's thread distributes and merges (`Pipeline::drive`,
    /// workers + 1 threads), thread = a distributor thread drains the source and the caller
    /// merges (`Pipeline::run`, workers + 2 threads).
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "drive,thread"
    )]
    mode: Vec<ModeArg>,

    /// fanring output orders: any, preserve.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "any,preserve"
    )]
    order: Vec<OrderArg>,

    /// Busy work per item in nanoseconds (calibrated spin loop); 0 is a single multiply. A
    /// list is a work-size sweep (e.g. `0,50,100,200,1000`): with the sequential baseline and
    /// W = 2 measured, the smallest size from which on fanring beats the sequential loop is
    /// printed under the table and written to JSON (`break_even`).
    #[arg(long, value_delimiter = ',', default_value = "0,1000")]
    work_ns: Vec<u64>,

    /// fanring core pinning: `auto` (the engine's default), `none`, or explicit cores
    /// `D,W1,...,Wn,M`: the distributor's core, one core per worker, then the merger's core
    /// (the merger is this program's main thread here, which the engine never pins, so M is
    /// only checked). Write `-` for D or M to leave it unpinned, e.g. `0,1,1,-`. The number of
    /// worker cores must equal the worker count, so give a single --workers value. Baselines
    /// are never pinned.
    #[arg(long, default_value = "auto", value_parser = parse_pin)]
    pin: PinArg,

    /// Stamp about one item in N for the latency figures (1 = every item, 0 = no latency and
    /// no clock reads). The sample is picked by a hash of the item's index, so it does not
    /// line up with round-robin dispatch. Each stamped item costs two clock reads (on the
    /// distributing and on the merging thread, for every peer alike); a read can cost as
    /// much as moving an item through fanring, so stamping every item lowers the throughput
    /// of the fastest peers.
    #[arg(long, default_value_t = 32, value_name = "N")]
    latency_every: u64,

    /// Runs of each configuration; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    reps: u64,

    /// Baselines to measure alongside: none, crossbeam, std, rtrb (the hand-built rtrb ring
    /// pipeline), all (= crossbeam,std), seq (a plain loop on one thread, whatever W), rayon
    /// (`par_bridge` in a pool of W threads, unordered), pariter (`parallel_map` with W
    /// threads, ordered), alt (= seq,rayon,pariter). Several may be listed, e.g. `all,rtrb`.
    /// pariter is left out of the default to keep the default run short (it moves 0.4–2.5 M
    /// items/s here, so a million items take up to 2.5 s a run).
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "all,seq,rayon"
    )]
    baseline: Vec<BaselineArg>,

    /// Tables to produce: throughput (closed loop: every configuration and baseline above)
    /// and latency (open loop: paced source, see below).
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "throughput,latency"
    )]
    measure: Vec<MeasureArg>,

    /// Open-loop offered rates in items per second, e.g. `10000,1000000` (latency table).
    #[arg(long, value_delimiter = ',', value_parser = parse_positive, value_name = "R")]
    rate: Vec<f64>,

    /// Open-loop offered loads as fractions of each configuration's saturation throughput,
    /// measured first in the same run, e.g. `0.1,0.5,0.9` (latency table). Default `0.1,0.5`
    /// unless --rate is given.
    #[arg(long, value_delimiter = ',', value_parser = parse_positive, value_name = "F")]
    load: Option<Vec<f64>>,

    /// Worker counts for the latency table.
    #[arg(long, value_delimiter = ',', default_value = "2")]
    latency_workers: Vec<usize>,

    /// Length of each paced run in seconds (items = rate × seconds).
    #[arg(long, default_value_t = 0.5, value_parser = parse_positive, value_name = "S")]
    latency_secs: f64,

    /// Busy work per item in the latency table, nanoseconds (0 = a multiply).
    #[arg(long, default_value_t = 0, value_name = "NS")]
    latency_work_ns: u64,

    /// The latency-tuned fanring row (`fanring-lowlat`): batch (1 = every item is published
    /// as it arrives, no wait for a run to fill).
    #[arg(long, default_value_t = 1)]
    lowlat_batch: usize,

    /// The latency-tuned fanring row: slots per ring.
    #[arg(long, default_value_t = 256)]
    lowlat_capacity: usize,

    /// The latency-tuned fanring row: wait strategy (see --wait).
    #[arg(long, value_enum, default_value_t = WaitArg::Park)]
    lowlat_wait: WaitArg,

    /// Also write every row and the machine description as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Also write every throughput row as CSV to FILE, and the latency rows to a second CSV
    /// next to it: FILE-latency.csv (FILE's stem with `-latency`).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,

    /// Draw throughput against workers for fanring and each baseline as SVG to FILE, and
    /// (with the latency table) p50 and p99 latency against the offered rate, one line per
    /// configuration, to a second SVG next to it: FILE-latency.svg.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WaitArg {
    Busy,
    Yield,
    Park,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum DispatchArg {
    Rr,
    Least,
    Key,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum ModeArg {
    Drive,
    Thread,
}

impl ModeArg {
    fn name(self) -> &'static str {
        match self {
            ModeArg::Drive => "drive",
            ModeArg::Thread => "thread",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum OrderArg {
    Any,
    Preserve,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum BaselineArg {
    None,
    Crossbeam,
    Std,
    Rtrb,
    All,
    Seq,
    Rayon,
    Pariter,
    Alt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum MeasureArg {
    Throughput,
    Latency,
}

/// A positive finite number.
fn parse_positive(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be a positive number"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PinArg {
    Auto,
    None,
    Explicit {
        distributor: Option<usize>,
        workers: Vec<usize>,
        merger: Option<usize>,
    },
}

impl WaitArg {
    fn strategy(self) -> WaitStrategy {
        match self {
            WaitArg::Busy => WaitStrategy::BusySpin,
            WaitArg::Yield => WaitStrategy::SPIN_YIELD,
            WaitArg::Park => WaitStrategy::SPIN_THEN_PARK,
        }
    }
}

impl DispatchArg {
    fn name(self) -> &'static str {
        match self {
            DispatchArg::Rr => "rr",
            DispatchArg::Least => "least",
            DispatchArg::Key => "key",
        }
    }

    fn dispatch(self) -> Dispatch<baselines::Item> {
        match self {
            DispatchArg::Rr => Dispatch::RoundRobin,
            DispatchArg::Least => Dispatch::LeastLoaded,
            DispatchArg::Key => key_dispatch(),
        }
    }
}

impl OrderArg {
    fn name(self) -> &'static str {
        match self {
            OrderArg::Any => "any",
            OrderArg::Preserve => "preserve",
        }
    }

    fn order(self) -> Order {
        match self {
            OrderArg::Any => Order::Any,
            OrderArg::Preserve => Order::Preserve,
        }
    }
}

impl PinArg {
    fn pinning(&self) -> Pinning {
        match self {
            PinArg::Auto => Pinning::Auto,
            PinArg::None => Pinning::None,
            PinArg::Explicit {
                distributor,
                workers,
                merger,
            } => Pinning::Explicit {
                distributor: *distributor,
                workers: workers.clone(),
                merger: *merger,
            },
        }
    }
}

/// `auto`, `none` or `D,W1,...,Wn,M` with every core one this process may run on.
fn parse_pin(s: &str) -> Result<PinArg, String> {
    match s.trim() {
        "auto" => return Ok(PinArg::Auto),
        "none" => return Ok(PinArg::None),
        _ => {}
    }
    let cores = available_cores();
    let core = |t: &str, optional: bool| -> Result<Option<usize>, String> {
        let t = t.trim();
        if optional && t == "-" {
            return Ok(None);
        }
        let c: usize = t
            .parse()
            .map_err(|_| format!("`{t}` is not a core number (format: D,W1,...,Wn,M)"))?;
        if !cores.contains(&c) {
            return Err(format!("core {c} does not exist (available: {cores:?})"));
        }
        Ok(Some(c))
    };
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() < 3 {
        return Err(
            "expected `auto`, `none` or D,W1,...,Wn,M (distributor, one core per worker, merger)"
                .into(),
        );
    }
    let (d, rest) = parts.split_first().expect("3 parts");
    let (m, ws) = rest.split_last().expect("2 parts");
    Ok(PinArg::Explicit {
        distributor: core(d, true)?,
        workers: ws
            .iter()
            .map(|w| core(w, false).map(|c| c.expect("not optional")))
            .collect::<Result<_, _>>()?,
        merger: core(m, true)?,
    })
}

/// Checks what clap cannot: combinations of flags. Errors go out the clap way (exit code 2).
fn validate(args: &Args, workers: &[usize]) {
    let fail = |msg: String| -> ! {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit()
    };
    if let PinArg::Explicit { workers: ws, .. } = &args.pin {
        if let Some(w) = workers.iter().find(|&&w| w != ws.len()) {
            fail(format!(
                "--pin names {} worker core(s) but {w} workers are to be measured; \
                 give a single matching --workers value",
                ws.len()
            ));
        }
    }
    if args.baseline.contains(&BaselineArg::None) && args.baseline.len() > 1 {
        fail("--baseline none cannot be combined with other baselines".into());
    }
    if args.measure.contains(&MeasureArg::Latency) && args.latency_workers.contains(&0) {
        fail("--latency-workers must be at least 1".into());
    }
}

// ---------------------------------------------------------------------------------------------
// The plan of runs

/// A baseline peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    Crossbeam,
    Std,
    Rtrb,
    Seq,
    Rayon,
    Pariter,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Crossbeam => "crossbeam-seed",
            Peer::Std => "std-seed",
            Peer::Rtrb => "rtrb-pipeline",
            Peer::Seq => "sequential",
            Peer::Rayon => "rayon-bridge",
            Peer::Pariter => "pariter",
        }
    }

    /// (dispatch, order) columns of its rows.
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Peer::Crossbeam | Peer::Std | Peer::Rtrb => ("rr", "any"),
            Peer::Seq => ("-", "preserve"),
            Peer::Rayon => ("pull", "any"),
            Peer::Pariter => ("pull", "preserve"),
        }
    }

    fn run(
        self,
        items: u64,
        workers: usize,
        capacity: usize,
        work: Work,
        lat: Option<Probe<'_>>,
    ) -> Tally {
        let f = work.func();
        match self {
            Peer::Crossbeam => crossbeam_seed(items, workers, capacity, f, lat),
            Peer::Std => std_mpsc_seed(items, workers, capacity, f, lat),
            Peer::Rtrb => rtrb_pipeline(items, workers, capacity, f, lat),
            Peer::Seq => sequential(items, f, lat),
            Peer::Rayon => rayon_bridge(items, workers, f, lat),
            Peer::Pariter => pariter_map(items, workers, f, lat),
        }
    }
}

fn peers(sel: &[BaselineArg]) -> Vec<Peer> {
    let mut set = BTreeSet::new();
    for b in sel {
        match b {
            BaselineArg::None => {}
            BaselineArg::Crossbeam => {
                set.insert(Peer::Crossbeam);
            }
            BaselineArg::Std => {
                set.insert(Peer::Std);
            }
            BaselineArg::Rtrb => {
                set.insert(Peer::Rtrb);
            }
            BaselineArg::All => {
                set.insert(Peer::Crossbeam);
                set.insert(Peer::Std);
            }
            BaselineArg::Seq => {
                set.insert(Peer::Seq);
            }
            BaselineArg::Rayon => {
                set.insert(Peer::Rayon);
            }
            BaselineArg::Pariter => {
                set.insert(Peer::Pariter);
            }
            BaselineArg::Alt => {
                set.insert(Peer::Seq);
                set.insert(Peer::Rayon);
                set.insert(Peer::Pariter);
            }
        }
    }
    set.into_iter().collect()
}

/// One fanring configuration.
#[derive(Clone, Debug)]
struct Config {
    dispatch: DispatchArg,
    order: OrderArg,
    batch: usize,
    mode: ModeArg,
    engine: EngineConfig,
}

/// The runs sharing a worker count and a work size: every fanring configuration and every
/// baseline, interleaved rep by rep.
struct Group {
    workers: usize,
    work_ns: u64,
    work: Work,
    configs: Vec<Config>,
}

type Hist = Histogram<u64>;

fn build_groups(args: &Args, workers: &[usize]) -> Vec<Group> {
    let mut groups = Vec::new();
    for &work_ns in &args.work_ns {
        let work = Work::busy_ns(work_ns);
        for &w in workers {
            let mut configs = Vec::new();
            for &mode in &args.mode {
                for &dispatch in &args.dispatch {
                    for &order in &args.order {
                        for &batch in &args.batch {
                            let engine = EngineConfig {
                                workers: w,
                                capacity: args.capacity,
                                batch,
                                wait: args.wait.strategy(),
                                dispatch: dispatch.dispatch(),
                                order: order.order(),
                                pinning: args.pin.pinning(),
                                allow_oversubscribed_spin: args.allow_oversubscribed_spin,
                                drive: mode == ModeArg::Drive,
                            };
                            configs.push(Config {
                                dispatch,
                                order,
                                batch,
                                mode,
                                engine,
                            });
                        }
                    }
                }
            }
            groups.push(Group {
                workers: w,
                work_ns,
                work,
                configs,
            });
        }
    }
    groups
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// One run's figures (latency percentiles in nanoseconds, `NaN` when not measured).
#[derive(Clone, Copy, Debug)]
struct Sample {
    secs: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

impl Sample {
    fn new(secs: f64, h: &Hist) -> Self {
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
        }
    }
}

/// Times `run`, which records latencies (every `every`-th item; none for 0) into the probe
/// it is given.
fn measure<E>(
    every: u64,
    run: impl FnOnce(Option<Probe<'_>>) -> Result<Tally, E>,
) -> Result<(Sample, Tally), E> {
    let mut h = latency_histogram();
    let probe = (every > 0).then_some(Probe {
        hist: &mut h,
        every,
    });
    let start = Instant::now();
    let tally = run(probe)?;
    let secs = start.elapsed().as_secs_f64();
    Ok((Sample::new(secs, &h), tally))
}

/// Every run of a workload must hand back the same tally.
fn check_tally(what: &str, got: Tally, want: &mut Option<Tally>, items: u64) {
    assert_eq!(got.count, items, "{what}: lost or duplicated items");
    match want {
        Some(w) => assert_eq!(got, *w, "{what}: checksum differs from the other runs"),
        None => *want = Some(got),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The medians of a list of samples.
#[derive(Clone, Copy, Debug)]
struct Summary {
    mitems_per_s: f64,
    ns_per_item: f64,
    p50: Option<f64>,
    p99: Option<f64>,
    p999: Option<f64>,
}

fn summarize(samples: &[Sample], items: u64) -> Summary {
    let med = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    let lat = |f: fn(&Sample) -> f64| {
        let v = med(f);
        (!v.is_nan()).then_some(v)
    };
    let secs = med(|s| s.secs);
    Summary {
        mitems_per_s: items as f64 / secs / 1e6,
        ns_per_item: secs * 1e9 / items as f64,
        p50: lat(|s| s.p50),
        p99: lat(|s| s.p99),
        p999: lat(|s| s.p999),
    }
}

/// Runs every configuration of `group` once on a small input: checks the settings (an engine
/// error ends the program before anything is measured), warms up, and returns the plan each
/// worker count gets.
fn preflight(group: &Group, items: u64) -> Result<Vec<PlanInfo>, RunError> {
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
            });
        }
    }
    Ok(plans)
}

/// Samples of one group: per fanring configuration, then per baseline.
struct GroupSamples {
    ours: Vec<Vec<Sample>>,
    base: Vec<Vec<Sample>>,
}

fn run_group(
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

// ---------------------------------------------------------------------------------------------
// Rows

/// One printed row (fanring configuration or baseline), as written to JSON and CSV.
#[derive(Clone, Debug, Serialize)]
struct Row {
    /// `fanring`, `crossbeam-seed`, `std-seed`, `rtrb-pipeline`, `sequential` (one thread,
    /// whatever `workers` says: the reference measured alongside), `rayon-bridge`, `pariter`.
    implementation: String,
    /// fanring's mode (`drive`, `thread`); `null` for baselines.
    mode: Option<String>,
    workers: usize,
    /// fanring's dispatch (`rr`, `least`, `key`); the seed and rtrb baselines are
    /// round-robin, rayon and pariter workers pull (`pull`), sequential has none (`-`).
    dispatch: String,
    /// fanring's order (`any`, `preserve`); baselines merge in any order.
    order: String,
    /// fanring's batch; `null` for baselines (one item at a time).
    batch: Option<usize>,
    work_ns: u64,
    items: u64,
    reps: u64,
    /// Median throughput, million items per second.
    mitems_per_s: f64,
    /// Median wall time per item, nanoseconds.
    ns_per_item: f64,
    /// Medians over the reps of each run's latency percentiles, nanoseconds (`null` with
    /// `--latency-every 0`).
    p50_ns: Option<f64>,
    p99_ns: Option<f64>,
    p999_ns: Option<f64>,
    /// Our throughput over each baseline's (fanring rows only, when that baseline ran).
    vs_crossbeam: Option<f64>,
    vs_std: Option<f64>,
    vs_rtrb: Option<f64>,
    vs_seq: Option<f64>,
    vs_rayon: Option<f64>,
    vs_pariter: Option<f64>,
    /// The engine's pinning plan (fanring rows only).
    plan: Option<String>,
}

fn rows_of(
    group: &Group,
    args: &Args,
    peers: &[Peer],
    s: &GroupSamples,
    plans: &[PlanInfo],
) -> Vec<Row> {
    let base: Vec<(Peer, Summary)> = peers
        .iter()
        .zip(&s.base)
        .map(|(&p, v)| (p, summarize(v, args.items)))
        .collect();
    let ratio = |ours: f64, peer: Peer| {
        base.iter()
            .find(|(p, _)| *p == peer)
            .map(|(_, b)| ours / b.mitems_per_s)
    };
    let row = |implementation: &str, dispatch: &str, order: &str, batch, m: &Summary| Row {
        implementation: implementation.to_string(),
        mode: None,
        workers: group.workers,
        dispatch: dispatch.to_string(),
        order: order.to_string(),
        batch,
        work_ns: group.work_ns,
        items: args.items,
        reps: args.reps,
        mitems_per_s: m.mitems_per_s,
        ns_per_item: m.ns_per_item,
        p50_ns: m.p50,
        p99_ns: m.p99,
        p999_ns: m.p999,
        vs_crossbeam: None,
        vs_std: None,
        vs_rtrb: None,
        vs_seq: None,
        vs_rayon: None,
        vs_pariter: None,
        plan: None,
    };
    let mut rows = Vec::new();
    for (c, v) in group.configs.iter().zip(&s.ours) {
        let m = summarize(v, args.items);
        let plan = plans
            .iter()
            .find(|p| p.workers == group.workers && p.mode == c.mode.name())
            .map(|p| p.plan.clone());
        rows.push(Row {
            mode: Some(c.mode.name().to_string()),
            vs_crossbeam: ratio(m.mitems_per_s, Peer::Crossbeam),
            vs_std: ratio(m.mitems_per_s, Peer::Std),
            vs_rtrb: ratio(m.mitems_per_s, Peer::Rtrb),
            vs_seq: ratio(m.mitems_per_s, Peer::Seq),
            vs_rayon: ratio(m.mitems_per_s, Peer::Rayon),
            vs_pariter: ratio(m.mitems_per_s, Peer::Pariter),
            plan,
            ..row(
                "fanring",
                c.dispatch.name(),
                c.order.name(),
                Some(c.batch),
                &m,
            )
        });
    }
    for (p, m) in &base {
        let (dispatch, order) = p.columns();
        rows.push(row(p.name(), dispatch, order, None, m));
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Open-loop latency

/// A row of the latency table: what carries the items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LatImpl {
    /// `Engine::builder().workers(W).map(..).run(paced)`, nothing else set.
    Fanring,
    /// fanring with `--lowlat-batch`, `--lowlat-capacity`, `--lowlat-wait`, `run` mode.
    LowLat,
    Crossbeam,
    Rtrb,
}

const LAT_IMPLS: [LatImpl; 4] = [
    LatImpl::Fanring,
    LatImpl::LowLat,
    LatImpl::Crossbeam,
    LatImpl::Rtrb,
];

impl LatImpl {
    fn name(self) -> &'static str {
        match self {
            LatImpl::Fanring => "fanring",
            LatImpl::LowLat => "fanring-lowlat",
            LatImpl::Crossbeam => "crossbeam-seed",
            LatImpl::Rtrb => "rtrb-pipeline",
        }
    }
}

/// The latency-tuned fanring: a distributor thread draining the paced source (`run`: with
/// `drive` the caller's thread would sleep in the source instead of taking outputs), a batch
/// of `--lowlat-batch` (1: each item is published as the source yields it instead of after
/// a run of 256 fills), rings of `--lowlat-capacity`, `--lowlat-wait`.
fn lowlat_config(args: &Args, workers: usize) -> EngineConfig {
    EngineConfig {
        capacity: args.lowlat_capacity,
        batch: args.lowlat_batch,
        wait: args.lowlat_wait.strategy(),
        allow_oversubscribed_spin: args.allow_oversubscribed_spin,
        drive: false,
        ..EngineConfig::new(workers)
    }
}

/// One paced (or, with an infinite rate, unpaced) run's figures.
#[derive(Clone, Copy, Debug)]
struct LatSample {
    /// Items taken out per second, from the schedule's start to the last one.
    achieved: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

/// `n` items released at `rate` items/s through `imp` with `workers` workers.
fn lat_run(
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
    let tally = match imp {
        LatImpl::Fanring => fanring_defaults_source(source, clock, workers, f, probe)?,
        LatImpl::LowLat => {
            fanring_engine_source(source, clock, &lowlat_config(args, workers), f, probe)?.0
        }
        LatImpl::Crossbeam => {
            crossbeam_seed_source(source, clock, workers, args.capacity, f, probe)
        }
        LatImpl::Rtrb => rtrb_pipeline_source(source, clock, workers, args.capacity, f, probe),
    };
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
    })
}

/// A point of the latency table.
#[derive(Clone, Copy, Debug)]
struct LatPoint {
    imp: LatImpl,
    workers: usize,
    /// The fraction of saturation it was derived from (`--load`), if any.
    load: Option<f64>,
    rate: f64,
}

/// The saturation throughput of one latency configuration (the paced source unpaced).
#[derive(Clone, Debug, Serialize)]
struct Saturation {
    config: String,
    workers: usize,
    work_ns: u64,
    items: u64,
    /// Median over the reps, items per second.
    items_per_s: f64,
}

/// One row of the latency table, as written to JSON and CSV.
#[derive(Clone, Debug, Serialize)]
struct LatRow {
    /// `fanring` (builder defaults), `fanring-lowlat`, `crossbeam-seed`, `rtrb-pipeline`.
    config: String,
    workers: usize,
    work_ns: u64,
    /// The `--load` fraction the offered rate came from (`null` for `--rate` rows).
    load: Option<f64>,
    /// Items per second the source was scheduled to release.
    offered_per_s: f64,
    /// Items per second taken out (median of the reps): items ÷ (last out − schedule start).
    achieved_per_s: f64,
    /// Items per run.
    items: u64,
    reps: u64,
    /// Latency from each item's scheduled time to the consumer taking it out, microseconds:
    /// medians over the reps of each rep's percentile, and the largest of any rep.
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
}

/// The whole latency table: saturation first (if any --load), then every point, interleaved
/// rep by rep.
fn run_latency(args: &Args, bar: &ProgressBar) -> Result<(Vec<Saturation>, Vec<LatRow>), RunError> {
    let work = Work::busy_ns(args.latency_work_ns);
    let loads = latency_loads(args);
    let pairs: Vec<(usize, LatImpl)> = args
        .latency_workers
        .iter()
        .flat_map(|&w| LAT_IMPLS.iter().map(move |&i| (w, i)))
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
        for &r in &args.rate {
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
            }
        })
        .collect();
    Ok((saturation, rows))
}

/// The --load fractions: as given, or 0.1 and 0.5 when neither --load nor --rate is.
fn latency_loads(args: &Args) -> Vec<f64> {
    match &args.load {
        Some(l) => l.clone(),
        None if args.rate.is_empty() => vec![0.1, 0.5],
        None => Vec::new(),
    }
}

/// Runs the latency table takes (for the progress bar).
fn latency_runs(args: &Args) -> u64 {
    let pairs = (args.latency_workers.len() * LAT_IMPLS.len()) as u64;
    let loads = latency_loads(args).len() as u64;
    let sat = if loads > 0 { pairs } else { 0 };
    (sat + pairs * (loads + args.rate.len() as u64)) * args.reps
}

/// Items per second with a unit: `950`, `12.3k`, `4.56M`.
fn fmt_rate(r: f64) -> String {
    if r >= 1e9 {
        format!("{:.2}G", r / 1e9)
    } else if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// Microseconds with three significant digits or so.
fn fmt_us(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2}")
    } else if us < 1000.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

fn latency_header() -> String {
    format!(
        "{:<15} {:>3} {:>7} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "config",
        "W",
        "work-ns",
        "load",
        "offered/s",
        "achieved/s",
        "p50(µs)",
        "p99(µs)",
        "p99.9(µs)",
        "max(µs)"
    )
}

fn format_lat_row(r: &LatRow) -> String {
    format!(
        "{:<15} {:>3} {:>7} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        r.config,
        r.workers,
        r.work_ns,
        r.load.map_or("-".to_string(), |l| format!("{l:.2}")),
        fmt_rate(r.offered_per_s),
        fmt_rate(r.achieved_per_s),
        fmt_us(r.p50_us),
        fmt_us(r.p99_us),
        fmt_us(r.p999_us),
        fmt_us(r.max_us),
    )
}

fn print_latency_intro(args: &Args, lowlat: &EngineConfig) {
    println!(
        "open-loop latency: item i released at t0 + i/R, latency from its scheduled time to \
         the consumer (coordinated omission corrected), µs; {} s per run, median of {} reps \
         (max: largest of any rep)",
        args.latency_secs, args.reps
    );
    println!(
        "  fanring = Engine::builder().workers(W).map(..).run(paced source), the builder's \
         defaults; fanring-lowlat = run mode, batch {}, capacity {}, {:?}",
        lowlat.batch, lowlat.capacity, lowlat.wait
    );
}

// ---------------------------------------------------------------------------------------------
// Break-even against the sequential loop

/// Workers at which the break-even is reported.
const BREAK_EVEN_WORKERS: usize = 2;

/// One fanring configuration's break-even work size.
#[derive(Clone, Debug, Serialize)]
struct BreakEvenConfig {
    /// `mode dispatch order bBATCH`.
    config: String,
    /// The smallest measured work size from which on (at it and at every larger size
    /// measured) this configuration moves more items per second than the sequential loop;
    /// `null` if it never does at the largest size.
    work_ns: Option<u64>,
    /// Its throughput ÷ the sequential loop's at that size.
    ratio: Option<f64>,
    /// (work_ns, ratio) at every size measured.
    ratios: Vec<(u64, f64)>,
}

/// The break-even of every fanring configuration at W = 2.
#[derive(Clone, Debug, Serialize)]
struct BreakEven {
    workers: usize,
    /// The smallest of the configurations' break-even work sizes.
    work_ns: Option<u64>,
    /// The configuration that reaches it (the highest ratio there on a tie).
    config: Option<String>,
    per_config: Vec<BreakEvenConfig>,
}

fn break_even(rows: &[Row]) -> Option<BreakEven> {
    let ours: Vec<&Row> = rows
        .iter()
        .filter(|r| r.implementation == "fanring" && r.workers == BREAK_EVEN_WORKERS)
        .filter(|r| r.vs_seq.is_some())
        .collect();
    if ours.is_empty() {
        return None;
    }
    let label = |r: &Row| {
        format!(
            "{} {} {} b{}",
            r.mode.as_deref().unwrap_or("-"),
            r.dispatch,
            r.order,
            r.batch.unwrap_or(0)
        )
    };
    let mut per_config: Vec<BreakEvenConfig> = Vec::new();
    for r in &ours {
        let l = label(r);
        let point = (r.work_ns, r.vs_seq.expect("filtered"));
        match per_config.iter_mut().find(|c| c.config == l) {
            Some(c) => c.ratios.push(point),
            None => per_config.push(BreakEvenConfig {
                config: l,
                work_ns: None,
                ratio: None,
                ratios: vec![point],
            }),
        }
    }
    for c in &mut per_config {
        c.ratios.sort_by_key(|p| p.0);
        // From the largest size down, while fanring still wins.
        for &(w, r) in c.ratios.iter().rev() {
            if r > 1.0 {
                c.work_ns = Some(w);
                c.ratio = Some(r);
            } else {
                break;
            }
        }
    }
    let best = per_config
        .iter()
        .filter(|c| c.work_ns.is_some())
        .min_by(|a, b| {
            a.work_ns
                .cmp(&b.work_ns)
                .then(b.ratio.unwrap_or(0.0).total_cmp(&a.ratio.unwrap_or(0.0)))
        });
    Some(BreakEven {
        workers: BREAK_EVEN_WORKERS,
        work_ns: best.and_then(|c| c.work_ns),
        config: best.map(|c| c.config.clone()),
        per_config,
    })
}

fn print_break_even(b: &BreakEven) {
    match (b.work_ns, &b.config) {
        (Some(w), Some(c)) => println!(
            "break-even at W={}: fanring beats the sequential loop from {w} ns of work per item \
             on (smallest measured size; first reached by {c})",
            b.workers
        ),
        _ => println!(
            "break-even at W={}: fanring does not beat the sequential loop at the largest \
             work size measured",
            b.workers
        ),
    }
    for c in &b.per_config {
        let ratios: Vec<String> = c
            .ratios
            .iter()
            .map(|(w, r)| format!("{w}ns {r:.2}×"))
            .collect();
        println!(
            "  {:<24} from {:>6}: {}",
            c.config,
            c.work_ns.map_or("never".to_string(), |w| format!("{w} ns")),
            ratios.join(", ")
        );
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// Printing

fn fmt_ns(ns: Option<f64>) -> String {
    let Some(ns) = ns else {
        return "-".to_string();
    };
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{:.1}µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{r:.2}×"))
}

fn header(peers: &[Peer]) -> String {
    let mut h = format!(
        "{:<15} {:<6} {:>3} {:<5} {:<8} {:>5} {:>7} {:>9} {:>8} {:>9} {:>9} {:>9}",
        "impl",
        "mode",
        "W",
        "disp",
        "order",
        "batch",
        "work-ns",
        "Mitem/s",
        "ns/item",
        "p50",
        "p99",
        "p99.9"
    );
    for p in peers {
        let _ = write!(h, " {:>10}", format!("vs {}", short(*p)));
    }
    h
}

fn short(p: Peer) -> &'static str {
    match p {
        Peer::Crossbeam => "xbeam",
        Peer::Std => "std",
        Peer::Rtrb => "rtrb",
        Peer::Seq => "seq",
        Peer::Rayon => "rayon",
        Peer::Pariter => "pariter",
    }
}

fn format_row(r: &Row, peers: &[Peer]) -> String {
    let mut s = format!(
        "{:<15} {:<6} {:>3} {:<5} {:<8} {:>5} {:>7} {:>9.2} {:>8.1} {:>9} {:>9} {:>9}",
        r.implementation,
        r.mode.as_deref().unwrap_or("-"),
        r.workers,
        r.dispatch,
        r.order,
        r.batch.map_or("-".to_string(), |b| b.to_string()),
        r.work_ns,
        r.mitems_per_s,
        r.ns_per_item,
        fmt_ns(r.p50_ns),
        fmt_ns(r.p99_ns),
        fmt_ns(r.p999_ns),
    );
    for p in peers {
        let v = match p {
            Peer::Crossbeam => r.vs_crossbeam,
            Peer::Std => r.vs_std,
            Peer::Rtrb => r.vs_rtrb,
            Peer::Seq => r.vs_seq,
            Peer::Rayon => r.vs_rayon,
            Peer::Pariter => r.vs_pariter,
        };
        let _ = write!(s, " {:>10}", fmt_ratio(v));
    }
    s
}

/// What the program measured on.
#[derive(Clone, Debug, Serialize)]
struct Machine {
    /// Cores this process may run on (`fanring::pinning::available_cores`).
    cores: usize,
    core_ids: Vec<usize>,
    /// `model name` from /proc/cpuinfo, when there is one.
    cpu_model: Option<String>,
    os: &'static str,
    arch: &'static str,
}

fn machine() -> Machine {
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
struct Settings {
    items: u64,
    capacity: usize,
    reps: u64,
    wait: String,
    pinning: String,
    /// Calibration of the busy work: hash rounds per nanosecond.
    work_rounds_per_ns: f64,
    /// Items stamped for latency: about 1 in N (0 = none).
    latency_every: u64,
    /// The engine's pinning plan for each worker count.
    plans: Vec<PlanInfo>,
    /// Latency table: seconds per paced run, work per item, and the fanring-lowlat
    /// settings (`null`s when the table was not run).
    latency_secs: Option<f64>,
    latency_work_ns: Option<u64>,
    lowlat: Option<String>,
}

/// The engine's pinning plan (its Display) for a worker count.
#[derive(Clone, Debug, Serialize)]
struct PlanInfo {
    workers: usize,
    /// fanring's mode (`drive`, `thread`).
    mode: String,
    plan: String,
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    settings: &'a Settings,
    /// The throughput table.
    rows: &'a [Row],
    /// W = 2, fanring against the sequential loop over the work sizes (`null` when the
    /// sequential baseline or W = 2 was not measured).
    break_even: Option<BreakEven>,
    /// Open-loop latency: each configuration's saturation (for --load), then the rows.
    latency_saturation: &'a [Saturation],
    latency: &'a [LatRow],
}

fn print_header(m: &Machine, s: &Settings) {
    println!(
        "machine: {} cores {:?}, {}, {}/{}",
        m.cores,
        m.core_ids,
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.os,
        m.arch
    );
    println!("wait strategy: {}", s.wait);
    println!("pinning: {}", s.pinning);
    for p in &s.plans {
        println!(
            "  plan with {} worker(s), {}: {}",
            p.workers, p.mode, p.plan
        );
    }
    println!(
        "items per run: {}, capacity: {}, reps: {} (medians shown), busy work: {:.2} hash rounds/ns",
        s.items, s.capacity, s.reps, s.work_rounds_per_ns
    );
    match s.latency_every {
        0 => println!("latency: not measured"),
        1 => println!("latency: every item, source stamp to main thread, under full load"),
        n => println!(
            "latency: about 1 item in {n} (hashed sample), source stamp to main thread, \
             under full load"
        ),
    }
    if m.cores < 4 {
        println!(
            "note: {} cores: with more threads than cores every figure is noisy",
            m.cores
        );
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// Files

fn write_json(path: &Path, report: &Report<'_>) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

fn write_csv(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let ns = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.0}"));
    let mut out = String::from(
        "implementation,workers,dispatch,order,batch,work_ns,items,reps,mitems_per_s,\
         ns_per_item,p50_ns,p99_ns,p999_ns,vs_crossbeam,vs_std,vs_rtrb,vs_seq,vs_rayon,\
         vs_pariter\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{:.4},{:.3},{},{},{},{},{},{},{},{},{}",
            r.implementation,
            r.workers,
            r.dispatch,
            r.order,
            r.batch.map_or(String::new(), |b| b.to_string()),
            r.work_ns,
            r.items,
            r.reps,
            r.mitems_per_s,
            r.ns_per_item,
            ns(r.p50_ns),
            ns(r.p99_ns),
            ns(r.p999_ns),
            opt(r.vs_crossbeam),
            opt(r.vs_std),
            opt(r.vs_rtrb),
            opt(r.vs_seq),
            opt(r.vs_rayon),
            opt(r.vs_pariter),
        );
    }
    std::fs::write(path, out)
}

/// A plotted line: its label, whether it is a baseline, and (workers, Mitem/s) points.
struct Series {
    label: String,
    baseline: bool,
    points: Vec<(f64, f64)>,
}

fn series(rows: &[Row]) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for r in rows {
        let baseline = r.implementation != "fanring";
        let label = if baseline {
            format!("{} work {}ns", r.implementation, r.work_ns)
        } else {
            format!(
                "fanring {} {} b{} work {}ns",
                r.dispatch,
                r.order,
                r.batch.unwrap_or(0),
                r.work_ns
            )
        };
        let point = (r.workers as f64, r.mitems_per_s);
        match out.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push(point),
            None => out.push(Series {
                label,
                baseline,
                points: vec![point],
            }),
        }
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// A tick label with two significant digits.
fn fmt_tick(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Throughput against workers, log scale; fanring solid, baselines dashed; the legend sits
/// in head room above the data.
fn write_plot(path: &Path, rows: &[Row], m: &Machine) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let lines = series(rows);
    let xs = rows.iter().map(|r| r.workers as f64);
    let (x_lo, x_hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let ys = rows.iter().map(|r| r.mitems_per_s);
    let (y_lo, y_hi) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "fanring vs baselines: throughput by workers ({} cores, {})",
        m.cores,
        m.cpu_model.as_deref().unwrap_or("unknown CPU")
    );
    // Head room for the legend: about 1.5 decades above the highest point.
    let head = 10f64.powf(0.25 * lines.len() as f64 / 4.0).max(4.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_lo - 0.25)..(x_hi + 0.25),
            ((y_lo / 1.5).max(1e-4)..(y_hi * head)).log_scale(),
        )?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("workers")
        .y_desc("million items/s (log scale)")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .x_labels(((x_hi - x_lo) as usize + 1).clamp(2, 16) * 2)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .y_labels(12)
        .y_label_formatter(&|y| fmt_tick(*y))
        .draw()?;
    for (i, s) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = color.stroke_width(2);
        let drawn = if s.baseline {
            chart.draw_series(DashedLineSeries::new(s.points.clone(), 8, 5, style))?
        } else {
            chart.draw_series(LineSeries::new(s.points.clone(), style))?
        };
        drawn
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn write_latency_csv(path: &Path, rows: &[LatRow]) -> std::io::Result<()> {
    let mut out = String::from(
        "config,workers,work_ns,load,offered_per_s,achieved_per_s,items,reps,p50_us,p99_us,\
         p999_us,max_us\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.1},{:.1},{},{},{:.3},{:.3},{:.3},{:.3}",
            r.config,
            r.workers,
            r.work_ns,
            r.load.map_or(String::new(), |l| format!("{l}")),
            r.offered_per_s,
            r.achieved_per_s,
            r.items,
            r.reps,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.max_us,
        );
    }
    std::fs::write(path, out)
}

/// `dir/stem.ext` → `dir/stem-latency.ext`.
fn latency_path(p: &Path) -> PathBuf {
    let stem = p
        .file_stem()
        .map_or("fanbench".into(), |s| s.to_string_lossy());
    let name = match p.extension() {
        Some(e) => format!("{stem}-latency.{}", e.to_string_lossy()),
        None => format!("{stem}-latency"),
    };
    p.with_file_name(name)
}

/// p50 (solid) and p99 (dashed, same colour) latency against the offered rate, both log
/// scales, one colour per configuration and worker count.
fn write_latency_plot(
    path: &Path,
    rows: &[LatRow],
    m: &Machine,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    // (label, [(offered rate, p50, p99)])
    type Line = (String, Vec<(f64, f64, f64)>);
    let mut lines: Vec<Line> = Vec::new();
    for r in rows {
        let label = format!("{} W={}", r.config, r.workers);
        let point = (r.offered_per_s, r.p50_us.max(1e-3), r.p99_us.max(1e-3));
        match lines.iter_mut().find(|l| l.0 == label) {
            Some(l) => l.1.push(point),
            None => lines.push((label, vec![point])),
        }
    }
    for l in &mut lines {
        l.1.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let (x_lo, x_hi) = rows.iter().fold((f64::MAX, f64::MIN), |(a, b), r| {
        (a.min(r.offered_per_s), b.max(r.offered_per_s))
    });
    let (y_lo, y_hi) = rows.iter().fold((f64::MAX, f64::MIN), |(a, b), r| {
        (a.min(r.p50_us.max(1e-3)), b.max(r.p99_us.max(1e-3)))
    });
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "open-loop latency (from the schedule): p50 solid, p99 dashed ({} cores, {})",
        m.cores,
        m.cpu_model.as_deref().unwrap_or("unknown CPU")
    );
    let head = 10f64.powf(0.2 * lines.len() as f64).max(4.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ((x_lo / 1.5).max(1e-3)..(x_hi * 1.5)).log_scale(),
            ((y_lo / 1.5)..(y_hi * head)).log_scale(),
        )?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("offered rate, items/s (log scale)")
        .y_desc("latency, µs (log scale)")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .x_label_formatter(&|x| fmt_rate(*x))
        .y_labels(12)
        .y_label_formatter(&|y| fmt_tick(*y))
        .draw()?;
    for (i, (label, pts)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = color.stroke_width(2);
        let p50: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
        let p99: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.2)).collect();
        chart
            .draw_series(LineSeries::new(p50.clone(), style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(DashedLineSeries::new(p99.clone(), 8, 5, style))?;
        chart.draw_series(
            p50.iter()
                .chain(&p99)
                .map(|&p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn write_outputs(args: &Args, report: &Report<'_>) -> Result<(), String> {
    let thr = args.measure.contains(&MeasureArg::Throughput);
    let lat = !report.latency.is_empty();
    if let Some(p) = &args.json {
        write_json(p, report).map_err(|e| format!("writing {}: {e}", p.display()))?;
    }
    if let Some(p) = &args.csv {
        if thr {
            write_csv(p, report.rows).map_err(|e| format!("writing {}: {e}", p.display()))?;
        }
        if lat {
            let q = latency_path(p);
            write_latency_csv(&q, report.latency)
                .map_err(|e| format!("writing {}: {e}", q.display()))?;
        }
    }
    if let Some(p) = &args.plot {
        if thr && !report.rows.is_empty() {
            write_plot(p, report.rows, report.machine)
                .map_err(|e| format!("drawing {}: {e}", p.display()))?;
        }
        if lat {
            let q = latency_path(p);
            write_latency_plot(&q, report.latency, report.machine)
                .map_err(|e| format!("drawing {}: {e}", q.display()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Main

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

enum Failure {
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

fn run(args: &Args) -> Result<(), Failure> {
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
            for imp in LAT_IMPLS {
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
        work_rounds_per_ns: baselines::rounds_per_ns(),
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

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(msg)) => {
            eprintln!("fanbench: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("fanbench: {msg}");
            ExitCode::FAILURE
        }
    }
}
