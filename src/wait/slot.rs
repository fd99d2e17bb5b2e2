//! The wake-up handshake between a side about to park and the side that publishes.

use super::membarrier;
use crate::loom::sync::atomic::{fence, AtomicBool, Ordering::*};
use crate::loom::sync::Mutex;
use crate::loom::thread::{current, Thread};
use std::sync::atomic::compiler_fence;

/// How a publisher notifies one `WakeSlot` (see [`WakeSlot::mode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Notify {
    /// The waiter never parks (`BusySpin`, `SpinYield`): nothing to do.
    Never,
    /// Asymmetric handshake: a compiler barrier, then load `waiting`.
    Light,
    /// Symmetric handshake: `fence(SeqCst)`, then load `waiting`.
    Fence,
}

/// A ring handle's way of notifying its peer's [`WakeSlot`] after each publish, chosen once:
/// the fast path of every single-item push or pop is one load of one byte and one branch.
///
/// Outside loom and shuttle it points at the byte to test: the slot's `waiting` flag
/// (asymmetric handshake: `true` means unpark), a static `false` (the peer never parks), or a
/// static `true` (symmetric handshake: always go to the out-of-line path, which runs the fence
/// and then tests `waiting`). Under loom and shuttle it dispatches on the [`Notify`] mode.
#[derive(Debug)]
pub(crate) struct Notifier {
    mode: Notify,
    /// Valid while the slot lives: the handle holding this also holds the slot's `Arc`.
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    flag: *const AtomicBool,
}

// SAFETY: `flag` points at an `AtomicBool` (`Sync`) that outlives the handle holding the
// `Notifier` (a static, or a field of the ring's shared state that the handle keeps alive), and
// is only ever loaded from.
#[cfg(not(any(fanring_loom, feature = "shuttle")))]
unsafe impl Send for Notifier {}
// SAFETY: as for `Send`.
#[cfg(not(any(fanring_loom, feature = "shuttle")))]
unsafe impl Sync for Notifier {}

/// The flag of a peer that never parks.
#[cfg(not(any(fanring_loom, feature = "shuttle")))]
static NEVER_SET: AtomicBool = AtomicBool::new(false);
/// The flag of a peer on the symmetric handshake: always take the fenced path.
#[cfg(not(any(fanring_loom, feature = "shuttle")))]
static ALWAYS_SET: AtomicBool = AtomicBool::new(true);

impl Notifier {
    /// The handshake this notifier runs (for tests).
    #[cfg(all(test, not(fanring_loom), not(feature = "shuttle")))]
    pub(crate) fn mode(&self) -> Notify {
        self.mode
    }

    /// Call after the `Release` store that publishes, with the slot this was made from.
    #[inline]
    pub(crate) fn after_publish(&self, slot: &WakeSlot) {
        #[cfg(not(any(fanring_loom, feature = "shuttle")))]
        {
            // SAFETY: `flag` is live (see the field).
            if unsafe { load_after_publish(self.flag) } {
                slot.notify_slow(self.mode);
            }
        }
        #[cfg(any(fanring_loom, feature = "shuttle"))]
        slot.notify_as(self.mode);
    }
}

/// Loads `*flag`, kept after the caller's publishing store by the compiler (the hardware
/// barrier, when one is needed, is the membarrier in `announce`, or the fence that
/// `notify_fenced` runs after this load returned `true`).
///
/// On x86-64 and `AArch64` the load is itself an `asm!` block marked `readonly`: the compiler
/// must assume it reads any memory that escaped, so every store to the ring's shared state (the
/// publishing store included) is emitted before it, and since it writes nothing, nothing has to
/// be reloaded after it. A `compiler_fence` would do the first, but the optimiser applies it to
/// every location, the handle's private fields included, which then cannot stay in registers
/// across a caller's loop. Elsewhere: `compiler_fence(SeqCst)` and a `Relaxed` load.
///
/// # Safety
/// `flag` points at a live `AtomicBool`.
#[cfg(not(any(fanring_loom, feature = "shuttle")))]
#[allow(clippy::inline_always)] // one instruction: a call would be all cost
#[inline(always)]
unsafe fn load_after_publish(flag: *const AtomicBool) -> bool {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        // The byte load, as a `Relaxed` load of an `AtomicBool` compiles on each.
        #[cfg(target_arch = "x86_64")]
        macro_rules! load_byte {
            () => {
                "movzx {w:e}, byte ptr [{p}]"
            };
        }
        #[cfg(target_arch = "aarch64")]
        macro_rules! load_byte {
            () => {
                "ldrb {w:w}, [{p}]"
            };
        }
        let w: u32;
        // SAFETY: reads the one byte of a live `AtomicBool` (0 or 1; the caller's contract);
        // writes no memory (`readonly`), uses no stack, and leaves the flags alone.
        unsafe {
            std::arch::asm!(
                load_byte!(),
                p = in(reg) flag,
                w = out(reg) w,
                options(nostack, preserves_flags, readonly)
            );
        }
        w != 0
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        // Keeps the load below after the caller's publishing store.
        compiler_fence(SeqCst);
        // Relaxed: ordered after the publish by the compiler fence above.
        // SAFETY: the caller's contract.
        unsafe { (*flag).load(Relaxed) }
    }
}

