//! The Augur host agent.
//!
//! The folders follow one sample from the kernel to the wire, in order:
//!
//! - [`sample`]: the BPF samplers and the perf events they sample on
//!   ([`profiles`]); drained every window.
//! - [`unwind`]: unwind tables for stacks without frame pointers, fed to the
//!   in-kernel unwinder while sampling.
//! - [`runtime`]: Python and Java frames, read from the runtimes' own
//!   structures.
//! - [`resolve`]: a drain becomes a batch whose user frames are
//!   `(file id, file offset)`; JIT code is named from [`perfmap`]s.
//! - [`identity`]: who each process is: the labels from `/proc`, cgroups
//!   and the container runtime ([`cri`]), then the operator's [`relabel`]
//!   rules.
//! - [`ship`]: batches are compressed into a durable on-disk [`spool`] and
//!   pushed to the aggregator over the [`transport`] (TLS, bearer token)
//!   shared with Augur's other gRPC clients; [`debuginfo`] uploads symbols
//!   for binaries only this host has, beside them.
//!
//! Two roots compose the stages: the [`Collector`] gathers one window's
//! samples into batches (alone, it is `augur record`), and the [`runner`]
//! runs the agent: [`start`] brings up sampling and shipping, and
//! [`RunningAgent::stop`] sends the last window. [`config`] holds the
//! settings both run with.
//!
//! Cost grows with sample frequency x CPUs (map entries per drain) and with
//! process churn (maps and build-ids read once per process), never with the
//! workload's own throughput.

pub mod collector;
pub mod config;
pub mod debuginfo;
pub mod identity;
pub mod metrics;
pub mod resolve;
pub mod runner;
pub mod runtime;
pub mod sample;
pub mod ship;
pub mod unwind;

// The paths the modules had before they were grouped by stage.
pub use identity::{cri, relabel};
pub use resolve::perfmap;
pub use sample::{profiles, sampler};
pub use ship::{spool, transport};

pub use collector::{Collector, JavaWalkerStats};
pub use config::{AgentConfig, DEFAULT_UNWIND_MIN_AGE, host_name};
pub use identity::IdentityConfig;
pub use metrics::AgentMetrics;
pub use profiles::{ProfileKind, ProfileSpec, SampleRate};
pub use runner::{AgentError, RunningAgent, STOP_CHECK, start};
pub use sampler::{SamplerError, SamplerOptions};
