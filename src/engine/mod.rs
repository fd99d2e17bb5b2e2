//! The fan-out/fan-in engine: a distributor, `n` workers on their own threads, a merger,
//! connected by SPSC rings, with the close/drain protocol of `docs/design.md`.

mod control;
mod drive;
pub(crate) mod wire;
mod worker;

pub use drive::Driven;
pub use worker::{Emit, WorkerStats};

use self::control::Control;
use self::wire::{InWire, Mark, Tagged};
use self::worker::{worker_main, OutBuf, OutRing, WorkerSpec};
use crate::dispatch::{Dispatch, Distributor, DistributorStats, Window};
use crate::error::{panic_message, try_buffer};
use crate::loom::sync::Arc;
use crate::loom::thread::{Builder as ThreadBuilder, JoinHandle};
use crate::merge::{
    max_window, window_slots, AnyMerge, LocalQueue, Merger, MergerStats, Order, RotateMerge,
    RunCursor, Step, TaggedMerge,
};
use crate::pinning::{pin_current, plan, Pinning, Plan};
use crate::ring::channel_for_runs;
use crate::source::{self, Source};
use crate::teardown::Teardown;
use crate::{
    CapacityError, Consumer, EngineError, Producer, PushError, WaitStrategy, MAX_CAPACITY,
};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

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
    /// A builder with the defaults: 2 workers, capacity 1024, batch 256, `SpinThenPark`,
    /// `Pinning::Auto`, round-robin, `Order::Any`.
    pub fn builder<T>() -> Builder<T> {
        Builder {
            workers: 2,
            capacity: 1024,
            batch: 256,
            wait: WaitStrategy::default(),
            pinning: Pinning::Auto,
            dispatch: Dispatch::RoundRobin,
            order: Order::Any,
            window: None,
            allow_spin: false,
            _t: PhantomData,
        }
    }
}

/// Settings of an engine whose input items are `T`. Finish with a work method (`map`,
/// `filter_map`, `flat_map`, `stateful`).
#[must_use = "a builder does nothing until a work method and `start`/`run` are called"]
pub struct Builder<T> {
    workers: usize,
    capacity: usize,
    batch: usize,
    wait: WaitStrategy,
    pinning: Pinning,
    dispatch: Dispatch<T>,
    order: Order,
    window: Option<usize>,
    allow_spin: bool,
    _t: PhantomData<fn(T)>,
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("capacity", &self.capacity)
            .field("batch", &self.batch)
            .field("wait", &self.wait)
            .field("pinning", &self.pinning)
            .field("dispatch", &self.dispatch)
            .field("order", &self.order)
            .field("window", &self.window)
            .finish()
    }
}

impl<T: Send + 'static> Builder<T> {
    /// Number of worker threads: at least 1 ([`EngineError::ZeroWorkers`]) and at most
    /// [`MAX_WORKERS`] ([`EngineError::TooLarge`]), checked before anything is spawned.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
    /// Slots in each ring (rounded up to a power of two). Every worker has an input and an
    /// output ring of this size. At least 1 and at most [`MAX_CAPACITY`]
    /// ([`EngineError::Capacity`]); all `2 × workers` rings together must fit in `isize::MAX`
    /// bytes ([`EngineError::TooLarge`] `"capacity × workers"`, checked with overflow-safe
    /// arithmetic before anything is allocated); each ring is then reserved fallibly
    /// ([`EngineError::Capacity`] if the allocator refuses it). Reserved, not written: a ring
    /// costs resident memory only as far as items have reached into it.
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }
    /// Items a stage moves at once (with one copy) and publishes together, and the length of
    /// a round-robin run (consecutive items per worker). Partial batches are always published
    /// before a stage waits. At least 1 ([`EngineError::ZeroSetting`]); capped at `capacity`,
    /// so each stage's local buffer of `batch` items is never larger than a ring (the worker
    /// buffers and the merged stream's are reserved fallibly: [`EngineError::Alloc`]).
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n;
        self
    }
    /// How every stage waits.
    pub fn wait(mut self, w: WaitStrategy) -> Self {
        self.wait = w;
        self
    }
    /// Core pinning of the engine's threads.
    pub fn pinning(mut self, p: Pinning) -> Self {
        self.pinning = p;
        self
    }
    /// Which worker gets each item.
    pub fn dispatch(mut self, d: Dispatch<T>) -> Self {
        self.dispatch = d;
        self
    }
    /// Order of the merged stream.
    pub fn order(mut self, o: Order) -> Self {
        self.order = o;
        self
    }
    /// Inputs the reorder window may hold (tagged `Preserve` only); default
    /// `2 × capacity × workers` (clamped to the largest window possible). At least 1
    /// ([`EngineError::ZeroSetting`]); a window whose slot array (the power of two at or
    /// above `n`, times a slot: an `Option` of the output, a `VecDeque` header and a flag,
    /// 56 bytes for `u64`) could not fit in `isize::MAX` bytes is [`EngineError::TooLarge`].
    ///
    /// Its memory grows with use: it starts at 64 slots and doubles (fallibly) when an output
    /// arrives further ahead of the oldest input not yet emitted, up to `n`. A refused growth
    /// ends the stream early with [`EngineError::Alloc`].
    ///
    /// The window bounds *inputs* in flight, not outputs: with `flat_map` (or `stateful`), an
    /// input waiting in the window keeps all its outputs there, so the memory it can hold is
    /// `window` inputs times the most outputs one input makes. An unbounded burst per input is
    /// bounded only by memory; use `Order::Any`, or bound the outputs per input.
    pub fn window(mut self, n: usize) -> Self {
        self.window = Some(n);
        self
    }
    /// Lets `BusySpin` run with more threads than cores (refused by default).
    pub fn allow_oversubscribed_spin(mut self, yes: bool) -> Self {
        self.allow_spin = yes;
        self
    }

    /// Each item becomes `f(item)`.
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
            StatefulWork(init(w), std::sync::Arc::clone(&f))
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

