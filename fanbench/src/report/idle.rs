//! The idle check (`--measure idle`) as printed.

use crate::report::table::{fmt_sig, fmt_us};
use crate::report::IdleRow;

pub fn print_idle_intro(fed: u64, gap_us: f64, window_ms: f64, reps: u64) {
    println!(
        "idle: each pipeline fed {fed} items {gap_us:.0} µs apart from a channel (so its waits \
         have seen traffic), then nothing for {window_ms:.0} ms while its source blocks on the \
         channel: the CPU time of every thread of the process in that window, % of one core \
         (median of {reps} reps, and the largest), and the context switches in it"
    );
    println!();
}

pub fn idle_header() -> String {
    format!(
        "{:<16} {:>3} {:>10} {:>9} {:>9} {:>10}",
        "config", "W", "window-ms", "cpu%", "cpu%-max", "csw"
    )
}

pub fn format_idle_row(r: &IdleRow) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), fmt_us);
    format!(
        "{:<16} {:>3} {:>10} {:>9} {:>9} {:>10}",
        r.config,
        r.workers,
        r.window_ms.map_or("-".to_string(), |w| format!("{w:.2}")),
        pct(r.cpu_pct),
        pct(r.cpu_pct_max),
        fmt_sig(r.switches),
    )
}
