//! [`SqliteStore`], the embedded backend: one writer connection behind a mutex and a
//! small pool of reader connections, which WAL mode lets run beside it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use augur_profile::{FileId, Profile, StackTree};
use rusqlite::Connection;

use crate::error::StorageError;
use crate::ingest::{BatchWrite, HeldBatch, WriteOutcome, Writer};
use crate::query::{self, ProfileQuery, ServiceSummary, StoreStats};
use crate::schema;
use crate::symbolization::{self, FrameSymbols, PendingFrame, Shard};

/// Reader connections kept open between queries; more may be open at once.
const MAX_IDLE_READERS: usize = 4;

/// A profile database in one SQLite file. Cheap to clone; every clone shares
/// the same connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Writer>,
    idle_readers: Mutex<Vec<Connection>>,
    /// Nodes and frames earlier queries read (immutable rows).
    cache: query::ReadCache,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file and the schema if
    /// missing and migrating an older schema. The directory must exist.
    pub fn open(path: &Path) -> Result<SqliteStore, StorageError> {
        let writer = Writer::new(schema::open_writer(path)?);
        // Opening one reader now reports a bad path at startup, not at the
        // first query.
        let reader = schema::open_reader(path)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(writer),
                idle_readers: Mutex::new(vec![reader]),
                cache: query::ReadCache::new(),
            }),
        })
    }

    /// Stack nodes in the read cache (tests).
    #[cfg(test)]
    pub(crate) fn cached_nodes(&self) -> usize {
        self.inner.cache.node_count()
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Reads the newest stack nodes and their frames into the read cache;
    /// see [`crate::Storage::warm_caches`].
    pub fn warm_caches(&self) -> Result<(usize, usize), StorageError> {
        self.with_reader(|conn| query::warm(conn, &self.inner.cache))
    }

    /// Stores a batch atomically, in one durable transaction.
    ///
    /// Idempotent by `batch_id`: a batch id already stored changes nothing
    /// and returns [`WriteOutcome::Duplicate`], also after a restart. Counts
    /// of a stack already stored for the same window are added to.
    pub fn write_batch(&self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError> {
        let mut writer = self.writer();
        let outcome = writer.write_batch(batch);
        self.inner.cache.nodes_added(writer.take_new_nodes());
        outcome
    }

    /// Stores many held batches in one transaction; see
    /// [`crate::Storage::write_batches`].
    pub fn write_batches(
        &self,
        batches: &[HeldBatch],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        let mut writer = self.writer();
        let outcomes = writer.write_batches(batches);
        self.inner.cache.nodes_added(writer.take_new_nodes());
        outcomes
    }

    /// Whether `batch_id` is stored, read beside the writer.
    pub fn batch_stored(&self, batch_id: &str) -> Result<bool, StorageError> {
        self.with_reader(|conn| {
            conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM batches WHERE batch_id = ?1)")
                .and_then(|mut s| s.query_row([batch_id], |r| r.get(0)))
                .map_err(|source| StorageError::Sqlite {
                    operation: "look up a batch id",
                    source,
                })
        })
    }

    /// Label names of `service` and the values each has taken, sorted; an
    /// unknown service has none.
    pub fn label_values(
        &self,
        service: &str,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, StorageError> {
        self.with_reader(|conn| query::label_values(conn, service))
    }

    /// Every service with samples, by name.
    pub fn services(&self) -> Result<Vec<ServiceSummary>, StorageError> {
        self.with_reader(query::services)
    }

    /// Merged stacks of one service and profile type over the windows whose
    /// start lies in `[start, end)`, with the symbols known now, hottest
    /// stack first. An unknown service or type gives an empty profile.
    pub fn query_profile(&self, query: &ProfileQuery) -> Result<Profile, StorageError> {
        self.with_reader(|conn| query::profile(conn, query, &self.inner.cache))
    }

    /// The same samples as a prefix tree; see [`crate::Storage::query_stack_tree`].
    pub fn query_stack_tree(&self, query: &ProfileQuery) -> Result<StackTree, StorageError> {
        self.with_reader(|conn| query::stack_tree(conn, query, &self.inner.cache))
    }

    /// A service's deploys; see [`crate::Storage::deploys`].
    pub fn deploys(&self, service: &str) -> Result<Vec<crate::Deploy>, StorageError> {
        self.with_reader(|conn| query::deploys(conn, service))
    }

    /// Samples per window; see [`crate::Storage::timeline`].
    pub fn timeline(&self, query: &ProfileQuery) -> Result<Vec<(i64, u64)>, StorageError> {
        self.with_reader(|conn| query::timeline(conn, query))
    }

    /// Up to `limit` user frames without symbols: first those never tried,
    /// then those whose last failed attempt is at least `retry_failed_after`
    /// old (`Duration::ZERO` retries every failure at once).
    pub fn pending_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError> {
        self.with_reader(|conn| {
            symbolization::pending(conn, retry_failed_after, limit, now_unix_secs(), shard)
        })
    }

    /// Queues every frame of `build_id` for symbolization again, now: new
    /// debug info for it arrived. Returns the frames queued.
    pub fn requeue_binary(&self, build_id: &FileId) -> Result<usize, StorageError> {
        self.writer().requeue_binary(build_id)
    }

    /// Records symbolization outcomes in one transaction. Symbols replace
    /// any known for the frame; a failure stores its reason and time so the
    /// frame is retried later, and never erases symbols already known.
    /// Results for ids that are not user frames are skipped.
    pub fn record_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError> {
        let recorded = self.writer().record_symbols(results, now_unix_secs())?;
        if !recorded.changed.is_empty() {
            self.inner
                .cache
                .symbols_changed(recorded.epoch, &recorded.changed);
        }
        Ok(())
    }

    /// Rolls up and expires windows; see [`crate::RetentionPolicy`].
    pub fn compact(
        &self,
        policy: &crate::RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<crate::CompactionReport, StorageError> {
        self.writer().compact(policy, now_unix_nanos)
    }

    /// Row counts.
    pub fn stats(&self) -> Result<StoreStats, StorageError> {
        self.with_reader(query::stats)
    }

    /// A read-only query over the SQL views; see [`crate::Storage::sql`].
    pub fn sql(&self, sql: &str, max_rows: usize) -> Result<crate::SqlAnswer, StorageError> {
        self.with_reader(|conn| query::user_sql(conn, sql, max_rows))
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.inner.writer.lock().unwrap_or_else(|poisoned| {
            // A panic mid-write rolled its transaction back when it unwound,
            // but the cached ids may include that transaction's.
            let mut writer = poisoned.into_inner();
            writer.forget_caches();
            self.inner.writer.clear_poison();
            writer
        })
    }

    /// Runs `read` on an idle reader connection, or a new one.
    fn with_reader<T>(
        &self,
        read: impl FnOnce(&mut Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let idle = self
            .inner
            .idle_readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.inner.path)?,
        };
        let result = read(&mut conn);
        // After an error the connection's state is unknown; let it go.
        if result.is_ok() {
            let mut idle = self
                .inner
                .idle_readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }
}

fn now_unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_a_shareable_handle() {
        fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
        assert_send_sync_clone::<SqliteStore>();
    }

    #[test]
    fn opening_in_a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteStore::open(&dir.path().join("missing/augur.db")).unwrap_err();
        assert!(matches!(err, StorageError::Open { .. }), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("augur.db");
        std::fs::write(&path, b"not sqlite at all, just some text long enough").unwrap();
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(err, StorageError::Open { .. }), "{err}");
    }
}
