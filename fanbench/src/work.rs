//! The per-item work every runner applies, and the tally it must produce.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

use crate::item::Tally;

/// The per-item work: a multiply (trivial) or `rounds` rounds of a cheap dependent hash
/// (calibrated busy work). `Copy`, so every runner gets the same function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    rounds: u32,
}

impl Work {
    /// One multiply: `x.wrapping_mul(K)`.
    pub const TRIVIAL: Work = Work { rounds: 0 };

    /// About `ns` nanoseconds of busy work per item (calibrated once per process); `0` is
    /// [`Work::TRIVIAL`].
    pub fn busy_ns(ns: u64) -> Work {
        if ns == 0 {
            return Work::TRIVIAL;
        }
        let rounds = (ns as f64 * rounds_per_ns())
            .round()
            .clamp(1.0, u32::MAX as f64);
        Work {
            rounds: rounds as u32,
        }
    }

    /// Hash rounds per item.
    pub fn rounds(self) -> u32 {
        self.rounds
    }

    /// Applies the work to `x`.
    #[inline]
    pub fn apply(self, x: u64) -> u64 {
        let mut h = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for _ in 0..self.rounds {
            h ^= h >> 29;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        }
        h
    }

    /// The work as a closure for the runners.
    pub fn func(self) -> impl Fn(u64) -> u64 + Clone + Send + Sync + 'static {
        move |x| self.apply(x)
    }
}

/// Hash rounds per nanosecond on this machine: the fastest of a few timed runs (the least
/// disturbed by other load).
pub fn rounds_per_ns() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        const ROUNDS: u32 = 2_000_000;
        let w = Work { rounds: ROUNDS };
        let mut best = f64::INFINITY;
        for i in 0..7 {
            let start = Instant::now();
            black_box(w.apply(black_box(i)));
            best = best.min(start.elapsed().as_nanos() as f64);
        }
        ROUNDS as f64 / best.max(1.0)
    })
}

/// The tally every runner must produce for `n` items of `work`.
pub fn expected(n: u64, work: Work) -> Tally {
    Tally {
        count: n,
        checksum: (0..n).fold(0u64, |s, i| s.wrapping_add(work.apply(i))),
    }
}
