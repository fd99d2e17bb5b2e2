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

use super::{membarrier, Park};
use std::task::{Context, Poll};

/// Announces the task of `cx` on `slot` before a re-check. Returns whether the caller must
/// re-check (always, except under one loom canary). When the slot's publishers never look at
/// it (`can_park == false`: `BusySpin` and `SpinYield` rings skip the wake-up on publish), it
/// announces nothing and wakes the task at once instead: the task yields to the executor and
/// is polled again, the async form of spinning. Likewise if `membarrier` ever failed (the
/// publisher's half of the asymmetric handshake is then missing: see `wait_until`).
pub(crate) fn announce(cx: &Context<'_>, slot: &(impl Park + ?Sized), can_park: bool) -> bool {
    if !can_park {
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
    mut attempt: impl FnMut() -> Option<R>,
) -> Poll<R> {
    if let Some(r) = attempt() {
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
