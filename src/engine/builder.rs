//! The user's entry: [`Engine::builder`], its settings, the work methods, and the
//! [`Pipeline`]'s launch modes (`start`, `run`, `run_source`, `drive`, `drive_source`,
//! `run_with_sink`).

use super::config::{self, Mode, Settings};
use super::dispatch::Dispatch;
use super::emit::Emit;
use super::handles::{Driven, Input, Output, OutputState, Running};
use super::launch::{launch, Launched};
use super::merger::Order;
use super::sink_thread::Sinking;
use super::source_thread::spawn_source;
use super::stage::spawn_stage;
use super::work::{FilterMapWork, FlatMapWork, MapWork, NoEnd, OnEnd, StatefulWork, Work};
use crate::loom::sync::Arc;
use crate::pinning::Pinning;
use crate::source::{self, Source};
use crate::{BuildError, WaitStrategy};
use std::fmt;
use std::marker::PhantomData;

/// Entry point: `Engine::builder()`.
///
/// ```
/// use fanring::{Engine, Order};
/// let out = Engine::builder()
///     .workers(2)
///     .order(Order::Preserve)
///     .map(|x: u64| x * x)
///     .run(0..1000u64)
///     .unwrap();
/// let squares: Vec<u64> = out.collect();
/// assert_eq!(squares[999], 999 * 999);
/// ```
#[derive(Debug)]
pub struct Engine;

impl Engine {
    /// The most workers an engine may have. Checked before anything is allocated or spawned
    /// (`BuildError::TooLarge`): each worker is a thread with two rings and a stack, and the
    /// threads are spawned one by one.
    pub const MAX_WORKERS: usize = config::MAX_WORKERS;

    /// A builder with the defaults: 2 workers, capacity 1024, batch 256,
    /// [`WaitStrategy::ADAPTIVE`](crate::WaitStrategy::ADAPTIVE), `Pinning::Auto`,
    /// round-robin, `Order::Any`.
    pub fn builder<T>() -> Builder<T> {
        Builder {
            s: Settings {
                workers: 2,
                capacity: 1024,
                batch: 256,
                wait: WaitStrategy::default(),
                pinning: Pinning::Auto,
                dispatch: Dispatch::RoundRobin,
                order: Order::Any,
                window: None,
                allow_spin: false,
            },
        }
    }
}

/// Settings of an engine whose input items are `T`. Finish with a work method (`map`,
/// `filter_map`, `flat_map`, `stateful`).
#[must_use = "a builder does nothing until a work method and `start`/`run` are called"]
pub struct Builder<T> {
    pub(super) s: Settings<T>,
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.s.workers)
            .field("capacity", &self.s.capacity)
            .field("batch", &self.s.batch)
            .field("wait", &self.s.wait)
            .field("pinning", &self.s.pinning)
            .field("dispatch", &self.s.dispatch)
            .field("order", &self.s.order)
            .field("window", &self.s.window)
            .finish()
    }
}

