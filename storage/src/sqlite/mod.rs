//! The embedded backend: profiles in one SQLite file, one writer connection
//! behind a mutex and a small pool of reader connections, which WAL mode
//! lets run beside it.
//!
//! Jobs, one module each: `schema` (tables, migrations, connection
//! settings), `write` (the write path, with the writer's intern caches in
//! `tx_cache`), `read` (merged profiles and stack trees, with the cache of
//! immutable nodes and frames in `node_cache`), `catalog` (services, labels,
//! deploys, timelines, counters and user SQL), `symbols` (pending frames
//! and symbol results) and `retention` (rollups, expiry, the byte bound).
//! [`SqliteStore`] here ties the connections together and implements
//! [`Storage`].

mod catalog;
mod node_cache;
mod read;
mod retention;
mod schema;
mod symbols;
mod tx_cache;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use augur_profile::{FileId, Profile, StackTree};
use rusqlite::Connection;

use self::node_cache::NodeFrameCache;
use self::write::Writer;
use crate::api::{
    BatchWrite, CompactionReport, Deploy, FleetReport, FrameSymbols, PendingFrame, ProfileQuery,
    ReportRow, RetentionPolicy, ServiceSummary, Shard, SqlAnswer, Storage, Store, StoreStats,
    WriteOutcome,
};
use crate::error::StorageError;
use crate::reports;

