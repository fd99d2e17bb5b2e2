//! What a worker runs per item: the work types behind `map`, `filter_map`, `flat_map` and
//! `stateful` (sealed: built by the builder, never implemented by users).

use super::emit::{Emit, OutBuf};
use crate::stats::WorkerStats;
use std::cell::Cell;

mod sealed {
    /// Keeps [`Work`](super::Work) implemented by this crate only.
    pub trait Sealed {}
    impl<F> Sealed for super::MapWork<F> {}
    impl<F> Sealed for super::FilterMapWork<F> {}
    impl<F> Sealed for super::FlatMapWork<F> {}
    impl<S, F, E> Sealed for super::StatefulWork<S, F, E> {}
    impl<T, V> Sealed for super::ChainWork<T, V> {}
}

/// The per-item work a worker runs (built per worker by the work methods; not implemented by
/// users).
pub trait Work<T, U>: sealed::Sealed {
    /// Whether [`end`](Self::end) does anything (a `stateful` work with an end-of-stream hook).
    const HAS_END: bool = false;

    /// Whether the distributor may run a quiet run of this work itself (`engine::inline`):
    /// stateless (any copy of the work, the factory's for any worker, may process any item),
    /// and at most one output per input (`map`, `filter_map`), so that a run of
    /// `k` items needs at most `k` outputs' room on the lane, and is taken only when that room
    /// is free. A run that waited for room would stop the distributor taking items from its
    /// source until the merger read on: a caller that feeds the source before it reads the
    /// output would wait for the distributor, and the distributor for the caller.
    const QUIET_RUNS: bool = false;

    /// Processes one item, sending its outputs to `emit`.
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>);

    /// The worker's input ended normally: its last outputs (the end-of-stream hook).
    fn end(&mut self, _emit: &mut Emit<'_, U>) {}

    /// The stage whose function ran last (a graph's quiet run runs every stage: a panic
    /// there names the stage it came from).
    #[doc(hidden)]
    fn stage(&self) -> usize {
        0
    }

    /// The worker of that stage a quiet run for the first stage's worker `first` stood in
    /// for: in a graph, the same index where every link up to the stage is one to one, else
    /// 0 (the index that stage's work on the distributor's thread was made for).
    #[doc(hidden)]
    fn worker(&self, first: usize) -> usize {
        first
    }
}

/// `map`'s work.
pub struct MapWork<F>(pub(crate) std::sync::Arc<F>);

/// `filter_map`'s work.
pub struct FilterMapWork<F>(pub(crate) std::sync::Arc<F>);

/// `flat_map`'s work.
pub struct FlatMapWork<F>(pub(crate) std::sync::Arc<F>);

/// `stateful`'s work: the worker's state, the function, and the end-of-stream hook
/// ([`NoEnd`], or [`OnEnd`] from `Pipeline::on_end`).
pub struct StatefulWork<S, F, E = NoEnd>(pub(crate) S, pub(crate) std::sync::Arc<F>, pub(crate) E);

/// A `stateful` work without an end-of-stream hook.
pub struct NoEnd;

/// A `stateful` work's end-of-stream hook (`Pipeline::on_end`).
pub struct OnEnd<E>(pub(crate) std::sync::Arc<E>);

impl<T, U: Send + 'static, F: Fn(T) -> U> Work<T, U> for MapWork<F> {
    const QUIET_RUNS: bool = true;

    // Always: see `Emit::push`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        emit.push((self.0)(item));
    }
}

impl<T, U: Send + 'static, F: Fn(T) -> Option<U>> Work<T, U> for FilterMapWork<F> {
    const QUIET_RUNS: bool = true;

    // Always: see `Emit::push`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        if let Some(u) = (self.0)(item) {
            emit.push(u);
        }
    }
}

impl<T, U: Send + 'static, I: IntoIterator<Item = U>, F: Fn(T) -> I> Work<T, U> for FlatMapWork<F> {
    // Always: see `Emit::push`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        for u in (self.0)(item) {
            emit.push(u);
        }
    }
}

