//! The pipeline table (`--measure pipeline`) as printed: what the rows are, then per workload
//! a heading saying what its items and stages are, one line per implementation and worker
//! count, and a line per worker count naming the fastest.

use fanbench::baselines::pipeline::PIPE_CAPACITY;

use crate::report::table::{fmt_cores, fmt_rate, fmt_ratio, fmt_sig};
use crate::report::PipelineRow;

pub fn print_pipeline_intro(reps: u64) {
    println!(
        "pipelines: a source of N items, two to five stages of real work per item, an ordered \
         sink that checks the order and a checksum (every run must match the plain loop's); \
         items/s is the median of {reps} interleaved rounds (each round runs every row of the \
         workload once)"
    );
    println!(
        "  W = threads per stage: fanring = a graph, Engine::builder().workers(W)\
         .order(Preserve).map(stage 1).then(Engine::builder().workers(W).map(stage 2))…, \
         stages fused onto one thread per worker where the threads would outnumber the cores \
         (Fusion::Auto); fanring unfused = the same with every stage on threads of its own \
         (Fusion::Never); fanring chained = one engine per stage, each reading the previous \
         one's Output (run_source); the builder's defaults otherwise; std threads + \
         crossbeam = W threads per stage on one shared bounded channel, reordered by index; \
         rayon par_bridge = a pool of W threads, collected and sorted by index; tokio \
         pipeline = mpsc channels, W tasks per stage on a runtime of W threads, reordered; \
         channels of {PIPE_CAPACITY} slots"
    );
    println!(
        "  plain loop per core = what the cores give with no hand-off: a plain loop on each \
         core at once, each taking the next item's index from a shared counter (below cores × \
         the plain loop where the cores share caches or memory bandwidth; measured like any \
         row, so a runtime may land a few % above it; each loop's sink sees a share of the \
         items, so only their count is checked)"
    );
    println!(
        "  vs plain = items/s over the plain loop's (every stage of an item in turn on one \
         thread); cpu-µs/item = CPU time of every thread of the process ÷ items; cores = CPU \
         seconds ÷ wall seconds; csw/item = context switches ÷ items; * = the fastest row at \
         its W; the line under each W compares the fastest row with the best of the other \
         side (fanring or the peers) round by round as well: rows of one round met the same \
         machine"
    );
    println!();
}

pub fn print_workload_heading(label: &str, describe: &str, items: u64) {
    println!("{label}: {describe}; {items} items a run");
}

pub fn pipeline_header() -> String {
    format!(
        "{:<24} {:>3} {:>9} {:>9} {:>8} {:>11} {:>5} {:>8} {}",
        "impl", "W", "items/s", "µs/item", "vs plain", "cpu-µs/item", "cores", "csw/item", ""
    )
    .trim_end()
    .to_string()
}

pub fn format_pipeline_row(r: &PipelineRow) -> String {
    format!(
        "{:<24} {:>3} {:>9} {:>9} {:>8} {:>11} {:>5} {:>8} {}",
        r.implementation,
        if is_reference(r) {
            "-".to_string()
        } else {
            r.workers.to_string()
        },
        fmt_rate(r.items_per_s),
        fmt_sig(Some(r.us_per_item)),
        fmt_ratio(Some(r.vs_plain)),
        fmt_sig(r.cpu_us_per_item),
        fmt_cores(r.cores_busy),
        fmt_sig(r.switches_per_item),
        if r.fastest { "*" } else { "" },
    )
    .trim_end()
    .to_string()
}

fn is_ours(r: &PipelineRow) -> bool {
    r.implementation.starts_with("fanring")
}

/// The plain loop's name (the ratio base).
pub const PLAIN: &str = "plain loop";
/// The per-core reference's name: a plain loop on each core at once, no hand-off.
pub const PER_CORE: &str = "plain loop per core";

/// The references, measured once per workload: the plain loop and the plain loop per core.
pub fn is_reference(r: &PipelineRow) -> bool {
    r.implementation == PLAIN || r.implementation == PER_CORE
}

/// Two rows compared round by round: each round runs every row once, one after the other, so
/// the rows of one round met the same machine (its speed drifts between rounds, by up to 2×
/// within minutes on a shared VM). Medians alone would hide a lead that swaps from round to
/// round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// Rounds in which the first row moved more items per second than the second.
    pub ahead: usize,
    pub rounds: usize,
    /// The first row's items/s over the second's: the lowest and the highest round.
    pub low: f64,
    pub high: f64,
}

