//! The reorder window between a tagging distributor and the tagged merger.

use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::wait::WakeSlot;

/// The reorder window between a tagging distributor and the merger: the distributor hands out
/// sequence number `s` only while `s < done + size`, so the merger never holds more than `size`
/// inputs' outputs.
pub(crate) struct Window {
    /// The merger's next sequence number to emit (published in batches, never ahead of it).
    pub(crate) done: AtomicUsize,
    /// The merger is gone: stop waiting for room.
    pub(crate) closed: AtomicBool,
    /// Where the distributor parks while the window is full.
    pub(crate) slot: WakeSlot,
    pub(crate) size: usize,
}

impl Window {
    pub(crate) fn new(size: usize) -> Self {
        Window {
            done: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            // Advanced once per batch, never per item: the symmetric handshake (see
            // `channel_for_runs`).
            slot: WakeSlot::with_mode(false),
            size,
        }
    }

    /// Merger side: everything before `next` has been emitted.
    pub(crate) fn advance(&self, next: usize) {
        // Release: pairs with the distributor's Acquire load in `has_room`; nothing is read
        // through it, it only lets the distributor go on.
        self.done.store(next, Release);
        self.slot.notify();
    }

    /// Merger side: the merger is gone.
    pub(crate) fn close(&self) {
        // Release: pairs with the Acquire load in `has_room`.
        self.closed.store(true, Release);
        self.slot.notify();
    }

    /// Whether `seq` may be handed out.
    pub(crate) fn room(&self, seq: usize) -> WindowRoom {
        // Acquire: pairs with `close`.
        if self.closed.load(Acquire) {
            return WindowRoom::Closed;
        }
        // Acquire: pairs with `advance`.
        let done = self.done.load(Acquire);
        if seq.wrapping_sub(done) < self.size {
            WindowRoom::Open { done }
        } else {
            WindowRoom::Full
        }
    }
}

/// What [`Window::room`] saw for a sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowRoom {
    /// It fits: the merger had emitted everything before `done`.
    Open { done: usize },
    /// Not yet: the merger has not emitted far enough.
    Full,
    /// The merger is gone.
    Closed,
}

impl WindowRoom {
    /// `Some` once a waiter for room can stop waiting (room, or closed).
    pub(crate) fn ready(self) -> Option<()> {
        (self != WindowRoom::Full).then_some(())
    }
}
