//! Canary: the async handshake without its re-check (register, announce, `Pending` at once)
//! loses the wake-up of a publish that came just before the announcement, and loom must say so.
//! A binary of its own: the switch (`fanring::loom_hooks::async_canary`) is process-wide.

#![cfg(fanring_loom)]
#![allow(dead_code)] // the models the canary does not use

mod async_models;

#[test]
#[should_panic(expected = "lost wake-up")]
fn canary_async_without_recheck_loses_wakeup() {
    fanring::loom_hooks::async_canary(1);
    async_models::publish_races_single_poll();
}
