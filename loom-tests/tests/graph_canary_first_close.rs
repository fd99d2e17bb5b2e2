//! Canary: an input of several rings (`Inlet::Many`) that takes the first closed ring for the
//! end of all its input, as if one upstream worker's end were the stage's. A stage-1 worker
//! then ends while the other stage-0 worker's item is still on its way, and the item is lost
//! (dropped at teardown, never delivered): the close/drain model must say so. A binary of its
//! own: the switch (`fanring::loom_hooks::graph_canary`) is process-wide.

#![cfg(fanring_loom)]
#![allow(dead_code)] // the models the canary does not use

mod graph_models;

#[test]
#[should_panic(expected = "every item exactly once")]
fn canary_graph_first_closed_ring_ends_inlet_loses_items() {
    fanring::loom_hooks::graph_canary(1);
    graph_models::close_drain_any_order(2, 2, 0);
}
