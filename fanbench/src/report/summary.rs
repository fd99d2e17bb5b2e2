//! The line under each table group that says who won and by how much: against the next best
//! row, and against the best row of the other side (the best peer when fanring wins, the best
//! fanring row when a peer does).

use std::collections::BTreeSet;

use crate::report::table::{config_label, fmt_rate, fmt_us};
use crate::report::{LatRow, Row};

/// fanring's own rows: the engine's configurations, and its `Output` read as a `Stream` or
/// iterated beside it (`fanring-stream`, `fanring-blocking`). Everything else is a peer.
pub fn is_fanring(implementation: &str) -> bool {
    implementation == "fanring" || implementation.starts_with("fanring-")
}

/// A throughput row as the summary names it: `fanring drive/rr/any` (with the batch when the
/// rows have several), or the peer's name.
pub fn row_name(r: &Row, with_batch: bool) -> String {
    match (&r.mode, r.batch) {
        (Some(mode), Some(batch)) if r.implementation == "fanring" => format!(
            "fanring {}",
            config_label(mode, &r.dispatch, &r.order, batch, with_batch)
        ),
        _ => r.implementation.clone(),
    }
}

/// A ratio: `1.05×`, `33.6×`.
fn times(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

/// Million items per second, three significant digits or so.
pub fn fmt_mitems(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The winner of one throughput group (one worker count and work size): `None` for no rows.
///
/// `throughput W=2, 1000 ns of work per item: fanring thread/rr/any is fastest, 1.97 M
/// items/s: 1.01× the next best (fanring drive/rr/any, 1.95 M) and 1.05× the best peer
/// (rayon-bridge, 1.88 M)`.
pub fn throughput_winner(rows: &[Row]) -> Option<String> {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| b.mitems_per_s.total_cmp(&a.mitems_per_s));
    let best = *sorted.first()?;
    let batches: BTreeSet<usize> = rows.iter().filter_map(|r| r.batch).collect();
    let name = |r: &Row| row_name(r, batches.len() > 1);
    let head = format!(
        "throughput W={}, {} ns of work per item:",
        best.workers, best.work_ns
    );
    let ours = is_fanring(&best.implementation);
    let who = if ours {
        name(best)
    } else {
        format!("{} (a peer)", name(best))
    };
    let Some(next) = sorted.get(1) else {
        return Some(format!(
            "{head} {who}, {} M items/s (the only row)",
            fmt_mitems(best.mitems_per_s)
        ));
    };
    let other = sorted
        .iter()
        .find(|r| is_fanring(&r.implementation) != ours)
        .copied();
    let side = if ours {
        "the best peer"
    } else {
        "the best fanring row"
    };
    let vs = |r: &Row| times(best.mitems_per_s / r.mitems_per_s.max(f64::MIN_POSITIVE));
    let named = |r: &Row| format!("{}, {} M", name(r), fmt_mitems(r.mitems_per_s));
    let against = match other {
        Some(o) if std::ptr::eq(o, *next) => {
            format!("{} the next best, also {side} ({})", vs(next), named(next))
        }
        Some(o) => format!(
            "{} the next best ({}) and {} {side} ({})",
            vs(next),
            named(next),
            vs(o),
            named(o)
        ),
        None => format!(
            "{} the next best ({}); no {} measured",
            vs(next),
            named(next),
            if ours { "peer" } else { "fanring row" }
        ),
    };
    Some(format!(
        "{head} {who} is fastest, {} M items/s: {against}",
        fmt_mitems(best.mitems_per_s)
    ))
}

/// One line per latency group (worker count, work size, and offered load or rate) and
/// percentile (p50, p99): the lowest latency and how much longer the next best and the best
/// row of the other side take. In the order the groups first appear.
pub fn latency_winners(rows: &[LatRow]) -> Vec<String> {
    // (workers, work_ns, load or rate): f64s compared by their bits, as written.
    type Key = (usize, u64, Option<u64>, u64);
    let key = |r: &LatRow| -> Key {
        match r.load {
            Some(l) => (r.workers, r.work_ns, Some(l.to_bits()), 0),
            None => (r.workers, r.work_ns, None, r.offered_per_s.to_bits()),
        }
    };
    let mut keys: Vec<Key> = Vec::new();
    for r in rows {
        if !keys.contains(&key(r)) {
            keys.push(key(r));
        }
    }
    let mut out = Vec::new();
    for k in keys {
        let group: Vec<&LatRow> = rows.iter().filter(|r| key(r) == k).collect();
        let first = group[0];
        let at = match first.load {
            Some(l) => format!(
                "load {l:.2} (each row paced at {:.0}% of its own saturation rate)",
                l * 100.0
            ),
            None => format!("{} items/s offered", fmt_rate(first.offered_per_s)),
        };
        let work = if first.work_ns > 0 {
            format!(", {} ns of work per item", first.work_ns)
        } else {
            String::new()
        };
        let head = format!("latency W={}{work}, {at}", first.workers);
        let p50: fn(&LatRow) -> f64 = |r| r.p50_us;
        let p99: fn(&LatRow) -> f64 = |r| r.p99_us;
        for (pct, f) in [("p50", p50), ("p99", p99)] {
            out.push(format!("{head}, {pct}: {}", lowest(&group, f)));
        }
    }
    out
}

/// `fanring-lowlat is lowest, 4.24 µs; the next best (fanring, 4.78 µs) takes 1.13× as long,
/// the best peer (rtrb-pipeline, 5.92 µs) 1.40× as long` (lower is better).
fn lowest(group: &[&LatRow], f: fn(&LatRow) -> f64) -> String {
    let mut sorted: Vec<&LatRow> = group.to_vec();
    sorted.sort_by(|a, b| f(a).total_cmp(&f(b)));
    let best = sorted[0];
    let ours = is_fanring(&best.config);
    let who = if ours {
        best.config.clone()
    } else {
        format!("{} (a peer)", best.config)
    };
    let head = format!("{who} is lowest, {} µs", fmt_us(f(best)));
    let Some(next) = sorted.get(1) else {
        return format!("{head} (the only row)");
    };
    let side = if ours {
        "the best peer"
    } else {
        "the best fanring row"
    };
    let longer = |r: &LatRow| times(f(r) / f(best).max(f64::MIN_POSITIVE));
    let named = |r: &LatRow| format!("{}, {} µs", r.config, fmt_us(f(r)));
    let other = sorted
        .iter()
        .find(|r| is_fanring(&r.config) != ours)
        .copied();
    match other {
        Some(o) if std::ptr::eq(o, *next) => format!(
            "{head}; the next best, also {side} ({}), takes {} as long",
            named(next),
            longer(next)
        ),
        Some(o) => format!(
            "{head}; the next best ({}) takes {} as long, {side} ({}) {} as long",
            named(next),
            longer(next),
            named(o),
            longer(o)
        ),
        None => format!(
            "{head}; the next best ({}) takes {} as long; no {} measured",
            named(next),
            longer(next),
            if ours { "peer" } else { "fanring row" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(implementation: &str, mode: Option<&str>, mitems: f64) -> Row {
        Row {
            implementation: implementation.into(),
            mode: mode.map(String::from),
            workers: 2,
            dispatch: "rr".into(),
            order: "any".into(),
            batch: mode.map(|_| 256),
            work_ns: 100,
            items: 1000,
            reps: 1,
            mitems_per_s: mitems,
            ns_per_item: 1e3 / mitems,
            p50_ns: None,
            p99_ns: None,
            p999_ns: None,
            vs_crossbeam: None,
            vs_std: None,
            vs_rtrb: None,
            vs_seq: None,
            vs_rayon: None,
            vs_pariter: None,
            vs_blocking: None,
            vs_tokio_mpsc: None,
            vs_seq_rounds: None,
            cpu_s_per_mitem: None,
            cores_busy: None,
            switches_per_item: None,
            plan: None,
        }
    }

    fn lat(config: &str, load: Option<f64>, p50: f64, p99: f64) -> LatRow {
        LatRow {
            config: config.into(),
            workers: 2,
            work_ns: 0,
            load,
            offered_per_s: 1e4,
            achieved_per_s: 1e4,
            items: 100,
            reps: 1,
            p50_us: p50,
            p99_us: p99,
            p999_us: p99,
            max_us: p99,
            cpu_us_per_item: None,
            cores_busy: None,
            switches_per_item: None,
        }
    }

    #[test]
    fn fanring_wins_against_the_next_best_and_the_best_peer() {
        let rows = [
            row("fanring", Some("drive"), 23.6),
            row("fanring", Some("thread"), 20.0),
            row("crossbeam-seed", None, 5.0),
            row("rtrb-pipeline", None, 13.1),
        ];
        assert_eq!(
            throughput_winner(&rows).unwrap(),
            "throughput W=2, 100 ns of work per item: fanring drive/rr/any is fastest, 23.6 M \
             items/s: 1.18× the next best (fanring thread/rr/any, 20.0 M) and 1.80× the best \
             peer (rtrb-pipeline, 13.1 M)"
        );
    }

    #[test]
    fn a_peer_that_wins_is_compared_with_the_best_fanring_row() {
        let rows = [
            row("fanring", Some("drive"), 100.0),
            row("sequential", None, 400.0),
        ];
        assert_eq!(
            throughput_winner(&rows).unwrap(),
            "throughput W=2, 100 ns of work per item: sequential (a peer) is fastest, 400 M \
             items/s: 4.00× the next best, also the best fanring row (fanring drive/rr/any, \
             100 M)"
        );
        assert!(throughput_winner(&rows[..1])
            .unwrap()
            .ends_with("(the only row)"));
        assert_eq!(throughput_winner(&[]), None);
    }

    #[test]
    fn latency_lines_per_group_and_percentile_lower_is_better() {
        let rows = [
            lat("fanring", Some(0.1), 5.0, 20.0),
            lat("rtrb-pipeline", Some(0.1), 4.0, 40.0),
            lat("fanring-lowlat", Some(0.1), 6.0, 30.0),
            lat("fanring", None, 16.0, 50.0),
            lat("rtrb-pipeline", None, 5.0, 60.0),
        ];
        let lines = latency_winners(&rows);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        let at = "latency W=2, load 0.10 (each row paced at 10% of its own saturation rate)";
        assert_eq!(
            lines[0],
            format!(
                "{at}, p50: rtrb-pipeline (a peer) is lowest, 4.00 µs; the next best, also the \
                 best fanring row (fanring, 5.00 µs), takes 1.25× as long"
            )
        );
        assert_eq!(
            lines[1],
            format!(
                "{at}, p99: fanring is lowest, 20.0 µs; the next best (fanring-lowlat, 30.0 µs) \
                 takes 1.50× as long, the best peer (rtrb-pipeline, 40.0 µs) 2.00× as long"
            )
        );
        assert!(
            lines[2].starts_with("latency W=2, 10.0k items/s offered, p50: rtrb-pipeline"),
            "{}",
            lines[2]
        );
    }
}
