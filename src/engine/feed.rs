//! The one feeder: a distributor draining a [`Source`] into its workers, a run at a time, and
//! publishing every run before it asks the source again, so no item waits in the engine while
//! the source waits (`docs/design.md`, "Publishing"). The distributor thread (`run`), the
//! caller under `drive`, an `Input`'s `send_all_blocking` and the seed's `split` all feed
//! through it; they differ only in how they wait once it stops.

use super::control::Control;
use super::dispatch::{AnyDistributor, Distributor, QuietRun, Stopped};
use super::wire::InWire;
use crate::source::Source;

/// Why [`Distributor::feed`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fed {
    /// The source ended: everything was published (the caller closes the worker rings, or
    /// not: an `Input` stays open after `send_all_blocking`).
    Ended,
    /// A worker ring (or the reorder window) is full: everything staged is published, and
    /// `buf` keeps the items that did not fit (they go first next time).
    Full,
    /// The source has nothing ready (or the caller's `pause` said so after a run): everything
    /// is published and the run ended there (a batch is an upper bound, never a fill target).
    Dry,
    /// The engine stopped (a worker closed its ring, or a quiet run could not go on): `buf`
    /// keeps what was taken and not handed out.
    Stopped,
}

/// A `quiet` runner as every feeder takes it.
pub(crate) type Quiet<'a, T> = Option<&'a mut (dyn QuietRun<T> + 'static)>;

impl<T, W: InWire<T>> Distributor<T, W> {
    /// Moves what `source` has ready to the workers without waiting, a run of up to
    /// `buf.capacity()` items at a time through `buf` (one copy per run): every full run is
    /// published as soon as it is staged; a short run (the source had no more ready) is
    /// published and ends the round-robin turn, and `pause` is asked whether to stop there
    /// (`drive` lets the caller take an output that is ready first). Items already in `buf`
    /// (left by a `Full`, or given by the caller's blocking `recv`) go first.
    ///
    /// With a `quiet` runner (the distributor thread, `engine::inline`), a short run whose
    /// worker is parked is run by it instead of waking the worker.
    pub(crate) fn feed<S: Source<Item = T>>(
        &mut self,
        source: &mut S,
        buf: &mut Vec<T>,
        mut quiet: Quiet<'_, T>,
        pause: &mut dyn FnMut() -> bool,
    ) -> Fed {
        let run = buf.capacity().max(1);
        loop {
            // Topped up to a run (what a `Full` left, or the caller's `recv` gave, goes first).
            let ended = source.try_recv_into(buf, run - buf.len()).is_err();
            let short = buf.len() < run;
            // The spare's oldest items go to the rings with room first (`engine::spare`):
            // before anything newer, and before this returns to wait, so that no worker waits
            // on an empty ring while items wait in the spare. `true`: some are left, and every
            // ring is full.
            let Ok(spare_left) = self.unspill() else {
                return Fed::Stopped;
            };
            if buf.is_empty() {
                self.idle();
                return if ended { Fed::Ended } else { Fed::Dry };
            }
            // A short run whose worker is parked goes to the quiet runner, if there is one.
            let runner = quiet.as_deref_mut().filter(|_| short && !spare_left);
            let quiet_run = runner.and_then(|q| {
                let target = q
                    .willing(buf.len())
                    .then(|| self.quiet_target(buf.len()))
                    .flatten()?;
                Some((q, target))
            });
            if let Some((q, (worker, seq))) = quiet_run {
                let k = buf.len();
                let ran = q.run(buf, seq, worker);
                self.quiet_ran(k - buf.len());
                if ran.is_err() {
                    return Fed::Stopped;
                }
            }
            // What no quiet runner took (or the part of its run it left, having taken long).
            // While the spare holds items, new ones go behind them.
            if !buf.is_empty() && spare_left {
                self.spill_behind(buf);
                if !buf.is_empty() {
                    self.flush();
                    return Fed::Full;
                }
            }
            if !buf.is_empty() {
                if self.try_send_from(buf).is_err() {
                    return Fed::Stopped;
                }
                if !buf.is_empty() {
                    self.flush();
                    return Fed::Full;
                }
            }
            if ended {
                self.idle();
                return Fed::Ended;
            }
            if short {
                self.idle();
                if pause() {
                    return Fed::Dry;
                }
            } else {
                // Every run is published before the source is asked again.
                self.flush();
            }
        }
    }

    /// Drains `source` into the workers ([`feed`](Self::feed)), waiting for room when a ring
    /// is full and in the source's blocking `recv` when it has nothing ready (everything is
    /// published first). `Ok` once the source ended, `Err` once the engine stopped or
    /// `control` says a handle cancelled it (the items taken and not staged are dropped with
    /// `buf` by the caller).
    pub(crate) fn pump<S: Source<Item = T>>(
        &mut self,
        source: &mut S,
        buf: &mut Vec<T>,
        control: Option<&Control>,
        mut quiet: Quiet<'_, T>,
    ) -> Result<(), Stopped> {
        loop {
            match self.feed(source, buf, quiet.as_deref_mut(), &mut || false) {
                Fed::Ended => return Ok(()),
                Fed::Stopped => return Err(Stopped),
                Fed::Full => {
                    // Every ring full: costly items go on into the spare, up to its bound,
                    // before the distributor waits (`engine::spare`).
                    if !self.spill(buf) {
                        self.wait_room();
                    }
                }
                Fed::Dry => {
                    let item = match control {
                        Some(c) => {
                            // A cancelling handle does not wait for a thread inside the source.
                            if !c.enter_source() {
                                return Err(Stopped);
                            }
                            let item = source.recv();
                            if !c.leave_source() {
                                return Err(Stopped); // cancelled meanwhile: `item` is dropped here
                            }
                            item
                        }
                        None => source.recv(),
                    };
                    match item {
                        Some(item) => buf.push(item),
                        None => return Ok(()),
                    }
                }
            }
        }
    }
}

impl<T: Send + 'static> AnyDistributor<T> {
    /// See [`Distributor::feed`].
    pub(crate) fn feed<S: Source<Item = T>>(
        &mut self,
        source: &mut S,
        buf: &mut Vec<T>,
        quiet: Quiet<'_, T>,
        pause: &mut dyn FnMut() -> bool,
    ) -> Fed {
        match self {
            AnyDistributor::Plain(d) => d.feed(source, buf, quiet, pause),
            AnyDistributor::Tagged(d) => d.feed(source, buf, quiet, pause),
        }
    }

    /// See [`Distributor::pump`].
    pub(crate) fn pump<S: Source<Item = T>>(
        &mut self,
        source: &mut S,
        buf: &mut Vec<T>,
        control: Option<&Control>,
        quiet: Quiet<'_, T>,
    ) -> Result<(), Stopped> {
        match self {
            AnyDistributor::Plain(d) => d.pump(source, buf, control, quiet),
            AnyDistributor::Tagged(d) => d.pump(source, buf, control, quiet),
        }
    }
}
