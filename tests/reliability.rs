//! Hostile input and faults not covered elsewhere (see docs/reliability.md for the whole
//! table): zero-sized and 4 KiB items through the engine, an item whose `Drop` panics inside
//! a worker, and the seed functions' edge cases.

use fanring::fan::{merge, split};
use fanring::ring::{CapacityError, PushError};
use fanring::{channel, BuildError, Dispatch, Engine, Failure, Order, Pinning};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

#[test]
fn zero_sized_items_through_every_mode() {
    for (dispatch, order) in [
        (Dispatch::RoundRobin, Order::Any),
        (Dispatch::RoundRobin, Order::Preserve),
        (Dispatch::LeastLoaded, Order::Preserve),
    ] {
        let out = Engine::builder()
            .workers(3)
            .capacity(4)
            .pinning(Pinning::None)
            .dispatch(dispatch)
            .order(order)
            .map(|()| ())
            .run(std::iter::repeat_n((), 10_000))
            .unwrap();
        assert_eq!(out.count(), 10_000);
    }
}

/// Zero-sized items take no ring memory where they travel as they are: a capacity of
/// `1 << 40` runs. Where they carry a sequence number (tagged `Preserve`: least-loaded or by
/// key in a farm, any `Preserve` graph) they are no longer zero-sized, and that capacity is
/// the ring's typed error.
#[test]
fn zero_sized_items_with_a_huge_capacity() {
    let zst = || Engine::builder().capacity(1 << 40).pinning(Pinning::None);
    let items = || std::iter::repeat_n((), 1_000);
    let untagged = [
        zst().map(|()| ()).run(items()),
        zst().order(Order::Preserve).map(|()| ()).run(items()),
        zst().map(|()| ()).then(zst().map(|()| ())).run(items()),
    ];
    for (i, out) in untagged.into_iter().enumerate() {
        assert_eq!(
            out.map(Iterator::count).ok(),
            Some(1_000),
            "untagged case {i}"
        );
    }
    let tagged = [
        zst()
            .order(Order::Preserve)
            .dispatch(Dispatch::LeastLoaded)
            .map(|()| ())
            .run(items()),
        zst()
            .order(Order::Preserve)
            .dispatch(Dispatch::by_key(|_: &()| 0))
            .map(|()| ())
            .run(items()),
        zst()
            .order(Order::Preserve)
            .map(|()| ())
            .then(zst().map(|()| ()))
            .run(items()),
    ];
    for (i, out) in tagged.into_iter().enumerate() {
        let err = out.err();
        assert!(
            matches!(
                err,
                Some(BuildError::Capacity(CapacityError::TooLarge { .. }))
            ),
            "tagged case {i}: {err:?}"
        );
    }
}

#[test]
fn four_kib_items() {
    let out = Engine::builder()
        .workers(2)
        .capacity(16)
        .order(Order::Preserve)
        .pinning(Pinning::None)
        .map(|mut page: [u8; 4096]| {
            page[4095] = page[0].wrapping_add(1);
            page
        })
        .run((0..2_000u32).map(|i| [(i % 251) as u8; 4096]))
        .unwrap();
    for (i, page) in out.enumerate() {
        assert_eq!(page[0], (i % 251) as u8);
        assert_eq!(page[4095], ((i % 251) as u8).wrapping_add(1));
    }
}

/// Counts drops; the one with `boom` set panics in its `Drop` (after being counted).
struct Fragile {
    boom: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Fragile {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if self.boom && !std::thread::panicking() {
            panic!("drop panicked");
        }
    }
}

