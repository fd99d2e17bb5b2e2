//! The seed's functions over SPSC rings, composing as Go's do: `Split(ch, n) []<-chan` is
//! [`split`], a worker per channel is [`workers`], `Merge(cs ...) <-chan` is [`merge`].
//!
//! ```
//! use fanring::channel;
//! use fanring::fan::{merge, split, workers};
//!
//! # fn main() -> Result<(), fanring::BuildError> {
//! let (mut tx, rx) = channel::<u64>(1024)?;
//! std::thread::spawn(move || {
//!     for i in 0..1000 {
//!         tx.push(i).unwrap();
//!     }
//! }); // dropping `tx` closes the input: every stage drains, then the stream ends
//! let total: u64 = merge(workers(split(rx, 4)?, |x| x * 2)?).sum();
//! assert_eq!(total, 999 * 1000);
//! # Ok(()) }
//! ```
//!
//! Closing propagates from the source to the end, as in Go: the input ring closes, the split
//! thread closes every part once it is drained, each worker closes its output once its part
//! is drained, and the merged stream ends once every output is drained. Dropping the merged
//! stream closes every output, and the stages stop in turn (each worker sees its output
//! closed, the split thread sees a part closed and closes the input). A worker's panic ends
//! the merged stream early and is re-raised by its iterator on the consumer's thread, with the
//! worker's own payload ([`Merged::next_checked`] and [`Merged::join`] give a [`Failure`]
//! instead): a stream that ended because a stage failed never looks like one that ended.

use crate::cursor::LocalQueue;
use crate::engine::control::Control;
use crate::engine::dispatch::{Dispatch, Distributor, Runs};
use crate::engine::emit::OutBuf;
use crate::engine::feed::Fed;
use crate::engine::inlet::Inlet;
use crate::engine::merger::{AbortFlag, AnyMerge, Merger};
use crate::engine::stage::{spawn_stage, Stage};
use crate::engine::work::MapWork;
use crate::engine::worker::{Worker, WorkerAt, WorkerSpec};
use crate::error::try_buffer;
use crate::loom::sync::Arc;
use crate::loom::thread::JoinHandle;
use crate::ring::{channel_with, Consumer, Producer};
use crate::teardown::Teardown;
use crate::wait::{wait_until, OnClose};
use crate::{BuildError, Failure};
use std::panic::resume_unwind;

/// Items a split or worker thread moves at once (at most a ring's capacity).
const RUN: usize = 64;

/// Rings that carry one stream split into parts (`[]<-chan T` in the seed), with the stages
/// that feed them: what [`split`] and [`workers`] return, and what [`workers`] and [`merge`]
/// take. A `Vec` of your own rings is one too (`Parts::from(vec![rx0, rx1])`).
///
/// The stages' threads and failures travel with the parts, so that [`merge`] can report a
/// failure upstream and [`Merged::join`] can wait for every thread. Taking the rings out
/// ([`into_vec`](Self::into_vec), or iterating) hands both to a [`Stages`].
pub struct Parts<T> {
    rings: Vec<Consumer<T>>,
    stages: Stages,
}

impl<T> Parts<T> {
    /// How many parts.
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// The rings, and the stages that feed them (join those to wait for their threads and
    /// learn whether one failed).
    ///
    /// ```
    /// use fanring::fan::split;
    /// let (mut tx, rx) = fanring::channel::<u32>(16).unwrap();
    /// let (parts, stages) = split(rx, 2).unwrap().into_vec();
    /// tx.push(1).unwrap();
    /// drop(tx);
    /// let items: usize = parts.into_iter().map(|mut p| p.iter().count()).sum();
    /// assert_eq!(items, 1);
    /// stages.join().unwrap(); // the split thread has exited
    /// ```
    pub fn into_vec(self) -> (Vec<Consumer<T>>, Stages) {
        (self.rings, self.stages)
    }
}

/// Your own rings as parts, fed by no stage of this module.
impl<T> From<Vec<Consumer<T>>> for Parts<T> {
    fn from(rings: Vec<Consumer<T>>) -> Self {
        Parts {
            rings,
            stages: Stages::default(),
        }
    }
}

