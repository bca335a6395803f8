//! Language runtimes whose frames the agent names from the runtime's own
//! structures, read from process memory: CPython's frame chain and HotSpot's
//! interpreter and code cache. The BPF walkers record raw frames (code
//! object or method addresses); this module finds each runtime in a
//! process, tells BPF where its structures are, and names what BPF recorded.

pub mod jvm;
pub mod mem;
pub mod python;

use serde::Deserialize;

/// Which runtimes' frames the agent reads (`[runtimes]` in its config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// CPython 3.9-3.13: Python frames in place of the evaluation loop's.
    pub python: bool,
    /// HotSpot 11-21: interpreted and compiled Java frames, walked through
    /// compiled code by the code cache's frame sizes (with unwind tables
    /// only: `[sampling] unwinder = "auto"`).
    pub java: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            python: true,
            java: true,
        }
    }
}
