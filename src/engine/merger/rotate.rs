//! Input order by the distributor's rotation (round-robin `map`).

use super::Step;
use crate::ring::{Consumer, PopError};
use crate::stats::MergerStats;

/// Input order for round-robin `map`: the distributor gives each worker `run` consecutive
/// items per turn, so read the workers in that rotation, `run` items each. Releases each ring
/// at the end of its run and before waiting.
pub(crate) struct RotateMerge<U> {
    pub(crate) rings: Vec<Consumer<U>>,
    pub(super) cur: usize,
    run: usize,
    /// Items left in `rings[cur]`'s run.
    left: usize,
    done: bool,
    pub(crate) stats: MergerStats,
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
    pub(crate) fn poll_into(&mut self, block: bool, buf: &mut Vec<U>) -> Step<usize> {
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
