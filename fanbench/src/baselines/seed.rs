//! The seed's Go `Split`/`Merge` over bounded channels: crossbeam-channel and std mpsc.

use std::sync::mpsc;
use std::thread;

use crate::item::{consume, Clock, Item, Probe, Tally};

/// A bounded channel family for the seed pattern.
trait SeedChannel<T> {
    type Tx: Send + Clone;
    type Rx: Send + IntoIterator<Item = T>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    /// Blocking send; `false` once the receiver is gone.
    fn send(tx: &Self::Tx, item: T) -> bool;
}

struct Crossbeam;

impl<T: Send> SeedChannel<T> for Crossbeam {
    type Tx = crossbeam_channel::Sender<T>;
    type Rx = crossbeam_channel::Receiver<T>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(capacity)
    }
    #[inline]
    fn send(tx: &Self::Tx, item: T) -> bool {
        tx.send(item).is_ok()
    }
}

struct StdMpsc;

impl<T: Send> SeedChannel<T> for StdMpsc {
    type Tx = mpsc::SyncSender<T>;
    type Rx = mpsc::Receiver<T>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        mpsc::sync_channel(capacity)
    }
    #[inline]
    fn send(tx: &Self::Tx, item: T) -> bool {
        tx.send(item).is_ok()
    }
}

/// The Go code: `Split` (one thread, round-robin), a worker per split channel, `Merge` (a
/// forwarder thread per worker into one output channel; the output closes when the last
/// forwarder drops its sender, which is Go's `wg.Wait(); close(out)`), the caller ranging over
/// the output (`sink` gets it). The split thread draws the items from the source itself (Go's
/// input channel and its producer are folded into it, which only helps the baseline).
fn seed<C, T, S, G, R>(
    source: S,
    workers: usize,
    capacity: usize,
    work: G,
    sink: impl FnOnce(C::Rx) -> R,
) -> R
where
    C: SeedChannel<T>,
    T: Send,
    S: Iterator<Item = T> + Send,
    G: Fn(T) -> T + Clone + Send,
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
                    if !C::send(&res_tx, work(it)) {
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
        sink(out_rx)
    })
}

/// The seed on fanbench's items: the work applied to each value, the caller consuming.
fn seed_items<C, S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    capacity: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Tally
where
    C: SeedChannel<Item>,
    S: Iterator<Item = Item> + Send,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    seed::<C, Item, S, _, _>(
        source,
        workers,
        capacity,
        move |it: Item| it.process(&work),
        |rx| consume(rx.into_iter(), clock, lat),
    )
}

/// The seed pattern with `crossbeam-channel` bounded channels of `capacity` on any item type:
/// `work` applied by `workers` threads to what `source` yields (drawn on the split thread),
/// the merged results handed to `sink` on the caller's thread, in any order.
pub fn crossbeam_seed_with<T, S, G, R>(
    source: S,
    workers: usize,
    capacity: usize,
    work: G,
    sink: impl FnOnce(crossbeam_channel::Receiver<T>) -> R,
) -> R
where
    T: Send,
    S: Iterator<Item = T> + Send,
    G: Fn(T) -> T + Clone + Send,
{
    seed::<Crossbeam, T, S, G, R>(source, workers, capacity, work, sink)
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
    seed_items::<Crossbeam, _, F>(source, clock, workers, capacity, work, lat)
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
    seed_items::<Crossbeam, S, F>(source, clock, workers, capacity, work, lat)
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
    seed_items::<StdMpsc, _, F>(source, clock, workers, capacity, work, lat)
}
