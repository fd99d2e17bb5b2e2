//! Fan-in: the merger that reads every worker's output ring into one stream.

use crate::dispatch::Window;
use crate::engine::wire::{Mark, Tagged};
use crate::loom::sync::Arc;
use crate::teardown::Teardown;
use crate::wait::{wait_until, WaitStrategy};
use crate::{Consumer, EngineError, PopError};
use std::collections::VecDeque;
use std::marker::PhantomData;

/// The order of the merged stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Whatever order items finish in (each worker's outputs stay in that worker's order).
    #[default]
    Any,
    /// Input order. With round-robin dispatch and `map`, the merger reads the workers in the
    /// distributor's rotation (no buffer); otherwise items carry sequence numbers and are
    /// reordered in a bounded window (`window(n)`), which holds the distributor back when full.
    Preserve,
}

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

/// Says whether the engine is aborting (a stage panicked), checked when an input closes; and
/// where the merger reports its own failure (the reorder window could not grow).
pub(crate) trait AbortFlag {
    fn aborted(&self) -> bool;
    /// Records `e` as the engine's failure (and raises the flag).
    fn report(&self, e: EngineError);
}

/// For the seed `merge`: nothing can abort, and it never reorders (nothing to report).
impl AbortFlag for () {
    fn aborted(&self) -> bool {
        false
    }
    fn report(&self, _e: EngineError) {}
}

/// A merger. `Any` and `Rotate` read plain items; `Tagged` reorders by sequence number.
pub(crate) enum Merger<U> {
    Any(AnyMerge<U>),
    Rotate(RotateMerge<U>),
    Tagged(TaggedMerge<U>),
}

/// One step of a merger.
pub(crate) enum Step<U> {
    /// The next item (or, from `poll_into`, how many items were moved).
    Item(U),
    /// Nothing ready now (only when not blocking).
    Empty,
    /// The stream ended: every input closed and drained, or the engine aborted.
    End,
}

impl<U> Merger<U> {
    /// The next item: from `local`, or else from a run moved into it (waiting for one);
    /// `None` at the end of the stream.
    #[inline]
    pub(crate) fn next_via(
        &mut self,
        local: &mut LocalQueue<U>,
        abort: &dyn AbortFlag,
    ) -> Option<U> {
        if let Some(u) = local.pop() {
            return Some(u);
        }
        match local.fill(|buf| self.poll_into(abort, true, buf)) {
            Step::Item(_) => local.pop(),
            Step::Empty | Step::End => None,
        }
    }

    /// Moves a run of items (as many as are ready in one ring, up to `buf`'s spare capacity)
    /// to `buf` with one copy, waiting (as the rings' strategy says) if `block`: `Item(n)`
    /// says how many; `End` at the end of the stream (every input closed and drained, or the
    /// engine aborted); without `block`, `Empty` instead of waiting.
    pub(crate) fn poll_into(
        &mut self,
        abort: &dyn AbortFlag,
        block: bool,
        buf: &mut Vec<U>,
    ) -> Step<usize> {
        match self {
            Merger::Any(m) => m.poll_into(abort, block, buf),
            Merger::Rotate(m) => m.poll_into(block, buf),
            Merger::Tagged(m) => m.poll_into(abort, block, buf),
        }
    }

    pub(crate) fn stats(&self) -> MergerStats {
        match self {
            Merger::Any(m) => m.stats,
            Merger::Rotate(m) => m.stats,
            Merger::Tagged(m) => m.stats,
        }
    }

    /// Early end, first step: close every input (workers see it and stop) and the reorder
    /// window (a distributor waiting for room sees it). Drops nothing, so it cannot panic:
    /// after it, nothing waits on the merger. What is buffered goes in
    /// [`drop_items`](Self::drop_items).
    pub(crate) fn close(&mut self) {
        match self {
            Merger::Any(m) => m.rings.iter_mut().for_each(Consumer::close),
            Merger::Rotate(m) => m.rings.iter_mut().for_each(Consumer::close),
            Merger::Tagged(m) => m.close_all(),
        }
    }

