//! The one place the crate takes its concurrency primitives from.
//!
//! Everything that the loom model checker must see (atomics, `UnsafeCell`, `Arc`, `Mutex`,
//! threads, parking, the spin hint) is imported from here and nowhere else, so the crate has a
//! single code path: built normally these are `std`'s types, built with
//! `RUSTFLAGS="--cfg fanring_loom"` they are loom's (the tokio `src/loom/` pattern), and built
//! with `--features shuttle` (and no `fanring_loom`) they are shuttle's, for the randomized
//! and PCT schedules of `tests/shuttle.rs`.
//! The cfg carries the crate's own name so that it does not switch loom on inside
//! dependencies that also know a bare `cfg(loom)`.

#[cfg(not(fanring_loom))]
mod std_cell;

#[cfg(not(any(fanring_loom, feature = "shuttle")))]
mod std;
#[cfg(not(any(fanring_loom, feature = "shuttle")))]
pub(crate) use self::std::*;

#[cfg(fanring_loom)]
mod mocked;
#[cfg(fanring_loom)]
pub(crate) use self::mocked::*;

#[cfg(all(feature = "shuttle", not(fanring_loom)))]
mod shuttle;
#[cfg(all(feature = "shuttle", not(fanring_loom)))]
pub(crate) use self::shuttle::*;
