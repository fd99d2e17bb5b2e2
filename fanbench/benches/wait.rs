//! Wait strategies side by side: round-trip latency distribution and bulk throughput.
//!
//! `cargo bench -p fanbench --bench wait` prints Markdown tables to stdout (progress goes to
//! stderr).
//!
//! Peers: a fanring ring with each [`WaitStrategy`] (blocking `push`/`pop`), a
//! crossbeam-channel `bounded` channel (blocking `send`/`recv`) and an rtrb ring driven by a
//! plain `yield_now` retry loop. Two placements: "free cores" (the two threads pinned to two
//! different cores) and "one core" (both pinned to the same core; `BusySpin` is skipped there,
//! it would burn its whole quantum before the peer runs).
//!
//! - Ping-pong: one `u64` there and back over two channels of capacity 1; `WARMUP` round trips,
//!   then `ROUND_TRIPS` timed one by one into an HDR histogram.
//! - Throughput: `ITEMS` `u64`s one at a time through a channel of capacity `CAP`, timed from a
//!   barrier to the consumer taking the last one.
//!
//! Every cell is measured `REPS` times, the repetitions interleaved across peers; the tables
//! show the median of each figure.
//!
//! Options (after `--`), for short runs on a shared machine: `one` or `free` runs one placement
//! only, `throughput` skips the round trips, `reps=N` sets the repetitions (default 3), and
//! `only=a,b` keeps the peers whose name contains one of the words (rtrb and crossbeam-channel
//! always run: the ratios need them). Example:
//! `cargo bench -p fanbench --bench wait -- one throughput reps=9`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use core_affinity::CoreId;
use fanring::WaitStrategy;
use hdrhistogram::Histogram;

const WARMUP: usize = 20_000;
const ROUND_TRIPS: usize = 200_000;
const ITEMS: u64 = 10_000_000;
const CAP: usize = 4096;
const REPS: usize = 3;

/// The command-line options (see the module docs).
struct Opts {
    placement: Option<&'static str>,
    throughput_only: bool,
    reps: usize,
    only: Vec<String>,
}

fn opts() -> Opts {
    let mut o = Opts {
        placement: None,
        throughput_only: false,
        reps: REPS,
        only: Vec::new(),
    };
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "one" => o.placement = Some("one core"),
            "free" => o.placement = Some("free cores"),
            "throughput" => o.throughput_only = true,
            _ => {
                if let Some(n) = a.strip_prefix("reps=") {
                    o.reps = n.parse().expect("reps=N");
                } else if let Some(w) = a.strip_prefix("only=") {
                    o.only = w.split(',').map(str::to_string).collect();
                }
                // Anything else (cargo passes `--bench`) is ignored.
            }
        }
    }
    o
}

/// A channel the bench can drive: blocking send and receive of `u64`s.
trait Chan {
    type Tx: Send;
    type Rx: Send;
    fn make(&self, cap: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &mut Self::Tx, v: u64);
    fn recv(rx: &mut Self::Rx) -> u64;
}

struct Fanring(WaitStrategy);

impl Chan for Fanring {
    type Tx = fanring::ring::Producer<u64>;
    type Rx = fanring::ring::Consumer<u64>;
    fn make(&self, cap: usize) -> (Self::Tx, Self::Rx) {
        fanring::ring::channel_with(cap, self.0).unwrap()
    }
    #[inline]
    fn send(tx: &mut Self::Tx, v: u64) {
        tx.push(v).unwrap();
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> u64 {
        rx.pop().unwrap()
    }
}

struct Crossbeam;

impl Chan for Crossbeam {
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn make(&self, cap: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(cap)
    }
    #[inline]
    fn send(tx: &mut Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> u64 {
        rx.recv().unwrap()
    }
}

struct RtrbYield;

impl Chan for RtrbYield {
    type Tx = rtrb::Producer<u64>;
    type Rx = rtrb::Consumer<u64>;
    fn make(&self, cap: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(cap)
    }
    #[inline]
    fn send(tx: &mut Self::Tx, v: u64) {
        let mut v = v;
        while let Err(rtrb::PushError::Full(back)) = tx.push(v) {
            v = back;
            thread::yield_now();
        }
    }
    #[inline]
    fn recv(rx: &mut Self::Rx) -> u64 {
        loop {
            match rx.pop() {
                Ok(v) => return v,
                Err(_) => thread::yield_now(),
            }
        }
    }
}

/// Where the two threads run.
#[derive(Clone, Copy)]
struct Placement {
    name: &'static str,
    main: Option<CoreId>,
    peer: Option<CoreId>,
    shared_core: bool,
}

/// Round-trip latency percentiles in nanoseconds: p50, p99, p99.9.
type Latency = [u64; 3];

fn pingpong<C: Chan>(chan: &C, at: Placement) -> Latency {
    let (mut tx1, mut rx1) = chan.make(1);
    let (mut tx2, mut rx2) = chan.make(1);
    if let Some(core) = at.main {
        core_affinity::set_for_current(core);
    }
    let barrier = Barrier::new(2);
    let total = (WARMUP + ROUND_TRIPS) as u64;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            if let Some(core) = at.peer {
                core_affinity::set_for_current(core);
            }
            barrier.wait();
            for _ in 0..total {
                let v = C::recv(&mut rx1);
                C::send(&mut tx2, v);
            }
        });
        barrier.wait();
        for i in 0..total {
            let t0 = Instant::now();
            C::send(&mut tx1, i);
            let r = C::recv(&mut rx2);
            let dt = t0.elapsed();
            debug_assert_eq!(r, i);
            black_box(r);
            if i >= WARMUP as u64 {
                hist.saturating_record(dt.as_nanos().max(1) as u64);
            }
        }
    });
    [0.5, 0.99, 0.999].map(|q| hist.value_at_quantile(q))
}

