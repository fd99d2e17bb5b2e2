//! A graph of farms: stages connected ring to ring. Each worker of a stage writes to the
//! workers of the next over rings of its own (one to each of them, run by a distributor with
//! the next stage's dispatch), and each worker reads the rings from every worker of the stage
//! before it in any order (`engine::inlet`). The first stage is fed by the engine's
//! distributor (or by several `Input`s), the last feeds the merger: the same handles as a
//! single farm.
//!
//! Built from the last stage back to the first, so every ring has its reader before its
//! writer starts; one `Control` for every thread, so a failure or an early end anywhere stops
//! the whole graph by the same close/drain protocol as a farm (`docs/design.md`, "Graphs").

use super::builder::{self, Pipeline};
use super::config::{check_stage, default_window, Mode, Settings, MAX_WORKERS};
use super::control::Control;
use super::dispatch::{AnyDistributor, Dispatch, Distributor, QuietRun, QuietSeed, Runs};
use super::emit::OutBuf;
use super::fuse::Fused;
use super::handles::{reap, Driven, Input, Output, Running};
use super::inlet::Inlet;
use super::inline::Inline;
use super::launch::Launched;
use super::merger::{window_slots, AnyMerge, Merger, Order, TaggedMerge};
use super::spare::Spare;
use super::stage::spawn_stage;
use super::window::Window;
use super::wire::{InWire, Mark, Tagged};
use super::work::{ChainWork, Compose, LocalStages, LocalWork, Work};
use super::worker::{Worker, WorkerAt, WorkerSpec};
use crate::cursor::LocalQueue;
use crate::error::try_buffer;
use crate::loom::sync::Arc;
use crate::loom::thread::JoinHandle;
use crate::pinning::{plan, Pinning, Roles};
use crate::ring::{channel_for_runs, Consumer, Producer};
use crate::source::{self, Source};
use crate::stats::WorkerStats;
use crate::{BuildError, WaitStrategy};
use std::fmt;

/// Farms connected ring to ring: `T` in, `V` out. Built with
/// [`Pipeline::then`](crate::Pipeline::then) and started like a single farm (`run`,
/// `run_source`, `start`, `start_many`, `drive`, `drive_source`, `run_with_sink`), with the
/// same handles.
///
/// Each stage keeps its own settings: workers, dispatch (a `Dispatch::by_key` stage after
/// another stage is a repartition: every worker of the stage before sends each key to the
/// same worker), capacity and batch of the rings into its workers, wait strategy, and work
/// (`map`, `filter_map`, `flat_map`, `stateful` with its end-of-stream hook). The first
/// stage's [`pinning`](crate::Builder::pinning) places every thread of the graph (its
/// workers in stage order); `Pinning::Auto` pins them as a single farm's when every stage
/// runs on the first stage's threads (one stage, or all fused: [`Fusion`]), else only when
/// there is a core for each thread, leaving them to the OS otherwise, which moves stages
/// that share cores to where there is room. A later stage's pinning, which would go unused, is
/// [`BuildError::PinningOnLaterStage`] unless it is the default or the first stage's.
///
/// **Order.** If any stage asks for `Order::Preserve`, the stream comes out in input order:
/// items carry their sequence number through every stage, and one reorder window at the end
/// (the first `window` set on a stage, else `2 × Σ capacity × workers`) holds the
/// distributor back when full. Every stage but the last must then give one output per input
/// (`map`): [`BuildError::PreserveNeedsOneToOne`] otherwise. With `Order::Any` (every stage's
/// default) nothing is added: each worker's outputs keep the order it made them in, and a
/// `by_key` stage keeps, per key, the order in which the key's items reach it (the input's
/// order when every stage before it is `by_key` on the same key).
///
/// **A quiet input.** With a distributor thread (`run`, `run_source`, `run_with_sink`),
/// stages that are all `map` or `filter_map` and no `by_key` stage, a short run that the
/// source hands over while it has nothing more ready is run through every stage by the
/// distributor itself and goes straight to the merger: one hop instead of one per stage (see
/// [`Builder::map`](crate::Builder::map) on where `f` runs). With every stage fused to the
/// first, only a run whose first-stage worker is parked is taken there, as in a farm.
///
/// **Ends.** The input ends → each stage drains, then runs its end-of-stream hooks, then
/// closes its rings → the stream ends. The stream dropped → every stage stops. Any worker's
/// panic → [`Failure::WorkerPanicked`](crate::Failure::WorkerPanicked) with its `stage` and
/// `worker`, re-raised by the iterator. Each item is dropped exactly once wherever it is.
///
/// ```
/// use fanring::{Dispatch, Engine, Order};
/// // parse → square (repartitioned by key) → format, in input order
/// let out: Vec<String> = Engine::builder()
///     .workers(2)
///     .order(Order::Preserve)
///     .map(|s: &str| s.parse::<u64>().unwrap())
///     .then(Engine::builder().workers(3).dispatch(Dispatch::by_key(|x: &u64| *x)).map(|x: u64| x * x))
///     .then(Engine::builder().workers(2).map(|x: u64| format!("<{x}>")))
///     .run(["1", "2", "3", "4"])
///     .unwrap()
///     .collect();
/// assert_eq!(out, ["<1>", "<4>", "<9>", "<16>"]);
/// ```
#[must_use = "a graph does nothing until `start`, `run` or `run_with_sink` is called"]
pub struct Graph<T, V> {
    chain: Box<dyn Chain<T, V>>,
    fusion: Fusion,
}

