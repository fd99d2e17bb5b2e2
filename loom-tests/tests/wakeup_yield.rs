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
