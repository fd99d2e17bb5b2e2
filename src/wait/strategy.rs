/// How a side waits when the ring is full (producer) or empty (consumer).
///
/// One strategy belongs to a ring (both ends use it) or to an engine (every ring in it).
///
/// | strategy | while waiting | wake-up cost on every publish |
/// |---|---|---|
/// | `BusySpin` | spins with the `spin_loop` hint, never gives up the core | none |
/// | `SpinYield` | spins `spins` times, then `yield_now` between tries | none |
/// | `SpinThenPark` | spins `spins` times, yields `yields` times, then parks until woken | one load (Linux, with `membarrier`); one `SeqCst` fence and a load elsewhere |
/// | `Adaptive` (default) | as `SpinThenPark`, but when its items arrive regularly it stays hot (spinning and yielding) around the time the next one is due: between them if they come within `hot_us`, else after a timed park | as `SpinThenPark` |
///
/// `spins` is an upper bound: a thread whose spins keep failing (its peer shares its core and
/// cannot run while it spins) halves its own allowance after each such wait, doubles it back
/// when a spin succeeds, and re-probes with the full count every 64 waits.
///
/// `BusySpin` is for a thread that owns a core: with more threads than cores it burns the
/// quantum another stage needed. `SpinYield` stays responsive when oversubscribed but keeps
/// the core busy while idle. `SpinThenPark` sleeps when idle, and pays a wake-up (a futex
/// wake, several µs on a VM) for every item that finds it parked. `Adaptive` sleeps when idle
/// too, but each waiting thread learns the gap between the items it receives (a moving
/// average and its deviation, on the time-stamp counter): when they come regularly, it parks
/// with a timer set to wake it shortly before the next one is due (by the lateness it has
/// measured for that timer, plus a margin), then spins and yields until the item comes, or
/// until the expected time plus three deviations has passed, or `hot_us` µs; so a steady
/// quiet stream (10 k items/s, say) is taken without a wake-up, at the price of the CPU spent
/// hot around each item. After an idle spell, or when arrivals are irregular, it behaves as
/// `SpinThenPark`. The parking strategies are the only ones that cost something on the fast
/// path: a publisher must check whether its peer announced a park (`docs/design.md`,
/// "Wake-up").
///
/// ```
/// use fanring::WaitStrategy;
/// use fanring::ring::channel_with;
///
/// let (mut tx, mut rx) = channel_with::<u32>(8, WaitStrategy::SpinYield { spins: 100 }).unwrap();
/// tx.push(7).unwrap();
/// assert_eq!(rx.pop(), Some(7));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitStrategy {
    /// Spin forever with the spin-loop hint. Lowest latency; needs a core of its own.
    BusySpin,
    /// Spin `spins` times, then call `std::thread::yield_now` between tries.
    SpinYield {
        /// Tries with the spin-loop hint before the first yield.
        spins: u32,
    },
    /// Spin `spins` times, yield `yields` times, then park until the other side publishes or
    /// closes. The default, with `spins: 64, yields: 16`.
    SpinThenPark {
        /// Tries with the spin-loop hint before the first yield.
        spins: u32,
        /// Tries after a `yield_now` before parking.
        yields: u32,
    },
    /// `SpinThenPark` that also stays hot (spinning and yielding) around the time its next
    /// item is due, when its items arrive regularly: see the type's docs. The default
    /// ([`ADAPTIVE`](Self::ADAPTIVE)), and [`LOW_LATENCY`](Self::LOW_LATENCY).
    Adaptive {
        /// Tries with the spin-loop hint before the first yield.
        spins: u32,
        /// Tries after a `yield_now` before parking, when no item is expected.
        yields: u32,
        /// The longest one wait stays hot for an item it expects, in µs: items closer together
        /// than this are waited for hot all along (0: `SpinThenPark`).
        hot_us: u32,
    },
}

impl WaitStrategy {
    /// `SpinYield` with 64 spins.
    pub const SPIN_YIELD: WaitStrategy = WaitStrategy::SpinYield { spins: 64 };
    /// `SpinThenPark` with 64 spins and 16 yields.
    pub const SPIN_THEN_PARK: WaitStrategy = WaitStrategy::SpinThenPark {
        spins: 64,
        yields: 16,
    };
    /// `Adaptive` with 64 spins, 16 yields and up to 50 µs hot (the default): items 50 µs or
    /// more apart (20 k items/s or fewer) are met by a timed park and a short hot window each.
    pub const ADAPTIVE: WaitStrategy = WaitStrategy::Adaptive {
        spins: 64,
        yields: 16,
        hot_us: 50,
    };

    /// `Adaptive` with up to 1 ms hot: regular items up to 1 ms apart (1 k items/s and more)
    /// are waited for hot all along, so none meets a timer's lateness or a wake-up, at the
    /// price of a core kept busy while they come (the wait still parks once they stop).
    /// The low-latency configuration: `Engine::builder().wait(WaitStrategy::LOW_LATENCY)`.
    pub const LOW_LATENCY: WaitStrategy = WaitStrategy::Adaptive {
        spins: 64,
        yields: 16,
        hot_us: 1_000,
    };

    /// Whether a side using this strategy can park, so that publishers must wake it.
    #[inline]
    pub fn can_park(self) -> bool {
        matches!(
            self,
            WaitStrategy::SpinThenPark { .. } | WaitStrategy::Adaptive { .. }
        )
    }

    /// Whether the strategy ever gives up the core (`BusySpin` never does).
    #[inline]
    pub fn yields_core(self) -> bool {
        !matches!(self, WaitStrategy::BusySpin)
    }
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::ADAPTIVE
    }
}
