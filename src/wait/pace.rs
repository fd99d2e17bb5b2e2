//! When a waiting thread expects its next item (`WaitStrategy::Adaptive`): each thread learns
//! the gap between the items its waits receive, and the lateness of its timed parks, so that it
//! can park until shortly before the next item is due and be hot (spinning, yielding) when it
//! comes. A heuristic only: it decides when to be hot and for how long, never whether to
//! re-check, so it cannot lose an item or a wake-up. Off under loom and shuttle (a model
//! must be deterministic; there `plan` always says "unknown").

/// Gaps longer than this are an idle spell, not a rate: the thread forgets what it learned.
const MAX_GAP_NS: u64 = 20_000_000;

/// A timed park is worth it only if it would sleep at least this long (a park and its timer
/// cost a few µs of CPU each).
const MIN_SLEEP_NS: u64 = 20_000;

/// What a timer wake is assumed to be late by before any has been measured (a VM's hrtimer:
/// measured 20–35 µs on the development VM), and the margin woken before that.
const INITIAL_LATE_NS: u64 = 30_000;
const MARGIN_NS: u64 = 5_000;

/// The least a wait stays hot past the expected time (the deviation decides beyond that).
const MIN_TOLERANCE_NS: u64 = 5_000;

/// What a thread knows of its arrivals.
#[derive(Clone, Copy, Debug)]
struct Pace {
    /// When the last wait ended with an item, on the fast clock (0: none yet).
    last: u64,
    /// Moving average of the gaps between those arrivals, and of their deviation from it.
    gap: u64,
    dev: u64,
    /// Gaps averaged so far (the estimate is trusted after a few).
    samples: u32,
    /// Moving average of how late a timed park wakes.
    late: u64,
}

#[cfg(not(any(fanring_loom, feature = "shuttle")))]
std::thread_local! {
    static PACE: std::cell::Cell<Pace> = const {
        std::cell::Cell::new(Pace { last: 0, gap: 0, dev: 0, samples: 0, late: INITIAL_LATE_NS })
    };
}

/// How the next wait should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// Nothing regular is known: spin, yield, park (`SpinThenPark`).
    Unknown,
    /// An item is expected: park until `sleep_until` (if set, and only a publish or the timer
    /// wakes it), then stay hot until `hot_until`, then park until woken.
    Expect {
        sleep_until: Option<u64>,
        hot_until: u64,
    },
}

/// The plan for a wait that starts at `now` (fast-clock ns) and may stay hot `hot_max` ns.
pub(super) fn plan(now: u64, hot_max: u64) -> Plan {
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    {
        decide(PACE.with(std::cell::Cell::get), now, hot_max)
    }
    #[cfg(any(fanring_loom, feature = "shuttle"))]
    {
        let _ = (now, hot_max);
        Plan::Unknown
    }
}

fn decide(p: Pace, now: u64, hot_max: u64) -> Plan {
    if p.samples < 4 || p.last == 0 {
        return Plan::Unknown;
    }
    let expected = p.last.saturating_add(p.gap);
    let tolerance = p.dev.saturating_mul(3).max(MIN_TOLERANCE_NS);
    let hot_until = expected.saturating_add(tolerance);
    if hot_until <= now {
        return Plan::Unknown; // overdue: the stream has gone quiet, or is irregular now
    }
    // Hot from the (measured) lateness of a timer before the expected time.
    let hot_from = expected.saturating_sub(p.late.saturating_add(MARGIN_NS));
    if hot_until - hot_from.max(now) > hot_max {
        // Too long hot for one item: the arrivals are too irregular to be worth it.
        return Plan::Unknown;
    }
    if hot_from >= now.saturating_add(MIN_SLEEP_NS) {
        // Sleep most of the gap.
        return Plan::Expect {
            sleep_until: Some(hot_from),
            hot_until,
        };
    }
    // Due soon (or a gap shorter than a timer's lateness): hot from now.
    Plan::Expect {
        sleep_until: None,
        hot_until,
    }
}

