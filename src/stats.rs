//! The counters an engine keeps: each stage's own, and [`Stats`], what `join` returns.

use crate::Plan;

/// Counters kept by the merger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergerStats {
    /// Items emitted.
    pub items: u64,
    /// Times it had to wait because no input had an item.
    pub waits_empty: u64,
    /// Most inputs held in the reorder window at once (tagged `Preserve` only).
    pub peak_window: usize,
}

/// Counters kept by the distributor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DistributorStats {
    /// Items handed out: to workers, or run by the distributor itself (`inline`).
    pub items: u64,
    /// Of those, items of a quiet run that the distributor ran itself instead of waking the
    /// worker it would have gone to (a parked one, in a farm; in a graph of unfused stages,
    /// parked or not: one hop instead of one per stage). See
    /// [`Builder::map`](crate::Builder::map) for when it takes one.
    pub inline: u64,
    /// Times it had to wait for a full worker ring (or a full reorder window).
    pub waits_full: u64,
    /// Of `items`, those it left in the spare while every worker's ring was full and its
    /// items were costly, for whichever worker ran dry first to take (`docs/design.md`,
    /// "The spare"). A distributor thread (`run`, `run_source`, `run_with_sink`) only, with
    /// round-robin (without `Order::Preserve`'s fixed rotation) or least-loaded dispatch.
    pub spared: u64,
}

/// Counters kept by one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Items taken from its input ring (or rings), and from its distributor's spare.
    pub items_in: u64,
    /// Outputs written to its output ring.
    pub items_out: u64,
    /// Times it waited on an empty input ring.
    pub waits_empty: u64,
    /// Times it waited on a full output ring.
    pub waits_full: u64,
    /// The most items seen in its input ring at once.
    pub peak_occupancy: usize,
    /// Items of its runs it put back in its distributor's spare unrun, its run having taken
    /// long (items dearer than when they were queued: `docs/design.md`, "The spare"); they
    /// count in the `items_in` of the worker that ran them. An item put back twice (by this
    /// worker or another) counts twice.
    pub shed: u64,
}

/// Counters of a finished engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The distributor's counters, when it ran on the engine's own thread (with [`Input`](crate::Input),
    /// ask [`Input::stats`](crate::Input::stats)).
    pub distributor: Option<DistributorStats>,
    /// Each worker thread's counters (in a graph, every stage's in stage order; stages fused
    /// onto a thread count as that one worker: see [`Fusion`](crate::Fusion)).
    pub workers: Vec<WorkerStats>,
    /// The merger's counters.
    pub merger: MergerStats,
    /// Where each thread ran.
    pub plan: Plan,
}
