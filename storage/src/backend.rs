//! One storage interface, several backends.
//!
//! [`Storage`] is everything the aggregator, the symbolization workers and
//! the web server ask of storage; none of them sees SQL. [`Store`] is the
//! cheap, cloneable handle they hold, over SQLite ([`SqliteStore`], the
//! embedded default) or ClickHouse ([`ClickHouseStore`], for fleets). The
//! conformance suite in `tests/suite/conformance.rs` runs unchanged against
//! both.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use augur_profile::{FileId, Profile, StackTree};

use crate::clickhouse::{ClickHouseConfig, ClickHouseStore};
use crate::error::StorageError;
use crate::ingest::{BatchWrite, HeldBatch, WriteOutcome, refused_batch};
use crate::query::{ProfileQuery, ServiceSummary, StoreStats};
use crate::retention::{CompactionReport, RetentionPolicy};
use crate::store::SqliteStore;
use crate::symbolization::{FrameSymbols, PendingFrame, Shard};

/// What every backend provides. Methods block; async callers run them on a
/// blocking pool.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Stores a batch, exactly once per batch id: a batch id stored before
    /// changes nothing and returns [`WriteOutcome::Duplicate`], also after a
    /// restart. Durable when it returns.
    fn write_batch(&self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError>;

    /// Stores many batches, each exactly once by its id, as if each were
    /// given to [`Storage::write_batch`]: every batch gets its own outcome,
    /// and one refused for itself (invalid, a unit conflict) is refused
    /// alone. The outer error is storage's own trouble; the caller retries
    /// the whole slice later, which ids make safe. Durable when it returns.
    ///
    /// The default writes the batches one by one; SQLite writes them in one
    /// transaction, identical rows summed first.
    fn write_batches(
        &self,
        batches: &[HeldBatch],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        let mut outcomes = Vec::with_capacity(batches.len());
        for batch in batches {
            match self.write_batch(&batch.to_batch_write()) {
                Err(error) if !refused_batch(&error) => return Err(error),
                outcome => outcomes.push(outcome),
            }
        }
        Ok(outcomes)
    }

    /// Whether a batch id is stored. A backend that cannot tell cheaply
    /// answers `false`; [`Storage::write_batches`] still stores it once.
    fn batch_stored(&self, _batch_id: &str) -> Result<bool, StorageError> {
        Ok(false)
    }

    /// Every service with samples, by name.
    fn services(&self) -> Result<Vec<ServiceSummary>, StorageError>;

    /// Label names of `service` and the values each has taken, sorted.
    fn label_values(&self, service: &str) -> Result<BTreeMap<String, Vec<String>>, StorageError>;

    /// Merged stacks of one service (and label matchers) and profile type
    /// over the windows starting in `[start, end)`, with the symbols known
    /// now, hottest stack first.
    fn query_profile(&self, query: &ProfileQuery) -> Result<Profile, StorageError>;

    /// The samples of [`Storage::query_profile`] as the prefix tree of
    /// their stacks, each location once: what a flame graph is drawn from.
    /// By default the profile's stacks merged; a backend that stores stacks
    /// as a prefix tree hands it over directly.
    fn query_stack_tree(&self, query: &ProfileQuery) -> Result<StackTree, StorageError> {
        Ok(StackTree::from_profile(&self.query_profile(query)?))
    }

    /// The deploys of `service`: one per value of its `version` label,
    /// oldest first.
    fn deploys(&self, service: &str) -> Result<Vec<Deploy>, StorageError>;

    /// Samples per window (start, count) of what `query` selects, oldest
    /// first; windows without samples are absent.
    fn timeline(&self, query: &ProfileQuery) -> Result<Vec<(i64, u64)>, StorageError>;

    /// Up to `limit` user frames of `shard` without symbols: never tried
    /// ones, requeued ones, and failures at least `retry_failed_after` old.
    fn pending_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError>;

    /// Records symbolization outcomes. A failure never erases symbols
    /// already known.
    fn record_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError>;

    /// Queues every frame of `build_id` for symbolization again, now.
    /// Returns the frames queued.
    fn requeue_binary(&self, build_id: &FileId) -> Result<usize, StorageError>;

    /// Row counts, for metrics and tests.
    fn stats(&self) -> Result<StoreStats, StorageError>;

    /// Runs a read-only SQL query over the documented views (`docs/sql.md`)
    /// in the backend's dialect; at most `max_rows` rows come back and a
    /// query running longer than [`SQL_TIMEOUT`] is stopped.
    fn sql(&self, query: &str, max_rows: usize) -> Result<SqlAnswer, StorageError>;

    /// Rolls minute windows past their retention up into hour windows,
    /// deletes hour windows past theirs, and keeps the stored bytes under
    /// the policy's bound, as of `now_unix_nanos`. A query running at the
    /// same time sees each window whole: before or after, never half.
    fn compact(
        &self,
        policy: &RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<CompactionReport, StorageError>;

    /// Settles minute windows that no batch reached for a while into
    /// per-service rows, and settles again those a late batch reached
    /// since. Returns the windows settled. Safe on any number of nodes at
    /// once; a backend that keeps per-service rows as it writes (SQLite)
    /// has nothing to do.
    fn settle(&self, _now_unix_nanos: i64) -> Result<usize, StorageError> {
        Ok(0)
    }

    /// A subquery with the columns of the `sql_service_samples` view over
    /// the windows starting in `[start, end)`, for fleet reports, when the
    /// backend has a faster or more exact one than the view; `None` reads
    /// the view.
    fn service_samples_sql(
        &self,
        _start_unix_nanos: i64,
        _end_unix_nanos: i64,
    ) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    /// Fills in-memory read caches with the newest stored stacks and their
    /// frames, so the first profile views after a start are as fast as
    /// later ones. Slow (seconds on a big store): run it off the request
    /// path. Returns how many nodes and frames it cached; a backend
    /// without such caches does nothing.
    fn warm_caches(&self) -> Result<(usize, usize), StorageError> {
        Ok((0, 0))
    }

    /// Shares an uploaded debug file with every node on this storage.
    /// Backends that serve one node keep it only on local disk: `Ok(false)`.
    fn share_debuginfo(&self, _build_id: &FileId, _file: &Path) -> Result<bool, StorageError> {
        Ok(false)
    }

    /// Copies a debug file another node shared into `dest`; `Ok(false)`
    /// when nobody shared one for `build_id`.
    fn fetch_debuginfo(&self, _build_id: &FileId, _dest: &Path) -> Result<bool, StorageError> {
        Ok(false)
    }
}

/// One deploy of a service: the processes that carried one `version`
/// label (a configured environment variable, or the main binary's build-id).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Deploy {
    /// The version label.
    pub version: String,
    /// Build-ids of the main binaries seen with it.
    pub build_ids: Vec<String>,
    /// Hosts it ran on.
    pub hosts: Vec<String>,
    /// Start of its first and last window with samples, Unix nanoseconds.
    pub first_seen_unix_nanos: i64,
    /// See `first_seen_unix_nanos`.
    pub last_seen_unix_nanos: i64,
    /// Its on-CPU samples.
    pub cpu_samples: u64,
}

