//! When a waiting thread expects its next item (`WaitStrategy::Adaptive`): each thread learns
//! the gap between the items its waits receive, and the lateness of its timed parks, so that it
//! can park until shortly before the next item is due and be hot (spinning, yielding) when it
//! comes. A heuristic only: it decides when to be hot and for how long, never whether to
//! re-check, so it cannot lose an item or a wake-up. Off under loom and shuttle (a model
//! must be deterministic; there `plan` always says "unknown").

// Under loom and shuttle only `plan`'s "unknown" is used.
#![cfg_attr(any(fanring_loom, feature = "shuttle"), allow(dead_code))]

/// Gaps longer than this are an idle spell, not a rate: the thread forgets what it learned.
const MAX_GAP_NS: u64 = 20_000_000;

/// A timed park is worth it only if it would sleep at least this long (a park and its timer
/// cost a few µs of CPU each).
const MIN_SLEEP_NS: u64 = 20_000;

/// What a timer wake is assumed to be late by before any has been measured (a VM's hrtimer:
/// measured 20–35 µs on the development VM), and the margin woken before that.
const INITIAL_LATE_NS: u64 = 30_000;
const MARGIN_NS: u64 = 5_000;

/// The most one timed park's lateness counts for.
const MAX_LATE_NS: u64 = 60_000;

/// The least a wait stays hot past the expected time (the deviation decides beyond that).
const MIN_TOLERANCE_NS: u64 = 20_000;

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
    /// How much earlier than the timer's lateness and the margin to be hot: grown when an
    /// item was already there when the thread became hot, shrunk while items come hot.
    advance: u64,
}

#[cfg(not(any(fanring_loom, feature = "shuttle")))]
std::thread_local! {
    static PACE: std::cell::Cell<Pace> = const {
        std::cell::Cell::new(Pace {
            last: 0, gap: 0, dev: 0, samples: 0, late: INITIAL_LATE_NS, advance: 0,
        })
    };
}

/// How the next wait should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// Nothing regular is known: spin, yield, park (`SpinThenPark`).
    Unknown,
    /// An item is expected.
    Expect(Expectation),
}

/// An expected item: park until `sleep_until` (if set, and only a publish or the timer wakes
/// it), then stay hot until `hot_until`, then park until woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Expectation {
    pub(super) sleep_until: Option<u64>,
    pub(super) hot_until: u64,
    pub(super) expected: u64,
    /// Items at least [`QUIET_GAP_NS`] apart, and paced (regular, or further apart than the
    /// hot budget): a yield that ran another thread long means a shared core (in a busy
    /// stream, it ran the stages that make the items).
    pub(super) quiet: bool,
}

/// Items at least this far apart make a quiet stream (see `Expectation::quiet`).
const QUIET_GAP_NS: u64 = 20_000;

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
    let lead = p.late.saturating_add(MARGIN_NS).saturating_add(p.advance);
    // Items further apart than a timer's reach, arriving irregularly (a deviation of a third
    // of the gap or more: say, a Poisson stream): no time is worth being hot at. (Closer
    // together, the wait is hot from now anyway.)
    if p.gap > lead.saturating_add(MIN_SLEEP_NS) && p.dev.saturating_mul(3) > p.gap {
        return Plan::Unknown;
    }
    let expected = p.last.saturating_add(p.gap);
    // A quiet stream: items far apart, and paced (regular, or further apart than the hot
    // budget). Irregular gaps shorter than that are a busy pipeline's runs (say, engines
    // chained with more threads than cores), where a yield that ran another thread ran the
    // stages that make the items, and parking instead costs a wake-up each.
    let quiet = p.gap >= QUIET_GAP_NS && (p.dev.saturating_mul(3) <= p.gap || p.gap > hot_max);
    let tolerance = p.dev.saturating_mul(3).max(MIN_TOLERANCE_NS);
    if p.gap <= hot_max {
        // Items closer together than the hot budget: hot from now until the next one (a
        // timed park would save less than it risks).
        return Plan::Expect(Expectation {
            sleep_until: None,
            hot_until: expected
                .saturating_add(tolerance)
                .min(now.saturating_add(hot_max)),
            expected,
            quiet,
        });
    }
    // Hot from the (measured) lateness of a timer before the expected time, and until the
    // expected time plus a tolerance; at most `hot_max` in all.
    let hot_from = expected.saturating_sub(lead);
    let hot_until = expected
        .saturating_add(tolerance)
        .min(hot_from.max(now).saturating_add(hot_max));
    if hot_until <= now {
        return Plan::Unknown; // overdue: the stream has gone quiet, or slowed down
    }
    if hot_from >= now.saturating_add(MIN_SLEEP_NS) {
        // Sleep most of the gap.
        return Plan::Expect(Expectation {
            sleep_until: Some(hot_from),
            hot_until,
            expected,
            quiet,
        });
    }
    // Due soon (or a gap shorter than a timer's lateness): hot from now.
    Plan::Expect(Expectation {
        sleep_until: None,
        hot_until,
        expected,
        quiet,
    })
}