/// Whether a graph runs a stage on the threads of the stage before it
/// ([`Graph::fusion`]). Only a stage linked one to one to the stage before (as many workers,
/// round-robin dispatch) can be: worker `i` of the stage before then runs worker `i`'s work
/// of the fused stage on the outputs of each of its runs, with no ring or thread between
/// them. Each item meets the same work, state and end-of-stream hook, in the same order, as
/// over the one-to-one ring (a fused stage's hook, as an unfused one's, runs once every worker
/// of its stage has every input it will get, and not after a failure or an early end), and a
/// panic names the stage it came from; the fused stage's capacity, batch and wait strategy go
/// unused (they are still checked; a graph's pinning is its first stage's), and a
/// thread's counters count it as one worker ([`Stats::workers`](crate::stats::Stats::workers)
/// holds one entry per thread): `items_in`, `waits_empty` and `peak_occupancy` of its input,
/// `items_out` of the last stage on it (what it sent on), `waits_full` of every stage on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fusion {
    /// Fuse every one-to-one link when the graph, unfused, would have more threads than
    /// cores (what it plans with: [`Plan::oversubscribed`](crate::Plan::oversubscribed)):
    /// a stage then costs a hop and a wake-up per run, and no parallelism, that the cores
    /// cannot give. With a core for each thread, every stage keeps its own threads (stages
    /// overlap). With [`Pinning::Explicit`](crate::Pinning::Explicit) (a core for every
    /// worker of every stage, in stage order) nothing is fused: the placement is the
    /// caller's.
    #[default]
    Auto,
    /// Every stage on threads of its own.
    Never,
    /// Fuse every one-to-one link, whatever the cores. A
    /// [`Pinning::Explicit`](crate::Pinning::Explicit) list then names a core for each
    /// thread left: the workers of every stage not fused to the one before it.
    Always,
}

impl<T, V> fmt::Debug for Graph<T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut infos = Vec::new();
        self.chain.infos(&mut infos);
        f.debug_struct("Graph")
            .field(
                "workers",
                &infos.iter().map(|i| i.workers).collect::<Vec<_>>(),
            )
            .field("fusion", &self.fusion)
            .finish()
    }
}

impl<T, U, F, K> Pipeline<T, U, F>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
    K: Work<T, U> + 'static,
{
    /// A graph: this farm, then `next`, connected ring to ring (no merger or distributor
    /// thread between them). See [`Graph`].
    ///
    /// ```
    /// use fanring::Engine;
    /// let total: u64 = Engine::builder()
    ///     .workers(2)
    ///     .map(|x: u64| x + 1)
    ///     .then(Engine::builder().workers(2).filter_map(|x: u64| (x % 2 == 0).then_some(x)))
    ///     .run(0..100u64)
    ///     .unwrap()
    ///     .sum();
    /// assert_eq!(total, (1..=100).filter(|x| x % 2 == 0).sum());
    /// ```
    pub fn then<V, G, L>(self, next: Pipeline<U, V, G>) -> Graph<T, V>
    where
        V: Send + 'static,
        G: Fn(usize) -> L + Send + Sync + 'static,
        L: Work<U, V> + 'static,
    {
        Graph::from(self).then(next)
    }

    /// Starts the workers with `inputs` independent inputs, each its own [`Input`] with its
    /// own ring to each worker (the seed's `Merge(cs ...)`): as
    /// [`Graph::start_many`] for a single farm.
    ///
    /// ```
    /// use fanring::Engine;
    /// let (inputs, output) = Engine::builder().workers(2).map(|x: u32| x + 1).start_many(2).unwrap();
    /// for (i, mut input) in inputs.into_iter().enumerate() {
    ///     input.send_all_blocking([i as u32 * 10]).unwrap();
    /// } // each `Input` dropped: the stream ends once all are
    /// let mut got: Vec<u32> = output.collect();
    /// got.sort_unstable();
    /// assert_eq!(got, [1, 11]);
    /// ```
    ///
    /// # Errors
    /// As [`Graph::start_many`].
    pub fn start_many(self, inputs: usize) -> Result<(Vec<Input<T>>, Output<U>), BuildError> {
        Graph::from(self).start_many(inputs)
    }
}

/// A graph of one stage.
impl<T, U, F, K> From<Pipeline<T, U, F>> for Graph<T, U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
    K: Work<T, U> + 'static,
{
    fn from(p: Pipeline<T, U, F>) -> Self {
        Graph {
            chain: Box::new(First(Box::new(Farm::from(p)) as Box<dyn StageSpawn<T, U>>)),
            fusion: Fusion::default(),
        }
    }
}

impl<T: Send + 'static, U: Send + 'static> Graph<T, U> {
    /// One more stage, connected ring to ring to the last one.
    pub fn then<V, G, L>(self, next: Pipeline<U, V, G>) -> Graph<T, V>
    where
        V: Send + 'static,
        G: Fn(usize) -> L + Send + Sync + 'static,
        L: Work<U, V> + 'static,
    {
        let mut infos = Vec::new();
        self.chain.infos(&mut infos);
        let last = infos.last().copied().unwrap_or_default();
        Graph {
            chain: Box::new(Then {
                head: self.chain,
                last: Box::new(Farm::from(next)),
                stage: infos.len(),
                head_workers: last.workers,
                head_batch: last.run(),
            }),
            fusion: self.fusion,
        }
    }

    /// Whether stages linked one to one run on the threads of the stage before them (see
    /// [`Fusion`]; [`Fusion::Auto`] by default).
    ///
    /// ```
    /// use fanring::{Engine, Fusion};
    /// // Two map stages of 2 workers each, fused: 2 worker threads, each running both.
    /// let out = Engine::builder()
    ///     .workers(2)
    ///     .map(|x: u64| x + 1)
    ///     .then(Engine::builder().workers(2).map(|x: u64| x * 2))
    ///     .fusion(Fusion::Always)
    ///     .run(0..100u64)
    ///     .unwrap();
    /// let mut got: Vec<u64> = out.collect();
    /// got.sort_unstable();
    /// assert_eq!(got, (1..=100).map(|x| x * 2).collect::<Vec<_>>());
    /// ```
    pub fn fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    /// Starts every stage's workers; the caller distributes through the returned [`Input`]
    /// and merges by iterating the [`Output`] (as [`Pipeline::start`]).
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn start(self) -> Result<(Input<T>, Output<U>), BuildError> {
        let (l, _) = self.launch(Mode::Start, 1)?;
        Ok(builder::start(l))
    }

