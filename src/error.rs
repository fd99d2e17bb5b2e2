//! The engine's typed errors: [`BuildError`] (it could not start) and [`Failure`] (it ran,
//! and ended badly).

use crate::ring::CapacityError;
use std::fmt;

/// Why an engine could not be built (from `start`, `run`, `drive`, … and the seed's `split`
/// and `workers`): a setting, a size, the pinning, memory, or a thread refused. Nothing is
/// left running.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `workers(0)`, `batch(0)` or `window(0)` (or `split(input, 0)`): the named setting must
    /// be at least 1.
    ZeroSetting(&'static str),
    /// The ring capacity was refused.
    Capacity(CapacityError),
    /// `Order::Preserve` with round-robin dispatch reads the workers in rotation, which needs
    /// exactly one output per input: use `map`, or another dispatch policy (which tags items
    /// and reorders them in a bounded window). In a [`Graph`](crate::Graph) with
    /// `Order::Preserve`, every stage but the last must be a `map`.
    PreserveNeedsOneToOne,
    /// `Order::Preserve` with several inputs ([`Graph::start_many`](crate::Graph::start_many)):
    /// independent producers have no order between them. Use `Order::Any`.
    PreserveNeedsOneInput,
    /// A core id in an explicit pinning is not one this process may run on
    /// ([`available_cores`](crate::pinning::available_cores)).
    NoSuchCore {
        /// The id asked for.
        core: usize,
        /// The ids that exist for this process.
        available: Vec<usize>,
    },
    /// A [`Graph`](crate::Graph) stage after the first sets a pinning other than the default
    /// [`Pinning::Auto`](crate::Pinning::Auto) and the first stage's: the first stage's
    /// pinning places every thread of a graph ([`Pinning::Explicit`](crate::Pinning::Explicit)
    /// lists a core for each worker of every stage), so a later one's would be ignored. Set
    /// it on the first stage.
    PinningOnLaterStage {
        /// The stage (0-based) whose pinning was set.
        stage: usize,
    },
    /// An explicit pinning names a different number of worker cores than there are workers.
    PinCount {
        /// Workers configured.
        workers: usize,
        /// Worker cores given.
        cores: usize,
    },
    /// `WaitStrategy::BusySpin` with more threads than cores: the spinners would starve the
    /// stages they wait for. Use `SpinYield`/`SpinThenPark`, fewer workers, or
    /// `allow_oversubscribed_spin(true)` to insist.
    SpinOversubscribed {
        /// Threads in the engine, the caller's counted where it distributes or merges.
        threads: usize,
        /// Cores available.
        cores: usize,
    },
    /// A size setting beyond its limit: `workers` above [`MAX_WORKERS`](crate::Engine::MAX_WORKERS),
    /// a `window` whose slot array could never be allocated, or settings whose product (the
    /// rings' bytes: `2 × workers × capacity × item size`) overflows or exceeds `isize::MAX`
    /// (`setting` is then `"capacity × workers"`). Checked before anything is allocated or
    /// spawned.
    TooLarge {
        /// The setting (or product of settings) refused.
        setting: &'static str,
        /// The value asked for (for a product: the capacity).
        value: usize,
        /// The largest value allowed with the other settings as they are.
        max: usize,
    },
    /// Memory for one of the engine's buffers was refused by the allocator (every buffer is
    /// reserved fallibly): the rings' are [`Capacity`](Self::Capacity) errors; this is
    /// another one, named by `what` (the local buffers of `batch` items, the reorder
    /// window's first slots). The window's growth while the engine runs is a
    /// [`Failure::Alloc`].
    Alloc {
        /// Which buffer.
        what: &'static str,
        /// Its size in bytes, when known.
        bytes: Option<usize>,
    },
    /// The operating system refused a thread. The threads already started are stopped and
    /// joined before this is returned.
    Spawn(std::io::Error),
}

/// How a running engine failed: what `join`, `next_checked` and `error` report. The stream
/// ended early; every item in flight was dropped exactly once. The merged stream's iterator
/// (and `Stream`) does not end quietly on a failure: once the items it already holds are out,
/// it re-raises the failing stage's panic on the consumer's thread (see
/// [`Output`](crate::Output)).
///
/// Variants may gain fields: match them with `..`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A worker's function panicked (or its `stateful` state's constructor, or an item's
    /// `Drop` did, on that worker's thread, or on the distributor's thread running a quiet
    /// run for that worker: see `Builder::map`; or, in a graph, the key function of the
    /// [`Dispatch::by_key`](crate::Dispatch::by_key) stage after it, which runs on its
    /// workers). The stream ended early; items in flight were dropped.
    #[non_exhaustive]
    WorkerPanicked {
        /// The worker's stage: 0 for a single farm, the stage's place in a
        /// [`Graph`](crate::Graph) (0-based) otherwise.
        stage: usize,
        /// The worker's index among its stage's workers (0-based). A panic during a quiet
        /// run of a graph (the distributor running a run through every stage itself) names
        /// the first stage's worker the run was for where every link up to the failing stage
        /// is one to one (equal worker counts, round-robin), else that stage's worker 0.
        /// Round-robin hands out runs of items, not single items, so which worker takes a
        /// given item depends on timing.
        worker: usize,
        /// The panic message, when it was a string.
        message: String,
    },
    /// A `stateful` worker's end-of-stream hook ([`Pipeline::on_end`](crate::Pipeline::on_end))
    /// panicked. The stream ended early: the outputs the hook had emitted before it panicked,
    /// and every later one, are dropped.
    #[non_exhaustive]
    EndPanicked {
        /// The worker's stage, as in `WorkerPanicked`.
        stage: usize,
        /// The worker's index among its stage's workers (0-based).
        worker: usize,
        /// The panic message, when it was a string.
        message: String,
    },
    /// The source iterator, or a [`Dispatch::by_key`](crate::Dispatch::by_key) key function,
    /// panicked on the engine's distributor thread (or an item's `Drop` did, there).
    #[non_exhaustive]
    SourcePanicked {
        /// The panic message, when it was a string.
        message: String,
    },
    /// The sink (on the engine's merger thread) panicked (or an item's `Drop` did, there).
    #[non_exhaustive]
    SinkPanicked {
        /// The panic message, when it was a string.
        message: String,
    },
    /// The reorder window could not grow (the allocator refused): the stream ended early.
    #[non_exhaustive]
    Alloc {
        /// Which buffer.
        what: &'static str,
        /// Its size in bytes, when known.
        bytes: Option<usize>,
    },
}

