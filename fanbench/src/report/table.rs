//! The tables printed to stdout, and the number formats they share with the plots.

use std::fmt::Write as _;

use fanbench::baselines::EngineConfig;
use fanring::Plan;

use crate::cli::{Args, ModeArg};
use crate::plan::Peer;
use crate::report::{BreakEven, LatRow, Machine, Row, Settings, SourceCpu};

/// The run's header: the machine, the engine's settings and plans, the allocator's policy;
/// the closed-loop sizes and latency sampling only when the throughput table (`thr`) runs.
pub fn print_header(m: &Machine, s: &Settings, thr: bool) {
    println!(
        "machine: {} {:?}, {}, {}/{}",
        cores_in_words(m.cores),
        m.core_ids,
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.os,
        m.arch
    );
    println!("wait strategy: {}", s.wait);
    let chose = if s.plans.is_empty() {
        ""
    } else {
        " (where the engine put each thread, by worker count and mode:)"
    };
    println!("pinning: {}{chose}", s.pinning);
    for p in &s.plans {
        println!(
            "  plan with {} worker(s), {}: {}",
            p.workers, p.mode, p.description
        );
    }
    println!("heap: {}", s.heap);
    if !thr {
        println!("reps: {} (medians shown)", s.reps);
    } else {
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
    }
    if m.cores < 4 {
        println!(
            "note: {}: with more threads than cores every figure is noisy",
            cores_in_words(m.cores)
        );
    }
    println!();
}