    /// Teardown, after [`close`](Self::close): drops every item the merger holds (the window,
    /// the scratch buffer) and its rings (with the items left in a ring whose worker is gone),
    /// each in a step of its own. The merger must not be polled afterwards.
    pub(crate) fn drop_items(&mut self, td: &mut Teardown) {
        let rings = match self {
            Merger::Any(m) => {
                let mut r = std::mem::take(&mut m.rings);
                r.append(&mut m.retired);
                r
            }
            Merger::Rotate(m) => std::mem::take(&mut m.rings),
            Merger::Tagged(m) => {
                td.step(|| drop(std::mem::take(&mut m.scratch)));
                for slot in std::mem::take(&mut m.slots) {
                    td.step(|| drop(slot));
                }
                let mut r = std::mem::take(&mut m.rings);
                r.append(&mut m.retired);
                return drop_rings(r, td);
            }
        };
        drop_rings(rings, td);
    }
}

/// Drops each ring in a step of its own (the last handle drops the items left in it).
fn drop_rings<W>(rings: Vec<Consumer<W>>, td: &mut Teardown) {
    for r in rings {
        td.step(|| drop(r));
    }
}

/// Any order: takes the ready items of each input in turn (as many as the caller's buffer
/// holds), and parks on all of them at once when none has an item.
pub(crate) struct AnyMerge<U> {
    /// Open rings (a closed one is removed).
    rings: Vec<Consumer<U>>,
    /// Rings closed on an abort, with what they still hold: dropped at teardown
    /// ([`Merger::drop_items`]), never while the stream is read.
    retired: Vec<Consumer<U>>,
    cur: usize,
    /// Rings found empty in a row.
    empty_run: usize,
    wait: WaitStrategy,
    stats: MergerStats,
}

impl<U> AnyMerge<U> {
    pub(crate) fn new(rings: Vec<Consumer<U>>) -> Self {
        let wait = rings
            .first()
            .map_or(WaitStrategy::default(), Consumer::wait_strategy);
        AnyMerge {
            rings,
            retired: Vec::new(),
            cur: 0,
            empty_run: 0,
            wait,
            stats: MergerStats::default(),
        }
    }

    /// Moves the ready items of the next ring that has any to `buf`, releasing them at once.
    fn poll_into(&mut self, abort: &dyn AbortFlag, block: bool, buf: &mut Vec<U>) -> Step<usize> {
        loop {
            if self.rings.is_empty() {
                return Step::End;
            }
            match self.rings[self.cur].take_into(buf, usize::MAX) {
                Ok(n) => {
                    self.rings[self.cur].release();
                    self.cur = (self.cur + 1) % self.rings.len();
                    self.empty_run = 0;
                    self.stats.items += n as u64;
                    return Step::Item(n);
                }
                Err(PopError::Empty) => {
                    self.rings[self.cur].release();
                    self.cur = (self.cur + 1) % self.rings.len();
                    self.empty_run += 1;
                }
                Err(PopError::Closed) => {
                    if abort.aborted() {
                        self.rings.iter_mut().for_each(Consumer::close);
                        self.retired.append(&mut self.rings);
                        return Step::End;
                    }
                    self.rings.swap_remove(self.cur);
                    self.empty_run = 0;
                    if self.cur >= self.rings.len() {
                        self.cur = 0;
                    }
                    continue;
                }
            }
            if self.empty_run >= self.rings.len() {
                // A full turn found nothing: wait until some ring has an item or closes.
                self.empty_run = 0;
                if !block {
                    return Step::Empty;
                }
                self.stats.waits_empty += 1;
                let rings = &self.rings;
                if let Some(i) = wait_until(self.wait, &rings[..], None, || {
                    rings.iter().position(Consumer::ready_hint)
                }) {
                    self.cur = i;
                }
            }
        }
    }
}

/// Input order for round-robin `map`: the distributor gives each worker `run` consecutive
/// items per turn, so read the workers in that rotation, `run` items each. Releases each ring
/// at the end of its run and before waiting.
pub(crate) struct RotateMerge<U> {
    rings: Vec<Consumer<U>>,
    cur: usize,
    run: usize,
    /// Items left in `rings[cur]`'s run.
    left: usize,
    done: bool,
    stats: MergerStats,
}

