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

/// A worker panic ends the stream; `next_checked_async`, `error()` and `next_checked` tell; the
/// feeder's `send_async` returns its item.
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
        let err = loop {
            match output.next_checked_async().await {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("the stream ended quietly"),
                Err(e) => break e,
            }
        };
        assert!(n < 1_000_000);
        assert!(format!("{err}").contains("boom at 500"), "{err}");
        // Reported as a value: the `Stream` then ends quietly.
        assert!(output.next_async().await.is_none());
        let err = output.error().expect("the panic is surfaced");
        assert!(format!("{err}").contains("boom at 500"), "{err}");
        assert!(output.next_checked_async().await.is_err());
        assert!(output.next_checked().is_err());
        assert!(
            feeder.await.unwrap().is_some(),
            "send_async returns the item"
        );
        assert!(output.join().is_err());
    });
}

/// Read as a `Stream` (`StreamExt::collect` in a task), a worker's panic is re-raised in the
/// reading task with the worker's own payload: the task fails, it never returns a truncated
/// collection.
#[test]
fn a_worker_panic_is_re_raised_by_the_stream() {
    run(60, async {
        let output = Engine::builder()
            .workers(2)
            .map(|x: u64| if x == 700 { panic!("bad item") } else { x })
            .run(0..1000u64)
            .unwrap();
        let reader = tokio::spawn(async move {
            let all: Vec<u64> = StreamExt::collect(output).await;
            all.len()
        });
        let err = reader.await.expect_err("a truncated collection");
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"bad item"));
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
    // The drop detached the workers: they drop what they hold once they end by themselves.
    let t = std::time::Instant::now();
    while drops.load(Relaxed) != made.load(Relaxed) && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(1));
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
            // Closed by `forward`: later items are refused.
            let back = futures_util::SinkExt::send(&mut input, 7)
                .await
                .unwrap_err();
            assert_eq!(
                back.into_inner(),
                None,
                "poll_ready refuses before the item is given"
            );
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

    /// Every item made is dropped exactly once, now or once the threads a drop detached end
    /// by themselves (waits up to 30 s for that).
    fn assert_each_dropped_once(&self) {
        let t = std::time::Instant::now();
        while self.drops.load(Relaxed) != self.made.load(Relaxed)
            && t.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            self.drops.load(Relaxed),
            self.made.load(Relaxed),
            "every item dropped exactly once"
        );
    }
}

