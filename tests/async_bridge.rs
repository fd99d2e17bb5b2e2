//! The async bridge (`--features async`) on tokio: the ring's `pop_async` / `push_async`, the
//! engine's `Input::send_async` and `Output` as a `Stream`, the seed's `merge` as a `Stream`,
//! and how each ends: a dropped pending future, a stream dropped early, a worker panic. Every
//! test runs under a timeout: a lost wake-up shows up as a task pending forever.

#![cfg(feature = "async")]

use fanring::ring::{channel_with, PushError};
use fanring::{Engine, Order, WaitStrategy};
use futures_util::StreamExt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Parks (or, async, registers a waker) at the first failed try: every wait takes the slow path.
const PARK: WaitStrategy = WaitStrategy::SpinThenPark {
    spins: 0,
    yields: 0,
};

/// Runs `f` on a multi-threaded tokio runtime with 2 workers, failing after `secs`.
fn run<F: Future<Output = ()> + Send + 'static>(secs: u64, f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async move {
        tokio::time::timeout(Duration::from_secs(secs), f)
            .await
            .expect("a task stayed pending: a wake-up was lost");
    });
}

/// An item that counts its drops.
#[derive(Debug)]
struct Tracked {
    id: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Relaxed);
    }
}

fn ring_ping(wait: WaitStrategy) {
    const N: u64 = 20_000;
    run(60, async move {
        let (mut tx, mut rx) = channel_with::<u64>(2, wait).unwrap();
        let producer = tokio::spawn(async move {
            for i in 0..N {
                tx.push_async(i).await.unwrap();
            }
        });
        let mut expect = 0;
        while let Some(v) = rx.pop_async().await {
            assert_eq!(v, expect);
            expect += 1;
        }
        assert_eq!(expect, N);
        producer.await.unwrap();
    });
}

#[test]
fn ring_async_both_sides_parking_strategy() {
    ring_ping(PARK);
}

#[test]
fn ring_async_default_strategy() {
    ring_ping(WaitStrategy::default());
}

/// `SpinYield` rings never notify: a pending poll wakes its own task (the executor spins).
#[test]
fn ring_async_spin_yield_strategy() {
    ring_ping(WaitStrategy::SPIN_YIELD);
}

/// A blocking producer thread feeding an async consumer, and the other way round.
#[test]
fn ring_mixed_thread_and_task() {
    run(60, async {
        let (mut tx, rx) = channel_with::<u64>(4, PARK).unwrap();
        let t = std::thread::spawn(move || (0..10_000).for_each(|i| tx.push(i).unwrap()));
        let sum: u64 = rx.fold(0, |a, b| async move { a + b }).await;
        assert_eq!(sum, 10_000 * 9_999 / 2);
        t.join().unwrap();

        let (mut tx, mut rx) = channel_with::<u64>(4, PARK).unwrap();
        let t = std::thread::spawn(move || rx.iter().sum::<u64>());
        for i in 0..10_000 {
            tx.push_async(i).await.unwrap();
        }
        drop(tx);
        assert_eq!(t.join().unwrap(), 10_000 * 9_999 / 2);
    });
}

