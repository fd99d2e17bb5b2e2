//! The one place the crate takes its concurrency primitives from.
//!
//! Everything that the loom model checker must see (atomics, `UnsafeCell`, `Arc`, `Mutex`,
//! threads, parking, the spin hint) is imported from here and nowhere else, so the crate has a
//! single code path: built normally these are `std`'s types, built with
//! `RUSTFLAGS="--cfg fanring_loom"` they are loom's (the tokio `src/loom/` pattern).
//! The cfg carries the crate's own name so that it does not switch loom on inside
//! dependencies that also know a bare `cfg(loom)`.

#[cfg(not(fanring_loom))]
mod std;
#[cfg(not(fanring_loom))]
pub(crate) use self::std::*;

#[cfg(fanring_loom)]
mod mocked;
#[cfg(fanring_loom)]
pub(crate) use self::mocked::*;
