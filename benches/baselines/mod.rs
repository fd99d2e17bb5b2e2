//! Fan-out/fan-in baselines shared by `benches/fan.rs` and `examples/fanbench.rs`.
//!
//! Every runner pushes `n` [`Item`]s (`value` 0..n) through `workers` workers that apply the
//! same work function, merges the results into the calling thread, and returns a [`Tally`]
//! (items seen and a wrapping sum of their values, equal for every runner given the same
//! inputs). Passing a [`Probe`] turns on latency recording: each sampled item is stamped when
//! it enters (in the source, on the distributing thread) and `now - stamp` is recorded in
//! nanoseconds when the caller takes it out. Without one, no clock is read.
//!
//! Runners:
//! - [`crossbeam_seed`]: the seed's Go `Split`/`Merge` with `crossbeam-channel` bounded
//!   channels: a split thread sending round-robin to `W` channels, `W` worker threads, one
//!   merge forwarder thread per worker into one output channel, the caller receiving from it;
//! - [`std_mpsc_seed`]: the same with `std::sync::mpsc::sync_channel`;
//! - [`rtrb_pipeline`]: the engine's topology built by hand from `rtrb` rings, one item at a
//!   time with a spin-then-yield retry loop: a distributor thread, `W` workers, the caller
//!   polling the `W` output rings round-robin;
//! - [`fanring_engine`]: `Engine::builder()…map(work).run(source)`, iterating its `Output`.
//!
//! Include it with `#[path = "../benches/baselines/mod.rs"] mod baselines;`.