impl<T: Send + 'static> Builder<T> {
    /// Number of worker threads: at least 1 ([`BuildError::ZeroSetting`]) and at most
    /// [`MAX_WORKERS`](Engine::MAX_WORKERS) ([`BuildError::TooLarge`]), checked before anything is spawned.
    pub fn workers(mut self, n: usize) -> Self {
        self.s.workers = n;
        self
    }
    /// Slots in each ring (rounded up to a power of two). Every worker has an input and an
    /// output ring of this size. At least 1 and at most [`MAX_CAPACITY`](crate::ring::MAX_CAPACITY)
    /// ([`BuildError::Capacity`]); all `2 × workers` rings together must fit in `isize::MAX`
    /// bytes ([`BuildError::TooLarge`] `"capacity × workers"`, checked with overflow-safe
    /// arithmetic before anything is allocated); each ring is then reserved fallibly
    /// ([`BuildError::Capacity`] if the allocator refuses it). Reserved, not written: a ring
    /// costs resident memory only as far as items have reached into it.
    pub fn capacity(mut self, n: usize) -> Self {
        self.s.capacity = n;
        self
    }
    /// Items a stage moves at once (with one copy) and publishes together, and the length of
    /// a round-robin run (consecutive items per worker). Partial batches are always published
    /// before a stage waits. At least 1 ([`BuildError::ZeroSetting`]); capped at `capacity`,
    /// so each stage's local buffer of `batch` items is never larger than a ring (the worker
    /// buffers and the merged stream's are reserved fallibly: [`BuildError::Alloc`]).
    pub fn batch(mut self, n: usize) -> Self {
        self.s.batch = n;
        self
    }
    /// How every stage waits.
    pub fn wait(mut self, w: WaitStrategy) -> Self {
        self.s.wait = w;
        self
    }
    /// Core pinning of the engine's threads. In a [`Graph`](crate::Graph), the first stage's
    /// places every thread of the graph; a later stage's other than the default
    /// [`Pinning::Auto`] and the first stage's is [`BuildError::PinningOnLaterStage`].
    pub fn pinning(mut self, p: Pinning) -> Self {
        self.s.pinning = p;
        self
    }
    /// Which worker gets each item.
    pub fn dispatch(mut self, d: Dispatch<T>) -> Self {
        self.s.dispatch = d;
        self
    }
    /// Order of the merged stream.
    pub fn order(mut self, o: Order) -> Self {
        self.s.order = o;
        self
    }
    /// Inputs the reorder window may hold (tagged `Preserve` only); default
    /// `2 × capacity × workers` (clamped to the largest window possible). At least 1
    /// ([`BuildError::ZeroSetting`]); a window whose slot array (the power of two at or
    /// above `n`, times a slot: an `Option` of the output, a `VecDeque` header and a flag,
    /// 56 bytes for `u64`) could not fit in `isize::MAX` bytes is [`BuildError::TooLarge`].
    ///
    /// Its memory grows with use: it starts at 64 slots and doubles (fallibly) when an output
    /// arrives further ahead of the oldest input not yet emitted, up to `n`. A refused growth
    /// ends the stream early with [`BuildError::Alloc`].
    ///
    /// The window bounds *inputs* in flight, not outputs: with `flat_map` (or `stateful`), an
    /// input waiting in the window keeps all its outputs there, so the memory it can hold is
    /// `window` inputs times the most outputs one input makes. An unbounded burst per input is
    /// bounded only by memory; use `Order::Any`, or bound the outputs per input.
    pub fn window(mut self, n: usize) -> Self {
        self.s.window = Some(n);
        self
    }
    /// Lets `BusySpin` run with more threads than cores (refused by default).
    pub fn allow_oversubscribed_spin(mut self, yes: bool) -> Self {
        self.s.allow_spin = yes;
        self
    }

    /// Each item becomes `f(item)`.
    ///
    /// `f` runs on the workers' threads, and, while the input is quiet, on the distributor
    /// thread of `run`, `run_source` and `run_with_sink` (with round-robin or least-loaded
    /// dispatch, and not with `Order::Preserve` by rotation): a short run (the source had no
    /// more ready; with `batch(1)` every run is full, so none is) that finds its worker parked
    /// is processed there instead of waking it (one hop instead of two; counted in
    /// [`DistributorStats::inline`](crate::stats::DistributorStats::inline)). Only a few
    /// microseconds of work at a time: a run whose work would take longer at the cost the
    /// last one showed goes to the worker, one that takes longer stops there and hands the
    /// rest on, one with more outputs than the distributor's ring to the merger has room for
    /// goes to the worker, and quiet runs pause while they keep the distributor busy. So `f` must not
    /// count on a thread of its own (thread-local state, a core of its own): use
    /// [`stateful`](Self::stateful) for that, which always runs on its worker. A panic there is
    /// reported as `Failure::WorkerPanicked` of the worker the run was for. The same holds
    /// for `filter_map`. (Not for `flat_map`: a quiet run is taken only when the distributor's
    /// ring to the merger has room for all its outputs, so that it never waits there.)
    pub fn map<U, F>(self, f: F) -> Pipeline<T, U, impl Fn(usize) -> MapWork<F> + Send + Sync>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
        U: Send + 'static,
    {
        let f = std::sync::Arc::new(f);
        self.with_factory(true, move |_| MapWork(std::sync::Arc::clone(&f)))
    }

    /// Each item becomes zero or one output.
    pub fn filter_map<U, F>(
        self,
        f: F,
    ) -> Pipeline<T, U, impl Fn(usize) -> FilterMapWork<F> + Send + Sync>
    where
        F: Fn(T) -> Option<U> + Send + Sync + 'static,
        U: Send + 'static,
    {
        let f = std::sync::Arc::new(f);
        self.with_factory(false, move |_| FilterMapWork(std::sync::Arc::clone(&f)))
    }

    /// Each item becomes any number of outputs.
    pub fn flat_map<U, I, F>(
        self,
        f: F,
    ) -> Pipeline<T, U, impl Fn(usize) -> FlatMapWork<F> + Send + Sync>
    where
        F: Fn(T) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = U>,
        U: Send + 'static,
    {
        let f = std::sync::Arc::new(f);
        self.with_factory(false, move |_| FlatMapWork(std::sync::Arc::clone(&f)))
    }

    /// A worker with state: `init(worker_index)` runs on each worker's own (pinned) thread, so
    /// the state's memory is local to it; `f(&mut state, item, &mut emit)` sends any number of
    /// outputs with `emit.push`.
    ///
    /// ```
    /// use fanring::Engine;
    /// // each worker counts the items it saw and tags outputs with it
    /// let out = Engine::builder()
    ///     .workers(2)
    ///     .stateful(|_worker| 0u64, |seen, x: u32, emit| {
    ///         *seen += 1;
    ///         emit.push((x, *seen));
    ///     })
    ///     .run(0..10u32)
    ///     .unwrap();
    /// assert_eq!(out.count(), 10);
    /// ```
    pub fn stateful<U, S, I, F>(
        self,
        init: I,
        f: F,
    ) -> Pipeline<T, U, impl Fn(usize) -> StatefulWork<S, F> + Send + Sync>
    where
        I: Fn(usize) -> S + Send + Sync + 'static,
        F: Fn(&mut S, T, &mut Emit<'_, U>) + Send + Sync + 'static,
        U: Send + 'static,
    {
        let f = std::sync::Arc::new(f);
        self.with_factory(false, move |w| {
            StatefulWork(init(w), std::sync::Arc::clone(&f), NoEnd)
        })
    }

    fn with_factory<U, F>(self, one_to_one: bool, factory: F) -> Pipeline<T, U, F> {
        Pipeline {
            builder: self,
            factory,
            one_to_one,
            _u: PhantomData,
        }
    }
}

