/// How a side waits when the ring is full (producer) or empty (consumer).
///
/// One strategy belongs to a ring (both ends use it) or to an engine (every ring in it).
///
/// | strategy | while waiting | wake-up cost on every publish |
/// |---|---|---|
/// | `BusySpin` | spins with the `spin_loop` hint, never gives up the core | none |
/// | `SpinYield` | spins `spins` times, then `yield_now` between tries | none |
/// | `SpinThenPark` (default) | spins `spins` times, yields `yields` times, then parks until woken | one load (Linux, with `membarrier`); one `SeqCst` fence and a load elsewhere |
///
/// `spins` is an upper bound: a thread whose spins keep failing (its peer shares its core and
/// cannot run while it spins) halves its own allowance after each such wait, doubles it back
/// when a spin succeeds, and re-probes with the full count every 64 waits.
///
/// `BusySpin` is for a thread that owns a core: with more threads than cores it burns the
/// quantum another stage needed. `SpinYield` stays responsive when oversubscribed but keeps
/// the core busy while idle. `SpinThenPark` sleeps when idle and is the only one that costs
/// something on the fast path: a publisher must check whether its peer announced a park
/// (`docs/design.md`, "Wake-up").
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
}

impl WaitStrategy {
    /// `SpinYield` with 64 spins.
    pub const SPIN_YIELD: WaitStrategy = WaitStrategy::SpinYield { spins: 64 };
    /// `SpinThenPark` with 64 spins and 16 yields (the default).
    pub const SPIN_THEN_PARK: WaitStrategy = WaitStrategy::SpinThenPark {
        spins: 64,
        yields: 16,
    };

    /// Whether a side using this strategy can park, so that publishers must wake it.
    #[inline]
    pub fn can_park(self) -> bool {
        matches!(self, WaitStrategy::SpinThenPark { .. })
    }

    /// Whether the strategy ever gives up the core (`BusySpin` never does).
    #[inline]
    pub fn yields_core(self) -> bool {
        !matches!(self, WaitStrategy::BusySpin)
    }
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::SPIN_THEN_PARK
    }
}