/// Items per second through one channel, one at a time.
fn throughput<C: Chan>(chan: &C, at: Placement) -> f64 {
    let (mut tx, mut rx) = chan.make(CAP);
    if let Some(core) = at.main {
        core_affinity::set_for_current(core);
    }
    let barrier = Barrier::new(2);
    let (start, end) = thread::scope(|s| {
        let consumer = s.spawn(|| {
            if let Some(core) = at.peer {
                core_affinity::set_for_current(core);
            }
            barrier.wait();
            let mut sum = 0u64;
            for _ in 0..ITEMS {
                sum = sum.wrapping_add(C::recv(&mut rx));
            }
            let end = Instant::now();
            assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
            end
        });
        barrier.wait();
        let start = Instant::now();
        for i in 0..ITEMS {
            C::send(&mut tx, i);
        }
        (start, consumer.join().unwrap())
    });
    ITEMS as f64 / end.saturating_duration_since(start).as_secs_f64()
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// One row of a table: a peer's medians, `None` where skipped.
struct Row {
    name: &'static str,
    latency: Option<Latency>,
    items_per_s: Option<f64>,
}

/// One peer of a table: its name and how to measure one repetition of it.
struct Peer {
    name: &'static str,
    /// Busy-waits forever: skipped where both threads share a core.
    spins_only: bool,
    run: fn(Placement, bool) -> (Latency, f64),
}

/// One repetition: the round trip (unless `throughput_only`, then zeros) and the throughput.
fn rep<C: Chan>(chan: C) -> impl Fn(Placement, bool) -> (Latency, f64) {
    move |at, throughput_only| {
        let latency = if throughput_only {
            [0; 3]
        } else {
            pingpong(&chan, at)
        };
        (latency, throughput(&chan, at))
    }
}

fn peers() -> Vec<Peer> {
    vec![
        Peer {
            name: "fanring BusySpin",
            spins_only: true,
            run: |at, t| rep(Fanring(WaitStrategy::BusySpin))(at, t),
        },
        Peer {
            name: "fanring SpinYield{64}",
            spins_only: false,
            run: |at, t| rep(Fanring(WaitStrategy::SPIN_YIELD))(at, t),
        },
        Peer {
            name: "fanring SpinThenPark{64,16}",
            spins_only: false,
            run: |at, t| rep(Fanring(WaitStrategy::SPIN_THEN_PARK))(at, t),
        },
        Peer {
            name: "fanring SpinYield{8}",
            spins_only: false,
            run: |at, t| rep(Fanring(WaitStrategy::SpinYield { spins: 8 }))(at, t),
        },
        Peer {
            name: "fanring SpinThenPark{8,64}",
            spins_only: false,
            run: |at, t| {
                rep(Fanring(WaitStrategy::SpinThenPark {
                    spins: 8,
                    yields: 64,
                }))(at, t)
            },
        },
        Peer {
            name: "crossbeam-channel bounded",
            spins_only: false,
            run: |at, t| rep(Crossbeam)(at, t),
        },
        Peer {
            name: "rtrb yield loop",
            spins_only: false,
            run: |at, t| rep(RtrbYield)(at, t),
        },
    ]
}

/// Measures every peer `REPS` times, the repetitions interleaved (peer 1, 2, .., then 2, 3, ..,
/// 1, and so on: the order rotates) so that a burst of load from elsewhere on the machine does
/// not land on one peer only, and keeps the median of each figure.
fn measure_all(at: Placement, o: &Opts) -> Vec<Row> {
    let peers: Vec<Peer> = peers()
        .into_iter()
        .filter(|p| {
            o.only.is_empty()
                || p.name.starts_with("rtrb")
                || p.name.starts_with("crossbeam")
                || o.only.iter().any(|w| p.name.contains(w.as_str()))
        })
        .collect();
    let mut results: Vec<Vec<(Latency, f64)>> = peers.iter().map(|_| Vec::new()).collect();
    for r in 0..o.reps {
        // Rotate the order each repetition, so that no peer always runs right after the same
        // one (crossbeam's parking leaves the core in a different state than a spin loop).
        let n = peers.len();
        for i in (0..n).map(|i| (i + r) % n) {
            let (peer, res) = (&peers[i], &mut results[i]);
            if at.shared_core && peer.spins_only {
                continue;
            }
            let t = Instant::now();
            let (l, tput) = (peer.run)(at, o.throughput_only);
            eprintln!(
                "{:<10} rep {r} {:<28} p50 {:>7} ns  p99 {:>7} ns  p99.9 {:>8} ns  {:>6.1} M items/s  ({:.1?})",
                at.name,
                peer.name,
                l[0],
                l[1],
                l[2],
                tput / 1e6,
                t.elapsed()
            );
            res.push((l, tput));
        }
    }
    peers
        .iter()
        .zip(results)
        .map(|(peer, res)| {
            if res.is_empty() {
                eprintln!("{:<10} {:<28} skipped", at.name, peer.name);
                return Row {
                    name: peer.name,
                    latency: None,
                    items_per_s: None,
                };
            }
            let latency = [0, 1, 2].map(|k| median(res.iter().map(|(l, _)| l[k]).collect()));
            Row {
                name: peer.name,
                latency: Some(latency),
                items_per_s: Some(median(res.iter().map(|&(_, t)| t).collect())),
            }
        })
        .collect()
}

fn ratio(x: Option<f64>, base: Option<f64>) -> String {
    match (x, base) {
        (Some(x), Some(b)) if b > 0.0 => format!("{:.2}×", x / b),
        _ => "–".to_string(),
    }
}

fn print_tables(at: Placement, rows: &[Row], throughput_only: bool) {
    let find = |n: &str| rows.iter().find(|r| r.name == n).expect("peer row");
    let rtrb = find("rtrb yield loop");
    let cb = find("crossbeam-channel bounded");
    println!("### {}\n", at.name);
    if !throughput_only {
        println!("Round trip (ns; ratios are this row's figure / the peer's: lower is better)\n");
        println!("| peer | p50 | p99 | p99.9 | p50 / rtrb | p50 / cb | p99 / cb | p99.9 / cb |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in rows {
            match r.latency {
                None => println!(
                    "| {} | skipped | skipped | skipped | – | – | – | – |",
                    r.name
                ),
                Some(l) => {
                    let f = |k: usize, base: &Row| {
                        ratio(Some(l[k] as f64), base.latency.map(|b| b[k] as f64))
                    };
                    println!(
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        r.name,
                        l[0],
                        l[1],
                        l[2],
                        f(0, rtrb),
                        f(0, cb),
                        f(1, cb),
                        f(2, cb)
                    );
                }
            }
        }
    }
    println!(
        "\nThroughput ({ITEMS} u64, one at a time, capacity {CAP}; ratios: higher is better)\n"
    );
    println!("| peer | M items/s | × rtrb | × cb |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        match r.items_per_s {
            None => println!("| {} | skipped | – | – |", r.name),
            Some(t) => println!(
                "| {} | {:.1} | {} | {} |",
                r.name,
                t / 1e6,
                ratio(Some(t), rtrb.items_per_s),
                ratio(Some(t), cb.items_per_s)
            ),
        }
    }
    println!();
}

fn main() {
    let o = opts();
    // List the cores before pinning anything: afterwards only the pinned one is listed.
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    let t = Instant::now();
    let mut placements = Vec::new();
    if ids.len() >= 2 {
        placements.push(Placement {
            name: "free cores",
            main: Some(ids[0]),
            peer: Some(ids[1]),
            shared_core: false,
        });
    } else {
        eprintln!("fewer than two cores: only the one-core placement runs");
    }
    if let Some(&core) = ids.first() {
        placements.push(Placement {
            name: "one core",
            main: Some(core),
            peer: Some(core),
            shared_core: true,
        });
    }
    placements.retain(|p| o.placement.is_none_or(|name| p.name == name));
    println!(
        "## Wait strategies: {WARMUP} warm-up + {ROUND_TRIPS} timed round trips, {ITEMS} items, \
         median of {}{}\n",
        o.reps,
        if o.throughput_only {
            " (throughput only)"
        } else {
            ""
        }
    );
    for at in placements {
        let rows = measure_all(at, &o);
        print_tables(at, &rows, o.throughput_only);
    }
    eprintln!("total {:.1?}", t.elapsed());
}