    /// Starts every stage's workers with `inputs` independent inputs into the first stage,
    /// each its own [`Input`] with its own ring to each first-stage worker (the seed's
    /// `Merge(cs ...)` in front of a graph). The stream ends once every `Input` is dropped (or
    /// closed). Each input's items keep their order per worker, so with a `by_key` first stage
    /// each key's items from one input keep that input's order; there is no order between
    /// inputs, and `Order::Preserve` is refused ([`BuildError::PreserveNeedsOneInput`]).
    ///
    /// ```
    /// use fanring::Engine;
    /// let (inputs, output) = Engine::builder()
    ///     .workers(2)
    ///     .map(|x: u64| x * 2)
    ///     .then(Engine::builder().workers(2).map(|x: u64| x + 1))
    ///     .start_many(3)
    ///     .unwrap();
    /// let feeders: Vec<_> = inputs
    ///     .into_iter()
    ///     .enumerate()
    ///     .map(|(i, mut input)| {
    ///         let i = i as u64;
    ///         std::thread::spawn(move || input.send_all_blocking(i * 100..i * 100 + 100).unwrap())
    ///     })
    ///     .collect();
    /// assert_eq!(output.count(), 300);
    /// feeders.into_iter().for_each(|f| f.join().unwrap());
    /// ```
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]), `inputs` 0 ([`BuildError::ZeroSetting`]) or above
    /// [`Engine::MAX_WORKERS`](crate::Engine::MAX_WORKERS) ([`BuildError::TooLarge`]
    /// `"inputs"`), or a refused thread.
    pub fn start_many(self, inputs: usize) -> Result<(Vec<Input<T>>, Output<U>), BuildError> {
        if inputs == 0 {
            return Err(BuildError::ZeroSetting("inputs"));
        }
        if inputs > MAX_WORKERS {
            // Before anything is sized by it: each input has a ring to every first-stage
            // worker and a buffer of its own.
            return Err(BuildError::TooLarge {
                setting: "inputs",
                value: inputs,
                max: MAX_WORKERS,
            });
        }
        let (l, more) = self.launch(Mode::Start, inputs)?;
        let (first, output) = builder::start(l);
        let mut all = Vec::with_capacity(inputs);
        all.push(first);
        all.extend(more);
        Ok((all, output))
    }

    /// Starts every stage's workers and a distributor thread that drains `source` (as
    /// [`Pipeline::run`]).
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

    /// As [`Pipeline::run_source`].
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn run_source<S>(self, source: S) -> Result<Output<U>, BuildError>
    where
        S: Source<Item = T> + Send + 'static,
    {
        let (l, _) = self.launch(Mode::Run, 1)?;
        builder::run_source(l, source)
    }

    /// As [`Pipeline::drive`]: the caller's thread distributes and merges.
    ///
    /// ```
    /// use fanring::{Engine, Order};
    /// let out = Engine::builder()
    ///     .workers(2)
    ///     .order(Order::Preserve)
    ///     .map(|x: u64| x + 1)
    ///     .then(Engine::builder().workers(2).map(|x: u64| x * 10))
    ///     .drive(0..100u64)
    ///     .unwrap();
    /// assert!(out.eq((1..=100u64).map(|x| x * 10)));
    /// ```
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn drive<I>(self, source: I) -> Result<Driven<source::Iter<I::IntoIter>, U>, BuildError>
    where
        I: IntoIterator<Item = T>,
    {
        self.drive_source(source::Iter::new(source.into_iter()))
    }

    /// As [`Pipeline::drive_source`].
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn drive_source<S>(self, source: S) -> Result<Driven<S, U>, BuildError>
    where
        S: Source<Item = T>,
    {
        let mut infos = Vec::new();
        self.chain.infos(&mut infos);
        let one_to_one = infos.iter().all(|i| i.one_to_one);
        let (l, _) = self.launch(Mode::Drive, 1)?;
        Ok(builder::drive_source(l, source, one_to_one))
    }

    /// As [`Pipeline::run_with_sink`].
    ///
    /// # Errors
    /// Bad settings (see [`BuildError`]) or a refused thread.
    pub fn run_with_sink<I, S>(self, source: I, sink: S) -> Result<Running, BuildError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        S: FnMut(U) + Send + 'static,
    {
        let (l, _) = self.launch(Mode::RunWithSink, 1)?;
        builder::run_with_sink(l, source, sink)
    }

    /// Checks every stage, plans the threads, builds the merger's rings and every stage from
    /// the last back to the first, then the distributor (`inputs` of them: the first in the
    /// `Launched`, the others as `Input`s).
    fn launch(self, mode: Mode, inputs: usize) -> Result<Started<T, U>, BuildError> {
        let mut infos = Vec::new();
        self.chain.infos(&mut infos);
        let shape = Shape::of::<U>(&infos, inputs)?;
        self.chain.check(shape.preserve, inputs)?;
        let roles = Roles {
            distributor: mode.own_distributor(),
            merger: mode.own_merger(),
            caller_distributes_and_merges: mode == Mode::Drive,
        };
        let (fused, plan) = self.fuse(&infos, roles)?;
        let spins = infos.iter().any(|i| i.wait == WaitStrategy::BusySpin);
        if spins && plan.oversubscribed() && !infos.iter().any(|i| i.allow_spin) {
            return Err(BuildError::SpinOversubscribed {
                threads: plan.threads,
                cores: plan.cores.len(),
            });
        }
        // Every buffer of the handles is reserved before the first thread is spawned.
        let local = LocalQueue::try_with_capacity(shape.last.run())?;
        let mut source_bufs = Vec::with_capacity(inputs);
        for _ in 0..inputs {
            source_bufs.push(try_buffer::<T>(shape.first.run(), "distributor's buffer")?);
        }
        // The groups of threads: a stage with its own, and the stages fused to it.
        let (mut groups, mut starts, mut barriers) = (Vec::new(), Vec::new(), Vec::new());
        for (info, &fused) in infos.iter().zip(&fused) {
            let start = groups.iter().sum::<usize>();
            if fused {
                starts.push(start - groups.last().copied().unwrap_or(0));
            } else {
                starts.push(start);
                groups.push(info.workers);
            }
            barriers.push(groups.len() - 1);
        }
        let control = Arc::new(Control::stages(&groups));
        let hops = groups.len();
        let mut ctx = Ctx {
            control: &control,
            cores: &plan.workers,
            starts,
            barriers,
            fused,
            threads: Vec::with_capacity(shape.total + 2),
            tagged: shape.preserve,
            inputs,
            spare: mode.own_distributor(),
        };
        // Quiet runs (`engine::inline`): with a distributor thread, every stage stateless, no
        // key to keep on its worker.
        let locals = if mode.own_distributor() && !infos.iter().any(|i| i.dispatch == Deal::ByKey) {
            self.chain.locals()
        } else {
            None
        };
        let built = build(
            self.chain,
            &mut ctx,
            shape.last,
            shape.window,
            locals.is_some(),
        );
        let threads = std::mem::take(&mut ctx.threads);
        let (distributors, merger, lane) = match built {
            Ok(b) => b,
            Err(e) => {
                // Every ring built is closed (dropped with the error): the workers already
                // started end on their own; join them.
                reap(&control, threads);
                return Err(e);
            }
        };
        let mut inputs = distributors.into_iter().zip(source_bufs);
        let Some((mut distributor, source_buf)) = inputs.next() else {
            reap(&control, threads);
            return Err(BuildError::ZeroSetting("inputs"));
        };
        let others = inputs
            .map(|(distributor, buf)| Input {
                distributor,
                buf,
                closed: false,
            })
            .collect();
        let one_to_one = infos.iter().all(|i| i.one_to_one);
        let carries = index_carries(&infos);
        let inline = locals
            .zip(lane)
            .map(|(locals, lane)| quiet_seed(locals, lane, one_to_one, carries, &control));
        if inline.is_some() && hops > 1 {
            // Every hop a quiet run skips would wake a worker of its own. (With every stage
            // fused to the first, a run given to a worker wakes one thread, as in a farm:
            // then only a parked worker's run is taken.)
            distributor.quiet_whenever_quiet();
        }
        Ok((
            Launched {
                source_buf,
                local,
                distributor,
                merger,
                control,
                threads,
                plan,
                inline,
            },
            others,
        ))
    }
}

