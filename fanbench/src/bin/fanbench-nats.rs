//! Items/s and latency through NATS JetStream: the engine (`fanring_nats` source → engine
//! with `Dispatch::ByKey` → sink) against the same pipeline on a plain JetStream consumer with
//! no engine (one async loop: pull, work, publish with `Nats-Msg-Id`, await the publish ack,
//! ack the input; publishes pipelined the same way as the sink's). Both acknowledge an input
//! only after its output is stored.
//!
//! ```sh
//! nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/js &
//! FANRING_NATS_URL=nats://127.0.0.1:4222 \
//!   cargo run --release -p fanbench --features nats --bin fanbench-nats -- [ITEMS] [WORK_US] [WORKERS] [RATE]
//! ```
//!
//! Defaults: 100 000 items, 0 µs of work per item, 2 workers, latency at 5 000 items/s.
//! Throughput: a backlog of ITEMS items in 4 partitions (streams `NB_IN-<p>`, the producer
//! computes the partition with `partition_of`, so no server mapping is needed), drained by
//! each pipeline in turn. Latency: a producer paced at RATE items/s for 3 s while the
//! pipeline runs; a reader of the output stream measures output seen − input published.
//! It creates and deletes the streams `NB_IN-0..3` and `NB_OUT`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, consumer, stream};
use fanring::{Dispatch, Engine};
use fanring_nats::{partition_of, Bytes, Connection, Message, SinkConfig, SourceConfig};
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;

const PARTITIONS: u32 = 4;
const KEYS: u64 = 1000;

fn now_ns() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// The work: spin for `us` µs, then `"<ts> <i>"` → `"<ts> <i> <i²>"`.
fn work(payload: &[u8], us: u64) -> Bytes {
    if us > 0 {
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(us) {
            std::hint::spin_loop();
        }
    }
    let text = std::str::from_utf8(payload).unwrap();
    let i: u64 = text.rsplit(' ').next().unwrap().parse().unwrap();
    Bytes::from(format!("{text} {}", i.wrapping_mul(i)))
}

