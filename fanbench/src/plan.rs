//! The plan of runs: the peers, the fanring configurations grouped by worker count and work
//! size (throughput), and the configurations and offered loads of the latency table.

use std::collections::BTreeSet;

use fanbench::baselines::{
    crossbeam_seed, fanring_engine, pariter_map, rayon_bridge, rtrb_pipeline, sequential,
    std_mpsc_seed, EngineConfig,
};
use fanbench::{Probe, Tally, Work};

use crate::cli::{Args, BaselineArg, DispatchArg, ModeArg, OrderArg};

// ---------------------------------------------------------------------------------------------
// Throughput

/// A baseline peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    Crossbeam,
    Std,
    Rtrb,
    Seq,
    Rayon,
    Pariter,
    /// fanring's `Output` read as a `Stream` (`--features async`).
    Stream,
    /// fanring's blocking `Output`, the same settings as [`Peer::Stream`].
    Blocking,
    TokioMpsc,
    Buffered,
    BufferUnordered,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Crossbeam => "crossbeam-seed",
            Peer::Std => "std-seed",
            Peer::Rtrb => "rtrb-pipeline",
            Peer::Seq => "sequential",
            Peer::Rayon => "rayon-bridge",
            Peer::Pariter => "pariter",
            Peer::Stream => "fanring-stream",
            Peer::Blocking => "fanring-blocking",
            Peer::TokioMpsc => "tokio-mpsc",
            Peer::Buffered => "buffered",
            Peer::BufferUnordered => "buffer-unordered",
        }
    }

    /// Whether fanring's rows get a `vs` column for this peer (the async rows are compared
    /// with each other instead, under the group: [`crate::stats::async_ratios`]).
    pub fn has_column(self) -> bool {
        !matches!(
            self,
            Peer::Stream
                | Peer::Blocking
                | Peer::TokioMpsc
                | Peer::Buffered
                | Peer::BufferUnordered
        )
    }

    /// (dispatch, order) columns of its rows.
    pub fn columns(self) -> (&'static str, &'static str) {
        match self {
            Peer::Crossbeam
            | Peer::Std
            | Peer::Rtrb
            | Peer::Stream
            | Peer::Blocking
            | Peer::TokioMpsc => ("rr", "any"),
            Peer::Buffered => ("-", "preserve"),
            Peer::BufferUnordered => ("-", "any"),
            Peer::Seq => ("-", "preserve"),
            Peer::Rayon => ("pull", "any"),
            Peer::Pariter => ("pull", "preserve"),
        }
    }

    pub fn run(
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
            Peer::Stream | Peer::Blocking => {
                let cfg = EngineConfig {
                    capacity,
                    ..EngineConfig::new(workers)
                };
                let r = if self == Peer::Stream {
                    run_stream(items, &cfg, f, lat)
                } else {
                    fanring_engine(items, &cfg, f, lat).map(|r| r.0)
                };
                r.unwrap_or_else(|e| panic!("{}: {e}", self.name()))
            }
            Peer::TokioMpsc | Peer::Buffered | Peer::BufferUnordered => {
                run_tokio(self, items, workers, capacity, work, lat)
            }
        }
    }
}

#[cfg(feature = "async")]
fn run_stream(
    items: u64,
    cfg: &EngineConfig,
    f: impl Fn(u64) -> u64 + Clone + Send + Sync + 'static,
    lat: Option<Probe<'_>>,
) -> Result<Tally, fanbench::baselines::RunError> {
    fanbench::baselines::async_peers::fanring_stream(items, cfg, f, lat)
}

#[cfg(feature = "async")]
fn run_tokio(
    p: Peer,
    items: u64,
    workers: usize,
    capacity: usize,
    work: Work,
    lat: Option<Probe<'_>>,
) -> Tally {
    use fanbench::baselines::async_peers::{spawn_blocking_pool, tokio_mpsc};
    let f = work.func();
    match p {
        Peer::TokioMpsc => tokio_mpsc(items, workers, capacity, f, lat),
        Peer::Buffered => spawn_blocking_pool(items, workers, true, f, lat),
        _ => spawn_blocking_pool(items, workers, false, f, lat),
    }
}

// Without the feature, `cli::validate` refuses the async baselines before anything runs.
#[cfg(not(feature = "async"))]
fn run_stream(
    _: u64,
    _: &EngineConfig,
    _: impl Fn(u64) -> u64,
    _: Option<Probe<'_>>,
) -> Result<Tally, fanbench::baselines::RunError> {
    unreachable!("the async rows need --features async (checked by cli::validate)")
}

#[cfg(not(feature = "async"))]
fn run_tokio(_: Peer, _: u64, _: usize, _: usize, _: Work, _: Option<Probe<'_>>) -> Tally {
    unreachable!("the async rows need --features async (checked by cli::validate)")
}

pub fn peers(sel: &[BaselineArg]) -> Vec<Peer> {
    let set: BTreeSet<Peer> = sel.iter().flat_map(|b| members(*b)).copied().collect();
    set.into_iter().collect()
}

