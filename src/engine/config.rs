//! From a builder to running workers: every setting checked (overflow-safe, before anything
//! is allocated or spawned), the plan, the rings, the worker threads, and the distributor and
//! merger the entry points hand to a caller or a thread.

use super::control::Control;
use super::dispatch::{AnyDistributor, Dispatch, Distributor};
use super::emit::OutBuf;
use super::handles::reap;
use super::merger::{max_window, window_slots, AnyMerge, Merger, Order, RotateMerge, TaggedMerge};
use super::window::Window;
use super::wire::{InWire, Mark, Tagged};
use super::work::Work;
use super::worker::{worker_main, WorkerSpec};
use crate::cursor::LocalQueue;
use crate::error::try_buffer;
use crate::loom::sync::Arc;
use crate::loom::thread::{Builder as ThreadBuilder, JoinHandle};
use crate::pinning::{plan, Pinning, Plan};
use crate::ring::{channel_for_runs, CapacityError, Consumer, Producer, MAX_CAPACITY};
use crate::{BuildError, WaitStrategy};

/// An engine's settings, as the builder collects them (checked by [`launch`]).
pub(super) struct Settings<T> {
    pub(super) workers: usize,
    pub(super) capacity: usize,
    pub(super) batch: usize,
    pub(super) wait: WaitStrategy,
    pub(super) pinning: Pinning,
    pub(super) dispatch: Dispatch<T>,
    pub(super) order: Order,
    pub(super) window: Option<usize>,
    pub(super) allow_spin: bool,
}

/// The most workers an engine may have ([`Engine::MAX_WORKERS`](crate::Engine::MAX_WORKERS)).
pub(super) const MAX_WORKERS: usize = 4096;

/// How an engine is launched: who distributes and who merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// `start`: the caller, through `Input` and `Output`.
    Start,
    /// `run`, `run_source`: a distributor thread; the caller merges.
    Run,
    /// `drive`, `drive_source`: the caller's one thread does both.
    Drive,
    /// `run_with_sink`: a distributor thread and a merger thread.
    RunWithSink,
}

impl Mode {
    fn own_distributor(self) -> bool {
        matches!(self, Mode::Run | Mode::RunWithSink)
    }
    fn own_merger(self) -> bool {
        self == Mode::RunWithSink
    }
}

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
        out_buf: fn(Producer<O>, usize) -> Result<OutBuf<U>, BuildError>,
    ) -> Result<Rings<I, O>, BuildError>
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
            let out = out_buf(out_tx, self.spec.batch)?;
            let (control, spec) = (Arc::clone(self.control), self.spec.clone());
            let handle = ThreadBuilder::new()
                .name(format!("fanring-worker-{i}"))
                .spawn(move || {
                    worker_main::<T, U, I, F, K>(i, in_rx, inbuf, out, spec, control, core);
                })
                .map_err(BuildError::Spawn)?;
            self.threads.push(handle);
        }
        Ok((ins, outs))
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
fn check_settings<T, U>(b: &Settings<T>, one_to_one: bool) -> Result<Sizes, BuildError> {
    let n = b.workers;
    if n == 0 {
        return Err(BuildError::ZeroSetting("workers"));
    }
    if n > MAX_WORKERS {
        // Before anything is sized by it (the plan, the counters, the threads).
        return Err(BuildError::TooLarge {
            setting: "workers",
            value: n,
            max: MAX_WORKERS,
        });
    }
    if b.batch == 0 {
        return Err(BuildError::ZeroSetting("batch"));
    }
    if b.window == Some(0) {
        return Err(BuildError::ZeroSetting("window"));
    }
    let rotate = b.order == Order::Preserve && b.dispatch.is_round_robin();
    if rotate && !one_to_one {
        return Err(BuildError::PreserveNeedsOneToOne);
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

/// Checks that `workers` pairs of rings of `capacity` slots (wire types `I` in, `O` out) fit
/// in memory a `Vec` can address, before anything is allocated. The rings themselves are then
/// reserved fallibly, one by one ([`BuildError::Capacity`] if one is refused).
fn check_rings<I, O>(capacity: usize, workers: usize) -> Result<(), BuildError> {
    if capacity == 0 {
        return Err(BuildError::Capacity(CapacityError::Zero));
    }
    let slots = capacity
        .checked_next_power_of_two()
        .filter(|&c| c <= MAX_CAPACITY)
        .ok_or(BuildError::Capacity(CapacityError::TooLarge {
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
    Err(BuildError::TooLarge {
        setting: "capacity × workers",
        value: capacity,
        max,
    })
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
    K: Work<T, U>,
{
    let n = b.workers;
    let Sizes {
        rotate,
        tagged,
        window: window_size,
    } = check_settings::<T, U>(&b, one_to_one)?;
    let plan = plan(
        &b.pinning,
        n,
        mode.own_distributor(),
        mode.own_merger(),
        mode == Mode::Drive,
    )?;
    if b.wait == WaitStrategy::BusySpin && plan.oversubscribed() && !b.allow_spin {
        return Err(BuildError::SpinOversubscribed {
            threads: plan.threads,
            cores: plan.cores.len(),
        });
    }
    // At most `capacity`: every buffer of `batch` items is then no larger than a ring,
    // whose size `check_rings` bounded.
    let batch = b.batch.min(b.capacity.max(1));
    // Every buffer is reserved before the first thread is spawned: an error after a spawn
    // joins what it spawned (see `built` below), and there is none after that.
    let local = LocalQueue::try_with_capacity(batch)?;
    let source_buf = try_buffer(batch, "distributor's buffer")?;
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
        crew.spawn::<T, U, Tagged<T>, _, _>(OutBuf::tagged)
            .and_then(|(ins, outs)| {
                // Before the distributor exists: on an error, dropping `ins` closes the
                // worker rings.
                let merger = TaggedMerge::try_new(outs, Arc::clone(&window), batch)?;
                Ok((
                    AnyDistributor::Tagged(Distributor::new(
                        ins,
                        b.dispatch,
                        Some(window),
                        (batch, flush_every),
                        false,
                        b.wait,
                    )),
                    Merger::Tagged(merger),
                ))
            })
    } else {
        crew.spawn::<T, U, T, _, _>(OutBuf::plain)
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
                        (batch, flush_every),
                        rotate,
                        b.wait,
                    )),
                    merger,
                )
            })
    };
    let threads = crew.threads;
    let mut built = match built {
        Ok(built) => built,
        Err(e) => {
            // Every ring built is closed (dropped with the error): the workers already
            // started end on their own; join them.
            reap(&control, threads);
            return Err(e);
        }
    };
    built.0.watch(Arc::clone(&control));
    Ok(Launched {
        source_buf,
        local,
        distributor: built.0,
        merger: built.1,
        control,
        threads,
        plan,
    })
}
