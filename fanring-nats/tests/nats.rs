//! Key-partitioned streams through a real `nats-server -js`, one engine per process.
//!
//! `.ci/run` starts a server on a free loopback port with
//! `fanring-nats/tests/nats-server.conf` (the partition mapping
//! `fr.in.* -> fr.in.{{partition(4,1)}}.{{wildcard(1)}}`) and runs
//! `FANRING_NATS_URL=nats://127.0.0.1:PORT cargo test -p fanring-nats --test nats --
//! --test-threads=1`. Without `FANRING_NATS_URL` the tests say so and pass, except under
//! `CI=true`, where they fail.
//!
//! Each scenario: 100 000 items (1000 keys × 100 per key, interleaved) published to
//! `fr.in.<key>`; the server maps them to 4 partitions (streams `FR_IN-0` .. `FR_IN-3`,
//! subjects `fr.in.<p>.<key>`); two engine processes (this test
//! binary again, `engine_process`), each consuming 2 partitions with a 2-worker engine
//! (`Dispatch::ByKey`), publish `fr.out.<key>`; then the output stream must hold exactly
//! 100 000 messages, each key's 100 outputs in input order, each once.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use fanring::{Dispatch, Engine};
use fanring_nats::{partition_of, Connection, Message, SinkConfig, SourceConfig};
use futures_util::{StreamExt, TryStreamExt};

const IN: &str = "FR_IN";
const OUT: &str = "FR_OUT";
const PARTITIONS: u32 = 4;
const KEYS: u32 = 1000;
const PER_KEY: u32 = 100;
const TOTAL: u64 = (KEYS * PER_KEY) as u64;
const CHILD_ENV: &str = "FANRING_NATS_CHILD_PARTITIONS";

/// The server's URL, or `None` (with a message) when no server was given outside CI.
fn server_url() -> Option<String> {
    match std::env::var("FANRING_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let msg = "FANRING_NATS_URL is not set: no nats-server to test against \
                       (.ci/run starts one: `nats-server -js -a 127.0.0.1 -p PORT -c \
                       fanring-nats/tests/nats-server.conf`)";
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{msg}; in CI this test must run"
            );
            // Past the harness's capture, so a plain `cargo test` shows it.
            let _ = writeln!(std::io::stderr(), "SKIPPED: {msg}");
            None
        }
    }
}

fn key(k: u32) -> String {
    format!("k{k}")
}

