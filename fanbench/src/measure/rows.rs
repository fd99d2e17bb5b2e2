//! The image-rows table (`--measure rows`): a coarse-grained workload with a buffer allocated
//! per item, fanring against the plain loop, rayon and the crossbeam seed, every
//! configuration once per rep, interleaved.

use std::time::{Duration, Instant};

use fanbench::baselines::rows::{rows_crossbeam, rows_fanring, rows_rayon, rows_sequential};
use fanbench::baselines::RunError;
use fanbench::rows::{RowSpec, RowTally};
use indicatif::ProgressBar;

use crate::cli::{Args, ModeArg, OrderArg};
use crate::measure::cpu::{cpu_of, CpuUse};
use crate::report::RowsRow;
use crate::stats::{median, median_of};

/// What carries the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowsImpl {
    /// One thread, no pipeline: the reference.
    Sequential,
    /// fanring with the builder's defaults but the order, `run` or `drive`.
    Fanring {
        mode: ModeArg,
        order: OrderArg,
    },
    Rayon,
    Crossbeam,
}

/// One row of the table: an implementation and a worker count.
#[derive(Clone, Copy, Debug)]
pub struct RowsConfig {
    pub imp: RowsImpl,
    pub workers: usize,
}

impl RowsConfig {
    pub fn name(self) -> &'static str {
        match self.imp {
            RowsImpl::Sequential => "sequential",
            RowsImpl::Fanring { .. } => "fanring",
            RowsImpl::Rayon => "rayon-bridge",
            RowsImpl::Crossbeam => "crossbeam-seed",
        }
    }

    /// fanring's mode (`drive`, `thread`); `None` for the peers.
    pub fn mode(self) -> Option<&'static str> {
        match self.imp {
            RowsImpl::Fanring { mode, .. } => Some(mode.name()),
            _ => None,
        }
    }

    /// The order its output comes in.
    pub fn order(self) -> &'static str {
        match self.imp {
            RowsImpl::Sequential => "preserve",
            RowsImpl::Fanring { order, .. } => order.name(),
            RowsImpl::Rayon | RowsImpl::Crossbeam => "any",
        }
    }

    fn run(self, spec: RowSpec, capacity: usize) -> Result<RowTally, RunError> {
        Ok(match self.imp {
            RowsImpl::Sequential => rows_sequential(spec),
            RowsImpl::Fanring { mode, order } => {
                rows_fanring(spec, self.workers, order.order(), mode == ModeArg::Drive)?
            }
            RowsImpl::Rayon => rows_rayon(spec, self.workers),
            RowsImpl::Crossbeam => rows_crossbeam(spec, self.workers, capacity),
        })
    }
}

/// The table's rows: the plain loop once, then for each worker count fanring in each --mode
/// and --order, rayon and the crossbeam seed.
pub fn rows_configs(args: &Args, workers: &[usize]) -> Vec<RowsConfig> {
    let mut v = vec![RowsConfig {
        imp: RowsImpl::Sequential,
        workers: 1,
    }];
    for &w in workers {
        for &mode in &args.mode {
            for &order in &args.order {
                v.push(RowsConfig {
                    imp: RowsImpl::Fanring { mode, order },
                    workers: w,
                });
            }
        }
        for imp in [RowsImpl::Rayon, RowsImpl::Crossbeam] {
            v.push(RowsConfig { imp, workers: w });
        }
    }
    v
}

/// The image the table renders: --rows rows, each about --row-us of work here.
pub fn rows_spec(args: &Args) -> RowSpec {
    RowSpec::calibrate(Duration::from_secs_f64(args.row_us * 1e-6), args.rows)
}

/// One run: wall seconds and what the process used.
#[derive(Clone, Copy, Debug)]
struct RowsSample {
    secs: f64,
    cpu: Option<CpuUse>,
}

/// Every configuration once per rep, interleaved; each run's tally checked against the
/// plain loop's (and its order, where the configuration keeps it).
pub fn run_rows(
    args: &Args,
    spec: RowSpec,
    configs: &[RowsConfig],
    bar: &ProgressBar,
) -> Result<Vec<RowsRow>, RunError> {
    let want = rows_sequential(spec);
    let mut samples = vec![Vec::new(); configs.len()];
    for rep in 0..args.reps {
        for (k, c) in configs.iter().enumerate() {
            bar.set_message(format!(
                "rows W={} {} {} {} (rep {})",
                c.workers,
                c.name(),
                c.mode().unwrap_or("-"),
                c.order(),
                rep + 1
            ));
            let start = Instant::now();
            let (tally, cpu) = cpu_of(|| c.run(spec, args.capacity));
            let secs = start.elapsed().as_secs_f64();
            let tally = tally?;
            assert_eq!(
                (tally.rows, tally.checksum),
                (want.rows, want.checksum),
                "{}: rows lost, duplicated or rendered wrong",
                c.name()
            );
            if c.order() == "preserve" {
                assert!(tally.in_order, "{}: rows out of order", c.name());
            }
            samples[k].push(RowsSample { secs, cpu });
            bar.inc(1);
        }
    }
    let n = spec.height;
    let rate = |v: &[RowsSample]| n as f64 / median(v.iter().map(|s| s.secs).collect());
    let seq = rate(&samples[0]);
    Ok(configs
        .iter()
        .zip(&samples)
        .map(|(c, v)| {
            let r = rate(v);
            RowsRow {
                implementation: c.name().to_string(),
                mode: c.mode().map(String::from),
                workers: c.workers,
                order: c.order().to_string(),
                rows: n,
                width: spec.width,
                reps: args.reps,
                rows_per_s: r,
                us_per_row: 1e6 / r,
                vs_seq: r / seq,
                cpu_us_per_row: median_of(v, |s| s.cpu.map(|c| c.cpu_us_per_item(n))),
                cores_busy: median_of(v, |s| s.cpu.map(|c| c.cores_busy())),
                switches_per_row: median_of(v, |s| s.cpu.map(|c| c.switches_per_item(n))),
            }
        })
        .collect())
}
