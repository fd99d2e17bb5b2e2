//! The engine allocates at start only (rings, threads, the reorder window): nothing per item
//! in steady state.
//!
//! A counting global allocator counts every allocation of the process (the engine's own
//! threads included). The same pipeline runs over 10k and over 1M items; the two counts must
//! be equal within a small constant: an allocation per item (or per batch) would add
//! thousands. One `#[test]` only, so nothing else in this binary allocates while we count.

use fanring::{Dispatch, Engine, Order, Pinning, WaitStrategy};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, SeqCst);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, SeqCst);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, SeqCst);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Slack between the small and the large run: thread start-up details (a lazily allocated
/// thread handle, the order in which threads first park) may differ by a few allocations.
const SLACK: usize = 16;

/// Runs `n` items through `.map(|x| x + 1)` in the given shape; returns the allocations made
/// from building the engine to joining it, and checks the result.
fn allocations(
    n: u64,
    wait: WaitStrategy,
    dispatch: Dispatch<u64>,
    order: Order,
    drive: bool,
) -> usize {
    let before = ALLOCS.load(SeqCst);
    let pipeline = Engine::builder()
        .workers(4)
        .capacity(256)
        .batch(32)
        .wait(wait)
        .pinning(Pinning::None)
        .dispatch(dispatch)
        .order(order)
        .map(|x: u64| x + 1);
    let (mut count, mut sum, mut in_order) = (0u64, 0u64, true);
    let mut see = |v: u64| {
        in_order &= v == count + 1;
        count += 1;
        sum = sum.wrapping_add(v);
    };
    // `run`: a distributor thread; `drive`: the caller distributes and merges.
    let stats = if drive {
        let mut out = pipeline.drive(0..n).unwrap();
        out.by_ref().for_each(&mut see);
        out.join().unwrap()
    } else {
        let mut out = pipeline.run(0..n).unwrap();
        out.by_ref().for_each(&mut see);
        out.join().unwrap()
    };
    let after = ALLOCS.load(SeqCst);
    assert_eq!(count, n);
    assert_eq!(sum, n * (n + 1) / 2);
    assert_eq!(stats.merger.items, n);
    if order == Order::Preserve {
        assert!(in_order, "Preserve delivered out of order");
    }
    drop(stats);
    after - before
}

#[test]
fn no_allocation_per_item() {
    // The counter works at all (otherwise the equalities below would prove nothing).
    let before = ALLOCS.load(SeqCst);
    drop(std::hint::black_box(vec![1u8; 16]));
    assert!(
        ALLOCS.load(SeqCst) > before,
        "the counting allocator sees nothing"
    );

    let small = 10_000u64;
    let large = if cfg!(debug_assertions) {
        1_000_000u64
    } else {
        4_000_000u64
    };
    type Shape = (&'static str, fn() -> Dispatch<u64>, Order);
    let shapes: [Shape; 4] = [
        ("RoundRobin/Any", || Dispatch::RoundRobin, Order::Any),
        (
            "RoundRobin/Preserve (rotation)",
            || Dispatch::RoundRobin,
            Order::Preserve,
        ),
        ("LeastLoaded/Any", || Dispatch::LeastLoaded, Order::Any),
        // Tagged: `map`'s one output per input waits in its slot in place; only a second
        // output of one input would allocate (once per slot, on first use).
        (
            "LeastLoaded/Preserve (tagged)",
            || Dispatch::LeastLoaded,
            Order::Preserve,
        ),
    ];
    for wait in [WaitStrategy::SPIN_THEN_PARK, WaitStrategy::SPIN_YIELD] {
        // Every shape with the parking strategy; the round-robin ones with both.
        let shapes = if wait == WaitStrategy::SPIN_THEN_PARK {
            &shapes[..]
        } else {
            &shapes[..2]
        };
        for (&(name, dispatch, order), drive) in shapes.iter().flat_map(|s| [(s, false), (s, true)])
        {
            // Warm-up: first-use allocations of the process (thread handles, stdio) happen
            // here, not in the measured runs.
            allocations(small, wait, dispatch(), order, drive);
            let a_small = allocations(small, wait, dispatch(), order, drive);
            let a_large = allocations(large, wait, dispatch(), order, drive);
            let mode = if drive { "drive" } else { "run" };
            eprintln!(
                "{name} {wait:?} {mode}: {a_small} allocations for {small} items, {a_large} \
                 for {large}"
            );
            assert!(
                a_large <= a_small + SLACK,
                "{name} {wait:?}: {a_small} allocations for {small} items but {a_large} for \
                 {large}: the engine allocates per item"
            );
            assert!(
                a_small <= a_large + SLACK,
                "{name} {wait:?}: {a_small} allocations for {small} items, {a_large} for {large}"
            );
        }
    }
}
