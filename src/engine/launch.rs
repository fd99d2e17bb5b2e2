//! From checked settings to a running engine: the plan, the buffers, the rings, the worker
//! threads, and the distributor and merger that the entry points hand to a caller or a thread
//! (plain or tagged: decided here, once).

use super::config::{check_settings, Mode, Settings, Sizes};
use super::control::Control;
use super::dispatch::{AnyDistributor, Distributor, QuietRun, QuietSeed, Runs};
use super::emit::OutBuf;
use super::handles::reap;
use super::inlet::Inlet;
use super::inline::Inline;
use super::merger::{AnyMerge, Merger, RotateMerge, TaggedMerge};
use super::spare::Spare;
use super::stage::spawn_stage;
use super::window::Window;
use super::wire::{InWire, Mark, Tagged};
use super::work::Work;
use super::worker::{Worker, WorkerAt, WorkerSpec};
use crate::cursor::LocalQueue;
use crate::error::try_buffer;
use crate::loom::sync::Arc;
use crate::loom::thread::JoinHandle;
use crate::pinning::{plan, Plan, Roles};
use crate::ring::{channel_for_runs, Consumer, Producer};
use crate::{BuildError, WaitStrategy};

/// What `launch` hands back: the distributor (for the caller or a thread) and the merger's
/// pieces.
pub(super) struct Launched<T, U> {
    /// A buffer of `batch` items for the distributor, wherever it runs: items taken from the
    /// source go through it to the rings with one copy per run.
    pub(super) source_buf: Vec<T>,
    /// The merged stream's buffer, of the batch size in effect (`batch`, at most `capacity`).
    pub(crate) local: LocalQueue<U>,
    pub(crate) distributor: AnyDistributor<T>,
    pub(crate) merger: Merger<U>,
    pub(crate) control: Arc<Control>,
    pub(crate) threads: Vec<JoinHandle<()>>,
    pub(crate) plan: Plan,
    /// The distributor thread's own copy of the work and its lane to the merger, where it may
    /// run quiet runs itself (`engine::inline`): with a distributor thread, stateless work,
    /// round-robin or least-loaded dispatch, and not the rotating `Preserve`.
    pub(crate) inline: Option<QuietSeed<T>>,
}

/// Checks `b`, plans the threads, builds the rings and starts the workers running
/// `factory`'s work; hands back the distributor and the merger for `mode`'s entry point.
pub(super) fn launch<T, U, F, K>(
    b: Settings<T>,
    factory: F,
    one_to_one: bool,
    mode: Mode,
) -> Result<Launched<T, U>, BuildError>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
    K: Work<T, U> + 'static,
{
    let n = b.workers;
    let sizes = check_settings::<T, U>(&b, one_to_one)?;
    let plan = plan_threads(&b, mode)?;
    // At most `capacity`: every buffer of `batch` items is then no larger than a ring,
    // whose size `check_rings` bounded.
    let batch = b.batch.min(b.capacity.max(1));
    // Every buffer is reserved before the first thread is spawned: an error after a spawn
    // joins what it spawned (see below), and there is none after that.
    let local = LocalQueue::try_with_capacity(batch)?;
    let source_buf = try_buffer(batch, "distributor's buffer")?;
    let control = Arc::new(Control::new(n));
    let any_worker = mode.own_distributor() && !sizes.rotate && !b.dispatch.is_by_key();
    let mut crew = Crew {
        capacity: b.capacity,
        wait: b.wait,
        spec: WorkerSpec {
            factory: std::sync::Arc::new(factory),
            batch,
            one_to_one,
            // `Preserve` by rotation: the distributor hands each worker whole turns.
            floor: if sizes.rotate {
                batch.saturating_mul(2)
            } else {
                1
            },
        },
        control: &control,
        cores: &plan.workers,
        threads: Vec::with_capacity(n + 2),
        // The distributor thread may run quiet runs itself (`engine::inline`), on a lane of
        // its own to the merger.
        lane: K::QUIET_RUNS && any_worker,
        any_worker,
    };
    let built = if sizes.tagged {
        crew.tagged(b, &sizes)
    } else {
        crew.plain(b, &sizes)
    };
    let Crew {
        threads,
        spec,
        lane,
        ..
    } = crew;
    let Built {
        mut distributor,
        merger,
        lane: lane_out,
    } = match built {
        Ok(built) => built,
        Err(e) => {
            // Every ring built is closed (dropped with the error): the workers already
            // started end on their own; join them.
            reap(&control, threads);
            return Err(e);
        }
    };
    distributor.watch(Arc::clone(&control));
    let inline = lane_out.filter(|_| lane).map(|lane_out| {
        let (factory, control) = (spec.factory, Arc::clone(&control));
        Box::new(move || {
            let work = factory(n);
            Box::new(Inline::new(work, lane_out, one_to_one, control)) as Box<dyn QuietRun<T>>
        }) as QuietSeed<T>
    });
    Ok(Launched {
        source_buf,
        local,
        distributor,
        merger,
        control,
        threads,
        plan,
        inline,
    })
}

