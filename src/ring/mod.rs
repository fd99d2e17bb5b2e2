//! The single-producer single-consumer ring buffer.
//!
//! ```text
//!            head (consumer)          tail (producer)
//!                 v                        v
//!   slots: [ . . | item item item item | . . . . ]   len = tail - head  (mod 2^64)
//! ```
//!
//! `head` and `tail` are free-running counters (slot = index & mask), each written by one side
//! only and each on its own cache line. A side publishes its index with a `Release` store and
//! reads the other's with an `Acquire` load, and only when its cached copy says the ring is
//! full (producer) or empty (consumer): the cached-index trick of rigtorp's `SPSCQueue`.

mod consumer;
mod error;
mod producer;

pub(crate) use consumer::Doorbell;
pub use consumer::{Consumer, IntoIter, Iter};
pub use error::{CapacityError, Closed, PopError, PushError};
pub use producer::Producer;

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{load_mut, AtomicBool, AtomicUsize, Ordering::Acquire};
use crate::loom::sync::Arc;
use crate::wait::{WaitStrategy, WakeSlot};
use crossbeam_utils::CachePadded;
use std::mem::MaybeUninit;

/// The largest number of slots a ring may have: `len = tail - head` must stay unambiguous.
pub const MAX_CAPACITY: usize = 1 << (usize::BITS - 2);

/// Most slots a side prefetches at once (see `Shared::prefetch`).
#[cfg(all(target_arch = "x86_64", not(fanring_loom), not(feature = "shuttle")))]
const PREFETCH_ITEMS: usize = 64;

/// Creates a ring with at least `capacity` slots and the default [`WaitStrategy`]
/// ([`ADAPTIVE`](WaitStrategy::ADAPTIVE)).
///
/// The capacity is rounded up to the next power of two; [`Producer::capacity`] tells the
/// result. All slots are allocated here, once: no operation allocates afterwards.
///
/// # Errors
/// [`CapacityError::Zero`] for 0; [`CapacityError::TooLarge`] when the rounded capacity
/// exceeds [`MAX_CAPACITY`] or its buffer would exceed `isize::MAX` bytes or cannot be allocated.
///
/// ```
/// let (mut tx, mut rx) = fanring::channel::<String>(3).unwrap();
/// assert_eq!(tx.capacity(), 4);
/// tx.try_push("hello".to_string()).unwrap();
/// drop(tx); // closes the ring
/// assert_eq!(rx.try_pop().unwrap(), "hello");
/// assert_eq!(rx.try_pop(), Err(fanring::ring::PopError::Closed));
/// assert!(fanring::channel::<u8>(0).is_err());
/// ```
pub fn channel<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    channel_with(capacity, WaitStrategy::default())
}

/// Creates a ring like [`channel`], with the given wait strategy for both ends.
///
/// ```
/// use fanring::WaitStrategy;
/// use fanring::ring::channel_with;
/// let (tx, rx) = channel_with::<u64>(1024, WaitStrategy::BusySpin).unwrap();
/// assert_eq!(rx.capacity(), 1024);
/// # drop((tx, rx));
/// ```
///
/// # Errors
/// As [`channel`].
pub fn channel_with<T>(
    capacity: usize,
    wait: WaitStrategy,
) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    let shared = Arc::new(Shared::new(capacity, wait, true)?);
    Ok((Producer::new(Arc::clone(&shared)), Consumer::new(shared)))
}

/// A ring for the engine's stages, which publish and release once per run of items, never
/// per item, so the symmetric wake-up handshake's `SeqCst` fence per publish costs little
/// there. The asymmetric one's `membarrier` on every park interrupts every core that runs a
/// thread of this process, the caller's hot thread included, and oversubscribed workers park
/// often (it was 18% of a profile of `drive` with 2 workers on 2 cores; throughput did not
/// change measurably either way).
pub(crate) fn channel_for_runs<T>(
    capacity: usize,
    wait: WaitStrategy,
) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    let shared = Arc::new(Shared::new(capacity, wait, false)?);
    Ok((Producer::new(Arc::clone(&shared)), Consumer::new(shared)))
}

/// What one side tells the other: that it closed, and where to wake it.
#[derive(Debug)]
struct Side {
    closed: AtomicBool,
    /// Where this side waits for the peer to progress (or close): every publish or release
    /// of the peer notifies it.
    wake: WakeSlot,
    /// Where this side waits only for the peer to close, while it waits for something else
    /// (a worker waits for input *or* its output ring closing): only the peer's close
    /// notifies it, so the peer's releases do not wake a thread that waits for input.
    close_wake: WakeSlot,
}

/// The state both handles share.
struct Shared<T> {
    /// Next index the consumer reads. Stored by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// Next index the producer writes. Stored by the producer only.
    tail: CachePadded<AtomicUsize>,
    /// The producer's flag and parking slot: written by the producer (closing) and by its
    /// waits, read by the consumer.
    producer: CachePadded<Side>,
    /// The consumer's flag and parking slot, read by the producer.
    consumer: CachePadded<Side>,
    buf: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    wait: WaitStrategy,
    /// The most items the producer keeps in the ring: the capacity, unless the consumer
    /// lowered it ([`Consumer::set_depth`]: an engine worker whose items take long keeps what
    /// waits for it bounded in time, not only in slots). A hint, read when the producer
    /// reloads `head`, written rarely. A std atomic: configuration, not state the models
    /// explore.
    depth: std::sync::atomic::AtomicUsize,
}