/// An engine (W = 1, rings of 2, `batch(1)`) whose `Input`, used as a `Sink` with nobody
/// reading, has filled its rings: `poll_ready` is pending. Returns the handles and how many
/// items went in (all of them staged in the rings: the `Sink` keeps none of its own).
fn sink_filled(counts: &Counts) -> (fanring::Input<Tracked>, fanring::Output<Tracked>, u64) {
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

/// Every way of asking an `Input` whether it still takes items gives the same answer once the
/// engine stopped (its output dropped) or the sink was closed: `is_closed`, `poll_ready`,
/// `poll_flush`, `start_send`, `send_blocking`, `send_async`; items come back, and every item
/// is dropped exactly once.
#[test]
fn every_way_of_sending_agrees_once_the_input_is_closed() {
    use futures_util::Sink;
    use std::pin::Pin;
    for how in ["output dropped", "sink closed"] {
        let counts = Counts::default();
        {
            let (mut input, output, sent) = sink_filled(&counts);
            let mut cx = Context::from_waker(Waker::noop());
            let _output = match how {
                "output dropped" => {
                    drop(output); // stops the engine: every item in it dropped once
                    None
                }
                _ => {
                    let r = Pin::new(&mut input).poll_close(&mut cx);
                    assert!(matches!(r, Poll::Ready(Ok(()))), "{how}");
                    Some(output)
                }
            };
            assert!(input.is_closed(), "{how}: is_closed");
            match Pin::new(&mut input).poll_ready(&mut cx) {
                Poll::Ready(Err(e)) => assert!(e.into_inner().is_none(), "{how}"),
                other => panic!("{how}: poll_ready said {other:?}"),
            }
            let back = Pin::new(&mut input)
                .start_send(counts.item(sent))
                .unwrap_err();
            assert_eq!(back.into_inner().map(|t| t.id), Some(sent), "{how}");
            let flushed = Pin::new(&mut input).poll_flush(&mut cx);
            assert!(matches!(flushed, Poll::Ready(Err(_))), "{how}: poll_flush");
            let back = input.send_blocking(counts.item(sent + 1)).unwrap_err();
            assert_eq!(back.into_inner().id, sent + 1, "{how}");
            let fut = std::pin::pin!(input.send_async(counts.item(sent + 2)));
            match fut.poll(&mut cx) {
                Poll::Ready(Err(e)) => assert_eq!(e.into_inner().id, sent + 2, "{how}"),
                other => panic!("{how}: send_async said {other:?}"),
            }
        }
        counts.assert_each_dropped_once();
    }
}

/// A `start_send` without a `poll_ready` (which the `Sink` contract requires) while there is no
/// room takes nothing: its item comes back, and nothing is kept that a later send could
/// overtake.
#[test]
fn sink_refuses_a_start_send_without_room() {
    use futures_util::Sink;
    use std::pin::Pin;
    let counts = Counts::default();
    {
        let (mut input, output, sent) = sink_filled(&counts);
        let mut cx = Context::from_waker(Waker::noop());
        let back = Pin::new(&mut input)
            .start_send(counts.item(1_000_000))
            .unwrap_err();
        assert_eq!(back.into_inner().map(|t| t.id), Some(1_000_000));
        let r = Pin::new(&mut input).poll_close(&mut cx);
        assert!(matches!(r, Poll::Ready(Ok(()))));
        let got: Vec<u64> = Iterator::map(output, |t| t.id).collect();
        assert_eq!(
            got,
            (0..sent).collect::<Vec<_>>(),
            "each item once, in order"
        );
    }
    counts.assert_each_dropped_once();
}

/// Every way of sending on one `Input` (`SinkExt::send`, `send_async`, `SinkExt::feed` then a
/// flush, `SinkExt::send_all`, and a `feed` left unflushed when the `Input` is dropped) keeps
/// the order the items were accepted in, and loses none: 1 worker, rings of 2,
/// `Order::Preserve`, a reader on the same current-thread runtime, so the rings are full at
/// every turn.
#[test]
fn every_way_of_sending_keeps_the_order_and_loses_nothing() {
    use futures_util::SinkExt;
    const ROUNDS: u64 = 2_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut input, mut output) = Engine::builder()
            .workers(1)
            .capacity(2)
            .batch(1)
            .order(Order::Preserve)
            .wait(PARK)
            .map(|x: u64| x)
            .start()
            .unwrap();
        let feeder = async move {
            let mut next = 0u64;
            for _ in 0..ROUNDS {
                SinkExt::send(&mut input, next).await.unwrap();
                input.send_async(next + 1).await.unwrap();
                input.feed(next + 2).await.unwrap();
                SinkExt::flush(&mut input).await.unwrap();
                let mut two = futures_util::stream::iter([Ok(next + 3), Ok(next + 4)]);
                SinkExt::send_all(&mut input, &mut two).await.unwrap();
                next += 5;
            }
            // Accepted but never flushed: dropping the `Input` publishes it.
            input.feed(next).await.unwrap();
            drop(input);
            next + 1
        };
        let reader = async move {
            let mut got = Vec::new();
            while let Some(v) = output.next_async().await {
                got.push(v);
            }
            got
        };
        let (n, got) = tokio::time::timeout(Duration::from_secs(120), async {
            futures_util::join!(feeder, reader)
        })
        .await
        .expect("a task stayed pending");
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "in order, none lost");
    });
}

