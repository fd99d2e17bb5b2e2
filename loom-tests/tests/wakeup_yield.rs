//! The wake-up models of `wakeup.rs` again, with every `park` inside the crate mapped to
//! `yield_now` (`fanring::loom_hooks::park_as_yield(true)`): loom never wakes `park`
//! spuriously, so this is where the wait loops meet spurious wake-ups (and stale unpark
//! tokens count for nothing). The canaries use `loom::thread::park` directly, so they behave as
//! in `wakeup.rs`.
//!
//! A separate test binary, because the switch is a process-wide static: every test here sets
//! it to `true` and none resets it, so tests on parallel threads agree (resetting it at the end
//! of one test would turn real parking back on under another one still running).

#![cfg(fanring_loom)]

/// Read by the models in `wakeup.rs` as `crate::PARK_AS_YIELD`.
const PARK_AS_YIELD: bool = true;

#[path = "wakeup.rs"]
mod wakeup;

// `wakeup::producer_parks_on_full_*` are ignored with real parking (loom issue 254, see
// `wakeup.rs`); with park mapped to a yield they pass, so they run here.

#[test]
fn producer_parks_on_full_two_items_as_yield() {
    wakeup::producer_parks_on_full(2);
}

#[test]
fn producer_parks_on_full_three_items_as_yield() {
    wakeup::producer_parks_on_full(3);
}
