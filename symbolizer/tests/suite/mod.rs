//! The suites, one file per area.

mod symbols;
