//! Two farms in a row, saturated: a map `f` (trivial, or with `work_ns` of spinning in it) on
//! one stage, a trivial `g` on the next, summed. Four ways, interleaved round by round, in
//! M items/s: one farm doing `g ∘ f` (the ceiling), the two stages as a graph
//! (`Pipeline::then`: ring to ring), and two chained engines, the second reading the first's
//! `Output` as a `Source` (`run_source(output)`) or as an iterator (`run(output)`).
//!
//! `cargo run --release -p fanbench --example chain_probe -- <workers> <items> <rounds> [work_ns]`

use fanring::Engine;
use std::time::{Duration, Instant};

fn rate(n: u64, t: Instant) -> f64 {
    n as f64 / t.elapsed().as_secs_f64() / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Spins for about `ns` nanoseconds (0: nothing).
fn spin(ns: u64) {
    if ns > 0 {
        let t = Instant::now();
        while t.elapsed() < Duration::from_nanos(ns) {
            std::hint::spin_loop();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "chain_probe <workers> <items> <rounds> [work_ns]: two farms in a row (graph, chained) \
             against one farm, M items/s"
        );
        return;
    }
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let w = usize::try_from(arg(1, 2)).expect("workers");
    let n = arg(2, 5_000_000);
    let rounds = arg(3, 7).max(1);
    let work = arg(4, 0);
    let f = move |x: u64| {
        spin(work);
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    };
    let g = |x: u64| x.rotate_left(7) ^ 1;
    let names = [
        "one farm doing g∘f",
        "graph (then)",
        "chained, run_source",
        "chained, run",
    ];
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    // M items/s of one run of `sum` over the stream `make` builds.
    let timed = |make: &dyn Fn() -> u64| {
        let t = Instant::now();
        std::hint::black_box(make());
        rate(n, t)
    };
    for _ in 0..rounds {
        all[0].push(timed(&|| {
            let out = Engine::builder().workers(w).map(move |x| g(f(x))).run(0..n);
            out.unwrap().sum()
        }));
        all[1].push(timed(&|| {
            Engine::builder()
                .workers(w)
                .map(f)
                .then(Engine::builder().workers(w).map(g))
                .run(0..n)
                .unwrap()
                .sum()
        }));
        all[2].push(timed(&|| {
            let first = Engine::builder().workers(w).map(f).run(0..n).unwrap();
            Engine::builder()
                .workers(w)
                .map(g)
                .run_source(first)
                .unwrap()
                .sum()
        }));
        all[3].push(timed(&|| {
            let first = Engine::builder().workers(w).map(f).run(0..n).unwrap();
            Engine::builder()
                .workers(w)
                .map(g)
                .run(first)
                .unwrap()
                .sum()
        }));
    }
    let med: Vec<f64> = all.iter().map(|v| median(v.clone())).collect();
    println!("W={w}, {n} items, {work} ns in f, median of {rounds} interleaved rounds, M items/s");
    for (i, name) in names.iter().enumerate() {
        let rounds: Vec<String> = all[i].iter().map(|x| format!("{x:.1}")).collect();
        println!(
            "{name:<22} {:8.2}   {:.2}× one farm, {:.2}× chained run_source   [{}]",
            med[i],
            med[i] / med[0],
            med[i] / med[2],
            rounds.join(" ")
        );
    }
}
