//! How a blocked side waits: the [`WaitStrategy`] knobs, the announce/re-check/park
//! handshake (`WakeSlot`) and the one wait loop every blocking operation uses.

mod slot;
mod strategy;

pub(crate) use slot::WakeSlot;

/// Something a waiter can announce itself on: one ring side's slot, or several (a merger
/// waiting for any of its inputs announces on every one of them).
pub(crate) trait Park {
    /// Announce, then `fence(SeqCst)`: see [`WakeSlot::announce`].
    fn announce(&self);
    /// Un-announce after waking (or deciding not to park).
    fn withdraw(&self);
}

impl Park for WakeSlot {
    fn announce(&self) {
        WakeSlot::announce(self);
    }
    fn withdraw(&self) {
        WakeSlot::withdraw(self);
    }
}

/// Two waits at once (a worker waits for input *or* for its output to close).
impl<A: Park + ?Sized, B: Park + ?Sized> Park for (&A, &B) {
    fn announce(&self) {
        self.0.announce();
        self.1.announce();
    }
    fn withdraw(&self) {
        self.0.withdraw();
        self.1.withdraw();
    }
}

/// Several slots, announced together: whichever one is notified unparks the waiter.
impl<S: Park> Park for [S] {
    fn announce(&self) {
        self.iter().for_each(Park::announce);
    }
    fn withdraw(&self) {
        self.iter().for_each(Park::withdraw);
    }
}
pub use strategy::WaitStrategy;

use crate::loom::hint::spin_loop;
use crate::loom::thread::{park, park_timeout, yield_now};
use std::time::Instant;

/// Runs `attempt` until it returns `Some`, waiting between tries as `strategy` says, or gives
/// up and returns `None` once `deadline` has passed.
///
/// `attempt` must be a complete non-blocking try (it re-reads the shared indices and closed
/// flags). When the strategy parks, the loop announces itself in `slot`, calls `attempt` once
/// more, and only then parks: whoever publishes after our announcement sees it and unparks us,
/// and whatever was published before it, the re-check sees (see `WakeSlot`).
pub(crate) fn wait_until<R>(
    strategy: WaitStrategy,
    slot: &(impl Park + ?Sized),
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> Option<R>,
) -> Option<R> {
    let mut step: u32 = 0;
    loop {
        if let Some(r) = attempt() {
            return Some(r);
        }
        let remaining = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return None,
            },
            None => None,
        };
        match strategy {
            WaitStrategy::BusySpin => spin_loop(),
            WaitStrategy::SpinYield { spins } => {
                if step < spins {
                    spin_loop();
                } else {
                    yield_now();
                }
            }
            WaitStrategy::SpinThenPark { spins, yields } => {
                if step < spins {
                    spin_loop();
                } else if step - spins < yields {
                    yield_now();
                } else {
                    slot.announce();
                    // The re-check after announcing: see `WakeSlot::announce`.
                    if let Some(r) = attempt() {
                        slot.withdraw();
                        return Some(r);
                    }
                    match remaining {
                        Some(left) => park_timeout(left),
                        None => park(),
                    }
                    slot.withdraw();
                }
            }
        }
        step = step.saturating_add(1);
    }
}
