//! `std::cell::UnsafeCell` with loom's closure API, shared by the std and shuttle backends.

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
