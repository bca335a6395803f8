//! Queries that see every batch this process acknowledged.
//!
//! The aggregator holds acknowledged batches in memory for up to a flush
//! interval before it stores them. [`FlushingStore`] wraps a [`Store`] and
//! stores those batches before each query a user asks (services, label
//! values, profiles, deploys, timelines, SQL, fleet reports), so a query in
//! the same process never misses a batch acknowledged before it began.
//! [`HeldBatches`] is where [`crate::serve`] publishes its buffer while it
//! runs; a wrapper made before `serve` starts (the web server's, in
//! `augur up`) picks it up then.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use augur_profile::{FileId, Profile, StackTree};
use augur_storage::{
    BatchWrite, CompactionReport, Deploy, FleetReport, FrameSymbols, PendingFrame, ProfileQuery,
    ReportRow, RetentionPolicy, ServiceSummary, Shard, SqlAnswer, Storage, StorageError, Store,
    StoreStats, WriteOutcome,
};

use crate::buffer::WeakIngestBuffer;

/// The batches a running aggregator holds, once [`crate::serve`] has its
/// buffer. Cheap to clone; every clone sees the same buffer.
#[derive(Clone, Default)]
pub struct HeldBatches {
    buffer: Arc<RwLock<Option<WeakIngestBuffer>>>,
}

impl fmt::Debug for HeldBatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attached = self
            .buffer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        f.debug_struct("HeldBatches")
            .field("attached", &attached)
            .finish()
    }
}

impl HeldBatches {
    /// From now on, flushes store what `buffer` holds.
    pub(crate) fn attach(&self, buffer: WeakIngestBuffer) {
        *self.buffer.write().unwrap_or_else(PoisonError::into_inner) = Some(buffer);
    }

    /// The aggregator stops: flushes do nothing from now on.
    pub(crate) fn detach(&self) {
        *self.buffer.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Stores every held batch; a failure is logged, and the query goes on
    /// with what storage has.
    fn flush(&self) {
        let buffer = self
            .buffer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(buffer) = buffer.and_then(|weak| weak.upgrade()) {
            if let Err(error) = buffer.flush() {
                tracing::warn!(%error, "storing held batches before a query failed");
            }
        }
    }
}

/// A [`Store`] whose user queries first store the batches in
/// [`HeldBatches`]; everything else passes straight through.
#[derive(Debug)]
pub struct FlushingStore {
    inner: Store,
    held: HeldBatches,
}

impl FlushingStore {
    /// A handle on `store` that flushes `held` before each query.
    pub fn wrap(store: Store, held: HeldBatches) -> Store {
        Store::new(FlushingStore { inner: store, held })
    }
}

impl Storage for FlushingStore {
    fn path(&self) -> Option<&Path> {
        self.inner.path()
    }

    fn write_batch(&self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError> {
        self.inner.write_batch(batch)
    }

    fn write_batches(
        &self,
        batches: &[BatchWrite],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        self.inner.write_batches(batches)
    }

    fn batch_stored(&self, batch_id: &str) -> Result<bool, StorageError> {
        self.inner.batch_stored(batch_id)
    }

    fn services(&self) -> Result<Vec<ServiceSummary>, StorageError> {
        self.held.flush();
        self.inner.services()
    }

    fn label_values(&self, service: &str) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
        self.held.flush();
        self.inner.label_values(service)
    }

    fn series(&self, service: &str) -> Result<Vec<BTreeMap<String, String>>, StorageError> {
        self.held.flush();
        self.inner.series(service)
    }

    fn query_profile(&self, query: &ProfileQuery) -> Result<Profile, StorageError> {
        self.held.flush();
        self.inner.query_profile(query)
    }

    fn query_stack_tree(&self, query: &ProfileQuery) -> Result<StackTree, StorageError> {
        self.held.flush();
        self.inner.query_stack_tree(query)
    }

    fn deploys(&self, service: &str) -> Result<Vec<Deploy>, StorageError> {
        self.held.flush();
        self.inner.deploys(service)
    }

    fn timeline(&self, query: &ProfileQuery) -> Result<Vec<(i64, u64)>, StorageError> {
        self.held.flush();
        self.inner.timeline(query)
    }

    fn pending_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError> {
        self.inner.pending_frames(retry_failed_after, limit, shard)
    }

    fn record_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError> {
        self.inner.record_symbols(results)
    }

    fn requeue_binary(&self, build_id: &FileId) -> Result<usize, StorageError> {
        self.inner.requeue_binary(build_id)
    }

    fn stats(&self) -> Result<StoreStats, StorageError> {
        self.inner.stats()
    }

    fn sql(&self, query: &str, max_rows: usize) -> Result<SqlAnswer, StorageError> {
        self.held.flush();
        self.inner.sql(query, max_rows)
    }

    fn fleet_report(
        &self,
        report: FleetReport,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
        limit: usize,
    ) -> Result<Vec<ReportRow>, StorageError> {
        self.held.flush();
        self.inner
            .fleet_report(report, start_unix_nanos, end_unix_nanos, limit)
    }

    fn compact(
        &self,
        policy: &RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<CompactionReport, StorageError> {
        self.inner.compact(policy, now_unix_nanos)
    }

    fn settle(&self, now_unix_nanos: i64) -> Result<usize, StorageError> {
        self.inner.settle(now_unix_nanos)
    }

    fn warm_caches(&self) -> Result<(usize, usize), StorageError> {
        self.inner.warm_caches()
    }

    fn share_debuginfo(&self, build_id: &FileId, file: &Path) -> Result<bool, StorageError> {
        self.inner.share_debuginfo(build_id, file)
    }

    fn fetch_debuginfo(&self, build_id: &FileId, dest: &Path) -> Result<bool, StorageError> {
        self.inner.fetch_debuginfo(build_id, dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapper_without_a_running_aggregator_passes_everything_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("augur.db");
        let store = FlushingStore::wrap(Store::open(&path).unwrap(), HeldBatches::default());
        // The aggregator finds its ingest log beside the SQLite file.
        assert_eq!(store.path(), Some(path.as_path()));
        assert!(store.services().unwrap().is_empty());
        assert!(format!("{:?}", HeldBatches::default()).contains("attached: false"));
    }
}
