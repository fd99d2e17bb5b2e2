//! The reorder window's memory grows with use. The default window of
//! `capacity(1 << 20)` with 2 workers is 4 Mi inputs; it used to be allocated (and written)
//! at `start()`: 224 MiB of RSS with nothing sent.
//!
//! A counting global allocator measures what `start()` allocates; one `#[test]` only, so
//! nothing else in this binary allocates while we count.

use fanring::{Dispatch, Engine, Order, Pinning};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

struct Counting;

/// Bytes allocated and not yet freed.
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), SeqCst);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), SeqCst);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, SeqCst);
        LIVE.fetch_sub(layout.size(), SeqCst);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), SeqCst);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MIB: usize = 1 << 20;

#[test]
fn window_memory_grows_with_use() {
    // The shape. Rings: 2 workers × 2^20 slots × (16-byte tagged input + 24-byte
    // tagged output) = 80 MiB, reserved but never written (no RSS until used). The window
    // of 4 Mi inputs (56 bytes a slot) was another 224 MiB, written at start.
    let before = LIVE.load(SeqCst);
    let (mut input, output) = Engine::builder()
        .workers(2)
        .capacity(1 << 20)
        .pinning(Pinning::None)
        .order(Order::Preserve)
        .dispatch(Dispatch::LeastLoaded)
        .map(|x: u64| x)
        .start()
        .unwrap();
    let at_start = LIVE.load(SeqCst) - before;
    assert!(
        at_start < 80 * MIB + 4 * MIB,
        "start() allocated {} MiB",
        at_start / MIB
    );
    // It works, and grows as inputs go out of order.
    let feeder = std::thread::spawn(move || {
        input.send_all_blocking(0..100_000u64).unwrap();
    });
    let got: Vec<u64> = output.collect();
    feeder.join().unwrap();
    assert_eq!(got, (0..100_000).collect::<Vec<_>>());

    // A window far larger than anything in flight costs nothing until used.
    let before = LIVE.load(SeqCst);
    let out = Engine::builder()
        .workers(2)
        .capacity(16)
        .batch(4)
        .window(1 << 36)
        .pinning(Pinning::None)
        .order(Order::Preserve)
        .dispatch(Dispatch::by_key(|x: &u64| x / 7))
        .map(|x: u64| x * 2)
        .run(0..50_000u64)
        .unwrap();
    let at_start = LIVE.load(SeqCst) - before;
    assert!(at_start < MIB, "start() allocated {at_start} bytes");
    assert!(out.eq((0..50_000u64).map(|x| x * 2)));
}
