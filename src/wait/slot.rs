//! The wake-up handshake between a side about to park and the side that publishes.

use crate::loom::sync::atomic::{fence, AtomicBool, Ordering::*};
use crate::loom::sync::Mutex;
use crate::loom::thread::{current, Thread};

/// One side's parking slot: "I am about to park or parked" and the thread to unpark.
///
/// Waiter: `announce()` (store `waiting`, then `fence(SeqCst)`), re-check the condition, park,
/// `withdraw()`. Publisher: publish (a `Release` store of an index or a closed flag), then
/// `notify()` (`fence(SeqCst)`, then load `waiting`). The two `SeqCst` fences are totally
/// ordered: if the waiter's fence comes first, the publisher's load after its own fence sees
/// `waiting == true` and unparks; if the publisher's fence comes first, the waiter's re-check
/// after its fence sees the published index or flag and does not park. Either way no
/// wake-up is lost. (A `Release` store with an `Acquire` load on each side is not enough:
/// both loads may read the old values. The loom canary `lost_wakeup_canary` shows it.)
#[derive(Debug)]
pub(crate) struct WakeSlot {
    /// Written by the waiting side, read by the publishing side after its fence.
    waiting: AtomicBool,
    /// The thread to unpark. Locked only on the slow path (parking, waking a parked peer).
    thread: Mutex<Option<Thread>>,
}

impl WakeSlot {
    pub(crate) fn new() -> Self {
        WakeSlot {
            waiting: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// Waiter side: record who parks, announce it, and order the announcement before the
    /// caller's re-check.
    pub(crate) fn announce(&self) {
        {
            let me = current();
            let mut t = self
                .thread
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if t.as_ref().map(Thread::id) != Some(me.id()) {
                *t = Some(me);
            }
        }
        // Relaxed: ordered before the re-check's loads by the fence below.
        self.waiting.store(true, Relaxed);
        // SeqCst fence: pairs with the fence in `notify` (see the type's docs).
        fence(SeqCst);
    }

    /// Waiter side: we are awake again (or never parked).
    pub(crate) fn withdraw(&self) {
        // Relaxed: a late `notify` that still sees `true` only causes a spurious unpark, which
        // the wait loop tolerates.
        self.waiting.store(false, Relaxed);
    }

    /// Publisher side: call after the `Release` store that publishes; unparks the other side
    /// if it announced a park. Costs one fence and one load when nobody waits.
    #[inline]
    pub(crate) fn notify(&self) {
        // SeqCst fence: pairs with the fence in `announce`.
        fence(SeqCst);
        // Relaxed: ordered after our publish by the fence above.
        if self.waiting.load(Relaxed) {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        // Acquire: pairs with nothing that carries data; the exchange only makes one of
        // several racing notifiers pay for the unpark. `compare_exchange`, not `swap`: the
        // same effect (a failed one does not write), and loom 0.7.3 lets a swap's write
        // reorder with the waiter's next `announce` store (tokio-rs/loom#254), reporting a
        // deadlock that the C++ model rules out (loom-tests: producer_parks_on_full_*).
        if self
            .waiting
            .compare_exchange(true, false, Acquire, Relaxed)
            .is_ok()
        {
            let t = self
                .thread
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(t) = t.as_ref() {
                t.unpark();
            }
        }
    }
}
