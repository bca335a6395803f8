//! Augur storage: profiles interned so that a hot stack costs one small row
//! per window, not one string per sample, in one of two backends behind one
//! trait.
//!
//! - SQLite (`sqlite/`): the embedded default, one database file beside
//!   the aggregator, ids assigned by SQLite, stacks as a prefix tree.
//! - ClickHouse (`clickhouse/`): for fleets, many aggregators on one
//!   database, content-addressed frames and stacks, windows settled into
//!   per-service rows.
//!
//! Data arrives from the aggregator as [`BatchWrite`]es, one at a time
//! ([`Storage::write_batch`]) or many at once ([`Storage::write_batches`]),
//! either way idempotent by batch id. The symbolizer asks for
//! [`Storage::pending_frames`] and answers with [`Storage::record_symbols`];
//! queries join the symbols known *at query time*, so a frame named late
//! names old samples too. The web crate reads [`Storage::query_profile`],
//! [`Storage::services`] and the rest through a [`Store`].
//!
//! This is the only crate that knows SQL. Code map:
//! - `api`: the [`Storage`] trait, the [`Store`] handle and the values both
//!   backends speak (batches, queries, answers, merge helpers).
//! - `matcher`: label matchers (`=`, `!=`, `=~`, `!~`) of a query.
//! - `columns`: a frame as stored columns, the same in both backends.
//! - `reports`: fleet reports in the SQL both backends share.
//! - `sqlite/`, `clickhouse/`: the backends, siblings that share only the
//!   modules above, each split by job (schema, write, read, symbols,
//!   retention, ...).

mod api;
mod clickhouse;
mod columns;
mod error;
pub mod matcher;
mod reports;
mod sqlite;

pub use api::{
    BatchWrite, CompactionReport, Deploy, FleetReport, FrameSymbols, HOUR_NANOS, PendingFrame,
    ProfileQuery, ReportRow, RetentionPolicy, SQL_TIMEOUT, ServiceSummary, Shard, SharedStack,
    SqlAnswer, Storage, Store, StoreStats, WindowWrite, WriteOutcome, hour_start, refused_batch,
};
pub use clickhouse::{ClickHouseConfig, ClickHouseStore, DEFAULT_SETTLE_AFTER, ReadCacheBounds};
pub use error::StorageError;
pub use matcher::{LabelMatcher, MatchOp, MatcherError};
pub use sqlite::{SqliteStore, sqlite_memory_used};
