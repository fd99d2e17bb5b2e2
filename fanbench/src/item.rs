//! What every pipeline moves and what its consumer counts: the [`Item`] (a value and its entry
//! stamp), the run's [`Clock`], the latency [`Probe`] and the [`Tally`].

use std::time::Instant;

use hdrhistogram::Histogram;

/// What travels through every pipeline: the value the work applies to and its entry stamp
/// (nanoseconds since the run's clock started, plus one; 0 when the item is not stamped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// Input index on the way in, `work(index)` on the way out.
    pub value: u64,
    /// When the item entered, in nanoseconds of the run's [`Clock`].
    pub t0: u64,
}

impl Item {
    #[inline]
    pub(crate) fn process<F: Fn(u64) -> u64>(self, work: &F) -> Item {
        Item {
            value: work(self.value),
            t0: self.t0,
        }
    }
}

/// Items and checksum seen by the consumer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Items taken out.
    pub count: u64,
    /// Wrapping sum of their values.
    pub checksum: u64,
}

/// Latency recording for a run: the histogram (nanoseconds) and which items to stamp.
#[derive(Debug)]
pub struct Probe<'a> {
    /// Where `exit - entry` goes, in nanoseconds.
    pub hist: &'a mut Histogram<u64>,
    /// Stamp about one item in `every` (1 = every item), chosen by a hash of the index so
    /// that the sample does not line up with round-robin dispatch.
    pub every: u64,
}

/// The stamping clock of one run: reads nothing when latency is off, and only for the
/// sampled items when it is on.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Option<Instant>,
    /// Item `i` is stamped when `i * K` (a Weyl sequence, equidistributed) is at most this.
    threshold: u64,
}

impl Clock {
    pub(crate) fn new(probe: Option<&Probe<'_>>) -> Self {
        Clock {
            epoch: probe.map(|_| Instant::now()),
            threshold: probe.map_or(0, |p| u64::MAX / p.every.max(1)),
        }
    }

    /// A clock whose zero is `epoch`, reading for every item (the paced runs).
    pub fn at(epoch: Instant) -> Self {
        Clock {
            epoch: Some(epoch),
            threshold: u64::MAX,
        }
    }

    #[inline]
    pub(crate) fn now(self) -> u64 {
        self.epoch.map_or(0, |e| e.elapsed().as_nanos() as u64)
    }

    /// Item `i`, stamped (with a non-zero `t0`) if it is sampled.
    #[inline]
    pub(crate) fn item(self, i: u64) -> Item {
        let t0 = match self.epoch {
            Some(e) if i.wrapping_mul(0x9E37_79B9_7F4A_7C15) <= self.threshold => {
                e.elapsed().as_nanos() as u64 + 1
            }
            _ => 0,
        };
        Item { value: i, t0 }
    }
}

/// A histogram for end-to-end latencies in nanoseconds (1 ns to 1 hour, 3 digits).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// The consumer's side of every runner: counts, sums and (optionally) records latency.
pub(crate) fn consume(
    items: impl Iterator<Item = Item>,
    clock: Clock,
    lat: Option<Probe<'_>>,
) -> Tally {
    let mut t = Tally::default();
    match lat {
        None => {
            for it in items {
                t.count += 1;
                t.checksum = t.checksum.wrapping_add(it.value);
            }
        }
        Some(p) => {
            for it in items {
                t.count += 1;
                t.checksum = t.checksum.wrapping_add(it.value);
                if it.t0 != 0 {
                    // `t0` is the stamp plus one.
                    p.hist
                        .saturating_record((clock.now() + 1).saturating_sub(it.t0).max(1));
                }
            }
        }
    }
    t
}
