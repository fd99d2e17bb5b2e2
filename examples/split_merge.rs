//! The seed's Split / Merge, with rings instead of channels, composed as in Go: a source,
//! `split` round-robin over three parts, a worker per part (each on its own thread), and
//! `merge` back into one stream. Closing the source closes every stage in turn.
//!
//! `cargo run --release --example split_merge`

use fanring::channel;
use fanring::fan::{merge, split, workers};

fn main() -> Result<(), fanring::BuildError> {
    let (mut source, rx) = channel::<u64>(256)?;
    std::thread::spawn(move || {
        for i in 0..1_000 {
            source.push(i).expect("split is running");
        }
    }); // dropping `source` closes the input: split closes every part, the workers end

    // merge(workers(split(rx, 3), square)): each part's items squared on its own thread.
    let mut merged = merge(workers(split(rx, 3)?, |x: u64| x * x)?);
    let (count, sum) = merged
        .by_ref()
        .fold((0u64, 0u64), |(c, s), x| (c + 1, s + x));
    println!("merged {count} squares, sum {sum}");
    assert_eq!(sum, (0..1_000u64).map(|i| i * i).sum::<u64>());
    merged.join().expect("every stage ended cleanly");
    Ok(())
}
