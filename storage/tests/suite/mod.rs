//! Test cases, one module per concern, and the fixtures they share.

mod clickhouse_server;
mod concurrency;
mod conformance;
mod failures;
mod fixtures;
mod idempotency;
mod labels;
mod query_nodes;
mod round_trip;
mod scale;
mod settling;
mod symbolization;
