//! The fanring engine as the runners drive it: any configuration, or exactly the defaults.

use fanring::{BuildError, Dispatch, Engine, Failure, Order, Output, Pinning, Plan, WaitStrategy};

/// How a fanring run can end badly: the engine could not start, or it failed while running.
#[derive(Debug)]
pub enum RunError {
    /// From `run`/`drive`/`start`.
    Build(BuildError),
    /// From `join`.
    Failed(Failure),
}

impl From<BuildError> for RunError {
    fn from(e: BuildError) -> Self {
        RunError::Build(e)
    }
}

impl From<Failure> for RunError {
    fn from(e: Failure) -> Self {
        RunError::Failed(e)
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Build(e) => e.fmt(f),
            RunError::Failed(e) => e.fmt(f),
        }
    }
}

use crate::item::{consume, Clock, Item, Probe, Tally};

/// Settings of a fanring engine run (the builder's knobs).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Worker threads.
    pub workers: usize,
    /// Slots per ring.
    pub capacity: usize,
    /// Items per publish.
    pub batch: usize,
    /// How every stage waits.
    pub wait: WaitStrategy,
    /// Which worker gets each item.
    pub dispatch: Dispatch<Item>,
    /// Order of the merged stream.
    pub order: Order,
    /// Core pinning.
    pub pinning: Pinning,
    /// Lets `BusySpin` run oversubscribed.
    pub allow_oversubscribed_spin: bool,
    /// `Pipeline::drive` (the caller distributes and merges) instead of `Pipeline::run` (a
    /// distributor thread).
    pub drive: bool,
}

impl EngineConfig {
    /// The engine's defaults (round-robin, `Order::Any`, `Pinning::Auto`) with `workers`.
    pub fn new(workers: usize) -> Self {
        EngineConfig {
            workers,
            capacity: 1024,
            batch: 256,
            wait: WaitStrategy::default(),
            dispatch: Dispatch::RoundRobin,
            order: Order::Any,
            pinning: Pinning::Auto,
            allow_oversubscribed_spin: false,
            drive: false,
        }
    }
}

/// `Dispatch::ByKey` on a hash of the item's value (well spread, so the keys look like flows).
pub fn key_dispatch() -> Dispatch<Item> {
    Dispatch::by_key(|it: &Item| it.value.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32)
}

/// `n` items through a fanring engine: `.map(work).run(source)`, the caller iterating the
/// `Output`. Returns the tally and the engine's pinning plan.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn fanring_engine<F>(
    n: u64,
    cfg: &EngineConfig,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<(Tally, Plan), RunError>
where
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let clock = Clock::new(lat.as_ref());
    let source = (0..n).map(move |i| clock.item(i));
    fanring_engine_source(source, clock, cfg, work, lat)
}

/// [`fanring_engine`] drawing its items from `source` (on the distributor thread, or on the
/// caller's with `drive`); latencies are `clock.now() - t0`.
///
/// # Errors
/// The engine's configuration errors, or a stage failure.
pub fn fanring_engine_source<S, F>(
    source: S,
    clock: Clock,
    cfg: &EngineConfig,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<(Tally, Plan), RunError>
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let pipeline = Engine::builder()
        .workers(cfg.workers)
        .capacity(cfg.capacity)
        .batch(cfg.batch)
        .wait(cfg.wait)
        .dispatch(cfg.dispatch.clone())
        .order(cfg.order)
        .pinning(cfg.pinning.clone())
        .allow_oversubscribed_spin(cfg.allow_oversubscribed_spin)
        .map(move |it: Item| it.process(&work));
    if cfg.drive {
        let mut out = pipeline.drive(source)?;
        let plan = out.plan().clone();
        let tally = consume(out.by_ref(), clock, lat);
        out.join()?;
        Ok((tally, plan))
    } else {
        let mut out = pipeline.run(source)?;
        let plan = out.plan().clone();
        let tally = consume(out.by_ref(), clock, lat);
        out.join()?;
        Ok((tally, plan))
    }
}

/// The engine exactly as a user gets it: `Engine::builder().workers(workers).map(work)
/// .run(source)` and nothing else (every other setting the builder's default, whatever it
/// is when this is built), the caller iterating the `Output`.
///
/// # Errors
/// A stage failure.
pub fn fanring_defaults_source<S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<Tally, RunError>
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let out = Engine::builder()
        .workers(workers)
        .map(move |it: Item| it.process(&work))
        .run(source)?;
    drain(out, clock, lat)
}

/// A three-stage graph as a user builds it: `Engine::builder().workers(W).map(work)`, then
/// two more stages of `W` workers passing each item on (`Pipeline::then`, ring to ring), every
/// other setting the builder's default; the caller iterating the `Output`. Against
/// [`fanring_defaults_source`] it shows what two more hops cost.
///
/// # Errors
/// A stage failure.
pub fn fanring_graph3_source<S, F>(
    source: S,
    clock: Clock,
    workers: usize,
    work: F,
    lat: Option<Probe<'_>>,
) -> Result<Tally, RunError>
where
    S: Iterator<Item = Item> + Send + 'static,
    F: Fn(u64) -> u64 + Clone + Send + Sync + 'static,
{
    let out = Engine::builder()
        .workers(workers)
        .map(move |it: Item| it.process(&work))
        .then(Engine::builder().workers(workers).map(|it: Item| it))
        .then(Engine::builder().workers(workers).map(|it: Item| it))
        .run(source)?;
    drain(out, clock, lat)
}

/// The caller takes every item of `out` (latencies as `clock.now() - t0`), then joins it.
fn drain(mut out: Output<Item>, clock: Clock, lat: Option<Probe<'_>>) -> Result<Tally, RunError> {
    let tally = consume(out.by_ref(), clock, lat);
    out.join()?;
    Ok(tally)
}
