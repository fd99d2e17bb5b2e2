//! The crate's fast clock: the time-stamp counter on x86-64 (a few ns to read, where
//! `Instant::now` costs about 60 ns on a VM), in ns through a rate measured once against
//! `Instant`; `Instant` elsewhere. Used where a stage times itself on its hot path: an
//! iterator source's runs (`source::Iter`) and a waiter learning when its next item is due
//! (`wait::pace`). Under loom and shuttle a model must be deterministic: no time passes there.

/// A point in time, read with [`Clock::now`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock(u64);

impl Clock {
    #[inline]
    pub(crate) fn now() -> Self {
        Clock(ticks())
    }

    /// The time since this point.
    #[inline]
    pub(crate) fn elapsed(self) -> std::time::Duration {
        std::time::Duration::from_nanos(to_ns(ticks().saturating_sub(self.0)))
    }
}

/// Nanoseconds on the fast clock, from an arbitrary start (for differences only).
#[inline]
pub(crate) fn now_ns() -> u64 {
    to_ns(ticks())
}

#[inline]
fn to_ns(ticks: u64) -> u64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let ns = (ticks as f64 / ticks_per_ns()) as u64;
    ns
}

/// The time-stamp counter (x86-64).
#[cfg(all(target_arch = "x86_64", not(any(fanring_loom, feature = "shuttle"))))]
#[inline]
fn ticks() -> u64 {
    // SAFETY: `rdtsc` reads a counter; it has no preconditions on x86-64 (it is an `unsafe
    // fn` only as a platform intrinsic).
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

/// Nanoseconds since the first reading (elsewhere).
#[cfg(all(
    not(target_arch = "x86_64"),
    not(any(fanring_loom, feature = "shuttle"))
))]
#[inline]
fn ticks() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    u64::try_from(
        EPOCH
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos(),
    )
    .unwrap_or(u64::MAX)
}

/// No time passes in a model.
#[cfg(any(fanring_loom, feature = "shuttle"))]
#[inline]
fn ticks() -> u64 {
    0
}

/// Counter ticks per ns: measured once, over 20 µs against `Instant` (the first time the
/// clock is read as a duration); 1 where the counter is in ns.
fn ticks_per_ns() -> f64 {
    #[cfg(all(target_arch = "x86_64", not(any(fanring_loom, feature = "shuttle"))))]
    {
        static RATE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
        *RATE.get_or_init(|| {
            let (t0, c0) = (std::time::Instant::now(), ticks());
            while t0.elapsed() < std::time::Duration::from_micros(20) {
                std::hint::spin_loop();
            }
            let (ns, c) = (t0.elapsed().as_nanos(), ticks().saturating_sub(c0));
            #[allow(clippy::cast_precision_loss)]
            let rate = c as f64 / ns as f64;
            if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                1.0
            }
        })
    }
    #[cfg(not(all(target_arch = "x86_64", not(any(fanring_loom, feature = "shuttle")))))]
    1.0
}