impl<U> RotateMerge<U> {
    pub(crate) fn new(rings: Vec<Consumer<U>>, run: usize) -> Self {
        let run = run.max(1);
        RotateMerge {
            rings,
            cur: 0,
            run,
            left: run,
            done: false,
            stats: MergerStats::default(),
        }
    }

    /// Moves the ready part of the current run to `buf`.
    fn poll_into(&mut self, block: bool, buf: &mut Vec<U>) -> Step<usize> {
        if self.done {
            return Step::End;
        }
        loop {
            match self.rings[self.cur].take_into(buf, self.left) {
                Ok(n) => {
                    self.left -= n;
                    self.rings[self.cur].release();
                    if self.left == 0 {
                        self.left = self.run;
                        self.cur = if self.cur + 1 == self.rings.len() {
                            0
                        } else {
                            self.cur + 1
                        };
                    }
                    self.stats.items += n as u64;
                    return Step::Item(n);
                }
                Err(PopError::Empty) => {
                    self.rings[self.cur].release();
                    if !block {
                        return Step::Empty;
                    }
                    self.stats.waits_empty += 1;
                    if self.rings[self.cur].wait_ready().is_err() {
                        break;
                    }
                }
                Err(PopError::Closed) => break,
            }
        }
        self.done = true;
        self.rings.iter_mut().for_each(Consumer::close);
        Step::End
    }
}

/// One input's outputs in the reorder window: the first in place (all `map` ever has), any
/// more after it.
struct Slot<U> {
    first: Option<U>,
    more: VecDeque<U>,
    complete: bool,
}