// Each includer uses a different subset.
#![allow(dead_code)]

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{fence, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::Instant;

use fanring::{Dispatch, Engine, EngineError, Order, Pinning, Plan, WaitStrategy};
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
    fn process<F: Fn(u64) -> u64>(self, work: &F) -> Item {
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
    fn new(probe: Option<&Probe<'_>>) -> Self {
        Clock {
            epoch: probe.map(|_| Instant::now()),
            threshold: probe.map_or(0, |p| u64::MAX / p.every.max(1)),
        }
    }

    #[inline]
    fn now(self) -> u64 {
        self.epoch.map_or(0, |e| e.elapsed().as_nanos() as u64)
    }

    /// Item `i`, stamped (with a non-zero `t0`) if it is sampled.
    #[inline]
    fn item(self, i: u64) -> Item {
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
fn consume(items: impl Iterator<Item = Item>, clock: Clock, lat: Option<Probe<'_>>) -> Tally {
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

// ---------------------------------------------------------------------------------------------
// Work

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

// ---------------------------------------------------------------------------------------------
// Spin-then-yield retry loop (the rtrb pipeline's only way to wait)

struct Backoff(u32);

impl Backoff {
    const SPINS: u32 = 64;

    fn new() -> Self {
        Backoff(0)
    }

    #[inline]
    fn reset(&mut self) {
        self.0 = 0;
    }

    #[inline]
    fn snooze(&mut self) {
        if self.0 < Self::SPINS {
            self.0 += 1;
            spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The seed pattern over channels

/// A bounded channel family for the seed pattern.
trait SeedChannel {
    type Tx: Send + Clone;
    type Rx: Send + IntoIterator<Item = Item>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    /// Blocking send; `false` once the receiver is gone.
    fn send(tx: &Self::Tx, item: Item) -> bool;
}

struct Crossbeam;

impl SeedChannel for Crossbeam {
    type Tx = crossbeam_channel::Sender<Item>;
    type Rx = crossbeam_channel::Receiver<Item>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(capacity)
    }
    #[inline]
    fn send(tx: &Self::Tx, item: Item) -> bool {
        tx.send(item).is_ok()
    }
}

struct StdMpsc;

impl SeedChannel for StdMpsc {
    type Tx = mpsc::SyncSender<Item>;
    type Rx = mpsc::Receiver<Item>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        mpsc::sync_channel(capacity)
    }
    #[inline]
    fn send(tx: &Self::Tx, item: Item) -> bool {
        tx.send(item).is_ok()
    }
}

/// The Go code: `Split` (one thread, round-robin), a worker per split channel, `Merge` (a
/// forwarder thread per worker into one output channel; the output closes when the last
/// forwarder drops its sender, which is Go's `wg.Wait(); close(out)`), the caller ranging over
/// the output. The split thread draws the items from the source itself (Go's input channel
/// and its producer are folded into it, which only helps the baseline).
fn seed<C: SeedChannel, F>(
    n: u64,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    assert!(workers > 0, "at least one worker");
    let clock = Clock::new(lat.as_ref());
    thread::scope(|s| {
        let (out_tx, out_rx) = C::bounded(capacity);
        let mut split = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (in_tx, in_rx) = C::bounded(capacity);
            let (res_tx, res_rx) = C::bounded(capacity);
            split.push(in_tx);
            let work = work.clone();
            s.spawn(move || {
                for it in in_rx {
                    if !C::send(&res_tx, it.process(&work)) {
                        break;
                    }
                }
            });
            let out = out_tx.clone();
            s.spawn(move || {
                for it in res_rx {
                    if !C::send(&out, it) {
                        break;
                    }
                }
            });
        }
        drop(out_tx);
        s.spawn(move || {
            let mut next = 0;
            for i in 0..n {
                if !C::send(&split[next], clock.item(i)) {
                    break;
                }
                next = if next + 1 == split.len() { 0 } else { next + 1 };
            }
            // dropping `split` closes every worker's input
        });
        consume(out_rx.into_iter(), clock, lat)
    })
}

/// The seed pattern with `crossbeam-channel` bounded channels of `capacity`.
pub fn crossbeam_seed<F>(
    n: u64,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    seed::<Crossbeam, F>(n, workers, capacity, work, lat)
}

/// The seed pattern with `std::sync::mpsc::sync_channel(capacity)`.
pub fn std_mpsc_seed<F>(
    n: u64,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    seed::<StdMpsc, F>(n, workers, capacity, work, lat)
}

// ---------------------------------------------------------------------------------------------
// Hand-built rtrb pipeline

/// Pushes `item`, retrying with the backoff while the ring is full; `false` if the consumer
/// is gone.
#[inline]
fn rtrb_push(tx: &mut rtrb::Producer<Item>, mut item: Item, backoff: &mut Backoff) -> bool {
    loop {
        match tx.push(item) {
            Ok(()) => {
                backoff.reset();
                return true;
            }
            Err(rtrb::PushError::Full(back)) => {
                if tx.is_abandoned() {
                    return false;
                }
                item = back;
                backoff.snooze();
            }
        }
    }
}

/// Whether `rx` is finished: its producer is gone and nothing is left.
#[inline]
fn rtrb_done(rx: &rtrb::Consumer<Item>) -> bool {
    if rx.is_abandoned() {
        // Pairs with the producer's release when it dropped its handle: every push it made
        // is visible to the emptiness check below.
        fence(Ordering::Acquire);
        rx.is_empty()
    } else {
        false
    }
}

fn rtrb_worker<F: Fn(u64) -> u64>(
    mut rx: rtrb::Consumer<Item>,
    mut tx: rtrb::Producer<Item>,
    work: F,
) {
    let mut backoff = Backoff::new();
    loop {
        match rx.pop() {
            Ok(it) => {
                backoff.reset();
                if !rtrb_push(&mut tx, it.process(&work), &mut backoff) {
                    return;
                }
            }
            Err(_) if rtrb_done(&rx) => return,
            Err(_) => backoff.snooze(),
        }
    }
}

/// Polls the output rings round-robin, one item per ring per sweep, until every ring is
/// abandoned and empty.
struct RtrbMerge {
    rings: Vec<rtrb::Consumer<Item>>,
    next: usize,
    backoff: Backoff,
}

impl Iterator for RtrbMerge {
    type Item = Item;

    #[inline]
    fn next(&mut self) -> Option<Item> {
        let mut misses = 0;
        while !self.rings.is_empty() {
            if self.next >= self.rings.len() {
                self.next = 0;
            }
            match self.rings[self.next].pop() {
                Ok(it) => {
                    self.next += 1;
                    self.backoff.reset();
                    return Some(it);
                }
                Err(_) if rtrb_done(&self.rings[self.next]) => {
                    self.rings.swap_remove(self.next);
                    misses = 0;
                }
                Err(_) => {
                    self.next += 1;
                    misses += 1;
                    if misses >= self.rings.len() {
                        misses = 0;
                        self.backoff.snooze();
                    }
                }
            }
        }
        None
    }
}

/// The engine's topology built by hand from `rtrb` rings of `capacity`: a distributor thread
/// (round-robin), `workers` worker threads, the caller merging. One item per push and pop,
/// waits are a spin-then-yield loop (64 `spin_loop`s, then `yield_now`), end of stream is
/// `is_abandoned`.
pub fn rtrb_pipeline<F>(
    n: u64,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    assert!(workers > 0, "at least one worker");
    let clock = Clock::new(lat.as_ref());
    thread::scope(|s| {
        let mut ins = Vec::with_capacity(workers);
        let mut outs = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (in_tx, in_rx) = rtrb::RingBuffer::<Item>::new(capacity);
            let (out_tx, out_rx) = rtrb::RingBuffer::<Item>::new(capacity);
            ins.push(in_tx);
            outs.push(out_rx);
            let work = work.clone();
            s.spawn(move || rtrb_worker(in_rx, out_tx, work));
        }
        s.spawn(move || {
            let mut backoff = Backoff::new();
            let mut next = 0;
            for i in 0..n {
                if !rtrb_push(&mut ins[next], clock.item(i), &mut backoff) {
                    break;
                }
                next = if next + 1 == ins.len() { 0 } else { next + 1 };
            }
        });
        let merge = RtrbMerge {
            rings: outs,
            next: 0,
            backoff: Backoff::new(),
        };
        consume(merge, clock, lat)
    })
}

// ---------------------------------------------------------------------------------------------
// fanring

/// Settings of a fanring engine run (the builder's knobs).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Worker threads.
    pub workers: usize,
    /// Slots per ring.
    pub capacity: usize,
    /// Items per publish.
    pub batch: usize,
    /// How every stage waits.
    pub wait: WaitStrategy,
    /// Which worker gets each item.
    pub dispatch: Dispatch<Item>,
    /// Order of the merged stream.
    pub order: Order,
    /// Core pinning.
    pub pinning: Pinning,
    /// Lets `BusySpin` run oversubscribed.
    pub allow_oversubscribed_spin: bool,
    /// `Pipeline::drive` (the caller distributes and merges) instead of `Pipeline::run` (a
    /// distributor thread).
    pub drive: bool,
}

impl EngineConfig {
    /// The engine's defaults (round-robin, `Order::Any`, `Pinning::Auto`) with `workers`.
    pub fn new(workers: usize) -> Self {
        EngineConfig {
            workers,
            capacity: 1024,
            batch: 256,
            wait: WaitStrategy::default(),
            dispatch: Dispatch::RoundRobin,
            order: Order::Any,
            pinning: Pinning::Auto,
            allow_oversubscribed_spin: false,
            drive: false,
        }
    }
}

/// `Dispatch::ByKey` on a hash of the item's value (well spread, so the keys look like flows).
pub fn key_dispatch() -> Dispatch<Item> {
    Dispatch::by_key(|it: &Item| it.value.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32)
}

/// `n` items through a fanring engine: `.map(work).run(source)`, the caller iterating the
/// `Output`. Returns the tally and the engine's pinning plan.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn fanring_engine<F>(
    n: u64,
    cfg: &EngineConfig,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<(Tally, Plan), EngineError>
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let clock = Clock::new(lat.as_ref());
    let pipeline = Engine::builder()
        .workers(cfg.workers)
        .capacity(cfg.capacity)
        .batch(cfg.batch)
        .wait(cfg.wait)
        .dispatch(cfg.dispatch.clone())
        .order(cfg.order)
        .pinning(cfg.pinning.clone())
        .allow_oversubscribed_spin(cfg.allow_oversubscribed_spin)
        .map(move |it: Item| it.process(&work));
    let source = (0..n).map(move |i| clock.item(i));
    if cfg.drive {
        let mut out = pipeline.drive(source)?;
        let plan = out.plan().clone();
        let tally = consume(out.by_ref(), clock, lat);
        out.join()?;
        Ok((tally, plan))
    } else {
        let mut out = pipeline.run(source)?;
        let plan = out.plan().clone();
        let tally = consume(out.by_ref(), clock, lat);
        out.join()?;
        Ok((tally, plan))
    }
}

/// The tally every runner must produce for `n` items of `work`.
pub fn expected(n: u64, work: Work) -> Tally {
    Tally {
        count: n,
        checksum: (0..n).fold(0u64, |s, i| s.wrapping_add(work.apply(i))),
    }
}
