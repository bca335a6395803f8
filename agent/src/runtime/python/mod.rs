//! CPython: what the agent knows of the interpreter's own structures. The
//! per-version offsets the BPF frame walker is loaded with, and, in user
//! space, the naming of what it records: a code object read from the
//! process (function, file, line table) and the line of an instruction.

pub mod code;
pub mod linetable;
pub mod offsets;
