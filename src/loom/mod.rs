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

/// The switches the loom models and the shuttle scenarios set for the spare
/// (`loom_hooks::spare`): under both no time passes, so no run is ever timed as costly, and
/// without them the spare would never be used.
#[cfg(any(fanring_loom, feature = "shuttle"))]
pub(crate) mod models {
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

    /// 0: the spare as built; 1: every distributor that finds every ring full leaves its
    /// items in the spare, whatever they cost; 2: also, every worker's run of more than one
    /// item is cut after its first item, the rest put back in the spare
    /// (`worker::cut_run`).
    pub(crate) static SPARE: AtomicU8 = AtomicU8::new(0);

    pub(crate) fn spare_always() -> bool {
        SPARE.load(Relaxed) >= 1
    }

    pub(crate) fn spare_sheds() -> bool {
        SPARE.load(Relaxed) == 2
    }
}