/// A configured engine with its work; start it with [`start`](Self::start),
/// [`run`](Self::run) or [`run_with_sink`](Self::run_with_sink).
#[must_use = "a pipeline does nothing until `start`, `run` or `run_with_sink` is called"]
pub struct Pipeline<T, U, F> {
    pub(crate) builder: Builder<T>,
    pub(crate) factory: F,
    pub(crate) one_to_one: bool,
    pub(crate) _u: PhantomData<fn() -> U>,
}

impl<T, U, F> fmt::Debug for Pipeline<T, U, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("builder", &self.builder)
            .finish()
    }
}

impl<T, U, S, G, F> Pipeline<T, U, F>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(usize) -> StatefulWork<S, G> + Send + Sync + 'static,
{
    /// A `stateful` worker's last word: once the input has ended normally (the source ended,
    /// or the [`Input`] was dropped) and **every** worker has processed every input item it
    /// was given, each worker calls `end(&mut state, &mut emit)` on its own thread and may
    /// emit final outputs, such as a per-key aggregate. They come after every output of that
    /// worker; with `Order::Preserve`, after every output of the whole stream (workers' tails
    /// in the order they arrive). A worker that finishes its input first waits for the others
    /// before its hook.
    ///
    /// No hook runs when the engine failed (a stage panicked) or was stopped by a handle (the
    /// merged stream dropped or joined) before every worker had finished its input: every
    /// state is then dropped unseen. A hook already running when a later failure comes (a
    /// panic in another worker's hook) or the stream is dropped finishes. A panic in the hook
    /// fails the engine with [`Failure::EndPanicked`](crate::Failure::EndPanicked): outputs it
    /// emitted before the panic may or may not reach the stream, which then ends with the
    /// failure (re-raised by the iterator, as every stage failure is).
    ///
    /// ```
    /// use fanring::{Dispatch, Engine};
    /// use std::collections::HashMap;
    /// // Count words per key: each key lives on one worker, which emits its totals at the end.
    /// let words = ["a", "b", "a", "c", "a", "b"].map(String::from);
    /// let mut totals: Vec<(String, u32)> = Engine::builder()
    ///     .workers(2)
    ///     .dispatch(Dispatch::by_key(|w: &String| w.len() as u64 + u64::from(w.as_bytes()[0])))
    ///     .stateful(|_| HashMap::<String, u32>::new(), |counts, w: String, _emit| {
    ///         *counts.entry(w).or_default() += 1;
    ///     })
    ///     .on_end(|counts, emit| {
    ///         for (w, n) in counts.drain() {
    ///             emit.push((w, n));
    ///         }
    ///     })
    ///     .run(words)
    ///     .unwrap()
    ///     .collect();
    /// totals.sort();
    /// assert_eq!(totals, [("a".into(), 3), ("b".into(), 2), ("c".into(), 1)]);
    /// ```
    pub fn on_end<E>(
        self,
        end: E,
    ) -> Pipeline<T, U, impl Fn(usize) -> StatefulWork<S, G, OnEnd<E>> + Send + Sync>
    where
        E: Fn(&mut S, &mut Emit<'_, U>) + Send + Sync + 'static,
    {
        let Pipeline {
            builder,
            factory,
            one_to_one,
            ..
        } = self;
        let end = std::sync::Arc::new(end);
        Pipeline {
            builder,
            factory: move |w| {
                let StatefulWork(state, f, NoEnd) = factory(w);
                StatefulWork(state, f, OnEnd(std::sync::Arc::clone(&end)))
            },
            one_to_one,
            _u: PhantomData,
        }
    }
}

impl<T, U, F, K> Pipeline<T, U, F>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
    K: Work<T, U> + 'static,
{
    /// Checks the settings and starts the workers (`config::launch`).
    fn launch(self, mode: Mode) -> Result<Launched<T, U>, BuildError> {
        let Pipeline {
            builder,
            factory,
            one_to_one,
            ..
        } = self;
        launch(builder.s, factory, one_to_one, mode)
    }

    /// Starts the workers; the caller distributes through the returned [`Input`] and merges
    /// by iterating the [`Output`]. Use them on different threads, or interleave them: with
    /// bounded rings, a thread that only sends will block once the rings are full.
    ///
    /// ```
    /// use fanring::Engine;
    /// let (mut input, output) = Engine::builder().workers(2).map(|x: u32| x + 1).start().unwrap();
    /// let feeder = std::thread::spawn(move || {
    ///     input.send_all_blocking(0..100).unwrap();
    /// }); // dropping `input` ends the stream
    /// assert_eq!(output.sum::<u32>(), (1..=100).sum());
    /// feeder.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn start(self) -> Result<(Input<T>, Output<U>), BuildError> {
        Ok(start(self.launch(Mode::Start)?))
    }