/// The rings one by one (as the seed's `[]<-chan`); the stages' threads are detached: they end
/// by themselves once their input ends or their parts are dropped.
impl<T> IntoIterator for Parts<T> {
    type Item = Consumer<T>;
    type IntoIter = std::vec::IntoIter<Consumer<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.rings.into_iter()
    }
}

impl<T> std::fmt::Debug for Parts<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("parts", &self.rings.len())
            .field("threads", &self.stages.threads.len())
            .finish()
    }
}

/// The threads of the stages upstream of some [`Parts`] (a split thread, workers), and what
/// each stage records when it fails. Dropping it detaches the threads (it never waits: they
/// may be waiting on a producer of yours); [`join`](Self::join) waits.
#[derive(Default)]
#[must_use = "dropping it detaches the stages' threads; `join` to wait for them"]
pub struct Stages {
    /// Each stage's failure record, upstream first.
    records: Vec<Arc<Control>>,
    threads: Vec<JoinHandle<()>>,
}

impl Stages {
    /// Waits for every thread to exit: after its input ended and its items were handed on
    /// (so the parts must be read, or dropped, for this to return), or after its output was
    /// dropped. Every item a thread held has been dropped when it returns.
    ///
    /// # Errors
    /// The first failure of the most upstream stage that failed: a worker's panic
    /// ([`Failure::WorkerPanicked`]), or an item's `Drop` that panicked on the split thread
    /// ([`Failure::SourcePanicked`]).
    pub fn join(mut self) -> Result<(), Failure> {
        for t in std::mem::take(&mut self.threads) {
            // Each thread catches the user's panics itself.
            let _ = t.join();
        }
        self.failure().map_or(Ok(()), Err)
    }

    fn failure(&self) -> Option<Failure> {
        self.records.iter().find_map(|c| c.failure())
    }

    /// Re-raises the failure on this thread, once (see [`Control::take_raise`]).
    fn raise(&self) {
        if let Some(p) = self.records.iter().find_map(|c| c.take_raise()) {
            resume_unwind(p);
        }
    }

    fn extend(&mut self, other: Stages) {
        let Stages {
            mut records,
            mut threads,
        } = other;
        self.records.append(&mut records);
        self.threads.append(&mut threads);
    }
}

impl std::fmt::Debug for Stages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stages")
            .field("threads", &self.threads.len())
            .field("failure", &self.failure())
            .finish()
    }
}

/// The merged stream ends early as soon as a stage upstream failed.
impl AbortFlag for Stages {
    fn aborted(&self) -> bool {
        self.records.iter().any(|c| c.aborted())
    }
    fn report(&self, e: Failure) {
        if let Some(c) = self.records.first() {
            c.fail(e);
        }
    }
}

/// Splits `input` round-robin over `n` new rings (of `input`'s capacity and wait strategy),
/// fed by a thread: item `i` goes to part `i % n`. When `input` is closed and drained, every
/// part is closed. If a part is closed (its consumer dropped), the thread stops and closes
/// `input` too, so the producer upstream sees `Closed`; items in flight are dropped exactly
/// once.
///
/// ```
/// use fanring::fan::{merge, split};
/// let (mut tx, rx) = fanring::channel::<u32>(64).unwrap();
/// let parts = split(rx, 3).unwrap();
/// std::thread::spawn(move || (0..300).for_each(|i| tx.push(i).unwrap()));
/// // each part could go to a worker (`workers`); here they are merged straight back
/// let mut merged = merge(parts);
/// let mut all: Vec<u32> = merged.by_ref().collect();
/// all.sort();
/// assert_eq!(all, (0..300).collect::<Vec<_>>());
/// merged.join().unwrap(); // the split thread has exited; nothing is left in flight
/// ```
///
/// # Errors
/// [`BuildError::ZeroSetting`] for `n == 0`; [`BuildError::TooLarge`] for `n` over
/// [`Engine::MAX_WORKERS`](crate::Engine::MAX_WORKERS) (checked before anything is
/// allocated); [`BuildError::Alloc`] if a ring's memory is refused; [`BuildError::Spawn`] if
/// the thread is refused.
pub fn split<T: Send + 'static>(input: Consumer<T>, n: usize) -> Result<Parts<T>, BuildError> {
    if n == 0 {
        return Err(BuildError::ZeroSetting("parts"));
    }
    if n > crate::Engine::MAX_WORKERS {
        return Err(BuildError::TooLarge {
            setting: "parts",
            value: n,
            max: crate::Engine::MAX_WORKERS,
        });
    }
    let (capacity, wait) = (input.capacity(), input.wait_strategy());
    let mut producers = Vec::with_capacity(n);
    let mut consumers = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = channel_with(capacity, wait)?;
        producers.push(tx);
        consumers.push(rx);
    }
    let batch = RUN.min(capacity);
    // Item by item, as the seed's `Split`; published every `batch` items per ring.
    let dist: Distributor<T, T> = Distributor::new(
        producers,
        Dispatch::RoundRobin,
        None,
        Runs {
            turn: 1,
            flush_every: batch * n,
            // The seed's strict rotation: item `i` to part `i % n`, waiting for a full one.
            fixed_length: true,
        },
        wait,
    );
    // The feeder's run buffer, reserved here (a refusal is an error, not an abort there).
    let buf = try_buffer::<T>(batch, "split's buffer")?;
    let record = Arc::new(Control::new(0));
    let stage = Splitting {
        input: Some(input),
        dist,
        buf,
        wait,
    };
    let thread = spawn_stage("fanring-split".into(), None, Arc::clone(&record), stage)?;
    Ok(Parts {
        rings: consumers,
        stages: Stages {
            records: vec![record],
            threads: vec![thread],
        },
    })
}

