//! Measuring: closed-loop throughput (with latency under full load), open-loop latency, the
//! image-rows workload, an idle pipeline's CPU, and the process CPU clock they all read.

pub mod cpu;
pub mod idle;
pub mod latency;
pub mod rows;
pub mod throughput;