impl<T: Send + 'static, U: Send + 'static> Graph<T, U> {
    /// Which stages run on the threads of the stage before them (`fused[s]`, see
    /// [`Fusion`]), and the plan of the threads left.
    fn fuse(
        &self,
        infos: &[Info],
        roles: Roles,
    ) -> Result<(Vec<bool>, crate::pinning::Plan), BuildError> {
        let unfused = vec![false; infos.len()];
        let threads = |fused: &[bool]| -> usize {
            infos
                .iter()
                .zip(fused)
                .filter(|(_, &f)| !f)
                .map(|(i, _)| i.workers)
                .sum()
        };
        let pinning = self.chain.pinning();
        let fuse = match self.fusion {
            Fusion::Never => false,
            Fusion::Always => true,
            Fusion::Auto if infos[0].explicit => false,
            Fusion::Auto => plan(pinning, threads(&unfused), roles)?.oversubscribed(),
        };
        let fused = if fuse {
            one_to_one_links(infos)
        } else {
            unfused
        };
        let mut planned = plan(pinning, threads(&fused), roles)?;
        // More threads than cores, and a stage after the first on threads of its own: stages
        // that share cores need the OS to move them where there is room (a pinned thread
        // waits for its core while another is idle). With every stage on the first stage's
        // threads, the graph has a farm's threads, planned as a farm's.
        let apart = fused.iter().skip(1).any(|f| !f);
        if apart && *pinning == Pinning::Auto && planned.oversubscribed() {
            planned = plan(&Pinning::None, threads(&fused), roles)?;
        }
        Ok((fused, planned))
    }
}

/// The distributor thread's quiet runner: every stage's work in turn on that thread, its
/// outputs on the lane to the merger (`engine::inline`).
fn quiet_seed<T: 'static, U: Send + 'static>(
    locals: LocalSeed<T, U>,
    lane: OutBuf<U>,
    one_to_one: bool,
    carries: Vec<bool>,
    control: &Arc<Control>,
) -> QuietSeed<T> {
    let control = Arc::clone(control);
    Box::new(move || {
        let work = ChainWork::new(locals(), carries);
        Box::new(Inline::new(work, lane, one_to_one, control)) as Box<dyn QuietRun<T>>
    })
}

/// A launched graph: the engine as the entry points take it, and the inputs beyond the first.
type Started<T, U> = (Launched<T, U>, Vec<Input<T>>);

/// What the stages' settings together decide.
struct Shape {
    first: Info,
    last: Info,
    /// Items carry sequence numbers and a window restores the order at the end.
    preserve: bool,
    /// Workers in all.
    total: usize,
    /// The reorder window's size.
    window: usize,
}