/// Settings compare by value, a refused thread by its [`io::ErrorKind`](std::io::ErrorKind).
impl PartialEq for BuildError {
    fn eq(&self, other: &Self) -> bool {
        use BuildError::*;
        match (self, other) {
            (PreserveNeedsOneToOne, PreserveNeedsOneToOne)
            | (PreserveNeedsOneInput, PreserveNeedsOneInput) => true,
            (ZeroSetting(a), ZeroSetting(b)) => a == b,
            (PinningOnLaterStage { stage }, PinningOnLaterStage { stage: s2 }) => stage == s2,
            (Capacity(a), Capacity(b)) => a == b,
            (
                NoSuchCore { core, available },
                NoSuchCore {
                    core: c2,
                    available: a2,
                },
            ) => core == c2 && available == a2,
            (
                PinCount { workers, cores },
                PinCount {
                    workers: w2,
                    cores: c2,
                },
            )
            | (
                SpinOversubscribed {
                    threads: workers,
                    cores,
                },
                SpinOversubscribed {
                    threads: w2,
                    cores: c2,
                },
            ) => workers == w2 && cores == c2,
            (
                TooLarge {
                    setting,
                    value,
                    max,
                },
                TooLarge {
                    setting: s2,
                    value: v2,
                    max: m2,
                },
            ) => setting == s2 && value == v2 && max == m2,
            (
                Alloc { what, bytes },
                Alloc {
                    what: w2,
                    bytes: b2,
                },
            ) => what == w2 && bytes == b2,
            (Spawn(a), Spawn(b)) => a.kind() == b.kind(),
            _ => false,
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroSetting(name) => write!(f, "`{name}` must be at least 1"),
            BuildError::Capacity(e) => write!(f, "{e}"),
            BuildError::PreserveNeedsOneToOne => f.write_str(
                "Order::Preserve with round-robin dispatch (or before a graph's last stage) \
                 needs `map` (one output per input)",
            ),
            BuildError::PreserveNeedsOneInput => {
                f.write_str("Order::Preserve needs a single input (several have no order)")
            }
            BuildError::NoSuchCore { core, available } => {
                write!(f, "core {core} does not exist (available: {available:?})")
            }
            BuildError::PinningOnLaterStage { stage } => write!(
                f,
                "stage {stage} sets a pinning: a graph's threads are placed by its first \
                 stage's pinning"
            ),
            BuildError::PinCount { workers, cores } => {
                write!(f, "{workers} workers but {cores} worker cores given")
            }
            BuildError::SpinOversubscribed { threads, cores } => write!(
                f,
                "BusySpin with {threads} threads on {cores} cores would starve the pipeline"
            ),
            BuildError::TooLarge {
                setting,
                value,
                max,
            } => write!(f, "`{setting}` {value} is too large (at most {max})"),
            BuildError::Alloc { what, bytes } => alloc(f, what, *bytes),
            BuildError::Spawn(e) => write!(f, "could not spawn a thread: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Capacity(e) => Some(e),
            BuildError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CapacityError> for BuildError {
    fn from(e: CapacityError) -> Self {
        BuildError::Capacity(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::WorkerPanicked {
                stage: 0,
                worker,
                message,
            } => write!(f, "worker {worker} panicked: {message}"),
            Failure::WorkerPanicked {
                stage,
                worker,
                message,
            } => write!(f, "worker {worker} of stage {stage} panicked: {message}"),
            Failure::EndPanicked {
                stage: 0,
                worker,
                message,
            } => write!(
                f,
                "worker {worker}'s end-of-stream hook panicked: {message}"
            ),
            Failure::EndPanicked {
                stage,
                worker,
                message,
            } => write!(
                f,
                "worker {worker} of stage {stage}: end-of-stream hook panicked: {message}"
            ),
            Failure::SourcePanicked { message } => write!(f, "source panicked: {message}"),
            Failure::SinkPanicked { message } => write!(f, "sink panicked: {message}"),
            Failure::Alloc { what, bytes } => alloc(f, what, *bytes),
        }
    }
}

impl std::error::Error for Failure {}

fn alloc(f: &mut fmt::Formatter<'_>, what: &str, bytes: Option<usize>) -> fmt::Result {
    match bytes {
        Some(b) => write!(f, "could not allocate the {what} ({b} bytes)"),
        None => write!(f, "could not allocate the {what}"),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// An empty `Vec` with room for `n` items, reserved fallibly.
///
/// # Errors
/// [`BuildError::Alloc`] naming `what` if the memory is refused (or its size overflows).
pub(crate) fn try_buffer<T>(n: usize, what: &'static str) -> Result<Vec<T>, BuildError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| BuildError::Alloc {
        what,
        bytes: n.checked_mul(std::mem::size_of::<T>()),
    })?;
    Ok(v)
}
