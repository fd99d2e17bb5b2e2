//! The shuttle suites' harness (`tests/shuttle.rs`, `tests/shuttle_spare.rs`): the
//! schedulers, counted items, the wait strategies the scenarios run with.

use fanring::WaitStrategy;
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{Config, Runner};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Once};

/// Iterations per scheduler per scenario (`SHUTTLE_ITERATIONS` overrides).
pub fn iterations(default: usize) -> usize {
    std::env::var("SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            default / 10
        } else {
            default
        })
        .max(1)
}

pub fn config() -> Config {
    let mut c = Config::new();
    // Every atomic is modelled as SeqCst; the warning saying so is printed once otherwise.
    c.silence_warnings = true;
    // Unwinding through the engine's `catch_unwind` needs more than the default 60 KiB.
    c.stack_size = 0x8_0000;
    c
}

/// `shuttle::check_random(f, n)`, with this suite's configuration.
pub fn check_random(f: impl Fn() + Send + Sync + 'static, n: usize) {
    setup();
    Runner::new(RandomScheduler::new(n), config()).run(f);
}

/// `shuttle::check_pct(f, n, depth)`, with this suite's configuration.
pub fn check_pct(f: impl Fn() + Send + Sync + 'static, n: usize, depth: usize) {
    setup();
    Runner::new(PctScheduler::new(depth, n), config()).run(f);
}

/// Both schedulers: random, then PCT with depth 3. `name` is printed first (the test's output
/// shows it only when it fails), so a failure that shuttle reports itself (a deadlock, the
/// step bound) names its scenario.
pub fn check_both<F: Fn() + Send + Sync + Clone + 'static>((name, f): (String, F), n: usize) {
    let n = iterations(n);
    eprintln!("scenario: {name}: random × {n}");
    check_random(f.clone(), n);
    eprintln!("scenario: {name}: pct(3) × {n}");
    check_pct(f, n, 3);
}

/// shuttle's panic hook announces every panic as a failed task (and prints the schedule),
/// even one the engine catches. Installed after it (a warm-up run installs shuttle's), this
/// hook keeps the deliberate panics (messages starting with "boom") quiet and hands every
/// other panic on.
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        Runner::new(RandomScheduler::new(1), config()).run(|| {});
        let shuttle_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.starts_with("boom") {
                shuttle_hook(info);
            }
        }));
    });
}

/// Strategies the scenarios run with. Parking with no spin and no yield is the default: every
/// wait announces and parks at once, so a lost wake-up is a deadlock shuttle reports. Spins
/// and yields are scheduling points under shuttle (the shim maps `spin_loop` to a yield).
pub const PARK: WaitStrategy = WaitStrategy::SpinThenPark {
    spins: 0,
    yields: 0,
};
pub const PARK_LATE: WaitStrategy = WaitStrategy::SpinThenPark {
    spins: 1,
    yields: 1,
};
pub const YIELD: WaitStrategy = WaitStrategy::SpinYield { spins: 1 };

/// Creation and drop counters of one execution (std atomics: bookkeeping, not modelled).
#[derive(Default)]
pub struct Counts {
    pub created: AtomicUsize,
    pub dropped: AtomicUsize,
}

impl Counts {
    pub fn assert_balanced(&self, what: &str) {
        let (c, d) = (self.created.load(SeqCst), self.dropped.load(SeqCst));
        assert_eq!(c, d, "{what}: {c} items created, {d} dropped");
    }

    /// After a drop, which detaches the engine's threads: they end by themselves (the
    /// scheduler runs them while this task yields), and then every item is dropped once.
    pub fn assert_balanced_eventually(&self, what: &str) {
        for _ in 0..100_000 {
            if self.created.load(SeqCst) == self.dropped.load(SeqCst) {
                break;
            }
            shuttle::thread::yield_now();
        }
        self.assert_balanced(what);
    }
}

/// An item whose creation and drop are counted.
pub struct Tracked {
    pub v: usize,
    counts: Arc<Counts>,
}

impl Tracked {
    pub fn new(v: usize, counts: &Arc<Counts>) -> Self {
        counts.created.fetch_add(1, SeqCst);
        Tracked {
            v,
            counts: Arc::clone(counts),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, SeqCst);
    }
}

/// A lazy source of `n` tracked items.
pub fn source(n: usize, counts: &Arc<Counts>) -> impl Iterator<Item = Tracked> + Send + 'static {
    let c = Arc::clone(counts);
    (0..n).map(move |i| Tracked::new(i, &c))
}
