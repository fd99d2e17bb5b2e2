//! How a blocked side waits: the [`WaitStrategy`] knobs, the announce/re-check/park
//! handshake (`WakeSlot`) and the one wait loop every blocking operation uses.

mod membarrier;
mod pace;
mod slot;
mod strategy;
#[cfg(feature = "async")]
pub(crate) mod task;

pub(crate) use pace::punctual_timers;
#[cfg(all(test, not(fanring_loom), not(feature = "shuttle")))]
pub(crate) use slot::Notify;
pub(crate) use slot::{Notifier, WakeSlot};

/// Whether this process uses the asymmetric (membarrier) wake-up handshake.
#[cfg(all(test, not(fanring_loom), not(feature = "shuttle")))]
pub(crate) fn membarrier_available() -> bool {
    membarrier::available()
}

/// Something a waiter can announce itself on: one ring side's slot, or several (a merger
/// waiting for any of its inputs announces on every one of them).
pub(crate) trait Park {
    /// Announce, then a full barrier (`membarrier` or `fence(SeqCst)`): see
    /// [`WakeSlot::announce`].
    fn announce(&self);
    /// Un-announce after waking (or deciding not to park).
    fn withdraw(&self);
    /// [`announce`](Self::announce) for a task: registers `waker` instead of the thread (see
    /// [`WakeSlot::announce_task`]).
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker);
}

impl Park for WakeSlot {
    fn announce(&self) {
        WakeSlot::announce(self);
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        WakeSlot::announce_task(self, waker);
    }
    fn withdraw(&self) {
        WakeSlot::withdraw(self);
    }
}

/// The slot a reference points at.
impl<P: Park + ?Sized> Park for &P {
    fn announce(&self) {
        (**self).announce();
    }
    fn withdraw(&self) {
        (**self).withdraw();
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        (**self).announce_task(waker);
    }
}

/// Several rings' close slots, announced together: a close of any of them wakes the waiter
/// (the seed's split thread waits for input *or* a part closing).
pub(crate) struct OnClose<'a, T>(pub(crate) &'a [crate::ring::Producer<T>]);

impl<T> Park for OnClose<'_, T> {
    fn announce(&self) {
        self.0.iter().for_each(|p| p.on_close().announce());
    }
    fn withdraw(&self) {
        self.0.iter().for_each(|p| p.on_close().withdraw());
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        self.0
            .iter()
            .for_each(|p| p.on_close().announce_task(waker));
    }
}

/// Two waits at once (a worker waits for input *or* for its output to close).
impl<A: Park + ?Sized, B: Park + ?Sized> Park for (&A, &B) {
    fn announce(&self) {
        self.0.announce();
        self.1.announce();
    }
    fn withdraw(&self) {
        self.0.withdraw();
        self.1.withdraw();
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        self.0.announce_task(waker);
        self.1.announce_task(waker);
    }
}

/// Several slots, announced together: whichever one is notified unparks the waiter.
impl<S: Park> Park for [S] {
    fn announce(&self) {
        self.iter().for_each(Park::announce);
    }
    fn withdraw(&self) {
        self.iter().for_each(Park::withdraw);
    }
    #[cfg(feature = "async")]
    fn announce_task(&self, waker: &std::task::Waker) {
        for s in self {
            s.announce_task(waker);
        }
    }
}
pub use strategy::WaitStrategy;

use crate::loom::hint::spin_loop;
use crate::loom::thread::{park, park_timeout, yield_now};
use std::time::{Duration, Instant};

/// Spins between two yields while a wait is hot for an expected item: few, so that a thread
/// sharing the core (the one about to publish that item, often) gets it back within a
/// microsecond or so.
const HOT_SPINS: u32 = 4;

/// A hot spin-and-yield round that took longer than this ran another thread on this core in
/// its yield (a round alone takes about 0.5 µs).
const YIELD_GAVE_THE_CORE_NS: u64 = 3_000;

/// How long a parked waiter sleeps between re-checks if `membarrier` ever failed.
const DEGRADED_POLL: Duration = Duration::from_millis(1);