/// One side's parking slot: "I am about to park or parked" and the thread to unpark.
///
/// Waiter: `announce()` (store `waiting`, then a full barrier), re-check the condition, park,
/// `withdraw()`. Publisher: publish (a `Release` store of an index or a closed flag), then
/// `notify()` (a barrier, then load `waiting`). This is Dekker's handshake: each side stores,
/// then loads what the other stored, with a full barrier in between, so at least one of the
/// two loads sees the other's store. If the waiter's barrier comes first, the publisher's load
/// sees `waiting == true` and unparks; if the publisher's comes first, the waiter's re-check
/// sees the published index or flag and does not park. Either way no wake-up is lost. (A
/// `Release` store with an `Acquire` load on each side is not enough: both loads may read the
/// old values. The loom canary `lost_wakeup_canary` shows it.)
///
/// Two ways to place the barriers, chosen once when the slot is built and used by both sides:
///
/// - **asymmetric** (Linux, where `membarrier` registration succeeded): the waiter, which runs
///   this only before parking, calls `membarrier(PRIVATE_EXPEDITED)`, which makes every running
///   thread of the process, the publisher included, execute a full barrier; the publisher, on
///   every publish, needs only a compiler barrier so that its store and its load stay in program
///   order (`docs/design.md`, "Wake-up");
/// - **symmetric** (elsewhere, and always under loom and shuttle): a `fence(SeqCst)` on each
///   side; the two fences are in the single total order of `SeqCst` operations.
#[derive(Debug)]
pub(crate) struct WakeSlot {
    /// Written by the waiting side, read by the publishing side after its barrier.
    waiting: AtomicBool,
    /// The asymmetric handshake (membarrier) is in use. Fixed at construction.
    asymmetric: bool,
    /// The thread to unpark (and, with the `async` feature, the task to wake). Locked only on
    /// the slow path (parking or registering, waking a parked peer), never by a publish that
    /// finds `waiting` false.
    thread: Mutex<Waiter>,
}

/// Who waits on a slot: the thread that last parked on it, and (with the `async` feature) the
/// waker of the task that last registered on it. Both may be set (a handle used blocking, then
/// asynchronously): a wake-up wakes both, and a spurious wake-up costs one re-check.
#[derive(Debug, Default)]
struct Waiter {
    thread: Option<Thread>,
    /// Taken by the wake (a `Waker` is woken once); the next pending poll registers again.
    #[cfg(feature = "async")]
    task: Option<std::task::Waker>,
}

impl WakeSlot {
    /// A slot using the asymmetric handshake wherever this process could register for
    /// `membarrier`, the symmetric one otherwise.
    pub(crate) fn new() -> Self {
        Self::with_mode(membarrier::available())
    }

    /// A slot with the given handshake; `asymmetric` only if [`membarrier::available`].
    pub(crate) fn with_mode(asymmetric: bool) -> Self {
        debug_assert!(!asymmetric || membarrier::available());
        WakeSlot {
            waiting: AtomicBool::new(false),
            asymmetric,
            thread: Mutex::new(Waiter::default()),
        }
    }

