//! The engine's typed errors.

use crate::CapacityError;
use std::fmt;

/// Why an engine could not be built, or how it ended badly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// `workers(0)`: an engine needs at least one worker.
    ZeroWorkers,
    /// `batch(0)` or `window(0)`: the named setting must be at least 1.
    ZeroSetting(&'static str),
    /// The ring capacity was refused.
    Capacity(CapacityError),
    /// `Order::Preserve` with round-robin dispatch reads the workers in rotation, which needs
    /// exactly one output per input: use `map`, or another dispatch policy (which tags items
    /// and reorders them in a bounded window).
    PreserveNeedsOneToOne,
    /// A core id in an explicit pinning is not one this thread may run on.
    NoSuchCore {
        /// The id asked for.
        core: usize,
        /// The ids that exist for this process.
        available: Vec<usize>,
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
    /// The operating system refused a thread.
    Spawn(String),
    /// A worker's function panicked. The stream ended early; items in flight were dropped.
    WorkerPanicked {
        /// The worker's index (0-based).
        worker: usize,
        /// The panic message, when it was a string.
        message: String,
    },
    /// The source iterator, or a [`Dispatch::by_key`](crate::Dispatch::by_key) key function,
    /// panicked on the engine's distributor thread.
    SourcePanicked {
        /// The panic message, when it was a string.
        message: String,
    },
    /// The sink (on the engine's merger thread) panicked.
    SinkPanicked {
        /// The panic message, when it was a string.
        message: String,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::ZeroWorkers => f.write_str("an engine needs at least one worker"),
            EngineError::ZeroSetting(name) => write!(f, "`{name}` must be at least 1"),
            EngineError::Capacity(e) => write!(f, "{e}"),
            EngineError::PreserveNeedsOneToOne => f.write_str(
                "Order::Preserve with round-robin dispatch needs `map` (one output per input)",
            ),
            EngineError::NoSuchCore { core, available } => {
                write!(f, "core {core} does not exist (available: {available:?})")
            }
            EngineError::PinCount { workers, cores } => {
                write!(f, "{workers} workers but {cores} worker cores given")
            }
            EngineError::SpinOversubscribed { threads, cores } => write!(
                f,
                "BusySpin with {threads} threads on {cores} cores would starve the pipeline"
            ),
            EngineError::Spawn(e) => write!(f, "could not spawn a thread: {e}"),
            EngineError::WorkerPanicked { worker, message } => {
                write!(f, "worker {worker} panicked: {message}")
            }
            EngineError::SourcePanicked { message } => write!(f, "source panicked: {message}"),
            EngineError::SinkPanicked { message } => write!(f, "sink panicked: {message}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<CapacityError> for EngineError {
    fn from(e: CapacityError) -> Self {
        EngineError::Capacity(e)
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
