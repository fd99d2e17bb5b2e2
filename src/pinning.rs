//! Which core each of the engine's threads runs on.

use crate::BuildError;
use std::fmt;

/// How the engine pins its threads (with `core_affinity`). Only threads the engine spawns are
/// pinned; the caller's thread, when it distributes or merges, is left alone. The cores are
/// the process's ([`available_cores`]), whichever thread builds the engine: a caller pinned to
/// one core still gets a plan over every core of the process.
///
/// ```
/// use fanring::Pinning;
/// // distributor on core 0, workers on 1 and 2, merger unpinned
/// let p = Pinning::Explicit { distributor: Some(0), workers: vec![1, 2], merger: None };
/// # let _ = p;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pinning {
    /// No pinning: the OS schedules every thread over the process's cores (the engine's
    /// threads are given the process's mask, not the narrower one a pinned caller would
    /// pass on to the threads it spawns).
    None,
    /// One core per role (distributor, workers in order, merger) while cores last, then roles
    /// share cores round-robin. With [`drive`](crate::Pipeline::drive) the first core is left
    /// to the caller's thread (which is not pinned) and each worker gets one of the others;
    /// with more workers than other cores, the workers are not pinned. The default.
    #[default]
    Auto,
    /// An explicit core per role. `workers` must have one entry per worker: in a
    /// [`Graph`](crate::Graph), one per worker thread of every stage in stage order (a stage
    /// fused to the one before it, [`Fusion::Always`](crate::Fusion::Always), has none of
    /// its own; [`Fusion::Auto`](crate::Fusion::Auto) fuses nothing under explicit pinning).
    Explicit {
        /// Core of the distributor thread (not used when the caller distributes, but still
        /// checked: a core that does not exist is [`BuildError::NoSuchCore`]).
        distributor: Option<usize>,
        /// One core per worker.
        workers: Vec<usize>,
        /// Core of the merger thread (not used when the caller merges, but still checked).
        merger: Option<usize>,
    },
}

/// The cores chosen for each role; printable. `None`: not pinned (or the caller's thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The distributor thread's core.
    pub distributor: Option<usize>,
    /// Each worker's core.
    pub workers: Vec<Option<usize>>,
    /// The merger thread's core.
    pub merger: Option<usize>,
    /// Cores this process may run on ([`available_cores`]: the process's affinity mask, read
    /// once when the library was loaded; not the mask of the thread that made the plan).
    pub cores: Vec<usize>,
    /// Threads in the engine, the caller's counted where it distributes or merges.
    pub threads: usize,
}

impl Plan {
    /// Whether there are more threads than cores (then no stage should busy-spin).
    pub fn oversubscribed(&self) -> bool {
        self.threads > self.cores.len().max(1)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |c: Option<usize>| c.map_or("-".to_string(), |c| c.to_string());
        write!(
            f,
            "{} threads on {} cores{}; distributor: {}; workers: [",
            self.threads,
            self.cores.len(),
            if self.oversubscribed() {
                " (oversubscribed)"
            } else {
                ""
            },
            show(self.distributor)
        )?;
        for (i, w) in self.workers.iter().enumerate() {
            write!(f, "{}{}", if i > 0 { ", " } else { "" }, show(*w))?;
        }
        write!(f, "]; merger: {}", show(self.merger))
    }
}

/// The cores this process may run on, ascending: the affinity mask of the process (its main
/// thread's, `sched_getaffinity(getpid())` on Linux), read once, when the library is loaded
/// (before `main`), so it does not depend on which thread asks, nor on a thread (the main one
/// included) that narrows its own mask later. It is what `taskset`, `numactl`, a cgroup
/// `cpuset` or a container's CPU limits give the process.
///
/// Elsewhere (and if the mask cannot be read) it is what `core_affinity` lists for the
/// calling thread, or `0..available_parallelism()`.
pub fn available_cores() -> Vec<usize> {
    process().ids.clone()
}

/// The process's cores, and on Linux the mask they came from.
struct ProcessCores {
    ids: Vec<usize>,
    /// Used by `pin_current`, which is a no-op under loom and shuttle.
    #[cfg(target_os = "linux")]
    #[cfg_attr(any(fanring_loom, feature = "shuttle"), allow(dead_code))]
    mask: Option<libc::cpu_set_t>,
}

static PROCESS: std::sync::OnceLock<ProcessCores> = std::sync::OnceLock::new();

/// The process's cores, read on first use (at load time on Linux, see `READ_AT_LOAD`).
fn process() -> &'static ProcessCores {
    PROCESS.get_or_init(read_process_cores)
}

/// Reads the process's mask before `main` runs, while the main thread is the only thread and
/// still has the mask the process was started with: a program that pins its main thread
/// later does not narrow what the engines see. The same mechanism std uses to capture `argv`
/// on glibc. It cannot panic (`read_process_cores` only reads and falls back).
#[cfg(all(target_os = "linux", not(any(fanring_loom, feature = "shuttle"))))]
#[used]
#[link_section = ".init_array"]
static READ_AT_LOAD: extern "C" fn() = {
    extern "C" fn read_at_load() {
        let _ = process();
    }
    read_at_load
};

