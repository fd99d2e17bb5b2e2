//! Two-thread stress of the SPSC ring: strict order and a checksum over millions of items for
//! every wait strategy, single and batched operations, threads free or pinned to one core;
//! a pinned ping-pong; and consumers that leave early.
//!
//! No timing is asserted: every test only has to finish, whatever the scheduling. The tests
//! of this file run one at a time (a shared lock), so they never compete with each other for
//! the cores.

use fanring::ring::{channel_with, PopError};
use fanring::WaitStrategy;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

/// Serialises the tests of this binary.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Items per run: several million optimised, about a million in debug.
fn items() -> u64 {
    if cfg!(debug_assertions) {
        1 << 20
    } else {
        4 << 20
    }
}

fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The core both threads of a pinned run go to: the first of `get_core_ids`, or `None` if
/// pinning is not available here (the run then goes on unpinned).
fn one_core() -> Option<core_affinity::CoreId> {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    if ids.is_empty() {
        eprintln!("note: core_affinity::get_core_ids() gave nothing; running unpinned");
    }
    ids.first().copied()
}

fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(id) = core {
        if !core_affinity::set_for_current(id) {
            eprintln!("note: could not pin to core {}; running unpinned", id.id);
        }
    }
}

/// An order-sensitive checksum step.
fn mix(acc: u64, v: u64) -> u64 {
    (acc.rotate_left(5) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The value sent as item `i` (not just `i`, so that a slot read from the wrong lap shows).
fn value(i: u64) -> u64 {
    i.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 0x5555
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `push` / `pop`, one item at a time.
    Single,
    /// `try_push_slice` and `try_push_iter` / `try_pop_slice`, `try_pop_each` and
    /// `read_slices`, falling back on a blocking single op when there is no room or nothing
    /// to read (so that the strategy's waiting is exercised).
    Batched,
}

/// Sends `n` items from one thread to another; checks order and checksum on arrival.
fn transfer(
    wait: WaitStrategy,
    mode: Mode,
    capacity: usize,
    n: u64,
    core: Option<core_affinity::CoreId>,
) {
    let (mut tx, mut rx) = channel_with::<u64>(capacity, wait).unwrap();
    let started = Instant::now();
    let producer = thread::spawn(move || {
        pin(core);
        let mut sum = 0u64;
        let mut i = 0u64;
        let mut chunk = [0u64; 61];
        let mut round = 0u32;
        while i < n {
            match mode {
                Mode::Single => {
                    tx.push(value(i)).unwrap();
                    sum = mix(sum, value(i));
                    i += 1;
                }
                Mode::Batched => {
                    round = round.wrapping_add(1);
                    // Chunk lengths vary so batches straddle the wrap at every offset.
                    let len = ((round as u64 * 7) % 61 + 1).min(n - i) as usize;
                    let pushed = if round.is_multiple_of(2) {
                        for (k, c) in chunk[..len].iter_mut().enumerate() {
                            *c = value(i + k as u64);
                        }
                        tx.try_push_slice(&chunk[..len]).unwrap()
                    } else {
                        let mut it = (i..i + len as u64).map(value);
                        tx.try_push_iter(&mut it).unwrap()
                    };
                    for k in 0..pushed as u64 {
                        sum = mix(sum, value(i + k));
                    }
                    i += pushed as u64;
                    if pushed == 0 {
                        // Full: wait for room the strategy's way.
                        tx.push(value(i)).unwrap();
                        sum = mix(sum, value(i));
                        i += 1;
                    }
                }
            }
        }
        drop(tx); // closes
        sum
    });
    let consumer = thread::spawn(move || {
        pin(core);
        let mut sum = 0u64;
        let mut next = 0u64;
        let check = |v: u64, next: &mut u64, sum: &mut u64| {
            assert_eq!(v, value(*next), "item {} out of order", *next);
            *sum = mix(*sum, v);
            *next += 1;
        };
        let mut buf = [0u64; 53];
        let mut round = 0u32;
        loop {
            match mode {
                Mode::Single => match rx.pop() {
                    Some(v) => check(v, &mut next, &mut sum),
                    None => break,
                },
                Mode::Batched => {
                    round = round.wrapping_add(1);
                    let max = (round as usize * 5) % 53 + 1;
                    let r = match round % 3 {
                        0 => rx.try_pop_slice(&mut buf[..max]).inspect(|&k| {
                            for &v in &buf[..k] {
                                check(v, &mut next, &mut sum);
                            }
                        }),
                        1 => rx.try_pop_each(max, |v| check(v, &mut next, &mut sum)),
                        _ => rx.read_slices(max, |a, b| {
                            for &v in a.iter().chain(b) {
                                check(v, &mut next, &mut sum);
                            }
                        }),
                    };
                    match r {
                        Ok(k) => assert!(k > 0 && k <= max),
                        Err(PopError::Empty) => match rx.pop() {
                            // Empty: wait for data the strategy's way.
                            Some(v) => check(v, &mut next, &mut sum),
                            None => break,
                        },
                        Err(PopError::Closed) => break,
                    }
                }
            }
        }
        assert_eq!(rx.try_pop(), Err(PopError::Closed));
        (next, sum)
    });
    let sent = producer.join().expect("producer panicked");
    let (got, received) = consumer.join().expect("consumer panicked");
    assert_eq!(got, n, "{wait:?} {mode:?}: item count");
    assert_eq!(received, sent, "{wait:?} {mode:?}: checksum");
    eprintln!(
        "{wait:?} {mode:?} cap {capacity} pinned {:?}: {n} items in {:?}",
        core.map(|c| c.id),
        started.elapsed()
    );
}

fn strategies_for_free_threads() -> Vec<WaitStrategy> {
    let mut s = vec![
        WaitStrategy::SPIN_YIELD,
        WaitStrategy::SPIN_THEN_PARK,
        // Parks almost at once: the wake-up path on nearly every empty/full transition.
        WaitStrategy::SpinThenPark {
            spins: 1,
            yields: 0,
        },
    ];
    if cores() >= 2 {
        s.push(WaitStrategy::BusySpin);
    } else {
        eprintln!("note: 1 core available; skipping BusySpin");
    }
    s
}

/// Capacity and item count for a free-threads run. `BusySpin` gets a bigger ring and fewer
/// items: on an oversubscribed machine a spinning side holds its core until preempted, so each
/// preemption should move many items.
fn size_for(wait: WaitStrategy) -> (usize, u64) {
    if wait.yields_core() {
        (256, items())
    } else {
        (4096, items() / 4)
    }
}

#[test]
fn stress_free_threads_single() {
    let _g = serial();
    for wait in strategies_for_free_threads() {
        let (capacity, n) = size_for(wait);
        transfer(wait, Mode::Single, capacity, n, None);
    }
}

#[test]
fn stress_free_threads_batched() {
    let _g = serial();
    for wait in strategies_for_free_threads() {
        let (capacity, n) = size_for(wait);
        transfer(wait, Mode::Batched, capacity, n, None);
    }
}

#[test]
fn stress_small_rings() {
    let _g = serial();
    // Capacity 1 and 2: every op is a full or empty transition.
    let n = 1 << 16;
    for wait in [WaitStrategy::SPIN_YIELD, WaitStrategy::SPIN_THEN_PARK] {
        transfer(wait, Mode::Single, 1, n, None);
        transfer(wait, Mode::Batched, 2, n, None);
    }
}

#[test]
fn stress_pinned_to_one_core() {
    let _g = serial();
    let core = one_core();
    // Never BusySpin on one core: it would only make progress when the scheduler preempts.
    for wait in [WaitStrategy::SPIN_YIELD, WaitStrategy::SPIN_THEN_PARK] {
        transfer(wait, Mode::Single, 256, items(), core);
        transfer(wait, Mode::Batched, 256, items(), core);
    }
}

#[test]
fn ping_pong_pinned_to_one_core() {
    let _g = serial();
    let core = one_core();
    const ROUNDS: u64 = 10_000;
    for wait in [
        WaitStrategy::SPIN_YIELD,
        WaitStrategy::SPIN_THEN_PARK,
        WaitStrategy::SpinThenPark {
            spins: 0,
            yields: 0,
        },
    ] {
        for capacity in [1, 16] {
            let (mut ping_tx, mut ping_rx) = channel_with::<u64>(capacity, wait).unwrap();
            let (mut pong_tx, mut pong_rx) = channel_with::<u64>(capacity, wait).unwrap();
            let started = Instant::now();
            let echo = thread::spawn(move || {
                pin(core);
                let mut n = 0u64;
                while let Some(v) = ping_rx.pop() {
                    pong_tx.push(v + 1).unwrap();
                    n += 1;
                }
                n
            });
            let client = thread::spawn(move || {
                pin(core);
                for i in 0..ROUNDS {
                    ping_tx.push(2 * i).unwrap();
                    assert_eq!(pong_rx.pop(), Some(2 * i + 1));
                }
                drop(ping_tx);
                // The echo thread ends and drops its producer: the stream ends.
                assert_eq!(pong_rx.pop(), None);
            });
            client.join().expect("client panicked");
            assert_eq!(echo.join().expect("echo panicked"), ROUNDS);
            eprintln!(
                "ping-pong {wait:?} cap {capacity} pinned {:?}: {ROUNDS} round trips in {:?}",
                core.map(|c| c.id),
                started.elapsed()
            );
        }
    }
}

/// Counts creations and drops of `Counted` items.
#[derive(Default)]
struct Tally {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

struct Counted {
    seq: u64,
    tally: Arc<Tally>,
}

impl Counted {
    fn new(seq: u64, tally: &Arc<Tally>) -> Self {
        tally.created.fetch_add(1, SeqCst);
        Counted {
            seq,
            tally: Arc::clone(tally),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.tally.dropped.fetch_add(1, SeqCst);
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[test]
fn consumer_drops_early() {
    let _g = serial();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ 0x2545_F491_4F6C_DD1D;
    eprintln!("consumer_drops_early seed {seed:#x}");
    let mut rng = XorShift(seed | 1);
    let rounds = if cfg!(debug_assertions) { 60 } else { 150 };
    let started = Instant::now();
    let waits = [
        WaitStrategy::SPIN_YIELD,
        WaitStrategy::SPIN_THEN_PARK,
        WaitStrategy::SpinThenPark {
            spins: 0,
            yields: 0,
        },
    ];
    for round in 0..rounds {
        let wait = waits[round % waits.len()];
        let capacity = 1usize << (rng.next() % 8);
        // Sometimes the consumer leaves before the ring ever fills, sometimes much later.
        let take = rng.next() % 20_000;
        let batched = rng.next().is_multiple_of(2);
        let tally = Arc::new(Tally::default());
        let (mut tx, mut rx) = channel_with::<Counted>(capacity, wait).unwrap();
        let consumer = thread::spawn(move || {
            let mut next = 0u64;
            while next < take {
                match rx.pop() {
                    Some(v) => {
                        assert_eq!(v.seq, next, "out of order");
                        next += 1;
                    }
                    None => panic!("producer ended before the consumer left"),
                }
            }
            // Leave with items possibly still in the ring.
            drop(rx);
            next
        });
        let producer = thread::spawn({
            let tally = Arc::clone(&tally);
            move || {
                let mut seq = 0u64;
                loop {
                    if batched {
                        let mut it = (seq..seq + 7).map(|s| Counted::new(s, &tally));
                        match tx.try_push_iter(&mut it) {
                            Ok(k) => {
                                assert_eq!(it.size_hint().0, 7 - k, "only stored items are taken");
                                seq += k as u64;
                                if k > 0 {
                                    continue;
                                }
                            }
                            Err(_closed) => {
                                assert_eq!(it.size_hint().0, 7, "nothing taken once closed");
                                return (seq, tx.is_closed());
                            }
                        }
                    }
                    match tx.push(Counted::new(seq, &tally)) {
                        Ok(()) => seq += 1,
                        Err(e) => {
                            assert!(e.is_closed(), "push only fails when closed");
                            assert_eq!(e.into_inner().seq, seq, "the value comes back");
                            return (seq, tx.is_closed());
                        }
                    }
                }
                // `tx` dropped here: the ring's leftovers go with it (or with the consumer).
            }
        });
        let taken = consumer.join().expect("consumer panicked");
        let (pushed, saw_closed) = producer.join().expect("producer panicked");
        assert_eq!(taken, take);
        assert!(
            saw_closed,
            "round {round}: producer ended without seeing Closed"
        );
        assert!(
            pushed >= take && pushed <= take + capacity as u64,
            "round {round}: pushed {pushed}, taken {take}, capacity {capacity}"
        );
        // Both handles are gone: every item created was dropped exactly once overall.
        let (c, d) = (tally.created.load(SeqCst), tally.dropped.load(SeqCst));
        assert_eq!(c, d, "round {round} ({wait:?}): created {c}, dropped {d}");
        assert_eq!(Arc::strong_count(&tally), 1, "no item still alive");
    }
    eprintln!(
        "consumer_drops_early: {rounds} rounds in {:?}",
        started.elapsed()
    );
}
