//! How a blocked side waits: the [`WaitStrategy`] knobs, the announce/re-check/park
//! handshake ([`WakeSlot`]) and the one wait loop every blocking operation uses.

mod slot;
mod strategy;

pub(crate) use slot::WakeSlot;
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
    slot: &WakeSlot,
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