    /// Whether this slot uses the asymmetric (membarrier) handshake. Always `false` under loom
    /// and shuttle, so the check and the compiler-barrier branch vanish there.
    #[inline]
    pub(crate) fn is_asymmetric(&self) -> bool {
        #[cfg(any(fanring_loom, feature = "shuttle"))]
        {
            let _ = self.asymmetric; // always built `false` there (`membarrier::available`)
            false
        }
        #[cfg(not(any(fanring_loom, feature = "shuttle")))]
        self.asymmetric
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
            if t.thread.as_ref().map(Thread::id) != Some(me.id()) {
                t.thread = Some(me);
            }
        }
        self.raise();
    }

    /// Task side (`async` feature): record `waker` (replacing the one of an earlier poll unless
    /// it would wake the same task), announce, and order the announcement before the caller's
    /// re-check: [`announce`](Self::announce) with a waker in place of the thread. The lock
    /// also orders the registration with a concurrent [`wake`](Self::wake): a waker stored
    /// before the publisher's lock is the one it wakes; one stored after it belongs to a poll
    /// whose re-check sees the publish (the publisher's unlock happens-before our lock).
    #[cfg(feature = "async")]
    pub(crate) fn announce_task(&self, waker: &std::task::Waker) {
        {
            let mut t = self
                .thread
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &mut t.task {
                Some(w) => w.clone_from(waker),
                None => t.task = Some(waker.clone()),
            }
        }
        #[cfg(fanring_loom)]
        if crate::loom::canary::async_unfenced() {
            // The loom canary's broken handshake: the announcement with no barrier after it.
            self.waiting.store(true, Relaxed);
            return;
        }
        self.raise();
    }

    /// `waiting = true`, then the handshake's full barrier (see the type's docs).
    fn raise(&self) {
        // Relaxed: ordered before the re-check's loads by the barrier below.
        self.waiting.store(true, Relaxed);
        if self.is_asymmetric() {
            // Keep the store before the syscall and the re-check after it (the syscall is
            // opaque to the compiler anyway; this says so).
            compiler_fence(SeqCst);
            // The heavy barrier: pairs with the compiler barrier in `notify`. membarrier itself
            // runs a full barrier on this thread before and after, and one on every running
            // thread of the process in between (see `membarrier`).
            if !membarrier::heavy() {
                // Cannot happen once registered; if it does, the publisher's side of the
                // handshake is missing: the wait loop sees `degraded()` and polls instead of
                // parking (`wait_until`).
                fence(SeqCst);
            }
            compiler_fence(SeqCst);
        } else {
            // SeqCst fence: pairs with the fence in `notify` (see the type's docs).
            fence(SeqCst);
        }
    }

    /// Whether the waiter has announced a park (a hint: it may be about to withdraw, or to
    /// park). A publisher that sees it may decide to do the work itself instead of waking it.
    pub(crate) fn is_announced(&self) -> bool {
        // Relaxed: a hint; nothing is read through it, and a publish that follows still runs
        // the full handshake.
        self.waiting.load(Relaxed)
    }

    /// Waiter side: we are awake again (or never parked).
    pub(crate) fn withdraw(&self) {
        // Relaxed: a late `notify` that still sees `true` only causes a spurious unpark, which
        // the wait loop tolerates.
        self.waiting.store(false, Relaxed);
    }

    /// Publisher side: call after the `Release` store that publishes; unparks the other side
    /// if it announced a park. When nobody waits it costs one load and a compiler barrier
    /// (asymmetric) or one `SeqCst` fence and one load (symmetric).
    #[inline]
    pub(crate) fn notify(&self) {
        self.notify_as(self.mode(true));
    }

    /// What a publisher to this slot must do, decided once by a ring handle: nothing if the
    /// waiter's strategy never parks (`can_park == false`), else this slot's handshake.
    pub(crate) fn mode(&self, can_park: bool) -> Notify {
        match (can_park, self.is_asymmetric()) {
            (false, _) => Notify::Never,
            (true, true) => Notify::Light,
            (true, false) => Notify::Fence,
        }
    }

    /// [`notify`](Self::notify) with the mode a handle cached from [`mode`](Self::mode): the
    /// fast path of every single-item publish reads one byte of its own handle to choose.
    #[inline]
    pub(crate) fn notify_as(&self, mode: Notify) {
        match mode {
            Notify::Never => {}
            Notify::Light => {
                #[cfg(not(any(fanring_loom, feature = "shuttle")))]
                // SAFETY: `waiting` is a live `AtomicBool` (`load_after_publish`'s contract).
                let set = unsafe { load_after_publish(self.waiting_ptr()) };
                // Never taken there (`is_asymmetric` is `false`), but it must compile.
                #[cfg(any(fanring_loom, feature = "shuttle"))]
                let set = {
                    compiler_fence(SeqCst);
                    self.waiting.load(Relaxed)
                };
                if set {
                    self.wake();
                }
            }
            // Out of line: see `notify_fenced`.
            Notify::Fence => self.notify_fenced(),
        }
    }

    /// What a ring handle keeps to notify this slot after each publish (see [`Notifier`]).
    pub(crate) fn notifier(&self, can_park: bool) -> Notifier {
        let mode = self.mode(can_park);
        Notifier {
            mode,
            #[cfg(not(any(fanring_loom, feature = "shuttle")))]
            flag: match mode {
                Notify::Never => &raw const NEVER_SET,
                Notify::Light => self.waiting_ptr(),
                Notify::Fence => &raw const ALWAYS_SET,
            },
        }
    }

    /// `waiting`, for the publisher's load (the loom type has no pointer to hand out).
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    fn waiting_ptr(&self) -> *const AtomicBool {
        &raw const self.waiting
    }

    /// What a publisher does once its flag (`Notifier`) read `true`: unpark the waiter
    /// (asymmetric: the flag was `waiting` itself), or run the symmetric handshake.
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    #[cold]
    #[inline(never)]
    fn notify_slow(&self, mode: Notify) {
        match mode {
            Notify::Never => {}
            Notify::Light => self.wake(),
            Notify::Fence => self.notify_fenced(),
        }
    }

    /// The symmetric handshake's publisher side, out of line on purpose: inlined, the fence
    /// would make the compiler assume every location may change (the handle's own fields
    /// included), so a caller's loop of single-item pushes or pops would reload `tail` or
    /// `head` from memory each time. A call only affects memory that escaped.
    #[inline(never)]
    fn notify_fenced(&self) {
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
            // `mut`: the task's waker is taken with the `async` feature only.
            #[cfg_attr(not(feature = "async"), allow(unused_mut))]
            let mut t = self
                .thread
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(t) = t.thread.as_ref() {
                t.unpark();
            }
            // Taken under the lock, woken after it: a waker runs the executor's code, which
            // must not run while we hold the slot (it could poll the waiter on this thread).
            #[cfg(feature = "async")]
            let task = t.task.take();
            drop(t);
            #[cfg(feature = "async")]
            if let Some(w) = task {
                w.wake();
            }
        }
    }
}