impl Shape {
    /// Checks the settings that concern the whole graph (`U` its output).
    fn of<U>(infos: &[Info], inputs: usize) -> Result<Shape, BuildError> {
        let (Some(&first), Some(&last)) = (infos.first(), infos.last()) else {
            return Err(BuildError::ZeroSetting("stages"));
        };
        let preserve = infos.iter().any(|i| i.order == Order::Preserve);
        if preserve && infos[..infos.len() - 1].iter().any(|i| !i.one_to_one) {
            return Err(BuildError::PreserveNeedsOneToOne);
        }
        if preserve && inputs > 1 {
            return Err(BuildError::PreserveNeedsOneInput);
        }
        let all = infos
            .iter()
            .fold(0usize, |s, i| s.saturating_add(i.workers));
        if all > MAX_WORKERS {
            return Err(BuildError::TooLarge {
                setting: "workers",
                value: all,
                max: MAX_WORKERS,
            });
        }
        let window = infos.iter().find_map(|i| i.window).unwrap_or_else(|| {
            default_window::<U>(infos.iter().fold(0usize, |s, i| {
                s.saturating_add(i.capacity.saturating_mul(i.workers))
            }))
        });
        if preserve {
            window_slots::<U>(window)?;
        }
        Ok(Shape {
            first,
            last,
            preserve,
            total: all,
            window,
        })
    }
}

/// The merger's rings (and the distributor's lane to it, with `lane`), every stage, and the
/// first stage's distributors.
#[allow(clippy::type_complexity)]
fn build<T: Send + 'static, U: Send + 'static>(
    chain: Box<dyn Chain<T, U>>,
    ctx: &mut Ctx<'_>,
    last: Info,
    window: usize,
    lane: bool,
) -> Result<(Vec<AnyDistributor<T>>, Merger<U>, Option<OutBuf<U>>), BuildError> {
    let batch = last.run();
    if ctx.tagged {
        let window = Arc::new(Window::new(window));
        let (mut outs, rxs) = merger_rings(last, batch, lane, OutBuf::tagged)?;
        let merger = TaggedMerge::try_new(rxs, Arc::clone(&window), batch)?;
        let lane = if lane { outs.pop() } else { None };
        let Fans::Tagged(f) = chain.spawn(ctx, outs)? else {
            unreachable!("a tagged graph's first stage is fed tagged items")
        };
        Ok((
            f.distributors(Some(&window), ctx.control, AnyDistributor::Tagged),
            Merger::Tagged(merger),
            lane,
        ))
    } else {
        let (mut outs, rxs) = merger_rings(last, batch, lane, OutBuf::plain)?;
        let lane = if lane { outs.pop() } else { None };
        let Fans::Plain(f) = chain.spawn(ctx, outs)? else {
            unreachable!("a plain graph's first stage is fed plain items")
        };
        Ok((
            f.distributors(None, ctx.control, AnyDistributor::Plain),
            Merger::Any(AnyMerge::new(rxs)),
            lane,
        ))
    }
}

/// The last stage's rings to the merger (wire `O`), and the lane last, with `lane`: each
/// producer's output side, and the merger's ends.
#[allow(clippy::type_complexity)]
fn merger_rings<U, O: Send + 'static>(
    last: Info,
    batch: usize,
    lane: bool,
    out: fn(Producer<O>, usize) -> Result<OutBuf<U>, BuildError>,
) -> Result<(Vec<OutBuf<U>>, Vec<Consumer<O>>), BuildError> {
    let rings = last.workers + usize::from(lane);
    let mut outs = Vec::with_capacity(rings);
    let mut rxs = Vec::with_capacity(rings);
    for _ in 0..rings {
        let (tx, rx) = channel_for_runs::<O>(last.capacity, last.wait)?;
        outs.push(out(tx, batch)?);
        rxs.push(rx);
    }
    Ok((outs, rxs))
}

/// A stage's settings, as the graph plans with them.
#[derive(Clone, Copy, Debug, Default)]
struct Info {
    workers: usize,
    capacity: usize,
    batch: usize,
    wait: WaitStrategy,
    order: Order,
    window: Option<usize>,
    one_to_one: bool,
    allow_spin: bool,
    /// Its pinning is `Pinning::Explicit` (the first stage's places every thread).
    explicit: bool,
    dispatch: Deal,
}

/// A stage's dispatch, as the graph plans with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Deal {
    #[default]
    RoundRobin,
    LeastLoaded,
    ByKey,
}

impl Info {
    /// Items a run of the stage holds: `batch`, at most `capacity`.
    fn run(&self) -> usize {
        self.batch.min(self.capacity.max(1)).max(1)
    }
}

/// What every stage is built with.
struct Ctx<'a> {
    control: &'a Arc<Control>,
    /// Each worker's core (all stages', in stage order).
    cores: &'a [Option<usize>],
    /// Each stage's first worker in `cores` and the counters (a fused stage: the first of
    /// the stage it is fused to).
    starts: Vec<usize>,
    /// Each stage's group of threads in the `Control` (its end barrier).
    barriers: Vec<usize>,
    /// Each stage: whether it runs on the threads of the stage before it.
    fused: Vec<bool>,
    threads: Vec<JoinHandle<()>>,
    /// Whether items carry sequence numbers (`Order::Preserve`).
    tagged: bool,
    /// Producers into the first stage.
    inputs: usize,
    /// Whether the first stage's distributor runs on a thread of its own, and so may leave
    /// items in a spare (`engine::spare`); the caller's `drive` and an `Input` never do.
    spare: bool,
}

/// The rings into a stage's workers, one list per producer (a worker of the stage before, or
/// an input), each with a ring to every worker; and how the producers dispatch over them.
enum Fans<T> {
    Plain(FanRings<T, T>),
    Tagged(FanRings<T, Tagged<T>>),
}

struct FanRings<T, W> {
    rings: Vec<Vec<Producer<W>>>,
    /// The first stage's spare, when one distributor feeds it (`engine::spare`).
    spare: Option<Arc<Spare<W>>>,
    dispatch: Dispatch<T>,
    runs: Runs,
    wait: WaitStrategy,
}

