//! Input order by sequence number, through the bounded reorder window.

use super::{AbortFlag, Step};
use crate::engine::window::Window;
use crate::engine::wire::{Mark, Tagged};
use crate::loom::sync::Arc;
use crate::ring::{Consumer, PopError};
use crate::stats::MergerStats;
use crate::wait::{wait_until, WaitStrategy};
use crate::{BuildError, Failure};
use std::collections::VecDeque;

/// One input's outputs in the reorder window: the first in place (all `map` ever has), any
/// more after it.
pub(crate) struct Slot<U> {
    first: Option<U>,
    more: VecDeque<U>,
    complete: bool,
}

impl<U> Slot<U> {
    pub(crate) fn new() -> Self {
        Slot {
            first: None,
            more: VecDeque::new(),
            complete: false,
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.is_empty()
    }

    #[inline]
    pub(crate) fn push(&mut self, u: U) {
        if self.is_empty() {
            self.first = Some(u);
        } else {
            self.more.push_back(u);
        }
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<U> {
        self.first.take().or_else(|| self.more.pop_front())
    }
}

/// Input order from tagged outputs: each output carries its input's sequence number. Outputs
/// of the next input to emit (`next`) go straight to the caller's buffer while nothing of that
/// input waits in the window; outputs of inputs further ahead wait in a window slot until
/// `next` reaches them. The distributor hands out a sequence number only when it fits the
/// window (`window.size` inputs), so the window never overflows and the merger can always
/// drain every ring.
pub(crate) struct TaggedMerge<U> {
    pub(crate) rings: Vec<Consumer<Tagged<Mark<U>>>>,
    /// Rings closed at the end or on an abort, with what they still hold: dropped at teardown
    /// ([`Merger::drop_items`]), never while the stream is read.
    pub(crate) retired: Vec<Consumer<Tagged<Mark<U>>>>,
    /// Slot `seq & mask` holds the outputs of input `seq` while it waits, for every `seq` in
    /// `[next, next + slots.len())`. A power of two, grown by doubling (fallibly, see `grow`)
    /// when an output arrives further ahead, up to `max_slots`: the window's memory follows
    /// the distance between the oldest and the newest input in flight, not its setting.
    pub(crate) slots: Vec<Slot<U>>,
    mask: usize,
    /// The power of two at or above `window.size`: every sequence number the distributor may
    /// hand out has a slot of its own (also across the wrap of `usize`).
    max_slots: usize,
    window: Arc<Window>,
    next: usize,
    /// Sequence numbers completed since `window.done` was last published.
    unpublished: usize,
    /// Inputs whose outputs are all here but not yet emitted (for the peak statistic).
    buffered: usize,
    /// Entries in the slots: outputs, and `complete` marks. While 0, an output of `next`
    /// needs no look at its slot.
    held: usize,
    /// Outputs taken from a ring, before they are sorted out.
    pub(crate) scratch: Vec<Tagged<Mark<U>>>,
    /// The workers' end-of-stream outputs (`Mark::Tail`), handed out once every ring ended.
    pub(crate) tails: VecDeque<U>,
    batch: usize,
    pub(super) wait: WaitStrategy,
    pub(crate) stats: MergerStats,
}

impl<U> TaggedMerge<U> {
    /// # Errors
    /// [`BuildError::TooLarge`] for a window whose slot array could never be allocated
    /// (`launch` checks it first); [`BuildError::Alloc`] if the first slots or the scratch
    /// buffer are refused.
    pub(crate) fn try_new(
        rings: Vec<Consumer<Tagged<Mark<U>>>>,
        window: Arc<Window>,
        batch: usize,
    ) -> Result<Self, BuildError> {
        let wait = rings
            .first()
            .map_or(WaitStrategy::default(), Consumer::wait_strategy);
        let max_slots = window_slots::<U>(window.size)?;
        let n = max_slots.min(INITIAL_SLOTS);
        let slots = new_slots(n).ok_or(BuildError::Alloc {
            what: "reorder window",
            bytes: n.checked_mul(std::mem::size_of::<Slot<U>>()),
        })?;
        let scratch = crate::error::try_buffer(batch.max(1), "merger scratch buffer")?;
        Ok(TaggedMerge {
            slots,
            mask: n - 1,
            max_slots,
            rings,
            retired: Vec::new(),
            window,
            next: 0,
            unpublished: 0,
            buffered: 0,
            held: 0,
            scratch,
            tails: VecDeque::new(),
            batch,
            wait,
            stats: MergerStats::default(),
        })
    }

    /// Makes room for input `next + d` (`d < max_slots`, the distributor's guarantee):
    /// doubles the slot array (at least) and moves every waiting input to its new slot.
    /// `false`: the memory was refused (nothing changed).
    #[cold]
    pub(crate) fn grow(&mut self, d: usize) -> bool {
        let old = self.slots.len();
        let want = d
            .checked_add(1)
            .and_then(usize::checked_next_power_of_two)
            .map_or(self.max_slots, |w| w.max(old * 2).min(self.max_slots));
        let Some(mut slots) = new_slots::<U>(want) else {
            return false;
        };
        if self.held > 0 {
            // Slot `i` holds input `next + ((i - next) & old_mask)`, the one sequence number of
            // `[next, next + old)` that maps to it.
            let old_mask = self.mask;
            for off in 0..old {
                let seq = self.next.wrapping_add(off);
                std::mem::swap(
                    &mut slots[seq & (want - 1)],
                    &mut self.slots[seq & old_mask],
                );
            }
        }
        // The old slots are all empty now: dropping them drops no item.
        self.slots = slots;
        self.mask = want - 1;
        true
    }

    /// Before `scratch` is sorted out: grows the slot array (while it is below its maximum)
    /// so that every output in `scratch` has a slot. `false`: the memory was refused.
    #[inline]
    pub(crate) fn fit_scratch(&mut self) -> bool {
        if self.slots.len() == self.max_slots {
            return true;
        }
        let next = self.next;
        let far = self
            .scratch
            .iter()
            .map(|t| t.0.wrapping_sub(next))
            .max()
            .unwrap_or(0);
        far <= self.mask || self.grow(far)
    }

    /// `next`'s outputs are all out: go on to the following input, publishing the window's
    /// progress once per `batch` inputs. On `next` and `unpublished` as given, so that
    /// `sort_out` can keep them in locals.
    #[inline]
    pub(crate) fn advance(
        next: &mut usize,
        unpublished: &mut usize,
        batch: usize,
        window: &Window,
    ) {
        *next = next.wrapping_add(1);
        *unpublished += 1;
        if *unpublished >= batch {
            *unpublished = 0;
            window.advance(*next);
        }
    }

    /// Publishes `next` to the distributor, if anything was completed since the last time
    /// (otherwise `window.done` is `next` already, and a waiting distributor has been told).
    pub(crate) fn publish(&mut self) {
        if self.unpublished > 0 {
            self.unpublished = 0;
            self.window.advance(self.next);
        }
    }

    /// Moves the outputs waiting in the window, in input order, to `buf` (while it has room).
    pub(crate) fn drain_window(&mut self, buf: &mut Vec<U>) {
        while buf.len() < buf.capacity() {
            if self.held == 0 {
                return;
            }
            let slot = &mut self.slots[self.next & self.mask];
            if let Some(u) = slot.pop() {
                buf.push(u);
                self.held -= 1;
            } else if slot.complete {
                slot.complete = false;
                self.buffered -= 1;
                self.held -= 1;
                Self::advance(
                    &mut self.next,
                    &mut self.unpublished,
                    self.batch,
                    &self.window,
                );
            } else {
                return;
            }
        }
    }

    /// Takes up to `batch` outputs from every ring (one copy each) and sorts them out
    /// (`sort_out`). Returns how many were taken, or `None` when every ring has ended and
    /// nothing was taken (or the engine aborted; then every ring is closed).
    pub(crate) fn pull(&mut self, abort: &dyn AbortFlag, buf: &mut Vec<U>) -> Option<usize> {
        let mut pulled = 0;
        let mut i = 0;
        while i < self.rings.len() {
            match self.rings[i].take_into(&mut self.scratch, self.batch) {
                Ok(n) => {
                    self.rings[i].release();
                    pulled += n;
                    i += 1;
                    if !self.fit_scratch() {
                        // The window could not grow: the engine fails (what `scratch` holds
                        // is dropped at teardown).
                        abort.report(Failure::Alloc {
                            what: "reorder window",
                            bytes: None,
                        });
                        self.close_all();
                        return None;
                    }
                    self.sort_out(buf);
                }
                Err(PopError::Empty) => i += 1,
                Err(PopError::Closed) => {
                    if abort.aborted() {
                        self.close_all();
                        return None;
                    }
                    self.rings.swap_remove(i);
                }
            }
        }
        self.stats.peak_window = self.stats.peak_window.max(self.buffered);
        if self.rings.is_empty() && pulled == 0 {
            return None;
        }
        Some(pulled)
    }

    /// Empties `scratch`: outputs of `next` go to `buf` while it has room and nothing of
    /// `next` waits in the window (in order), the rest to their slots.
    pub(crate) fn sort_out(&mut self, buf: &mut Vec<U>) {
        let mask = self.mask;
        // In locals: the loop stores nothing but the items.
        let (mut next, mut unpublished, mut held) = (self.next, self.unpublished, self.held);
        let mut scratch = std::mem::take(&mut self.scratch);
        for Tagged(seq, mark) in scratch.drain(..) {
            let (item, last) = match mark {
                Mark::Item(u) => (Some(u), false),
                Mark::Last(u) => (Some(u), true),
                Mark::End => (None, true),
                Mark::Tail(u) => {
                    // An end-of-stream output: after every input's outputs.
                    self.tails.push_back(u);
                    continue;
                }
            };
            if seq == next
                && buf.len() < buf.capacity()
                && (held == 0 || self.slots[seq & mask].is_empty())
            {
                // In order: `seq` is not complete (outputs of it are still arriving) and none
                // of its outputs wait in the window.
                if let Some(u) = item {
                    buf.push(u);
                }
                if last {
                    Self::advance(&mut next, &mut unpublished, self.batch, &self.window);
                }
                continue;
            }
            let slot = &mut self.slots[seq & mask];
            if let Some(u) = item {
                slot.push(u);
                held += 1;
            }
            if last {
                slot.complete = true;
                self.buffered += 1;
                held += 1;
            }
        }
        self.scratch = scratch;
        (self.next, self.unpublished, self.held) = (next, unpublished, held);
    }

    /// Moves outputs in input order to `buf` (up to its spare capacity), waiting for the next
    /// one if `block` and none is ready: `Item(n)`, `Empty` (only without `block`), or `End`
    /// when every ring has ended (or the engine aborted).
    pub(crate) fn poll_into(
        &mut self,
        abort: &dyn AbortFlag,
        block: bool,
        buf: &mut Vec<U>,
    ) -> Step<usize> {
        let start = buf.len();
        loop {
            self.drain_window(buf);
            if buf.len() == buf.capacity() {
                break;
            }
            let Some(pulled) = self.pull(abort, buf) else {
                // Every ring ended; whatever is buffered beyond a gap can only come from an
                // aborted run, and is dropped with the slots. What `buf` holds is in order.
                self.close_all();
                // Then the workers' end-of-stream outputs (after a normal end only).
                if !abort.aborted() {
                    let room = buf.capacity() - buf.len();
                    let k = room.min(self.tails.len());
                    buf.extend(self.tails.drain(..k));
                }
                if buf.len() > start {
                    break;
                }
                return Step::End;
            };
            if pulled > 0 {
                continue;
            }
            // Nothing to take now: let the distributor run ahead up to the window.
            self.publish();
            if buf.len() > start {
                break;
            }
            if !block {
                return Step::Empty;
            }
            self.stats.waits_empty += 1;
            let rings = &self.rings;
            wait_until(self.wait, &rings[..], None, || {
                rings.iter().any(Consumer::ready_hint).then_some(())
            });
        }
        let n = buf.len() - start;
        self.stats.items += n as u64;
        Step::Item(n)
    }

    /// Ends the stream: closes every ring and the window (so no worker and no distributor
    /// waits on the merger any more) and forgets what the window holds. Drops nothing: the
    /// rings, the window's items and `scratch` are dropped at teardown
    /// ([`Merger::drop_items`]), so a panicking `Drop` can neither skip a close nor unwind out
    /// of `next`.
    pub(crate) fn close_all(&mut self) {
        self.rings.iter_mut().for_each(Consumer::close);
        self.retired.append(&mut self.rings);
        self.window.close();
        self.held = 0;
        self.buffered = 0;
    }
}

/// Slots the reorder window starts with (it grows by doubling up to its setting).
const INITIAL_SLOTS: usize = 64;

/// The slot array of a window of `size` inputs: the power of two at or above it.
///
/// # Errors
/// [`BuildError::TooLarge`] when that power of two, or its array in bytes, exceeds what a
/// `Vec` can hold.
pub(crate) fn window_slots<U>(size: usize) -> Result<usize, BuildError> {
    size.max(1)
        .checked_next_power_of_two()
        .filter(|&n| std::alloc::Layout::array::<Slot<U>>(n).is_ok())
        .ok_or(BuildError::TooLarge {
            setting: "window",
            value: size,
            max: max_window::<U>(),
        })
}

/// The largest window whose slot array a `Vec` can hold (`isize::MAX` bytes, a power of two).
pub(crate) fn max_window<U>() -> usize {
    let per = std::mem::size_of::<Slot<U>>().max(1);
    let most = (isize::MAX as usize) / per;
    // The largest power of two not above `most`.
    1usize << (usize::BITS - 1 - most.leading_zeros())
}

/// `n` empty slots, or `None` if the memory is refused.
fn new_slots<U>(n: usize) -> Option<Vec<Slot<U>>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.extend((0..n).map(|_| Slot::new()));
    Some(v)
}
