//! The smallest saturated-throughput probe: a trivial map over 16-byte items, `run` (the
//! distributor on its own thread) or `drive` (on the caller's), the median of `reps` runs in
//! M items/s. It uses only the API every build since the engine's first release has, so the
//! same file compiles against an older commit: copy it into that checkout's `examples/` (it
//! needs nothing but `fanring`) and alternate the two binaries (see `docs/benchmarks.md`,
//! "Saturated trivial map").
//!
//! `cargo run --release -p fanbench --example throughput_probe -- <workers> <items> <reps> <thread|drive>`

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let workers = usize::try_from(arg(1, 1)).expect("workers");
    let n = arg(2, 2_000_000);
    let reps = arg(3, 3).max(1);
    let drive = args.get(4).is_some_and(|s| s == "drive");
    let mut rates = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let builder = fanring::Engine::builder()
            .workers(workers)
            .map(|(a, b): (u64, u64)| (a.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(7), b));
        let source = (0..n).map(|i| (i, 0u64));
        let mut sum = 0u64;
        if drive {
            for (a, _) in builder.drive(source).expect("engine") {
                sum = sum.wrapping_add(a);
            }
        } else {
            for (a, _) in builder.run(source).expect("engine") {
                sum = sum.wrapping_add(a);
            }
        }
        std::hint::black_box(sum);
        #[allow(clippy::cast_precision_loss)]
        rates.push(n as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    rates.sort_by(f64::total_cmp);
    println!("{:.2}", rates[rates.len() / 2]);
}
