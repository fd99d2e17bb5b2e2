//! The image-rows table (`--measure rows`) as printed: a heading saying what a row is, one
//! line per implementation and worker count, and a line per worker count naming the fastest.

use fanbench::rows::RowSpec;

use crate::report::summary::is_fanring;
use crate::report::table::{fmt_cores, fmt_rate, fmt_ratio, fmt_sig};
use crate::report::RowsRow;

pub fn print_rows_intro(spec: &RowSpec, row_us: f64, reps: u64) {
    println!(
        "image rows: {} rows of a Mandelbrot image, {} pixels each (at most {} iterations a \
         pixel), the width calibrated to about {row_us} µs of work per row here (rows through \
         the set take longer than rows near its edge); the source allocates each row's buffer, \
         a worker fills it, the consumer sums and frees it; median of {reps} reps",
        spec.height, spec.width, spec.max_iter
    );
    println!(
        "  fanring = Engine::builder().workers(W).order(..).map(render), run (`thread`) or \
         drive, every other setting the builder's default; vs seq = rows/s over the plain \
         loop's; cpu-µs/row = CPU time of every thread of the process ÷ rows; cores = CPU \
         seconds ÷ wall seconds; csw/row = context switches ÷ rows"
    );
    println!();
}

pub fn rows_header() -> String {
    format!(
        "{:<16} {:<6} {:>3} {:<8} {:>9} {:>8} {:>7} {:>10} {:>5} {:>8}",
        "impl",
        "mode",
        "W",
        "order",
        "rows/s",
        "µs/row",
        "vs seq",
        "cpu-µs/row",
        "cores",
        "csw/row"
    )
}

pub fn format_rows_row(r: &RowsRow) -> String {
    format!(
        "{:<16} {:<6} {:>3} {:<8} {:>9} {:>8} {:>7} {:>10} {:>5} {:>8}",
        r.implementation,
        r.mode.as_deref().unwrap_or("-"),
        r.workers,
        r.order,
        fmt_rate(r.rows_per_s),
        fmt_sig(Some(r.us_per_row)),
        fmt_ratio(Some(r.vs_seq)),
        fmt_sig(r.cpu_us_per_row),
        fmt_cores(r.cores_busy),
        fmt_sig(r.switches_per_row),
    )
}

fn name(r: &RowsRow) -> String {
    match &r.mode {
        Some(m) => format!("{} {m}/{}", r.implementation, r.order),
        None => r.implementation.clone(),
    }
}

/// `rows W=2: fanring thread/any is fastest, 47.1k rows/s, 1.93× the plain loop; the best
/// peer (rayon-bridge, 45.0k rows/s) 1.85×` (`None` when the worker count has no row).
pub fn rows_winner(rows: &[RowsRow], workers: usize) -> Option<String> {
    let mine: Vec<&RowsRow> = rows
        .iter()
        .filter(|r| r.workers == workers && r.implementation != "sequential")
        .collect();
    let best = *mine
        .iter()
        .max_by(|a, b| a.rows_per_s.total_cmp(&b.rows_per_s))?;
    let ours = is_fanring(&best.implementation);
    let other = mine
        .iter()
        .filter(|r| is_fanring(&r.implementation) != ours)
        .max_by(|a, b| a.rows_per_s.total_cmp(&b.rows_per_s));
    let mut line = format!(
        "rows W={workers}: {}{} is fastest, {} rows/s, {} the plain loop",
        name(best),
        if ours { "" } else { " (a peer)" },
        fmt_rate(best.rows_per_s),
        fmt_ratio(Some(best.vs_seq))
    );
    if let Some(o) = other {
        line.push_str(&format!(
            "; {} ({}, {} rows/s) {}",
            if ours {
                "the best peer"
            } else {
                "the best fanring row"
            },
            name(o),
            fmt_rate(o.rows_per_s),
            fmt_ratio(Some(o.vs_seq))
        ));
    }
    Some(line)
}