/// Waits in a row whose hot phase had a yield that ran another thread for long that show that
/// this thread shares its core with a busy one; and how many waits then skip their hot phase
/// before trying again.
const SHARED_CORE_STREAK: u8 = 2;
const SHARED_CORE_WAITS: u32 = 64;

/// What a thread knows of its core: whether its hot waits keep handing it to a busy thread.
#[derive(Clone, Copy, Debug, Default)]
struct Core {
    /// Waits in a row with a long yield.
    streak: u8,
    /// Waits left that skip the hot phase.
    skip: u32,
}

#[cfg(not(any(fanring_loom, feature = "shuttle")))]
std::thread_local! {
    static CORE: std::cell::Cell<Core> = const { std::cell::Cell::new(Core { streak: 0, skip: 0 }) };
}

/// Whether this wait may be hot (asked once per wait; counts a skipped one down). Not while
/// the thread's recent hot waits kept handing its core to a busy thread (`hot_wait_ended`):
/// that thread is, likely, the one that publishes the awaited item.
pub(super) fn hot_allowed() -> bool {
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    {
        CORE.with(|c| {
            let mut core = c.get();
            let allowed = core.skip == 0;
            core.skip = core.skip.saturating_sub(1);
            c.set(core);
            allowed
        })
    }
    #[cfg(any(fanring_loom, feature = "shuttle"))]
    true
}