fn read_process_cores() -> ProcessCores {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `cpu_set_t` is a plain bit array, valid when zeroed; `sched_getaffinity`
        // writes at most `size_of::<cpu_set_t>()` bytes into it. `getpid()` names the
        // process's main thread, whichever thread calls this.
        let mask = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            (libc::sched_getaffinity(libc::getpid(), size, &raw mut set) == 0).then_some(set)
        };
        if let Some(set) = mask {
            let max = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
            // SAFETY: `CPU_ISSET` reads bit `i < CPU_SETSIZE` of an initialised set.
            let ids: Vec<usize> = (0..max)
                .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
                .collect();
            if !ids.is_empty() {
                return ProcessCores {
                    ids,
                    mask: Some(set),
                };
            }
        }
    }
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    if ids.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        ids = (0..n).collect();
    }
    ProcessCores {
        ids,
        #[cfg(target_os = "linux")]
        mask: None,
    }
}

/// Which roles get threads of their own (else the caller plays them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Roles {
    /// A distributor thread (`run`, `run_with_sink`).
    pub(crate) distributor: bool,
    /// A merger thread (`run_with_sink`).
    pub(crate) merger: bool,
    /// The caller's one thread distributes and merges (`drive`): one thread fewer.
    pub(crate) caller_distributes_and_merges: bool,
}

/// Resolves `pinning` for `workers` workers and the threads of `roles`.
pub(crate) fn plan(pinning: &Pinning, workers: usize, roles: Roles) -> Result<Plan, BuildError> {
    let Roles {
        distributor: own_distributor,
        merger: own_merger,
        caller_distributes_and_merges: one_caller,
    } = roles;
    let cores = available_cores();
    // The caller's thread distributes and merges: one thread fewer.
    let threads = workers + 2 - usize::from(one_caller);
    let mut plan = Plan {
        distributor: None,
        workers: vec![None; workers],
        merger: None,
        cores: cores.clone(),
        threads,
    };
    match pinning {
        Pinning::None => {}
        Pinning::Auto => {
            // The caller's thread, when it distributes and merges, handles every item twice
            // and is not pinned: leave it the first core and give each worker one of the
            // others. If there are not enough, pinning can only go wrong one way or the
            // other (workers sharing the caller's core slow the caller when the work is
            // light; workers sharing one core halve their throughput when it is heavy), so
            // leave the workers to the OS, which moves them where there is room.
            if one_caller && cores.len() > 1 {
                if workers < cores.len() {
                    for (w, &c) in plan.workers.iter_mut().zip(&cores[1..]) {
                        *w = Some(c);
                    }
                }
                return Ok(plan);
            }
            let mut next = cores.iter().copied().cycle();
            if own_distributor {
                plan.distributor = next.next();
            }
            for w in &mut plan.workers {
                *w = next.next();
            }
            if own_merger {
                plan.merger = next.next();
            }
        }
        Pinning::Explicit {
            distributor,
            workers: wcores,
            merger,
        } => {
            if wcores.len() != workers {
                return Err(BuildError::PinCount {
                    workers,
                    cores: wcores.len(),
                });
            }
            let check = |c: usize| {
                if cores.contains(&c) {
                    Ok(c)
                } else {
                    Err(BuildError::NoSuchCore {
                        core: c,
                        available: cores.clone(),
                    })
                }
            };
            for (slot, &c) in plan.workers.iter_mut().zip(wcores) {
                *slot = Some(check(c)?);
            }
            if let Some(c) = distributor {
                let c = check(*c)?;
                plan.distributor = own_distributor.then_some(c);
            }
            if let Some(c) = merger {
                let c = check(*c)?;
                plan.merger = own_merger.then_some(c);
            }
        }
    }
    Ok(plan)
}

/// Pins the calling thread (one the engine spawned) to `core`; with `None`, lets it run on
/// every core of the process ([`available_cores`]): a spawned thread inherits the mask of the
/// thread that spawned it, which may have narrowed its own. A no-op under loom or shuttle,
/// whose threads are coroutines of the model's own scheduler.
pub(crate) fn pin_current(core: Option<usize>) {
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    match core {
        Some(id) => {
            // A refusal (a core taken away since the plan) leaves the thread unpinned, which
            // is always correct, only slower.
            let _ = core_affinity::set_for_current(core_affinity::CoreId { id });
        }
        None => {
            #[cfg(target_os = "linux")]
            if let Some(set) = &process().mask {
                // SAFETY: `set` is an initialised mask of `size_of::<cpu_set_t>()` bytes;
                // pid 0 is the calling thread. A refusal (every core of the mask taken away
                // since) leaves the inherited mask, which is correct, only narrower.
                let _ = unsafe {
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set)
                };
            }
        }
    }
    #[cfg(any(fanring_loom, feature = "shuttle"))]
    let _ = core;
}
