//! loom models of the async wake-up handshake (`async` feature): a task registers its waker on
//! the ring's `WakeSlot`, announces, re-checks and returns `Pending`; a publish or a close
//! wakes it. The models are in `async_models/`; the canaries, which switch a broken handshake
//! on for a whole binary, are in `wakeup_async_canary*.rs`.

#![cfg(fanring_loom)]

mod async_models;

use async_models::*;

#[test]
fn async_publish_races_registration() {
    publish_races_registration();
}

#[test]
fn async_publish_races_single_poll() {
    publish_races_single_poll();
}

#[test]
fn async_close_races_registration() {
    close_races_registration();
}

#[test]
fn async_producer_task_woken_by_release() {
    producer_task_woken_by_release();
}

#[test]
fn async_producer_task_woken_by_close() {
    producer_task_woken_by_close();
}

#[test]
fn async_waker_replaced_between_polls() {
    waker_replaced_between_polls();
}

#[test]
fn async_merged_stream_two_inputs() {
    merged_stream_two_inputs();
}