/// The per-item work a worker runs (built per worker by the work methods; not implemented by
/// users).
pub trait Work<T, U> {
    /// Processes one item, sending its outputs to `emit`.
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>);
}

/// `map`'s work.
pub struct MapWork<F>(std::sync::Arc<F>);
/// `filter_map`'s work.
pub struct FilterMapWork<F>(std::sync::Arc<F>);
/// `flat_map`'s work.
pub struct FlatMapWork<F>(std::sync::Arc<F>);
/// `stateful`'s work: the worker's state and the function.
pub struct StatefulWork<S, F>(S, std::sync::Arc<F>);

impl<T, U, F: Fn(T) -> U> Work<T, U> for MapWork<F> {
    #[inline]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        emit.push((self.0)(item));
    }
}
impl<T, U, F: Fn(T) -> Option<U>> Work<T, U> for FilterMapWork<F> {
    #[inline]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        if let Some(u) = (self.0)(item) {
            emit.push(u);
        }
    }
}
impl<T, U, I: IntoIterator<Item = U>, F: Fn(T) -> I> Work<T, U> for FlatMapWork<F> {
    #[inline]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        for u in (self.0)(item) {
            emit.push(u);
        }
    }
}
impl<T, U, S, F: Fn(&mut S, T, &mut Emit<'_, U>)> Work<T, U> for StatefulWork<S, F> {
    #[inline]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        (self.1)(&mut self.0, item, emit);
    }
}

/// A configured engine with its work; start it with [`start`](Self::start),
/// [`run`](Self::run) or [`run_with_sink`](Self::run_with_sink).
#[must_use = "a pipeline does nothing until `start`, `run` or `run_with_sink` is called"]
pub struct Pipeline<T, U, F> {
    builder: Builder<T>,
    factory: F,
    one_to_one: bool,
    _u: PhantomData<fn() -> U>,
}

impl<T, U, F> fmt::Debug for Pipeline<T, U, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("builder", &self.builder)
            .finish()
    }
}

/// What `launch` hands back: the distributor (for the caller or a thread) and the merger's
/// pieces.
struct Launched<T, U> {
    /// The merged stream's buffer, of the batch size in effect (`batch`, at most `capacity`).
    local: LocalQueue<U>,
    distributor: AnyDistributor<T>,
    merger: Merger<U>,
    control: Arc<Control>,
    threads: Vec<JoinHandle<()>>,
    plan: Plan,
}

/// The distributor's producers and the merger's consumers, one of each per worker.
type Rings<I, O> = (Vec<Producer<I>>, Vec<Consumer<O>>);

/// What every worker is spawned with; `spawn` builds each worker's two rings (of wire types
/// `I` in, `O` out) and starts its thread.
struct Crew<'a, F> {
    capacity: usize,
    wait: WaitStrategy,
    spec: WorkerSpec<F>,
    control: &'a Arc<Control>,
    cores: &'a [Option<usize>],
    threads: Vec<JoinHandle<()>>,
}

impl<F> Crew<'_, F> {
    /// Spawns one worker per core slot; returns the distributor's producers and the merger's
    /// consumers. If a ring, a buffer or a thread is refused, the rings built so far close as
    /// they are dropped, so the workers already started end on their own (`launch` then joins
    /// them before returning the error).
    fn spawn<T, U, I, O, K>(
        &mut self,
        out_ring: fn(Producer<O>) -> OutRing<U>,
    ) -> Result<Rings<I, O>, EngineError>
    where
        T: Send + 'static,
        U: Send + 'static,
        I: InWire<T>,
        O: Send + 'static,
        F: Fn(usize) -> K + Send + Sync + 'static,
        K: Work<T, U>,
    {
        let n = self.cores.len();
        let (mut ins, mut outs) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, &core) in self.cores.iter().enumerate() {
            let (in_tx, in_rx) = channel_for_runs::<I>(self.capacity, self.wait)?;
            let (out_tx, out_rx) = channel_for_runs::<O>(self.capacity, self.wait)?;
            ins.push(in_tx);
            outs.push(out_rx);
            // The worker's buffers, reserved here: a refusal is an error, not an abort there.
            let inbuf = try_buffer::<I>(self.spec.batch.max(1), "worker's input buffer")?;
            let out = OutBuf::try_new(out_ring(out_tx), self.spec.batch)?;
            let (control, spec) = (Arc::clone(self.control), self.spec.clone());
            let handle = ThreadBuilder::new()
                .name(format!("fanring-worker-{i}"))
                .spawn(move || {
                    worker_main::<T, U, I, F, K>(i, in_rx, inbuf, out, spec, control, core);
                })
                .map_err(|e| EngineError::Spawn(e.to_string()))?;
            self.threads.push(handle);
        }
        Ok((ins, outs))
    }
}

