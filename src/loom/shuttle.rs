//! The shuttle side of the shim (built with `--features shuttle`, for `tests/shuttle.rs`).
//!
//! shuttle runs every thread of an execution as a coroutine under its own scheduler and
//! explores many schedules at realistic sizes (4–8 workers, dozens of items). It models every
//! atomic as `SeqCst` and does not track `UnsafeCell` accesses, so it finds logic bugs in the
//! close/drain protocol (a drain that stops early, a lost close, a leak), not ordering bugs:
//! those are loom's job (`--cfg fanring_loom`).

pub(crate) mod sync {
    pub(crate) use ::shuttle::sync::{Arc, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use ::shuttle::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

        /// Reads an atomic through `&mut` (no other thread can touch it).
        #[inline]
        pub(crate) fn load_mut(a: &mut AtomicUsize) -> usize {
            *a.get_mut()
        }
    }
}

pub(crate) mod cell {
    pub(crate) use crate::loom::std_cell::UnsafeCell;
}

pub(crate) mod thread {
    #[allow(unused_imports)]
    pub(crate) use ::shuttle::thread::{current, park, yield_now, Builder, JoinHandle, Thread};

    /// shuttle does not model time, and treats threads all blocked in `park_timeout` as a
    /// deadlock: a timed park is a spurious wake-up (a yield), as under loom.
    #[allow(dead_code)]
    pub(crate) fn park_timeout(_dur: std::time::Duration) {
        ::shuttle::thread::yield_now();
    }
}

pub(crate) mod hint {
    /// A spin must hand control to the scheduler, or the spinning thread never lets the one
    /// it waits for run (shuttle's own `spin_loop` yields too).
    #[inline]
    pub(crate) fn spin_loop() {
        ::shuttle::thread::yield_now();
    }
}
