//! Augur storage: profiles in one SQLite file, interned so that a hot stack
//! costs one small row per window, not one string per sample.
//!
//! Data arrives from the aggregator as [`HeldBatch`]es, many stored in one
//! transaction ([`Store::write_batches`]), or as one [`BatchWrite`];
//! either way idempotent by batch id. The symbolizer asks for
//! [`Store::pending_frames`] and answers with [`Store::record_symbols`];
//! queries join the symbols known *at query time*, so a frame named late
//! names old samples too. The web crate reads [`Store::query_profile`] and
//! [`Store::services`].
//!
//! This is the only crate that knows SQL. Code map:
//! - `schema`: tables, migrations, connection settings.
//! - `ingest`: the write path and the writer's intern caches (`intern`).
//! - `symbolization`: pending frames and symbol results.
//! - `query`: merged profiles, services, counters.
//! - `store`: the [`Store`] handle tying the connections together.

mod backend;
mod clickhouse;
mod error;
mod ingest;
mod intern;
mod query;
mod reports;
mod retention;
mod schema;
mod store;
mod symbolization;

pub use backend::{BeforeQuery, Deploy, SQL_TIMEOUT, SqlAnswer, Storage, Store};
pub use clickhouse::{ClickHouseConfig, ClickHouseStore, DEFAULT_SETTLE_AFTER, ReadCacheBounds};
pub use error::StorageError;
pub use ingest::{
    BatchWrite, HeldBatch, HeldWindow, SharedStack, WindowWrite, WriteOutcome, refused_batch,
};
pub use intern::{HashedStacks, StackInterner, stack_bytes};
pub use query::{ProfileQuery, ServiceSummary, StoreStats};
pub use reports::{FleetReport, ReportRow};
pub use retention::{CompactionReport, HOUR_NANOS, RetentionPolicy, hour_start};
pub use store::SqliteStore;
pub use symbolization::{FrameSymbols, PendingFrame, Shard};

/// Bytes SQLite has allocated in this process right now (page caches,
/// statements, schema), across every connection.
pub fn sqlite_memory_used() -> i64 {
    // SAFETY: sqlite3_memory_used only reads SQLite's global counter, which
    // the bundled library keeps thread-safe.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}
