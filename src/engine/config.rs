//! An engine's settings, and every check made on them before anything is allocated or spawned
//! (overflow-safe); `launch` builds the engine from what they say.

use super::dispatch::Dispatch;
use super::merger::{max_window, window_slots, Order};
use super::wire::{Mark, Tagged};
use crate::pinning::Pinning;
use crate::ring::{CapacityError, MAX_CAPACITY};
use crate::{BuildError, WaitStrategy};

/// An engine's settings, as the builder collects them (checked by [`launch`]).
pub(super) struct Settings<T> {
    pub(super) workers: usize,
    pub(super) capacity: usize,
    pub(super) batch: usize,
    pub(super) wait: WaitStrategy,
    pub(super) pinning: Pinning,
    pub(super) dispatch: Dispatch<T>,
    pub(super) order: Order,
    pub(super) window: Option<usize>,
    pub(super) allow_spin: bool,
}

/// The most workers an engine may have ([`Engine::MAX_WORKERS`](crate::Engine::MAX_WORKERS)).
pub(super) const MAX_WORKERS: usize = 4096;

/// How an engine is launched: who distributes and who merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// `start`: the caller, through `Input` and `Output`.
    Start,
    /// `run`, `run_source`: a distributor thread; the caller merges.
    Run,
    /// `drive`, `drive_source`: the caller's one thread does both.
    Drive,
    /// `run_with_sink`: a distributor thread and a merger thread.
    RunWithSink,
}

impl Mode {
    pub(super) fn own_distributor(self) -> bool {
        matches!(self, Mode::Run | Mode::RunWithSink)
    }
    pub(super) fn own_merger(self) -> bool {
        self == Mode::RunWithSink
    }
}

/// What [`check_settings`] found.
pub(super) struct Sizes {
    /// `Preserve` by rotation (round-robin `map`).
    pub(super) rotate: bool,
    /// `Preserve` through the tagged window.
    pub(super) tagged: bool,
    /// The reorder window's size (inputs), when tagged.
    pub(super) window: usize,
}

/// Checks every setting, every size and their products before anything is allocated or
/// spawned.
pub(super) fn check_settings<T, U>(b: &Settings<T>, one_to_one: bool) -> Result<Sizes, BuildError> {
    check_counts(b)?;
    let n = b.workers;
    let rotate = b.order == Order::Preserve && b.dispatch.is_round_robin();
    if rotate && !one_to_one {
        return Err(BuildError::PreserveNeedsOneToOne);
    }
    let tagged = b.order == Order::Preserve && !rotate;
    if tagged {
        check_rings::<Tagged<T>, Tagged<Mark<U>>>(b.capacity, n)?;
    } else {
        check_rings::<T, U>(b.capacity, n)?;
    }
    // The default window (`2 × capacity × workers`) is clamped to the largest one possible;
    // its memory grows with use, so a large default costs nothing up front.
    let window = b
        .window
        .unwrap_or_else(|| default_window::<U>(b.capacity.saturating_mul(n)));
    if tagged {
        window_slots::<U>(window)?;
    }
    Ok(Sizes {
        rotate,
        tagged,
        window,
    })
}

/// The reorder window when none is set: twice the `slots` of the rings in flight, clamped to
/// the largest window possible (its memory grows with use, so a large default costs nothing
/// up front).
pub(super) fn default_window<U>(slots: usize) -> usize {
    slots.saturating_mul(2).min(max_window::<U>())
}

/// The settings that are counts: workers, batch, window.
fn check_counts<T>(b: &Settings<T>) -> Result<(), BuildError> {
    let n = b.workers;
    if n == 0 {
        return Err(BuildError::ZeroSetting("workers"));
    }
    if n > MAX_WORKERS {
        // Before anything is sized by it (the plan, the counters, the threads).
        return Err(BuildError::TooLarge {
            setting: "workers",
            value: n,
            max: MAX_WORKERS,
        });
    }
    if b.batch == 0 {
        return Err(BuildError::ZeroSetting("batch"));
    }
    if b.window == Some(0) {
        return Err(BuildError::ZeroSetting("window"));
    }
    Ok(())
}

/// Checks a graph stage's settings: its counts, and its rings (`upstream` producers, each with
/// a ring of wire `I` to each of its workers, and each worker's output of wire `O`) before
/// anything is allocated.
pub(super) fn check_stage<T, I, O>(b: &Settings<T>, upstream: usize) -> Result<(), BuildError> {
    check_counts(b)?;
    check_rings::<I, O>(b.capacity, b.workers.saturating_mul(upstream.max(1)))
}

/// Checks that `workers` pairs of rings of `capacity` slots (wire types `I` in, `O` out) fit
/// in memory a `Vec` can address, before anything is allocated. The rings themselves are then
/// reserved fallibly, one by one ([`BuildError::Capacity`] if one is refused).
fn check_rings<I, O>(capacity: usize, workers: usize) -> Result<(), BuildError> {
    if capacity == 0 {
        return Err(BuildError::Capacity(CapacityError::Zero));
    }
    let slots = capacity
        .checked_next_power_of_two()
        .filter(|&c| c <= MAX_CAPACITY)
        .ok_or(BuildError::Capacity(CapacityError::TooLarge {
            requested: capacity,
        }))?;
    let per_slot = std::mem::size_of::<I>() + std::mem::size_of::<O>();
    let per_slot_all = per_slot.checked_mul(workers);
    let fits = per_slot_all
        .and_then(|p| p.checked_mul(slots))
        .is_some_and(|bytes| isize::try_from(bytes).is_ok());
    if fits {
        return Ok(());
    }
    let most = per_slot_all.map_or(0, |p| isize::MAX.unsigned_abs() / p.max(1));
    let max = if most == 0 {
        0
    } else {
        (1usize << (usize::BITS - 1 - most.leading_zeros())).min(MAX_CAPACITY)
    };
    Err(BuildError::TooLarge {
        setting: "capacity × workers",
        value: capacity,
        max,
    })
}