impl<U> Slot<U> {
    fn new() -> Self {
        Slot {
            first: None,
            more: VecDeque::new(),
            complete: false,
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.is_empty()
    }

    #[inline]
    fn push(&mut self, u: U) {
        if self.is_empty() {
            self.first = Some(u);
        } else {
            self.more.push_back(u);
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<U> {
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
    rings: Vec<Consumer<Tagged<Mark<U>>>>,
    /// Rings closed at the end or on an abort, with what they still hold: dropped at teardown
    /// ([`Merger::drop_items`]), never while the stream is read.
    retired: Vec<Consumer<Tagged<Mark<U>>>>,
    /// Slot `seq & mask` holds the outputs of input `seq` while it waits, for every `seq` in
    /// `[next, next + slots.len())`. A power of two, grown by doubling (fallibly, see `grow`)
    /// when an output arrives further ahead, up to `max_slots`: the window's memory follows
    /// the distance between the oldest and the newest input in flight, not its setting.
    slots: Vec<Slot<U>>,
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
    scratch: Vec<Tagged<Mark<U>>>,
    batch: usize,
    wait: WaitStrategy,
    stats: MergerStats,
}

impl<U> TaggedMerge<U> {
    /// # Errors
    /// [`EngineError::TooLarge`] for a window whose slot array could never be allocated
    /// (`launch` checks it first); [`EngineError::Alloc`] if the first slots or the scratch
    /// buffer are refused.
    pub(crate) fn try_new(
        rings: Vec<Consumer<Tagged<Mark<U>>>>,
        window: Arc<Window>,
        batch: usize,
    ) -> Result<Self, EngineError> {
        let wait = rings
            .first()
            .map_or(WaitStrategy::default(), Consumer::wait_strategy);
        let max_slots = window_slots::<U>(window.size)?;
        let n = max_slots.min(INITIAL_SLOTS);
        let slots = new_slots(n).ok_or(EngineError::Alloc {
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
            batch,
            wait,
            stats: MergerStats::default(),
        })
    }

    /// Makes room for input `next + d` (`d < max_slots`, the distributor's guarantee):
    /// doubles the slot array (at least) and moves every waiting input to its new slot.
    /// `false`: the memory was refused (nothing changed).
    #[cold]
    fn grow(&mut self, d: usize) -> bool {
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
    fn fit_scratch(&mut self) -> bool {
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
    fn advance(next: &mut usize, unpublished: &mut usize, batch: usize, window: &Window) {
        *next = next.wrapping_add(1);
        *unpublished += 1;
        if *unpublished >= batch {
            *unpublished = 0;
            window.advance(*next);
        }
    }

    /// Publishes `next` to the distributor, if anything was completed since the last time
    /// (otherwise `window.done` is `next` already, and a waiting distributor has been told).
    fn publish(&mut self) {
        if self.unpublished > 0 {
            self.unpublished = 0;
            self.window.advance(self.next);
        }
    }

    /// Moves the outputs waiting in the window, in input order, to `buf` (while it has room).
    fn drain_window(&mut self, buf: &mut Vec<U>) {
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
    fn pull(&mut self, abort: &dyn AbortFlag, buf: &mut Vec<U>) -> Option<usize> {
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
                        abort.report(EngineError::Alloc {
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
    fn sort_out(&mut self, buf: &mut Vec<U>) {
        let mask = self.mask;
        // In locals: the loop stores nothing but the items.
        let (mut next, mut unpublished, mut held) = (self.next, self.unpublished, self.held);
        let mut scratch = std::mem::take(&mut self.scratch);
        for Tagged(seq, mark) in scratch.drain(..) {
            if seq == next
                && buf.len() < buf.capacity()
                && (held == 0 || self.slots[seq & mask].is_empty())
            {
                // In order: `seq` is not complete (outputs of it are still arriving) and none
                // of its outputs wait in the window.
                let last = match mark {
                    Mark::Item(u) => {
                        buf.push(u);
                        false
                    }
                    Mark::Last(u) => {
                        buf.push(u);
                        true
                    }
                    Mark::End => true,
                };
                if last {
                    Self::advance(&mut next, &mut unpublished, self.batch, &self.window);
                }
                continue;
            }
            let slot = &mut self.slots[seq & mask];
            match mark {
                Mark::Item(u) => {
                    slot.push(u);
                    held += 1;
                }
                Mark::Last(u) => {
                    slot.push(u);
                    slot.complete = true;
                    self.buffered += 1;
                    held += 2;
                }
                Mark::End => {
                    slot.complete = true;
                    self.buffered += 1;
                    held += 1;
                }
            }
        }
        self.scratch = scratch;
        (self.next, self.unpublished, self.held) = (next, unpublished, held);
    }

    /// Moves outputs in input order to `buf` (up to its spare capacity), waiting for the next
    /// one if `block` and none is ready: `Item(n)`, `Empty` (only without `block`), or `End`
    /// when every ring has ended (or the engine aborted).
    fn poll_into(&mut self, abort: &dyn AbortFlag, block: bool, buf: &mut Vec<U>) -> Step<usize> {
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
    fn close_all(&mut self) {
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
/// [`EngineError::TooLarge`] when that power of two, or its array in bytes, exceeds what a
/// `Vec` can hold.
pub(crate) fn window_slots<U>(size: usize) -> Result<usize, EngineError> {
    size.max(1)
        .checked_next_power_of_two()
        .filter(|&n| std::alloc::Layout::array::<Slot<U>>(n).is_ok())
        .ok_or(EngineError::TooLarge {
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

/// Items moved out of the rings with one copy, handed out one at a time: a buffer, and a
/// [`RunCursor`] over the items of its last fill.
pub(crate) struct LocalQueue<U> {
    /// Declared first: the items still owned are dropped before `items` frees the buffer.
    run: RunCursor<U>,
    /// The buffer; its length is 0 except inside [`fill`](Self::fill).
    items: Vec<U>,
}

impl<U> LocalQueue<U> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        LocalQueue {
            run: RunCursor::empty(),
            items: Vec::with_capacity(n.max(1)),
        }
    }

    /// As [`with_capacity`](Self::with_capacity), reserved fallibly.
    ///
    /// # Errors
    /// [`EngineError::Alloc`] if the memory is refused.
    pub(crate) fn try_with_capacity(n: usize) -> Result<Self, EngineError> {
        Ok(LocalQueue {
            run: RunCursor::empty(),
            items: crate::error::try_buffer(n.max(1), "merged stream's buffer")?,
        })
    }

    /// Drops the items not handed out yet.
    pub(crate) fn clear(&mut self) {
        drop(std::mem::replace(&mut self.run, RunCursor::empty()));
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<U> {
        self.run.pop()
    }

    /// Items not handed out yet.
    pub(crate) fn len(&self) -> usize {
        self.run.len()
    }

    /// Refills the queue with what `f` pushes into its (empty) buffer, and returns what `f`
    /// returned. Call only when `pop` returned `None`, and while no cursor taken with
    /// [`take_run`](Self::take_run) still holds items (they sit in the same buffer).
    #[inline]
    pub(crate) fn fill<R>(&mut self, f: impl FnOnce(&mut Vec<U>) -> R) -> R {
        debug_assert_eq!(self.run.len(), 0);
        debug_assert!(self.items.is_empty());
        let r = f(&mut self.items);
        let len = self.items.len();
        // SAFETY: the cursor takes over the `len` items just pushed; `set_len(0)` first, so
        // the `Vec` never drops them (the cursor does, or hands them out).
        unsafe { self.items.set_len(0) };
        self.run = RunCursor {
            base: self.items.as_mut_ptr(),
            next: 0,
            len,
            _owns: PhantomData,
        };
        r
    }

    /// Hands every item still queued here to a [`RunCursor`]; the queue forgets them.
    ///
    /// The cursor points into this queue's buffer: keep the queue alive, and do not
    /// [`fill`](Self::fill) it, until the cursor is empty or dropped.
    pub(crate) fn take_run(&mut self) -> RunCursor<U> {
        std::mem::replace(&mut self.run, RunCursor::empty())
    }
}

/// A run of merged items owned by a merged-stream iterator ([`Output`](crate::Output),
/// [`Driven`](crate::Driven)) and handed out one at a time by its `next`.
///
/// It sits in the iterator itself, while everything the iterator's slow path uses sits behind
/// a `Box`; the slow path is given that `Box`'s contents, never a pointer to the iterator. So
/// nothing the compiler cannot see can write the cursor, and it keeps `next` in a register
/// across a caller's loop, instead of storing and reloading it for every item.
///
/// It points into the buffer of the [`LocalQueue`] it was taken from ([`LocalQueue::take_run`]),
/// which its owner keeps alive (the cursor is dropped first) and does not refill before the
/// cursor is empty (it refills only when `pop` returned `None`).
pub(crate) struct RunCursor<U> {
    base: *mut U,
    next: usize,
    len: usize,
    _owns: PhantomData<U>,
}

// SAFETY: the cursor owns the items `base[next..len]` (like a `Vec<U>` would) and nothing else;
// the buffer they sit in is not touched by anyone else while they are there (see the type).
unsafe impl<U: Send> Send for RunCursor<U> {}
// SAFETY: `&RunCursor` only reads the two counters.
unsafe impl<U: Sync> Sync for RunCursor<U> {}

impl<U> RunCursor<U> {
    /// A cursor with no items.
    pub(crate) fn empty() -> Self {
        RunCursor {
            base: std::ptr::NonNull::dangling().as_ptr(),
            next: 0,
            len: 0,
            _owns: PhantomData,
        }
    }

    /// The next item of the run, if any.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<U> {
        if self.next < self.len {
            // SAFETY: `base[next]` is an item still owned here (`next < len`); `next` passes
            // it, so it is neither read nor dropped here again.
            let u = unsafe { self.base.add(self.next).read() };
            self.next += 1;
            Some(u)
        } else {
            None
        }
    }

    /// Items not handed out yet.
    pub(crate) fn len(&self) -> usize {
        self.len - self.next
    }
}

impl<U> Drop for RunCursor<U> {
    #[inline]
    fn drop(&mut self) {
        if self.next < self.len {
            // SAFETY: `base[next..len]` are the items still owned here; a panicking `Drop`
            // still drops the rest of the slice. `next = len` first: nothing is dropped twice.
            unsafe {
                let rest = std::ptr::slice_from_raw_parts_mut(
                    self.base.add(self.next),
                    self.len - self.next,
                );
                self.next = self.len;
                std::ptr::drop_in_place(rest);
            }
        }
    }
}