/// The work: `"<key> <i>"` → `"<key> <i> <i²>"`.
fn work(m: Message) -> fanring_nats::Outgoing {
    let text = std::str::from_utf8(&m.payload).expect("utf-8 payload");
    let i: u64 = text
        .rsplit(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("payload");
    let out = format!("{text} {}", i * i);
    let subject = format!("fr.out.{}", m.key());
    m.reply(subject, out)
}

/// The engine process: consumes the partitions in `FANRING_NATS_CHILD_PARTITIONS` until the
/// input has been idle for 3 s, then prints its sink's counts. Does nothing (and passes) when
/// that variable is unset, as in a plain test run.
#[test]
fn engine_process() {
    let Ok(parts) = std::env::var(CHILD_ENV) else {
        return;
    };
    let url = std::env::var("FANRING_NATS_URL").expect("child without a URL");
    let parts: Vec<u32> = parts.split(',').map(|p| p.parse().unwrap()).collect();
    let conn = Connection::connect(&url).unwrap();
    let source = conn
        .source(
            SourceConfig::new(IN, "fr.in", parts.iter().copied())
                .durable("fr")
                .end_when_idle(Duration::from_secs(3)),
        )
        .unwrap();
    let mut sink = conn.sink(SinkConfig::default()).unwrap();
    let mut out = Engine::builder()
        .workers(2)
        .dispatch(Dispatch::by_key(Message::key_hash))
        .map(work)
        .run_source(source)
        .unwrap();
    // `Iterator::` named: in a workspace build with fanring's `async` feature on (fanbench's
    // async rows), `Output` is also a `Stream`, and `StreamExt` is in scope here.
    for o in Iterator::by_ref(&mut out) {
        sink.send_blocking(o).unwrap();
    }
    out.join().unwrap();
    let s = sink.finish().unwrap();
    println!(
        "STATS partitions={parts:?} published={} duplicates={} acked={}",
        s.published, s.duplicates, s.acked
    );
}

/// Kills the engine processes still running when a scenario fails.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_engine(url: &str, parts: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "engine_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, parts)
        .env("FANRING_NATS_URL", url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning an engine process")
}

/// Waits for an engine process; returns its `STATS` line.
fn finish_engine(mut child: Child) -> String {
    let out = child.stdout.take().unwrap();
    // Reads to the end (the child must not meet a closed pipe).
    let lines: Vec<String> = BufReader::new(out).lines().map_while(Result::ok).collect();
    let stats = lines
        .iter()
        .find_map(|l| l.find("STATS").map(|at| l[at..].to_owned()))
        .unwrap_or_default();
    let status = child.wait().unwrap();
    assert!(status.success(), "engine process failed: {status}");
    stats
}

/// Fresh streams, the mapping checked, 100 000 items published.
fn setup(conn: &Connection) {
    let js = conn.jetstream().clone();
    let client = conn.client().clone();
    conn.block_on(async move {
        for p in 0..PARTITIONS {
            let _ = js.delete_stream(format!("{IN}-{p}")).await;
        }
        let _ = js.delete_stream(OUT).await;
        let _ = js.delete_stream(IN).await; // the single-stream layout, if one is left
                                            // The server must map `fr.in.<key>` to `fr.in.<partition_of(key)>.<key>`.
        let mut probe = client.subscribe("fr.in.*.probe-key").await.unwrap();
        client.publish("fr.in.probe-key", "x".into()).await.unwrap();
        client.flush().await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), probe.next())
            .await
            .expect(
                "the server does not map fr.in.* to partitions: start it with \
                 -c fanring-nats/tests/nats-server.conf",
            )
            .unwrap();
        assert_eq!(
            got.subject.as_str(),
            format!("fr.in.{}.probe-key", partition_of("probe-key", PARTITIONS))
        );

        // One stream per partition (see `SourceConfig::single_stream` for why).
        for p in 0..PARTITIONS {
            js.create_stream(stream::Config {
                name: format!("{IN}-{p}"),
                subjects: vec![format!("fr.in.{p}.*")],
                ..Default::default()
            })
            .await
            .unwrap();
        }
        js.create_stream(stream::Config {
            name: OUT.into(),
            subjects: vec!["fr.out.>".into()],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();

        let t = Instant::now();
        let mut acks = Vec::with_capacity(2000);
        for i in 0..PER_KEY {
            for k in 0..KEYS {
                let ack = js
                    .publish(
                        format!("fr.in.{}", key(k)),
                        format!("{} {i}", key(k)).into(),
                    )
                    .await
                    .unwrap();
                acks.push(ack);
            }
            if acks.len() >= 2000 || i + 1 == PER_KEY {
                for a in acks.drain(..) {
                    a.await.unwrap();
                }
            }
        }
        eprintln!("published {TOTAL} inputs in {:.2?}", t.elapsed());

        // Every key landed in the partition `partition_of` names.
        let mut seen = 0;
        for p in 0..PARTITIONS {
            let stream = js.get_stream(format!("{IN}-{p}")).await.unwrap();
            let mut subjects = stream.info_with_subjects("fr.in.*.*").await.unwrap();
            while let Some((subject, count)) = subjects.try_next().await.unwrap() {
                let k = subject.rsplit('.').next().unwrap();
                assert_eq!(subject, format!("fr.in.{p}.{k}"));
                assert_eq!(p, partition_of(k, PARTITIONS), "{subject}");
                assert_eq!(count, PER_KEY as usize, "{subject}");
                seen += 1;
            }
        }
        assert_eq!(seen, KEYS);
    });
}

fn out_count(conn: &Connection) -> u64 {
    let js = conn.jetstream().clone();
    conn.block_on(async move {
        let mut s = js.get_stream(OUT).await.unwrap();
        s.info().await.unwrap().state.messages
    })
}

/// Reads the whole output stream and checks every key's outputs: 0..PER_KEY in order, once.
fn check_output(conn: &Connection) {
    assert_eq!(out_count(conn), TOTAL, "the output stream's message count");
    let js: jetstream::Context = conn.jetstream().clone();
    let per_key = conn.block_on(async move {
        let stream = js.get_stream(OUT).await.unwrap();
        let reader = stream
            .create_consumer(consumer::pull::Config {
                ack_policy: consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut msgs = reader.messages().await.unwrap().take(TOTAL as usize);
        let mut next: HashMap<String, u64> = HashMap::new();
        let deadline = Duration::from_secs(60);
        while let Some(m) = tokio::time::timeout(deadline, msgs.next())
            .await
            .expect("reading the output stream")
        {
            let m = m.unwrap();
            let k = m
                .subject
                .as_str()
                .strip_prefix("fr.out.")
                .unwrap()
                .to_owned();
            let text = std::str::from_utf8(&m.payload).unwrap();
            let mut f = text.split(' ');
            assert_eq!(f.next(), Some(k.as_str()), "{text}");
            let i: u64 = f.next().unwrap().parse().unwrap();
            let sq: u64 = f.next().unwrap().parse().unwrap();
            assert_eq!(sq, i * i, "{text}");
            let want = next.entry(k.clone()).or_default();
            assert_eq!(i, *want, "key {k}: out of order or duplicated");
            *want += 1;
        }
        next
    });
    assert_eq!(per_key.len(), KEYS as usize);
    assert!(per_key.values().all(|&n| n == u64::from(PER_KEY)));
}

fn scenario(kill_halfway: bool) {
    let Some(url) = server_url() else {
        return;
    };
    let conn = Connection::connect(&url).expect("connecting to FANRING_NATS_URL");
    setup(&conn);
    let t = Instant::now();
    let mut children = Children(vec![spawn_engine(&url, "0,1"), spawn_engine(&url, "2,3")]);
    if kill_halfway {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut at = out_count(&conn);
        while at < TOTAL / 2 {
            assert!(Instant::now() < deadline, "no progress: {at} outputs");
            for c in &mut children.0 {
                if let Some(status) = c.try_wait().unwrap() {
                    panic!("an engine process ended before the kill: {status}");
                }
            }
            std::thread::sleep(Duration::from_millis(5));
            at = out_count(&conn);
        }
        let mut a = children.0.remove(0);
        a.kill().unwrap(); // SIGKILL
        let status = a.wait().unwrap();
        let after = out_count(&conn);
        eprintln!(
            "killed the engine of partitions 0,1 at {at}..{after} outputs ({status}), \
             {:.2?} in; restarting it",
            t.elapsed()
        );
        assert!(
            after < TOTAL,
            "the engines finished before the kill; nothing was tested"
        );
        children.0.insert(0, spawn_engine(&url, "0,1"));
    }
    for c in children.0.drain(..) {
        eprintln!("{}", finish_engine(c));
    }
    eprintln!(
        "engines done in {:.2?} (3 s of it waiting for idle input)",
        t.elapsed()
    );
    check_output(&conn);
}

#[test]
fn two_engine_processes_keep_per_key_order() {
    scenario(false);
}

#[test]
fn engine_process_killed_and_restarted_loses_and_duplicates_nothing() {
    scenario(true);
}
