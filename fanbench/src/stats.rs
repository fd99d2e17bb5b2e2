//! From samples to rows: medians over the reps, ratios against the peers, and the break-even
//! work size against the sequential loop.

use crate::cli::Args;
use crate::measure::throughput::{GroupSamples, Sample};
use crate::plan::{Group, Peer};
use std::collections::BTreeSet;

use crate::report::table::config_label;
use crate::report::{BreakEven, BreakEvenConfig, PlanInfo, Row};

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The median of the values every sample has (`None` if one has none, or there are none).
pub fn median_of<T>(samples: &[T], f: impl Fn(&T) -> Option<f64>) -> Option<f64> {
    let v: Option<Vec<f64>> = samples.iter().map(f).collect();
    v.filter(|v| !v.is_empty()).map(median)
}

/// The medians of a list of samples.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub mitems_per_s: f64,
    pub ns_per_item: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    /// CPU seconds per million items, the whole process (`None` off Linux).
    pub cpu_s_per_mitem: Option<f64>,
    /// CPU seconds ÷ wall seconds of the run.
    pub cores_busy: Option<f64>,
    /// Context switches per item.
    pub switches_per_item: Option<f64>,
}

pub fn summarize(samples: &[Sample], items: u64) -> Summary {
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
        cpu_s_per_mitem: median_of(samples, |s| s.cpu.map(|c| c.cpu_secs * 1e6 / items as f64)),
        cores_busy: median_of(samples, |s| s.cpu.map(|c| c.cores_busy())),
        switches_per_item: median_of(samples, |s| s.cpu.map(|c| c.switches_per_item(items))),
    }
}

/// Round by round, the sequential loop's time over a fanring configuration's: rep k of one
/// against rep k of the other (they ran next to each other, so a disturbance that slows a
/// whole round cancels). `None` without the sequential peer.
pub fn round_ratios(ours: &[Sample], peers: &[Peer], base: &[Vec<Sample>]) -> Option<Vec<f64>> {
    let k = peers.iter().position(|&p| p == Peer::Seq)?;
    Some(
        ours.iter()
            .zip(&base[k])
            .map(|(o, s)| s.secs / o.secs.max(1e-12))
            .collect(),
    )
}

pub fn rows_of(
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
        vs_blocking: None,
        vs_tokio_mpsc: None,
        vs_seq_rounds: None,
        cpu_s_per_mitem: m.cpu_s_per_mitem,
        cores_busy: m.cores_busy,
        switches_per_item: m.switches_per_item,
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
            vs_seq_rounds: round_ratios(v, peers, &s.base),
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
        let mut r = row(p.name(), dispatch, order, None, m);
        if *p == Peer::Stream {
            r.vs_blocking = ratio(m.mitems_per_s, Peer::Blocking);
            r.vs_tokio_mpsc = ratio(m.mitems_per_s, Peer::TokioMpsc);
        }
        rows.push(r);
    }
    rows
}

/// The line under a group with async rows: the `Stream` against the blocking `Output` and
/// against tokio `mpsc` (`None` when the group has no `fanring-stream` row).
pub fn async_ratios(rows: &[Row]) -> Option<String> {
    let r = rows.iter().find(|r| r.implementation == "fanring-stream")?;
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}×"));
    Some(format!(
        "  W={} fanring-stream ÷ fanring-blocking: {}, ÷ tokio-mpsc: {}",
        r.workers,
        f(r.vs_blocking),
        f(r.vs_tokio_mpsc)
    ))
}

/// Workers at which the break-even is reported.
pub const BREAK_EVEN_WORKERS: usize = 2;

pub fn break_even(rows: &[Row]) -> Option<BreakEven> {
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
    let batches: BTreeSet<Option<usize>> = ours.iter().map(|r| r.batch).collect();
    let mut per_config: Vec<BreakEvenConfig> = Vec::new();
    for r in &ours {
        let l = label(r);
        let point = (r.work_ns, r.vs_seq.expect("filtered"));
        match per_config.iter_mut().find(|c| c.config == l) {
            Some(c) => c.ratios.push(point),
            None => per_config.push(BreakEvenConfig {
                config: l,
                label: config_label(
                    r.mode.as_deref().unwrap_or("-"),
                    &r.dispatch,
                    &r.order,
                    r.batch.unwrap_or(0),
                    batches.len() > 1,
                ),
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
