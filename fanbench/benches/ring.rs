//! Throughput and round-trip latency of the SPSC ring against its peers.
//!
//! `cargo bench -p fanbench --bench ring` (criterion; `-- GROUP` to run one group).
//!
//! Every measurement moves `u64`s between two threads: the bench thread (producer / pinger)
//! pinned to the first core it may run on and a thread spawned per sample (consumer / echo)
//! pinned to the second, when there are two. The clock starts after both threads meet at a
//! barrier (so thread start-up is not measured) and stops when the consumer has taken the last
//! item (throughput) or when the pinger has its last reply (ping-pong). Every peer goes through
//! exactly the same harness.
//!
//! Groups:
//! - `one_at_a_time`: 1<<20 items, one push and one pop each, capacity 4096;
//! - `batched`: 1<<20 items in chunks of up to 256, capacity 4096;
//! - `pingpong`: one `u64` there and back over two rings of capacity 1; time per round trip;
//! - `single_thread`: one thread pushes 4096 `u64`s one at a time, then pops them, 256 times
//!   per iteration: the per-item cost of the single-item paths with no other core involved
//!   (one `#[inline(never)]` loop, generic over the peers, taking the handles by `&mut`).

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::hint::{black_box, spin_loop};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use core_affinity::CoreId;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use fanring::ring::{channel_with, PopError, PushError};
use fanring::{channel, WaitStrategy};

/// Items per iteration of the throughput groups.
const N: usize = 1 << 20;
/// Ring capacity of the throughput groups.
const CAP: usize = 4096;
/// Largest chunk of the batched group.
const CHUNK: usize = 256;

/// The two cores to pin to, listed once, before anything is pinned (`get_core_ids` lists
/// only the cores the calling thread may run on). `None` with fewer than two cores.
fn cores() -> Option<(CoreId, CoreId)> {
    static CORES: OnceLock<Option<(CoreId, CoreId)>> = OnceLock::new();
    *CORES.get_or_init(|| match core_affinity::get_core_ids() {
        Some(ids) if ids.len() >= 2 => Some((ids[0], ids[1])),
        _ => None,
    })
}

fn pin_main() {
    if let Some((a, _)) = cores() {
        core_affinity::set_for_current(a);
    }
}

fn pin_peer() {
    if let Some((_, b)) = cores() {
        core_affinity::set_for_current(b);
    }
}

/// Runs `iters` transfers: `produce` on this thread, `consume` on a pinned peer thread.
/// Measures from the barrier to the moment `consume` returns (the last item taken).
fn transfer<P, C>(
    iters: u64,
    make: impl Fn() -> (P, C),
    produce: impl Fn(P),
    consume: impl Fn(C) -> u64 + Sync,
) -> Duration
where
    C: Send,
{
    pin_main();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (p, c) = make();
        let barrier = Barrier::new(2);
        let (start, end) = thread::scope(|s| {
            let consumer = s.spawn(|| {
                pin_peer();
                barrier.wait();
                let sum = consume(c);
                let end = Instant::now();
                black_box(sum);
                // Every item 0..N arrives exactly once.
                assert_eq!(sum, (N as u64) * (N as u64 - 1) / 2);
                end
            });
            barrier.wait();
            let start = Instant::now();
            produce(p);
            (start, consumer.join().unwrap())
        });
        total += end.saturating_duration_since(start);
    }
    total
}

/// Runs `iters` round trips: this thread sends `i` and waits for it to come back; the pinned
/// peer echoes everything and stops after echoing `u64::MAX`.
fn pingpong<A, B>(
    iters: u64,
    make: impl Fn() -> (A, B),
    ping: impl Fn(&mut A, u64) -> u64,
    echo: impl Fn(B) + Sync,
) -> Duration
where
    B: Send,
{
    pin_main();
    let (mut a, b) = make();
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let peer = s.spawn(|| {
            pin_peer();
            barrier.wait();
            echo(b);
        });
        barrier.wait();
        let start = Instant::now();
        for i in 0..iters {
            let r = ping(&mut a, i);
            debug_assert_eq!(r, i);
            black_box(r);
        }
        let elapsed = start.elapsed();
        ping(&mut a, u64::MAX);
        peer.join().unwrap();
        elapsed
    })
}

