//! CPython: what the agent knows of the interpreter's own structures. The
//! per-version offsets the BPF frame walker is loaded with, and, in user
//! space, the naming of what it records: the interpreter found in a mapped
//! file, a code object read from the process (function, file, line table),
//! the line of an instruction, and the Python frames merged into the
//! native stack.

pub mod binary;
pub mod code;
pub mod linetable;
pub mod offsets;
pub mod process;

pub use process::{PythonProcesses, PythonStats, merge};
