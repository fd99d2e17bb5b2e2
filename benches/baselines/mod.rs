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
//! - [`fanring_engine`]: `Engine::builder()…map(work).run(source)`, iterating its `Output`;
//! - [`sequential`]: no threads at all, `source.map(work).for_each(sink)` on the caller's
//!   thread (the break-even reference);
//! - [`rayon_bridge`]: rayon's `par_bridge` on the (unsplittable) source iterator, in a
//!   `ThreadPool` of `W` threads, unordered, the sink folded on the pool's threads;
//! - [`pariter_map`]: pariter's `parallel_map` (ordered) with `W` threads, the caller iterating.
//!
//! The channel, rtrb and fanring runners also take any source (`*_source`): with a [`Paced`]
//! source they make the open-loop latency runs of `fanbench` (each item released at its
//! scheduled time and its latency counted from that time).
//!
//! Include it with `#[path = "../benches/baselines/mod.rs"] mod baselines;`.

// Each includer uses a different subset.
#![allow(dead_code)]

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{fence, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use fanring::{BuildError, Dispatch, Engine, Failure, Order, Pinning, Plan, WaitStrategy};

/// How a fanring run can end badly: the engine could not start, or it failed while running.
#[derive(Debug)]
pub enum RunError {
    /// From `run`/`drive`/`start`.
    Build(BuildError),
    /// From `join`.
    Failed(Failure),
}

impl From<BuildError> for RunError {
    fn from(e: BuildError) -> Self {
        RunError::Build(e)
    }
}

impl From<Failure> for RunError {
    fn from(e: Failure) -> Self {
        RunError::Failed(e)
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Build(e) => e.fmt(f),
            RunError::Failed(e) => e.fmt(f),
        }
    }
}
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

    /// A clock whose zero is `epoch`, reading for every item (the paced runs).
    pub fn at(epoch: Instant) -> Self {
        Clock {
            epoch: Some(epoch),
            threshold: u64::MAX,
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
// Open-loop source

/// Gap before the first scheduled item, so that every runner's threads are up before the
/// schedule starts (thread start-up would otherwise count as the first items' latency).
pub const PACE_LEAD: Duration = Duration::from_millis(2);

/// While more than this is left before an item's due time the pacer sleeps; then it yields.
pub const PACE_SLEEP_ABOVE: Duration = Duration::from_micros(15);

/// What the pacer sleeps short of the due time (a sleep with 1 ns timer slack wakes about
/// 6 µs late here); the rest is waited with `yield_now`.
pub const PACE_SLEEP_MARGIN: Duration = Duration::from_micros(10);

/// An open-loop source: item `i` (value `i`) is released at its scheduled time
/// `epoch + i / rate` and carries that time as its stamp (`t0`), so the consumer records
/// `exit - scheduled`: latency counted from the schedule, not from when the item was actually
/// handed over (coordinated omission corrected, as wrk2 and HdrHistogram do). If the pacer
/// falls behind (the pipeline pushes back, or a wake-up comes late), due items go out at once
/// and still count from their scheduled time.
///
/// Waiting never spins on a core: more than [`PACE_SLEEP_ABOVE`] before the due time the
/// thread sleeps until [`PACE_SLEEP_MARGIN`] before it (on Linux with its timer slack set to
/// 1 ns on first use, instead of the default 50 µs), then calls `yield_now` until the due time,
/// which hands the core to any runnable thread of the pipeline. The clock is read only when
/// the next item is not yet known to be due: at high rates one read releases every item due by
/// then.
///
/// A plain `Iterator + Send`: it goes to `Pipeline::run`, the seed's split thread or the
/// rtrb distributor as is (and through a one-line adapter to a future `Source` trait).
#[derive(Clone, Debug)]
pub struct Paced {
    epoch: Instant,
    n: u64,
    next: u64,
    /// Nanoseconds between scheduled items (0: everything is due at `epoch`).
    gap_ns: f64,
    /// The last clock reading, in nanoseconds since `epoch`.
    now_ns: u64,
    slack_set: bool,
}

impl Paced {
    /// `n` items at `rate` items per second (`f64::INFINITY`: all due at once, the saturation
    /// run), the schedule starting [`PACE_LEAD`] from now.
    pub fn new(n: u64, rate: f64) -> Self {
        let gap_ns = if rate.is_finite() && rate > 0.0 {
            1e9 / rate
        } else {
            0.0
        };
        Paced {
            epoch: Instant::now() + PACE_LEAD,
            n,
            next: 0,
            gap_ns,
            now_ns: 0,
            slack_set: false,
        }
    }

    /// The schedule's zero.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The consumer's clock for this schedule (latency = now − scheduled time).
    pub fn clock(&self) -> Clock {
        Clock::at(self.epoch)
    }

    /// Waits until `due_ns` after the epoch; returns the time read last, in nanoseconds
    /// since the epoch.
    fn wait_until(&mut self, due_ns: u64) -> u64 {
        if !self.slack_set {
            self.slack_set = true;
            fine_timer_slack();
        }
        let due = self.epoch + Duration::from_nanos(due_ns);
        loop {
            let now = Instant::now();
            if now >= due {
                return now.duration_since(self.epoch).as_nanos() as u64;
            }
            let left = due - now;
            if left > PACE_SLEEP_ABOVE {
                thread::sleep(left - PACE_SLEEP_MARGIN);
            } else {
                thread::yield_now();
            }
        }
    }
}

impl Iterator for Paced {
    type Item = Item;

    #[inline]
    fn next(&mut self) -> Option<Item> {
        if self.next == self.n {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let due = (i as f64 * self.gap_ns) as u64;
        // The first item waits for the epoch (the lead); later ones read the clock only when
        // the last reading does not already make them due.
        if i == 0 || due > self.now_ns {
            self.now_ns = self.wait_until(due);
        }
        Some(Item {
            value: i,
            t0: due + 1,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.n - self.next) as usize;
        (left, Some(left))
    }
}

/// Sets this thread's timer slack to 1 ns (Linux), so that a sleep wakes within a few
/// microseconds instead of the default 50 µs late. Only the pacing thread calls it.
fn fine_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer and changes only the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
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
fn seed<C: SeedChannel, S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    S: Iterator<Item = Item> + Send,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    assert!(workers > 0, "at least one worker");
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
            for it in source {
                if !C::send(&split[next], it) {
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
    let clock = Clock::new(lat.as_ref());
    let source = (0..n).map(move |i| clock.item(i));
    seed::<Crossbeam, _, F>(source, clock, workers, capacity, work, lat)
}

/// [`crossbeam_seed`] drawing its items from `source` (on the split thread); latencies are
/// `clock.now() - t0`.
pub fn crossbeam_seed_source<S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    S: Iterator<Item = Item> + Send,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    seed::<Crossbeam, S, F>(source, clock, workers, capacity, work, lat)
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
    let clock = Clock::new(lat.as_ref());
    let source = (0..n).map(move |i| clock.item(i));
    seed::<StdMpsc, _, F>(source, clock, workers, capacity, work, lat)
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
    let clock = Clock::new(lat.as_ref());
    let source = (0..n).map(move |i| clock.item(i));
    rtrb_pipeline_source(source, clock, workers, capacity, work, lat)
}

/// [`rtrb_pipeline`] drawing its items from `source` (on the distributor thread); latencies
/// are `clock.now() - t0`.
pub fn rtrb_pipeline_source<S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    S: Iterator<Item = Item> + Send,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    assert!(workers > 0, "at least one worker");
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
            for it in source {
                if !rtrb_push(&mut ins[next], it, &mut backoff) {
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
) -> Result<(Tally, Plan), RunError>
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let clock = Clock::new(lat.as_ref());
    let source = (0..n).map(move |i| clock.item(i));
    fanring_engine_source(source, clock, cfg, work, lat)
}

/// [`fanring_engine`] drawing its items from `source` (on the distributor thread, or on the
/// caller's with `drive`); latencies are `clock.now() - t0`.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn fanring_engine_source<S, F>(
    source: S,
    clock: Clock,
    cfg: &EngineConfig,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<(Tally, Plan), RunError>
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
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

/// The engine exactly as a user gets it: `Engine::builder().workers(workers).map(work)
/// .run(source)` and nothing else (every other setting the builder's default, whatever it
/// is when this is built), the caller iterating the `Output`.
///
/// # Errors
/// A stage failure.
pub fn fanring_defaults_source<S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<Tally, RunError>
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let mut out = Engine::builder()
        .workers(workers)
        .map(move |it: Item| it.process(&work))
        .run(source)?;
    let tally = consume(out.by_ref(), clock, lat);
    out.join()?;
    Ok(tally)
}

// ---------------------------------------------------------------------------------------------
// What a user would pick instead

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

/// The tally every runner must produce for `n` items of `work`.
pub fn expected(n: u64, work: Work) -> Tally {
    Tally {
        count: n,
        checksum: (0..n).fold(0u64, |s, i| s.wrapping_add(work.apply(i))),
    }
}
