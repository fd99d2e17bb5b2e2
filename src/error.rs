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
    /// A core id in an explicit pinning is not one this process may run on
    /// ([`available_cores`](crate::pinning::available_cores)).
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
    /// A size setting beyond its limit: `workers` above [`MAX_WORKERS`](crate::MAX_WORKERS),
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
    /// another one, named by `what` (the local buffers of `batch` items, or the reorder
    /// window, which grows while the engine runs: then the stream ends early and `join`
    /// returns this).
    Alloc {
        /// Which buffer.
        what: &'static str,
        /// Its size in bytes, when known.
        bytes: Option<usize>,
    },
    /// The operating system refused a thread. The threads already started are stopped and
    /// joined before this is returned.
    Spawn(String),
    /// A worker's function panicked (or an item's `Drop` did, on that worker's thread). The
    /// stream ended early; items in flight were dropped.
    WorkerPanicked {
        /// The worker's index (0-based).
        worker: usize,
        /// The panic message, when it was a string.
        message: String,
    },
    /// The source iterator, or a [`Dispatch::by_key`](crate::Dispatch::by_key) key function,
    /// panicked on the engine's distributor thread (or an item's `Drop` did, there).
    SourcePanicked {
        /// The panic message, when it was a string.
        message: String,
    },
    /// The sink (on the engine's merger thread) panicked (or an item's `Drop` did, there).
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
            EngineError::TooLarge {
                setting,
                value,
                max,
            } => write!(f, "`{setting}` {value} is too large (at most {max})"),
            EngineError::Alloc { what, bytes } => match bytes {
                Some(b) => write!(f, "could not allocate the {what} ({b} bytes)"),
                None => write!(f, "could not allocate the {what}"),
            },
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

/// An empty `Vec` with room for `n` items, reserved fallibly.
///
/// # Errors
/// [`EngineError::Alloc`] naming `what` if the memory is refused (or its size overflows).
pub(crate) fn try_buffer<T>(n: usize, what: &'static str) -> Result<Vec<T>, EngineError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| EngineError::Alloc {
        what,
        bytes: n.checked_mul(std::mem::size_of::<T>()),
    })?;
    Ok(v)
}