impl<T, U: Send + 'static, S, F: Fn(&mut S, T, &mut Emit<'_, U>)> Work<T, U>
    for StatefulWork<S, F>
{
    // Always: see `Emit::push`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        (self.1)(&mut self.0, item, emit);
    }
}

impl<T, U: Send + 'static, S, F, E> Work<T, U> for StatefulWork<S, F, OnEnd<E>>
where
    F: Fn(&mut S, T, &mut Emit<'_, U>),
    E: Fn(&mut S, &mut Emit<'_, U>),
{
    const HAS_END: bool = true;

    // Always: see `Emit::push`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        (self.1)(&mut self.0, item, emit);
    }

    fn end(&mut self, emit: &mut Emit<'_, U>) {
        (self.2 .0)(&mut self.0, emit);
    }
}

/// A graph's stages run one after another on one thread: the work of a quiet run on the
/// distributor's thread (`engine::inline`), every stage stateless. `T` in, `V` out.
pub(crate) trait LocalStages<T, V> {
    /// Runs `item` through the stages, the last one's outputs to `emit`; `at` is set to each
    /// stage as it runs.
    fn call(&mut self, item: T, emit: &mut Emit<'_, V>, at: &Cell<usize>);
}

/// One stage's work, the stage's place in the graph beside it.
pub(crate) struct LocalWork<K> {
    pub(crate) work: K,
    pub(crate) stage: usize,
}

impl<T, V: Send + 'static, K: Work<T, V>> LocalStages<T, V> for LocalWork<K> {
    #[inline]
    fn call(&mut self, item: T, emit: &mut Emit<'_, V>, at: &Cell<usize>) {
        at.set(self.stage);
        self.work.call(item, emit);
    }
}

/// Stages `head`, then `last`: `head`'s outputs for one item gather in a buffer of this
/// thread, then each goes through `last`.
pub(crate) struct Compose<T, U, V> {
    pub(crate) head: Box<dyn LocalStages<T, U>>,
    /// `OutBuf::Local`.
    pub(crate) buf: OutBuf<U>,
    pub(crate) stats: WorkerStats,
    pub(crate) last: Box<dyn LocalStages<U, V>>,
}

impl<T, U: Send + 'static, V: Send + 'static> LocalStages<T, V> for Compose<T, U, V> {
    fn call(&mut self, item: T, emit: &mut Emit<'_, V>, at: &Cell<usize>) {
        let mut mid = Emit::new(&mut self.buf, false, false, &mut self.stats);
        self.head.call(item, &mut mid, at);
        drop(mid);
        let OutBuf::Local(buf) = &mut self.buf else {
            return;
        };
        // Taken out while `last` runs: a panic there drops the rest with it, once.
        let mut items = std::mem::take(buf);
        for u in items.drain(..) {
            self.last.call(u, emit, at);
        }
        if let OutBuf::Local(buf) = &mut self.buf {
            *buf = items;
        }
    }
}

/// A graph's quiet-run work: every stage in turn.
pub struct ChainWork<T, V> {
    stages: Box<dyn LocalStages<T, V>>,
    at: Cell<usize>,
    /// Per stage: whether the first stage's worker index carries to it (every link up to it
    /// one to one).
    carries: Vec<bool>,
}

impl<T, V> ChainWork<T, V> {
    pub(crate) fn new(stages: Box<dyn LocalStages<T, V>>, carries: Vec<bool>) -> Self {
        ChainWork {
            stages,
            at: Cell::new(0),
            carries,
        }
    }
}

impl<T, V: Send + 'static> Work<T, V> for ChainWork<T, V> {
    const QUIET_RUNS: bool = true;

    #[inline]
    fn call(&mut self, item: T, emit: &mut Emit<'_, V>) {
        self.stages.call(item, emit, &self.at);
    }

    fn stage(&self) -> usize {
        self.at.get()
    }

    fn worker(&self, first: usize) -> usize {
        // Each stage's work here was made by its factory for index 0 (`StageSpawn::local`).
        if self.carries.get(self.at.get()).copied().unwrap_or(false) {
            first
        } else {
            0
        }
    }
}
