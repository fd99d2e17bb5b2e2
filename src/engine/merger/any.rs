//! Any order.

use super::{AbortFlag, Step};
use crate::ring::{Consumer, PopError};
use crate::stats::MergerStats;
use crate::wait::{wait_until, WaitStrategy};

/// Any order: takes the ready items of each input in turn (as many as the caller's buffer
/// holds), and parks on all of them at once when none has an item.
pub(crate) struct AnyMerge<U> {
    /// Open rings (a closed one is removed).
    pub(crate) rings: Vec<Consumer<U>>,
    /// Rings closed on an abort, with what they still hold: dropped at teardown
    /// ([`Merger::drop_items`]), never while the stream is read.
    pub(crate) retired: Vec<Consumer<U>>,
    cur: usize,
    /// Rings found empty in a row.
    empty_run: usize,
    pub(super) wait: WaitStrategy,
    pub(crate) stats: MergerStats,
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
    pub(crate) fn poll_into(
        &mut self,
        abort: &dyn AbortFlag,
        block: bool,
        buf: &mut Vec<U>,
    ) -> Step<usize> {
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