/// The peers one `--baseline` value selects.
fn members(b: BaselineArg) -> &'static [Peer] {
    use Peer::{
        Blocking, BufferUnordered, Buffered, Crossbeam, Pariter, Rayon, Rtrb, Seq, Std, Stream,
        TokioMpsc,
    };
    match b {
        BaselineArg::None => &[],
        BaselineArg::Crossbeam => &[Crossbeam],
        BaselineArg::Std => &[Std],
        BaselineArg::Rtrb => &[Rtrb],
        BaselineArg::All => &[Crossbeam, Std],
        BaselineArg::Seq => &[Seq],
        BaselineArg::Rayon => &[Rayon],
        BaselineArg::Pariter => &[Pariter],
        BaselineArg::Alt => &[Seq, Rayon, Pariter],
        BaselineArg::Stream => &[Stream, Blocking],
        BaselineArg::Tokio => &[TokioMpsc],
        BaselineArg::Buffered => &[Buffered, BufferUnordered],
        BaselineArg::Async => &[Stream, Blocking, TokioMpsc, Buffered, BufferUnordered],
    }
}

/// One fanring configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub dispatch: DispatchArg,
    pub order: OrderArg,
    pub batch: usize,
    pub mode: ModeArg,
    pub engine: EngineConfig,
}

/// The runs sharing a worker count and a work size: every fanring configuration and every
/// baseline, interleaved rep by rep.
pub struct Group {
    pub workers: usize,
    pub work_ns: u64,
    pub work: Work,
    pub configs: Vec<Config>,
}

pub fn build_groups(args: &Args, workers: &[usize]) -> Vec<Group> {
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
// Latency

/// A row of the latency table: what carries the items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatImpl {
    /// `Engine::builder().workers(W).map(..).run(paced)`, nothing else set.
    Fanring,
    /// fanring with `--lowlat-batch`, `--lowlat-capacity`, `--lowlat-wait`, `run` mode.
    LowLat,
    /// The `Fanring` row's farm, then two more stages of W workers passing items on: a
    /// three-stage graph (`Pipeline::then`), defaults.
    Graph3,
    Crossbeam,
    Rtrb,
    /// The `Fanring` row's engine, its `Output` read as a `Stream` (`--features async`).
    Stream,
    TokioMpsc,
    Buffered,
    BufferUnordered,
}

/// The rows every latency table has.
pub const LAT_IMPLS: [LatImpl; 5] = [
    LatImpl::Fanring,
    LatImpl::LowLat,
    LatImpl::Graph3,
    LatImpl::Crossbeam,
    LatImpl::Rtrb,
];

/// The latency table's rows: [`LAT_IMPLS`], then the async rows --baseline selects.
pub fn lat_impls(args: &Args) -> Vec<LatImpl> {
    let mut v = LAT_IMPLS.to_vec();
    for p in peers(&args.baseline) {
        match p {
            Peer::Stream => v.push(LatImpl::Stream),
            Peer::TokioMpsc => v.push(LatImpl::TokioMpsc),
            Peer::Buffered => v.push(LatImpl::Buffered),
            Peer::BufferUnordered => v.push(LatImpl::BufferUnordered),
            _ => {}
        }
    }
    v
}

impl LatImpl {
    /// The rows read through tokio (`--features async`).
    pub fn is_async(self) -> bool {
        matches!(
            self,
            LatImpl::Stream | LatImpl::TokioMpsc | LatImpl::Buffered | LatImpl::BufferUnordered
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            LatImpl::Fanring => "fanring",
            LatImpl::LowLat => "fanring-lowlat",
            LatImpl::Graph3 => "fanring-graph3",
            LatImpl::Crossbeam => "crossbeam-seed",
            LatImpl::Rtrb => "rtrb-pipeline",
            LatImpl::Stream => "fanring-stream",
            LatImpl::TokioMpsc => "tokio-mpsc",
            LatImpl::Buffered => "buffered",
            LatImpl::BufferUnordered => "buffer-unordered",
        }
    }
}

/// The latency-tuned fanring: a distributor thread draining the paced source (`run`: with
/// `drive` the caller's thread would sleep in the source instead of taking outputs), a batch
/// of `--lowlat-batch`, rings of `--lowlat-capacity`, `--lowlat-wait` (by default: the
/// builder's defaults with `WaitStrategy::LOW_LATENCY`).
pub fn lowlat_config(args: &Args, workers: usize) -> EngineConfig {
    EngineConfig {
        capacity: args.lowlat_capacity,
        batch: args.lowlat_batch,
        wait: args.lowlat_wait.strategy(),
        allow_oversubscribed_spin: args.allow_oversubscribed_spin,
        drive: false,
        ..EngineConfig::new(workers)
    }
}

/// The fixed offered rates of the latency table when --rate is not given: quiet inputs,
/// where what a pipeline costs while it waits shows.
pub const DEFAULT_RATES: [f64; 3] = [10_000.0, 100_000.0, 1_000_000.0];

/// The --load fractions of the default latency table.
pub const DEFAULT_LOADS: [f64; 2] = [0.1, 0.5];

/// The --rate rates: as given, or [`DEFAULT_RATES`].
pub fn latency_rates(args: &Args) -> Vec<f64> {
    args.rate.clone().unwrap_or_else(|| DEFAULT_RATES.to_vec())
}

/// The --load fractions: as given; else [`DEFAULT_LOADS`], unless --rate is given (then
/// none: the rates asked for alone).
pub fn latency_loads(args: &Args) -> Vec<f64> {
    match (&args.load, &args.rate) {
        (Some(l), _) => l.clone(),
        (None, None) => DEFAULT_LOADS.to_vec(),
        (None, Some(_)) => Vec::new(),
    }
}

/// Runs the latency table takes (for the progress bar).
pub fn latency_runs(args: &Args) -> u64 {
    let pairs = (args.latency_workers.len() * lat_impls(args).len()) as u64;
    let loads = latency_loads(args).len() as u64;
    let sat = if loads > 0 { pairs } else { 0 };
    (sat + pairs * (loads + latency_rates(args).len() as u64)) * args.reps
}
