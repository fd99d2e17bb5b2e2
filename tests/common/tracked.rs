//! Counted items for `tests/engine_stress.rs`: a [`Tracked`] item counts its creation and its
//! drop in a shared [`Counts`], so a scenario can check that every item it created was dropped
//! exactly once; [`source`] creates them lazily. [`Rng`] is xorshift64*, for reproducible
//! random choices. (The soak tool has the same helpers, documented, as `fanbench::tracked`;
//! this copy keeps the library's tests free of the workspace's tools.)

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// `[created, dropped]`.
#[derive(Debug, Default)]
pub struct Counts([AtomicU64; 2]);

impl Counts {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }
    pub fn created(&self) -> u64 {
        self.0[0].load(Relaxed)
    }
    pub fn dropped(&self) -> u64 {
        self.0[1].load(Relaxed)
    }
    /// After a drop (which detaches the engine's threads, never waiting on user code): the
    /// threads end by themselves, and every created item is then dropped exactly once. Waits
    /// for that, then [`assert_balanced`](Self::assert_balanced); the 30 s bound only ends a
    /// broken run.
    pub fn assert_balanced_soon(&self, what: &str) {
        let t = std::time::Instant::now();
        while self.created() != self.dropped() && t.elapsed() < std::time::Duration::from_secs(30) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.assert_balanced(what);
    }

    /// Panics (naming `what`) unless every item created has been dropped.
    pub fn assert_balanced(&self, what: &str) {
        let (created, dropped) = (self.created(), self.dropped());
        assert_eq!(
            created, dropped,
            "{what}: {created} items created, {dropped} dropped"
        );
    }
}

/// An item; its `Guard` counts the drop.
#[derive(Debug)]
pub struct Tracked {
    pub v: u64,
    _guard: Guard,
}

#[derive(Debug)]
struct Guard(Arc<Counts>);

impl Drop for Guard {
    fn drop(&mut self) {
        (self.0).0[1].fetch_add(1, Relaxed);
    }
}

impl Tracked {
    pub fn new(v: u64, counts: &Arc<Counts>) -> Self {
        counts.0[0].fetch_add(1, Relaxed);
        Tracked {
            v,
            _guard: Guard(Arc::clone(counts)),
        }
    }
}

/// `n` tracked items (`None`: endless), values `0..n`, each created when taken.
pub fn source(n: Option<u64>, counts: &Arc<Counts>) -> impl Iterator<Item = Tracked> + Send {
    let counts = Arc::clone(counts);
    (0..n.unwrap_or(u64::MAX)).map(move |v| Tracked::new(v, &counts))
}

pub struct Rng(u64);

impl Rng {
    /// `seed` must not be 0.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// A number in `0..n` (0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        let x = &mut self.0;
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}