async fn reset(js: &jetstream::Context) {
    for p in 0..PARTITIONS {
        let _ = js.delete_stream(format!("NB_IN-{p}")).await;
        js.create_stream(stream::Config {
            name: format!("NB_IN-{p}"),
            subjects: vec![format!("nb.in.{p}.*")],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let _ = js.delete_stream("NB_OUT").await;
    js.create_stream(stream::Config {
        name: "NB_OUT".into(),
        subjects: vec!["nb.out.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Publishes `n` items, `rate` per second (0: as fast as acks allow).
async fn produce(js: jetstream::Context, n: u64, rate: u64) {
    let start = Instant::now();
    let mut acks = Vec::new();
    for i in 0..n {
        if let Some(at) = (i * 1_000_000_000).checked_div(rate) {
            let due = start + Duration::from_nanos(at);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        let key = format!("k{}", i % KEYS);
        let subject = format!("nb.in.{}.{key}", partition_of(&key, PARTITIONS));
        let payload = format!("{} {i}", now_ns());
        acks.push(js.publish(subject, payload.into()).await.unwrap());
        if acks.len() >= 1000 || rate > 0 {
            for a in acks.drain(..) {
                a.await.unwrap();
            }
        }
    }
    for a in acks {
        a.await.unwrap();
    }
}

/// The plain pipeline: one async loop over the 4 partitions' consumers; returns when `n`
/// inputs are acknowledged.
async fn plain(js: jetstream::Context, n: u64, work_us: u64) {
    let mut pulls = Vec::new();
    for p in 0..PARTITIONS {
        let s = js.get_stream(format!("NB_IN-{p}")).await.unwrap();
        let c = s
            .create_consumer(consumer::pull::Config {
                durable_name: Some(format!("plain-{p}")),
                ack_policy: consumer::AckPolicy::Explicit,
                max_ack_pending: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        pulls.push(
            c.stream()
                .max_messages_per_batch(500)
                .messages()
                .await
                .unwrap(),
        );
    }
    let mut msgs = futures_util::stream::select_all(pulls);
    let mut in_flight = FuturesOrdered::new();
    let mut done = 0;
    while done < n {
        tokio::select! {
            biased;
            Some((r, m)) = in_flight.next(), if !in_flight.is_empty() => {
                let _: async_nats::jetstream::publish::PublishAck = r;
                let m: async_nats::jetstream::Message = m;
                m.ack().await.unwrap();
                done += 1;
            }
            Some(m) = msgs.next(), if in_flight.len() < 1024 => {
                let m = m.unwrap();
                let info = m.info().unwrap();
                let id = format!("{}:{}", info.stream, info.stream_sequence);
                let key = m.subject.as_str().rsplit('.').next().unwrap().to_owned();
                let out = work(&m.payload, work_us);
                let mut h = HeaderMap::new();
                h.insert(NATS_MESSAGE_ID, id.as_str());
                let f = js.publish_with_headers(format!("nb.out.{key}"), h, out).await.unwrap();
                in_flight.push_back(async move { (f.await.unwrap(), m) });
            }
        }
    }
}

/// The engine pipeline; returns when `n` outputs are stored and their inputs acknowledged.
fn engine(conn: &Connection, n: u64, work_us: u64, workers: usize) {
    let source = conn
        .source(SourceConfig::new("NB_IN", "nb.in", 0..PARTITIONS).durable("engine"))
        .unwrap();
    let mut sink = conn.sink(SinkConfig::default()).unwrap();
    let mut out = Engine::builder()
        .workers(workers)
        .dispatch(Dispatch::by_key(Message::key_hash))
        .map(move |m: Message| {
            let payload = work(&m.payload, work_us);
            let subject = format!("nb.out.{}", m.key());
            m.reply(subject, payload)
        })
        .run_source(source)
        .unwrap();
    // `Iterator::` named: with `--features async` too, `&mut Output` is also a `Stream`.
    for (i, o) in Iterator::enumerate(&mut out) {
        sink.send_blocking(o).unwrap();
        if i as u64 + 1 == n {
            break;
        }
    }
    sink.finish().unwrap();
    drop(out);
}

/// Reads `n` outputs; returns latency percentiles (µs) of output seen − input published.
async fn read_latency(js: jetstream::Context, n: u64) -> (f64, f64, f64) {
    let s = js.get_stream("NB_OUT").await.unwrap();
    let c = s
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut msgs = c
        .messages()
        .await
        .unwrap()
        .take(usize::try_from(n).unwrap());
    let mut lat = Vec::with_capacity(usize::try_from(n).unwrap());
    while let Some(m) = msgs.next().await {
        let m = m.unwrap();
        let ts: u64 = std::str::from_utf8(&m.payload)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        lat.push(now_ns().saturating_sub(ts) as f64 / 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    let q = |f: f64| lat[((lat.len() - 1) as f64 * f) as usize];
    (q(0.5), q(0.99), q(1.0))
}

const USAGE: &str = "\
fanbench-nats: items/s and latency through NATS JetStream, the engine (fanring_nats source,
engine with Dispatch::ByKey, sink) against a plain JetStream consumer with no engine.

Usage: FANRING_NATS_URL=nats://HOST:PORT fanbench-nats [ITEMS] [WORK_US] [WORKERS] [RATE]

  ITEMS    items in the throughput backlog (default 100000)
  WORK_US  busy work per item, microseconds (default 0)
  WORKERS  the engine's workers (default 2)
  RATE     the latency run's paced rate, items/s, for 3 s (default 5000)

Needs a nats-server with JetStream (nats-server -js) at FANRING_NATS_URL (default
nats://127.0.0.1:4222). Creates and deletes the streams NB_IN-0..3 and NB_OUT.";

fn main() {
    fanbench::process::default_sigpipe();
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let args: Vec<u64> = match raw.iter().map(|a| a.parse()).collect() {
        Ok(v) => v,
        Err(_) => {
            eprintln!("fanbench-nats: every argument is a number\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let url = std::env::var("FANRING_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let n = args.first().copied().unwrap_or(100_000);
    let work_us = args.get(1).copied().unwrap_or(0);
    let workers = usize::try_from(args.get(2).copied().unwrap_or(2)).unwrap();
    let rate = args.get(3).copied().unwrap_or(5_000);
    let conn = Connection::connect(&url).expect("connecting to FANRING_NATS_URL");
    let js = conn.jetstream().clone();
    let run = |f: &dyn Fn() -> Duration| f();
    println!("{n} items, {work_us} µs of work each, engine workers {workers}, latency at {rate}/s");

    // Throughput: a backlog, drained.
    let mut rates = Vec::new();
    for mode in ["plain", "engine"] {
        let (js2, js3) = (js.clone(), js.clone());
        conn.block_on(async move {
            reset(&js2).await;
            produce(js2, n, 0).await;
        });
        let t = run(&|| {
            let t = Instant::now();
            if mode == "plain" {
                let js = js3.clone();
                conn.block_on(async move { plain(js, n, work_us).await });
            } else {
                engine(&conn, n, work_us, workers);
            }
            t.elapsed()
        });
        let r = n as f64 / t.as_secs_f64();
        rates.push(r);
        println!("throughput {mode:>6}: {r:>9.0} items/s ({t:.2?})");
    }
    println!("throughput engine/plain: {:.2}x", rates[1] / rates[0]);

    // Latency: a paced producer while the pipeline runs.
    let m = rate * 3;
    for mode in ["plain", "engine"] {
        let js2 = js.clone();
        conn.block_on(async move { reset(&js2).await });
        let (jp, jr) = (js.clone(), js.clone());
        let producer = std::thread::spawn({
            let conn = conn.clone();
            move || conn.block_on(async move { produce(jp, m, rate).await })
        });
        let reader = std::thread::spawn({
            let conn = conn.clone();
            move || conn.block_on(async move { read_latency(jr, m).await })
        });
        // The pipeline on a connection (and runtime) of its own, in both modes.
        let conn2 = Connection::connect(&url).unwrap();
        if mode == "plain" {
            let js = conn2.jetstream().clone();
            conn2.block_on(async move { plain(js, m, work_us).await });
        } else {
            engine(&conn2, m, work_us, workers);
        }
        producer.join().unwrap();
        let (p50, p99, max) = reader.join().unwrap();
        println!("latency {mode:>6}: p50 {p50:>8.0} µs  p99 {p99:>8.0} µs  max {max:>8.0} µs");
    }
}