impl<T, W> FanRings<T, W> {
    /// One distributor per producer over its rings, dispatching items `X` (the stage's
    /// items, or the same with their sequence numbers) as `dispatch` says, each watching
    /// `control` for an early end.
    fn each<X>(
        self,
        dispatch: &Dispatch<X>,
        window: Option<&Arc<Window>>,
        control: &Arc<Control>,
    ) -> Vec<Distributor<X, W>>
    where
        W: InWire<X>,
    {
        let FanRings {
            rings,
            spare,
            runs,
            wait,
            ..
        } = self;
        rings
            .into_iter()
            .map(|rings| {
                let mut d = Distributor::new(rings, dispatch.clone(), window.cloned(), runs, wait);
                d.watch(Arc::clone(control));
                d.share(spare.clone());
                d
            })
            .collect()
    }
}

impl<T, W: InWire<T>> FanRings<T, W> {
    /// The first stage's distributors, one per input (with the reorder window, if any).
    fn distributors(
        self,
        window: Option<&Arc<Window>>,
        control: &Arc<Control>,
        any: fn(Distributor<T, W>) -> AnyDistributor<T>,
    ) -> Vec<AnyDistributor<T>> {
        let dispatch = self.dispatch.clone();
        self.each(&dispatch, window, control)
            .into_iter()
            .map(any)
            .collect()
    }
}

impl<T: Send + 'static> Fans<T> {
    /// Each producer's output side: a distributor over its rings, and a buffer of `batch`.
    fn into_outbufs(
        self,
        batch: usize,
        control: &Arc<Control>,
    ) -> Result<Vec<OutBuf<T>>, BuildError> {
        match self {
            Fans::Plain(f) => {
                let dispatch = f.dispatch.clone();
                f.each(&dispatch, None, control)
                    .into_iter()
                    .map(|d| OutBuf::fan(d, batch))
                    .collect()
            }
            Fans::Tagged(f) => {
                let dispatch = tagged_dispatch(f.dispatch.clone());
                f.each(&dispatch, None, control)
                    .into_iter()
                    .map(|d| OutBuf::fan_tagged(d, batch))
                    .collect()
            }
        }
    }
}

/// A stage's dispatch over items that carry their sequence number: a key is the item's.
fn tagged_dispatch<T: 'static>(d: Dispatch<T>) -> Dispatch<Tagged<T>> {
    match d {
        Dispatch::RoundRobin => Dispatch::RoundRobin,
        Dispatch::LeastLoaded => Dispatch::LeastLoaded,
        Dispatch::ByKey(key) => {
            Dispatch::ByKey(std::sync::Arc::new(move |t: &Tagged<T>| key(&t.1)))
        }
    }
}

/// One stage, its types erased: a farm's settings and work.
trait StageSpawn<T, U>: Send {
    fn info(&self) -> Info;
    /// The stage's work for the distributor's quiet runs, if it may run them
    /// (`Work::QUIET_RUNS`).
    fn local(&self, stage: usize) -> Option<LocalSeed<T, U>>;
    /// Checks the stage's settings and ring sizes for `upstream` producers.
    fn check(&self, tagged: bool, last: bool, upstream: usize) -> Result<(), BuildError>;
    /// The stage's pinning as set.
    fn pinning(&self) -> &Pinning;
    /// Builds the rings from `upstream` producers into this stage's workers and starts the
    /// workers, each writing to its `outs` entry; hands back the rings for the producers.
    fn spawn(
        self: Box<Self>,
        ctx: &mut Ctx<'_>,
        stage: usize,
        upstream: usize,
        outs: Vec<OutBuf<U>>,
    ) -> Result<Fans<T>, BuildError>;
    /// The stage fused to the one before it: for each of its workers, the output side that
    /// worker `i` of the stage before writes to (buffers of `batch`), running worker `i`'s
    /// work into `outs[i]` (`engine::fuse`).
    fn through(
        self: Box<Self>,
        ctx: &mut Ctx<'_>,
        stage: usize,
        batch: usize,
        outs: Vec<OutBuf<U>>,
    ) -> Result<Vec<OutBuf<T>>, BuildError>;
}

/// A farm as a stage of a graph: its settings, and its work's factory, shared by its workers
/// and the distributor's quiet runs.
struct Farm<T, F> {
    s: Settings<T>,
    factory: std::sync::Arc<F>,
    one_to_one: bool,
}

impl<T, U, F> From<Pipeline<T, U, F>> for Farm<T, F> {
    fn from(p: Pipeline<T, U, F>) -> Self {
        Farm {
            s: p.builder.s,
            factory: std::sync::Arc::new(p.factory),
            one_to_one: p.one_to_one,
        }
    }
}

/// A stage's work made on the distributor's thread for quiet runs (`engine::inline`).
type LocalSeed<T, U> = Box<dyn FnOnce() -> Box<dyn LocalStages<T, U>> + Send>;

