//! What a run costs the machine: the process's CPU time (every thread's, those that ended
//! during the run included) and its context switches, read before and after the run.
//!
//! CPU time is `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` (nanoseconds, user + system), the
//! switches `getrusage(RUSAGE_SELF)`'s `ru_nvcsw + ru_nivcsw` (voluntary: a thread blocked,
//! e.g. parked on a futex; involuntary: it was preempted). Both count the whole process, so
//! nothing else of fanbench may run meanwhile: the progress bar has no ticker thread (it
//! draws only when the main thread moves it, between runs), and every runner joins its
//! threads before it returns. On other systems than Linux nothing is read ([`CpuMark::since`]
//! gives `None`).

use std::time::Instant;

/// The process's CPU clock and switch count at one moment.
#[derive(Clone, Copy, Debug)]
pub struct CpuMark {
    at: Instant,
    cpu_ns: Option<u64>,
    switches: u64,
}

/// What the process used between a [`CpuMark`] and now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuUse {
    /// Wall-clock seconds.
    pub wall_secs: f64,
    /// CPU seconds, every thread of the process together (user + system).
    pub cpu_secs: f64,
    /// Voluntary and involuntary context switches of every thread.
    pub switches: u64,
}

impl CpuUse {
    /// CPU seconds per wall second: how many cores the run kept busy on average.
    pub fn cores_busy(&self) -> f64 {
        self.cpu_secs / self.wall_secs.max(1e-12)
    }

    /// Microseconds of CPU per item.
    pub fn cpu_us_per_item(&self, items: u64) -> f64 {
        self.cpu_secs * 1e6 / items.max(1) as f64
    }

    /// Context switches per item.
    pub fn switches_per_item(&self, items: u64) -> f64 {
        self.switches as f64 / items.max(1) as f64
    }
}

impl CpuMark {
    /// Reads the clocks now.
    pub fn now() -> Self {
        // Wall clock last, so the CPU reads are inside the wall interval of `since`.
        let (cpu_ns, switches) = (process_cpu_ns(), process_switches());
        CpuMark {
            at: Instant::now(),
            cpu_ns,
            switches,
        }
    }

    /// What the process used since this mark (`None` where the CPU clock cannot be read).
    pub fn since(&self) -> Option<CpuUse> {
        let wall_secs = self.at.elapsed().as_secs_f64();
        let (cpu_ns, switches) = (process_cpu_ns()?, process_switches());
        Some(CpuUse {
            wall_secs,
            cpu_secs: cpu_ns.saturating_sub(self.cpu_ns?) as f64 / 1e9,
            switches: switches.saturating_sub(self.switches),
        })
    }
}

/// Runs `f` and returns its result with what the process used meanwhile.
pub fn cpu_of<T>(f: impl FnOnce() -> T) -> (T, Option<CpuUse>) {
    let mark = CpuMark::now();
    let out = f();
    (out, mark.since())
}

/// The process's CPU time in nanoseconds (all threads, user + system).
#[cfg(target_os = "linux")]
fn process_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Context switches of every thread of the process, voluntary and involuntary.
#[cfg(target_os = "linux")]
fn process_switches() -> u64 {
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    (ru.ru_nvcsw as u64).wrapping_add(ru.ru_nivcsw as u64)
}

#[cfg(not(target_os = "linux"))]
fn process_cpu_ns() -> Option<u64> {
    None
}

#[cfg(not(target_os = "linux"))]
fn process_switches() -> u64 {
    0
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    // The clocks count the whole process, and the other unit tests run on threads beside
    // this one: only lower bounds hold.
    #[test]
    fn a_busy_loop_counts_its_cpu_and_a_sleep_its_switch() {
        let (_, used) = cpu_of(|| {
            let start = Instant::now();
            let mut x = 1u64;
            while start.elapsed().as_millis() < 20 {
                x = std::hint::black_box(x.wrapping_mul(3));
            }
            x
        });
        let u = used.expect("Linux has a process CPU clock");
        // A busy loop counts CPU time (how much depends on what else the machine runs: the
        // test suite's other threads share its cores).
        assert!(u.cpu_secs > 0.0 && u.cores_busy() > 0.0, "{u:?}");
        assert!(
            (u.cpu_us_per_item(2) - u.cpu_secs * 5e5).abs() < 1e-6,
            "{u:?}"
        );
        let (_, used) = cpu_of(|| std::thread::sleep(std::time::Duration::from_millis(5)));
        let u = used.expect("Linux has a process CPU clock");
        assert!(u.wall_secs >= 0.005, "{u:?}");
        assert!(u.switches >= 1, "a sleep blocks the thread: {u:?}");
    }
}
