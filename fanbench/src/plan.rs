//! The plan of runs: the peers, the fanring configurations grouped by worker count and work
//! size (throughput), and the configurations and offered loads of the latency table.

use std::collections::BTreeSet;

use fanbench::baselines::{
    crossbeam_seed, pariter_map, rayon_bridge, rtrb_pipeline, sequential, std_mpsc_seed,
    EngineConfig,
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
        }
    }

    /// (dispatch, order) columns of its rows.
    pub fn columns(self) -> (&'static str, &'static str) {
        match self {
            Peer::Crossbeam | Peer::Std | Peer::Rtrb => ("rr", "any"),
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
        }
    }
}

pub fn peers(sel: &[BaselineArg]) -> Vec<Peer> {
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
    Crossbeam,
    Rtrb,
}

pub const LAT_IMPLS: [LatImpl; 4] = [
    LatImpl::Fanring,
    LatImpl::LowLat,
    LatImpl::Crossbeam,
    LatImpl::Rtrb,
];

impl LatImpl {
    pub fn name(self) -> &'static str {
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

/// The --load fractions: as given, or 0.1 and 0.5 when neither --load nor --rate is.
pub fn latency_loads(args: &Args) -> Vec<f64> {
    match &args.load {
        Some(l) => l.clone(),
        None if args.rate.is_empty() => vec![0.1, 0.5],
        None => Vec::new(),
    }
}

/// Runs the latency table takes (for the progress bar).
pub fn latency_runs(args: &Args) -> u64 {
    let pairs = (args.latency_workers.len() * LAT_IMPLS.len()) as u64;
    let loads = latency_loads(args).len() as u64;
    let sat = if loads > 0 { pairs } else { 0 };
    (sat + pairs * (loads + args.rate.len() as u64)) * args.reps
}