#[test]
fn a_panicking_item_drop_in_a_worker_is_reported_and_nothing_leaks() {
    let drops = Arc::new(AtomicUsize::new(0));
    let created = Arc::new(AtomicUsize::new(0));
    let (d, c) = (Arc::clone(&drops), Arc::clone(&created));
    let n = 5_000;
    let source = (0..n).map(move |i| {
        c.fetch_add(1, SeqCst);
        Fragile {
            boom: i == 1_234,
            drops: Arc::clone(&d),
        }
    });
    // The work function drops each input, so the fragile one panics on a worker.
    let mut out = Engine::builder()
        .workers(3)
        .capacity(32)
        .pinning(Pinning::None)
        .filter_map(|f: Fragile| {
            drop(f);
            Some(())
        })
        .run(source)
        .unwrap();
    let mut got = 0;
    while let Ok(Some(())) = out.next_checked() {
        got += 1;
    }
    assert!(got < n);
    match out.join() {
        Err(Failure::WorkerPanicked { message, .. }) => assert_eq!(message, "drop panicked"),
        other => panic!("expected a worker panic, got {other:?}"),
    }
    assert_eq!(created.load(SeqCst), drops.load(SeqCst));
}

#[test]
fn split_and_merge_edges() {
    let (_tx, rx) = channel::<u8>(4).unwrap();
    assert_eq!(split(rx, 0).unwrap_err(), BuildError::ZeroSetting("parts"));
    assert_eq!(merge(Vec::<fanring::ring::Consumer<u8>>::new()).count(), 0);

    // A part's consumer dropped: split stops and closes its input, so the producer upstream
    // gets its value back instead of blocking.
    let (mut tx, rx) = channel::<u32>(8).unwrap();
    let (mut parts, splitter) = split(rx, 2).unwrap().into_vec();
    drop(parts.pop());
    let mut closed = false;
    for i in 0..1_000_000 {
        if let Err(e) = tx.push(i) {
            assert!(matches!(e, PushError::Closed(v) if v == i));
            closed = true;
            break;
        }
    }
    assert!(closed, "the producer never saw the split stop");
    splitter.join().unwrap();
}

