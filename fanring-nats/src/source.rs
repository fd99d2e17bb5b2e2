//! The JetStream source: durable pull consumers on some partitions of a stream, fed into one
//! bounded channel that the engine's distributor drains.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{key_hash, Bridge, Connection, Error, Outgoing};
use fanring::source::Source;
use fanring::source::TryRecvError;

/// Which partitions of which stream a [`JetStreamSource`] consumes, and how.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    stream: String,
    single_stream: bool,
    prefix: String,
    partitions: Vec<u32>,
    durable: String,
    ack_wait: Duration,
    max_ack_pending: i64,
    batch: usize,
    buffer: usize,
    end_when_idle: Option<Duration>,
}

impl SourceConfig {
    /// The partitions `partitions` of the subjects `<prefix>.<partition>.<key>`, partition `p`
    /// held by the stream `<stream>-<p>` (one stream per partition; see
    /// [`single_stream`](Self::single_stream) for the other layout). Defaults: durable
    /// names `fanring-<partition>`, `ack_wait` 30 s, at most 10 000 unacknowledged messages
    /// per partition, pulls of 500 messages, a buffer of 4096 messages between the client and
    /// the engine, no end.
    pub fn new(
        stream: impl Into<String>,
        prefix: impl Into<String>,
        partitions: impl IntoIterator<Item = u32>,
    ) -> Self {
        SourceConfig {
            stream: stream.into(),
            single_stream: false,
            prefix: prefix.into(),
            partitions: partitions.into_iter().collect(),
            durable: "fanring".into(),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
            batch: 500,
            buffer: 4096,
            end_when_idle: None,
        }
    }

    /// One stream named `stream` holds every partition (subjects `<prefix>.*.*`); the
    /// consumer of partition `p` filters `<prefix>.<p>.*`. Fine while nothing crashes; but
    /// nats-server 2.9 delivers a filtered consumer that starts in the middle of a stream at a
    /// few hundred messages a second (measured: 160 in 8 s, against 5000 in 0.12 s from the
    /// start), and the rewind after a crash (see the module's documentation) is such a
    /// consumer. One stream per partition (the default) has no filter, and also lets a
    /// cluster place each partition's stream on a different server.
    #[must_use]
    pub fn single_stream(mut self) -> Self {
        self.single_stream = true;
        self
    }

    /// The stream that holds partition `p`, and the consumer's filter.
    fn placement(&self, p: u32) -> (String, String) {
        if self.single_stream {
            (self.stream.clone(), format!("{}.{p}.*", self.prefix))
        } else {
            (format!("{}-{p}", self.stream), String::new())
        }
    }

    /// The durable consumers' names are `<name>-<partition>` (default `fanring`). Every
    /// process that takes over a partition must use the same name.
    #[must_use]
    pub fn durable(mut self, name: impl Into<String>) -> Self {
        self.durable = name.into();
        self
    }

    /// How long the server waits for an acknowledgement before it delivers a message again to
    /// a live process (default 30 s). Longer than the slowest input's trip to the sink, or
    /// inputs are processed twice (their second output is de-duplicated).
    #[must_use]
    pub fn ack_wait(mut self, d: Duration) -> Self {
        self.ack_wait = d;
        self
    }

    /// At most `n` messages of one partition delivered and not yet acknowledged (default
    /// 10 000): the bound on what is in flight, and on what is replayed after a crash.
    #[must_use]
    pub fn max_ack_pending(mut self, n: i64) -> Self {
        self.max_ack_pending = n;
        self
    }

    /// Messages per pull request (default 500).
    #[must_use]
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// Messages buffered between the client's task and the engine (default 4096).
    #[must_use]
    pub fn buffer(mut self, n: usize) -> Self {
        self.buffer = n.max(1);
        self
    }

    /// Ends the source once no message arrived for `d` (for batch jobs and tests: the engine
    /// then drains and its output ends). By default a source never ends.
    #[must_use]
    pub fn end_when_idle(mut self, d: Duration) -> Self {
        self.end_when_idle = Some(d);
        self
    }
}

