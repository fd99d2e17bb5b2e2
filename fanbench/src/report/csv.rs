//! The throughput rows and the latency rows as CSV (`--csv`).

use std::fmt::Write as _;
use std::path::Path;

use crate::report::{IdleRow, LatRow, PipelineRow, Row, RowsRow};

/// One line per throughput row; (implementation, mode, workers, dispatch, order, batch,
/// work_ns) is unique (mode and batch empty for the peers).
pub fn write_csv(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let small = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3e}"));
    let ns = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.0}"));
    let mut out = String::from(
        "implementation,mode,workers,dispatch,order,batch,work_ns,items,reps,mitems_per_s,\
         ns_per_item,p50_ns,p99_ns,p999_ns,vs_crossbeam,vs_std,vs_rtrb,vs_seq,vs_rayon,\
         vs_pariter,vs_blocking,vs_tokio_mpsc,vs_seq_round_min,vs_seq_round_max,\
         cpu_s_per_mitem,cores_busy,switches_per_item\n",
    );
    let round = |r: &Row, pick: fn(f64, f64) -> f64| {
        opt(r
            .vs_seq_rounds
            .as_ref()
            .and_then(|v| v.iter().copied().reduce(pick)))
    };
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{:.4},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.implementation,
            r.mode.as_deref().unwrap_or(""),
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
            opt(r.vs_blocking),
            opt(r.vs_tokio_mpsc),
            round(r, f64::min),
            round(r, f64::max),
            opt(r.cpu_s_per_mitem),
            opt(r.cores_busy),
            small(r.switches_per_item),
        );
    }
    std::fs::write(path, out)
}

/// One line per latency row; (config, workers, work_ns, load, offered_per_s) is unique (load
/// empty for the --rate rows).
pub fn write_latency_csv(path: &Path, rows: &[LatRow]) -> std::io::Result<()> {
    let mut out = String::from(
        "config,workers,work_ns,load,offered_per_s,achieved_per_s,items,reps,p50_us,p99_us,\
         p999_us,max_us,cpu_us_per_item,cores_busy,switches_per_item\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.1},{:.1},{},{},{:.3},{:.3},{:.3},{:.3},{},{},{}",
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
            opt(r.cpu_us_per_item),
            opt(r.cores_busy),
            opt(r.switches_per_item),
        );
    }
    std::fs::write(path, out)
}

/// One line per image-rows row (`FILE-rows.csv`); (implementation, mode, workers, order) is
/// unique (mode empty for the peers).
pub fn write_rows_csv(path: &Path, rows: &[RowsRow]) -> std::io::Result<()> {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let mut out = String::from(
        "implementation,mode,workers,order,rows,width,reps,rows_per_s,us_per_row,vs_seq,\
         cpu_us_per_row,cores_busy,switches_per_row\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{:.1},{:.3},{:.4},{},{},{}",
            r.implementation,
            r.mode.as_deref().unwrap_or(""),
            r.workers,
            r.order,
            r.rows,
            r.width,
            r.reps,
            r.rows_per_s,
            r.us_per_row,
            r.vs_seq,
            opt(r.cpu_us_per_row),
            opt(r.cores_busy),
            opt(r.switches_per_row),
        );
    }
    std::fs::write(path, out)
}

/// One line per idle-check row (`FILE-idle.csv`); (config, workers) is unique.
pub fn write_idle_csv(path: &Path, rows: &[IdleRow]) -> std::io::Result<()> {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let mut out =
        String::from("config,workers,fed,gap_us,reps,window_ms,cpu_pct,cpu_pct_max,switches\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            r.config,
            r.workers,
            r.fed,
            r.gap_us,
            r.reps,
            opt(r.window_ms),
            opt(r.cpu_pct),
            opt(r.cpu_pct_max),
            opt(r.switches),
        );
    }
    std::fs::write(path, out)
}

/// One line per pipeline row (`FILE-pipeline.csv`); (workload, implementation, workers) is
/// unique.
pub fn write_pipeline_csv(path: &Path, rows: &[PipelineRow]) -> std::io::Result<()> {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let mut out = String::from(
        "workload,stages,implementation,workers,items,reps,items_per_s,us_per_item,vs_plain,\
         vs_plain_round_min,vs_plain_round_max,cpu_us_per_item,cores_busy,switches_per_item,\
         fastest\n",
    );
    for r in rows {
        // Round k against the plain loop's round k (the rounds are interleaved).
        let plain = rows.iter().find(|p| {
            p.workload == r.workload && p.implementation == crate::report::pipeline::PLAIN
        });
        let ratios: Vec<f64> = plain.map_or(Vec::new(), |p| {
            r.items_per_s_rounds
                .iter()
                .zip(&p.items_per_s_rounds)
                .map(|(a, b)| a / b)
                .collect()
        });
        let pick = |f: fn(f64, f64) -> f64| opt(ratios.iter().copied().reduce(f));
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.1},{:.3},{:.4},{},{},{},{},{},{}",
            r.workload,
            r.stages,
            r.implementation,
            r.workers,
            r.items,
            r.reps,
            r.items_per_s,
            r.us_per_item,
            r.vs_plain,
            pick(f64::min),
            pick(f64::max),
            opt(r.cpu_us_per_item),
            opt(r.cores_busy),
            opt(r.switches_per_item),
            r.fastest,
        );
    }
    std::fs::write(path, out)
}