impl<T, U, F, K> Pipeline<T, U, F>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
    K: Work<T, U>,
{
    /// Starts the workers; the caller distributes through the returned [`Input`] and merges
    /// by iterating the [`Output`]. Use them on different threads, or interleave them: with
    /// bounded rings, a thread that only sends will block once the rings are full.
    ///
    /// ```
    /// use fanring::Engine;
    /// let (mut input, output) = Engine::builder().workers(2).map(|x: u32| x + 1).start().unwrap();
    /// let feeder = std::thread::spawn(move || {
    ///     input.send_all(0..100).unwrap();
    /// }); // dropping `input` ends the stream
    /// assert_eq!(output.sum::<u32>(), (1..=100).sum());
    /// feeder.join().unwrap();
    /// ```
    ///
    /// # Errors
    /// Bad settings (see [`EngineError`]) or a refused thread.
    pub fn start(self) -> Result<(Input<T>, Output<U>), EngineError> {
        let l = self.launch(false, false, false)?;
        Ok((
            Input {
                distributor: l.distributor,
            },
            Output::new(OutputState::new(
                l.merger, l.control, l.threads, l.plan, l.local,
            )),
        ))
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
    /// Bad settings (see [`EngineError`]) or a refused thread.
    pub fn run<I>(self, source: I) -> Result<Output<U>, EngineError>
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
    /// returned (wake it by ending or feeding the source). [`Stats::distributor`] is then
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
    /// Bad settings (see [`EngineError`]) or a refused thread.
    pub fn run_source<S>(self, source: S) -> Result<Output<U>, EngineError>
    where
        S: Source<Item = T> + Send + 'static,
    {
        let l = self.launch(true, false, false)?;
        let handle = spawn_source(
            source,
            l.distributor,
            Arc::clone(&l.control),
            l.plan.distributor,
        );
        let mut state = OutputState::new(l.merger, l.control, l.threads, l.plan, l.local);
        match handle {
            Ok(h) => state.source = Some(h),
            // The distributor was dropped with its closure: every ring is closed, so the
            // workers end and the state's drop joins them.
            Err(e) => return Err(e),
        }
        Ok(Output::new(state))
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
    /// Bad settings (see [`EngineError`]) or a refused thread.
    pub fn drive<I>(self, source: I) -> Result<Driven<source::Iter<I::IntoIter>, U>, EngineError>
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
    /// Bad settings (see [`EngineError`]) or a refused thread.
    pub fn drive_source<S>(self, source: S) -> Result<Driven<S, U>, EngineError>
    where
        S: Source<Item = T>,
    {
        let one_to_one = self.one_to_one;
        let l = self.launch(false, false, true)?;
        Ok(Driven::new(
            source,
            l.distributor,
            OutputState::new(l.merger, l.control, l.threads, l.plan, l.local),
            one_to_one,
        ))
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
    /// Bad settings (see [`EngineError`]) or a refused thread.
    pub fn run_with_sink<I, S>(self, source: I, sink: S) -> Result<Running, EngineError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        S: FnMut(U) + Send + 'static,
    {
        let mut l = self.launch(true, true, false)?;
        let control = Arc::clone(&l.control);
        let mut merger = l.merger;
        let mut local = l.local;
        let sink_core = l.plan.merger;
        let mut sink = sink;
        let sink_control = Arc::clone(&control);
        let sink_thread = ThreadBuilder::new()
            .name("fanring-merger".into())
            .spawn(move || {
                pin_current(sink_core);
                let run = catch_unwind(AssertUnwindSafe(|| {
                    while let Some(u) = merger.next_via(&mut local, &*sink_control) {
                        sink(u);
                    }
                }));
                if let Err(p) = run {
                    sink_control.fail(EngineError::SinkPanicked {
                        message: panic_message(&*p),
                    });
                }
                merger.close();
                let mut stats = merger.stats();
                // Outputs taken out of the rings but never given to the sink (it panicked).
                stats.items -= local.len() as u64;
                sink_control.set_merger_stats(stats);
                // Everything is closed: drop what is held, each in a step of its own; a
                // panicking item `Drop` is reported before the thread counts its exit.
                let mut td = Teardown::new();
                td.step(|| local.clear());
                merger.drop_items(&mut td);
                if let Some(p) = td.into_panic() {
                    sink_control.fail(EngineError::SinkPanicked {
                        message: panic_message(&*p),
                    });
                }
                sink_control.exit();
            });
        let spawned = sink_thread
            .map_err(|e| EngineError::Spawn(e.to_string()))
            .and_then(|h| {
                l.threads.push(h);
                spawn_source(
                    source::Iter::new(source.into_iter()),
                    l.distributor,
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

    fn launch(
        self,
        own_distributor: bool,
        own_merger: bool,
        one_caller: bool,
    ) -> Result<Launched<T, U>, EngineError> {
        let Pipeline {
            builder: b,
            factory,
            one_to_one,
            ..
        } = self;
        let n = b.workers;
        let Sizes {
            rotate,
            tagged,
            window: window_size,
        } = check_settings::<T, U>(&b, one_to_one)?;
        let plan = plan(&b.pinning, n, own_distributor, own_merger, one_caller)?;
        if b.wait == WaitStrategy::BusySpin && plan.oversubscribed() && !b.allow_spin {
            return Err(EngineError::SpinOversubscribed {
                threads: plan.threads,
                cores: plan.cores.len(),
            });
        }
        // At most `capacity`: every buffer of `batch` items is then no larger than a ring,
        // whose size `check_rings` bounded.
        let batch = b.batch.min(b.capacity.max(1));
        let local = LocalQueue::try_with_capacity(batch)?;
        // Round-robin gives each worker `batch` items per turn and publishes each run;
        // the other policies publish every `batch` items per worker.
        let flush_every = batch.saturating_mul(n);
        let control = Arc::new(Control::new(n));
        let mut crew = Crew {
            capacity: b.capacity,
            wait: b.wait,
            spec: WorkerSpec {
                factory: std::sync::Arc::new(factory),
                batch,
                one_to_one,
            },
            control: &control,
            cores: &plan.workers,
            threads: Vec::with_capacity(n + 2),
        };
        let built = if tagged {
            let window = Arc::new(Window::new(window_size));
            crew.spawn::<T, U, Tagged<T>, _, _>(OutRing::Tagged)
                .and_then(|(ins, outs)| {
                    // Before the distributor exists: on an error, dropping `ins` closes the
                    // worker rings.
                    let merger = TaggedMerge::try_new(outs, Arc::clone(&window), batch)?;
                    Ok((
                        AnyDistributor::Tagged(Distributor::new(
                            ins,
                            b.dispatch,
                            Some(window),
                            batch,
                            flush_every,
                            false,
                        )),
                        Merger::Tagged(merger),
                    ))
                })
        } else {
            crew.spawn::<T, U, T, _, _>(OutRing::Plain)
                .map(|(ins, outs)| {
                    let merger = if rotate {
                        Merger::Rotate(RotateMerge::new(outs, batch))
                    } else {
                        Merger::Any(AnyMerge::new(outs))
                    };
                    (
                        AnyDistributor::Plain(Distributor::new(
                            ins,
                            b.dispatch,
                            None,
                            batch,
                            flush_every,
                            rotate,
                        )),
                        merger,
                    )
                })
        };
        let threads = crew.threads;
        let built = match built {
            Ok(built) => built,
            Err(e) => {
                // Every ring built is closed (dropped with the error): the workers already
                // started end on their own; join them.
                reap(&control, threads);
                return Err(e);
            }
        };
        Ok(Launched {
            local,
            distributor: built.0,
            merger: built.1,
            control,
            threads,
            plan,
        })
    }
}

/// What [`check_settings`] found.
struct Sizes {
    /// `Preserve` by rotation (round-robin `map`).
    rotate: bool,
    /// `Preserve` through the tagged window.
    tagged: bool,
    /// The reorder window's size (inputs), when tagged.
    window: usize,
}

/// Checks every setting, every size and their products before anything is allocated or
/// spawned.
fn check_settings<T, U>(b: &Builder<T>, one_to_one: bool) -> Result<Sizes, EngineError> {
    let n = b.workers;
    if n == 0 {
        return Err(EngineError::ZeroWorkers);
    }
    if n > MAX_WORKERS {
        // Before anything is sized by it (the plan, the counters, the threads).
        return Err(EngineError::TooLarge {
            setting: "workers",
            value: n,
            max: MAX_WORKERS,
        });
    }
    if b.batch == 0 {
        return Err(EngineError::ZeroSetting("batch"));
    }
    if b.window == Some(0) {
        return Err(EngineError::ZeroSetting("window"));
    }
    let rotate = b.order == Order::Preserve && b.dispatch.is_round_robin();
    if rotate && !one_to_one {
        return Err(EngineError::PreserveNeedsOneToOne);
    }
    let tagged = b.order == Order::Preserve && !rotate;
    if tagged {
        check_rings::<Tagged<T>, Tagged<Mark<U>>>(b.capacity, n)?;
    } else {
        check_rings::<T, U>(b.capacity, n)?;
    }
    // The default window (`2 × capacity × workers`) is clamped to the largest one possible;
    // its memory grows with use, so a large default costs nothing up front.
    let window = b.window.unwrap_or_else(|| {
        b.capacity
            .checked_mul(n)
            .and_then(|w| w.checked_mul(2))
            .unwrap_or(usize::MAX)
            .min(max_window::<U>())
    });
    if tagged {
        window_slots::<U>(window)?;
    }
    Ok(Sizes {
        rotate,
        tagged,
        window,
    })
}

/// The most workers an engine may have. Checked before anything is allocated or spawned
/// (`EngineError::TooLarge`): each worker is a thread with two rings and a stack, and the
/// threads are spawned one by one.
pub const MAX_WORKERS: usize = 4096;

/// Checks that `workers` pairs of rings of `capacity` slots (wire types `I` in, `O` out) fit
/// in memory a `Vec` can address, before anything is allocated. The rings themselves are then
/// reserved fallibly, one by one ([`EngineError::Capacity`] if one is refused).
fn check_rings<I, O>(capacity: usize, workers: usize) -> Result<(), EngineError> {
    if capacity == 0 {
        return Err(EngineError::Capacity(CapacityError::Zero));
    }
    let slots = capacity
        .checked_next_power_of_two()
        .filter(|&c| c <= MAX_CAPACITY)
        .ok_or(EngineError::Capacity(CapacityError::TooLarge {
            requested: capacity,
        }))?;
    let per_slot = std::mem::size_of::<I>() + std::mem::size_of::<O>();
    let per_slot_all = per_slot.checked_mul(workers);
    let fits = per_slot_all
        .and_then(|p| p.checked_mul(slots))
        .is_some_and(|bytes| isize::try_from(bytes).is_ok());
    if fits {
        return Ok(());
    }
    let most = per_slot_all.map_or(0, |p| isize::MAX.unsigned_abs() / p.max(1));
    let max = if most == 0 {
        0
    } else {
        (1usize << (usize::BITS - 1 - most.leading_zeros())).min(MAX_CAPACITY)
    };
    Err(EngineError::TooLarge {
        setting: "capacity × workers",
        value: capacity,
        max,
    })
}

/// Starts the distributor thread: it drains `source` into the workers ([`AnyDistributor::pump`])
/// until the source ends, the engine stops, or a handle cancels it. Its handle is not among
/// the threads a handle reaps: see [`SourceThread`].
fn spawn_source<S>(
    source: S,
    mut distributor: AnyDistributor<S::Item>,
    control: Arc<Control>,
    core: Option<usize>,
) -> Result<SourceThread, EngineError>
where
    S: Source + Send + 'static,
    S::Item: Send + 'static,
{
    let c = control;
    let handle = ThreadBuilder::new()
        .name("fanring-distributor".into())
        .spawn(move || {
            pin_current(core);
            let run = catch_unwind(AssertUnwindSafe(|| {
                // A run at a time: taken from the source into a local buffer, then moved to
                // the rings with one copy. On a stop the items taken are dropped with `buf`.
                let mut source = source;
                let mut buf = Vec::with_capacity(distributor.run());
                let _ = distributor.pump(&mut source, &mut buf, Some(&c));
            }));
            if let Err(p) = run {
                c.fail(EngineError::SourcePanicked {
                    message: panic_message(&*p),
                });
            }
            distributor.close();
            c.set_distributor_stats(distributor.stats());
            // The rings' last handles drop the items left in them: a panicking `Drop` is
            // reported, and every ring is still dropped, before the thread says it exited.
            let mut td = Teardown::new();
            distributor.drop_rings(&mut td);
            if let Some(p) = td.into_panic() {
                c.fail(EngineError::SourcePanicked {
                    message: panic_message(&*p),
                });
            }
            c.distributor_exit();
        })
        .map_err(|e| EngineError::Spawn(e.to_string()))?;
    Ok(SourceThread {
        handle: Some(handle),
    })
}

/// The engine's distributor thread, seen from the handle that ends the engine. Ending
/// normally (the source ended and everything drained), the thread has exited: it is joined.
/// Ending early ([`Control::cancel`] first), the handle waits for it only while it runs
/// engine code; one that waits inside the source's blocking `recv` is left to exit by itself
/// when the source returns (it then stages nothing, and drops what it took, once).
pub(crate) struct SourceThread {
    handle: Option<JoinHandle<()>>,
}

impl SourceThread {
    /// Waits until the thread exited (and joins it: `true`) or waits inside the source (and
    /// leaves it: `false`). Call after [`Control::cancel`], or once the stream ended, or
    /// where the thread may be left.
    fn settle(&mut self, control: &Control) -> bool {
        self.wait(control, false)
    }

    /// Waits until the thread exited, also from inside the source, and joins it.
    fn join(&mut self, control: &Control) {
        self.wait(control, true);
    }

    fn wait(&mut self, control: &Control, through_source: bool) -> bool {
        let Some(handle) = self.handle.take() else {
            return true;
        };
        #[cfg(not(fanring_loom))]
        if through_source {
            let _ = handle.join();
            return true;
        }
        let mut polls = 0u32;
        loop {
            match control.distributor_settled() {
                Some(true) => {
                    // Exited (its last act): under loom, never join (see `reap`).
                    #[cfg(not(fanring_loom))]
                    let _ = handle.join();
                    #[cfg(fanring_loom)]
                    drop(handle);
                    return true;
                }
                Some(false) if !through_source => return false, // inside the source: left
                _ => {
                    // Running engine code, which ends soon once cancelled (or, joining, the
                    // source's `recv`). A few yields, then short sleeps.
                    polls = polls.saturating_add(1);
                    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
                    if polls > 64 {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                        continue;
                    }
                    crate::loom::thread::yield_now();
                }
            }
        }
    }
}

/// The distributor for plain or tagged worker rings.
enum AnyDistributor<T> {
    Plain(Distributor<T, T>),
    Tagged(Distributor<T, Tagged<T>>),
}

impl<T: Send + 'static> AnyDistributor<T> {
    #[inline]
    fn send(&mut self, item: T) -> Result<(), T> {
        match self {
            AnyDistributor::Plain(d) => d.send(item),
            AnyDistributor::Tagged(d) => d.send(item),
        }
    }
    fn flush(&mut self) {
        match self {
            AnyDistributor::Plain(d) => d.flush(),
            AnyDistributor::Tagged(d) => d.flush(),
        }
    }
    fn close(&mut self) {
        match self {
            AnyDistributor::Plain(d) => d.close(),
            AnyDistributor::Tagged(d) => d.close(),
        }
    }
    /// Teardown, after `close`: drops every ring, each in a step of its own.
    fn drop_rings(&mut self, td: &mut Teardown) {
        match self {
            AnyDistributor::Plain(d) => d.drop_rings(td),
            AnyDistributor::Tagged(d) => d.drop_rings(td),
        }
    }
    fn idle(&mut self) {
        match self {
            AnyDistributor::Plain(d) => d.idle(),
            AnyDistributor::Tagged(d) => d.idle(),
        }
    }
    fn check_stopped(&mut self) -> bool {
        match self {
            AnyDistributor::Plain(d) => d.check_stopped(),
            AnyDistributor::Tagged(d) => d.check_stopped(),
        }
    }
    fn stop(&mut self) {
        match self {
            AnyDistributor::Plain(d) => d.stop(),
            AnyDistributor::Tagged(d) => d.stop(),
        }
    }
    fn peer_gone(&self) -> bool {
        match self {
            AnyDistributor::Plain(d) => d.peer_gone(),
            AnyDistributor::Tagged(d) => d.peer_gone(),
        }
    }
    fn stats(&self) -> DistributorStats {
        match self {
            AnyDistributor::Plain(d) => d.stats,
            AnyDistributor::Tagged(d) => d.stats,
        }
    }
    fn send_from(&mut self, buf: &mut Vec<T>) -> Result<(), ()> {
        match self {
            AnyDistributor::Plain(d) => d.send_from(buf),
            AnyDistributor::Tagged(d) => d.send_from(buf),
        }
    }
    #[inline]
    fn try_send_from(&mut self, buf: &mut Vec<T>) -> Result<usize, ()> {
        match self {
            AnyDistributor::Plain(d) => d.try_send_from(buf),
            AnyDistributor::Tagged(d) => d.try_send_from(buf),
        }
    }
    fn run(&self) -> usize {
        match self {
            AnyDistributor::Plain(d) => d.run(),
            AnyDistributor::Tagged(d) => d.run(),
        }
    }

    /// Drains `source` into the workers: up to a run of ready items at a time (`buf`, whose
    /// capacity is the run), staged with one copy. Before every call that may block (the
    /// source's `recv`) everything staged is published ([`Distributor::idle`]), so no item
    /// waits in the engine while the source waits. `Ok` once the source ended, `Err` once the
    /// engine stopped or `control` says it is cancelled (the items taken and not staged are
    /// dropped with `buf` by the caller).
    fn pump<S: Source<Item = T>>(
        &mut self,
        source: &mut S,
        buf: &mut Vec<T>,
        control: Option<&Control>,
    ) -> Result<(), ()> {
        let run = buf.capacity().max(1);
        loop {
            let open = source.try_recv_into(buf, run - buf.len()).is_ok();
            if buf.is_empty() {
                if !open {
                    return Ok(());
                }
                self.idle();
                let item = match control {
                    Some(c) => {
                        // A cancelling handle does not wait for a thread inside the source.
                        if !c.enter_source() {
                            return Err(());
                        }
                        let item = source.recv();
                        if !c.leave_source() {
                            return Err(()); // cancelled meanwhile: `item` is dropped here
                        }
                        item
                    }
                    None => source.recv(),
                };
                match item {
                    Some(item) => buf.push(item),
                    None => return Ok(()),
                }
                continue; // and what else is ready
            }
            // A short run: the source had no more ready. Publish it now (ending it), rather
            // than when the next run fills.
            let short = buf.len() < run;
            self.send_from(buf)?;
            if short {
                self.idle();
            }
        }
    }
}

/// The caller's end of the distributor (from [`Pipeline::start`]). Dropping it (or
/// [`close`](Self::close)) ends the input: the workers drain and the merged stream ends. (A
/// ring whose worker is gone is dropped with it, and its items; one whose `Drop` panics is
/// re-raised after every ring was closed and dropped.)
pub struct Input<T: Send + 'static> {
    distributor: AnyDistributor<T>,
}

impl<T: Send + 'static> Input<T> {
    /// Hands one item to a worker and publishes it at once, waiting while that worker's ring
    /// (or the reorder window) is full.
    ///
    /// # Errors
    /// `Closed(item)` once the engine has stopped (the merged stream was dropped or a stage
    /// failed).
    pub fn send(&mut self, item: T) -> Result<(), PushError<T>> {
        // The cached free slots say nothing of a worker that is gone: ask the rings.
        if self.distributor.check_stopped() {
            return Err(PushError::Closed(item));
        }
        let r = self.distributor.send(item).map_err(PushError::Closed);
        self.distributor.flush();
        r
    }

    /// Hands every item of `items` to the workers a run at a time, publishing each run, and
    /// everything before each `next()` that `items`' `size_hint` does not promise (it may
    /// block), and at the end (see [`source::Iter`](crate::source::Iter)).
    ///
    /// # Errors
    /// The first item that could not be sent, once the engine has stopped; the other items
    /// taken from `items` and not handed out are dropped, and the rest of the iterator is not
    /// consumed.
    pub fn send_all<I: IntoIterator<Item = T>>(&mut self, items: I) -> Result<(), T> {
        let mut items = items.into_iter();
        if self.distributor.check_stopped() {
            return items.next().map_or(Ok(()), Err);
        }
        let mut buf = Vec::with_capacity(self.distributor.run());
        let r = self
            .distributor
            .pump(&mut source::Iter::new(items), &mut buf, None);
        self.distributor.flush();
        match r {
            Ok(()) => Ok(()),
            // `send_from` leaves the item it could not stage at the front of `buf`.
            Err(()) => buf.drain(..).next().map_or(Ok(()), Err),
        }
    }

    /// Whether the engine stopped taking items: its output was dropped or joined, or a
    /// worker ended (failed); asks the rings, one load each. Once true, every `send` returns
    /// `Closed(item)`.
    pub fn is_closed(&self) -> bool {
        self.distributor.peer_gone()
    }

    /// The distributor's counters so far.
    pub fn stats(&self) -> DistributorStats {
        self.distributor.stats()
    }

    /// Ends the input (same as dropping it).
    pub fn close(self) {}
}

impl<T: Send + 'static> Drop for Input<T> {
    /// Publishes and closes every worker ring, then drops the rings (with the items left in
    /// one whose worker is gone), each in a step of its own; a panicking item `Drop` is
    /// re-raised after all of them.
    fn drop(&mut self) {
        let mut td = Teardown::new();
        td.step(|| self.distributor.close());
        self.distributor.drop_rings(&mut td);
        td.finish();
    }
}

impl<T: Send + 'static> fmt::Debug for Input<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Counters of a finished engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The distributor's counters, when it ran on the engine's own thread (with [`Input`],
    /// ask [`Input::stats`]).
    pub distributor: Option<DistributorStats>,
    /// Each worker's counters.
    pub workers: Vec<WorkerStats>,
    /// The merger's counters.
    pub merger: MergerStats,
    /// Where each thread ran.
    pub plan: Plan,
}

/// Waits for the engine's threads. Under loom, `JoinHandle::join` must not be unparked by the
/// thread it joins (loom issue 249) and a worker may still be notifying us, so wait for the
/// exit counter instead.
fn reap(control: &Control, threads: Vec<JoinHandle<()>>) {
    #[cfg(not(fanring_loom))]
    {
        let _ = control;
        for t in threads {
            // Each thread catches the user's panics itself; a panic here would be ours.
            let _ = t.join();
        }
    }
    #[cfg(fanring_loom)]
    {
        let n = threads.len();
        drop(threads);
        while control.exited() < n {
            crate::loom::thread::yield_now();
        }
    }
}

/// The merged stream (from [`Pipeline::start`] or [`Pipeline::run`]): an iterator that ends
/// when every input item has been processed and merged, or early when a stage failed (then
/// [`join`](Self::join) returns the error). Dropping it early stops the engine: every thread
/// exits and every item in flight is dropped exactly once.
///
/// If an item's `Drop` panics on the caller's thread during the teardown (`join` or drop),
/// the panic reaches the caller as from a `Vec`, but only after every step ran: every ring
/// and the reorder window closed, every other item dropped, every thread joined.
pub struct Output<U> {
    /// The run being handed out. Declared first: its items are dropped before the rest.
    run: RunCursor<U>,
    /// Everything else, behind a `Box` so that `next`'s slow path never sees `run` (see
    /// [`RunCursor`]).
    state: Box<OutputState<U>>,
}

/// The merging side of an [`Output`] or a [`Driven`].
pub(crate) struct OutputState<U> {
    merger: Merger<U>,
    /// Items the merger moved out of the rings in one copy (handed to the iterator's
    /// [`RunCursor`]).
    local: LocalQueue<U>,
    control: Arc<Control>,
    threads: Vec<JoinHandle<()>>,
    /// The engine's distributor thread, if it has one (`run`).
    source: Option<SourceThread>,
    plan: Plan,
    ended: bool,
}

impl<U> Output<U> {
    fn new(state: OutputState<U>) -> Self {
        Output {
            run: RunCursor::empty(),
            state: Box::new(state),
        }
    }

    /// Where each thread runs.
    pub fn plan(&self) -> &Plan {
        &self.state.plan
    }

    /// The failure that ended the stream early, if any (known once `next` returned `None`).
    pub fn error(&self) -> Option<EngineError> {
        self.state.control.failure()
    }

    /// The next item, or `Ok(None)` at the end of the stream, or the failure that ended it.
    ///
    /// # Errors
    /// The first stage failure (a worker, source or sink panic).
    pub fn try_next(&mut self) -> Result<Option<U>, EngineError> {
        match self.next() {
            Some(u) => Ok(Some(u)),
            None => self.error().map_or(Ok(None), Err),
        }
    }

    /// Stops the engine if the stream has not ended (an early end: items in flight are
    /// dropped), waits for every thread, and returns the counters.
    ///
    /// # Errors
    /// The first stage failure, if any.
    pub fn join(self) -> Result<Stats, EngineError> {
        let Output { run, state } = self;
        // Items moved out of the rings but never handed out do not count as merged.
        let unmerged = run.len();
        drop(run);
        state.join(unmerged)
    }
}

impl<U> OutputState<U> {
    fn new(
        merger: Merger<U>,
        control: Arc<Control>,
        threads: Vec<JoinHandle<()>>,
        plan: Plan,
        local: LocalQueue<U>,
    ) -> Self {
        OutputState {
            merger,
            local,
            control,
            threads,
            source: None,
            plan,
            ended: false,
        }
    }

    /// [`Output::join`], with `unmerged` items that were taken out of the rings but never
    /// handed out (besides those still in `local`).
    pub(crate) fn join(mut self, unmerged: usize) -> Result<Stats, EngineError> {
        let unmerged = unmerged + self.local.len();
        self.shutdown();
        self.result(unmerged)
    }

    /// The engine's outcome once it is torn down, with `unmerged` items that were taken out
    /// of the rings but never handed out.
    pub(crate) fn result(&self, unmerged: usize) -> Result<Stats, EngineError> {
        let (distributor, workers, _) = self.control.stats();
        let mut merger = self.merger.stats();
        merger.items -= unmerged as u64;
        match self.control.failure() {
            Some(e) => Err(e),
            None => Ok(Stats {
                distributor,
                workers,
                merger,
                plan: self.plan.clone(),
            }),
        }
    }

    /// Teardown: [`signal`](Self::signal), then [`finish_into`](Self::finish_into); a
    /// panicking item `Drop` is re-raised once every step ran.
    fn shutdown(&mut self) {
        let mut td = Teardown::new();
        self.signal();
        self.finish_into(&mut td);
        td.finish();
    }

    /// Teardown's first step: ends the stream and closes every output ring and the reorder
    /// window, so that no thread waits on the merger any more. Drops nothing (cannot panic).
    /// An early end also cancels the engine: its distributor thread stops entering the
    /// source, and is not waited for while it waits inside it.
    pub(crate) fn signal(&mut self) {
        self.ended = true;
        self.control.cancel();
        self.merger.close();
    }

    /// Teardown's other steps, after [`signal`](Self::signal) (and after the worker rings
    /// are closed): drops every item the merging side holds, each container in a step of its
    /// own, then joins the engine's threads. Idempotent.
    pub(crate) fn finish_into(&mut self, td: &mut Teardown) {
        td.step(|| self.local.clear());
        self.merger.drop_items(td);
        let threads = std::mem::take(&mut self.threads);
        let control = &self.control;
        td.step(|| reap(control, threads));
        if let Some(mut source) = self.source.take() {
            td.step(|| {
                let _ = source.settle(control);
            });
        }
    }

    /// The next item: from the local queue, or else from a run the merger moves into it; at
    /// the end of the stream, closes the merger's rings. Call only while the iterator's
    /// [`RunCursor`] is empty (a refill reuses the buffer it points into).
    #[inline]
    pub(crate) fn poll(&mut self, block: bool) -> Step<U> {
        if let Some(u) = self.local.pop() {
            return Step::Item(u);
        }
        if self.ended {
            return Step::End;
        }
        let (merger, control) = (&mut self.merger, &*self.control);
        match self.local.fill(|buf| merger.poll_into(control, block, buf)) {
            Step::Item(_) => self.local.pop().map_or(Step::Empty, Step::Item),
            Step::Empty => Step::Empty,
            Step::End => {
                self.ended = true;
                self.merger.close();
                Step::End
            }
        }
    }

    /// `Output::next`'s slow path (its cursor is empty): waits for the next run, returns its
    /// first item and a cursor over the rest.
    #[inline(never)]
    fn next_run(&mut self) -> (Option<U>, RunCursor<U>) {
        match self.poll(true) {
            Step::Item(u) => (Some(u), self.local.take_run()),
            Step::Empty | Step::End => (None, RunCursor::empty()),
        }
    }
}

impl<U> Iterator for Output<U> {
    type Item = U;

    #[inline]
    fn next(&mut self) -> Option<U> {
        if let Some(u) = self.run.pop() {
            return Some(u);
        }
        // Given the boxed state, never `self` (see `RunCursor`).
        let (first, run) = self.state.next_run();
        self.run = run;
        first
    }
}

impl<U> Drop for OutputState<U> {
    /// The stream's teardown: every ring and the window closed, every item dropped, every
    /// thread joined, and only then a panicking item `Drop` re-raised (see `Teardown`).
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl<U> fmt::Debug for Output<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.fmt(f)
    }
}

impl<U> fmt::Debug for OutputState<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("plan", &self.plan)
            .field("ended", &self.ended)
            .finish()
    }
}