// SAFETY: the slots are accessed by one producer and one consumer, and the index protocol
// (Release store of an index, Acquire load of it on the other side) guarantees that a slot is
// owned by exactly one side at a time. Items move between threads, so `T: Send` suffices.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above; `&Shared` is only used through the two handles, one per thread.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// `asymmetric`: use the membarrier wake-up handshake where the process could register for
    /// it (see `WakeSlot`).
    pub(crate) fn new(
        capacity: usize,
        wait: WaitStrategy,
        asymmetric: bool,
    ) -> Result<Self, CapacityError> {
        if capacity == 0 {
            return Err(CapacityError::Zero);
        }
        let too_large = CapacityError::TooLarge {
            requested: capacity,
        };
        let slots = capacity
            .checked_next_power_of_two()
            .filter(|&c| c <= MAX_CAPACITY)
            .ok_or(too_large)?;
        std::alloc::Layout::array::<UnsafeCell<MaybeUninit<T>>>(slots).map_err(|_| too_large)?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(slots).map_err(|_| too_large)?;
        #[cfg(not(fanring_loom))]
        // SAFETY: the capacity is reserved, and a slot (`UnsafeCell<MaybeUninit<T>>`) needs no
        // initialisation. (Filling 2^40 zero-sized slots one by one would take minutes.)
        unsafe {
            buf.set_len(slots);
        }
        #[cfg(fanring_loom)]
        buf.extend((0..slots).map(|_| UnsafeCell::new(MaybeUninit::uninit())));
        let slot = || {
            if asymmetric {
                WakeSlot::new()
            } else {
                WakeSlot::with_mode(false)
            }
        };
        let side = || {
            CachePadded::new(Side {
                closed: AtomicBool::new(false),
                wake: slot(),
                close_wake: slot(),
            })
        };
        Ok(Shared {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            producer: side(),
            consumer: side(),
            buf: buf.into_boxed_slice(),
            mask: slots - 1,
            wait,
            depth: std::sync::atomic::AtomicUsize::new(slots),
        })
    }

    /// The producer's `limit` (the `tail` at which the ring counts as full) for its `tail`:
    /// `depth` items past the consumer's `head`, never below `tail` (a depth lowered while
    /// the ring held more leaves it full until the consumer catches up).
    #[inline]
    fn limit_for(&self, tail: usize) -> usize {
        // Acquire: pairs with the consumer's Release store of `head`: it has finished reading
        // every slot before it, so we may overwrite them.
        let head = self.head.load(Acquire);
        tail.wrapping_add(self.depth().saturating_sub(tail.wrapping_sub(head)))
    }

    /// [`depth`](Self::depth): at least 1, at most the capacity.
    #[inline]
    pub(super) fn depth(&self) -> usize {
        // Relaxed: a hint (see the field).
        self.depth
            .load(std::sync::atomic::Ordering::Relaxed)
            .clamp(1, self.capacity())
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.mask + 1
    }

    #[inline]
    fn slot(&self, index: usize) -> &UnsafeCell<MaybeUninit<T>> {
        // SAFETY: masked, and `buf.len() == mask + 1`, so always in bounds.
        unsafe { self.buf.get_unchecked(index & self.mask) }
    }

    /// The slots as `*mut T`: the shim's std `UnsafeCell` is `repr(transparent)` over std's,
    /// which is over `MaybeUninit<T>`, so the buffer has the layout of `[T]`.
    #[cfg(not(fanring_loom))]
    #[inline]
    fn base(&self) -> *mut T {
        self.buf.as_ptr().cast::<T>().cast_mut()
    }

    /// Asks the CPU to start fetching the cache lines of slots `[from, from + n)` (at most
    /// [`PREFETCH_ITEMS`] of them), for writing or for reading. The other side wrote or read
    /// those lines last, so each access would otherwise wait for its own cross-core transfer,
    /// one after the other; prefetched, the transfers overlap. A hint only: no effect on what
    /// any access returns.
    #[inline]
    fn prefetch(&self, from: usize, n: usize, write: bool) {
        #[cfg(all(target_arch = "x86_64", not(fanring_loom), not(feature = "shuttle")))]
        {
            let size = std::mem::size_of::<T>();
            if size == 0 {
                return;
            }
            let step = (64 / size).max(1);
            let n = n.min(PREFETCH_ITEMS);
            let mut i = 0;
            while i < n {
                let p = self
                    .base()
                    .wrapping_add(from.wrapping_add(i) & self.mask)
                    .cast::<u8>();
                // SAFETY: a prefetch never faults and has no architectural effect; `p` points
                // into the buffer. PREFETCHW is NOP-compatible on CPUs without it.
                unsafe {
                    if write {
                        std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
                    } else {
                        std::arch::asm!("prefetcht0 [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
                    }
                }
                i += step;
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(fanring_loom), not(feature = "shuttle"))))]
        let _ = (self, from, n, write);
    }

    /// Splits `n` slots from index `from` into the run up to the buffer's end and the rest
    /// (from slot 0): `(start, first, n - first)`.
    #[cfg(not(fanring_loom))]
    #[inline]
    fn runs(&self, from: usize, n: usize) -> (usize, usize, usize) {
        let start = from & self.mask;
        let first = n.min(self.capacity() - start);
        (start, first, n - first)
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Both handles are gone, so the real indices (not a side's cached copy) are final;
        // every item in [head, tail) was pushed and never popped: drop each exactly once.
        let head = load_mut(&mut self.head);
        let tail = load_mut(&mut self.tail);
        let mut rest = DropRest {
            shared: self,
            next: head,
            tail,
        };
        rest.drop_all();
    }
}

