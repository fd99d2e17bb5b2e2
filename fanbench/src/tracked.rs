//! Counted items for the soak tool (`fanbench-soak`): every [`Tracked`] item counts its
//! creation and its drop in a shared [`Counts`], so a run that ends (completely, early, or
//! with a panic) can check that every item it created was dropped exactly once; [`source`]
//! creates them lazily, so items a source never handed out never exist. [`Rng`] makes the
//! random choices reproducible without a dependency.
//!
//! The engine's stress tests (`tests/engine_stress.rs`) have their own copy of what they use
//! (`tests/common/tracked.rs`), so that the library's tests do not depend on this crate.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Creation and drop counters of one scenario (a test, a soak round).
#[derive(Debug, Default)]
pub struct Counts {
    created: AtomicU64,
    dropped: AtomicU64,
}

impl Counts {
    /// Fresh counters, shared by the items they count.
    pub fn new() -> Arc<Self> {
        Arc::new(Counts::default())
    }

    /// Items created so far.
    pub fn created(&self) -> u64 {
        self.created.load(Relaxed)
    }

    /// Items dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Panics (naming `what`) unless every item created has been dropped.
    pub fn assert_balanced(&self, what: &str) {
        assert_eq!(
            self.created(),
            self.dropped(),
            "{what}: {} items created, {} dropped",
            self.created(),
            self.dropped()
        );
    }
}

/// An item whose creation and drop are counted.
#[derive(Debug)]
pub struct Tracked {
    /// The item's value.
    pub v: u64,
    counts: Arc<Counts>,
}

impl Tracked {
    /// Item `v`, counted as created in `counts` (and as dropped there when it is dropped).
    pub fn new(v: u64, counts: &Arc<Counts>) -> Self {
        counts.created.fetch_add(1, Relaxed);
        Tracked {
            v,
            counts: Arc::clone(counts),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, Relaxed);
    }
}

/// A lazy source of `n` tracked items, values `0..n` (`None`: endless).
pub fn source(
    n: Option<u64>,
    counts: &Arc<Counts>,
) -> impl Iterator<Item = Tracked> + Send + 'static {
    let c = Arc::clone(counts);
    (0..n.unwrap_or(u64::MAX)).map(move |i| Tracked::new(i, &c))
}

/// xorshift64*: reproducible without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose state starts at `seed` (not 0: the sequence would stay at 0).
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// One of `xs`, which must not be empty.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}
