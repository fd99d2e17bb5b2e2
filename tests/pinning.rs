//! Pinning uses the process's cores, not the calling thread's. A caller
//! pinned to one core (a test thread that pins itself) builds engines: `Pinning::Auto` plans
//! over every core of the process, `BusySpin` is not refused for lack of cores, and the
//! threads of `Pinning::None` run on the process's cores, not the caller's single one.

use fanring::pinning::available_cores;
use fanring::{Engine, Pinning, WaitStrategy};

/// The cores the calling thread may run on (`core_affinity` reads the thread's own mask).
fn my_cores() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn a_pinned_caller_gets_the_process_cores() {
    let process = available_cores();
    // The test harness's threads are not pinned: they see the process's mask.
    assert_eq!(my_cores(), process);
    if process.len() < 2 {
        eprintln!("one core: nothing to tell apart");
        return;
    }
    let p = process.clone();
    std::thread::spawn(move || {
        let process = p;
        assert!(core_affinity::set_for_current(core_affinity::CoreId {
            id: process[0]
        }));
        assert_eq!(my_cores(), [process[0]], "the caller is pinned");
        // Read once for the process, whichever thread asks.
        assert_eq!(available_cores(), process);

        // `Auto`: the plan covers the process's cores; each worker is pinned to its core.
        let (input, out) = Engine::builder()
            .workers(2)
            .stateful(
                |_| my_cores(),
                |mask: &mut Vec<usize>, _x: u64, emit| {
                    emit.push(mask.clone());
                },
            )
            .start()
            .unwrap();
        let plan = out.plan().clone();
        assert_eq!(plan.cores, process);
        assert_eq!(plan.workers, [Some(process[0]), Some(process[1])]);
        assert!(plan
            .to_string()
            .contains(&format!("on {} cores", process.len())));
        let mut input = input;
        input.send_all_blocking(0..64u64).unwrap();
        drop(input);
        for mask in out {
            assert!(
                mask == [process[0]] || mask == [process[1]],
                "a worker of `Auto` runs on {mask:?}"
            );
        }

        // `None`: the worker threads run on every core of the process, not on the caller's.
        let masks: Vec<Vec<usize>> = Engine::builder()
            .workers(2)
            .pinning(Pinning::None)
            .stateful(
                |_| my_cores(),
                |mask: &mut Vec<usize>, _x: u64, emit| {
                    emit.push(mask.clone());
                },
            )
            .run(0..64u64)
            .unwrap()
            .collect();
        assert_eq!(masks.len(), 64);
        for mask in masks {
            assert_eq!(mask, process, "a worker of `Pinning::None`");
        }
        // The caller itself is left alone.
        assert_eq!(my_cores(), [process[0]]);

        // `BusySpin` with as many threads as the process has cores is not refused (the
        // caller's one core used to count as all there is): `drive` with one worker is
        // 2 threads.
        let sum: u64 = Engine::builder()
            .workers(1)
            .wait(WaitStrategy::BusySpin)
            .map(|x: u64| x + 1)
            .drive(0..1000u64)
            .unwrap()
            .sum();
        assert_eq!(sum, (1..=1000).sum::<u64>());
    })
    .join()
    .unwrap();
}
