//! The fan-out/fan-in engine: a distributor, `n` workers on their own threads, a merger,
//! connected by SPSC rings, with the close/drain protocol of `docs/design.md`.
//!
//! The modules, from the bottom up (each imports only modules listed before it):
//!
//! | module | job |
//! |---|---|
//! | `wire` | what travels on the rings: plain items, or items tagged with a sequence number |
//! | `window` | the reorder window between a tagging distributor and the tagged merger |
//! | `control` | what the threads tell each other: failure, cancel, counters, exits |
//! | `stage` | the one shell every engine thread runs in: failure, close, drop, exit |
//! | `emit` | a worker's output side: its ring, local buffer, and [`Emit`] |
//! | `work` | the per-item work types (sealed) |
//! | `spare` | items any worker of a stage may take once its own ring runs dry |
//! | `dispatch` | [`Dispatch`], the distributor: who gets each item, staged and published |
//! | `feed` | the one feeder: a distributor draining a source, publishing before it waits |
//! | `inlet` | a worker's input: one ring, or several read in any order |
//! | `worker` | the worker thread |
//! | `fuse` | a graph's stage run on the threads of the stage before it |
//! | `inline` | the distributor running a quiet run itself (no worker woken) |
//! | `merger` | [`Order`] and the three mergers (`any`, `rotate`, `tagged`) |
//! | `source_thread` | the distributor thread, and how an ending handle waits for it |
//! | `sink_thread` | the merger thread of `run_with_sink` |
//! | `handles` | [`Input`], [`Output`], [`Driven`], [`Running`], and their one finish path |
//! | `config` | the settings, and every check made on them before anything is built |
//! | `launch` | the plan, the rings, the worker threads, the distributor and the merger |
//! | `builder` | [`Engine`], [`Builder`], [`Pipeline`]: the user's entry |
//! | `graph` | [`Graph`]: farms connected ring to ring, built from the last stage back |

mod builder;
mod config;
pub(crate) mod control;
pub(crate) mod dispatch;
pub(crate) mod emit;
pub(crate) mod feed;
mod fuse;
mod graph;
mod handles;
pub(crate) mod inlet;
mod inline;
mod launch;
pub(crate) mod merger;
mod sink_thread;
mod source_thread;
pub(crate) mod spare;
pub(crate) mod stage;
mod window;
mod wire;
pub(crate) mod work;
pub(crate) mod worker;

pub use builder::{Builder, Engine, Pipeline};
pub use dispatch::Dispatch;
pub use emit::Emit;
pub use graph::{Fusion, Graph};
pub use handles::{Driven, Input, Output, Running, SendError};
pub use merger::Order;
