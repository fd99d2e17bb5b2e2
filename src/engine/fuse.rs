//! Stages fused on one thread: a graph's stage whose link from the stage before is one to
//! one (as many workers, round-robin) may run on the threads of that stage instead of its
//! own (`Fusion`, in `engine::graph`). Worker `i` of the stage before then hands its
//! outputs, a run at a time, to its own copy of the fused stage's work (`OutBuf::Through`),
//! which writes where worker `i` of the fused stage would have written: no ring, no wake-up
//! and no thread between the two, and the same items, in the same order, reach the same
//! state as over the one-to-one ring.
//!
//! What stays the fused stage's own: its work and state (made on the worker's thread by the
//! stage's factory for index `i`), its end-of-stream hook, and the stage a panic names. The
//! hook runs when an unfused one would: after a normal end, once every thread of the stage
//! has run the hooks before it and passed their outputs through this stage (a level of the
//! threads' end barrier, `Control::hook_barrier`), so no hook runs before its stage's last
//! input, or after a failure or an early end.

use super::control::Control;
use super::emit::{Downstream, OutBuf};
use super::work::Work;
use super::worker::{end_of_stream, stage_run};
use crate::loom::sync::Arc;
use crate::stats::WorkerStats;
use crate::teardown::Teardown;
use crate::wait::WakeSlot;
use crate::Failure;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// A fused stage as the worker before it sees it: `U` in, its outputs to `out`. Its work
/// and state are made when the thread starts (`start`), as an unfused worker's are.
pub(crate) struct Fused<U, V, F, K> {
    factory: std::sync::Arc<F>,
    /// The stage's place in the graph, and the worker's index in it (the factory's argument).
    stage: usize,
    index: usize,
    /// The group of threads it runs on (its end barrier in the `Control`), and its level
    /// there: 1 for the first stage fused onto the group's own, 2 for the next…
    barrier: usize,
    level: usize,
    /// Made on the worker's thread when it starts (`start`).
    work: OnThread<K>,
    out: OutBuf<V>,
    one_to_one: bool,
    stats: WorkerStats,
    control: Arc<Control>,
    _items: std::marker::PhantomData<fn(U)>,
}

/// A panic already recorded as the engine's failure by the fused stage it came from: the
/// stages around it unwind without recording another.
struct Recorded;

impl<U, V, F, K> Fused<U, V, F, K> {
    /// Worker `index` of stage `stage`, the `level`-th stage fused onto the threads of group
    /// `barrier`, writing to `out`.
    pub(crate) fn new(
        factory: std::sync::Arc<F>,
        stage: usize,
        index: usize,
        (barrier, level): (usize, usize),
        out: OutBuf<V>,
        one_to_one: bool,
        control: Arc<Control>,
    ) -> Self {
        Fused {
            factory,
            stage,
            index,
            barrier,
            level,
            work: OnThread(None),
            out,
            one_to_one,
            stats: WorkerStats::default(),
            control,
            _items: std::marker::PhantomData,
        }
    }
}

impl<U, V, F, K> Fused<U, V, F, K> {
    /// Records a panic of this stage (unless a stage after it recorded it already).
    fn record(&self, payload: Box<dyn std::any::Any + Send>, end: bool) {
        if payload.is::<Recorded>() {
            return;
        }
        let (stage, worker) = (self.stage, self.index);
        self.control.panicked(
            |message| {
                if end {
                    Failure::EndPanicked {
                        stage,
                        worker,
                        message,
                    }
                } else {
                    Failure::WorkerPanicked {
                        stage,
                        worker,
                        message,
                    }
                }
            },
            payload,
        );
    }
}

