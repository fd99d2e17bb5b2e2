//! What a worker runs per item: the work types behind `map`, `filter_map`, `flat_map` and
//! `stateful` (sealed: built by the builder, never implemented by users).

use super::emit::Emit;

mod sealed {
    /// Keeps [`Work`](super::Work) implemented by this crate only.
    pub trait Sealed {}
    impl<F> Sealed for super::MapWork<F> {}
    impl<F> Sealed for super::FilterMapWork<F> {}
    impl<F> Sealed for super::FlatMapWork<F> {}
    impl<S, F, E> Sealed for super::StatefulWork<S, F, E> {}
}

/// The per-item work a worker runs (built per worker by the work methods; not implemented by
/// users).
pub trait Work<T, U>: sealed::Sealed {
    /// Whether [`end`](Self::end) does anything (a `stateful` work with an end-of-stream hook).
    const HAS_END: bool = false;

    /// Whether any copy of the work (the factory's for any worker) may process any item: no
    /// per-worker state (`map`, `filter_map`, `flat_map`). The distributor then may run a
    /// quiet run itself (`engine::inline`).
    const STATELESS: bool = false;

    /// Processes one item, sending its outputs to `emit`.
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>);

    /// The worker's input ended normally: its last outputs (the end-of-stream hook).
    fn end(&mut self, _emit: &mut Emit<'_, U>) {}
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
    const STATELESS: bool = true;

    // Always: see `Emit::push`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn call(&mut self, item: T, emit: &mut Emit<'_, U>) {
        emit.push((self.0)(item));
    }
}

impl<T, U: Send + 'static, F: Fn(T) -> Option<U>> Work<T, U> for FilterMapWork<F> {
    const STATELESS: bool = true;

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
    const STATELESS: bool = true;

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
