//! Two farms in a row, saturated: a trivial map `f` on one engine, `g` on a second, summed.
//! Three ways, interleaved round by round, in M items/s: one farm doing `g ∘ f` (the
//! ceiling), the second engine reading the first's `Output` as an iterator (`run(output)`),
//! and as a `Source` (`run_source(output)`, which takes the runs that are ready).
//!
//! `cargo run --release -p fanbench --example chain_probe -- <workers> <items> <rounds>`

use fanring::Engine;
use std::time::Instant;

fn rate(n: u64, t: Instant) -> f64 {
    n as f64 / t.elapsed().as_secs_f64() / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("chain_probe <workers> <items> <rounds>: two chained trivial farms against one farm, M items/s");
        return;
    }
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let w = usize::try_from(arg(1, 2)).expect("workers");
    let n = arg(2, 5_000_000);
    let rounds = arg(3, 7).max(1);
    let f = |x: u64| x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let g = |x: u64| x.rotate_left(7) ^ 1;
    let (mut one, mut iter, mut source) = (Vec::new(), Vec::new(), Vec::new());
    // M items/s of one run of `sum` over the stream `make` builds.
    let timed = |make: &dyn Fn() -> u64| {
        let t = Instant::now();
        std::hint::black_box(make());
        rate(n, t)
    };
    for _ in 0..rounds {
        one.push(timed(&|| {
            let out = Engine::builder().workers(w).map(move |x| g(f(x))).run(0..n);
            out.unwrap().sum()
        }));
        iter.push(timed(&|| {
            let first = Engine::builder().workers(w).map(f).run(0..n).unwrap();
            Engine::builder()
                .workers(w)
                .map(g)
                .run(first)
                .unwrap()
                .sum()
        }));
        source.push(timed(&|| {
            let first = Engine::builder().workers(w).map(f).run(0..n).unwrap();
            Engine::builder()
                .workers(w)
                .map(g)
                .run_source(first)
                .unwrap()
                .sum()
        }));
    }
    let (o, i, s) = (
        median(one.clone()),
        median(iter.clone()),
        median(source.clone()),
    );
    println!("W={w}, {n} items, median of {rounds} interleaved rounds, M items/s");
    println!("one farm doing g∘f        {o:8.1}");
    println!("chained, run(output)      {i:8.1}   {:.2}× one farm", i / o);
    println!(
        "chained, run_source(out)  {s:8.1}   {:.2}× one farm, {:.1}× run(output)",
        s / o,
        s / i
    );
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "rounds: one farm [{}], run [{}], run_source [{}]",
        show(&one),
        show(&iter),
        show(&source)
    );
}
