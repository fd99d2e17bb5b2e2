//! A keyed pipeline: each account's events go to the same worker (`Dispatch::ByKey`), so a
//! worker can keep per-account state and the events of one account stay in order, while the
//! merged stream interleaves accounts freely.
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
            |balances, e: Event, emit| {
                let b = balances.entry(e.account).or_default();
                *b += e.amount;
                emit.push((e.account, *b));
            },
        )
        .run(events)?;

    let mut last = HashMap::new();
    for (account, balance) in output.by_ref() {
        last.insert(account, balance);
    }
    output.join()?;
    let total: i64 = last.values().sum();
    println!("{} accounts, total balance {total}", last.len());
    Ok(())
}