/// Where each thread runs, and the refusal of a spinning strategy with more threads than
/// cores.
fn plan_threads<T>(b: &Settings<T>, mode: Mode) -> Result<Plan, BuildError> {
    let plan = plan(
        &b.pinning,
        b.workers,
        Roles {
            distributor: mode.own_distributor(),
            merger: mode.own_merger(),
            caller_distributes_and_merges: mode == Mode::Drive,
        },
    )?;
    if b.wait == WaitStrategy::BusySpin && plan.oversubscribed() && !b.allow_spin {
        return Err(BuildError::SpinOversubscribed {
            threads: plan.threads,
            cores: plan.cores.len(),
        });
    }
    Ok(plan)
}

/// The rings the crew built: the distributor's producers and the merger's consumers, one of
/// each per worker (and the lane's consumer last, with its producer, if there is a lane).
struct Rings<I, O, U> {
    ins: Vec<Producer<I>>,
    /// What the workers take from when their rings run dry, if the distributor may leave
    /// items for any of them (`engine::spare`).
    spare: Option<Arc<Spare<I>>>,
    outs: Vec<Consumer<O>>,
    lane: Option<OutBuf<U>>,
}

/// What the crew hands back once its workers run.
struct Built<T, U> {
    distributor: AnyDistributor<T>,
    merger: Merger<U>,
    /// The distributor's lane to the merger, if it gets one.
    lane: Option<OutBuf<U>>,
}

/// What every worker is spawned with; `spawn` builds each worker's two rings (of wire types
/// `I` in, `O` out) and starts its thread.
struct Crew<'a, F> {
    capacity: usize,
    wait: WaitStrategy,
    spec: WorkerSpec<F>,
    control: &'a Arc<Control>,
    cores: &'a [Option<usize>],
    threads: Vec<JoinHandle<()>>,
    /// Whether the merger reads a lane from the distributor too.
    lane: bool,
    /// Whether the distributor runs on a thread of its own and may give any item to any
    /// worker (no fixed rotation, not by key): it may then leave items in a spare
    /// (`engine::spare`) and run quiet runs (`engine::inline`); the caller's `drive` and an
    /// `Input` do neither.
    any_worker: bool,
}

