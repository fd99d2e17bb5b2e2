//! Canary: a thread shell that closes a panicking worker's rings before it records the
//! failure. Everything downstream can then drain and end, and the caller see the end of the
//! stream, before the abort flag and the failure are there: a clean end after a worker's
//! panic, which the panic model must catch. A binary of its own: the switch
//! (`fanring::loom_hooks::graph_canary`) is process-wide.

#![cfg(fanring_loom)]
#![allow(dead_code)] // the models the canary does not use

mod graph_models;

#[test]
#[should_panic(expected = "the stream ended cleanly after a worker's panic")]
fn canary_graph_close_before_failure_ends_cleanly() {
    std::panic::set_hook(Box::new(|_| {}));
    fanring::loom_hooks::graph_canary(3);
    graph_models::stage_one_panic_surfaces(1, 1, 1, false);
}
