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
    /// `std::cell::UnsafeCell` with loom's closure API, so one code path serves both builds.
    /// `repr(transparent)`: a slice of these has the layout of a slice of `T`.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        // The std build allocates slots uninitialised; kept for parity with loom's API.
        #[allow(dead_code)]
        #[inline]
        pub(crate) fn new(data: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(data))
        }

        #[inline]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
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