impl<F> Crew<'_, F> {
    /// Spawns one worker per core slot; returns the distributor's producers and the merger's
    /// consumers (and the lane's, last, if there is one, with its producer), and, with
    /// `any_worker` and more than one worker, the spare the workers take from when their
    /// rings run dry. If a ring, a buffer or a thread is refused, the rings built so far close
    /// as they are dropped, so the workers already started end on their own (`launch` then
    /// joins them before returning the error; one that never started is not among those the
    /// others wait for at the end, `Spare::enter`).
    fn spawn<T, U, I, O, K>(
        &mut self,
        out_buf: fn(Producer<O>, usize) -> Result<OutBuf<U>, BuildError>,
    ) -> Result<Rings<I, O, U>, BuildError>
    where
        T: Send + 'static,
        U: Send + 'static,
        I: InWire<T>,
        O: Send + 'static,
        F: Fn(usize) -> K + Send + Sync + 'static,
        K: Work<T, U> + 'static,
    {
        let n = self.cores.len();
        let (mut ins, mut outs) = (Vec::with_capacity(n), Vec::with_capacity(n + 1));
        let spare = (self.any_worker && n > 1).then(|| Arc::new(Spare::new(self.spec.batch)));
        for (i, &core) in self.cores.iter().enumerate() {
            let (in_tx, in_rx) = channel_for_runs::<I>(self.capacity, self.wait)?;
            let (out_tx, out_rx) = channel_for_runs::<O>(self.capacity, self.wait)?;
            ins.push(in_tx);
            outs.push(out_rx);
            // The worker's buffers, reserved here: a refusal is an error, not an abort there.
            let inbuf = try_buffer::<I>(self.spec.batch.max(1), "worker's input buffer")?;
            let out = out_buf(out_tx, self.spec.batch)?;
            let worker = Worker::<T, U, I, F, K>::new(
                WorkerAt::farm(i),
                Inlet::one(in_rx),
                inbuf,
                out,
                self.spec.clone(),
            )
            .share(spare.clone());
            let handle = spawn_stage(
                format!("fanring-worker-{i}"),
                core,
                Arc::clone(self.control),
                worker,
            )?;
            self.threads.push(handle);
        }
        let lane = if self.lane {
            let (tx, rx) = channel_for_runs::<O>(self.capacity, self.wait)?;
            outs.push(rx);
            Some(out_buf(tx, self.spec.batch)?)
        } else {
            None
        };
        Ok(Rings {
            ins,
            spare,
            outs,
            lane,
        })
    }

    /// Plain items (`Order::Any`, or `Preserve` by rotation).
    fn plain<T, U, K>(&mut self, b: Settings<T>, sizes: &Sizes) -> Result<Built<T, U>, BuildError>
    where
        T: Send + 'static,
        U: Send + 'static,
        F: Fn(usize) -> K + Send + Sync + 'static,
        K: Work<T, U> + 'static,
    {
        let Rings {
            ins,
            spare,
            outs,
            lane,
        } = self.spawn::<T, U, T, _, _>(OutBuf::plain)?;
        let batch = self.spec.batch;
        let merger = if sizes.rotate {
            Merger::Rotate(RotateMerge::new(outs, batch))
        } else {
            Merger::Any(AnyMerge::new(outs))
        };
        let mut distributor = Distributor::new(
            ins,
            b.dispatch,
            None,
            Runs {
                turn: batch,
                flush_every: batch.saturating_mul(b.workers),
                fixed_length: sizes.rotate,
            },
            b.wait,
        );
        distributor.share(spare);
        Ok(Built {
            distributor: AnyDistributor::Plain(distributor),
            merger,
            lane,
        })
    }

    /// Items tagged with their sequence number, reordered through the window (`Preserve`
    /// otherwise).
    fn tagged<T, U, K>(&mut self, b: Settings<T>, sizes: &Sizes) -> Result<Built<T, U>, BuildError>
    where
        T: Send + 'static,
        U: Send + 'static,
        F: Fn(usize) -> K + Send + Sync + 'static,
        K: Work<T, U> + 'static,
    {
        let window = Arc::new(Window::new(sizes.window));
        let Rings {
            ins,
            spare,
            outs,
            lane,
        } = self.spawn::<T, U, Tagged<T>, Tagged<Mark<U>>, _>(OutBuf::tagged)?;
        let batch = self.spec.batch;
        // Before the distributor exists: on an error, dropping `ins` closes the worker rings.
        let merger = TaggedMerge::try_new(outs, Arc::clone(&window), batch)?;
        let mut distributor = Distributor::new(
            ins,
            b.dispatch,
            Some(window),
            // Round-robin gives each worker `batch` items per turn and publishes each run;
            // the other policies publish every `batch` items per worker.
            Runs {
                turn: batch,
                flush_every: batch.saturating_mul(b.workers),
                fixed_length: false,
            },
            b.wait,
        );
        distributor.share(spare);
        Ok(Built {
            distributor: AnyDistributor::Tagged(distributor),
            merger: Merger::Tagged(merger),
            lane,
        })
    }
}