/// The split thread, in the engine's thread shell (`engine::stage`): a panicking item `Drop`
/// (an item dropped after a stop) is the stage's failure, recorded as `SourcePanicked`.
struct Splitting<T> {
    /// `None` once dropped.
    input: Option<Consumer<T>>,
    dist: Distributor<T, T>,
    /// Items taken from the input and not handed on (a part closed) are dropped with it.
    buf: Vec<T>,
    wait: crate::WaitStrategy,
}

impl<T: Send + 'static> Stage for Splitting<T> {
    fn run(&mut self, _control: &Control) {
        if let Some(input) = &mut self.input {
            split_loop(input, &mut self.dist, &mut self.buf, self.wait);
        }
    }

    fn failure(&self, message: String) -> Failure {
        Failure::SourcePanicked { message }
    }

    fn close(&mut self, _control: &Control) {
        self.dist.stop();
        if let Some(input) = &mut self.input {
            input.close();
        }
    }

    fn drop_parts(&mut self, td: &mut Teardown) {
        let (buf, input) = (std::mem::take(&mut self.buf), self.input.take());
        td.step(|| drop(buf));
        self.dist.drop_rings(td);
        td.step(|| drop(input));
    }
}

/// The split thread's loop (the engine's feeder, `Distributor::feed`): returns when `input`
/// ended (every part is then closed) or a part was closed (the distributor is stopped).
fn split_loop<T: Send + 'static>(
    input: &mut Consumer<T>,
    dist: &mut Distributor<T, T>,
    buf: &mut Vec<T>,
    wait: crate::WaitStrategy,
) {
    loop {
        match dist.feed(input, buf, None, &mut || false) {
            Fed::Ended => {
                dist.close();
                return;
            }
            Fed::Stopped => return, // the caller closes `input`
            Fed::Full => dist.wait_room(),
            Fed::Dry => {
                // Everything is published; wait for input or for a part to close.
                let (inp, outs) = (&*input, dist.rings());
                wait_until(wait, &(inp, &OnClose(outs)), None, || {
                    (inp.ready_hint() || outs.iter().any(Producer::is_closed)).then_some(())
                });
                if dist.rings().iter().any(Producer::is_closed) {
                    dist.stop();
                    return;
                }
            }
        }
    }
}

