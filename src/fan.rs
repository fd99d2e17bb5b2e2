//! The seed's two functions, `Split` and `Merge`, over SPSC rings. They compose like the Go
//! originals: `merge(workers(split(rx, n)))`.

use crate::dispatch::{Dispatch, Distributor};
use crate::loom::thread::Builder as ThreadBuilder;
use crate::merge::{AnyMerge, LocalQueue, Merger};
use crate::wait::wait_until;
use crate::{channel_with, Consumer, EngineError, PopError, Producer};

/// Splits `input` round-robin over `n` new rings (of `input`'s capacity and wait strategy),
/// fed by a distributor thread. When `input` is closed and drained, every output ring is
/// closed. If any output is closed (its consumer dropped), the distributor stops and closes
/// `input` too, so the producer upstream sees `Closed`; items in flight are dropped exactly
/// once.
///
/// ```
/// use fanring::{channel, merge, split};
/// let (mut tx, rx) = channel::<u32>(64).unwrap();
/// let parts = split(rx, 3).unwrap();
/// std::thread::spawn(move || (0..300).for_each(|i| tx.push(i).unwrap()));
/// // each part could go to a worker; here they are merged straight back
/// let mut all: Vec<u32> = merge(parts).collect();
/// all.sort();
/// assert_eq!(all, (0..300).collect::<Vec<_>>());
/// ```
///
/// # Errors
/// [`EngineError::ZeroWorkers`] for `n == 0`; [`EngineError::Spawn`] if the thread is refused.
pub fn split<T: Send + 'static>(
    mut input: Consumer<T>,
    n: usize,
) -> Result<Vec<Consumer<T>>, EngineError> {
    if n == 0 {
        return Err(EngineError::ZeroWorkers);
    }
    let (capacity, wait) = (input.capacity(), input.wait_strategy());
    let mut producers = Vec::with_capacity(n);
    let mut consumers = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = channel_with(capacity, wait)?;
        producers.push(tx);
        consumers.push(rx);
    }
    let batch = 64.min(capacity);
    // Item by item, as the seed's `Split`; published every `batch` items per ring.
    let mut dist: Distributor<T, T> =
        Distributor::new(producers, Dispatch::RoundRobin, None, 1, batch * n, false);
    ThreadBuilder::new()
        .name("fanring-split".into())
        .spawn(move || loop {
            let r = input.try_pop_each(batch, |item| {
                // After a stop, the rest of the batch is dropped here, once each.
                let _ = dist.send(item);
            });
            match r {
                Ok(_) if !dist.is_stopped() => {}
                Err(PopError::Empty) => {
                    // Publish before waiting; wait for input or for an output to close.
                    dist.flush();
                    input.release();
                    let (inp, outs) = (&input, dist.rings());
                    wait_until(wait, &(inp, outs), None, || {
                        (inp.ready_hint() || outs.iter().any(Producer::is_closed)).then_some(())
                    });
                    if dist.rings().iter().any(Producer::is_closed) {
                        dist.stop();
                        return; // dropping `input` closes it
                    }
                }
                // Input ended (close every output) or an output closed (stop).
                _ => {
                    dist.close();
                    return;
                }
            }
        })
        .map_err(|e| EngineError::Spawn(e.to_string()))?;
    Ok(consumers)
}

/// Merges `inputs` into one stream, read on the caller's thread (no thread is spawned): each
/// input's items keep their order, inputs interleave in batches, and the stream ends when
/// every input is closed and drained. Waits on all inputs at once by their wait strategy.
/// Dropping the stream closes every input.
///
/// ```
/// use fanring::{channel, merge};
/// let (mut a, ra) = channel::<u8>(4).unwrap();
/// let (mut b, rb) = channel::<u8>(4).unwrap();
/// a.try_push(1).unwrap();
/// b.try_push(2).unwrap();
/// drop((a, b));
/// let mut got: Vec<u8> = merge(vec![ra, rb]).collect();
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// ```
pub fn merge<T>(inputs: Vec<Consumer<T>>) -> Merged<T> {
    let batch = inputs
        .iter()
        .map(Consumer::capacity)
        .min()
        .unwrap_or(1)
        .min(64);
    Merged {
        inner: Merger::Any(AnyMerge::new(inputs)),
        local: LocalQueue::with_capacity(batch),
    }
}

/// The stream returned by [`merge`].
pub struct Merged<T> {
    inner: Merger<T>,
    /// A run moved out of one input with one copy, handed out by `next`.
    local: LocalQueue<T>,
}

impl<T> Iterator for Merged<T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        self.inner.next_via(&mut self.local, &())
    }
}

impl<T> std::fmt::Debug for Merged<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Merged")
    }
}