/// Runs `attempt` until it returns `Some`, waiting between tries as `strategy` says, or gives
/// up and returns `None` once `deadline` has passed.
///
/// `attempt` must be a complete non-blocking try (it re-reads the shared indices and closed
/// flags). When the strategy parks, the loop announces itself in `slot`, calls `attempt` once
/// more, and only then parks: whoever publishes after our announcement sees it and unparks us,
/// and whatever was published before it, the re-check sees (see `WakeSlot`).
pub(crate) fn wait_until<R>(
    strategy: WaitStrategy,
    slot: &(impl Park + ?Sized),
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> Option<R>,
) -> Option<R> {
    if let Some(r) = attempt() {
        return Some(r);
    }
    if let WaitStrategy::Adaptive {
        spins,
        yields,
        hot_us,
    } = strategy
    {
        if deadline.is_none() && hot_us > 0 {
            return Some(paced(spins, yields, hot_us, slot, attempt));
        }
    }
    classic(strategy, slot, deadline, attempt)
}

/// The spin / yield / park loop of every strategy (`Adaptive` as `SpinThenPark`), after a
/// first failed try.
fn classic<R>(
    strategy: WaitStrategy,
    slot: &(impl Park + ?Sized),
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> Option<R>,
) -> Option<R> {
    let spins = adaptive::spins(strategy);
    let mut step: u32 = 0;
    loop {
        let remaining = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    adaptive::record(spins, false);
                    return None;
                }
            },
            None => None,
        };
        match strategy {
            WaitStrategy::BusySpin => spin_loop(),
            WaitStrategy::SpinYield { .. } => {
                if step < spins {
                    spin_loop();
                } else {
                    yield_now();
                }
            }
            WaitStrategy::SpinThenPark { yields, .. } | WaitStrategy::Adaptive { yields, .. } => {
                if step < spins {
                    spin_loop();
                } else if step - spins < yields {
                    yield_now();
                } else {
                    slot.announce();
                    // The re-check after announcing: see `WakeSlot::announce`.
                    if let Some(r) = attempt() {
                        slot.withdraw();
                        adaptive::record(spins, false);
                        return Some(r);
                    }
                    match remaining {
                        // A failed membarrier (never seen once registered) means a publisher
                        // may not see our announcement: poll instead of trusting a wake-up.
                        _ if membarrier::degraded() => park_timeout(
                            remaining.map_or(DEGRADED_POLL, |left| left.min(DEGRADED_POLL)),
                        ),
                        Some(left) => park_timeout(left),
                        None => park(),
                    }
                    slot.withdraw();
                }
            }
        }
        step = step.saturating_add(1);
        if let Some(r) = attempt() {
            adaptive::record(spins, step <= spins);
            return Some(r);
        }
    }
}

/// `Adaptive`'s wait (no deadline): the adaptive spins first; then, as the thread's arrivals
/// say (`pace::plan`), park with a timer until shortly before the next item is due, then stay
/// hot (spins, then a yield, and again) until it comes or the expected time has passed by a
/// tolerance, then park until woken; or, with nothing regular known, `SpinThenPark`'s yields
/// and park. Either way the arrival is learned.
fn paced<R>(
    spins: u32,
    yields: u32,
    hot_us: u32,
    slot: &(impl Park + ?Sized),
    mut attempt: impl FnMut() -> Option<R>,
) -> R {
    // First what `SpinThenPark` does first: the thread's adaptive allowance of spins. A
    // stream that keeps the stage busy is met here; only a wait that outlasts them (a quiet
    // stream) consults the plan.
    let allowance = adaptive::spins(WaitStrategy::SpinThenPark { spins, yields });
    for _ in 0..allowance {
        spin_loop();
        if let Some(r) = attempt() {
            adaptive::record(allowance, true);
            pace::arrived(pace::Seen::At(crate::clock::now_ns()));
            return r;
        }
    }
    adaptive::record(allowance, false);
    let now = crate::clock::now_ns();
    let r = match pace::plan(now, u64::from(hot_us) * 1_000) {
        pace::Plan::Unknown => {
            let plain = WaitStrategy::SpinThenPark { spins: 0, yields };
            loop {
                // Without a deadline the loop returns only with an item.
                if let Some(r) = classic(plain, slot, None, &mut attempt) {
                    break r;
                }
            }
        }
        pace::Plan::Expect(plan) => {
            let (r, seen) = expect(spins, slot, now, plan, attempt);
            pace::arrived(seen);
            return r;
        }
    };
    pace::arrived(pace::Seen::After(crate::clock::now_ns()));
    r
}

