//! A keyed aggregation: each account's events go to the same worker (`Dispatch::by_key`), so a
//! worker keeps per-account state and the events of one account stay in order; when the input
//! ends, each worker emits one final balance per account it saw (`on_end`), and nothing else.
//!
//! `cargo run --release --example keyed`

use fanring::{Dispatch, Engine};
use std::collections::HashMap;

#[derive(Debug)]
struct Event {
    account: u64,
    amount: i64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = (0..50_000u64).map(|i| Event {
        account: i % 100,
        amount: (i % 7) as i64 - 3,
    });
    let mut output = Engine::builder()
        .workers(4)
        .dispatch(Dispatch::by_key(|e: &Event| e.account))
        .stateful(
            |_worker| HashMap::<u64, i64>::new(), // built on the worker's own thread
            |balances, e: Event, _emit| {
                *balances.entry(e.account).or_default() += e.amount;
            },
        )
        // The input ended: each worker's last word, one (account, balance) per account.
        .on_end(|balances, emit| {
            for (account, balance) in balances.drain() {
                emit.push((account, balance));
            }
        })
        .run(events)?;

    let finals: HashMap<u64, i64> = output.by_ref().collect();
    output.join()?;
    assert_eq!(finals.len(), 100, "one final balance per account");
    let total: i64 = finals.values().sum();
    println!("{} accounts, total balance {total}", finals.len());
    Ok(())
}
