//! What several test binaries share: the two caller-side modes of the engine, counted items
//! (`tracked`), a quiet source (`quiet_feed`), and retries for what only timing allows
//! (`in_some_attempt`).
#![allow(dead_code)] // each binary uses part of it

#[cfg(feature = "shuttle")]
pub mod shuttle;
pub mod tracked;

use fanring::stats::Stats;
use fanring::Failure;

/// `run` (a distributor thread) or `drive` (the caller distributes and merges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Run,
    Drive,
}

pub const MODES: [Mode; 2] = [Mode::Run, Mode::Drive];

/// The merged stream of either mode.
pub enum Merged<I: Iterator, U>
where
    I::Item: Send + 'static,
{
    Run(fanring::Output<U>),
    Drive(fanring::Driven<fanring::source::Iter<I>, U>),
}

impl<I: Iterator, U> Merged<I, U>
where
    I::Item: Send + 'static,
{
    pub fn join(self) -> Result<Stats, Failure> {
        match self {
            Merged::Run(o) => o.join(),
            Merged::Drive(d) => d.join(),
        }
    }
    pub fn error(&self) -> Option<Failure> {
        match self {
            Merged::Run(o) => o.error(),
            Merged::Drive(d) => d.error(),
        }
    }
    pub fn next_checked(&mut self) -> Result<Option<U>, Failure> {
        match self {
            Merged::Run(o) => o.next_checked(),
            Merged::Drive(d) => d.next_checked(),
        }
    }
}

impl<I: Iterator, U> Iterator for Merged<I, U>
where
    I::Item: Send + 'static,
{
    type Item = U;
    fn next(&mut self) -> Option<U> {
        match self {
            Merged::Run(o) => o.next(),
            Merged::Drive(d) => d.next(),
        }
    }
}

/// Starts `pipeline` over `source` in `mode`.
#[macro_export]
macro_rules! launch {
    ($pipeline:expr, $mode:expr, $source:expr) => {{
        let source = ($source).into_iter();
        match $mode {
            $crate::common::Mode::Run => {
                $crate::common::Merged::Run($pipeline.run(source).unwrap())
            }
            $crate::common::Mode::Drive => {
                $crate::common::Merged::Drive($pipeline.drive(source).unwrap())
            }
        }
    }};
}

/// Runs `attempt` until it returns `true`, at most `tries` times. For behaviour the engine
/// shows only when timing allows: a quiet run is taken only while the distributor's recent
/// runs were short, and on a loaded machine a preempted run looks long, so a whole quiet
/// stream may go to the workers. `attempt` asserts every guarantee itself, whatever the
/// timing, and returns whether the timing-dependent behaviour happened.
///
/// # Panics
/// If it did not happen in any of the `tries` attempts (`what` says what was expected).
pub fn in_some_attempt(tries: usize, what: &str, mut attempt: impl FnMut() -> bool) {
    assert!(
        (0..tries).any(|_| attempt()),
        "{what}: in none of {tries} attempts"
    );
}

/// Feeds `0..n` through a channel, one item at a time with a pause, so that the workers park
/// between items (a quiet stream).
pub fn quiet_feed(n: u64, pause: std::time::Duration) -> std::sync::mpsc::Receiver<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for i in 0..n {
            if tx.send(i).is_err() {
                return;
            }
            std::thread::sleep(pause);
        }
    });
    rx
}
