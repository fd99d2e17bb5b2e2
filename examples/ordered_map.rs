//! An ordered parallel map: four workers, results in input order, no reorder buffer
//! (round-robin dispatch, the merger reads the workers in the same rotation).
//!
//! `cargo run --release --example ordered_map`

use fanring::{Engine, Order};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut output = Engine::builder()
        .workers(4)
        .order(Order::Preserve)
        .map(|line: String| line.to_uppercase())
        .run((0..10_000).map(|i| format!("line {i}")))?;
    println!("plan: {}", output.plan());

    for (i, line) in output.by_ref().enumerate() {
        assert_eq!(line, format!("LINE {i}"));
    }
    let stats = output.join()?;
    for (w, s) in stats.workers.iter().enumerate() {
        println!(
            "worker {w}: {} in, {} out, {} waits for input",
            s.items_in, s.items_out, s.waits_empty
        );
    }
    Ok(())
}
