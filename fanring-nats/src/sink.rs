//! The JetStream sink: publishes outputs in the order it is given them, waits for JetStream
//! to store each one, and only then acknowledges the input it was made from.

use std::fmt;
use std::sync::Arc;

use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use bytes::Bytes;
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{AckToken, Bridge, Connection, Error};

/// How a [`JetStreamSink`] publishes.
#[derive(Debug, Clone, Copy)]
pub struct SinkConfig {
    max_in_flight: usize,
    buffer: usize,
}

impl Default for SinkConfig {
    /// At most 1024 publishes awaiting JetStream's acknowledgement; a buffer of 4096 outputs
    /// between the engine and the client.
    fn default() -> Self {
        SinkConfig {
            max_in_flight: 1024,
            buffer: 4096,
        }
    }
}

impl SinkConfig {
    /// At most `n` publishes awaiting JetStream's acknowledgement at once.
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Outputs buffered between the caller and the client's task.
    #[must_use]
    pub fn buffer(mut self, n: usize) -> Self {
        self.buffer = n.max(1);
        self
    }
}

/// What the sink does for one input: publish an output (with the input's id in
/// `Nats-Msg-Id`), then acknowledge the input; or only acknowledge it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    publish: Option<(String, Bytes)>,
    token: AckToken,
}

impl Outgoing {
    /// Publish `payload` to `subject`, then acknowledge the input `token` belongs to.
    pub fn publish(token: AckToken, subject: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Outgoing {
            publish: Some((subject.into(), payload.into())),
            token,
        }
    }

    /// Only acknowledge the input `token` belongs to (it has no output).
    pub fn skip(token: AckToken) -> Self {
        Outgoing {
            publish: None,
            token,
        }
    }

    /// The input's token.
    pub fn token(&self) -> &AckToken {
        &self.token
    }
}

/// What a sink did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Outputs JetStream stored (or reported as duplicates).
    pub published: u64,
    /// Of those, the ones JetStream reported as duplicates of an id it had already stored
    /// (redelivered inputs).
    pub duplicates: u64,
    /// Inputs acknowledged with no output ([`Outgoing::skip`]).
    pub skipped: u64,
    /// Inputs acknowledged.
    pub acked: u64,
}

/// Publishes [`Outgoing`] items in the order given, and acknowledges each input once JetStream
/// has acknowledged its output. Publishes are pipelined (up to `max_in_flight`); their
/// acknowledgements are awaited in order.
///
/// On the first failed publish the sink stops for good (see the module's documentation):
/// [`send_blocking`](Self::send_blocking) returns an error, and [`finish`](Self::finish) returns the cause.
pub struct JetStreamSink {
    tx: Option<mpsc::Sender<Outgoing>>,
    task: Option<tokio::task::JoinHandle<Result<SinkStats, Error>>>,
    bridge: Arc<Bridge>,
}

impl JetStreamSink {
    /// Hands `out` to the client's task; waits while its buffer is full. Call it from a
    /// plain thread (the engine's caller), not from inside an async runtime.
    ///
    /// # Errors
    /// The sink has failed; [`finish`](Self::finish) tells why.
    pub fn send_blocking(&mut self, out: Outgoing) -> Result<(), Error> {
        let failed = || Error("the sink has failed; `finish` returns the cause".into());
        match &self.tx {
            Some(tx) => tx.blocking_send(out).map_err(|_| failed()),
            None => Err(failed()),
        }
    }

    /// Publishes what is buffered, waits for every acknowledgement, acknowledges the inputs,
    /// flushes the connection, and returns the counts.
    ///
    /// # Errors
    /// The first failed publish or acknowledgement.
    pub fn finish(mut self) -> Result<SinkStats, Error> {
        self.tx = None;
        let Some(task) = self.task.take() else {
            return Err(Error("the sink's task is gone".into()));
        };
        self.bridge
            .block_on(task)
            .map_err(|e| Error::new("sink task", e))?
    }
}

impl Drop for JetStreamSink {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for JetStreamSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamSink").finish_non_exhaustive()
    }
}

const ACK: Bytes = Bytes::from_static(b"+ACK");

pub(super) fn open(conn: &Connection, c: SinkConfig) -> JetStreamSink {
    let (tx, rx) = mpsc::channel(c.buffer);
    let task = conn.bridge.spawn(run(
        conn.client.clone(),
        conn.js.clone(),
        rx,
        c.max_in_flight,
    ));
    JetStreamSink {
        tx: Some(tx),
        task: Some(task),
        bridge: Arc::clone(&conn.bridge),
    }
}

async fn run(
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    mut rx: mpsc::Receiver<Outgoing>,
    max_in_flight: usize,
) -> Result<SinkStats, Error> {
    let mut stats = SinkStats::default();
    let mut in_flight = FuturesOrdered::new();
    let mut open = true;
    let mut batch = Vec::new();
    loop {
        // Take what is ready (up to the in-flight bound), then wait for whichever comes first.
        let room = max_in_flight - in_flight.len();
        tokio::select! {
            biased;
            Some((done, token)) = in_flight.next(), if !in_flight.is_empty() => {
                let done: Result<Option<async_nats::jetstream::publish::PublishAck>, _> = done;
                match done {
                    Ok(Some(ack)) => {
                        stats.published += 1;
                        stats.duplicates += u64::from(ack.duplicate);
                    }
                    Ok(None) => stats.skipped += 1,
                    Err(e) => return Err(Error::new("publish not acknowledged", e)),
                }
                acknowledge(&client, token, &mut stats).await?;
            }
            n = rx.recv_many(&mut batch, room), if open && room > 0 =>
            {
                if n == 0 {
                    open = false;
                }
                for out in batch.drain(..) {
                    let Outgoing { publish, token } = out;
                    let pending = match publish {
                        Some((subject, payload)) => {
                            let mut headers = HeaderMap::new();
                            headers.insert(NATS_MESSAGE_ID, token.msg_id().as_str());
                            Some(
                                js.publish_with_headers(subject, headers, payload)
                                    .await
                                    .map_err(|e| Error::new("publishing", e))?,
                            )
                        }
                        None => None,
                    };
                    in_flight.push_back(async move {
                        let done = match pending {
                            Some(f) => f.await.map(Some),
                            None => Ok(None),
                        };
                        (done, token)
                    });
                }
            }
            else => break,
        }
    }
    client
        .flush()
        .await
        .map_err(|e| Error::new("flushing acknowledgements", e))?;
    Ok(stats)
}

async fn acknowledge(
    client: &async_nats::Client,
    token: AckToken,
    stats: &mut SinkStats,
) -> Result<(), Error> {
    if let Some(reply) = token.reply {
        client
            .publish(reply, ACK)
            .await
            .map_err(|e| Error::new("acknowledging", e))?;
    }
    stats.acked += 1;
    Ok(())
}
