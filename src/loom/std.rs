//! The `std` side of the shim.

pub(crate) mod sync {
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

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
    pub(crate) use std::thread::{
        current, park, park_timeout, yield_now, Builder, JoinHandle, Thread,
    };
}

pub(crate) mod hint {
    pub(crate) use std::hint::spin_loop;
}