/// A hot wait ended (its item came, or it gave up): `ceded` if one of its yields ran another
/// thread on this core for long.
pub(super) fn hot_wait_ended(ceded: bool) {
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    CORE.with(|c| {
        let mut core = c.get();
        if ceded {
            core.streak += 1;
            if core.streak >= SHARED_CORE_STREAK {
                core.streak = 0;
                core.skip = SHARED_CORE_WAITS;
            }
        } else {
            core.streak = 0;
        }
        c.set(core);
    });
    #[cfg(any(fanring_loom, feature = "shuttle"))]
    let _ = ceded;
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

/// How a wait saw its item arrive.
#[derive(Clone, Copy, Debug)]
pub(super) enum Seen {
    /// At this time, within a microsecond or so of its arrival (the thread was trying).
    At(u64),
    /// Already there when the thread became hot after a timed park: it came before the thread
    /// planned to be hot, when exactly is not known; `expected` is when it was expected.
    Early { expected: u64 },
    /// At this time, after a park until woken: a few µs after it arrived.
    After(u64),
}

/// A wait ended with an item: one more gap to learn from.
pub(super) fn arrived(seen: Seen) {
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    PACE.with(|c| c.set(learn(c.get(), seen)));
    #[cfg(any(fanring_loom, feature = "shuttle"))]
    let _ = seen;
}

/// Most extra lead an `Early` item adds, and the cap on it.
const ADVANCE_STEP_NS: u64 = 3_000;
const MAX_ADVANCE_NS: u64 = 40_000;

fn learn(mut p: Pace, seen: Seen) -> Pace {
    let now = match seen {
        Seen::At(t) | Seen::After(t) => t,
        Seen::Early { expected } => {
            // Be hot earlier next time; keep the phase (the arrival was about when expected,
            // or before), not the time the thread happened to look.
            p.advance = (p.advance + ADVANCE_STEP_NS).min(MAX_ADVANCE_NS);
            p.last = expected;
            return p;
        }
    };
    // Items seen in time let the extra lead shrink back (slowly too when seen late: a wait
    // that fell back to parking until woken must not keep an old lead forever).
    p.advance -= match seen {
        Seen::At(_) => p.advance / 8,
        _ => p.advance / 32,
    };
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
        // One wake delayed by preemption (milliseconds, on a busy machine) would otherwise
        // make every later wait too early and too long hot; a timer itself is never that
        // late.
        let late = now.saturating_sub(due).min(MAX_LATE_NS);
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
            advance: 0,
        };
        let mut t = 1_000_000;
        p = learn(p, Seen::At(t));
        for g in gaps {
            t += g;
            p = learn(p, Seen::At(t));
        }
        p
    }

    #[test]
    fn regular_arrivals_plan_a_timed_park_then_a_hot_window() {
        let p = fed(&[100_000; 12]);
        let now = p.last + 1_000;
        match decide(p, now, 50_000) {
            Plan::Expect(Expectation {
                sleep_until: Some(s),
                hot_until,
                ..
            }) => {
                let expected = p.last + p.gap;
                assert!(s < expected && expected - s <= INITIAL_LATE_NS + MARGIN_NS);
                assert!(hot_until > expected);
                // An item found already there moves the next hot window earlier.
                let q = learn(p, Seen::Early { expected });
                let Plan::Expect(Expectation {
                    sleep_until: Some(s2),
                    ..
                }) = decide(q, expected + 1_000, 50_000)
                else {
                    panic!("still expected");
                };
                assert_eq!(expected + p.gap - s2, expected - s + ADVANCE_STEP_NS);
                assert!(
                    hot_until > expected && hot_until - expected <= 3 * p.dev + MIN_TOLERANCE_NS
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gaps_within_the_hot_budget_stay_hot_from_now() {
        for (gap, hot_max) in [(10_000, 50_000), (100_000, 1_000_000)] {
            let p = fed(&[gap; 12]);
            assert!(matches!(
                decide(p, p.last + 1_000, hot_max),
                Plan::Expect(Expectation {
                    sleep_until: None,
                    ..
                })
            ));
        }
    }

    #[test]
    fn only_a_paced_stream_is_quiet() {
        let quiet = |gaps: &[u64], hot_max| match decide(fed(gaps), fed(gaps).last + 1_000, hot_max)
        {
            Plan::Expect(Expectation { quiet, .. }) => quiet,
            Plan::Unknown => panic!("expected"),
        };
        // Regular and far apart: a fixed rate (10 k/s), under either hot budget.
        assert!(quiet(&[100_000; 12], 50_000));
        assert!(quiet(&[100_000; 12], 1_000_000));
        // Close together: busy.
        assert!(!quiet(&[10_000; 12], 50_000));
        // Irregular within the hot budget: a busy pipeline's runs.
        assert!(!quiet(
            &[5_000, 45_000, 8_000, 40_000, 5_000, 45_000, 6_000, 44_000],
            50_000
        ));
    }

    #[test]
    fn irregular_idle_or_overdue_arrivals_are_unknown() {
        let p = fed(&[
            10_000, 300_000, 20_000, 900_000, 5_000, 400_000, 30_000, 700_000,
        ]);
        assert_eq!(decide(p, p.last + 1_000, 100_000), Plan::Unknown);
        let p = fed(&[100_000; 12]);
        assert_eq!(decide(p, p.last + 500_000, 50_000), Plan::Unknown);
        let p = fed(&[100_000, 100_000, MAX_GAP_NS + 1]);
        assert_eq!(decide(p, p.last + 1_000, 100_000), Plan::Unknown);
        assert_eq!(decide(fed(&[100_000]), 0, 100_000), Plan::Unknown);
    }
}
