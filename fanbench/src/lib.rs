//! fanring's main job, as a library: the peers `fanbench` and the criterion bench
//! (`benches/fan.rs`) measure the engine against, the items and work they move, the paced
//! source of the open-loop latency runs, and the counted items of the soak tool.
//!
//! - [`baselines`]: the runners (fanring, the seed pattern on crossbeam-channel and std mpsc,
//!   the hand-built rtrb pipeline, a sequential loop, rayon `par_bridge`, pariter), each taking
//!   the same [`Work`] and returning the same [`Tally`];
//! - [`Item`], [`Clock`], [`Probe`], [`Tally`]: what every runner moves, stamps and counts;
//! - [`Work`]: the per-item work (a multiply, or calibrated busy work), and [`expected`];
//! - [`Paced`]: an open-loop source releasing each item at its scheduled time;
//! - [`rows`]: a coarse-grained workload with real data, a Mandelbrot image a row at a time
//!   (a buffer allocated per row, about 40 µs of work each), and its runners in
//!   [`baselines::rows`];
//! - [`pipeline`]: multi-stage workloads with real work (Mandelbrot rows over two unbalanced
//!   stages, five image filters, block compression with an ordered writer), an ordered sink
//!   that checks each run, and their runners in [`baselines::pipeline`];
//! - [`tracked`]: items whose creation and drop are counted, their source and a seeded
//!   generator (the soak tool `fanbench-soak`);
//! - [`process`]: what each binary sets first (SIGPIPE, the allocator's policy).
//!
//! The binaries: `fanbench` (`cargo run --release -p fanbench`, the benchmark) and
//! `fanbench-soak` (`cargo run --release -p fanbench --bin fanbench-soak`, the soak).

pub mod baselines;
mod item;
mod paced;
pub mod pipeline;
pub mod process;
pub mod rows;
pub mod tracked;
mod work;

pub use item::{latency_histogram, Clock, Item, Probe, Tally};
pub use paced::{Paced, PACE_LEAD, PACE_SLEEP_MARGIN};
pub use work::{expected, rounds_per_ns, Work};