    /// Starts the workers and a distributor thread that drains `source`; the caller merges by
    /// iterating the [`Output`]. The same as [`run_source`](Self::run_source) with
    /// [`source::Iter`]: the items `source`'s `size_hint` promises (a range, a `Vec`, a `map`
    /// over them) are taken in runs of up to `batch` that last about 2 µs at most, each
    /// published as it is staged; before any other `next()` (a channel's iterator,
    /// `iter::from_fn`, `repeat_with`: it may block) everything taken is published, so no
    /// item waits in the engine for the next one. An iterator that promises items and then
    /// waits long for one in the middle of a run holds that run's earlier items meanwhile:
    /// give such a stream as a [`Source`], or as an iterator that promises nothing
    /// (`iter::from_fn`).
    ///
    /// ```
    /// use fanring::Engine;
    /// let (tx, rx) = std::sync::mpsc::channel::<u64>();
    /// let mut out = Engine::builder().workers(2).map(|x: u64| x + 1).run(rx).unwrap();
    /// tx.send(1).unwrap();
    /// assert_eq!(out.next(), Some(2)); // while the source waits for more
    /// drop(tx);
    /// assert_eq!(out.next(), None);
    /// ```
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn run<I>(self, source: I) -> Result<Output<U>, BuildError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        self.run_source(source::Iter::new(source.into_iter()))
    }

    /// Starts the workers and a distributor thread that drains `source`; the caller merges by
    /// iterating the [`Output`].
    ///
    /// The distributor takes the items `source` has ready ([`Source::try_recv`]), up to
    /// `batch`, and hands them out as one run. When nothing is ready it publishes every run
    /// it holds before it calls the blocking [`Source::recv`]: an item taken from the source
    /// is visible to its worker before the distributor waits for the next one. Round-robin
    /// and least-loaded runs end there (with `Order::Preserve` and round-robin, a run goes on
    /// to `batch` items, each published as it comes, so the merger's rotation holds).
    ///
    /// Dropping or joining the [`Output`] before the end does not wait for a distributor that
    /// waits inside `recv`: that thread exits when `recv` next returns, dropping what it
    /// returned (wake it by ending or feeding the source). [`Stats::distributor`](crate::stats::Stats::distributor) is then
    /// `None`.
    ///
    /// ```
    /// use fanring::Engine;
    /// let (mut tx, rx) = fanring::channel::<u32>(64).unwrap();
    /// let mut out = Engine::builder().workers(2).map(|x: u32| x * 10).run_source(rx).unwrap();
    /// tx.push(4).unwrap();
    /// assert_eq!(out.next(), Some(40));
    /// drop(out); // returns at once: the distributor waits in `rx.pop()`, and ends after it
    /// ```
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn run_source<S>(self, source: S) -> Result<Output<U>, BuildError>
    where
        S: Source<Item = T> + Send + 'static,
    {
        run_source(self.launch(Mode::Run)?, source)
    }

    /// Starts the workers; the caller's thread both distributes and merges: the returned
    /// [`Driven`] iterator pulls items from `source` as it needs them, hands them to the
    /// workers without waiting, and yields the merged outputs. No distributor or merger
    /// thread: `workers + 1` threads in all, and `source` need not be `Send`.
    ///
    /// Round-robin gives each worker `batch` consecutive items per turn (as every mode does);
    /// up to about `capacity` items per worker are in flight.
    ///
    /// ```
    /// use fanring::{Engine, Order};
    /// let out = Engine::builder()
    ///     .workers(2)
    ///     .order(Order::Preserve)
    ///     .map(|x: u64| x + 1)
    ///     .drive(0..1000u64)
    ///     .unwrap();
    /// assert!(out.eq(1..=1000u64));
    /// ```
    ///
    /// A panic in `source` unwinds out of [`Iterator::next`] on the caller's thread; dropping
    /// the [`Driven`] then stops the workers as in an early end.
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn drive<I>(self, source: I) -> Result<Driven<source::Iter<I::IntoIter>, U>, BuildError>
    where
        I: IntoIterator<Item = T>,
    {
        self.drive_source(source::Iter::new(source.into_iter()))
    }

    /// [`drive`](Self::drive) from a [`Source`]: each `next` takes what the source has ready
    /// (up to `batch` items a run) and hands it out, publishing it before it waits for
    /// anything. It calls the blocking [`Source::recv`] only once every item handed out has
    /// come back merged, so an output never waits behind the source.
    ///
    /// ```
    /// use fanring::Engine;
    /// let (tx, rx) = std::sync::mpsc::channel::<u64>();
    /// let mut out = Engine::builder().workers(2).map(|x: u64| x * 3).drive_source(rx).unwrap();
    /// tx.send(5).unwrap();
    /// assert_eq!(out.next(), Some(15));
    /// drop(tx);
    /// assert_eq!(out.next(), None);
    /// ```
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn drive_source<S>(self, source: S) -> Result<Driven<S, U>, BuildError>
    where
        S: Source<Item = T>,
    {
        let one_to_one = self.one_to_one;
        Ok(drive_source(self.launch(Mode::Drive)?, source, one_to_one))
    }

    /// Starts everything on threads of its own: a distributor draining `source`, the workers,
    /// and a merger feeding `sink`. Join the returned [`Running`] for the counters.
    ///
    /// ```
    /// use fanring::Engine;
    /// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
    /// let total = Arc::new(AtomicU64::new(0));
    /// let t = Arc::clone(&total);
    /// let running = Engine::builder()
    ///     .workers(2)
    ///     .map(|x: u64| 2 * x)
    ///     .run_with_sink(1..=10u64, move |y| { t.fetch_add(y, Ordering::Relaxed); })
    ///     .unwrap();
    /// let stats = running.join().unwrap();
    /// assert_eq!(total.load(Ordering::Relaxed), 110);
    /// assert_eq!(stats.merger.items, 10);
    /// ```
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn run_with_sink<I, S>(self, source: I, sink: S) -> Result<Running, BuildError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        S: FnMut(U) + Send + 'static,
    {
        run_with_sink(self.launch(Mode::RunWithSink)?, source, sink)
    }
}

