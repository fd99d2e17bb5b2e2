//! What a user would pick instead of a fan-out engine: a plain loop, rayon, pariter.

use std::hint::black_box;

use hdrhistogram::Histogram;

use crate::item::{consume, latency_histogram, Clock, Item, Probe, Tally};

/// No pipeline: `source.map(work).for_each(sink)` on the caller's thread. The break-even
/// reference: a parallel runner pays off only where it beats this.
pub fn sequential<F>(n: u64, work: F, lat: Option<Probe<'_>>) -> Tally
where
    F: Fn(u64) -> u64,
{
    let clock = Clock::new(lat.as_ref());
    // `black_box`: a real source is not a closed form the compiler could sum without looping.
    consume(
        (0..n).map(move |i| black_box(clock.item(i)).process(&work)),
        clock,
        lat,
    )
}

/// What each rayon fold keeps: the tally and, for the sampled items, their latencies.
#[derive(Default)]
struct Folded {
    tally: Tally,
    hist: Option<Histogram<u64>>,
}

impl Folded {
    fn merge(mut self, other: Folded) -> Folded {
        self.tally.count += other.tally.count;
        self.tally.checksum = self.tally.checksum.wrapping_add(other.tally.checksum);
        match (&mut self.hist, other.hist) {
            (Some(a), Some(b)) => a.add(b).expect("same histogram bounds"),
            (None, Some(b)) => self.hist = Some(b),
            _ => {}
        }
        self
    }
}

/// rayon's `par_bridge` over the source iterator (which cannot be split: its items come one
/// at a time, taken under rayon's lock) in a `ThreadPool` of `workers` threads, built for the
/// run like every other runner's threads. Unordered; the sink (count, checksum, latency of
/// the sampled items) is a `fold` on the pool's threads, merged at the end (`reduce`), which
/// is how a rayon user would consume: nothing travels back to one consumer thread.
pub fn rayon_bridge<F>(n: u64, workers: usize, work: F, lat: Option<Probe<'_>>) -> Tally
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    use rayon::iter::{ParallelBridge, ParallelIterator};
    assert!(workers > 0, "at least one worker");
    let clock = Clock::new(lat.as_ref());
    let record = lat.is_some();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon thread pool");
    let folded = pool.install(|| {
        (0..n)
            .map(move |i| clock.item(i))
            .par_bridge()
            .map(|it| it.process(&work))
            .fold(Folded::default, |mut acc, it| {
                acc.tally.count += 1;
                acc.tally.checksum = acc.tally.checksum.wrapping_add(it.value);
                if record && it.t0 != 0 {
                    acc.hist
                        .get_or_insert_with(latency_histogram)
                        .saturating_record((clock.now() + 1).saturating_sub(it.t0).max(1));
                }
                acc
            })
            .reduce(Folded::default, Folded::merge)
    });
    if let (Some(p), Some(h)) = (lat, folded.hist) {
        p.hist.add(h).expect("same histogram bounds");
    }
    folded.tally
}

/// pariter's `parallel_map` with `workers` threads (its default of 2 × threads items in
/// flight): ordered output, the caller iterating it (and pulling the source, as pariter does).
pub fn pariter_map<F>(n: u64, workers: usize, work: F, lat: Option<Probe<'_>>) -> Tally
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    use pariter::IteratorExt as _;
    assert!(workers > 0, "at least one worker");
    let clock = Clock::new(lat.as_ref());
    let out = (0..n)
        .map(move |i| clock.item(i))
        .parallel_map_custom(|o| o.threads(workers), move |it: Item| it.process(&work));
    consume(out, clock, lat)
}