/// An engine running entirely on its own threads (from [`Pipeline::run_with_sink`]).
pub struct Running {
    control: Arc<Control>,
    threads: Vec<JoinHandle<()>>,
    source: Option<SourceThread>,
    plan: Plan,
}

impl Running {
    /// Where each thread runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Waits until the source is drained and every output went to the sink; returns the
    /// counters.
    ///
    /// # Errors
    /// The first stage failure (worker, source or sink panic).
    pub fn join(mut self) -> Result<Stats, EngineError> {
        if let Some(mut source) = self.source.take() {
            source.join(&self.control);
        }
        let threads = std::mem::take(&mut self.threads);
        reap(&self.control, threads);
        let (distributor, workers, merger) = self.control.stats();
        match self.control.failure() {
            Some(e) => Err(e),
            None => Ok(Stats {
                distributor,
                workers,
                merger: merger.unwrap_or_default(),
                plan: self.plan.clone(),
            }),
        }
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("plan", &self.plan).finish()
    }
}

impl Drop for Running {
    /// Waits for the engine to finish, unless its distributor waits inside a source that has
    /// nothing ready: then every thread is left to finish by itself once the source ends
    /// (nothing is lost: each item still reaches the sink or is dropped once).
    fn drop(&mut self) {
        if let Some(mut source) = self.source.take() {
            if !source.settle(&self.control) {
                // Detached: the workers wait for the distributor, which waits for the source.
                self.threads.clear();
                return;
            }
        }
        let threads = std::mem::take(&mut self.threads);
        reap(&self.control, threads);
    }
}
