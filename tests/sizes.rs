//! Every size setting (capacity, batch, window, workers, and their
//! products) is checked with overflow-safe arithmetic and fallible allocation, and gives a
//! typed error instead of a panic or an abort; the reorder window's memory grows with use.

use fanring::ring::{CapacityError, MAX_CAPACITY};
use fanring::{BuildError, Dispatch, Engine, Order, Pinning};

fn start_err<T: Send + 'static>(b: fanring::Builder<T>) -> BuildError {
    b.pinning(Pinning::None)
        .map(|t: T| t)
        .start()
        .map(drop)
        .unwrap_err()
}

fn tagged() -> fanring::Builder<u64> {
    Engine::builder::<u64>()
        .pinning(Pinning::None)
        .order(Order::Preserve)
        .dispatch(Dispatch::LeastLoaded)
}

/// The issue's input: `window(usize::MAX)` returned `Ok`, then the merger indexed an empty
/// slot array (`next_power_of_two` wrapped to 0). Now `run` refuses it.
#[test]
fn issue_window_usize_max_is_an_error() {
    let err = Engine::builder()
        .workers(2)
        .dispatch(Dispatch::LeastLoaded)
        .order(Order::Preserve)
        .window(usize::MAX)
        .map(|x: u64| x)
        .run(0..10_000u64)
        .map(drop)
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::TooLarge {
                setting: "window",
                value: usize::MAX,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn windows_too_large_for_a_slot_array_are_errors() {
    for w in [usize::MAX, usize::MAX / 2 + 2, 1 << (usize::BITS - 2)] {
        let err = start_err(tagged().window(w));
        let BuildError::TooLarge {
            setting: "window",
            value,
            max,
        } = err
        else {
            panic!("window {w}: {err:?}");
        };
        assert_eq!(value, w);
        assert!(max.is_power_of_two() && max < w, "{max}");
        // The largest window allowed is accepted (its memory grows with use only).
        tagged()
            .window(max)
            .map(|x| x)
            .start()
            .map(drop)
            .unwrap_or_else(|e| panic!("window {max}: {e:?}"));
    }
}

/// A huge window is taken at its word: memory grows with the inputs in flight, not the
/// setting, and the output is right.
#[test]
fn huge_window_runs_with_little_memory() {
    for (dispatch, flat) in [
        (Dispatch::LeastLoaded, false),
        (Dispatch::by_key(|x: &u64| x % 3), false),
        (Dispatch::LeastLoaded, true),
        (Dispatch::by_key(|x: &u64| x % 2), true),
    ] {
        let b = Engine::builder()
            .workers(3)
            .capacity(64)
            .batch(8)
            .window(1 << 40)
            .pinning(Pinning::None)
            .order(Order::Preserve)
            .dispatch(dispatch);
        let got: Vec<u64> = if flat {
            b.flat_map(|x: u64| (!x.is_multiple_of(3)).then_some(x))
                .run(0..20_000u64)
                .unwrap()
                .collect()
        } else {
            b.map(|x: u64| x).run(0..20_000u64).unwrap().collect()
        };
        let want: Vec<u64> = if flat {
            (0..20_000u64).filter(|x| !x.is_multiple_of(3)).collect()
        } else {
            (0..20_000).collect()
        };
        assert_eq!(got, want);
    }
}

#[test]
fn huge_worker_counts_are_errors_not_aborts() {
    for n in [usize::MAX, 1 << 40, Engine::MAX_WORKERS + 1] {
        let err = start_err(Engine::builder::<u64>().workers(n));
        assert_eq!(
            err,
            BuildError::TooLarge {
                setting: "workers",
                value: n,
                max: Engine::MAX_WORKERS
            }
        );
        // Through `run`, `drive` and `run_with_sink` too.
        let b = || Engine::builder::<u64>().workers(n).map(|x| x);
        assert!(matches!(
            b().run(0..1u64).map(drop),
            Err(BuildError::TooLarge { .. })
        ));
        assert!(matches!(
            b().drive(0..1u64).map(drop),
            Err(BuildError::TooLarge { .. })
        ));
        assert!(matches!(
            b().run_with_sink(0..1u64, drop).map(drop),
            Err(BuildError::TooLarge { .. })
        ));
    }
}

/// `2 × workers × capacity × item size` overflowing `usize` (or above `isize::MAX`) is an
/// error before any ring is allocated; `max` says the largest capacity that would fit.
#[test]
fn capacity_times_workers_overflow_is_an_error() {
    // u64 items, plain wire: 16 bytes a slot pair, 4 workers: 64 bytes per slot index.
    let err = start_err(Engine::builder::<u64>().workers(4).capacity(1 << 61));
    assert_eq!(
        err,
        BuildError::TooLarge {
            setting: "capacity × workers",
            value: 1 << 61,
            max: 1 << 56
        }
    );
    // A capacity above the ring's own limit is the ring's error.
    assert_eq!(
        start_err(Engine::builder::<u64>().capacity(MAX_CAPACITY + 1)),
        BuildError::Capacity(CapacityError::TooLarge {
            requested: MAX_CAPACITY + 1
        })
    );
    // Products that fit `isize` but not the machine: a ring refused by the allocator.
    let err = start_err(Engine::builder::<u64>().workers(2).capacity(1 << 50));
    assert!(
        matches!(err, BuildError::Capacity(CapacityError::TooLarge { .. })),
        "{err:?}"
    );
    // The default window (2 × capacity × workers) cannot overflow: it is clamped.
    let err = start_err(tagged().workers(8).capacity(1 << 58));
    assert!(
        matches!(
            err,
            BuildError::TooLarge {
                setting: "capacity × workers",
                ..
            }
        ),
        "{err:?}"
    );
    // Zero-sized items take no memory, whatever the capacity.
    let out = Engine::builder()
        .workers(2)
        .capacity(1 << 40)
        .batch(16)
        .pinning(Pinning::None)
        .map(|()| ())
        .run(std::iter::repeat_n((), 1000))
        .unwrap();
    assert_eq!(out.count(), 1000);
}

/// `batch` above `capacity` is capped at it (documented), whatever its size: the buffers of
/// `batch` items are never larger than a ring.
#[test]
fn batch_above_capacity_is_capped() {
    for batch in [5, 1 << 40, usize::MAX] {
        for (dispatch, order) in [
            (Dispatch::RoundRobin, Order::Preserve),
            (Dispatch::LeastLoaded, Order::Preserve),
            (Dispatch::RoundRobin, Order::Any),
        ] {
            let got: Vec<u64> = Engine::builder()
                .workers(2)
                .capacity(4)
                .batch(batch)
                .pinning(Pinning::None)
                .dispatch(dispatch)
                .order(order)
                .map(|x: u64| x + 1)
                .drive(0..1000u64)
                .unwrap()
                .collect();
            let mut got = got;
            got.sort_unstable();
            assert_eq!(got, (1..=1000).collect::<Vec<_>>());
        }
    }
}