/// Bytes SQLite has allocated in this process right now (page caches,
/// statements, schema), across every connection.
pub fn sqlite_memory_used() -> i64 {
    // SAFETY: sqlite3_memory_used only reads SQLite's global counter, which
    // the bundled library keeps thread-safe.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

impl Store {
    /// The embedded backend: opens (creating or migrating) the SQLite file
    /// at `path`. The directory must exist.
    pub fn open(path: &Path) -> Result<Store, StorageError> {
        Ok(Store::new(SqliteStore::open(path)?))
    }
}

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
    cache: NodeFrameCache,
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
                cache: NodeFrameCache::new(),
            }),
        })
    }

    /// Stack nodes in the read cache (tests).
    #[cfg(test)]
    pub(crate) fn cached_nodes(&self) -> usize {
        self.inner.cache.node_count()
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

impl Storage for SqliteStore {
    fn path(&self) -> Option<&Path> {
        Some(&self.inner.path)
    }

    /// One durable transaction; counts of a stack already stored for the
    /// same window are added to.
    fn write_batch(&self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError> {
        let mut writer = self.writer();
        let outcome = writer.write_batch(batch);
        self.inner.cache.nodes_added(writer.take_new_nodes());
        outcome
    }

    /// One transaction for all of them.
    fn write_batches(
        &self,
        batches: &[BatchWrite],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        let mut writer = self.writer();
        let outcomes = writer.write_batches(batches);
        self.inner.cache.nodes_added(writer.take_new_nodes());
        outcomes
    }

    /// Read beside the writer.
    fn batch_stored(&self, batch_id: &str) -> Result<bool, StorageError> {
        self.with_reader(|conn| write::batch_stored(conn, batch_id))
    }

    fn services(&self) -> Result<Vec<ServiceSummary>, StorageError> {
        self.with_reader(catalog::services)
    }

    fn label_values(&self, service: &str) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
        self.with_reader(|conn| catalog::label_values(conn, service))
    }

    fn series(&self, service: &str) -> Result<Vec<BTreeMap<String, String>>, StorageError> {
        self.with_reader(|conn| catalog::series(conn, service))
    }

    fn query_profile(&self, query: &ProfileQuery) -> Result<Profile, StorageError> {
        self.with_reader(|conn| read::profile(conn, query, &self.inner.cache))
    }

    fn query_stack_tree(&self, query: &ProfileQuery) -> Result<StackTree, StorageError> {
        self.with_reader(|conn| read::stack_tree(conn, query, &self.inner.cache))
    }

    fn deploys(&self, service: &str) -> Result<Vec<Deploy>, StorageError> {
        self.with_reader(|conn| catalog::deploys(conn, service))
    }

    fn timeline(&self, query: &ProfileQuery) -> Result<Vec<(i64, u64)>, StorageError> {
        self.with_reader(|conn| read::timeline(conn, query))
    }

    /// First the frames never tried, then those whose last failed attempt
    /// is at least `retry_failed_after` old (`Duration::ZERO` retries every
    /// failure at once).
    fn pending_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError> {
        self.with_reader(|conn| {
            symbols::pending(conn, retry_failed_after, limit, now_unix_secs(), shard)
        })
    }

    /// One transaction. Symbols replace any known for the frame; a failure
    /// stores its reason and time so the frame is retried later. Results
    /// for ids that are not user frames are skipped.
    fn record_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError> {
        let recorded = self.writer().record_symbols(results, now_unix_secs())?;
        if !recorded.changed.is_empty() {
            self.inner
                .cache
                .symbols_changed(recorded.epoch, &recorded.changed);
        }
        Ok(())
    }

    fn requeue_binary(&self, build_id: &FileId) -> Result<usize, StorageError> {
        self.writer().requeue_binary(build_id)
    }

    fn stats(&self) -> Result<StoreStats, StorageError> {
        self.with_reader(catalog::stats)
    }

    fn sql(&self, sql: &str, max_rows: usize) -> Result<SqlAnswer, StorageError> {
        self.with_reader(|conn| catalog::user_sql(conn, sql, max_rows))
    }

    /// Over the `sql_service_samples` view: SQLite keeps per-service rows
    /// as it writes.
    fn fleet_report(
        &self,
        report: FleetReport,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
        limit: usize,
    ) -> Result<Vec<ReportRow>, StorageError> {
        reports::run(
            report,
            "sql_service_samples",
            start_unix_nanos,
            end_unix_nanos,
            limit,
            |sql, max_rows| self.sql(sql, max_rows),
        )
    }

    fn compact(
        &self,
        policy: &RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<CompactionReport, StorageError> {
        self.writer().compact(policy, now_unix_nanos)
    }

    fn warm_caches(&self) -> Result<(usize, usize), StorageError> {
        self.with_reader(|conn| read::warm(conn, &self.inner.cache))
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

#[cfg(test)]
mod cache_tests {
    use super::*;
    use augur_profile::{Location, ProfileType, RawFrame};

    use super::read::{profile, stack_tree, warm};
    use crate::api::WindowWrite;

    fn kernel(name: &str) -> RawFrame {
        RawFrame::Kernel {
            function: name.into(),
            module: None,
        }
    }

    fn write(store: &SqliteStore, id: &str, stacks: Vec<(Vec<RawFrame>, u64)>) {
        store
            .write_batch(&BatchWrite {
                batch_id: id.into(),
                received_unix_nanos: 1,
                binaries: vec![],
                windows: vec![WindowWrite {
                    service: "svc".into(),
                    labels: BTreeMap::new(),
                    profile_type: ProfileType {
                        name: "cpu".into(),
                        unit: "nanoseconds".into(),
                    },
                    period: 10,
                    window_start_unix_nanos: 0,
                    stacks: stacks.into_iter().map(|(s, c)| (s.into(), c)).collect(),
                }],
            })
            .unwrap();
    }

    fn query() -> ProfileQuery {
        ProfileQuery {
            service: "svc".into(),
            labels: BTreeMap::new(),
            matchers: Vec::new(),
            profile_type: "cpu".into(),
            start_unix_nanos: 0,
            end_unix_nanos: 60_000_000_000,
        }
    }

    #[test]
    fn cached_nodes_and_frames_give_the_same_profiles_however_small_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path).unwrap();
        let deep: Vec<RawFrame> = (0..12).map(|i| kernel(&format!("f{i}"))).collect();
        write(
            &store,
            "a",
            vec![
                (deep.clone(), 3),
                (deep[4..].to_vec(), 2),
                (vec![kernel("x"), kernel("f11")], 1),
            ],
        );
        let mut conn = schema::open_reader(&path).unwrap();
        let uncached = || {
            let mut fresh = schema::open_reader(&path).unwrap();
            profile(&mut fresh, &query(), &NodeFrameCache::with_bounds(0, 0)).unwrap()
        };
        let stacks_of = |tree: &StackTree| {
            let mut stacks: Vec<(Vec<Location>, u64)> = tree
                .stacks()
                .into_iter()
                .map(|(l, n)| (l.into_iter().cloned().collect(), n))
                .collect();
            stacks.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            stacks
        };
        for (nodes, frames) in [(1 << 20, 1 << 18), (5, 3), (1, 1), (0, 0)] {
            let expected = uncached();
            let cache = NodeFrameCache::with_bounds(nodes, frames);
            for round in 0..3 {
                assert_eq!(
                    profile(&mut conn, &query(), &cache).unwrap(),
                    expected,
                    "bounds ({nodes}, {frames}), round {round}"
                );
                assert!(cache.nodes().len() <= nodes && cache.frames().map.len() <= frames);
            }
            // New stacks under cached prefixes are read, not missed.
            write(
                &store,
                &format!("b{nodes}"),
                vec![(vec![kernel("new"), kernel("f11")], 1)],
            );
            let after = profile(&mut conn, &query(), &cache).unwrap();
            assert_eq!(
                after,
                uncached(),
                "bounds ({nodes}, {frames}) after a write"
            );
            assert_eq!(after.total(), expected.total() + 1);
            let tree = stack_tree(&mut conn, &query(), &cache).unwrap();
            assert!(tree.is_well_formed());
            assert_eq!(
                stacks_of(&tree),
                stacks_of(&StackTree::from_profile(&after))
            );
        }
    }

    /// Symbols cached with their frames change when new ones are recorded:
    /// by this store (which drops just those frames), or by another
    /// connection to the file, as another process would (the epoch it
    /// moved empties the cache).
    #[test]
    fn cached_frames_show_symbols_recorded_later_here_or_by_another_writer() {
        use crate::{FrameSymbols, Shard};
        use augur_profile::{FileId, Symbol};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        let user = |offset| RawFrame::User {
            build_id: FileId::parse_hex("abcd").unwrap(),
            file_offset: offset,
        };
        write(
            &store,
            "a",
            vec![(vec![user(0x10), user(0x20)], 2), (vec![kernel("k")], 1)],
        );
        let names = |store: &SqliteStore| -> Vec<Vec<String>> {
            let tree = store.query_stack_tree(&query()).unwrap();
            let mut names: Vec<Vec<String>> = tree.locations.iter().map(|l| l.names()).collect();
            names.sort();
            names
        };
        let symbol = |name: &str| Symbol {
            function: name.into(),
            file: None,
            line: None,
        };
        let pending = store
            .pending_frames(std::time::Duration::ZERO, 10, Shard::ALL)
            .unwrap();
        let leaf = pending.iter().find(|f| f.file_offset == 0x10).unwrap();
        let caller = pending.iter().find(|f| f.file_offset == 0x20).unwrap();
        let before = names(&store);
        assert_eq!(names(&store), before, "a second read, now from the cache");
        assert!(
            before.iter().any(|n| n[0].starts_with("[abcd")),
            "{before:?}"
        );

        // This store names the leaf: only it changes.
        store
            .record_symbols(&[FrameSymbols {
                frame_id: leaf.frame_id,
                outcome: Ok(vec![symbol("hot")]),
            }])
            .unwrap();
        let after_here = names(&store);
        assert!(
            after_here.contains(&vec!["hot".to_owned()]),
            "{after_here:?}"
        );
        assert_eq!(after_here.len(), before.len());

        // Another store on the same file (another process) renames both.
        let other = SqliteStore::open(&path).unwrap();
        other
            .record_symbols(&[
                FrameSymbols {
                    frame_id: leaf.frame_id,
                    outcome: Ok(vec![symbol("hotter")]),
                },
                FrameSymbols {
                    frame_id: caller.frame_id,
                    outcome: Ok(vec![symbol("caller")]),
                },
            ])
            .unwrap();
        let after_there = names(&store);
        for name in ["hotter", "caller", "k"] {
            assert!(
                after_there.contains(&vec![name.to_owned()]),
                "{name} missing from {after_there:?}"
            );
        }
        assert!(!after_there.contains(&vec!["hot".to_owned()]));
        // And what the cache holds again is the new truth.
        assert_eq!(names(&store), after_there);
        // A failure recorded later does not erase names, cached or not.
        store
            .record_symbols(&[FrameSymbols {
                frame_id: leaf.frame_id,
                outcome: Err("no debug info".into()),
            }])
            .unwrap();
        assert_eq!(names(&store), after_there);
    }

    /// Warming fills the cache from the newest nodes and their frames, and
    /// what is then read from it is what a cold read gives.
    #[test]
    fn a_warmed_cache_holds_the_newest_nodes_and_gives_the_same_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let store = SqliteStore::open(&path).unwrap();
        let deep: Vec<RawFrame> = (0..12).map(|i| kernel(&format!("f{i}"))).collect();
        write(
            &store,
            "a",
            vec![(deep.clone(), 3), (vec![kernel("x"), kernel("f11")], 1)],
        );
        let cold = SqliteStore::open(&path)
            .unwrap()
            .query_profile(&query())
            .unwrap();
        // 12 nodes for the deep stack, one more for x; 13 frames.
        assert_eq!(store.warm_caches().unwrap(), (13, 13));
        let fresh = SqliteStore::open(&path).unwrap();
        assert_eq!(fresh.warm_caches().unwrap(), (13, 13));
        assert_eq!(fresh.query_profile(&query()).unwrap(), cold);
        // A small cache keeps the newest: the last node made is `x`'s.
        let mut conn = schema::open_reader(&path).unwrap();
        let small = NodeFrameCache::with_bounds(1, 1);
        assert_eq!(warm(&mut conn, &small).unwrap(), (1, 1));
        let newest: i64 = conn
            .query_row("SELECT MAX(id) FROM stacks", [], |r| r.get(0))
            .unwrap();
        assert!(small.nodes().contains_key(&newest));
        assert_eq!(profile(&mut conn, &query(), &small).unwrap(), cold);
    }

    /// Nodes a write commits go straight into the read cache; a write that
    /// does not commit (a duplicate) adds none.
    #[test]
    fn written_nodes_are_cached_as_they_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.db");
        let store = SqliteStore::open(&path).unwrap();
        let deep: Vec<RawFrame> = (0..12).map(|i| kernel(&format!("f{i}"))).collect();
        write(&store, "a", vec![(deep.clone(), 3)]);
        assert_eq!(store.cached_nodes(), 12);
        write(&store, "a", vec![(vec![kernel("other")], 3)]);
        assert_eq!(
            store.cached_nodes(),
            12,
            "a duplicate batch commits nothing"
        );
        write(
            &store,
            "b",
            vec![(deep[6..].to_vec(), 1), (vec![kernel("y")], 1)],
        );
        assert_eq!(store.cached_nodes(), 13, "only y is new");
        let cold = SqliteStore::open(&path)
            .unwrap()
            .query_profile(&query())
            .unwrap();
        assert_eq!(store.query_profile(&query()).unwrap(), cold);
    }
}
