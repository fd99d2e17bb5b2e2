//! loom models of a graph of farms (`Pipeline::then`): two stages, every stage-0 worker
//! writing to every stage-1 worker over a ring of its own, driven by the main thread
//! (`drive`: it distributes and merges, so a 2 × 2 graph is 5 threads, loom's limit). They
//! check the graph's close/drain protocol (every item out exactly once, then the end, under
//! `Order::Any` and end-to-end `Order::Preserve`), its early end (every item dropped exactly
//! once, no thread left blocked) and a stage-1 worker's panic (a typed failure, never a
//! clean end). The 2 × 2 graph is explored with preemption bound 0, the 2 × 1 graph with
//! bound 1 (see `graph_models::model`; about 2 minutes for the file on 2 cores); the 2 × 2
//! graph with stage 1 fused to stage 0 (two threads: `Fusion::Always`) under `Preserve`
//! at bound 0, its early drop and panic at bound 1. The models
//! are in `graph_models/`; `graph_canary_*.rs` run them against broken variants of the
//! protocol, which they must catch.
#![cfg(fanring_loom)]

mod graph_models;

use graph_models as m;

#[test]
fn graph_2x2_close_drain_any_order() {
    m::close_drain_any_order(2, 2, 0);
}

/// Bound 1, one item: stage-0 worker 1 has nothing and closes its ring at once.
#[test]
fn graph_2x1_close_drain_any_order() {
    m::close_drain_any_order(1, 1, 1);
}

#[test]
fn graph_2x2_close_drain_preserve() {
    m::close_drain_preserve(false);
}

/// Stage 1 fused to stage 0 (two worker threads, each running both stages).
#[test]
fn graph_2x2_fused_close_drain_preserve() {
    m::close_drain_preserve(true);
}

#[test]
fn graph_2x2_early_drop_drops_everything_once() {
    m::early_drop_drops_everything_once(2, 0, false);
}

#[test]
fn graph_2x2_fused_early_drop_drops_everything_once() {
    m::early_drop_drops_everything_once(2, 1, true);
}

#[test]
fn graph_2x1_early_drop_drops_everything_once() {
    m::early_drop_drops_everything_once(1, 1, false);
}

#[test]
fn graph_2x2_stage_one_panic_surfaces() {
    std::panic::set_hook(Box::new(|_| {}));
    m::stage_one_panic_surfaces(2, 2, 0, false);
}

/// The fused stage's panic is recorded with its own stage before the unwind reaches the
/// thread's shell.
#[test]
fn graph_2x2_fused_stage_one_panic_surfaces() {
    std::panic::set_hook(Box::new(|_| {}));
    m::stage_one_panic_surfaces(2, 2, 1, true);
}

/// Bound 1, one item: the panicking worker's own rings are the stream's end.
#[test]
fn graph_2x1_stage_one_panic_surfaces() {
    std::panic::set_hook(Box::new(|_| {}));
    m::stage_one_panic_surfaces(1, 1, 1, false);
}