#[cfg(not(any(fanring_loom, feature = "shuttle")))]
std::thread_local! {
    /// This thread's timer slack is already fine (a thread the engine spawned).
    static PUNCTUAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The timer slack timed parks run with, in ns (Linux; the default is 50 µs, which a timed
/// park would otherwise wake late by).
#[cfg(all(target_os = "linux", not(any(fanring_loom, feature = "shuttle"))))]
const FINE_SLACK_NS: libc::c_ulong = 1_000;

/// Makes this thread's timed parks as punctual as the machine allows: called once by each
/// thread the engine spawns.
pub(crate) fn punctual_timers() {
    #[cfg(all(target_os = "linux", not(any(fanring_loom, feature = "shuttle"))))]
    {
        // SAFETY: PR_SET_TIMERSLACK takes an integer and changes only the calling thread.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, FINE_SLACK_NS, 0, 0, 0) };
        PUNCTUAL.with(|p| p.set(true));
    }
}

/// Parks for `d` at most (a publish or close wakes it earlier), with a fine timer slack: on a
/// thread of the caller's, its own slack is restored afterwards (two `prctl` calls around the
/// park), so the caller's other sleeps are left as they were.
pub(super) fn timed_park(d: std::time::Duration) {
    #[cfg(all(target_os = "linux", not(any(fanring_loom, feature = "shuttle"))))]
    if !PUNCTUAL.with(std::cell::Cell::get) {
        // SAFETY: PR_GET_TIMERSLACK / PR_SET_TIMERSLACK read and change only the calling
        // thread's slack.
        let old = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
        if let Ok(old) = libc::c_ulong::try_from(old) {
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, FINE_SLACK_NS, 0, 0, 0) };
            crate::loom::thread::park_timeout(d);
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, old, 0, 0, 0) };
            return;
        }
    }
    crate::loom::thread::park_timeout(d);
}

/// A wait ended with an item at `now`: one more gap to learn from.
pub(super) fn arrived(now: u64) {
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    PACE.with(|c| c.set(learn(c.get(), now)));
    #[cfg(any(fanring_loom, feature = "shuttle"))]
    let _ = now;
}

fn learn(mut p: Pace, now: u64) -> Pace {
    let gap = now.saturating_sub(p.last);
    if p.last == 0 || gap > MAX_GAP_NS {
        // The first arrival, or after an idle spell: start over.
        p.last = now;
        p.samples = 0;
        return p;
    }
    p.last = now;
    if p.samples == 0 {
        p.gap = gap;
        p.dev = gap / 2; // not regular until a few gaps agree
    } else {
        // Moving averages over about 8 gaps.
        let dev = gap.abs_diff(p.gap);
        p.gap = p.gap - p.gap / 8 + gap / 8;
        p.dev = p.dev - p.dev / 8 + dev / 8;
    }
    p.samples = p.samples.saturating_add(1);
    p
}

/// A timed park meant to end at `due` woke at `now` by its timer: learn its lateness.
pub(super) fn timer_woke(due: u64, now: u64) {
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    PACE.with(|c| {
        let mut p = c.get();
        let late = now.saturating_sub(due);
        p.late = p.late - p.late / 4 + late / 4;
        c.set(p);
    });
    #[cfg(any(fanring_loom, feature = "shuttle"))]
    let _ = (due, now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(gaps: &[u64]) -> Pace {
        let mut p = Pace {
            last: 0,
            gap: 0,
            dev: 0,
            samples: 0,
            late: INITIAL_LATE_NS,
        };
        let mut t = 1_000_000;
        p = learn(p, t);
        for g in gaps {
            t += g;
            p = learn(p, t);
        }
        p
    }

    #[test]
    fn regular_arrivals_plan_a_timed_park_then_a_hot_window() {
        let p = fed(&[100_000; 12]);
        let now = p.last + 1_000;
        match decide(p, now, 100_000) {
            Plan::Expect {
                sleep_until: Some(s),
                hot_until,
            } => {
                let expected = p.last + p.gap;
                assert!(s < expected && expected - s <= INITIAL_LATE_NS + MARGIN_NS);
                assert!(
                    hot_until > expected && hot_until - expected <= 3 * p.dev + MIN_TOLERANCE_NS
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_gaps_stay_hot_from_now() {
        let p = fed(&[10_000; 12]);
        assert!(matches!(
            decide(p, p.last + 1_000, 100_000),
            Plan::Expect {
                sleep_until: None,
                ..
            }
        ));
    }

    #[test]
    fn irregular_idle_or_overdue_arrivals_are_unknown() {
        let p = fed(&[
            10_000, 300_000, 20_000, 900_000, 5_000, 400_000, 30_000, 700_000,
        ]);
        assert_eq!(decide(p, p.last + 1_000, 100_000), Plan::Unknown);
        let p = fed(&[100_000; 12]);
        assert_eq!(decide(p, p.last + 500_000, 100_000), Plan::Unknown);
        let p = fed(&[100_000, 100_000, MAX_GAP_NS + 1]);
        assert_eq!(decide(p, p.last + 1_000, 100_000), Plan::Unknown);
        assert_eq!(decide(fed(&[100_000]), 0, 100_000), Plan::Unknown);
    }
}
