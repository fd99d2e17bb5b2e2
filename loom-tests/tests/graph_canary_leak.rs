//! Canary: an input of several rings (`Inlet::Many`) that forgets its rings at teardown
//! instead of dropping them, so the items still in a stage-1 worker's input rings when the
//! stream is dropped early are never dropped: the early-drop model's drop count must say so.
//! A binary of its own: the switch (`fanring::loom_hooks::graph_canary`) is process-wide.

#![cfg(fanring_loom)]
#![allow(dead_code)] // the models the canary does not use

mod graph_models;

#[test]
#[should_panic(expected = "every item dropped exactly once")]
fn canary_graph_inlet_forgetting_rings_leaks_items() {
    fanring::loom_hooks::graph_canary(2);
    graph_models::early_drop_drops_everything_once(1, 1, false);
}
