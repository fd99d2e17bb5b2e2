//! `fanbench`: throughput and end-to-end latency of the fanring engine against the seed's
//! fan-out/fan-in pattern, measured in the same run.
//!
//! ```text
//! cargo run --release -p fanbench                      # defaults, about 1¾ min on 2 cores
//! cargo run --release -p fanbench -- --help
//! cargo run --release -p fanbench -- --sweep --plot fan.svg --json fan.json
//! ```
//!
//! For every configuration (workers × dispatch × order × batch × work) it pushes `--items`
//! items through `.map(work).run(source)` and iterates the `Output` on the main thread; then
//! the same items and work through the baselines of the `fanbench` library (the seed's Go
//! `Split`/`Merge` over crossbeam-channel and over std mpsc, and optionally the hand-built rtrb
//! pipeline). Runs are interleaved (ours, crossbeam, std, ours, …) `--reps` times and every
//! figure shown is the median over the reps.
//!
//! Each item is stamped (nanoseconds on one clock) by the source as it enters and the main
//! thread records `now - stamp` in an HDR histogram when it comes out, for every peer alike:
//! the latencies are end to end under full load, queueing in the rings included.
//!
//! Alongside the seed pattern, the table has what a user would pick instead of a fan-out
//! engine: a plain loop on one thread (`sequential`, the break-even reference), rayon's
//! `par_bridge` and pariter's `parallel_map`. With several `--work-ns` values it reports, for
//! W = 2, the smallest work per item from which on fanring beats the sequential loop.
//!
//! Then an open-loop latency table (`--measure latency`, on by default): a paced source
//! releases item `i` at `t0 + i / R` and each item's latency is counted from that scheduled
//! time (coordinated omission corrected, as wrk2 does), at `--rate` items/s (by default the
//! quiet fixed rates 10 k, 100 k and 1 M items/s) and at `--load` fractions of each
//! configuration's saturation throughput measured first in the same run (0.1 and 0.5 by
//! default), for fanring with its defaults, a latency-tuned fanring, the crossbeam seed and
//! the rtrb pipeline.
//!
//! Every run is bracketed by the process's CPU clock and context switch counts
//! (`measure::cpu`): the throughput table shows CPU seconds per million items and cores busy,
//! the latency table CPU µs per item, cores busy and context switches per item. With the
//! sequential baseline and several reps, each fanring configuration's ratio to the plain loop
//! is also given round by round (min / median / max).
//!
//! Not in the default: `--measure rows` (image rows: a buffer allocated per item and ~40 µs
//! of work on it, fanring against the plain loop, rayon and the crossbeam seed) and
//! `--measure idle` (the CPU an idle pipeline burns in 10 ms without input) and `--measure
//! pipeline` (multi-stage workloads with real work, Mandelbrot rows over two unbalanced
//! stages, five image filters, block compression with an ordered writer: fanring against
//! hand-built threads over crossbeam, rayon and tokio, each sink checking order and checksum).
//!
//! The program, by job: `cli` (flags), `plan` (what runs), `measure` (throughput, open-loop
//! latency, image rows, idle, pipelines, the CPU clock), `stats` (medians, ratios,
//! break-even), `report` (tables, JSON, CSV, SVG), `run` (the order of it all). The peers, the
//! items, the work, the rows workload and the pipelines are the `fanbench` library's
//! (`src/lib.rs`), shared with the criterion bench `benches/fan.rs`.

mod cli;
mod measure;
mod plan;
mod report;
mod run;
mod stats;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Args;
use crate::run::{run, Failure};

fn main() -> ExitCode {
    fanbench::process::default_sigpipe();
    let args = Args::parse();
    // Before any thread starts: the allocator's policy holds for every row alike.
    let heap = args.heap.apply();
    match run(&args, heap) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(msg)) => {
            eprintln!("fanbench: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("fanbench: {msg}");
            ExitCode::FAILURE
        }
    }
}
