//! Panic-safe teardown: a sequence of steps where a panic in one (an item's `Drop`, a user
//! iterator's `Drop`) does not skip the others.
//!
//! Every teardown path in the crate has the same shape: first **signal** (close every ring and
//! the reorder window, so no thread waits on us any more), then **drop** what is held (each
//! container in a step of its own), then **join** the threads, and only then re-raise the
//! first panic. A panicking `Drop` therefore reaches the caller as it would from a `Vec`, but
//! only after every ring was closed, every thread joined and every other item dropped once.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Collects the first panic of a sequence of teardown steps.
#[must_use = "call `finish` to re-raise the first panic"]
pub(crate) struct Teardown {
    first: Option<Box<dyn Any + Send>>,
}

impl Teardown {
    pub(crate) fn new() -> Self {
        Teardown { first: None }
    }

    /// Runs `f`; a panic is caught and kept (the first one) or discarded (later ones).
    pub(crate) fn step(&mut self, f: impl FnOnce()) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            if self.first.is_none() {
                self.first = Some(p);
            } else {
                discard(p);
            }
        }
    }

    /// The first panic caught, if any (the caller reports it instead of re-raising it).
    pub(crate) fn into_panic(mut self) -> Option<Box<dyn Any + Send>> {
        self.first.take()
    }

    /// Re-raises the first panic caught, unless this thread is already unwinding (a teardown
    /// run by a `Drop` during another panic): a second panic escaping a `Drop` then would
    /// abort the process, so the payload is discarded and the first panic goes on.
    pub(crate) fn finish(self) {
        if let Some(p) = self.into_panic() {
            if std::thread::panicking() {
                discard(p);
            } else {
                resume_unwind(p);
            }
        }
    }
}

/// Drops a panic payload; a payload whose own `Drop` panics is leaked instead.
pub(crate) fn discard(p: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(p))) {
        std::mem::forget(again);
    }
}
