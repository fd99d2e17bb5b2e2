//! loom models of the spare (`engine::spare`): items a distributor thread left while every
//! worker's ring was full come out exactly once, in input order under `Preserve`, after a
//! normal end; are dropped exactly once after an early end and a worker's panic; and no
//! thread is left blocked. The models are in `spare_models/`.
#![cfg(fanring_loom)]

mod spare_models;

use fanring::Order;
use spare_models as m;

#[test]
fn spare_close_drain_any_order() {
    fanring::loom_hooks::spare(1);
    m::close_drain(Order::Any);
}

#[test]
fn spare_close_drain_preserve() {
    fanring::loom_hooks::spare(1);
    m::close_drain(Order::Preserve);
}

#[test]
fn spare_early_drop_drops_everything_once() {
    fanring::loom_hooks::spare(1);
    m::early_drop();
}

#[test]
fn spare_worker_panic_surfaces() {
    std::panic::set_hook(Box::new(|_| {}));
    fanring::loom_hooks::spare(1);
    m::panic_surfaces();
}
