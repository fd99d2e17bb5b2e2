//! The async bridge on tokio: one task feeds the engine from an async source (a tokio `mpsc`
//! channel filled by another task), another consumes the merged output as a `Stream`.
//!
//! `cargo run --release --features async --example tokio_stream [ITEMS] [WORKERS]`

use fanring::{Engine, Order};
use futures_util::StreamExt;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let items: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);

    // The engine: `workers` threads squaring numbers, results merged in input order.
    let (mut input, output) = Engine::builder()
        .workers(workers)
        .order(Order::Preserve)
        .map(|x: u64| x * x)
        .start()
        .expect("engine");

    // An async source: a task producing into a tokio channel (a socket reader, say).
    let (tx, mut source) = tokio::sync::mpsc::channel::<u64>(1024);
    let producer = tokio::spawn(async move {
        for i in 0..items {
            if tx.send(i).await.is_err() {
                break;
            }
        }
    });

    // The feeder: waits for room in the engine without blocking the executor.
    let feeder = tokio::spawn(async move {
        while let Some(x) = source.recv().await {
            if let Err(e) = input.send_async(x).await {
                eprintln!("engine stopped, item {} not sent", e.into_inner());
                break;
            }
        }
        // Dropping `input` ends the engine's input: the stream ends once everything is merged.
    });

    // The consumer: the merged output as a `Stream`.
    let consumer = tokio::spawn(async move {
        let mut output = output;
        let (mut n, mut sum) = (0u64, 0u64);
        let mut expect = 0u64;
        while let Some(y) = StreamExt::next(&mut output).await {
            assert_eq!(y, expect * expect, "input order");
            expect += 1;
            n += 1;
            sum = sum.wrapping_add(y);
        }
        if let Some(e) = output.error() {
            panic!("a stage failed: {e}");
        }
        (n, sum)
    });

    producer.await.expect("producer");
    feeder.await.expect("feeder");
    let (n, sum) = consumer.await.expect("consumer");
    assert_eq!(n, items);
    println!("{n} items through {workers} workers, sum of squares (wrapping) {sum}");
}
