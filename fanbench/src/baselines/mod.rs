//! The fan-out/fan-in runners: fanring and its peers, one module per family.
//!
//! Every runner pushes `n` [`Item`]s (`value` 0..n) through `workers` workers that apply the
//! same work function, merges the results into the calling thread, and returns a [`Tally`]
//! (items seen and a wrapping sum of their values, equal for every runner given the same
//! inputs). Passing a [`Probe`] turns on latency recording: each sampled item is stamped when
//! it enters (in the source, on the distributing thread) and `now - stamp` is recorded in
//! nanoseconds when the caller takes it out. Without one, no clock is read.
//!
//! Runners:
//! - [`crossbeam_seed`]: the seed's Go `Split`/`Merge` with `crossbeam-channel` bounded
//!   channels: a split thread sending round-robin to `W` channels, `W` worker threads, one
//!   merge forwarder thread per worker into one output channel, the caller receiving from it;
//! - [`std_mpsc_seed`]: the same with `std::sync::mpsc::sync_channel`;
//! - [`rtrb_pipeline`]: the engine's topology built by hand from `rtrb` rings, one item at a
//!   time with a spin-then-yield retry loop: a distributor thread, `W` workers, the caller
//!   polling the `W` output rings round-robin;
//! - [`fanring_engine`]: `Engine::builder()…map(work).run(source)`, iterating its `Output`;
//! - [`sequential`]: no threads at all, `source.map(work).for_each(sink)` on the caller's
//!   thread (the break-even reference);
//! - [`rayon_bridge`]: rayon's `par_bridge` on the (unsplittable) source iterator, in a
//!   `ThreadPool` of `W` threads, unordered, the sink folded on the pool's threads;
//! - [`pariter_map`]: pariter's `parallel_map` (ordered) with `W` threads, the caller iterating.
//!
//! With `--features async` (`async_peers`, `tokio_fan`): fanring's `Output` read as a
//! `Stream` (`fanring_stream`), the same topology from tokio `mpsc` channels and tasks
//! (`tokio_mpsc`), and `futures`' `buffered` / `buffer_unordered` over one `spawn_blocking` per
//! item (`spawn_blocking_pool`).
//!
//! The image-rows workload ([`crate::rows`]: a buffer allocated per row by the source, about
//! 40 µs of rendering each) has runners of its own in [`rows`]: fanring (`run` and `drive`,
//! any order or preserved), the plain loop, rayon `par_bridge` and the crossbeam seed
//! ([`crossbeam_seed_with`], the seed on any item type).
//!
//! The multi-stage workloads ([`crate::pipeline`]: two to five stages of real work per item,
//! an ordered sink) have runners of their own in [`pipeline`]: the plain loop, fanring (the
//! multi-stage construction, and engines chained by hand), std threads over crossbeam
//! channels, rayon `par_bridge` and a tokio pipeline, each handing the sink the items in
//! order.
//!
//! The channel, rtrb and fanring runners also take any source (`*_source`): with a
//! [`Paced`](crate::Paced) source they make the open-loop latency runs of `fanbench` (each
//! item released at its scheduled time and its latency counted from that time).
//!
//! [`Item`]: crate::Item
//! [`Tally`]: crate::Tally
//! [`Probe`]: crate::Probe

mod alternatives;
#[cfg(feature = "async")]
pub mod async_peers;
mod engine;
pub mod pipeline;
mod ring_pipeline;
pub mod rows;
mod seed;

pub use alternatives::{pariter_map, rayon_bridge, sequential};
pub use engine::{
    fanring_defaults_source, fanring_engine, fanring_engine_source, fanring_graph3_source,
    key_dispatch, EngineConfig, RunError,
};
pub use ring_pipeline::{rtrb_pipeline, rtrb_pipeline_source};
pub use seed::{crossbeam_seed, crossbeam_seed_source, crossbeam_seed_with, std_mpsc_seed};
#[cfg(feature = "async")]
pub mod tokio_fan;
