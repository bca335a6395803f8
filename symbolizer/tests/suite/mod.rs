//! The suites, one file per area.

mod go;
mod symbols;