/// What the sink needs to acknowledge an input, and the input's identity for the output's
/// de-duplication id (`<stream>:<stream sequence>`). Carried through the engine inside
/// [`Message`] and then [`Outgoing`].
#[derive(Clone)]
pub struct AckToken {
    pub(crate) reply: Option<async_nats::Subject>,
    pub(crate) stream: Arc<str>,
    pub(crate) stream_sequence: u64,
}

impl AckToken {
    /// The id the sink puts in the output's `Nats-Msg-Id` header:
    /// `<input stream>:<input stream sequence>`.
    pub fn msg_id(&self) -> String {
        format!("{}:{}", self.stream, self.stream_sequence)
    }

    /// The input's sequence number in its stream.
    pub fn stream_sequence(&self) -> u64 {
        self.stream_sequence
    }
}

impl fmt::Debug for AckToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckToken")
            .field("stream", &self.stream)
            .field("stream_sequence", &self.stream_sequence)
            .finish()
    }
}

/// One input message: its subject (`<prefix>.<partition>.<key>`), payload, partition, and the
/// token that acknowledges it once its output is stored.
#[derive(Debug, Clone)]
pub struct Message {
    /// The full subject.
    pub subject: String,
    /// The payload.
    pub payload: Bytes,
    /// The partition it came from.
    pub partition: u32,
    /// How many times the server has delivered it (1 the first time).
    pub delivered: i64,
    /// Acknowledges it (through the sink).
    pub token: AckToken,
    key_start: usize,
}

impl Message {
    /// The key: the subject after `<prefix>.<partition>.`.
    pub fn key(&self) -> &str {
        &self.subject[self.key_start..]
    }

    /// [`key_hash`](super::key_hash) of the key, for `Dispatch::by_key(Message::key_hash)`.
    pub fn key_hash(&self) -> u64 {
        key_hash(self.key())
    }

    /// The output to publish for this input: `payload` to `subject`, then acknowledge this
    /// input.
    pub fn reply(self, subject: impl Into<String>, payload: impl Into<Bytes>) -> Outgoing {
        Outgoing::publish(self.token, subject, payload)
    }

    /// No output for this input; the sink only acknowledges it (in its turn).
    pub fn skip(self) -> Outgoing {
        Outgoing::skip(self.token)
    }
}

/// Consumes some partitions of a stream (see [`SourceConfig`]) and implements [`Source`]:
/// [`try_recv`](Source::try_recv) takes a message the client has already fetched,
/// [`recv`](Source::recv) waits for the next one. Every message must reach a
/// [`JetStreamSink`](super::JetStreamSink) as an [`Outgoing`], or it is delivered again.
///
/// Messages of one partition come in stream order; partitions interleave.
pub struct JetStreamSource {
    rx: mpsc::Receiver<Message>,
    task: tokio::task::JoinHandle<()>,
    error: Arc<Mutex<Option<Error>>>,
    // Keeps the runtime running while the source lives.
    _bridge: Arc<Bridge>,
}

impl JetStreamSource {
    /// The last error the client's task met while receiving (a missed heartbeat, a lost
    /// connection); the task goes on after those.
    pub fn error(&self) -> Option<Error> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

impl Source for JetStreamSource {
    type Item = Message;

    fn try_recv(&mut self) -> Result<Message, TryRecvError> {
        self.rx.try_recv().map_err(|e| match e {
            mpsc::error::TryRecvError::Empty => TryRecvError::Empty,
            mpsc::error::TryRecvError::Disconnected => TryRecvError::Closed,
        })
    }

    fn recv(&mut self) -> Option<Message> {
        self.rx.blocking_recv()
    }
}

impl Drop for JetStreamSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for JetStreamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamSource")
            .field("buffered", &self.rx.len())
            .finish_non_exhaustive()
    }
}