#[cfg(all(test, not(fanring_loom), not(feature = "shuttle")))]
mod tests {
    use super::{membarrier, Notify, WakeSlot};
    use std::sync::atomic::{AtomicUsize, Ordering::*};
    use std::thread;
    use std::time::{Duration, Instant};

    #[test]
    fn mode_follows_registration_and_strategy() {
        let slot = WakeSlot::new();
        assert_eq!(slot.is_asymmetric(), membarrier::available());
        assert_eq!(slot.mode(false), Notify::Never);
        let expect = if membarrier::available() {
            Notify::Light
        } else {
            Notify::Fence
        };
        assert_eq!(slot.mode(true), expect);
        assert_eq!(WakeSlot::with_mode(false).mode(true), Notify::Fence);
    }

    /// Two threads hand a counter back and forth, each announcing, re-checking and parking
    /// whenever the other has not moved yet (no spinning), so many steps park. A lost wake-up
    /// leaves a thread parked until its (long) timeout: none may time out.
    fn ping_pong_parks(asymmetric: bool, rounds: usize) {
        const TIMEOUT: Duration = Duration::from_secs(5);
        struct Side {
            count: AtomicUsize,
            slot: WakeSlot,
        }
        let sides = [0, 1].map(|_| Side {
            count: AtomicUsize::new(0),
            slot: WakeSlot::with_mode(asymmetric),
        });
        let (parks, timeouts) = (AtomicUsize::new(0), AtomicUsize::new(0));
        // Waits on `me.slot` until `other.count >= n`: the wait loop's protocol, minus spins.
        let wait_for = |me: &Side, other: &Side, n: usize| {
            // Acquire: pairs with the Release increment below.
            while other.count.load(Acquire) < n {
                me.slot.announce();
                if other.count.load(Acquire) < n {
                    parks.fetch_add(1, Relaxed);
                    let t = Instant::now();
                    thread::park_timeout(TIMEOUT);
                    if t.elapsed() >= TIMEOUT {
                        timeouts.fetch_add(1, Relaxed);
                    }
                }
                me.slot.withdraw();
            }
        };
        thread::scope(|s| {
            for me in 0..2 {
                let (mine, theirs) = (&sides[me], &sides[1 - me]);
                let wait_for = &wait_for;
                s.spawn(move || {
                    for i in 0..rounds {
                        // Side 0 moves first in each round, side 1 answers.
                        wait_for(mine, theirs, i + me);
                        // Release: pairs with the Acquire loads in `wait_for`.
                        mine.count.fetch_add(1, Release);
                        theirs.slot.notify();
                    }
                });
            }
        });
        assert_eq!(sides[0].count.load(Relaxed), rounds);
        assert_eq!(sides[1].count.load(Relaxed), rounds);
        assert_eq!(timeouts.load(Relaxed), 0, "a wake-up was lost");
        eprintln!(
            "asymmetric {asymmetric}: {rounds} round trips, {} parks",
            parks.load(Relaxed)
        );
        assert!(parks.load(Relaxed) > 0, "the test must exercise parking");
    }

    #[test]
    fn parked_ping_pong_symmetric_fences() {
        ping_pong_parks(false, 20_000);
    }

    #[test]
    fn parked_ping_pong_asymmetric_membarrier() {
        if !membarrier::available() {
            eprintln!("membarrier refused here: skipping the asymmetric run");
            return;
        }
        ping_pong_parks(true, 20_000);
    }
}