impl Paired {
    /// `a` against `b`, over the rounds both have (`None` below two rounds: one round is what
    /// the medians already say).
    pub fn of(a: &PipelineRow, b: &PipelineRow) -> Option<Paired> {
        let ratios: Vec<f64> = a
            .items_per_s_rounds
            .iter()
            .zip(&b.items_per_s_rounds)
            .filter(|(x, y)| **y > 0.0 && x.is_finite() && y.is_finite())
            .map(|(x, y)| x / y)
            .collect();
        if ratios.len() < 2 {
            return None;
        }
        Some(Paired {
            ahead: ratios.iter().filter(|r| **r > 1.0).count(),
            rounds: ratios.len(),
            low: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            high: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

impl std::fmt::Display for Paired {
    /// `ahead in 2 of 3 rounds (0.98–1.04× round by round: within this run's spread)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ahead in {} of {} rounds ({:.2}–{:.2}× round by round{})",
            self.ahead,
            self.rounds,
            self.low,
            self.high,
            if self.ahead == self.rounds {
                ""
            } else {
                ": within this run's spread"
            }
        )
    }
}

/// `mandelbrot 2048:20+10x4, W=2: fanring is fastest, 61.2k items/s, 1.83× the plain loop;
/// the best peer (rayon par_bridge, 58.0k items/s) 1.74×; fanring ahead in 3 of 3 rounds
/// (1.02–1.09× round by round); a plain loop on each of 2 cores 1.95×, fanring at 94 % of
/// it` (`None` when the worker count has no row). The fastest row leads on the medians, so it
/// is ahead in at least one round; where it trails in another, the lead is within the run's
/// spread, and the line says so. A per-core
/// figure below 0.9× the plain loop, or more than 10 % below the fanring row, is called too
/// low to compare with (a run too short for its threads' start, or a disturbed one).
pub fn pipeline_winner(rows: &[PipelineRow], workload: &str, workers: usize) -> Option<String> {
    let mine: Vec<&PipelineRow> = rows
        .iter()
        .filter(|r| r.workload == workload && r.workers == workers && !is_reference(r))
        .collect();
    let best = *mine.iter().find(|r| r.fastest)?;
    let ours = is_ours(best);
    let other = mine
        .iter()
        .filter(|r| is_ours(r) != ours)
        .max_by(|a, b| a.items_per_s.total_cmp(&b.items_per_s));
    let mut line = format!(
        "{workload}, W={workers}: {}{} is fastest, {} items/s, {} the plain loop",
        best.implementation,
        if ours { "" } else { " (a peer)" },
        fmt_rate(best.items_per_s),
        fmt_ratio(Some(best.vs_plain))
    );
    if let Some(o) = other {
        line.push_str(&format!(
            "; {} ({}, {} items/s) {}",
            if ours {
                "the best peer"
            } else {
                "the best fanring row"
            },
            o.implementation,
            fmt_rate(o.items_per_s),
            fmt_ratio(Some(o.vs_plain))
        ));
        if let Some(p) = Paired::of(best, o) {
            line.push_str(&format!("; {} {p}", best.implementation));
        }
    }
    let per_core = rows
        .iter()
        .find(|r| r.workload == workload && r.implementation == PER_CORE);
    // The fastest fanring row: the fastest row, or the best of the other side.
    let best_ours = if ours { Some(best) } else { other.copied() };
    if let (Some(c), Some(o)) = (per_core, best_ours) {
        let cores = match c.workers {
            1 => "the one core".to_string(),
            n => format!("each of {n} cores"),
        };
        let share = o.items_per_s / c.items_per_s;
        line.push_str(&format!(
            "; a plain loop on {cores} {}",
            fmt_ratio(Some(c.vs_plain))
        ));
        if c.vs_plain < 0.9 || share > 1.1 {
            line.push_str(
                ", too low to compare with (a run too short for its threads' start, or a \
                 disturbed one)",
            );
        } else {
            line.push_str(&format!(
                ", {} at {:.0} % of it",
                o.implementation,
                100.0 * share
            ));
        }
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(implementation: &str, workers: usize, rounds: &[f64]) -> PipelineRow {
        let mut sorted = rounds.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        PipelineRow {
            workload: "w".into(),
            stages: 2,
            implementation: implementation.into(),
            workers,
            items: 100,
            reps: rounds.len() as u64,
            items_per_s: median,
            us_per_item: 1e6 / median,
            vs_plain: median / 100.0,
            items_per_s_rounds: rounds.to_vec(),
            cpu_us_per_item: None,
            cores_busy: None,
            switches_per_item: None,
            fastest: false,
        }
    }

    #[test]
    fn rounds_are_compared_in_pairs() {
        let a = row("fanring", 2, &[190.0, 200.0, 210.0]);
        let b = row("rayon par_bridge", 2, &[200.0, 190.0, 200.0]);
        let p = Paired::of(&a, &b).unwrap();
        assert_eq!((p.ahead, p.rounds), (2, 3));
        assert!((p.low - 0.95).abs() < 1e-9 && (p.high - 200.0 / 190.0).abs() < 1e-9);
        assert_eq!(
            p.to_string(),
            "ahead in 2 of 3 rounds (0.95–1.05× round by round: within this run's spread)"
        );
        let c = row("rayon par_bridge", 2, &[100.0, 100.0, 100.0]);
        assert_eq!(
            Paired::of(&a, &c).unwrap().to_string(),
            "ahead in 3 of 3 rounds (1.90–2.10× round by round)"
        );
        // One round: nothing beyond the medians.
        assert_eq!(Paired::of(&row("a", 2, &[1.0]), &row("b", 2, &[2.0])), None);
    }

    #[test]
    fn the_winner_line_says_how_often_the_fastest_led() {
        let mut rows = vec![
            row(PLAIN, 1, &[100.0, 100.0, 100.0]),
            row(PER_CORE, 2, &[200.0, 200.0, 200.0]),
            row("fanring", 2, &[190.0, 196.0, 194.0]),
            row("rayon par_bridge", 2, &[192.0, 193.0, 191.0]),
        ];
        rows[2].fastest = true;
        let line = pipeline_winner(&rows, "w", 2).unwrap();
        assert!(
            line.contains(
                "the best peer (rayon par_bridge, 192 items/s) 1.92×; fanring ahead in 2 of 3 \
                 rounds (0.99–1.02× round by round: within this run's spread); a plain loop"
            ),
            "{line}"
        );
    }
}