/// Longest a user's SQL query may run.
pub const SQL_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer to a SQL query.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SqlAnswer {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows of values (numbers, strings or null).
    pub rows: Vec<Vec<serde_json::Value>>,
    /// True when more rows existed than were returned.
    pub truncated: bool,
}

/// Run before each query a user asks; see [`Store::set_before_query`].
pub type BeforeQuery = Arc<dyn Fn() + Send + Sync>;

/// A shared handle on a storage backend. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Storage>,
    /// The SQLite file, when that is the backend.
    path: Option<std::path::PathBuf>,
    /// Shared by every clone, also those made before it was set.
    before_query: Arc<RwLock<Option<BeforeQuery>>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.backend.fmt(f)
    }
}

impl Store {
    /// The embedded backend: opens (creating or migrating) the SQLite file
    /// at `path`. The directory must exist.
    pub fn open(path: &Path) -> Result<Store, StorageError> {
        Ok(Store {
            backend: Arc::new(SqliteStore::open(path)?),
            path: Some(path.to_owned()),
            before_query: Arc::default(),
        })
    }

    /// The fleet backend: connects to ClickHouse and creates the schema if
    /// missing.
    pub fn clickhouse(config: ClickHouseConfig) -> Result<Store, StorageError> {
        Ok(Store {
            backend: Arc::new(ClickHouseStore::open(config)?),
            path: None,
            before_query: Arc::default(),
        })
    }

    /// Runs `hook` before every query a user asks (services, label values,
    /// profiles, deploys, timelines, SQL), on every clone of this handle;
    /// `None` removes it. The aggregator sets one that stores the batches
    /// it holds, so a query in the same process sees every batch
    /// acknowledged before it began.
    pub fn set_before_query(&self, hook: Option<BeforeQuery>) {
        *self
            .before_query
            .write()
            .unwrap_or_else(PoisonError::into_inner) = hook;
    }

    fn before_query(&self) {
        let hook = self
            .before_query
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(hook) = hook {
            hook();
        }
    }

    /// Path of the SQLite file, for the embedded backend.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// See [`Storage::write_batch`].
    pub fn write_batch(&self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError> {
        self.backend.write_batch(batch)
    }

    /// See [`Storage::write_batches`].
    pub fn write_batches(
        &self,
        batches: &[HeldBatch],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        self.backend.write_batches(batches)
    }

    /// See [`Storage::batch_stored`].
    pub fn batch_stored(&self, batch_id: &str) -> Result<bool, StorageError> {
        self.backend.batch_stored(batch_id)
    }

    /// See [`Storage::services`].
    pub fn services(&self) -> Result<Vec<ServiceSummary>, StorageError> {
        self.before_query();
        self.backend.services()
    }

    /// See [`Storage::label_values`].
    pub fn label_values(
        &self,
        service: &str,
    ) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
        self.before_query();
        self.backend.label_values(service)
    }

    /// See [`Storage::query_profile`].
    pub fn query_profile(&self, query: &ProfileQuery) -> Result<Profile, StorageError> {
        self.before_query();
        self.backend.query_profile(query)
    }

