//! Test cases, one module per concern, and the fixtures they share.

mod concurrency;
mod failures;
mod fixtures;
mod idempotency;
mod labels;
mod round_trip;
mod scale;
mod symbolization;
