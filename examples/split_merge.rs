//! The seed's Split / Merge, with rings instead of channels: a source, `split` round-robin
//! over three workers (each on its own thread), and `merge` back into one stream.
//!
//! `cargo run --release --example split_merge`

use fanring::channel;
use fanring::fan::{merge, split};

fn main() {
    let (mut source, rx) = channel::<u64>(256).expect("capacity");
    let (parts, splitter) = split(rx, 3).expect("split");

    // One worker per part: square each number into its own output ring.
    let mut outputs = Vec::new();
    for mut part in parts {
        let (mut tx, out) = channel::<u64>(256).expect("capacity");
        std::thread::spawn(move || {
            for x in part.iter() {
                if tx.push(x * x).is_err() {
                    break; // the merged stream is gone
                }
            }
        }); // dropping `tx` closes this worker's output
        outputs.push(out);
    }

    std::thread::spawn(move || {
        for i in 0..1_000 {
            source.push(i).expect("split is running");
        }
    }); // dropping `source` closes the input: split closes every part, workers end

    let merged = merge(outputs);
    let (count, sum) = merged.fold((0u64, 0u64), |(c, s), x| (c + 1, s + x));
    println!("merged {count} squares, sum {sum}");
    assert_eq!(sum, (0..1_000u64).map(|i| i * i).sum::<u64>());
    splitter.join().expect("the split thread ended cleanly");
}