fn one_at_a_time(c: &mut Criterion) {
    let mut g = c.benchmark_group("one_at_a_time");
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(N as u64));

    g.bench_function("fanring_busyspin_try", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || channel_with::<u64>(CAP, WaitStrategy::BusySpin).unwrap(),
                |mut tx| {
                    for i in 0..N as u64 {
                        let mut v = i;
                        loop {
                            match tx.try_push(v) {
                                Ok(()) => break,
                                Err(PushError::Full(back)) => {
                                    v = back;
                                    spin_loop();
                                }
                                Err(PushError::Closed(_)) => panic!("closed"),
                            }
                        }
                    }
                },
                |mut rx| {
                    let mut sum = 0u64;
                    let mut n = 0;
                    while n < N {
                        match rx.try_pop() {
                            Ok(v) => {
                                sum = sum.wrapping_add(v);
                                n += 1;
                            }
                            Err(PopError::Empty) => spin_loop(),
                            Err(PopError::Closed) => panic!("closed"),
                        }
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("fanring_default_blocking", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || channel::<u64>(CAP).unwrap(),
                |mut tx| {
                    for i in 0..N as u64 {
                        tx.push(i).unwrap();
                    }
                },
                |mut rx| {
                    let mut sum = 0u64;
                    for _ in 0..N {
                        sum = sum.wrapping_add(rx.pop().unwrap());
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("rtrb", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || rtrb::RingBuffer::<u64>::new(CAP),
                |mut tx| {
                    for i in 0..N as u64 {
                        let mut v = i;
                        while let Err(rtrb::PushError::Full(back)) = tx.push(v) {
                            v = back;
                            spin_loop();
                        }
                    }
                },
                |mut rx| {
                    let mut sum = 0u64;
                    let mut n = 0;
                    while n < N {
                        match rx.pop() {
                            Ok(v) => {
                                sum = sum.wrapping_add(v);
                                n += 1;
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("crossbeam_channel_bounded", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || crossbeam_channel::bounded::<u64>(CAP),
                |tx| {
                    for i in 0..N as u64 {
                        tx.send(i).unwrap();
                    }
                },
                |rx| {
                    let mut sum = 0u64;
                    for _ in 0..N {
                        sum = sum.wrapping_add(rx.recv().unwrap());
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("crossbeam_arrayqueue", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || {
                    let q = Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(CAP));
                    (Arc::clone(&q), q)
                },
                |q| {
                    for i in 0..N as u64 {
                        let mut v = i;
                        while let Err(back) = q.push(v) {
                            v = back;
                            spin_loop();
                        }
                    }
                },
                |q| {
                    let mut sum = 0u64;
                    let mut n = 0;
                    while n < N {
                        match q.pop() {
                            Some(v) => {
                                sum = sum.wrapping_add(v);
                                n += 1;
                            }
                            None => spin_loop(),
                        }
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("std_mpsc_sync_channel", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || std::sync::mpsc::sync_channel::<u64>(CAP),
                |tx| {
                    for i in 0..N as u64 {
                        tx.send(i).unwrap();
                    }
                },
                |rx| {
                    let mut sum = 0u64;
                    for _ in 0..N {
                        sum = sum.wrapping_add(rx.recv().unwrap());
                    }
                    sum
                },
            )
        })
    });

    g.finish();
}

/// Fills `src` with `base..base + len`.
#[inline]
fn fill(src: &mut [u64], base: u64) {
    for (k, s) in src.iter_mut().enumerate() {
        *s = base + k as u64;
    }
}

/// The producer side shared by both fanring batched variants: chunks of up to 256 copied from a
/// local buffer with `try_push_slice`.
fn fanring_push_chunks(mut tx: fanring::ring::Producer<u64>) {
    let mut src = [0u64; CHUNK];
    let mut sent = 0usize;
    while sent < N {
        let want = CHUNK.min(N - sent);
        fill(&mut src[..want], sent as u64);
        let mut off = 0;
        while off < want {
            let n = tx.try_push_slice(&src[off..want]).unwrap();
            if n == 0 {
                spin_loop();
            }
            off += n;
        }
        sent += want;
    }
}

fn batched(c: &mut Criterion) {
    let mut g = c.benchmark_group("batched");
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(N as u64));

    g.bench_function("fanring_slice", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || channel_with::<u64>(CAP, WaitStrategy::BusySpin).unwrap(),
                fanring_push_chunks,
                |mut rx| {
                    let mut out = [0u64; CHUNK];
                    let mut sum = 0u64;
                    let mut n = 0;
                    while n < N {
                        match rx.try_pop_slice(&mut out) {
                            Ok(k) => {
                                sum = out[..k].iter().fold(sum, |s, &v| s.wrapping_add(v));
                                n += k;
                            }
                            Err(PopError::Empty) => spin_loop(),
                            Err(PopError::Closed) => panic!("closed"),
                        }
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("fanring_read_slices", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || channel_with::<u64>(CAP, WaitStrategy::BusySpin).unwrap(),
                fanring_push_chunks,
                |mut rx| {
                    let mut sum = 0u64;
                    let mut n = 0;
                    while n < N {
                        let r = rx.read_slices(CHUNK, |a, b| {
                            sum = a.iter().chain(b).fold(sum, |s, &v| s.wrapping_add(v));
                        });
                        match r {
                            Ok(k) => n += k,
                            Err(PopError::Empty) => spin_loop(),
                            Err(PopError::Closed) => panic!("closed"),
                        }
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("fanring_default_slice", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || channel::<u64>(CAP).unwrap(),
                fanring_push_chunks,
                |mut rx| {
                    let mut out = [0u64; CHUNK];
                    let mut sum = 0u64;
                    let mut n = 0;
                    while n < N {
                        match rx.try_pop_slice(&mut out) {
                            Ok(k) => {
                                sum = out[..k].iter().fold(sum, |s, &v| s.wrapping_add(v));
                                n += k;
                            }
                            Err(PopError::Empty) => spin_loop(),
                            Err(PopError::Closed) => panic!("closed"),
                        }
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("rtrb_chunks", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || rtrb::RingBuffer::<u64>::new(CAP),
                |mut tx| {
                    let mut src = [0u64; CHUNK];
                    let mut sent = 0usize;
                    while sent < N {
                        let want = CHUNK.min(N - sent);
                        fill(&mut src[..want], sent as u64);
                        let mut off = 0;
                        while off < want {
                            let k = tx.slots().min(want - off);
                            if k == 0 {
                                spin_loop();
                                continue;
                            }
                            let chunk = tx.write_chunk_uninit(k).unwrap();
                            off += chunk.fill_from_iter(src[off..want].iter().copied());
                        }
                        sent += want;
                    }
                },
                |mut rx| {
                    let mut sum = 0u64;
                    let mut n = 0;
                    while n < N {
                        let k = rx.slots().min(CHUNK);
                        if k == 0 {
                            spin_loop();
                            continue;
                        }
                        let chunk = rx.read_chunk(k).unwrap();
                        let (a, b) = chunk.as_slices();
                        sum = a.iter().chain(b).fold(sum, |s, &v| s.wrapping_add(v));
                        chunk.commit_all();
                        n += k;
                    }
                    sum
                },
            )
        })
    });

    g.bench_function("rtrb_partial_slice", |b| {
        b.iter_custom(|iters| {
            transfer(
                iters,
                || rtrb::RingBuffer::<u64>::new(CAP),
                |mut tx| {
                    let mut src = [0u64; CHUNK];
                    let mut sent = 0usize;
                    while sent < N {
                        let want = CHUNK.min(N - sent);
                        fill(&mut src[..want], sent as u64);
                        let mut rest = &src[..want];
                        while !rest.is_empty() {
                            let (done, left) = tx.push_partial_slice(rest);
                            if done.is_empty() {
                                spin_loop();
                            }
                            rest = left;
                        }
                        sent += want;
                    }
                },
                |mut rx| {
                    let mut out = [0u64; CHUNK];
                    let mut sum = 0u64;
                    let mut n = 0;
                    while n < N {
                        let (got, _) = rx.pop_partial_slice(&mut out);
                        let k = got.len();
                        if k == 0 {
                            spin_loop();
                            continue;
                        }
                        sum = got.iter().fold(sum, |s, &v| s.wrapping_add(v));
                        n += k;
                    }
                    sum
                },
            )
        })
    });

    g.finish();
}

fn round_trips(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingpong");
    g.sampling_mode(SamplingMode::Flat);

    g.bench_function("fanring_busyspin", |b| {
        b.iter_custom(|iters| {
            pingpong(
                iters,
                || {
                    let (tx1, rx1) = channel_with::<u64>(1, WaitStrategy::BusySpin).unwrap();
                    let (tx2, rx2) = channel_with::<u64>(1, WaitStrategy::BusySpin).unwrap();
                    ((tx1, rx2), (rx1, tx2))
                },
                |(tx, rx), v| {
                    let mut v = v;
                    loop {
                        match tx.try_push(v) {
                            Ok(()) => break,
                            Err(e) => {
                                v = e.into_inner();
                                spin_loop();
                            }
                        }
                    }
                    loop {
                        match rx.try_pop() {
                            Ok(r) => return r,
                            Err(_) => spin_loop(),
                        }
                    }
                },
                |(mut rx, mut tx)| loop {
                    let v = loop {
                        match rx.try_pop() {
                            Ok(v) => break v,
                            Err(_) => spin_loop(),
                        }
                    };
                    let mut w = v;
                    while let Err(e) = tx.try_push(w) {
                        w = e.into_inner();
                        spin_loop();
                    }
                    if v == u64::MAX {
                        return;
                    }
                },
            )
        })
    });

    g.bench_function("fanring_default_blocking", |b| {
        b.iter_custom(|iters| {
            pingpong(
                iters,
                || {
                    let (tx1, rx1) = channel::<u64>(1).unwrap();
                    let (tx2, rx2) = channel::<u64>(1).unwrap();
                    ((tx1, rx2), (rx1, tx2))
                },
                |(tx, rx), v| {
                    tx.push(v).unwrap();
                    rx.pop().unwrap()
                },
                |(mut rx, mut tx)| loop {
                    let v = rx.pop().unwrap();
                    tx.push(v).unwrap();
                    if v == u64::MAX {
                        return;
                    }
                },
            )
        })
    });

    g.bench_function("rtrb", |b| {
        b.iter_custom(|iters| {
            pingpong(
                iters,
                || {
                    let (tx1, rx1) = rtrb::RingBuffer::<u64>::new(1);
                    let (tx2, rx2) = rtrb::RingBuffer::<u64>::new(1);
                    ((tx1, rx2), (rx1, tx2))
                },
                |(tx, rx), v| {
                    let mut v = v;
                    while let Err(rtrb::PushError::Full(back)) = tx.push(v) {
                        v = back;
                        spin_loop();
                    }
                    loop {
                        match rx.pop() {
                            Ok(r) => return r,
                            Err(_) => spin_loop(),
                        }
                    }
                },
                |(mut rx, mut tx)| loop {
                    let v = loop {
                        match rx.pop() {
                            Ok(v) => break v,
                            Err(_) => spin_loop(),
                        }
                    };
                    let mut w = v;
                    while let Err(rtrb::PushError::Full(back)) = tx.push(w) {
                        w = back;
                        spin_loop();
                    }
                    if v == u64::MAX {
                        return;
                    }
                },
            )
        })
    });

    g.bench_function("crossbeam_channel_bounded", |b| {
        b.iter_custom(|iters| {
            pingpong(
                iters,
                || {
                    let (tx1, rx1) = crossbeam_channel::bounded::<u64>(1);
                    let (tx2, rx2) = crossbeam_channel::bounded::<u64>(1);
                    ((tx1, rx2), (rx1, tx2))
                },
                |(tx, rx), v| {
                    tx.send(v).unwrap();
                    rx.recv().unwrap()
                },
                |(rx, tx)| loop {
                    let v = rx.recv().unwrap();
                    tx.send(v).unwrap();
                    if v == u64::MAX {
                        return;
                    }
                },
            )
        })
    });

    g.finish();
}

/// Rounds of `single_thread` per iteration (each pushes and pops `CAP` items).
const ST_ROUNDS: usize = 256;

/// A ring's two handles, one item at a time (the `single_thread` group's peers).
trait Handles {
    fn put(&mut self, v: u64);
    fn take(&mut self) -> u64;
}

/// Both peers' handles have `push(v)` and `pop()`, whose results unwrap to `()` and the item.
macro_rules! impl_handles {
    ($($ring:ident),*) => {$(
        impl Handles for ($ring::Producer<u64>, $ring::Consumer<u64>) {
            #[inline]
            fn put(&mut self, v: u64) {
                self.0.push(v).unwrap();
            }
            #[inline]
            fn take(&mut self) -> u64 {
                self.1.pop().unwrap()
            }
        }
    )*};
}
mod fanring_ring {
    pub use fanring::ring::{Consumer, Producer};
}
impl_handles!(fanring_ring, rtrb);

#[inline(never)]
fn st_loop<H: Handles>(h: &mut H) -> u64 {
    let mut sum = 0u64;
    for r in 0..ST_ROUNDS as u64 {
        for i in 0..CAP as u64 {
            h.put(i ^ r);
        }
        for _ in 0..CAP {
            sum = sum.wrapping_add(h.take());
        }
    }
    sum
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("single_thread");
    g.throughput(Throughput::Elements((ST_ROUNDS * CAP) as u64));
    for (name, wait) in [
        ("fanring_spin_yield", WaitStrategy::SPIN_YIELD),
        ("fanring_default", WaitStrategy::SPIN_THEN_PARK),
    ] {
        let mut h = channel_with::<u64>(CAP, wait).unwrap();
        g.bench_function(name, |b| b.iter(|| black_box(st_loop(&mut h))));
    }
    let mut h = rtrb::RingBuffer::<u64>::new(CAP);
    g.bench_function("rtrb", |b| b.iter(|| black_box(st_loop(&mut h))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = one_at_a_time, batched, round_trips, single_thread
}
criterion_main!(benches);
