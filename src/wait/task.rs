//! The async side of the wake-up handshake (`async` feature): a task that finds nothing
//! registers its `Waker` where a thread would park, with the same announce / re-check rule.
//!
//! One pending poll: try; register the waker and announce on the slot(s) (`waiting = true`,
//! then the full barrier, [`WakeSlot::announce_task`](super::WakeSlot::announce_task)); try
//! again; only then return `Pending`. The publisher is unchanged: its `Release` store, then
//! (`Notifier::after_publish`) its barrier and one load of `waiting`; if set, the slow path
//! (`WakeSlot::wake`) clears it, unparks a parked thread and wakes a registered waker. So a
//! publish either happens-before the re-check (which sees it) or its load sees the
//! announcement (and wakes the task), exactly as for a parked thread.

use super::{membarrier, Park, WaitStrategy};
use std::task::{Context, Poll};

/// Most spins of a [`spin`] phase on a `BusySpin` ring (whose blocking wait never stops
/// spinning: a task must give its thread back to the executor at some point).
#[cfg(not(any(fanring_loom, feature = "shuttle")))]
const BUSY_SPIN_CAP: u32 = 64;

/// The spin phase of an async wait, run after a failed try and before a poll announces its
/// task: what a blocking wait of `strategy` does before it parks, so that a consumer whose
/// producer publishes again within a few microseconds (a worker's next run) does not pay a
/// registration, a barrier, an executor park and a wake-up for it. Tries `attempt` after each
/// of the thread's adaptive allowance of spins (`spin_loop` hints, at most the strategy's
/// `spins`, shrinking while spinning keeps failing: `adaptive`), then, for `SpinThenPark`,
/// after each of `yields` calls of `yield_now` (which let a stage sharing the core run).
/// `SpinYield` and `BusySpin` (at most 64 spins) only spin: their "yield" is the task's own
/// wake-up and `Pending`. Bounded, so the executor's thread is held for at most
/// `spins + yields` tries.
///
/// A heuristic only: it reads the same state the re-check reads and never announces, so it
/// cannot affect the handshake. Off under loom and shuttle (the models check the handshake,
/// not the heuristic, and a spin loop would only multiply their interleavings).
pub(crate) fn spin<R>(strategy: WaitStrategy, attempt: impl FnMut() -> Option<R>) -> Option<R> {
    #[cfg(any(fanring_loom, feature = "shuttle"))]
    {
        let _ = (strategy, attempt);
        None
    }
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    spin_phase(strategy, attempt)
}

#[cfg(not(any(fanring_loom, feature = "shuttle")))]
fn spin_phase<R>(strategy: WaitStrategy, mut attempt: impl FnMut() -> Option<R>) -> Option<R> {
    use super::adaptive;
    let (spins, yields) = match strategy {
        WaitStrategy::BusySpin => (BUSY_SPIN_CAP, 0),
        WaitStrategy::SpinYield { .. } => (adaptive::spins(strategy), 0),
        WaitStrategy::SpinThenPark { yields, .. } | WaitStrategy::Adaptive { yields, .. } => {
            (adaptive::spins(strategy), yields)
        }
    };
    for _ in 0..spins {
        std::hint::spin_loop();
        if let Some(r) = attempt() {
            adaptive::record(spins, true);
            return Some(r);
        }
    }
    for _ in 0..yields {
        std::thread::yield_now();
        if let Some(r) = attempt() {
            adaptive::record(spins, false);
            return Some(r);
        }
    }
    if !matches!(strategy, WaitStrategy::BusySpin) {
        adaptive::record(spins, false);
    }
    None
}

/// Announces the task of `cx` on `slot` before a re-check. Returns whether the caller must
/// re-check (always, except under one loom canary). When the slot's publishers never look at
/// it (`can_park == false`: `BusySpin` and `SpinYield` rings skip the wake-up on publish), it
/// announces nothing: it yields the thread to the OS once (`yield_now`) and wakes the task,
/// which yields to the executor and is polled again, the async form of `SpinYield`. Likewise if `membarrier` ever failed (the
/// publisher's half of the asymmetric handshake is then missing: see `wait_until`).
pub(crate) fn announce(cx: &Context<'_>, slot: &(impl Park + ?Sized), can_park: bool) -> bool {
    if !can_park {
        // The executor's thread must not keep the core from the threads it waits for: on a
        // current-thread runtime it would poll this task again at once, for a whole time
        // slice, while a stage that shares its core (pinned there) cannot run. So it gives
        // the core up once, as a `SpinYield` thread does between tries.
        #[cfg(not(any(fanring_loom, feature = "shuttle")))]
        std::thread::yield_now();
        cx.waker().wake_by_ref();
        return true;
    }
    slot.announce_task(cx.waker());
    if membarrier::degraded() {
        cx.waker().wake_by_ref();
    }
    #[cfg(fanring_loom)]
    if crate::loom::canary::async_skip_recheck() {
        return false;
    }
    true
}

/// One poll of an async wait on `slot`: `Ready` with what `attempt` found, or `Pending` once the
/// task's waker is registered and announced and a re-check found nothing. `attempt` must be a
/// complete non-blocking try that reads the shared state afresh (see `wait_until`).
pub(crate) fn poll_until<R>(
    cx: &Context<'_>,
    slot: &(impl Park + ?Sized),
    can_park: bool,
    attempt: impl FnMut() -> Option<R>,
) -> Poll<R> {
    poll_with(cx, slot, can_park, None, attempt)
}

/// [`poll_until`] with the [`spin`] phase of `strategy` between the first try and the
/// announcement (the ring handles' async waits: what their blocking waits do before parking).
pub(crate) fn poll_until_spinning<R>(
    cx: &Context<'_>,
    slot: &(impl Park + ?Sized),
    strategy: WaitStrategy,
    attempt: impl FnMut() -> Option<R>,
) -> Poll<R> {
    poll_with(cx, slot, strategy.can_park(), Some(strategy), attempt)
}

fn poll_with<R>(
    cx: &Context<'_>,
    slot: &(impl Park + ?Sized),
    can_park: bool,
    strategy: Option<WaitStrategy>,
    mut attempt: impl FnMut() -> Option<R>,
) -> Poll<R> {
    if let Some(r) = attempt() {
        return Poll::Ready(r);
    }
    if let Some(r) = strategy.and_then(|s| spin(s, &mut attempt)) {
        return Poll::Ready(r);
    }
    if announce(cx, slot, can_park) {
        if let Some(r) = attempt() {
            // Found after all: un-announce, so publishers stay on their fast path.
            slot.withdraw();
            return Poll::Ready(r);
        }
    }
    Poll::Pending
}