/// An item is expected: see [`paced`]. Every park goes through the announce / re-check
/// handshake, so an item published at any point wakes the thread. Returns the item, and how
/// its arrival was seen (`pace::Seen`): while trying (hot, or at the start), already there
/// when the timed park ended (too late a wake: the model moves the next one earlier), or
/// after a park until woken.
fn expect<R>(
    spins: u32,
    slot: &(impl Park + ?Sized),
    now: u64,
    plan: pace::Expectation,
    mut attempt: impl FnMut() -> Option<R>,
) -> (R, pace::Seen) {
    let pace::Expectation {
        sleep_until,
        hot_until,
        expected,
        quiet,
    } = plan;
    // Sharing the core with the publisher: only a park lets it run (see below). Only for a
    // quiet stream (`Expectation::quiet`): in a busy one, a yield that ran another thread long
    // ran the stages that make the item.
    let hot = !quiet || pace::hot_allowed();
    let sleep_until = sleep_until.filter(|_| hot);
    if let Some(wake) = sleep_until {
        slot.announce();
        if let Some(r) = attempt() {
            slot.withdraw();
            return (r, pace::Seen::At(now));
        }
        let sleep = Duration::from_nanos(wake.saturating_sub(now));
        pace::timed_park(if membarrier::degraded() {
            sleep.min(DEGRADED_POLL)
        } else {
            sleep
        });
        slot.withdraw();
        let woke = crate::clock::now_ns();
        if woke >= wake {
            pace::timer_woke(wake, woke);
        }
        if let Some(r) = attempt() {
            let seen = if woke < wake {
                // Woken by the publish itself, before the timer: a futex wake late.
                pace::Seen::After(woke)
            } else {
                pace::Seen::Early { expected }
            };
            return (r, seen);
        }
    }
    // Hot: a run of spins, then a yield (a stage sharing the core runs), until it is overdue.
    // Not while this thread shares its core with a busy thread (yields that took long in its
    // recent waits showed it, `pace::hot_wait_ended`): the publisher is then, likely, that thread, and while this one
    // is hot on its core it hands the core back only at each yield; a park until woken gives
    // the core up for good. Measured on 2 cores: a hot wait sharing its core with its
    // publisher saw items 8.6 µs late (median), one that parks 2.6 µs; on separate cores hot
    // 0.7 µs, parked 25.8 µs (a futex wake of an idle vCPU).
    if hot {
        let (found, ceded) = hot_wait(spins, hot_until, &mut attempt);
        if quiet {
            pace::hot_wait_ended(ceded);
        }
        if let Some((r, at)) = found {
            return (r, pace::Seen::At(at));
        }
    }
    // Overdue (or sharing the core): park until woken.
    loop {
        slot.announce();
        if let Some(r) = attempt() {
            slot.withdraw();
            return (r, pace::Seen::At(crate::clock::now_ns()));
        }
        if membarrier::degraded() {
            park_timeout(DEGRADED_POLL);
        } else {
            park();
        }
        slot.withdraw();
        if let Some(r) = attempt() {
            return (r, pace::Seen::After(crate::clock::now_ns()));
        }
    }
}

