//! The scaffolding the benchmark commands in `src/bin/` share, so each
//! command holds only what it measures and how it prints it:
//!
//! - [`cli`]: clap parsing, `--help`, exit codes and value parsers;
//! - [`server`], [`agent`], [`workload`]: the `augur server` agents ship
//!   to, a running `augur agent`, and the processes it profiles;
//! - [`process`]: CPU and peak RSS from `wait4`, CPU so far from
//!   schedstat, BPF programs' run time from fdinfo;
//! - [`metrics`]: series from `/metrics` text;
//! - [`report`]: load, medians, steady windows, for the printed tables;
//! - [`tool`]: how the symbolization benchmarks time a piped tool.

pub mod agent;
pub mod cli;
pub mod metrics;
pub mod process;
pub mod report;
pub mod server;
pub mod tool;
pub mod workload;

pub use cli::{Parsed, main, parse_args};
pub use metrics::metric_series;
pub use process::{BpfStats, CpuReading, ProgRuns, reap_within, rusage_cpu, try_reap};
pub use report::{load_average, ms};
pub use tool::{ToolTiming, time_piped_tool};
