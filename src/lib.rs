//! # fanring
//!
//! A lock-free ring-buffer fan-out/fan-in engine. Its building block is a hand-written
//! single-producer single-consumer ring ([`channel`]): power-of-two slots, head and tail on
//! their own cache lines, each side caching the other's index, batch push and pop, no
//! allocation after construction, every item dropped exactly once.
//!
//! ```
//! let (mut tx, mut rx) = fanring::channel::<u64>(1024).unwrap();
//! let producer = std::thread::spawn(move || {
//!     for i in 0..10_000 {
//!         tx.push(i).unwrap(); // waits while full; dropping `tx` closes the ring
//!     }
//! });
//! let sum: u64 = rx.iter().sum(); // ends once the producer is gone and the ring drained
//! assert_eq!(sum, 10_000 * 9_999 / 2);
//! producer.join().unwrap();
//! ```
//!
//! The protocol, the orderings and why everything terminates are in `docs/design.md`.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::pedantic)]
#![warn(clippy::undocumented_unsafe_blocks)]
// Reviewed pedantic lints that do not fit this crate:
// - `Ordering::*` in atomics code reads as the memory-model vocabulary (`Acquire`, `Release`).
#![allow(clippy::enum_glob_use)]
// - Handles' `Debug` shows their observable state, not internals (Arcs, cached indices).
#![allow(clippy::missing_fields_in_debug)]
// - Pure getters (`capacity`, `len`, ...) would all need `#[must_use]`; it adds noise without
//   catching a bug. Builders and pipelines are `#[must_use]` types instead.
#![allow(clippy::must_use_candidate)]

// The layers, from the bottom up: `loom` (the shim), `ring`, `wait`, `teardown`, `cursor`,
// `error`, `pinning`, `stats`, `source`; then `engine` (its own layers are listed in
// `engine/mod.rs`); then `fan`, the seed's split / merge, beside the engine on its parts.
mod clock;
mod cursor;
mod engine;
mod error;
pub mod fan;
mod loom;
pub mod pinning;
pub mod ring;
pub mod source;
pub mod stats;
mod teardown;
mod wait;

pub use engine::{
    Builder, Dispatch, Driven, Emit, Engine, Fusion, Graph, Input, Order, Output, Pipeline,
    Running, SendError,
};
pub use error::{BuildError, Failure};
pub use pinning::{Pinning, Plan};
pub use ring::channel;
pub use wait::WaitStrategy;

/// Switches for the loom models (only with `--cfg fanring_loom`; `spare` also for the
/// shuttle scenarios, with the `shuttle` feature).
#[cfg(any(fanring_loom, feature = "shuttle"))]
#[doc(hidden)]
pub mod loom_hooks {
    /// Makes every `park` a yield (a spurious wake-up), or restores real parking.
    #[cfg(fanring_loom)]
    pub fn park_as_yield(on: bool) {
        crate::loom::thread::PARK_AS_YIELD.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// A deliberately broken async handshake, for the canary models: `0` the real one, `1` no
    /// re-check after announcing a waker, `2` no barrier between the announcement and the
    /// re-check. Process-wide: set it the same way in every test of one binary.
    #[cfg(all(fanring_loom, feature = "async"))]
    pub fn async_canary(mode: u8) {
        crate::loom::canary::ASYNC.store(mode, std::sync::atomic::Ordering::Relaxed);
    }

    /// A deliberately broken graph protocol, for the canary models: `0` the real one, `1` an
    /// input of several rings ends at its first closed ring (the other rings' items are
    /// lost), `2` such an input leaks the items left in its rings at teardown, `3` a
    /// panicking thread closes its rings before it records the failure (the stream can end
    /// cleanly). Process-wide: set it the same way in every test of one binary.
    #[cfg(fanring_loom)]
    pub fn graph_canary(mode: u8) {
        crate::loom::canary::GRAPH.store(mode, std::sync::atomic::Ordering::Relaxed);
    }

    /// The spare under the models: `0` as built (under loom no run is timed as costly, so it
    /// is never used), `1` a distributor that finds every ring full always leaves its items
    /// there, `2` also every run of more than one item a worker takes is cut after its first
    /// item, and the rest put back there. Process-wide: set it the same way in every test of
    /// one binary.
    pub fn spare(mode: u8) {
        crate::loom::models::SPARE.store(mode, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The README's Rust example runs as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
