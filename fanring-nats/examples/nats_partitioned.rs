//! One machine's share of a key-partitioned stream: this process consumes some partitions of
//! `orders` through JetStream, runs them through an engine keyed by the same key, and
//! publishes the results (at-least-once, de-duplicated output: see `docs/scaling.md`).
//!
//! ```sh
//! nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/js &
//! export FANRING_NATS_URL=nats://127.0.0.1:4222
//! # machine A: publish 20 000 orders, then take partitions 0 and 1
//! cargo run --release -p fanring-nats --example nats_partitioned -- 0,1 20000
//! # machine B: partitions 2 and 3
//! cargo run --release -p fanring-nats --example nats_partitioned -- 2,3
//! ```
//!
//! Layout: 4 partitions, stream `ORDERS-<p>` holding `orders.<p>.<customer>`, results in
//! `RESULTS` (`results.<customer>`). This example's producer computes the partition itself
//! with `partition_of`; with the server mapping `"orders.*":
//! "orders.{{partition(4,1)}}.{{wildcard(1)}}"` producers publish to `orders.<customer>`
//! instead and land in the same place. Each process ends after 2 s without input.

use std::time::Duration;

use async_nats::jetstream::stream;
use fanring::{Dispatch, Engine};
use fanring_nats::{partition_of, Connection, Message, SinkConfig, SourceConfig};
use std::collections::HashMap;

const PARTITIONS: u32 = 4;

fn main() -> Result<(), async_nats::Error> {
    let url = std::env::var("FANRING_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let mut args = std::env::args().skip(1);
    let mine: Vec<u32> = args
        .next()
        .unwrap_or_else(|| "0,1,2,3".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let produce: u64 = args.next().map_or(Ok(0), |a| a.parse())?;
    let conn = Connection::connect(&url)?;

    // Streams (idempotent), and some orders if asked.
    let js = conn.jetstream().clone();
    conn.block_on(async move {
        for p in 0..PARTITIONS {
            js.get_or_create_stream(stream::Config {
                name: format!("ORDERS-{p}"),
                subjects: vec![format!("orders.{p}.*")],
                ..Default::default()
            })
            .await?;
        }
        js.get_or_create_stream(stream::Config {
            name: "RESULTS".into(),
            subjects: vec!["results.>".into()],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await?;
        let mut acks = Vec::new();
        for i in 0..produce {
            let customer = format!("c{}", i % 500);
            let subject = format!("orders.{}.{customer}", partition_of(&customer, PARTITIONS));
            acks.push(js.publish(subject, format!("{}", i % 97).into()).await?);
            if acks.len() == 1000 {
                for a in acks.drain(..) {
                    a.await?;
                }
            }
        }
        for a in acks {
            a.await?;
        }
        Ok::<_, async_nats::Error>(())
    })?;

    // This machine's partitions → an engine keyed by customer → a running total per customer.
    let source = conn.source(
        SourceConfig::new("ORDERS", "orders", mine.iter().copied())
            .durable("totals")
            .end_when_idle(Duration::from_secs(2)),
    )?;
    let mut sink = conn.sink(SinkConfig::default())?;
    let mut out = Engine::builder()
        .workers(2)
        .dispatch(Dispatch::by_key(Message::key_hash))
        .stateful(
            |_worker| HashMap::<String, u64>::new(),
            |totals, m: Message, emit| {
                let amount: u64 = std::str::from_utf8(&m.payload)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let total = totals.entry(m.key().to_owned()).or_default();
                *total += amount;
                let subject = format!("results.{}", m.key());
                let payload = total.to_string();
                emit.push(m.reply(subject, payload));
            },
        )
        .run_source(source)?;
    for o in out.by_ref() {
        sink.send_blocking(o)?;
    }
    out.join()?;
    let stats = sink.finish()?;
    println!("partitions {mine:?}: {stats:?}");
    Ok(())
}
