//! loom models of the spare (`engine::spare`): items a distributor thread left while every
//! worker's ring was full come out exactly once, in input order under `Preserve`, after a
//! normal end; are dropped exactly once after an early end and a worker's panic; and no
//! thread is left blocked; a worker's run cut short puts the rest back there, and it still
//! comes out once. The models are in `spare_models/`.
#![cfg(fanring_loom)]

mod spare_models;

use fanring::Order;
use spare_models as m;

#[test]
fn spare_close_drain_any_order() {
    fanring::loom_hooks::spare(2);
    m::close_drain(Order::Any);
}

#[test]
fn spare_close_drain_preserve() {
    fanring::loom_hooks::spare(2);
    m::close_drain(Order::Preserve);
}

#[test]
fn spare_runs_cut_short_come_out_once() {
    fanring::loom_hooks::spare(2);
    m::cut_runs();
}

#[test]
fn spare_early_drop_drops_everything_once() {
    fanring::loom_hooks::spare(2);
    m::early_drop();
}

#[test]
fn spare_worker_panic_surfaces() {
    std::panic::set_hook(Box::new(|_| {}));
    fanring::loom_hooks::spare(2);
    m::panic_surfaces();
}