/// Dropping the stream while a worker is inside a long `map` call does not block the
/// executor: a 1 ms ticker on the same current-thread runtime keeps ticking. The drop detaches
/// the worker (it ends once the call returns); `join` is where waiting belongs.
#[test]
fn dropping_the_stream_never_waits_for_a_busy_worker() {
    use std::time::Instant;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let entered = Arc::new(AtomicUsize::new(0));
    let e = Arc::clone(&entered);
    rt.block_on(async move {
        let (mut input, output) = Engine::builder()
            .workers(2)
            .map(move |x: u64| {
                e.fetch_add(1, Relaxed);
                std::thread::sleep(Duration::from_millis(300));
                x
            })
            .start()
            .unwrap();
        input.send_async(1).await.unwrap();
        while entered.load(Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        let ticker = tokio::spawn(async {
            let mut worst = Duration::ZERO;
            let mut last = Instant::now();
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                worst = worst.max(last.elapsed());
                last = Instant::now();
            }
            worst
        });
        tokio::task::yield_now().await;
        let t = Instant::now();
        drop(output);
        let dropped_in = t.elapsed();
        drop(input);
        let worst = ticker.await.unwrap();
        // The worker sleeps 300 ms; a drop that waited for it would take most of that.
        assert!(
            dropped_in < Duration::from_millis(150),
            "drop took {dropped_in:?}"
        );
        assert!(
            worst < Duration::from_millis(150),
            "the ticker stalled {worst:?}"
        );
    });
}

/// A `SpinYield` engine read and fed as a `Stream` and through `send_async` on one
/// current-thread runtime (2 workers, rings of 2, default pinning) makes progress: the async
/// wait gives the core to the stages it waits for instead of spinning the executor.
#[test]
fn spin_yield_async_waits_do_not_starve_the_stages() {
    const N: u64 = 30_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut input, mut output) = Engine::builder()
            .workers(2)
            .capacity(2)
            .wait(WaitStrategy::SPIN_YIELD)
            .map(|x: u64| x + 1)
            .start()
            .unwrap();
        let feeder = async move {
            for i in 0..N {
                input.send_async(i).await.unwrap();
            }
        };
        let reader = async move {
            let mut sum = 0;
            while let Some(v) = output.next_async().await {
                sum += v;
            }
            sum
        };
        // Expected in well under a second; 60 s only ends a starved run.
        let ((), sum) = tokio::time::timeout(Duration::from_secs(60), async {
            futures_util::join!(feeder, reader)
        })
        .await
        .expect("starved: the stream did not finish");
        assert_eq!(sum, N * (N + 1) / 2);
    });
}

/// A graph's handles are a farm's: several `Input`s sent to with `send_async` from tasks, the
/// `Output` read as a `Stream`, every item once, and the stream ends once every `Input` is gone.
#[test]
fn graph_inputs_and_stream() {
    for wait in [PARK, WaitStrategy::ADAPTIVE] {
        run(60, async move {
            let (inputs, mut out) = Engine::builder()
                .workers(2)
                .capacity(4)
                .wait(wait)
                .map(|x: u64| x * 2)
                .then(
                    Engine::builder()
                        .workers(3)
                        .capacity(4)
                        .wait(wait)
                        .map(|x: u64| x + 1),
                )
                .start_many(2)
                .unwrap();
            let senders: Vec<_> = inputs
                .into_iter()
                .enumerate()
                .map(|(i, mut input)| {
                    tokio::spawn(async move {
                        for x in 0..5_000u64 {
                            input.send_async(i as u64 * 5_000 + x).await.unwrap();
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            while let Some(x) = StreamExt::next(&mut out).await {
                got.push(x);
            }
            for s in senders {
                s.await.unwrap();
            }
            got.sort_unstable();
            assert_eq!(got, (0..10_000u64).map(|x| x * 2 + 1).collect::<Vec<_>>());
        });
    }
}