/// Opens (or rewinds, or reuses) the durable consumer of partition `p`.
async fn open_partition(
    js: &async_nats::jetstream::Context,
    c: &SourceConfig,
    p: u32,
) -> Result<pull::Stream, Error> {
    let (stream_name, filter_subject) = c.placement(p);
    let stream = js
        .get_stream(&stream_name)
        .await
        .map_err(|e| Error::new(&format!("opening stream {stream_name}"), e))?;
    let name = format!("{}-{p}", c.durable);
    let mut deliver = DeliverPolicy::All;
    let mut reuse = false;
    if let Ok(info) = stream.consumer_info(&name).await {
        if info.num_ack_pending == 0 {
            reuse = true;
        } else {
            // A previous process died with messages delivered and not acknowledged: replay
            // everything after the acknowledgement floor, in order, now.
            stream
                .delete_consumer(&name)
                .await
                .map_err(|e| Error::new(&format!("deleting consumer {name}"), e))?;
            deliver = DeliverPolicy::ByStartSequence {
                start_sequence: info.ack_floor.stream_sequence + 1,
            };
        }
    }
    let consumer = if reuse {
        stream
            .get_consumer::<pull::Config>(&name)
            .await
            .map_err(|e| Error::new(&format!("opening consumer {name}"), e))?
    } else {
        stream
            .create_consumer(pull::Config {
                durable_name: Some(name.clone()),
                filter_subject,
                ack_policy: AckPolicy::Explicit,
                ack_wait: c.ack_wait,
                max_ack_pending: c.max_ack_pending,
                deliver_policy: deliver,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::new(&format!("creating consumer {name}"), e))?
    };
    consumer
        .stream()
        .max_messages_per_batch(c.batch)
        .messages()
        .await
        .map_err(|e| Error::new(&format!("pulling from consumer {name}"), e))
}

/// Converts a client message; `None` for one that is not a JetStream delivery.
fn convert(
    m: async_nats::jetstream::Message,
    stream: &Arc<str>,
    prefix_len: usize,
) -> Option<Message> {
    let (seq, delivered) = {
        let info = m.info().ok()?;
        (info.stream_sequence, info.delivered)
    };
    let msg = m.message;
    let subject = msg.subject.to_string();
    // `<prefix>.<partition>.<key>`
    let rest = subject.get(prefix_len + 1..)?;
    let dot = rest.find('.')?;
    let partition = rest[..dot].parse().ok()?;
    let key_start = prefix_len + 1 + dot + 1;
    Some(Message {
        subject,
        payload: msg.payload,
        partition,
        delivered,
        token: AckToken {
            reply: msg.reply,
            stream: Arc::clone(stream),
            stream_sequence: seq,
        },
        key_start,
    })
}

pub(super) fn open(conn: &Connection, c: &SourceConfig) -> Result<JetStreamSource, Error> {
    let js = conn.js.clone();
    let cfg = c.clone();
    let pulls = conn.bridge.block_on(async move {
        let mut pulls = Vec::with_capacity(cfg.partitions.len());
        for &p in &cfg.partitions {
            let stream: Arc<str> = cfg.placement(p).0.into();
            let pull = open_partition(&js, &cfg, p).await?;
            // Each message with its stream's name (the de-duplication id's first half).
            pulls.push(pull.map(move |m| (m, Arc::clone(&stream))));
        }
        Ok::<_, Error>(pulls)
    })?;

    let (tx, rx) = mpsc::channel(c.buffer);
    let error = Arc::new(Mutex::new(None));
    let task_error = Arc::clone(&error);
    let prefix_len = c.prefix.len();
    let idle = c.end_when_idle;
    let task = conn.bridge.spawn(async move {
        let mut all = futures_util::stream::select_all(pulls);
        loop {
            let next = match idle {
                Some(d) => match tokio::time::timeout(d, all.next()).await {
                    Ok(next) => next,
                    Err(_) => break, // idle: end the source
                },
                None => all.next().await,
            };
            match next {
                None => break,
                Some((Ok(m), stream)) => {
                    if let Some(m) = convert(m, &stream, prefix_len) {
                        if tx.send(m).await.is_err() {
                            break; // the source was dropped
                        }
                    }
                }
                Some((Err(e), _)) => {
                    if let Ok(mut slot) = task_error.lock() {
                        *slot = Some(Error::new("receiving", e));
                    }
                }
            }
        }
    });
    Ok(JetStreamSource {
        rx,
        task,
        error,
        _bridge: Arc::clone(&conn.bridge),
    })
}
