//! The idle check (`--measure idle`): what a pipeline burns while its input is quiet. Each
//! latency configuration (and the rtrb pipeline) is built on a source that blocks on a
//! channel, fed [`IDLE_FEED`] items [`IDLE_GAP`] apart (so its waits have seen traffic), then
//! given nothing for [`IDLE_WINDOW`] while the source waits; the process's CPU time in that
//! window, every thread's, is the figure. This thread sleeps through the window, and the
//! progress bar has no thread of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use fanbench::baselines::RunError;
use fanbench::{Clock, Item};
use indicatif::ProgressBar;

use crate::cli::Args;
use crate::measure::cpu::{CpuMark, CpuUse};
use crate::measure::latency::sync_source;
use crate::plan::{LatImpl, LAT_IMPLS};
use crate::report::IdleRow;
use crate::stats::median_of;

/// Items fed before the quiet window.
pub const IDLE_FEED: u64 = 64;

/// Between two fed items.
pub const IDLE_GAP: Duration = Duration::from_micros(100);

/// The quiet window measured.
pub const IDLE_WINDOW: Duration = Duration::from_millis(10);

/// How long the fed items may take to get through before the check gives up.
const FEED_DEADLINE: Duration = Duration::from_secs(10);

/// One configuration: fed, then quiet for [`IDLE_WINDOW`] from the moment the last fed item
/// has been through the work. Returns what the process used in the window (`None` off
/// Linux).
///
/// # Panics
/// If the fed items do not all get through the work within 10 s, or come out short.
pub fn idle_run(imp: LatImpl, workers: usize, args: &Args) -> Result<Option<CpuUse>, RunError> {
    let (tx, rx) = mpsc::channel::<u64>();
    let done = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&done);
    let f = move |x: u64| {
        seen.fetch_add(1, Ordering::Release);
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    };
    let source = rx.into_iter().map(|value| Item { value, t0: 0 });
    let clock = Clock::at(Instant::now());
    thread::scope(|s| {
        let run = s.spawn(|| sync_source(imp, source, clock, workers, f, None, args));
        let start = Instant::now();
        for i in 0..IDLE_FEED {
            let due = start + IDLE_GAP * (i as u32);
            if let Some(left) = due.checked_duration_since(Instant::now()) {
                thread::sleep(left);
            }
            tx.send(i)
                .expect("the pipeline takes its source until the end");
        }
        let deadline = Instant::now() + FEED_DEADLINE;
        while done.load(Ordering::Acquire) < IDLE_FEED {
            assert!(
                Instant::now() < deadline,
                "{}: the fed items did not get through in {FEED_DEADLINE:?}",
                imp.name()
            );
            thread::sleep(Duration::from_micros(50));
        }
        let mark = CpuMark::now();
        thread::sleep(IDLE_WINDOW);
        let used = mark.since();
        drop(tx);
        let tally = run.join().expect("the idle run panicked")?;
        assert_eq!(tally.count, IDLE_FEED, "{}: lost items", imp.name());
        Ok(used)
    })
}

/// Every configuration at every --latency-workers, interleaved rep by rep.
pub fn run_idle(args: &Args, bar: &ProgressBar) -> Result<Vec<IdleRow>, RunError> {
    let pairs: Vec<(usize, LatImpl)> = args
        .latency_workers
        .iter()
        .flat_map(|&w| LAT_IMPLS.iter().map(move |&i| (w, i)))
        .collect();
    let mut samples: Vec<Vec<Option<CpuUse>>> = vec![Vec::new(); pairs.len()];
    for rep in 0..args.reps {
        for (k, &(w, imp)) in pairs.iter().enumerate() {
            bar.set_message(format!("idle W={w} {} (rep {})", imp.name(), rep + 1));
            samples[k].push(idle_run(imp, w, args)?);
            bar.inc(1);
        }
    }
    Ok(pairs
        .iter()
        .zip(samples)
        .map(|(&(w, imp), v)| {
            let pct = |c: &CpuUse| 100.0 * c.cores_busy();
            IdleRow {
                config: imp.name().to_string(),
                workers: w,
                fed: IDLE_FEED,
                gap_us: IDLE_GAP.as_secs_f64() * 1e6,
                reps: args.reps,
                window_ms: median_of(&v, |c| c.map(|c| c.wall_secs * 1e3)),
                cpu_pct: median_of(&v, |c| c.as_ref().map(pct)),
                cpu_pct_max: v
                    .iter()
                    .map(|c| c.as_ref().map(pct))
                    .collect::<Option<Vec<f64>>>()
                    .map(|p| p.into_iter().fold(0.0, f64::max)),
                switches: median_of(&v, |c| c.map(|c| c.switches as f64)),
            }
        })
        .collect())
}

/// Runs the idle check takes (for the progress bar).
pub fn idle_runs(args: &Args) -> u64 {
    (args.latency_workers.len() * LAT_IMPLS.len()) as u64 * args.reps
}
