//! The engine's topology built by hand from `rtrb` rings, one item at a time.

use std::hint::spin_loop;
use std::sync::atomic::{fence, Ordering};
use std::thread;

use crate::item::{consume, Clock, Item, Probe, Tally};

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
// The pipeline

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
