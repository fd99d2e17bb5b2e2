//! Canary: the async handshake without the full barrier between the announcement and the
//! re-check (a `Relaxed` store, then the `Acquire` re-check) lets both sides read stale values,
//! and loom must report the lost wake-up. A binary of its own: the switch is process-wide.

#![cfg(fanring_loom)]
#![allow(dead_code)] // the models the canary does not use

mod async_models;

#[test]
#[should_panic(expected = "lost wake-up")]
fn canary_async_unfenced_announce_loses_wakeup() {
    fanring::loom_hooks::async_canary(2);
    async_models::publish_races_single_poll();
}
