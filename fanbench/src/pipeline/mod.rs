//! Multi-stage pipelines with real work: a source of `N` items, two or more stages, and an
//! ordered sink that checks what it gets (`fanbench --measure pipeline`).
//!
//! A [`Workload`] says how to make item `i` (the source), what each stage does to an item
//! ([`Workload::stages`]: every stage maps the workload's one item type to itself, so a
//! runner handles any number of stages the same way), and how the result is consumed
//! ([`Workload::sink`]: an [`OrderedSink`] that checks the order and keeps a checksum). The
//! runners of [`crate::baselines::pipeline`] (fanring, hand-built threads over crossbeam
//! channels, rayon, tokio, the plain loop) take any workload; every one of them hands the sink
//! the items in source order, and a run counts only if its [`PipeTally`] equals the plain
//! loop's.
//!
//! The workloads:
//! - [`mandel::Mandel`]: RustStreamBench's micro-bench (GMAP/RustStreamBench, `micro-bench`):
//!   Mandelbrot rows, the iterations of each pixel split over two unbalanced stages;
//! - [`filters::Filters`]: five image filters over generated images (saturation, emboss,
//!   gamma, sharpen, grayscale), one stage each;
//! - [`blocks::Blocks`]: text-like blocks compressed (LZ4) in stage 1, checksummed and
//!   framed in stage 2, written in order by the sink.

pub mod blocks;
pub mod filters;
pub mod mandel;

use std::sync::Arc;

/// One stage of a pipeline: an item in, the same item type out. Shared by every thread that
/// runs the stage.
pub type Stage<T> = Arc<dyn Fn(T) -> T + Send + Sync>;

/// A pipeline's workload: its source, its stages and its sink.
pub trait Workload: Send + Sync + 'static {
    /// What travels from stage to stage.
    type Item: Send + 'static;
    /// The consumer at the end.
    type Sink: OrderedSink<Self::Item>;

    /// Short, for tables: `mandelbrot 2048:20+10`.
    fn label(&self) -> String;
    /// What the items are and what each stage does, in words.
    fn describe(&self) -> String;
    /// Items per run.
    fn items(&self) -> u64;
    /// The source's item `i` (`0..items()`), made on the source's thread.
    fn make(&self, i: u64) -> Self::Item;
    /// The stages, in order.
    fn stages(&self) -> Vec<Stage<Self::Item>>;
    /// A fresh sink for one run.
    fn sink(&self) -> Self::Sink;
}

/// The consumer at the end of a pipeline: takes the items (in source order, if the runner
/// is right) and says what it saw.
pub trait OrderedSink<T> {
    fn take(&mut self, item: T);
    fn tally(&self) -> PipeTally;
}

/// What a sink saw: how many items, a checksum over their contents (each mixed with its
/// index, so an item computed as another's does not pass), and whether item `k` was the
/// `k`-th to arrive for every `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipeTally {
    pub items: u64,
    pub checksum: u64,
    pub in_order: bool,
}

/// The order check and checksum every sink keeps: [`Tallier::add`] per item.
#[derive(Clone, Copy, Debug)]
pub struct Tallier {
    tally: PipeTally,
}

impl Default for Tallier {
    fn default() -> Self {
        Tallier {
            tally: PipeTally {
                items: 0,
                checksum: 0,
                in_order: true,
            },
        }
    }
}

impl Tallier {
    /// Item `index` arrived, its contents hashed to `value`.
    #[inline]
    pub fn add(&mut self, index: u64, value: u64) {
        let t = &mut self.tally;
        t.in_order &= index == t.items;
        t.items += 1;
        t.checksum = t
            .checksum
            .wrapping_add(mix(value ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    }

    pub fn tally(&self) -> PipeTally {
        self.tally
    }
}

/// A 64-bit finaliser (splitmix64's): every input bit moves about half the output bits.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic generator (xorshift64*), for the generated inputs.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(mix(seed) | 1)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallier_sees_order_and_contents() {
        let mut a = Tallier::default();
        let mut b = Tallier::default();
        for i in 0..10 {
            a.add(i, i * 3);
        }
        for i in [1, 0, 2, 3, 4, 5, 6, 7, 8, 9] {
            b.add(i, i * 3);
        }
        let (ta, tb) = (a.tally(), b.tally());
        assert!(ta.in_order && !tb.in_order);
        // The same items in another order: the same checksum (order is checked apart).
        assert_eq!(ta.checksum, tb.checksum);
        let mut c = Tallier::default();
        for i in 0..10 {
            c.add(i, if i == 4 { 5 * 3 } else { i * 3 });
        }
        assert_ne!(c.tally().checksum, ta.checksum);
    }
}
