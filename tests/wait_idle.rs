//! A side waiting with `SpinThenPark` uses (almost) no CPU while idle, and wakes when the
//! other side publishes or closes.
//!
//! The waiting thread reads its own CPU time from `/proc/thread-self/stat` (utime + stime, in
//! clock ticks) and, where the kernel keeps it, `/proc/thread-self/schedstat` (run time in ns),
//! before and after the wait. Only upper bounds on CPU time are asserted, and they are
//! generous: the spin and yield phases before parking take microseconds, and a parked thread
//! is charged nothing, however loaded the machine is. Where `/proc` is missing the CPU checks
//! are skipped (with a note) and the wake-up checks still run.

use fanring::ring::{channel_with, PopError, PushError};
use fanring::WaitStrategy;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// How long the waiter stays idle.
const IDLE: Duration = Duration::from_millis(300);
/// The most CPU an idle wait may use: a third of the idle time. A spinning or yielding waiter
/// with a core to itself would use all of it; a parked one uses a few microseconds.
const MAX_CPU_TICKS: u64 = 10; // USER_HZ is 100 on Linux: 10 ticks = 100 ms
const MAX_CPU_NS: u64 = 100_000_000;

/// The calling thread's CPU time so far.
#[derive(Clone, Copy, Debug)]
struct Cpu {
    /// utime + stime, in clock ticks.
    ticks: u64,
    /// Time on CPU in ns, if the kernel keeps schedstat (0 is taken as "not kept").
    run_ns: Option<u64>,
}

fn cpu_now() -> Option<Cpu> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let run_ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .filter(|&ns| ns > 0);
    Some(Cpu {
        ticks: utime + stime,
        run_ns,
    })
}

/// CPU used between two samples: (ticks, ns if both samples have it).
fn used(before: Cpu, after: Cpu) -> (u64, Option<u64>) {
    let ns = match (before.run_ns, after.run_ns) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    (after.ticks - before.ticks, ns)
}

/// Whether this thread's CPU time as read from `/proc` moves at all: burn CPU until it does
/// (at least two ticks), giving up after a long wall-clock limit (heavily loaded machine or
/// a kernel that does not account per thread). Without that, a zero reading proves nothing.
fn measurement_works() -> bool {
    let Some(start) = cpu_now() else {
        eprintln!("note: /proc/thread-self/stat unavailable: CPU-time checks skipped");
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut x = 1u64;
    while Instant::now() < deadline {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        if cpu_now().is_some_and(|now| now.ticks >= start.ticks + 2) {
            return true;
        }
    }
    eprintln!("note: this thread's CPU time did not move in 20 s: CPU-time checks skipped");
    false
}

fn check_idle(what: &str, cpu: Option<(u64, Option<u64>)>, measured: bool) {
    match cpu {
        Some((ticks, ns)) if measured => {
            eprintln!("{what}: {ticks} ticks, {ns:?} ns of CPU while idle for {IDLE:?}");
            assert!(
                ticks <= MAX_CPU_TICKS,
                "{what}: {ticks} clock ticks of CPU while idle (max {MAX_CPU_TICKS})"
            );
            if let Some(ns) = ns {
                assert!(ns <= MAX_CPU_NS, "{what}: {ns} ns of CPU while idle");
            }
        }
        _ => eprintln!("note: {what}: CPU time not checked"),
    }
}

/// Runs `f` on a fresh thread and returns its result and the CPU it used (if measurable).
fn measured<R>(f: impl FnOnce() -> R) -> (R, Option<(u64, Option<u64>)>) {
    let before = cpu_now();
    let r = f();
    let after = cpu_now();
    (r, before.zip(after).map(|(b, a)| used(b, a)))
}

#[test]
fn parked_consumer_uses_no_cpu_and_wakes() {
    for wait in [
        WaitStrategy::SPIN_THEN_PARK,
        WaitStrategy::SpinThenPark {
            spins: 1000,
            yields: 100,
        },
    ] {
        let (mut tx, mut rx) = channel_with::<u64>(4, wait).unwrap();
        let ready = Arc::new(Barrier::new(2));
        let consumer = thread::spawn({
            let ready = Arc::clone(&ready);
            move || {
                let works = measurement_works();
                ready.wait();
                // Phase 1: blocked on an empty ring until the item comes.
                let (first, cpu1) = measured(|| rx.pop());
                ready.wait();
                // Phase 2: blocked again until the producer closes.
                let (second, cpu2) = measured(|| rx.pop());
                (works, first, cpu1, second, cpu2)
            }
        });
        ready.wait();
        thread::sleep(IDLE);
        tx.try_push(42).unwrap();
        ready.wait();
        thread::sleep(IDLE / 3);
        tx.close();
        let (works, first, cpu1, second, cpu2) = consumer.join().expect("consumer panicked");
        assert_eq!(
            first,
            Some(42),
            "{wait:?}: the push wakes the consumer with the item"
        );
        assert_eq!(
            second, None,
            "{wait:?}: the close wakes the consumer with None"
        );
        check_idle(
            &format!("{wait:?} consumer waiting for an item"),
            cpu1,
            works,
        );
        check_idle(
            &format!("{wait:?} consumer waiting for the close"),
            cpu2,
            works,
        );
    }
}

#[test]
fn parked_producer_uses_no_cpu_and_wakes() {
    let wait = WaitStrategy::SPIN_THEN_PARK;
    let (mut tx, mut rx) = channel_with::<u64>(1, wait).unwrap();
    tx.try_push(1).unwrap();
    let ready = Arc::new(Barrier::new(2));
    let producer = thread::spawn({
        let ready = Arc::clone(&ready);
        move || {
            let works = measurement_works();
            ready.wait();
            // Phase 1: blocked on a full ring until the consumer takes the item.
            let (first, cpu1) = measured(|| tx.push(2));
            ready.wait();
            // Phase 2: full again, blocked until the consumer goes away.
            let (second, cpu2) = measured(|| tx.push(3));
            (works, first, cpu1, second, cpu2)
        }
    });
    ready.wait();
    thread::sleep(IDLE);
    assert_eq!(rx.try_pop(), Ok(1));
    ready.wait();
    thread::sleep(IDLE / 3);
    // The producer may already have pushed 2 (it was woken); closing must wake its next wait.
    rx.close();
    let (works, first, cpu1, second, cpu2) = producer.join().expect("producer panicked");
    assert_eq!(
        first,
        Ok(()),
        "the pop wakes the producer, whose push then succeeds"
    );
    assert!(
        matches!(second, Err(PushError::Closed(3))),
        "the close wakes the producer with Closed(3)"
    );
    assert_eq!(rx.try_pop(), Ok(2));
    assert_eq!(
        rx.try_pop(),
        Err(PopError::Closed),
        "the producer thread ended"
    );
    check_idle("producer waiting for room", cpu1, works);
    check_idle("producer waiting for the close", cpu2, works);
}

#[test]
fn timed_wait_parks_and_times_out() {
    let (_tx, mut rx) = channel_with::<u64>(4, WaitStrategy::SPIN_THEN_PARK).unwrap();
    let waiter = thread::spawn(move || {
        let works = measurement_works();
        let start = Instant::now();
        let (r, cpu) = measured(|| rx.pop_timeout(IDLE));
        // A lower bound only: it cannot return Empty before the deadline.
        assert!(start.elapsed() >= IDLE);
        (works, r, cpu)
    });
    let (works, r, cpu) = waiter.join().expect("waiter panicked");
    assert_eq!(r, Err(PopError::Empty));
    check_idle("consumer in pop_timeout", cpu, works);
}
