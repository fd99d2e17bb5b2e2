//! The tables printed to stdout, and the number formats they share with the plots.

use std::fmt::Write as _;

use fanbench::baselines::EngineConfig;

use crate::cli::Args;
use crate::plan::Peer;
use crate::report::{BreakEven, LatRow, Machine, Row, Settings};

pub fn print_header(m: &Machine, s: &Settings) {
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

pub fn header(peers: &[Peer]) -> String {
    let mut h = format!(
        "{:<16} {:<6} {:>3} {:<5} {:<8} {:>5} {:>7} {:>9} {:>8} {:>9} {:>9} {:>9}",
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
    for p in peers.iter().filter(|p| p.has_column()) {
        let _ = write!(h, " {:>10}", format!("vs {}", short(*p)));
    }
    h
}

pub fn short(p: Peer) -> &'static str {
    match p {
        Peer::Crossbeam => "xbeam",
        Peer::Std => "std",
        Peer::Rtrb => "rtrb",
        Peer::Seq => "seq",
        Peer::Rayon => "rayon",
        Peer::Pariter => "pariter",
        Peer::Stream => "stream",
        Peer::Blocking => "blocking",
        Peer::TokioMpsc => "tokio",
        Peer::Buffered => "buffered",
        Peer::BufferUnordered => "unordered",
    }
}

pub fn format_row(r: &Row, peers: &[Peer]) -> String {
    let mut s = format!(
        "{:<16} {:<6} {:>3} {:<5} {:<8} {:>5} {:>7} {:>9.2} {:>8.1} {:>9} {:>9} {:>9}",
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
    for p in peers.iter().filter(|p| p.has_column()) {
        let v = match p {
            Peer::Crossbeam => r.vs_crossbeam,
            Peer::Std => r.vs_std,
            Peer::Rtrb => r.vs_rtrb,
            Peer::Seq => r.vs_seq,
            Peer::Rayon => r.vs_rayon,
            Peer::Pariter => r.vs_pariter,
            _ => None,
        };
        let _ = write!(s, " {:>10}", fmt_ratio(v));
    }
    s
}

pub fn fmt_ns(ns: Option<f64>) -> String {
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

pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{r:.2}×"))
}

pub fn print_break_even(b: &BreakEven) {
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

pub fn print_latency_intro(args: &Args, lowlat: &EngineConfig) {
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

pub fn latency_header() -> String {
    format!(
        "{:<16} {:>3} {:>7} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
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

pub fn format_lat_row(r: &LatRow) -> String {
    format!(
        "{:<16} {:>3} {:>7} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
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

/// Items per second with a unit: `950`, `12.3k`, `4.56M`.
pub fn fmt_rate(r: f64) -> String {
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
pub fn fmt_us(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2}")
    } else if us < 1000.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}
