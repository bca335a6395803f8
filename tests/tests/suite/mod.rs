//! The end-to-end suite, one module per journey.

mod browser;
mod counters;
mod debuginfod;
mod deploy;
mod faults;
mod flame;
mod fleet;
mod ingest_errors;
mod java;
mod jit;
mod limits;
mod loadgen;
mod native;
mod offcpu;
mod privileges;
mod python;
mod record;
mod regress;
mod relabel;
mod security;
mod spool;
mod symbols;
mod unwind;
mod up;
mod upload;
