//! The open-loop source of the latency runs: items released at their scheduled times.

use std::thread;
use std::time::{Duration, Instant};

use crate::item::{Clock, Item};

/// Gap before the first scheduled item, so that every runner's threads are up before the
/// schedule starts (thread start-up would otherwise count as the first items' latency).
pub const PACE_LEAD: Duration = Duration::from_millis(2);

/// While more than this is left before an item's due time the pacer sleeps; then it yields.
pub const PACE_SLEEP_ABOVE: Duration = Duration::from_micros(15);

/// What the pacer sleeps short of the due time (a sleep with 1 ns timer slack wakes about
/// 6 µs late here); the rest is waited with `yield_now`.
pub const PACE_SLEEP_MARGIN: Duration = Duration::from_micros(10);

/// An open-loop source: item `i` (value `i`) is released at its scheduled time
/// `epoch + i / rate` and carries that time as its stamp (`t0`), so the consumer records
/// `exit - scheduled`: latency counted from the schedule, not from when the item was actually
/// handed over (coordinated omission corrected, as wrk2 and HdrHistogram do). If the pacer
/// falls behind (the pipeline pushes back, or a wake-up comes late), due items go out at once
/// and still count from their scheduled time.
///
/// Waiting never spins on a core: more than [`PACE_SLEEP_ABOVE`] before the due time the
/// thread sleeps until [`PACE_SLEEP_MARGIN`] before it (on Linux with its timer slack set to
/// 1 ns on first use, instead of the default 50 µs), then calls `yield_now` until the due time,
/// which hands the core to any runnable thread of the pipeline. The clock is read only when
/// the next item is not yet known to be due: at high rates one read releases every item due by
/// then.
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
            if left > PACE_SLEEP_ABOVE {
                thread::sleep(left - PACE_SLEEP_MARGIN);
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