    /// See [`Storage::query_stack_tree`].
    pub fn query_stack_tree(&self, query: &ProfileQuery) -> Result<StackTree, StorageError> {
        self.before_query();
        self.backend.query_stack_tree(query)
    }

    /// See [`Storage::warm_caches`].
    pub fn warm_caches(&self) -> Result<(usize, usize), StorageError> {
        self.backend.warm_caches()
    }

    /// See [`Storage::deploys`].
    pub fn deploys(&self, service: &str) -> Result<Vec<Deploy>, StorageError> {
        self.before_query();
        self.backend.deploys(service)
    }

    /// See [`Storage::timeline`].
    pub fn timeline(&self, query: &ProfileQuery) -> Result<Vec<(i64, u64)>, StorageError> {
        self.before_query();
        self.backend.timeline(query)
    }

    /// See [`Storage::pending_frames`].
    pub fn pending_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError> {
        self.backend
            .pending_frames(retry_failed_after, limit, shard)
    }

    /// See [`Storage::record_symbols`].
    pub fn record_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError> {
        self.backend.record_symbols(results)
    }

    /// See [`Storage::requeue_binary`].
    pub fn requeue_binary(&self, build_id: &FileId) -> Result<usize, StorageError> {
        self.backend.requeue_binary(build_id)
    }

    /// See [`Storage::stats`].
    pub fn stats(&self) -> Result<StoreStats, StorageError> {
        self.backend.stats()
    }

    /// See [`Storage::sql`].
    pub fn sql(&self, query: &str, max_rows: usize) -> Result<SqlAnswer, StorageError> {
        self.before_query();
        self.backend.sql(query, max_rows)
    }

    /// See [`Storage::share_debuginfo`].
    pub fn share_debuginfo(&self, build_id: &FileId, file: &Path) -> Result<bool, StorageError> {
        self.backend.share_debuginfo(build_id, file)
    }

    /// See [`Storage::fetch_debuginfo`].
    pub fn fetch_debuginfo(&self, build_id: &FileId, dest: &Path) -> Result<bool, StorageError> {
        self.backend.fetch_debuginfo(build_id, dest)
    }

    /// See [`Storage::settle`].
    pub fn settle(&self, now_unix_nanos: i64) -> Result<usize, StorageError> {
        self.backend.settle(now_unix_nanos)
    }

    /// See [`Storage::service_samples_sql`].
    pub fn service_samples_sql(
        &self,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
    ) -> Result<Option<String>, StorageError> {
        // A subquery holds what storage held when it was made: flush first.
        self.before_query();
        self.backend
            .service_samples_sql(start_unix_nanos, end_unix_nanos)
    }

    /// See [`Storage::compact`].
    pub fn compact(
        &self,
        policy: &RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<CompactionReport, StorageError> {
        self.backend.compact(policy, now_unix_nanos)
    }
}

impl Storage for SqliteStore {
    fn write_batch(&self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError> {
        SqliteStore::write_batch(self, batch)
    }
    fn write_batches(
        &self,
        batches: &[HeldBatch],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        SqliteStore::write_batches(self, batches)
    }
    fn batch_stored(&self, batch_id: &str) -> Result<bool, StorageError> {
        SqliteStore::batch_stored(self, batch_id)
    }
    fn services(&self) -> Result<Vec<ServiceSummary>, StorageError> {
        SqliteStore::services(self)
    }
    fn label_values(&self, service: &str) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
        SqliteStore::label_values(self, service)
    }
    fn query_profile(&self, query: &ProfileQuery) -> Result<Profile, StorageError> {
        SqliteStore::query_profile(self, query)
    }
    fn query_stack_tree(&self, query: &ProfileQuery) -> Result<StackTree, StorageError> {
        SqliteStore::query_stack_tree(self, query)
    }

    fn warm_caches(&self) -> Result<(usize, usize), StorageError> {
        SqliteStore::warm_caches(self)
    }
    fn timeline(&self, query: &ProfileQuery) -> Result<Vec<(i64, u64)>, StorageError> {
        SqliteStore::timeline(self, query)
    }
    fn deploys(&self, service: &str) -> Result<Vec<Deploy>, StorageError> {
        SqliteStore::deploys(self, service)
    }
    fn pending_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError> {
        SqliteStore::pending_frames(self, retry_failed_after, limit, shard)
    }
    fn record_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError> {
        SqliteStore::record_symbols(self, results)
    }
    fn requeue_binary(&self, build_id: &FileId) -> Result<usize, StorageError> {
        SqliteStore::requeue_binary(self, build_id)
    }
    fn stats(&self) -> Result<StoreStats, StorageError> {
        SqliteStore::stats(self)
    }
    fn sql(&self, query: &str, max_rows: usize) -> Result<SqlAnswer, StorageError> {
        SqliteStore::sql(self, query, max_rows)
    }
    fn compact(
        &self,
        policy: &RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<CompactionReport, StorageError> {
        SqliteStore::compact(self, policy, now_unix_nanos)
    }
}