/// Drops the items in `[next, tail)`; if one's `Drop` panics, its own `Drop` (run during
/// unwinding) goes on with the rest, like a `Vec` does.
struct DropRest<'a, T> {
    shared: &'a Shared<T>,
    next: usize,
    tail: usize,
}

impl<T> DropRest<'_, T> {
    fn drop_all(&mut self) {
        while self.next != self.tail {
            let i = self.next;
            self.next = i.wrapping_add(1);
            // SAFETY: slots in [head, tail) hold initialised items that no handle can reach;
            // `next` moves past the slot first, so no slot is dropped twice.
            self.shared
                .slot(i)
                .with_mut(|p| unsafe { (*p).assume_init_drop() });
        }
    }
}

impl<T> Drop for DropRest<'_, T> {
    fn drop(&mut self) {
        self.drop_all();
    }
}

#[cfg(all(test, not(fanring_loom), not(feature = "shuttle")))]
mod tests {
    use super::channel_with;
    use crate::wait::{Notify, WaitStrategy};
    use std::time::Duration;

    /// Straight to `park` at the first failed try: every wait parks.
    const PARK: WaitStrategy = WaitStrategy::SpinThenPark {
        spins: 0,
        yields: 0,
    };

    /// A depth the consumer sets before the first push bounds the ring from that push on
    /// (the producer's first push reads it, instead of filling to the capacity).
    #[test]
    fn a_depth_set_before_the_first_push_bounds_the_ring() {
        let (mut tx, mut rx) = super::channel_for_runs::<u32>(64, PARK).unwrap();
        rx.set_depth(3);
        assert_eq!(tx.reserve(), Ok(3));
        let mut staged = 0;
        while tx.stage(staged).is_ok() {
            staged += 1;
        }
        assert_eq!(staged, 3);
        tx.commit();
        assert_eq!(rx.pop(), Some(0));
        // A freed slot is room again once the producer reloads the consumer's position.
        rx.release();
        assert_eq!(tx.reserve(), Ok(1));
    }

    #[test]
    fn handles_cache_the_slots_notify_mode() {
        let (tx, rx) = channel_with::<u8>(4, PARK).unwrap();
        let light = crate::wait::membarrier_available();
        let want = if light { Notify::Light } else { Notify::Fence };
        assert_eq!(tx.notify_mode(), (want, light));
        assert_eq!(rx.notify_mode(), (want, light));
        let (tx, rx) = channel_with::<u8>(4, WaitStrategy::SPIN_YIELD).unwrap();
        assert_eq!(tx.notify_mode(), (Notify::Never, light));
        assert_eq!(rx.notify_mode(), (Notify::Never, light));
        // The engine's rings always use the symmetric handshake.
        let (tx, rx) = super::channel_for_runs::<u8>(4, PARK).unwrap();
        assert_eq!(tx.notify_mode(), (Notify::Fence, false));
        assert_eq!(rx.notify_mode(), (Notify::Fence, false));
    }

    /// Blocking ping-pong over two rings of capacity 1 with a strategy that parks at once, so
    /// both threads park and wake on almost every step, through the asymmetric (membarrier)
    /// handshake where this kernel allows it. A lost wake-up hangs; the watchdog fails instead.
    #[test]
    fn parking_ping_pong_through_the_rings_never_hangs() {
        const ROUNDS: u64 = 20_000;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut ping_tx, mut ping_rx) = channel_with::<u64>(1, PARK).unwrap();
            let (mut pong_tx, mut pong_rx) = channel_with::<u64>(1, PARK).unwrap();
            let echo = std::thread::spawn(move || {
                while let Some(v) = ping_rx.pop() {
                    pong_tx.push(v + 1).unwrap();
                }
            });
            for i in 0..ROUNDS {
                ping_tx.push(i).unwrap();
                assert_eq!(pong_rx.pop(), Some(i + 1));
            }
            drop(ping_tx);
            assert_eq!(pong_rx.pop(), None);
            echo.join().unwrap();
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_mins(1))
            .expect("parked ping-pong did not finish: a wake-up was lost");
    }
}
