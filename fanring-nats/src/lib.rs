//! Key-partitioned streams through NATS JetStream, one [`fanring`] engine per machine.
//!
//! A [`JetStreamSource`] consumes some partitions of a stream and feeds an engine; a
//! [`JetStreamSink`] publishes the engine's merged output to another stream and only then
//! acknowledges the inputs. How to lay out partitions and machines, and what was measured, is
//! in fanring's `docs/scaling.md`.
//!
//! # The stream layout
//!
//! Producers publish to `<prefix>.<key>` (a key is one subject token); the server maps that
//! subject to `<prefix>.<partition>.<key>` with its deterministic partitioning (an account
//! mapping `"<prefix>.*": "<prefix>.{{partition(N,1)}}.{{wildcard(1)}}"`, nats-server 2.8 and
//! later). [`partition_of`] computes the same partition on the client, for producers that
//! publish to `<prefix>.<partition>.<key>` themselves, without the mapping. Partition `p` is
//! held by the stream `<stream>-<p>` (subjects `<prefix>.<p>.*`), or, with
//! [`SourceConfig::single_stream`], by one stream of `<prefix>.*.*` with the consumer
//! filtered to `<prefix>.<p>.*`. The source for partitions `P` opens one durable pull
//! consumer per partition `p ∈ P`, named `<durable>-<p>`.
//!
//! # The guarantee
//!
//! - **At-least-once processing.** The sink acknowledges an input only after the output made
//!   from it was published *and* JetStream acknowledged storing it. An input whose output was
//!   not stored is never acknowledged, so it is delivered again: after `ack_wait` to a live
//!   process, or at once to the process that replaces a dead one (see below). The work may
//!   therefore run more than once for one input.
//! - **Effectively-once output within the duplicate window.** Every output carries the header
//!   `Nats-Msg-Id: <input stream>:<input stream sequence>`; the output stream stores only the
//!   first message with a given id within its `duplicate_window` (JetStream's default: 2
//!   minutes), so a redelivered input that is processed again produces no second output. An
//!   input redelivered after the window has passed can produce a duplicate.
//! - **Per-key order.** One key lives in one partition, one partition is consumed by one
//!   process (in stream order), the engine's `Dispatch::ByKey` keeps a key on one worker, the
//!   merger keeps each worker's order, and the sink publishes in that order on one connection.
//!   After a crash, the replacement rewinds the partition to its acknowledgement floor (the
//!   highest sequence below which everything was acknowledged) and replays from there in
//!   stream order; the outputs already stored are dropped by the de-duplication, so each key's
//!   outputs are stored in input order, each once (within the window).
//! - **No global order.** Outputs of different keys, and so of different partitions and
//!   machines, interleave freely.
//! - **One consumer process per partition at a time.** Two live processes on one partition
//!   share its messages and break per-key order; nothing here fences a process that is only
//!   presumed dead.
//!
//! A sink that fails (a publish not acknowledged in time, a lost connection) stops: it
//! publishes and acknowledges nothing more, and [`JetStreamSink::send_blocking`] and
//! [`JetStreamSink::finish`] return the error. End the process (or drop the engine and open a
//! new source): continuing past a failed publish could store a later output of a key before
//! an earlier one.
//!
//! # Replacing a consumer
//!
//! A process that dies leaves its consumers' state in the server: what was acknowledged, and
//! what was delivered but not acknowledged. When [`Connection::source`] opens a partition
//! whose durable consumer still has unacknowledged messages, it deletes the consumer and
//! recreates it starting right after the acknowledgement floor: everything not acknowledged
//! is delivered again, in stream order, immediately (no wait for `ack_wait`). A consumer with
//! nothing pending is reused as it is.
//!
//! ```no_run
//! use fanring_nats::{Connection, Message, SinkConfig, SourceConfig};
//! use fanring::{Dispatch, Engine};
//!
//! let conn = Connection::connect("nats://127.0.0.1:4222")?;
//! let source = conn.source(SourceConfig::new("ORDERS", "orders", [0, 1]))?;
//! let mut sink = conn.sink(SinkConfig::default())?;
//! let mut out = Engine::builder()
//!     .workers(2)
//!     .dispatch(Dispatch::by_key(Message::key_hash))
//!     .map(|m: Message| {
//!         let upper = m.payload.to_ascii_uppercase();
//!         let subject = format!("results.{}", m.key());
//!         m.reply(subject, upper)
//!     })
//!     .run_source(source)?;
//! for output in out.by_ref() {
//!     sink.send_blocking(output)?;
//! }
//! out.join()?;
//! let stats = sink.finish()?;
//! println!("{stats:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// The core crate's lints and reviewed exceptions (this was its `nats` module):
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::pedantic)]
#![warn(clippy::undocumented_unsafe_blocks)]
// - Handles' `Debug` shows their observable state, not internals (Arcs, the runtime).
#![allow(clippy::missing_fields_in_debug)]
// - Pure getters would all need `#[must_use]`; it adds noise without catching a bug.
#![allow(clippy::must_use_candidate)]
// - "JetStream" is the product's name, not an identifier to put in backticks.
#![allow(clippy::doc_markdown)]