/// The hot phase of [`expect`]: runs of spins, each followed by a yield (a stage sharing the
/// core runs), until the item comes (with when it was seen) or `hot_until` has passed; and
/// whether a yield ran another thread on this core for long.
fn hot_wait<R>(
    spins: u32,
    hot_until: u64,
    attempt: &mut impl FnMut() -> Option<R>,
) -> (Option<(R, u64)>, bool) {
    let mut before = crate::clock::now_ns();
    let mut ceded = false;
    loop {
        for _ in 0..spins.clamp(1, HOT_SPINS) {
            spin_loop();
            if let Some(r) = attempt() {
                return (Some((r, crate::clock::now_ns())), ceded);
            }
        }
        yield_now();
        let now = crate::clock::now_ns();
        ceded |= now - before > YIELD_GAVE_THE_CORE_NS;
        if let Some(r) = attempt() {
            return (Some((r, now)), ceded);
        }
        if now >= hot_until {
            return (None, ceded);
        }
        before = now;
    }
}

/// A growing pause for a loop that polls what no wake-up announces (`drive` polling outputs
/// that may never come, a handle waiting for a thread's exit): spins, then yields, then sleeps
/// growing to 50 µs (under loom and shuttle, a yield each time).
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    polls: u32,
}

impl Backoff {
    /// Polls spent spinning, then yielding, before the sleeps start.
    const SPINS: u32 = 64;
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    const YIELDS: u32 = 64;
    /// The longest sleep, in µs.
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    const MAX_SLEEP_US: u32 = 50;

    /// Something changed: start again from the spins.
    pub(crate) fn reset(&mut self) {
        self.polls = 0;
    }

    /// Pauses once, longer than the time before.
    pub(crate) fn snooze(&mut self) {
        self.polls = self.polls.saturating_add(1);
        #[cfg(not(any(fanring_loom, feature = "shuttle")))]
        if self.polls > Self::SPINS + Self::YIELDS {
            let us = (self.polls - Self::SPINS - Self::YIELDS).min(Self::MAX_SLEEP_US);
            std::thread::sleep(Duration::from_micros(u64::from(us)));
            return;
        }
        if self.polls <= Self::SPINS {
            spin_loop();
        } else {
            yield_now();
        }
    }
}

/// Adaptive spinning: a thread whose spins keep failing (its peer shares its core, so the peer
/// cannot run while it spins) stops spinning, and probes again now and then. Each thread keeps
/// its own limit, below the strategy's `spins`. A heuristic only: it decides how long to spin,
/// never whether to re-check, so it cannot affect correctness. Off under loom and shuttle,
/// whose explorations must be deterministic.
mod adaptive {
    use super::WaitStrategy;

    /// Every this many waits, a thread that stopped spinning spins fully once to re-probe.
    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    const PROBE_EVERY: u32 = 64;

    #[cfg(not(any(fanring_loom, feature = "shuttle")))]
    std::thread_local! {
        /// (current limit, waits since the last probe); `u32::MAX` until the first wait.
        static LIMIT: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((u32::MAX, 0)) };
    }

    /// How many spins this wait may use.
    pub(super) fn spins(strategy: WaitStrategy) -> u32 {
        let max = match strategy {
            WaitStrategy::BusySpin => return u32::MAX,
            WaitStrategy::SpinYield { spins }
            | WaitStrategy::SpinThenPark { spins, .. }
            | WaitStrategy::Adaptive { spins, .. } => spins,
        };
        #[cfg(not(any(fanring_loom, feature = "shuttle")))]
        {
            LIMIT.with(|c| {
                let (limit, waits) = c.get();
                if waits + 1 >= PROBE_EVERY {
                    c.set((limit, 0));
                    max
                } else {
                    c.set((limit, waits + 1));
                    limit.min(max)
                }
            })
        }
        #[cfg(any(fanring_loom, feature = "shuttle"))]
        max
    }

    /// Whether this wait ended while still spinning (`used` was its spin allowance).
    pub(super) fn record(used: u32, spin_succeeded: bool) {
        #[cfg(not(any(fanring_loom, feature = "shuttle")))]
        LIMIT.with(|c| {
            let (limit, waits) = c.get();
            let limit = if spin_succeeded {
                // Spinning paid off: allow up to twice what this wait used.
                used.saturating_mul(2).max(1)
            } else {
                // It did not: halve.
                limit.min(used) / 2
            };
            c.set((limit, waits));
        });
        #[cfg(any(fanring_loom, feature = "shuttle"))]
        let _ = (used, spin_succeeded);
    }
}