impl<U, V, F, K> Downstream<U> for Fused<U, V, F, K>
where
    U: 'static,
    V: Send + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
    K: Work<U, V> + 'static,
{
    fn start(&mut self) {
        let Fused {
            factory,
            index,
            work,
            ..
        } = self;
        let made = catch_unwind(AssertUnwindSafe(|| {
            work.0.get_or_insert_with(|| factory(*index));
        }));
        if let Err(payload) = made {
            // Recorded here, with this stage's name (`WorkerPanicked`), as in `run`.
            self.record(payload, false);
            resume_unwind(Box::new(Recorded))
        }
        self.out.start();
    }

    fn run(&mut self, items: &mut Vec<U>, seqs: Option<&mut Vec<usize>>) -> bool {
        let Fused {
            factory,
            index,
            work,
            out,
            one_to_one,
            stats,
            ..
        } = self;
        let ran = catch_unwind(AssertUnwindSafe(|| {
            // Made by `start` on the worker's thread (see `OnThread`); `get_or_insert_with`
            // only keeps this from depending on it (a constructor's panic is this stage's).
            let work = work.0.get_or_insert_with(|| factory(*index));
            let one_to_one = *one_to_one;
            match seqs {
                Some(seqs) => stage_run(
                    seqs.drain(..).zip(items.drain(..)),
                    out,
                    work,
                    one_to_one,
                    stats,
                ),
                None => stage_run(
                    items.drain(..).map(|u| (0, u)),
                    out,
                    work,
                    one_to_one,
                    stats,
                ),
            }
        }));
        match ran {
            Ok(open) => open,
            Err(payload) => {
                // Recorded here, with this stage's name, before any ring closes (the thread's
                // shell closes them once the unwind reaches it).
                self.record(payload, false);
                resume_unwind(Box::new(Recorded))
            }
        }
    }

    fn sequenced(&self) -> bool {
        self.out.sequenced()
    }

    fn commit(&mut self) {
        self.out.commit();
    }

    fn close(&mut self) {
        self.out.close();
    }

    fn is_closed(&self) -> bool {
        self.out.is_closed()
    }

    fn each_close_slot(&self, f: &mut dyn FnMut(&WakeSlot)) {
        self.out.on_close().each(f);
    }

    fn has_end(&self) -> bool {
        K::HAS_END || self.out.has_end()
    }

    fn end(&mut self) {
        if !self.has_end() {
            return;
        }
        // As an unfused stage's hook, this one waits until every thread of the stage has
        // every input it will get (the hooks before it on every thread have run, and their
        // outputs went through this stage there), and runs only after a normal end.
        if !self.control.hook_barrier(self.barrier, self.level) {
            return;
        }
        if K::HAS_END {
            let Fused {
                work, out, stats, ..
            } = self;
            // Made by `start` when the thread started (else the thread unwound there).
            let Some(work) = &mut work.0 else {
                return;
            };
            let ended = catch_unwind(AssertUnwindSafe(|| end_of_stream(work, out, stats)));
            if let Err(payload) = ended {
                self.record(payload, true);
                return;
            }
        }
        self.out.end();
    }

    fn set_flush(&mut self, every: usize) {
        self.out.set_flush(every);
    }

    fn counts(&self) -> (u64, u64) {
        let waits = self.stats.waits_full;
        match self.out.fused_counts() {
            Some((sent, later)) => (sent, waits + later),
            None => (self.stats.items_out, waits),
        }
    }

    fn drop_parts(self: Box<Self>, td: &mut Teardown) {
        let Fused { work, out, .. } = *self;
        td.step(|| drop(work));
        out.drop_parts(td);
    }
}

/// A value made, used and dropped on one thread only: a fused stage's work, which (like a
/// worker's) may hold state that is not `Send`.
struct OnThread<K>(Option<K>);

// SAFETY: the value is made by `Fused::start` (or `run`) while the worker runs, on its own
// thread, and never leaves it: the `Fused` that holds it sits in the worker's output side,
// which is built empty on the thread that builds the engine, moved once into the worker's
// thread before its first run, and dropped there (teardown, or the end of the thread; a
// worker whose thread failed to start is dropped empty). So no two threads ever reach the
// value, and it is dropped where it was made.
unsafe impl<K> Send for OnThread<K> {}
