//! Sampling in the kernel: which profiles are taken ([`profiles`]: the
//! perf events and their units) and the BPF samplers that take them
//! ([`sampler`]: load, attach, drain); the memory profile's allocator
//! probes ([`allocator`]) and windows ([`memory`]).
//!
//! This is where a sample starts; everything after it works on what a
//! drain returns.

pub mod allocator;
pub mod memory;
pub mod profiles;
pub mod sampler;