/// Runs `f` on every item of every part, one worker thread per part, each writing its own
/// output ring (of its part's capacity and wait strategy): the seed's workers between `Split`
/// and `Merge`. Each worker moves its items a run at a time and publishes its outputs before
/// it waits; it closes its output once its part is closed and drained, and stops (closing its
/// part) once its output is dropped.
///
/// A panic in `f` is caught on the worker's thread: the worker closes both its rings, the
/// failure is recorded with the panic's payload, and [`merge`]'s stream ends early and
/// re-raises it on the consumer's thread.
///
/// ```
/// use fanring::fan::{merge, workers};
/// let (mut a, ra) = fanring::channel::<u32>(8).unwrap();
/// let (mut b, rb) = fanring::channel::<u32>(8).unwrap();
/// a.push(1).unwrap();
/// b.push(2).unwrap();
/// drop((a, b));
/// let mut out: Vec<u32> = merge(workers(vec![ra, rb], |x| x * 10).unwrap()).collect();
/// out.sort();
/// assert_eq!(out, [10, 20]);
/// ```
///
/// # Errors
/// [`BuildError::Spawn`] if a thread is refused, [`BuildError::Capacity`] or
/// [`BuildError::Alloc`] if a ring or a buffer is; the workers already started are stopped and
/// joined first, and the parts are closed (the stages upstream stop).
pub fn workers<T, U, F>(parts: impl Into<Parts<T>>, f: F) -> Result<Parts<U>, BuildError>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(T) -> U + Send + Sync + 'static,
{
    let Parts { rings, mut stages } = parts.into();
    let record = Arc::new(Control::new(rings.len()));
    let f = std::sync::Arc::new(f);
    let mut outs = Vec::with_capacity(rings.len());
    let mut threads = Vec::with_capacity(rings.len());
    for (i, input) in rings.into_iter().enumerate() {
        let spawned = spawn_worker(i, input, &f, &record).map(|(rx, t)| {
            outs.push(rx);
            threads.push(t);
        });
        if let Err(e) = spawned {
            // The rings built so far close as they are dropped: the workers end; join them.
            drop(outs);
            for t in threads {
                let _ = t.join();
            }
            return Err(e);
        }
    }
    stages.extend(Stages {
        records: vec![record],
        threads,
    });
    Ok(Parts {
        rings: outs,
        stages,
    })
}

/// One worker of [`workers`]: the engine's worker loop over `input` into a new output ring.
fn spawn_worker<T, U, F>(
    i: usize,
    input: Consumer<T>,
    f: &std::sync::Arc<F>,
    record: &Arc<Control>,
) -> Result<(Consumer<U>, JoinHandle<()>), BuildError>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(T) -> U + Send + Sync + 'static,
{
    let (capacity, wait) = (input.capacity(), input.wait_strategy());
    let batch = RUN.min(capacity);
    let (tx, rx) = channel_with::<U>(capacity, wait)?;
    let inbuf = try_buffer::<T>(batch, "worker's input buffer")?;
    let out = OutBuf::plain(tx, batch)?;
    let f = std::sync::Arc::clone(f);
    let spec = WorkerSpec {
        factory: std::sync::Arc::new(move |_| MapWork(std::sync::Arc::clone(&f))),
        batch,
        one_to_one: true,
        // `split` keeps a fixed rotation of `batch` items per turn.
        floor: batch.saturating_mul(2),
    };
    let worker =
        Worker::<T, U, T, _, _>::new(WorkerAt::farm(i), Inlet::one(input), inbuf, out, spec);
    let t = spawn_stage(
        format!("fanring-fan-worker-{i}"),
        None,
        Arc::clone(record),
        worker,
    )?;
    Ok((rx, t))
}

/// Merges `parts` into one stream, read on the caller's thread (no thread is spawned): each
/// part's items keep their order, parts interleave in runs, and the stream ends when every
/// part is closed and drained. Waits on all parts at once by their wait strategy.
///
/// ```
/// use fanring::fan::merge;
/// let (mut a, ra) = fanring::channel::<u8>(4).unwrap();
/// let (mut b, rb) = fanring::channel::<u8>(4).unwrap();
/// a.try_push(1).unwrap();
/// b.try_push(2).unwrap();
/// drop((a, b));
/// let mut got: Vec<u8> = merge(vec![ra, rb]).collect();
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// ```
pub fn merge<T>(parts: impl Into<Parts<T>>) -> Merged<T> {
    let Parts { rings, stages } = parts.into();
    let batch = rings
        .iter()
        .map(Consumer::capacity)
        .min()
        .unwrap_or(1)
        .min(RUN);
    Merged {
        inner: Merger::Any(AnyMerge::new(rings)),
        local: LocalQueue::with_capacity(batch),
        stages,
        #[cfg(feature = "async")]
        announced: false,
    }
}