impl<T, U, F, K> StageSpawn<T, U> for Farm<T, F>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
    K: Work<T, U> + 'static,
{
    fn info(&self) -> Info {
        let s = &self.s;
        Info {
            workers: s.workers,
            capacity: s.capacity,
            batch: s.batch,
            wait: s.wait,
            order: s.order,
            window: s.window,
            one_to_one: self.one_to_one,
            allow_spin: s.allow_spin,
            explicit: matches!(s.pinning, Pinning::Explicit { .. }),
            dispatch: match s.dispatch {
                Dispatch::RoundRobin => Deal::RoundRobin,
                Dispatch::LeastLoaded => Deal::LeastLoaded,
                Dispatch::ByKey(_) => Deal::ByKey,
            },
        }
    }

    fn local(&self, stage: usize) -> Option<LocalSeed<T, U>> {
        let factory = std::sync::Arc::clone(&self.factory);
        K::QUIET_RUNS.then(|| {
            Box::new(move || {
                Box::new(LocalWork {
                    work: factory(0),
                    stage,
                }) as Box<dyn LocalStages<T, U>>
            }) as LocalSeed<T, U>
        })
    }

    fn check(&self, tagged: bool, last: bool, upstream: usize) -> Result<(), BuildError> {
        let s = &self.s;
        match (tagged, last) {
            (false, _) => check_stage::<T, T, U>(s, upstream),
            (true, false) => check_stage::<T, Tagged<T>, Tagged<U>>(s, upstream),
            (true, true) => check_stage::<T, Tagged<T>, Tagged<Mark<U>>>(s, upstream),
        }
    }

    fn pinning(&self) -> &Pinning {
        &self.s.pinning
    }

    fn spawn(
        self: Box<Self>,
        ctx: &mut Ctx<'_>,
        stage: usize,
        upstream: usize,
        outs: Vec<OutBuf<U>>,
    ) -> Result<Fans<T>, BuildError> {
        let Farm {
            s,
            factory,
            one_to_one,
        } = *self;
        let batch = s.batch.min(s.capacity.max(1)).max(1);
        let spec = WorkerSpec {
            factory,
            batch,
            one_to_one,
            // Graphs keep no fixed rotation (`Preserve` is by sequence number).
            floor: 1,
        };
        let runs = Runs {
            turn: batch,
            flush_every: batch.saturating_mul(s.workers),
            fixed_length: false,
        };
        if ctx.tagged {
            let (rings, spare) =
                spawn_workers::<T, U, Tagged<T>, F, K>(ctx, &s, stage, upstream, outs, &spec)?;
            Ok(Fans::Tagged(FanRings {
                rings,
                spare,
                dispatch: s.dispatch,
                runs,
                wait: s.wait,
            }))
        } else {
            let (rings, spare) =
                spawn_workers::<T, U, T, F, K>(ctx, &s, stage, upstream, outs, &spec)?;
            Ok(Fans::Plain(FanRings {
                rings,
                spare,
                dispatch: s.dispatch,
                runs,
                wait: s.wait,
            }))
        }
    }

    fn through(
        self: Box<Self>,
        ctx: &mut Ctx<'_>,
        stage: usize,
        batch: usize,
        outs: Vec<OutBuf<U>>,
    ) -> Result<Vec<OutBuf<T>>, BuildError> {
        Farm::through(*self, ctx, stage, batch, outs)
    }
}

impl<T, F> Farm<T, F> {
    /// [`StageSpawn::through`].
    fn through<U, K>(
        self,
        ctx: &Ctx<'_>,
        stage: usize,
        batch: usize,
        outs: Vec<OutBuf<U>>,
    ) -> Result<Vec<OutBuf<T>>, BuildError>
    where
        T: 'static,
        U: Send + 'static,
        F: Fn(usize) -> K + Send + Sync + 'static,
        K: Work<T, U> + 'static,
    {
        // The threads' group, and how many stages run on them before this one.
        let barrier = ctx.barriers[stage];
        let level = ctx.barriers[..stage]
            .iter()
            .filter(|&&b| b == barrier)
            .count();
        outs.into_iter()
            .enumerate()
            .map(|(index, out)| {
                let fused = Fused::new(
                    std::sync::Arc::clone(&self.factory),
                    stage,
                    index,
                    (barrier, level),
                    out,
                    self.one_to_one,
                    Arc::clone(ctx.control),
                );
                OutBuf::through(Box::new(fused), batch)
            })
            .collect()
    }
}

/// Builds `upstream × workers` rings of wire `I` and starts the stage's workers; returns each
/// producer's rings (one to each worker).
/// The rings into a stage, one list per producer before it, and the stage's spare, if it
/// has one.
type StageInputs<I> = (Vec<Vec<Producer<I>>>, Option<Arc<Spare<I>>>);

fn spawn_workers<T, U, I, F, K>(
    ctx: &mut Ctx<'_>,
    s: &Settings<T>,
    stage: usize,
    upstream: usize,
    outs: Vec<OutBuf<U>>,
    spec: &WorkerSpec<F>,
) -> Result<StageInputs<I>, BuildError>
where
    T: Send + 'static,
    U: Send + 'static,
    I: InWire<T>,
    F: Fn(usize) -> K + Send + Sync + 'static,
    K: Work<T, U> + 'static,
{
    let n = s.workers;
    // The first stage fed by one distributor: rings that run dry take from its spare.
    let spare = (ctx.spare && stage == 0 && upstream == 1 && n > 1 && !s.dispatch.is_by_key())
        .then(|| Arc::new(Spare::new(spec.batch)));
    let mut producers: Vec<Vec<Producer<I>>> =
        (0..upstream).map(|_| Vec::with_capacity(n)).collect();
    let mut consumers: Vec<Vec<Consumer<I>>> =
        (0..n).map(|_| Vec::with_capacity(upstream)).collect();
    if one_to_one_link(stage, upstream, s.workers, s.dispatch.is_round_robin()) {
        // Worker `i` of the stage before writes to worker `i` only.
        for (p, c) in producers.iter_mut().zip(&mut consumers) {
            let (tx, rx) = channel_for_runs::<I>(s.capacity, s.wait)?;
            p.push(tx);
            c.push(rx);
        }
    } else {
        for p in &mut producers {
            for c in &mut consumers {
                let (tx, rx) = channel_for_runs::<I>(s.capacity, s.wait)?;
                p.push(tx);
                c.push(rx);
            }
        }
    }
    for (index, (rxs, out)) in consumers.into_iter().zip(outs).enumerate() {
        let id = ctx.starts[stage] + index;
        let inbuf = try_buffer::<I>(spec.batch, "worker's input buffer")?;
        let worker = Worker::<T, U, I, F, K>::new(
            WorkerAt {
                id,
                stage,
                index,
                barrier: ctx.barriers[stage],
            },
            Inlet::new(rxs, ctx.control),
            inbuf,
            out,
            spec.clone(),
        )
        .share(spare.clone());
        let handle = spawn_stage(
            format!("fanring-s{stage}-worker-{index}"),
            ctx.cores.get(id).copied().flatten(),
            Arc::clone(ctx.control),
            worker,
        )?;
        ctx.threads.push(handle);
    }
    Ok((producers, spare))
}

