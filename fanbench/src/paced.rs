//! The open-loop source of the latency runs: items released at their scheduled times.

use std::thread;
use std::time::{Duration, Instant};

use crate::item::{Clock, Item};

/// Gap before the first scheduled item, so that every runner's threads are up before the
/// schedule starts (thread start-up would otherwise count as the first items' latency).
pub const PACE_LEAD: Duration = Duration::from_millis(2);

/// What the pacer sleeps short of the due time beyond its sleeps' measured lateness (a sleep
/// with 1 ns timer slack wakes 6–22 µs late on the development VMs, depending on the day);
/// the rest is waited with `yield_now`.
pub const PACE_SLEEP_MARGIN: Duration = Duration::from_micros(5);

/// What the pacer assumes a sleep wakes late by before it has measured one.
const PACE_INITIAL_LATE_NS: u64 = 25_000;

/// The most one sleep's lateness counts for (a preempted wake is not the timer's lateness).
const PACE_MAX_LATE_NS: u64 = 100_000;

/// An open-loop source: item `i` (value `i`) is released at its scheduled time
/// `epoch + i / rate` and carries that time as its stamp (`t0`), so the consumer records
/// `exit - scheduled`: latency counted from the schedule, not from when the item was actually
/// handed over (coordinated omission corrected, as wrk2 and HdrHistogram do). If the pacer
/// falls behind (the pipeline pushes back, or a wake-up comes late), due items go out at once
/// and still count from their scheduled time.
///
/// Waiting never spins on a core: while the due time is further away than its sleeps wake
/// late (measured: a moving average of each sleep's lateness) plus [`PACE_SLEEP_MARGIN`], the
/// thread sleeps until then (on Linux with its timer slack set to 1 ns on first use, instead of
/// the default 50 µs); then it calls `yield_now` until the due time, which hands the core to
/// any runnable thread of the pipeline. So an item is released within a few µs of its due time
/// (measured alone: 0.3 µs median), whatever the machine's timer lateness, and every
/// configuration's latency is its own, not the pacer's. The clock is read only when the next
/// item is not yet known to be due: at high rates one read releases every item due by then.
///
/// A plain `Iterator + Send`: it goes to `Pipeline::run`, the seed's split thread or the
/// rtrb distributor as is (and through a one-line adapter to a future `Source` trait).
#[derive(Clone, Debug)]
pub struct Paced {
    epoch: Instant,
    n: u64,
    next: u64,
    /// Nanoseconds between scheduled items (0: everything is due at `epoch`).
    gap_ns: f64,
    /// The last clock reading, in nanoseconds since `epoch`.
    now_ns: u64,
    slack_set: bool,
    /// Moving average of how late a sleep wakes, in nanoseconds.
    late_ns: u64,
}

impl Paced {
    /// `n` items at `rate` items per second (`f64::INFINITY`: all due at once, the saturation
    /// run), the schedule starting [`PACE_LEAD`] from now.
    pub fn new(n: u64, rate: f64) -> Self {
        let gap_ns = if rate.is_finite() && rate > 0.0 {
            1e9 / rate
        } else {
            0.0
        };
        Paced {
            epoch: Instant::now() + PACE_LEAD,
            n,
            next: 0,
            gap_ns,
            now_ns: 0,
            slack_set: false,
            late_ns: PACE_INITIAL_LATE_NS,
        }
    }

    /// The schedule's zero.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The consumer's clock for this schedule (latency = now − scheduled time).
    pub fn clock(&self) -> Clock {
        Clock::at(self.epoch)
    }

    /// Waits until `due_ns` after the epoch; returns the time read last, in nanoseconds
    /// since the epoch.
    fn wait_until(&mut self, due_ns: u64) -> u64 {
        if !self.slack_set {
            self.slack_set = true;
            fine_timer_slack();
        }
        let due = self.epoch + Duration::from_nanos(due_ns);
        loop {
            let now = Instant::now();
            if now >= due {
                return now.duration_since(self.epoch).as_nanos() as u64;
            }
            let left = due - now;
            let early = Duration::from_nanos(self.late_ns) + PACE_SLEEP_MARGIN;
            if left > early {
                let want = left - early;
                thread::sleep(want);
                let late = now.elapsed().saturating_sub(want).as_nanos() as u64;
                let late = late.min(PACE_MAX_LATE_NS);
                self.late_ns = self.late_ns - self.late_ns / 8 + late / 8;
            } else {
                thread::yield_now();
            }
        }
    }
}

impl Iterator for Paced {
    type Item = Item;

    #[inline]
    fn next(&mut self) -> Option<Item> {
        if self.next == self.n {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let due = (i as f64 * self.gap_ns) as u64;
        // The first item waits for the epoch (the lead); later ones read the clock only when
        // the last reading does not already make them due.
        if i == 0 || due > self.now_ns {
            self.now_ns = self.wait_until(due);
        }
        Some(Item {
            value: i,
            t0: due + 1,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.n - self.next) as usize;
        (left, Some(left))
    }
}

/// Sets this thread's timer slack to 1 ns (Linux), so that a sleep wakes within a few
/// microseconds instead of the default 50 µs late. Only the pacing thread calls it.
fn fine_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer and changes only the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}