/// The stream returned by [`merge`]: an iterator (and, with the `async` feature, a `Stream`).
///
/// If a stage upstream failed (a worker's function panicked), the stream ends early, and the
/// iterator re-raises the worker's panic on the caller's thread once the items it already
/// holds are out; [`next_checked`](Self::next_checked), [`error`](Self::error) and
/// [`join`](Self::join) report it as a [`Failure`] instead. Dropping the stream closes every
/// part (the stages upstream stop) and detaches their threads without waiting for them;
/// [`join`](Self::join) waits.
pub struct Merged<T> {
    inner: Merger<T>,
    /// A run moved out of one part with one copy, handed out by `next`.
    local: LocalQueue<T>,
    stages: Stages,
    /// A pending `poll_next` left the task's waker announced on the parts.
    #[cfg(feature = "async")]
    announced: bool,
}

impl<T> Merged<T> {
    /// The next item, `Ok(None)` at the end of the stream, or the failure that ended it
    /// (never re-raised as a panic).
    ///
    /// # Errors
    /// The first failure of a stage upstream.
    pub fn next_checked(&mut self) -> Result<Option<T>, Failure> {
        match self.inner.next_via(&mut self.local, &self.stages) {
            Some(t) => Ok(Some(t)),
            None => self
                .stages
                .records
                .iter()
                .find_map(|c| c.report_failure())
                .map_or(Ok(None), Err),
        }
    }

    /// The failure that ended the stream early, if any (known once it has ended).
    pub fn error(&self) -> Option<Failure> {
        self.stages.failure()
    }

    /// Ends the stream if it has not ended (every part closed: the stages upstream stop, and
    /// the items in flight are dropped), then waits for every thread upstream.
    ///
    /// # Errors
    /// The first failure of the most upstream stage that failed.
    pub fn join(mut self) -> Result<(), Failure> {
        self.teardown();
        std::mem::take(&mut self.stages).join()
    }

    /// Closes every part, then drops what the stream holds, each container in a step of its
    /// own; a panicking item `Drop` is re-raised after all of them. Idempotent.
    fn teardown(&mut self) {
        let mut td = Teardown::new();
        self.inner.close();
        td.step(|| self.local.clear());
        self.inner.drop_items(&mut td);
        td.finish();
    }
}

impl<T> Iterator for Merged<T> {
    type Item = T;

    /// The next item; `None` at the end. If a stage upstream failed, re-raises its panic once
    /// the items already taken are out (see [`Merged`]).
    #[inline]
    fn next(&mut self) -> Option<T> {
        let item = self.inner.next_via(&mut self.local, &self.stages);
        if item.is_none() {
            self.stages.raise();
        }
        item
    }
}

// Nothing in a `Merged` is pinned: its items sit in heap buffers and are only moved out, so it
// can be polled as a `Stream` through `&mut` whatever `T` is.
impl<T> Unpin for Merged<T> {}

/// The merged items as a `Stream` (`async` feature): a pending poll registers the task's waker
/// on every open part (announce, full barrier, re-check) and the next publish or close on any
/// of them wakes it. Ends when every part has closed and been drained; a failure upstream is
/// re-raised as the iterator does.
#[cfg(feature = "async")]
impl<T> futures_core::Stream for Merged<T> {
    type Item = T;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        use crate::engine::merger::Step;
        let this = self.get_mut();
        this.inner
            .poll_task(&mut this.local, &this.stages, &mut this.announced, cx)
            .map(|s| match s {
                Step::Item(t) => Some(t),
                Step::Empty | Step::End => {
                    this.stages.raise();
                    None
                }
            })
    }
}

#[cfg(feature = "async")]
impl<T> Merged<T> {
    /// The next item without blocking the thread (the `Stream`'s `poll_next`, awaited: `Merged`
    /// is also an `Iterator`, so `StreamExt::next` needs its trait named). `None` once every
    /// part has closed and been drained; dropping the future early takes nothing.
    pub async fn next_async(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut *self), cx)
        })
        .await
    }
}

impl<T> Drop for Merged<T> {
    /// Closes every part first (a stage waiting for room sees it), then drops what is held,
    /// each container in a step of its own; a panicking item `Drop` is re-raised after all of
    /// them. The stages' threads are detached, not waited for.
    fn drop(&mut self) {
        self.teardown();
    }
}

impl<T> std::fmt::Debug for Merged<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merged")
            .field("stages", &self.stages)
            .finish()
    }
}
