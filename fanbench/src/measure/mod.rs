//! Measuring: closed-loop throughput (with latency under full load) and open-loop latency.

pub mod latency;
pub mod throughput;