/// `start` on a launched engine (a farm's or a graph's).
pub(super) fn start<T: Send + 'static, U: Send + 'static>(
    l: Launched<T, U>,
) -> (Input<T>, Output<U>) {
    (
        Input {
            distributor: l.distributor,
            buf: l.source_buf,
            closed: false,
        },
        Output::new(OutputState::new(
            l.merger, l.control, l.threads, l.plan, l.local,
        )),
    )
}

/// `run_source` on a launched engine.
pub(super) fn run_source<T, U, S>(l: Launched<T, U>, source: S) -> Result<Output<U>, BuildError>
where
    T: Send + 'static,
    U: Send + 'static,
    S: Source<Item = T> + Send + 'static,
{
    let handle = spawn_source(
        source,
        l.distributor,
        l.source_buf,
        l.inline,
        Arc::clone(&l.control),
        l.plan.distributor,
    );
    let mut state = OutputState::new(l.merger, l.control, l.threads, l.plan, l.local);
    match handle {
        Ok(h) => state.source = Some(h),
        // The distributor was dropped with its closure: every ring is closed, so the
        // workers end; join them.
        Err(e) => {
            let _ = state.join(0);
            return Err(e);
        }
    }
    Ok(Output::new(state))
}

/// `drive_source` on a launched engine; `one_to_one`: every input gives one output.
pub(super) fn drive_source<T, U, S>(l: Launched<T, U>, source: S, one_to_one: bool) -> Driven<S, U>
where
    T: Send + 'static,
    U: Send + 'static,
    S: Source<Item = T>,
{
    Driven::new(
        source,
        l.distributor,
        l.source_buf,
        OutputState::new(l.merger, l.control, l.threads, l.plan, l.local),
        one_to_one,
    )
}