/// `split`'s thread, once joined (through the `Stages` its parts hand over), has dropped every
/// item it held exactly once, after an early end (a part dropped half-way) and after a normal
/// end.
#[test]
fn split_join_leaves_nothing_in_flight() {
    for round in 0..20usize {
        let created = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut tx, rx) = channel::<Fragile>(64).unwrap();
        let (parts, splitter) = split(rx, 2).unwrap().into_vec();
        let early = round % 2 == 0;
        let (c, d) = (Arc::clone(&created), Arc::clone(&drops));
        let producer = std::thread::spawn(move || {
            for _ in 0..20_000 {
                c.fetch_add(1, SeqCst);
                let item = Fragile {
                    boom: false,
                    drops: Arc::clone(&d),
                };
                if tx.push(item).is_err() {
                    break; // the split stopped: the item came back and is dropped here
                }
            }
        });
        let readers: Vec<_> = parts
            .into_iter()
            .enumerate()
            .map(|(i, mut part)| {
                std::thread::spawn(move || {
                    // Part 0 stops early (every other round): the split stops and closes.
                    let limit = if early && i == 0 {
                        100 + round
                    } else {
                        usize::MAX
                    };
                    let mut n = 0;
                    while n < limit {
                        if part.pop().is_none() {
                            break;
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        producer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        splitter.join().unwrap();
        assert_eq!(
            created.load(SeqCst),
            drops.load(SeqCst),
            "round {round}: items still undropped after every thread joined"
        );
    }
}

/// `split` with more parts than an engine may have workers is a typed error, checked before
/// anything is allocated (no "capacity overflow" panic, no abort on a huge allocation).
#[test]
fn split_refuses_too_many_parts() {
    for n in [fanring::Engine::MAX_WORKERS + 1, 1 << 40, usize::MAX] {
        let (_tx, rx) = fanring::channel::<u64>(8).unwrap();
        match fanring::fan::split(rx, n) {
            Err(fanring::BuildError::TooLarge {
                setting,
                value,
                max,
            }) => {
                assert_eq!(
                    (setting, value, max),
                    ("parts", n, fanring::Engine::MAX_WORKERS)
                );
            }
            other => panic!("split(rx, {n}): {:?}", other.err()),
        }
    }
}

/// A key function that panics inside an `Input`'s send ends the engine as a failed source:
/// the panic reaches the sender, the merged stream ends with `SourcePanicked` (never a quiet,
/// truncated end), the `Input` refuses everything after, and every item is dropped once.
#[test]
fn a_key_panic_in_an_input_send_fails_the_engine() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;
    struct Counted(u64, Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Relaxed);
        }
    }
    for bulk in [true, false] {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut input, mut output) = fanring::Engine::builder()
            .workers(2)
            .dispatch(fanring::Dispatch::by_key(|c: &Counted| {
                assert!(c.0 != 300, "bad key");
                c.0
            }))
            .map(|c: Counted| c)
            .start()
            .unwrap();
        let d = Arc::clone(&drops);
        let made = 10_000usize;
        let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if bulk {
                input
                    .send_all_blocking((0..made as u64).map(|i| Counted(i, Arc::clone(&d))))
                    .ok();
            } else {
                for i in 0..made as u64 {
                    if input.send_blocking(Counted(i, Arc::clone(&d))).is_err() {
                        break;
                    }
                }
            }
        }));
        assert!(
            sent.is_err(),
            "bulk {bulk}: the key's panic did not reach the sender"
        );
        assert!(input.is_closed());
        let back = input.send_blocking(Counted(1, Arc::clone(&drops)));
        assert!(back.is_err(), "bulk {bulk}: the input still takes items");
        drop(back);
        drop(input);
        let mut got = 0;
        let failure = loop {
            match output.next_checked() {
                Ok(Some(_)) => got += 1,
                Ok(None) => panic!("bulk {bulk}: a quiet end after {got} items"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(&failure, fanring::Failure::SourcePanicked { message, .. } if message.contains("bad key")),
            "bulk {bulk}: {failure:?}"
        );
        drop(output);
        drop(d);
        // Items made: bulk takes them from the iterator as it goes, so count what exists.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let n = drops.load(Relaxed);
            // Every item created was dropped once: none is left, none twice (<= created).
            if Arc::strong_count(&drops) == 1 {
                assert!(n <= made + 1, "bulk {bulk}: {n} drops");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bulk {bulk}: items still alive"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// A panic in `send_all_blocking`'s own iterator fails the engine as a key function's does:
/// `SourcePanicked`, the `Input` closed, the panic on the sender's thread.
#[test]
fn a_panicking_iterator_in_send_all_blocking_fails_the_engine() {
    let (mut input, mut output) = fanring::Engine::builder()
        .workers(2)
        .map(|x: u64| x)
        .start()
        .unwrap();
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = input.send_all_blocking((0..1000u64).inspect(|&i| {
            assert!(i != 500, "bad iterator");
        }));
    }));
    assert!(sent.is_err());
    assert!(input.is_closed());
    assert!(input.send_blocking(1).is_err());
    drop(input);
    let failure = loop {
        match output.next_checked() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("a quiet end"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(&failure, fanring::Failure::SourcePanicked { message, .. } if message.contains("bad iterator")),
        "{failure:?}"
    );
}

/// The seed's composition re-raises a worker's panic from the merged stream, as the engine
/// does: never a truncated `sum`.
#[test]
fn the_seeds_merged_stream_re_raises_a_worker_panic() {
    use fanring::fan::{merge, split, workers};
    let (mut tx, rx) = fanring::channel::<u64>(64).unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..10_000u64 {
            if tx.push(i).is_err() {
                break;
            }
        }
    });
    let stages = workers(split(rx, 3).unwrap(), |x: u64| {
        assert!(x != 5_000, "bad item");
        x
    })
    .unwrap();
    let merged = merge(stages);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || merged.sum::<u64>()));
    let payload = r.expect_err("a truncated sum came back");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_default();
    assert!(message.contains("bad item"), "{message}");
    feeder.join().unwrap();
}
