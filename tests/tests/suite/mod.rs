//! The end-to-end suite, one module per journey.

mod ingest_errors;
mod record;
mod up;
