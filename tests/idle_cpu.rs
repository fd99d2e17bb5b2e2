//! An idle engine burns (next to) no CPU: the target for the wait strategy.
//!
//! `Engine::builder().workers(2).map(..).run_source(rx)` on a `std::sync::mpsc` channel is
//! fed 1000 items about 100 µs apart (each read back from the output), then nothing for 20 ms;
//! then the process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`: every thread's, user + system) is
//! read over the next 10 ms, during which this thread sleeps. Every thread of the engine is
//! waiting then (the distributor in the channel's `recv`, the workers and the merger in the
//! engine's waits), so the window should cost under 1 % of one core (100 µs in 10 ms).
//!
//! A test binary of its own with a single test, so that no other test's threads run in the
//! process while the window is measured. `fanbench --measure idle` shows the same figure for
//! each latency configuration and the rtrb pipeline.

#![cfg(target_os = "linux")]

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The process's CPU time, nanoseconds (all threads, user + system).
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Voluntary and involuntary context switches of the process so far.
fn process_switches() -> i64 {
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    ru.ru_nvcsw as i64 + ru.ru_nivcsw as i64
}

const ITEMS: u64 = 1000;
const GAP: Duration = Duration::from_micros(100);
const QUIET: Duration = Duration::from_millis(20);
const WINDOW: Duration = Duration::from_millis(10);

#[test]
fn an_idle_engine_uses_under_one_percent_of_a_core() {
    let (tx, rx) = mpsc::channel::<u64>();
    let mut out = fanring::Engine::builder()
        .workers(2)
        .map(|x: u64| x + 1)
        .run_source(rx)
        .expect("the engine starts");

    // Traffic first, so every wait has woken and gone back to waiting many times.
    let start = Instant::now();
    for i in 0..ITEMS {
        let due = start + GAP * (i as u32);
        if let Some(left) = due.checked_duration_since(Instant::now()) {
            thread::sleep(left);
        }
        tx.send(i).expect("the distributor takes its source");
        assert_eq!(out.next(), Some(i + 1), "item {i} through the engine");
    }

    // Then nothing: the engine settles into its idle state.
    thread::sleep(QUIET);
    let (cpu0, csw0, t0) = (process_cpu_ns(), process_switches(), Instant::now());
    thread::sleep(WINDOW);
    let (cpu1, csw1, wall) = (process_cpu_ns(), process_switches(), t0.elapsed());

    drop(tx);
    assert_eq!(out.next(), None, "the output ends with its source");
    out.join().expect("the engine ends cleanly");

    let cpu = Duration::from_nanos(cpu1.saturating_sub(cpu0));
    let pct = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    let limit = wall / 100;
    // The figure, whatever the verdict (`cargo test --test idle_cpu -- --nocapture`).
    eprintln!(
        "idle engine: {:.1} µs of CPU in a {:.2} ms window ({pct:.3} % of one core), {} \
         context switches",
        cpu.as_secs_f64() * 1e6,
        wall.as_secs_f64() * 1e3,
        csw1 - csw0
    );
    assert!(
        cpu < limit,
        "an idle engine (2 workers, map, std mpsc source, no input for {QUIET:?} after {ITEMS} \
         items {GAP:?} apart) used {:.1} µs of CPU in a {:.2} ms window: {pct:.2} % of one \
         core, {} context switches; the target is under 1 % ({:.1} µs)",
        cpu.as_secs_f64() * 1e6,
        wall.as_secs_f64() * 1e3,
        csw1 - csw0,
        limit.as_secs_f64() * 1e6,
    );
}
