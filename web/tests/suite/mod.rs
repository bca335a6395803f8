//! Test cases, one file per area, with the shared fixture and HTTP client.

mod client;
mod fixture;

mod compression;
mod deploys;
mod errors;
mod fleet;
mod grafana;
mod labels;
mod profile;
mod server;
mod services;
mod sql;
mod timeline;
mod tree;