mod bridge;
mod sink;
mod source;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use bytes::Bytes;
pub use sink::{JetStreamSink, Outgoing, SinkConfig, SinkStats};
pub use source::{AckToken, JetStreamSource, Message, SourceConfig};

use bridge::Bridge;

/// What went wrong talking to the server (connecting, creating a consumer, publishing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub(crate) fn new(context: &str, e: impl fmt::Display) -> Self {
        Error(format!("{context}: {e}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A connection to a NATS server, with the small runtime that drives it.
///
/// The async client runs on a current-thread tokio runtime on a helper thread owned by the
/// connection (and kept alive by every source and sink opened from it, so the connection
/// itself may be dropped first). Sources and sinks share the connection: an output is
/// published, and its input acknowledged, on the same socket.
#[derive(Clone)]
pub struct Connection {
    bridge: Arc<Bridge>,
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
}

impl Connection {
    /// Connects to `url` (`nats://127.0.0.1:4222`).
    ///
    /// # Errors
    /// The runtime's thread was refused, or the server could not be reached.
    pub fn connect(url: &str) -> Result<Connection, Error> {
        let bridge = Arc::new(Bridge::start().map_err(|e| Error::new("starting the runtime", e))?);
        let url = url.to_owned();
        let (client, js) = bridge
            .block_on(async move {
                let client = async_nats::connect(url).await?;
                // The context spawns a task: it is built on the runtime.
                let mut js = async_nats::jetstream::new(client.clone());
                js.set_timeout(std::time::Duration::from_secs(10));
                Ok::<_, async_nats::ConnectError>((client, js))
            })
            .map_err(|e| Error::new("connecting", e))?;
        Ok(Connection { bridge, client, js })
    }

    /// Opens a source on the partitions `config` names (see [`SourceConfig`]): one durable
    /// pull consumer per partition, rewound to its acknowledgement floor if a previous
    /// process left messages unacknowledged.
    ///
    /// # Errors
    /// The stream does not exist, or a consumer could not be created.
    #[allow(clippy::needless_pass_by_value)] // a builder's result, given away
    pub fn source(&self, config: SourceConfig) -> Result<JetStreamSource, Error> {
        source::open(self, &config)
    }

    /// Opens a sink that publishes [`Outgoing`] items and then acknowledges their inputs.
    ///
    /// # Errors
    /// Never at present (publishing errors show up in [`JetStreamSink::send_blocking`] and
    /// [`JetStreamSink::finish`]); the `Result` leaves room for checks at open time.
    pub fn sink(&self, config: SinkConfig) -> Result<JetStreamSink, Error> {
        Ok(sink::open(self, config))
    }

    /// The async client, for setup the source and the sink do not cover (creating streams).
    /// Run its futures with [`block_on`](Self::block_on).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The JetStream context (publish timeout: 10 s).
    pub fn jetstream(&self) -> &async_nats::jetstream::Context {
        &self.js
    }

    /// Runs `fut` on the connection's runtime and waits for it on the calling thread. Never
    /// call it from inside a future that runs on that runtime.
    pub fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.bridge.block_on(fut)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.client.connection_state())
            .finish()
    }
}

/// The partition (`0..partitions`) the server's `{{partition(partitions,1)}}` mapping puts
/// the one-token key `key` in: FNV-1a (32 bits) of the key's bytes, modulo `partitions`.
///
/// ```
/// use fanring_nats::partition_of;
/// assert!(partition_of("customer-42", 4) < 4);
/// assert_eq!(partition_of("customer-42", 1), 0);
/// ```
///
/// # Panics
/// If `partitions` is 0.
pub fn partition_of(key: &str, partitions: u32) -> u32 {
    assert!(partitions > 0, "partition_of: no partitions");
    let mut h: u32 = 0x811c_9dc5;
    for &b in key.as_bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % partitions
}

/// A 64-bit hash of `key` for [`Dispatch::by_key`](fanring::Dispatch::by_key) inside one
/// engine: FNV-1a (64 bits) finished with a bit mixer. The mixer matters: the low bits of
/// plain FNV-1a are the same for the 32- and 64-bit variants, so `fnv64 % workers` would send
/// every key of one partition to the same few workers.
///
/// ```
/// use fanring_nats::key_hash;
/// assert_eq!(key_hash("a"), key_hash("a"));
/// assert_ne!(key_hash("a"), key_hash("b"));
/// ```
pub fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}
