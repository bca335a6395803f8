//! Language runtimes whose frames the agent names from the runtime's own
//! structures, read from process memory: CPython's frame chain and HotSpot's
//! interpreter and code cache. The BPF walkers record raw frames (code
//! object or method addresses); this module finds each runtime in a
//! process, tells BPF where its structures are, and names what BPF recorded.

pub mod jvm;
pub mod mem;