/// A task pending on an empty ring is woken by the producer's drop (`None`); one pending on a
/// full ring by the consumer's drop (`Closed(v)`, the value back, every item dropped once).
#[test]
fn close_wakes_a_registered_task() {
    run(30, async {
        let (tx, mut rx) = channel_with::<u64>(1, PARK).unwrap();
        let waiter = tokio::spawn(async move { rx.pop_async().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        assert_eq!(waiter.await.unwrap(), None);

        let drops = Arc::new(AtomicUsize::new(0));
        let item = |id| Tracked {
            id,
            drops: Arc::clone(&drops),
        };
        let (mut tx, rx) = channel_with::<Tracked>(1, PARK).unwrap();
        tx.try_push(item(0)).unwrap();
        let second = item(1);
        let waiter = tokio::spawn(async move { tx.push_async(second).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        match waiter.await.unwrap() {
            Err(PushError::Closed(v)) => assert_eq!(v.id, 1),
            other => panic!("push into a ring nobody reads: {other:?}"),
        }
        assert_eq!(drops.load(Relaxed), 2);
    });
}

/// A pending `pop_async` dropped takes nothing; a pending `push_async` dropped drops its value
/// (never pushed) once; the ring's items are all still there.
#[test]
fn dropping_pending_ring_futures_loses_nothing() {
    let drops = Arc::new(AtomicUsize::new(0));
    let item = |id| Tracked {
        id,
        drops: Arc::clone(&drops),
    };
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let (mut tx, mut rx) = channel_with::<Tracked>(1, PARK).unwrap();
    {
        let mut pop = std::pin::pin!(rx.pop_async());
        assert!(pop.as_mut().poll(&mut cx).is_pending());
    }
    tx.try_push(item(0)).unwrap();
    {
        let mut push = std::pin::pin!(tx.push_async(item(1)));
        assert!(push.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(
        drops.load(Relaxed),
        1,
        "the unsent value is dropped with its future"
    );
    assert_eq!(rx.try_pop().unwrap().id, 0);
    drop((tx, rx));
    assert_eq!(drops.load(Relaxed), 2);
}

/// A waker replaced between polls: only the latest one is woken.
#[test]
fn the_latest_waker_is_woken() {
    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Relaxed);
        }
    }
    let (a, b) = (
        Arc::new(Count(AtomicUsize::new(0))),
        Arc::new(Count(AtomicUsize::new(0))),
    );
    let (wa, wb) = (Waker::from(Arc::clone(&a)), Waker::from(Arc::clone(&b)));
    let (mut tx, mut rx) = channel_with::<u8>(1, PARK).unwrap();
    assert!(rx.poll_pop(&mut Context::from_waker(&wa)).is_pending());
    assert!(rx.poll_pop(&mut Context::from_waker(&wb)).is_pending());
    tx.try_push(1).unwrap();
    assert_eq!((a.0.load(Relaxed), b.0.load(Relaxed)), (0, 1));
    assert_eq!(
        rx.poll_pop(&mut Context::from_waker(&wb)),
        Poll::Ready(Some(1))
    );
}

/// The example's shape: one task feeds the engine from an async source, another reads the
/// merged `Stream`; every order and worker count, with parking and default strategies.
fn engine_feed_and_stream(workers: usize, order: Order, wait: WaitStrategy) {
    const N: u64 = 20_000;
    run(60, async move {
        let (mut input, output) = Engine::builder()
            .workers(workers)
            .capacity(64)
            .order(order)
            .wait(wait)
            .map(|x: u64| x * 2)
            .start()
            .unwrap();
        let feeder = tokio::spawn(async move {
            let (src_tx, mut src) = tokio::sync::mpsc::channel::<u64>(16);
            tokio::spawn(async move {
                for i in 0..N {
                    src_tx.send(i).await.unwrap();
                }
            });
            while let Some(i) = src.recv().await {
                input.send_async(i).await.unwrap();
            }
        });
        let mut out = output;
        let mut got = Vec::with_capacity(N as usize);
        while let Some(v) = StreamExt::next(&mut out).await {
            got.push(v);
        }
        feeder.await.unwrap();
        assert!(out.error().is_none());
        if order == Order::Preserve {
            assert!(got.iter().copied().eq((0..N).map(|x| x * 2)));
        } else {
            got.sort_unstable();
            assert!(got.iter().copied().eq((0..N).map(|x| x * 2)));
        }
        let stats = out.join().unwrap();
        assert_eq!(stats.merger.items, N);
    });
}

#[test]
fn engine_stream_any_order() {
    for w in [1, 2, 4] {
        engine_feed_and_stream(w, Order::Any, PARK);
        engine_feed_and_stream(w, Order::Any, WaitStrategy::default());
    }
}

#[test]
fn engine_stream_preserve_order() {
    for w in [1, 2, 3] {
        engine_feed_and_stream(w, Order::Preserve, PARK);
    }
}

#[test]
fn engine_stream_spin_yield() {
    engine_feed_and_stream(2, Order::Any, WaitStrategy::SPIN_YIELD);
}

/// `Preserve` with a non-round-robin dispatch goes through the reorder window, whose room
/// `send_async` waits for.
#[test]
fn engine_stream_reorder_window() {
    const N: u64 = 5_000;
    run(60, async {
        let (mut input, mut output) = Engine::builder()
            .workers(2)
            .capacity(16)
            .order(Order::Preserve)
            .dispatch(fanring::Dispatch::LeastLoaded)
            .window(8)
            .wait(PARK)
            .map(|x: u64| x + 1)
            .start()
            .unwrap();
        let feeder = tokio::spawn(async move {
            for i in 0..N {
                input.send_async(i).await.unwrap();
            }
        });
        let mut next = 1;
        while let Some(v) = output.next_async().await {
            assert_eq!(v, next);
            next += 1;
        }
        assert_eq!(next, N + 1);
        feeder.await.unwrap();
    });
}

/// `run` (a source thread) read as a `Stream` gives what the iterator gives.
#[test]
fn run_output_as_stream() {
    run(60, async {
        let out = Engine::builder()
            .workers(2)
            .map(|x: u64| x + 1)
            .run(0..50_000u64)
            .unwrap();
        let sum = StreamExt::fold(out, 0u64, |a, b| async move { a + b }).await;
        assert_eq!(sum, (1..=50_000u64).sum::<u64>());
    });
}

/// A worker panic ends the stream; `error()` and `try_next` tell; the feeder's `send_async`
/// returns its item.
#[test]
fn worker_panic_ends_the_stream_with_the_error() {
    run(60, async {
        let (mut input, mut output) = Engine::builder()
            .workers(2)
            .capacity(8)
            .wait(PARK)
            .map(|x: u64| {
                assert!(x != 500, "boom at 500");
                x
            })
            .start()
            .unwrap();
        let feeder = tokio::spawn(async move {
            for i in 0..1_000_000u64 {
                if let Err(e) = input.send_async(i).await {
                    return Some(e.into_inner());
                }
            }
            None
        });
        let mut n = 0;
        while output.next_async().await.is_some() {
            n += 1;
        }
        assert!(n < 1_000_000);
        let err = output.error().expect("the panic is surfaced");
        assert!(format!("{err}").contains("boom at 500"), "{err}");
        assert!(output.try_next_async().await.is_err());
        assert!(output.try_next().is_err());
        assert!(
            feeder.await.unwrap().is_some(),
            "send_async returns the item"
        );
        assert!(output.join().is_err());
    });
}

/// Dropping the stream early, and a pending `next()` / `send_async()` dropped on the way: every
/// item created is dropped exactly once (received, or dropped by the engine or the future).
#[test]
fn dropped_futures_and_early_end_drop_everything_once() {
    let made = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let (made, drops) = (Arc::clone(&made), Arc::clone(&drops));
        run(60, async move {
            let (mut input, mut output) = Engine::builder()
                .workers(2)
                .capacity(4)
                .wait(PARK)
                .map(|t: Tracked| t)
                .start()
                .unwrap();
            let item = |id| {
                made.fetch_add(1, Relaxed);
                Tracked {
                    id,
                    drops: Arc::clone(&drops),
                }
            };
            // A pending `next()` on the empty engine, dropped: it takes nothing.
            {
                let mut next = std::pin::pin!(output.next_async());
                let waker = Waker::noop();
                assert!(next
                    .as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending());
            }
            // Fill the engine until a `send_async` stays pending, then drop it.
            let mut id = 0;
            loop {
                let fut = input.send_async(item(id));
                id += 1;
                match tokio::time::timeout(Duration::from_millis(50), fut).await {
                    Ok(r) => r.unwrap(),
                    Err(_) => break, // pending: dropped with its item
                }
            }
            // Read a few, then drop the stream early while the input is still open.
            let mut seen = 0;
            while seen < 3 {
                if StreamExt::next(&mut output).await.is_some() {
                    seen += 1;
                }
            }
            drop(output);
            // The engine stopped: the input hands items back.
            let back = input.send_async(item(id)).await.unwrap_err().into_inner();
            assert_eq!(back.id, id);
        });
    }
    assert_eq!(
        drops.load(Relaxed),
        made.load(Relaxed),
        "every item dropped exactly once"
    );
}

/// The seed's `merge` as a `Stream` over threads that push with the blocking API.
#[test]
fn merged_seed_as_stream() {
    run(60, async {
        let mut rxs = Vec::new();
        let mut threads = Vec::new();
        for w in 0..3u64 {
            let (mut tx, rx) = channel_with::<u64>(8, PARK).unwrap();
            rxs.push(rx);
            threads.push(std::thread::spawn(move || {
                for i in 0..5_000 {
                    tx.push(w * 1_000_000 + i).unwrap();
                }
            }));
        }
        let mut got: Vec<u64> = StreamExt::collect(fanring::fan::merge(rxs)).await;
        got.sort_unstable();
        let mut want: Vec<u64> = (0..3u64)
            .flat_map(|w| (0..5_000).map(move |i| w * 1_000_000 + i))
            .collect();
        want.sort_unstable();
        assert_eq!(got, want);
        threads.into_iter().for_each(|t| t.join().unwrap());
    });
}

/// `Input` as a `Sink`: an async source forwarded into the engine (`StreamExt::forward`, which
/// closes the sink at the end), on small rings that park at once, so `poll_ready` waits for
/// room and the workers wait for items; every item comes out once, in order with `Preserve`.
fn sink_forward(order: Order) {
    const N: u64 = 20_000;
    run(60, async move {
        let (mut input, output) = Engine::builder()
            .workers(2)
            .capacity(4)
            .batch(2)
            .order(order)
            .wait(PARK)
            .map(|x: u64| x * 3)
            .start()
            .unwrap();
        let feeder = tokio::spawn(async move {
            futures_util::stream::iter(0..N)
                .map(Ok)
                .forward(&mut input)
                .await
                .unwrap();
            // Closed by `forward`: later items come back.
            let back = futures_util::SinkExt::send(&mut input, 7)
                .await
                .unwrap_err();
            assert_eq!(back.into_inner(), 7);
        });
        let mut out = output;
        let mut got = Vec::with_capacity(N as usize);
        while let Some(v) = StreamExt::next(&mut out).await {
            got.push(v);
        }
        feeder.await.unwrap();
        if order == Order::Any {
            got.sort_unstable();
        }
        assert!(got.iter().copied().eq((0..N).map(|x| x * 3)));
        assert_eq!(out.join().unwrap().merger.items, N);
    });
}

#[test]
fn input_as_sink_any_order() {
    sink_forward(Order::Any);
}

#[test]
fn input_as_sink_preserve_order() {
    sink_forward(Order::Preserve);
}

/// Counts the items made and dropped for the `Sink` tests.
#[derive(Default)]
struct Counts {
    made: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Counts {
    fn item(&self, id: u64) -> Tracked {
        self.made.fetch_add(1, Relaxed);
        Tracked {
            id,
            drops: Arc::clone(&self.drops),
        }
    }

    fn assert_each_dropped_once(&self) {
        assert_eq!(
            self.drops.load(Relaxed),
            self.made.load(Relaxed),
            "every item dropped exactly once"
        );
    }
}

/// An engine (W = 1, rings of 2, `batch(1)`) whose `Input`, used as a `Sink` with nobody
/// reading, has filled its rings and keeps one more item for lack of room; returns the
/// handles and how many items went in (the last one is the kept one).
fn sink_with_a_kept_item(
    counts: &Counts,
) -> (fanring::Input<Tracked>, fanring::Output<Tracked>, u64) {
    use futures_util::Sink;
    use std::pin::Pin;
    let (mut input, output) = Engine::builder()
        .workers(1)
        .capacity(2)
        .batch(1)
        .wait(PARK)
        .map(|t: Tracked| t)
        .start()
        .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    // The bound only ends a broken test; the rings hold a few items.
    let mut id = 0;
    loop {
        assert!(id < 1_000, "the rings never filled");
        match Pin::new(&mut input).poll_ready(&mut cx) {
            Poll::Ready(r) => r.unwrap(),
            Poll::Pending => break,
        }
        Pin::new(&mut input).start_send(counts.item(id)).unwrap();
        id += 1;
        let _ = Pin::new(&mut input).poll_flush(&mut cx);
    }
    (input, output, id)
}

/// The `Sink` when the engine stops: the item it kept for lack of room comes back from
/// `poll_ready`, a new one from `start_send`, and every item is dropped once (the engine's on
/// teardown, the returned ones by the caller).
#[test]
fn sink_hands_items_back_once_the_engine_stopped() {
    use futures_util::Sink;
    use std::pin::Pin;
    let counts = Counts::default();
    {
        let (mut input, output, sent) = sink_with_a_kept_item(&counts);
        let mut cx = Context::from_waker(Waker::noop());
        drop(output); // stops the engine: every item in it dropped once
        match Pin::new(&mut input).poll_ready(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(e.into_inner().id, sent - 1),
            other => panic!("the kept item did not come back: {other:?}"),
        }
        let back = Pin::new(&mut input)
            .start_send(counts.item(sent))
            .unwrap_err();
        assert_eq!(back.into_inner().id, sent);
    }
    counts.assert_each_dropped_once();
}

/// A `start_send` that breaks the `Sink` contract (no `poll_ready` since an item was kept for
/// lack of room) takes nothing: its item comes back, the kept one still goes first, and every
/// item is dropped once.
#[test]
fn sink_refuses_a_start_send_while_an_item_is_kept() {
    use futures_util::Sink;
    use std::pin::Pin;
    let counts = Counts::default();
    {
        let (mut input, mut output, sent) = sink_with_a_kept_item(&counts);
        let mut cx = Context::from_waker(Waker::noop());
        let back = Pin::new(&mut input)
            .start_send(counts.item(1_000_000))
            .unwrap_err();
        assert_eq!(back.into_inner().id, 1_000_000);
        // Read while closing: the kept item is delivered, then the input ends.
        let mut got = Vec::new();
        loop {
            if let Poll::Ready(r) = Pin::new(&mut input).poll_close(&mut cx) {
                r.unwrap();
                break;
            }
            got.push(
                Iterator::next(&mut output)
                    .expect("an item before the end")
                    .id,
            );
        }
        got.extend(Iterator::map(&mut output, |t| t.id));
        assert_eq!(
            got,
            (0..sent).collect::<Vec<_>>(),
            "each item once, the kept one in line"
        );
        assert!(output.join().is_ok());
    }
    counts.assert_each_dropped_once();
}
