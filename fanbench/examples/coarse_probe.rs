//! Two unbalanced stages of coarse items (`us1` and `us2` µs of spinning each), `Preserve`:
//! the graph at W workers per stage against the two stages on one thread, interleaved rounds.
//!
//! `cargo run --release -p fanbench --example coarse_probe -- <workers> <items> <us1> <us2> <rounds> [batch]`

use fanring::{Engine, Order};
use std::time::{Duration, Instant};

fn spin(us: u64) -> u64 {
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < Duration::from_micros(us) {
        x = x.wrapping_add(1);
        std::hint::spin_loop();
    }
    x
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("coarse_probe <workers> <items> <us1> <us2> <rounds> [batch]");
        return;
    }
    let arg = |i: usize, d: u64| args.get(i).map_or(d, |s| s.parse().expect("a number"));
    let (w, n, us1, us2, rounds) = (
        arg(1, 2) as usize,
        arg(2, 2048),
        arg(3, 30),
        arg(4, 15),
        arg(5, 3),
    );
    let batch = args.get(6).map(|s| s.parse::<usize>().expect("a number"));
    let s1 = move |x: u64| x + spin(us1) * 0;
    let s2 = move |x: u64| x * 2 + spin(us2) * 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let seq: u64 = (0..n).map(|x| s2(s1(x))).sum();
        let one = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut b = Engine::builder().workers(w).order(Order::Preserve);
        let mut b2 = Engine::builder().workers(w);
        if let Some(batch) = batch {
            b = b.batch(batch);
            b2 = b2.batch(batch);
        }
        let out: Vec<u64> = b.map(s1).then(b2.map(s2)).run(0..n).unwrap().collect();
        let graph = t.elapsed().as_secs_f64();
        assert_eq!(out.iter().sum::<u64>(), seq);
        println!(
            "one thread {:.1} ms, graph {:.1} ms: {:.2}×",
            one * 1e3,
            graph * 1e3,
            one / graph
        );
    }
}