/// Whether the stage before (`upstream` workers) connects one to one: stage `stage` has as
/// many workers and round-robin dispatch, so each worker before it gives its outputs to one
/// worker (its own rotation would spread equal shares anyway), over one ring instead of
/// `workers`. The first stage is fed all to all (by the distributor, or by several inputs).
fn one_to_one_link(stage: usize, upstream: usize, workers: usize, round_robin: bool) -> bool {
    stage > 0 && upstream == workers && round_robin
}

/// Per stage: whether its link from the stage before is one to one (never the first's).
fn one_to_one_links(infos: &[Info]) -> Vec<bool> {
    infos
        .iter()
        .enumerate()
        .map(|(s, i)| {
            let upstream = s.checked_sub(1).map_or(0, |p| infos[p].workers);
            one_to_one_link(s, upstream, i.workers, i.dispatch == Deal::RoundRobin)
        })
        .collect()
}

/// Per stage: whether an item of the first stage's worker `i` reaches worker `i` of this
/// stage (every link up to it one to one), which a quiet run's panic then names
/// (`Work::worker`).
fn index_carries(infos: &[Info]) -> Vec<bool> {
    let mut all = true;
    one_to_one_links(infos)
        .iter()
        .enumerate()
        .map(|(s, &link)| {
            all &= s == 0 || link;
            all
        })
        .collect()
}

/// A graph's stages, typed at both ends only.
trait Chain<T, V>: Send {
    /// Each stage's settings, in stage order.
    fn infos(&self, out: &mut Vec<Info>);
    /// Every stage's work, one after another on one thread, if every stage is stateless.
    fn locals(&self) -> Option<LocalSeed<T, V>>;
    /// Checks every stage (the first fed by `inputs` producers).
    fn check(&self, tagged: bool, inputs: usize) -> Result<(), BuildError>;
    /// The first stage's pinning, which places every thread.
    fn pinning(&self) -> &Pinning;
    /// Starts every stage, the last writing to `outs`, from the last back to the first;
    /// hands back the rings into the first stage.
    fn spawn(
        self: Box<Self>,
        ctx: &mut Ctx<'_>,
        outs: Vec<OutBuf<V>>,
    ) -> Result<Fans<T>, BuildError>;
}

/// The first stage.
struct First<T, V>(Box<dyn StageSpawn<T, V>>);

impl<T, V> Chain<T, V> for First<T, V> {
    fn infos(&self, out: &mut Vec<Info>) {
        out.push(self.0.info());
    }
    fn locals(&self) -> Option<LocalSeed<T, V>> {
        self.0.local(0)
    }
    fn check(&self, tagged: bool, inputs: usize) -> Result<(), BuildError> {
        self.0.check(tagged, true, inputs)
    }
    fn pinning(&self) -> &Pinning {
        self.0.pinning()
    }
    fn spawn(
        self: Box<Self>,
        ctx: &mut Ctx<'_>,
        outs: Vec<OutBuf<V>>,
    ) -> Result<Fans<T>, BuildError> {
        let inputs = ctx.inputs;
        self.0.spawn(ctx, 0, inputs, outs)
    }
}

/// Stages `head`, then `last`.
struct Then<T, U, V> {
    head: Box<dyn Chain<T, U>>,
    last: Box<dyn StageSpawn<U, V>>,
    /// `last`'s place in the graph.
    stage: usize,
    /// The workers of `head`'s last stage, and the batch their output buffers hold.
    head_workers: usize,
    head_batch: usize,
}

impl<T: 'static, U: Send + 'static, V: Send + 'static> Chain<T, V> for Then<T, U, V> {
    fn infos(&self, out: &mut Vec<Info>) {
        self.head.infos(out);
        out.push(self.last.info());
    }
    fn locals(&self) -> Option<LocalSeed<T, V>> {
        let (head, last) = (self.head.locals()?, self.last.local(self.stage)?);
        Some(Box::new(move || {
            Box::new(Compose {
                head: head(),
                buf: OutBuf::Local(Vec::new()),
                stats: WorkerStats::default(),
                last: last(),
            }) as Box<dyn LocalStages<T, V>>
        }))
    }
    fn check(&self, tagged: bool, inputs: usize) -> Result<(), BuildError> {
        // `head`'s checks see its last stage as the last: with `tagged`, the wire out of it
        // is `Tagged<U>`, smaller than the merger's `Tagged<Mark<U>>` it checks.
        self.head.check(tagged, inputs)?;
        // The first stage's pinning places every thread: a later stage's would be ignored,
        // unless it says the same (a helper that builds every stage alike) or is the default.
        let pinning = self.last.pinning();
        if *pinning != Pinning::Auto && pinning != self.head.pinning() {
            return Err(BuildError::PinningOnLaterStage { stage: self.stage });
        }
        self.last.check(tagged, true, self.head_workers)
    }
    fn pinning(&self) -> &Pinning {
        self.head.pinning()
    }
    fn spawn(
        self: Box<Self>,
        ctx: &mut Ctx<'_>,
        outs: Vec<OutBuf<V>>,
    ) -> Result<Fans<T>, BuildError> {
        let outs = if ctx.fused[self.stage] {
            self.last.through(ctx, self.stage, self.head_batch, outs)?
        } else {
            let fans = self.last.spawn(ctx, self.stage, self.head_workers, outs)?;
            fans.into_outbufs(self.head_batch, ctx.control)?
        };
        self.head.spawn(ctx, outs)
    }
}