pub fn header(peers: &[Peer]) -> String {
    let mut h = format!(
        "{:<16} {:<6} {:>3} {:<5} {:<8} {:>5} {:>7} {:>9} {:>8} {:>8} {:>5} {:>9} {:>9} {:>9}",
        "impl",
        "mode",
        "W",
        "disp",
        "order",
        "batch",
        "work-ns",
        "Mitem/s",
        "ns/item",
        "cpu-s/M",
        "cores",
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
        "{:<16} {:<6} {:>3} {:<5} {:<8} {:>5} {:>7} {:>9.2} {:>8.1} {:>8} {:>5} {:>9} {:>9} {:>9}",
        r.implementation,
        r.mode.as_deref().unwrap_or("-"),
        r.workers,
        r.dispatch,
        r.order,
        r.batch.map_or("-".to_string(), |b| b.to_string()),
        r.work_ns,
        r.mitems_per_s,
        r.ns_per_item,
        fmt_sig(r.cpu_s_per_mitem),
        fmt_cores(r.cores_busy),
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

/// A figure with three significant digits or so (`-` when not measured): `0.0123`, `0.412`,
/// `4.12`, `41.2`, `412`.
pub fn fmt_sig(v: Option<f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(0.0) => "0".to_string(),
        Some(v) if v < 0.01 => format!("{v:.4}"),
        Some(v) if v < 1.0 => format!("{v:.3}"),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

/// Cores kept busy: `1.93` (`-` when not measured).
/// `1 core`, `2 cores`.
pub fn cores_in_words(n: usize) -> String {
    if n == 1 {
        "1 core".to_string()
    } else {
        format!("{n} cores")
    }
}

pub fn fmt_cores(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.2}"))
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{r:.2}×"))
}

/// The engine's pinning plan in words (`Plan`'s own Display is the compact
/// `distributor: -; workers: [1, 0]; merger: -`, which the JSON keeps).
pub fn plan_in_words(mode: ModeArg, p: &Plan) -> String {
    let on = |c: Option<usize>| c.map_or("unpinned".to_string(), |c| format!("on core {c}"));
    let over = if p.oversubscribed() {
        " (more threads than cores)"
    } else {
        ""
    };
    let stages = match mode {
        ModeArg::Drive => "the caller's thread distributes and merges, unpinned".to_string(),
        ModeArg::Thread => format!(
            "a distributor thread {}; the caller's thread merges, {}",
            on(p.distributor),
            on(p.merger)
        ),
    };
    format!(
        "{} threads on {}{over}: {stages}; {}",
        p.threads,
        cores_in_words(p.cores.len()),
        workers_in_words(&p.workers)
    )
}

/// `workers unpinned`, `worker on core 1`, `workers on cores 1, 0`, `workers on cores 1,
/// unpinned`.
fn workers_in_words(ws: &[Option<usize>]) -> String {
    let noun = if ws.len() == 1 { "worker" } else { "workers" };
    if ws.iter().all(Option::is_none) {
        return format!("{noun} unpinned");
    }
    let cores: Vec<String> = ws
        .iter()
        .map(|c| c.map_or("unpinned".to_string(), |c| c.to_string()))
        .collect();
    let core = if ws.len() == 1 { "core" } else { "cores" };
    format!("{noun} on {core} {}", cores.join(", "))
}

/// `drive/rr/any`, with `, batch N` when `with_batch`.
pub fn config_label(
    mode: &str,
    dispatch: &str,
    order: &str,
    batch: usize,
    with_batch: bool,
) -> String {
    if with_batch {
        format!("{mode}/{dispatch}/{order}, batch {batch}")
    } else {
        format!("{mode}/{dispatch}/{order}")
    }
}

/// The comparison with the plain loop on one thread (the `sequential` peer), in words.
pub fn print_break_even(b: &BreakEven) {
    let w = b.workers;
    let sizes: Vec<u64> = b
        .per_config
        .iter()
        .flat_map(|c| c.ratios.iter().map(|r| r.0))
        .collect();
    let largest = sizes.iter().max().copied().unwrap_or(0);
    let ever = b
        .per_config
        .iter()
        .any(|c| c.ratios.iter().any(|&(_, r)| r > 1.0));
    let head = format!(
        "fanring against the plain loop (the sequential row: one thread, no engine) at W={w}:"
    );
    match (b.work_ns, &b.config) {
        (Some(ns), Some(c)) => println!(
            "{head} fanring is faster from {ns} ns of work per item on (the smallest measured \
             work size from which on it wins; first reached by fanring {})",
            b.per_config
                .iter()
                .find(|x| &x.config == c)
                .map_or(c.as_str(), |x| x.label.as_str())
        ),
        _ if ever => println!(
            "{head} fanring wins at some work sizes but not at the largest measured ({largest} \
             ns per item)"
        ),
        _ => println!("{head} fanring does not beat the plain loop at any measured work size"),
    }
    for c in &b.per_config {
        let ratios: Vec<String> = c
            .ratios
            .iter()
            .map(|(ns, r)| format!("{r:.2}× at {ns} ns"))
            .collect();
        let verdict = match c.work_ns {
            Some(ns) => format!("beats the plain loop from {ns} ns of work per item"),
            None if c.ratios.iter().any(|&(_, r)| r > 1.0) => {
                format!("does not beat the plain loop at the largest work size ({largest} ns)")
            }
            None => "does not beat the plain loop at any measured work size".to_string(),
        };
        println!(
            "  fanring (W={w}, {}) {verdict}; its items/s over the loop's: {}",
            c.label,
            ratios.join(", ")
        );
    }
    println!();
}

/// Under the throughput table, with the sequential peer and more than one rep: each fanring
/// configuration's throughput over the plain loop's round by round (rep k against rep k;
/// the reps are interleaved), its smallest, median and largest. Prints nothing otherwise.
pub fn print_round_ratios(rows: &[Row]) {
    let ours: Vec<(&Row, &Vec<f64>)> = rows
        .iter()
        .filter(|r| r.implementation == "fanring")
        .filter_map(|r| r.vs_seq_rounds.as_ref().map(|v| (r, v)))
        .filter(|(_, v)| v.len() > 1)
        .collect();
    let Some((_, first)) = ours.first() else {
        return;
    };
    let batches: std::collections::BTreeSet<Option<usize>> =
        ours.iter().map(|(r, _)| r.batch).collect();
    println!(
        "fanring's items/s over the plain loop's (the sequential row), round by round: rep k of \
         each row against rep k of the sequential row, {} interleaved rounds",
        first.len()
    );
    println!(
        "  {:>3} {:>7}  {:<24} {:>7} {:>7} {:>7}",
        "W", "work-ns", "fanring", "min", "median", "max"
    );
    for (r, v) in ours {
        let label = config_label(
            r.mode.as_deref().unwrap_or("-"),
            &r.dispatch,
            &r.order,
            r.batch.unwrap_or(0),
            batches.len() > 1,
        );
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        println!(
            "  {:>3} {:>7}  {:<24} {:>7} {:>7} {:>7}",
            r.workers,
            r.work_ns,
            label,
            fmt_ratio(Some(min)),
            fmt_ratio(Some(crate::stats::median(v.clone()))),
            fmt_ratio(Some(max)),
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
    println!(
        "  cpu-µs/item = CPU time of the whole process (the pipeline's threads, the paced \
         source's, the consumer's) from the start to the end of the run ÷ items; cores = CPU \
         seconds ÷ wall seconds; csw/item = context switches (voluntary + involuntary) ÷ items"
    );
}

pub fn latency_header() -> String {
    format!(
        "{:<16} {:>3} {:>7} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>5} {:>8}",
        "config",
        "W",
        "work-ns",
        "load",
        "offered/s",
        "achieved/s",
        "p50(µs)",
        "p99(µs)",
        "p99.9(µs)",
        "max(µs)",
        "cpu-µs/item",
        "cores",
        "csw/item"
    )
}

pub fn format_lat_row(r: &LatRow) -> String {
    format!(
        "{:<16} {:>3} {:>7} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>5} {:>8}",
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
        fmt_sig(r.cpu_us_per_item),
        fmt_cores(r.cores_busy),
        fmt_sig(r.switches_per_item),
    )
}

/// Under the latency table: what the paced source costs alone at each fixed rate, the floor
/// under the rows' CPU (nothing when none was measured, or off Linux).
pub fn print_source_cpu(source: &[SourceCpu]) {
    let at: Vec<String> = source
        .iter()
        .filter_map(|s| {
            Some(format!(
                "{}/s {} µs/item ({} cores)",
                fmt_rate(s.offered_per_s),
                fmt_sig(Some(s.cpu_us_per_item?)),
                fmt_cores(s.cores_busy)
            ))
        })
        .collect();
    if at.is_empty() {
        return;
    }
    println!(
        "  the paced source alone (no pipeline, on one thread), CPU: {}; it yields for the \
         last {}+ µs before each item (its sleeps' lateness), so at high rates it keeps a \
         core busy whatever the pipeline does (on a small machine the rows' CPU there is \
         mostly the source's and the machine's)",
        at.join(", "),
        fanbench::PACE_SLEEP_MARGIN.as_micros()
    );
    println!();
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
