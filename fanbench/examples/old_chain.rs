//! Two engines chained the way a user had to before graphs (`Pipeline::then`) existed: a
//! trivial map on one engine, its `Output` given to a second engine's `run`, summed; M items/s
//! per round. It uses only the API every build since the engine's first release has, so the
//! same file compiles against an older commit: copy it into that checkout's
//! `fanbench/examples/` and alternate the two binaries with `chain_probe` (see
//! `docs/benchmarks.md`, "Pipelines of farms").
//!
//! `cargo run --release -p fanbench --example old_chain -- <workers> <items> <rounds>`

use fanring::Engine;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "old_chain <workers> <items> <rounds>: two engines chained by run(output), M items/s"
        );
        return;
    }
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let workers = usize::try_from(arg(1, 2)).expect("workers");
    let n = arg(2, 5_000_000);
    let rounds = arg(3, 3).max(1);
    for _ in 0..rounds {
        let t = Instant::now();
        let first = Engine::builder()
            .workers(workers)
            .map(|x: u64| x.wrapping_mul(3))
            .run(0..n)
            .expect("the first engine");
        let sum: u64 = Engine::builder()
            .workers(workers)
            .map(|x: u64| x.wrapping_add(1))
            .run(first)
            .expect("the second engine")
            .sum();
        std::hint::black_box(sum);
        #[allow(clippy::cast_precision_loss)]
        let rate = n as f64 / t.elapsed().as_secs_f64() / 1e6;
        println!("{rate:.2}");
    }
}
