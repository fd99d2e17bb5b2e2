//! The loom side of the shim (built with `--cfg fanring_loom`).

pub(crate) mod sync {
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

        /// Reads an atomic through `&mut` (no other thread can touch it).
        #[inline]
        pub(crate) fn load_mut(a: &mut AtomicUsize) -> usize {
            a.with_mut(|v| *v)
        }
    }
}

pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}

pub(crate) mod thread {
    pub(crate) use loom::thread::{current, yield_now, Builder, JoinHandle, Thread};

    /// Whether `park` is replaced by a yield: every park then returns at once, a spurious
    /// wake-up, which the wait loops must tolerate. Set by the loom models through
    /// [`crate::loom_hooks::park_as_yield`]; a plain std static because it is configuration
    /// of the model, not state the model explores.
    pub(crate) static PARK_AS_YIELD: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    pub(crate) fn park() {
        if PARK_AS_YIELD.load(std::sync::atomic::Ordering::Relaxed) {
            loom::thread::yield_now();
        } else {
            loom::thread::park();
        }
    }

    /// loom has no timed park: a timed park is a spurious wake-up (a yield).
    pub(crate) fn park_timeout(_dur: std::time::Duration) {
        loom::thread::yield_now();
    }
}

pub(crate) mod hint {
    /// A spin under loom must hand control to the model, or the loop never ends.
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }
}

/// The loom canaries of the async handshake (`loom-tests/tests/wakeup_async_canary.rs`) and of
/// a graph's close/drain protocol (`loom-tests/tests/graph_canary*.rs`): a broken variant
/// switched on for a whole test binary. Plain std statics: configuration of the model, not
/// state it explores.
pub(crate) mod canary {
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

    /// 0: the real handshake; 1: no re-check after announcing; 2: no barrier after the
    /// announcement.
    #[cfg(feature = "async")]
    pub(crate) static ASYNC: AtomicU8 = AtomicU8::new(0);

    #[cfg(feature = "async")]
    pub(crate) fn async_skip_recheck() -> bool {
        ASYNC.load(Relaxed) == 1
    }

    #[cfg(feature = "async")]
    pub(crate) fn async_unfenced() -> bool {
        ASYNC.load(Relaxed) == 2
    }

    /// 0: the real graph protocol; 1: an `Inlet::Many` ends at its first closed ring; 2: an
    /// `Inlet::Many` leaks the items left in its rings at teardown; 3: the thread shell
    /// closes a panicking thread's rings before it records the failure.
    pub(crate) static GRAPH: AtomicU8 = AtomicU8::new(0);

    pub(crate) fn graph_first_close_ends_inlet() -> bool {
        GRAPH.load(Relaxed) == 1
    }

    pub(crate) fn graph_inlet_leaks_items() -> bool {
        GRAPH.load(Relaxed) == 2
    }

    pub(crate) fn graph_close_before_failure() -> bool {
        GRAPH.load(Relaxed) == 3
    }
}
