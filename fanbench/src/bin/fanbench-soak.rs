//! Stress and soak for the engine: random configurations (workers, capacity, batch, dispatch,
//! order, wait strategy), random early drops of the merged stream and random worker panics,
//! with every item's `Drop` counted. Each round checks delivery (count, checksum, order where
//! promised) or, when it ended early, that every created item was dropped exactly once.
//!
//! ```text
//! cargo run --release -p fanbench --bin fanbench-soak -- [--rounds N] [--items N] [--workers N] [--seed N]
//! cargo run --release -p fanbench --bin fanbench-soak -- --soak   # 8 workers, 200 rounds, 2M items max
//! valgrind --leak-check=full --error-exitcode=1 target/debug/fanbench-soak --rounds 6 --items 2000
//! ```
//! Exits non-zero on the first violation. The items, their counters and their source are
//! `fanbench::tracked`'s (the engine's stress tests, `tests/engine_stress.rs`, have the same
//! in `tests/common/tracked.rs`).

use std::sync::Arc;

use fanbench::tracked::{source, Counts, Rng, Tracked};
use fanring::{Dispatch, Engine, Failure, Order, Pinning, WaitStrategy};

struct Args {
    rounds: u64,
    items: u64,
    workers: u64,
    seed: u64,
}

const USAGE: &str = "\
fanbench-soak: random engine configurations, early drops and worker panics, with every item's
Drop counted; exits non-zero on the first violation.

Usage: fanbench-soak [--rounds N] [--items N] [--workers N] [--seed N]
       fanbench-soak --soak [--seed N]

  --rounds N   rounds to run (default 40)
  --items N    at most N items per round (default 200000)
  --workers N  at most N workers per round (default 8)
  --seed N     the random seed (default 0x5eed = 24301)
  --soak       200 rounds of up to 2000000 items and 8 workers
  -h, --help   print this help";

fn parse() -> Result<Args, String> {
    let mut a = Args {
        rounds: 40,
        items: 200_000,
        workers: 8,
        seed: 0x5eed,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--soak" {
            (a.rounds, a.items, a.workers) = (200, 2_000_000, 8);
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let v: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--rounds" => a.rounds = v,
            "--items" => a.items = v.max(1),
            "--workers" => a.workers = v.max(1),
            "--seed" => a.seed = v.max(1),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

#[derive(Default)]
struct Totals {
    items: u64,
    complete: u64,
    early_drops: u64,
    panics: u64,
}

fn round(rng: &mut Rng, args: &Args, totals: &mut Totals) -> Result<(), String> {
    let workers = 1 + rng.below(args.workers) as usize;
    let capacity = 1 + rng.below(256) as usize;
    let batch = 1 + rng.below(64) as usize;
    let n = 1 + rng.below(args.items);
    let wait = if rng.below(2) == 0 {
        WaitStrategy::SPIN_YIELD
    } else {
        WaitStrategy::default()
    };
    let (dispatch, order) = match rng.below(5) {
        0 => (Dispatch::RoundRobin, Order::Any),
        1 => (Dispatch::RoundRobin, Order::Preserve),
        2 => (Dispatch::LeastLoaded, Order::Any),
        3 => (Dispatch::LeastLoaded, Order::Preserve),
        _ => (Dispatch::by_key(|t: &Tracked| t.v % 13), Order::Preserve),
    };
    // A third of the rounds stop early, a sixth panic in a worker.
    let stop_after = (rng.below(3) == 0).then(|| rng.below(n));
    let panic_at = (rng.below(6) == 0).then(|| rng.below(n));
    // Half the rounds distribute and merge on this thread (`drive`), half use a distributor
    // thread (`run`).
    let drive = rng.below(2) == 0;
    let config = format!(
        "workers={workers} capacity={capacity} batch={batch} n={n} {dispatch:?} {order:?} \
         {wait:?} stop_after={stop_after:?} panic_at={panic_at:?} drive={drive}"
    );

    let counts = Counts::new();
    let made = Arc::clone(&counts);
    let pipeline = Engine::builder()
        .workers(workers)
        .capacity(capacity)
        .batch(batch)
        .wait(wait)
        .pinning(Pinning::None)
        .dispatch(dispatch)
        .order(order)
        .map(move |t: Tracked| {
            if Some(t.v) == panic_at {
                panic!("planned panic at {}", t.v);
            }
            Tracked::new(t.v * 2, &made)
        });
    let source = source(Some(n), &counts);
    let ((count, sum, in_order), result) = if drive {
        let mut out = pipeline
            .drive(source)
            .map_err(|e| format!("{config}: {e}"))?;
        (take(|| out.next_checked(), stop_after), out.join())
    } else {
        let mut out = pipeline.run(source).map_err(|e| format!("{config}: {e}"))?;
        (take(|| out.next_checked(), stop_after), out.join())
    };
    totals.items += count;
    let (created, dropped) = (counts.created(), counts.dropped());
    if created != dropped {
        return Err(format!(
            "{config}: created {created} items, dropped {dropped}"
        ));
    }
    match (result, panic_at) {
        (Err(Failure::WorkerPanicked { message, .. }), Some(p)) => {
            if message != format!("planned panic at {p}") {
                return Err(format!("{config}: wrong panic message {message}"));
            }
            totals.panics += 1;
        }
        // The stream was stopped before the panicking item was processed.
        (Ok(_), Some(_)) if stop_after.is_some() => totals.early_drops += 1,
        (Ok(_), None) if stop_after.is_some() => totals.early_drops += 1,
        (Ok(_), None) => {
            if count != n || sum != n * (n - 1) {
                return Err(format!("{config}: got {count} items, sum {sum}"));
            }
            if order == Order::Preserve && !in_order {
                return Err(format!("{config}: order not preserved"));
            }
            totals.complete += 1;
        }
        (r, _) => return Err(format!("{config}: unexpected end {r:?}")),
    }
    Ok(())
}

/// Reads the merged stream (up to `stop_after` items): (count, checksum, in input order).
/// Read with `next_checked`: a failure ends the reading (and `join` reports it) instead of
/// being re-raised here.
fn take(
    mut next: impl FnMut() -> Result<Option<Tracked>, Failure>,
    stop_after: Option<u64>,
) -> (u64, u64, bool) {
    let (mut count, mut sum, mut in_order) = (0u64, 0u64, true);
    while let Ok(Some(item)) = next() {
        in_order &= item.v == 2 * count;
        count += 1;
        sum = sum.wrapping_add(item.v);
        if Some(count) == stop_after {
            break;
        }
    }
    (count, sum, in_order)
}

fn main() {
    fanbench::process::default_sigpipe();
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("stress: {e}");
            std::process::exit(2);
        }
    };
    // Worker panics are expected; keep their messages off the terminal.
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng::new(args.seed);
    let mut totals = Totals::default();
    for r in 0..args.rounds {
        if let Err(e) = round(&mut rng, &args, &mut totals) {
            eprintln!("stress: round {r} (seed {}): {e}", args.seed);
            std::process::exit(1);
        }
    }
    println!(
        "stress: {} rounds ({} complete, {} early drops, {} worker panics), {} items merged, \
         created == dropped in every round",
        args.rounds, totals.complete, totals.early_drops, totals.panics, totals.items
    );
}
