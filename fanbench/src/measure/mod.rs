//! Measuring: closed-loop throughput (with latency under full load), open-loop latency, the
//! image-rows workload, an idle pipeline's CPU, the multi-stage pipelines, and the process
//! CPU clock they all read.

pub mod cpu;
pub mod idle;
pub mod latency;
pub mod pipeline;
pub mod rows;
pub mod throughput;
