//! The heavy half of an asymmetric fence: Linux `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`.
//!
//! `membarrier` makes every running thread of the process execute a full memory barrier before
//! the call returns (threads that are not running pass one when they are switched back in). So
//! a waiter that calls it after announcing itself gets, on the publisher's side, the barrier
//! that the symmetric handshake asked the publisher to issue on every publish; the publisher
//! then needs only a compiler barrier (`WakeSlot`, `docs/design.md` "Wake-up").
//!
//! The process registers once (`MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`), the first time a
//! `WakeSlot` is built. Where the kernel refuses (not Linux, a kernel before 4.14, a seccomp
//! filter), [`available`] says `false` and every slot uses the two `SeqCst` fences. Under loom
//! and shuttle it is always `false`: neither can model the syscall, and their models verify the
//! fence version.

/// Whether the asymmetric handshake may be used: the process is registered for private
/// expedited membarrier. The first call registers (once per process); later calls read the
/// cached answer.
#[inline]
pub(crate) fn available() -> bool {
    imp::available()
}

/// Issues the process-wide barrier. `false` if the kernel refused it (it cannot once
/// [`available`] said `true`); the caller must then not rely on it, see [`degraded`].
pub(crate) fn heavy() -> bool {
    imp::heavy()
}

/// Whether a [`heavy`] call has ever failed after registration: the wait loop then parks with
/// a timeout (polling) instead of relying on a wake-up. Never expected in practice.
#[inline]
pub(crate) fn degraded() -> bool {
    imp::degraded()
}

#[cfg(all(target_os = "linux", not(fanring_loom), not(feature = "shuttle")))]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::OnceLock;

    /// The registration's outcome, decided once per process.
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    /// Set if a barrier ever fails after registration.
    static FAILED: AtomicBool = AtomicBool::new(false);

    fn membarrier(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: `membarrier(cmd, flags = 0, cpu_id = 0)` takes no pointers and touches no
        // memory of ours; an unknown command or a refusal is reported as -1 with errno.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_uint,
                0 as libc::c_int,
            )
        }
    }

    #[inline]
    pub(super) fn available() -> bool {
        *REGISTERED.get_or_init(register)
    }

    #[cold]
    fn register() -> bool {
        let supported = membarrier(libc::MEMBARRIER_CMD_QUERY);
        let want = libc::MEMBARRIER_CMD_PRIVATE_EXPEDITED;
        if supported < 0 || supported & libc::c_long::from(want) == 0 {
            return false;
        }
        membarrier(libc::MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
    }

    pub(super) fn heavy() -> bool {
        if membarrier(libc::MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 {
            return true;
        }
        // Relaxed: a process-wide "stop trusting wake-ups" switch; the wait loop reads it
        // after its own re-check and only then decides how to park.
        FAILED.store(true, Relaxed);
        false
    }

    #[inline]
    pub(super) fn degraded() -> bool {
        // Relaxed: see `heavy`.
        FAILED.load(Relaxed)
    }
}

#[cfg(not(all(target_os = "linux", not(fanring_loom), not(feature = "shuttle"))))]
mod imp {
    #[inline]
    pub(super) fn available() -> bool {
        false
    }

    pub(super) fn heavy() -> bool {
        false
    }

    #[inline]
    pub(super) fn degraded() -> bool {
        false
    }
}

#[cfg(all(test, target_os = "linux", not(fanring_loom), not(feature = "shuttle")))]
mod tests {
    use super::*;

    #[test]
    fn registration_is_decided_once_and_barriers_succeed() {
        let first = available();
        for _ in 0..3 {
            assert_eq!(
                available(),
                first,
                "registration is decided once per process"
            );
        }
        if first {
            for _ in 0..100 {
                assert!(heavy(), "a registered process's barrier must succeed");
            }
            assert!(!degraded());
        } else {
            eprintln!("membarrier refused here: the wake-up uses the SeqCst fences");
        }
    }
}