/// `run_with_sink` on a launched engine.
pub(super) fn run_with_sink<T, U, I, S>(
    mut l: Launched<T, U>,
    source: I,
    sink: S,
) -> Result<Running, BuildError>
where
    T: Send + 'static,
    U: Send + 'static,
    I: IntoIterator<Item = T>,
    I::IntoIter: Send + 'static,
    S: FnMut(U) + Send + 'static,
{
    let control = Arc::clone(&l.control);
    let stage = Sinking {
        merger: l.merger,
        local: l.local,
        sink: Some(sink),
    };
    let sink_thread = spawn_stage(
        "fanring-merger".into(),
        l.plan.merger,
        Arc::clone(&control),
        stage,
    );
    let spawned = sink_thread.and_then(|h| {
        l.threads.push(h);
        spawn_source(
            source::Iter::new(source.into_iter()),
            l.distributor,
            l.source_buf,
            l.inline,
            Arc::clone(&control),
            l.plan.distributor,
        )
    });
    let running = Running {
        control,
        threads: l.threads,
        source: None,
        plan: l.plan,
    };
    match spawned {
        Ok(h) => {
            let mut running = running;
            running.source = Some(h);
            Ok(running)
        }
        // Everything already spawned sees its rings closed and ends; join it.
        Err(e) => {
            let _ = running.join();
            Err(e)
        }
    }
}
