//! The fleet backend: profiles in ClickHouse, over its HTTP interface.
//!
//! ClickHouse has no transactions and no auto-increment ids, so the design
//! differs from SQLite's while giving the same answers:
//!
//! - Frames and stacks are content-addressed: a frame's id is a 64-bit hash
//!   of its columns, a stack's id a hash of its frame ids. Every ingest node
//!   computes the same ids without asking anyone, and writing a frame or
//!   stack twice only adds an identical row (`ReplacingMergeTree`).
//! - Sample rows carry their batch id in the sorting key, so a retried batch
//!   writes rows identical to the first attempt's and queries read samples
//!   `FINAL`: a batch counts once even if two nodes stored it, or a node died
//!   between writing samples and recording the batch. The `batches` row is
//!   written last, so a `Duplicate` answer means everything is in.
//! - Profiles without label matchers and fleet reports read minute windows
//!   summed per service from `service_samples` once they are settled
//!   (`settle.rs`), and the rest from `samples FINAL`.
//! - Symbolization keeps one row per attempt in `symbols`, versioned by time;
//!   the newest row is the frame's state.
//!
//! With `cluster` set, every table is a `*_local` table on each shard plus a
//! `Distributed` table of the same name as the local one without the suffix,
//! sharded so that rows that replace each other live on the same shard
//! (samples by batch id, frames, stacks and symbols by their id). Statements
//! only name the distributed tables, so one node or many is the same code.
//!
//! Jobs, one module each: `store` (the handle, its configuration and table
//! names), `client` (HTTP), `schema` (tables and views), `ids` (content
//! addresses), `rows` (rows as stored), `write` (group commit), `settle`
//! (per-service rows), `read` and `read_cache` (profiles and the immutable
//! stacks and frames kept in memory), `catalog` (services, labels,
//! deploys, timelines, counters and user SQL), `symbols`, `debuginfo` and
//! `retention`, as SQLite's modules are named. Here the handle implements
//! [`Storage`].

mod catalog;
mod client;
mod debuginfo;
mod gauge;
mod ids;
mod read;
mod read_cache;
mod retention;
mod rows;
mod schema;
mod settle;
mod store;
mod symbols;
mod write;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use augur_profile::{FileId, Profile, StackTree};

pub use self::read_cache::ReadCacheBounds;
pub use self::store::{ClickHouseConfig, ClickHouseStore, DEFAULT_SETTLE_AFTER};
use crate::api::{
    BatchWrite, CompactionReport, Deploy, FleetReport, FrameSymbols, PendingFrame, ProfileQuery,
    ReportRow, RetentionPolicy, ServiceSummary, Shard, SqlAnswer, Storage, Store, StoreStats,
    WriteOutcome, collect_label_values, refused_batch,
};
use crate::error::StorageError;
use crate::reports;

impl Store {
    /// The fleet backend: connects to ClickHouse and creates the schema if
    /// missing.
    pub fn clickhouse(config: ClickHouseConfig) -> Result<Store, StorageError> {
        Ok(Store::new(ClickHouseStore::open(config)?))
    }
}

impl Storage for ClickHouseStore {
    fn write_batch(&self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError> {
        self.write_group(&[batch])
            .pop()
            .expect("one result per batch")
    }

    /// One group commit for all of them, read in place.
    fn write_batches(
        &self,
        batches: &[BatchWrite],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        let mut outcomes = self.write_group(&batches.iter().collect::<Vec<_>>());
        // Storage trouble fails the whole call; refusals stay per batch.
        if let Some(i) = outcomes
            .iter()
            .position(|o| o.as_ref().is_err_and(|e| !refused_batch(e)))
        {
            return Err(outcomes.swap_remove(i).expect_err("an error"));
        }
        Ok(outcomes)
    }

    fn services(&self) -> Result<Vec<ServiceSummary>, StorageError> {
        self.summarize_services()
    }

    fn label_values(&self, service: &str) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
        Ok(collect_label_values(self.series_labels(service)?))
    }

    fn series(&self, service: &str) -> Result<Vec<BTreeMap<String, String>>, StorageError> {
        self.series_labels(service)
    }

    fn query_profile(&self, query: &ProfileQuery) -> Result<Profile, StorageError> {
        self.profile_parts(query)?.into_profile()
    }

    fn query_stack_tree(&self, query: &ProfileQuery) -> Result<StackTree, StorageError> {
        self.profile_parts(query)?.into_stack_tree()
    }

    fn deploys(&self, service: &str) -> Result<Vec<Deploy>, StorageError> {
        self.deploys_of(service)
    }

    fn timeline(&self, query: &ProfileQuery) -> Result<Vec<(i64, u64)>, StorageError> {
        self.timeline_of(query)
    }

    fn pending_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError> {
        self.unsymbolized_frames(retry_failed_after, limit, shard)
    }

    fn record_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError> {
        self.store_symbols(results)
    }

    fn requeue_binary(&self, build_id: &FileId) -> Result<usize, StorageError> {
        self.requeue_frames_of(build_id)
    }

    fn stats(&self) -> Result<StoreStats, StorageError> {
        self.row_counts()
    }

    fn sql(&self, query: &str, max_rows: usize) -> Result<SqlAnswer, StorageError> {
        self.user_sql(query, max_rows)
    }

    /// Over the settled per-service rows where they are exact, else the
    /// `sql_service_samples` view.
    fn fleet_report(
        &self,
        report: FleetReport,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
        limit: usize,
    ) -> Result<Vec<ReportRow>, StorageError> {
        let source = match self.service_samples_source(start_unix_nanos, end_unix_nanos)? {
            Some(subquery) => format!("({subquery})"),
            None => "sql_service_samples".to_owned(),
        };
        reports::run(
            report,
            &source,
            start_unix_nanos,
            end_unix_nanos,
            limit,
            |sql, max_rows| self.user_sql(sql, max_rows),
        )
    }

    fn compact(
        &self,
        policy: &RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<CompactionReport, StorageError> {
        self.compact_days(policy, now_unix_nanos)
    }

    fn settle(&self, now_unix_nanos: i64) -> Result<usize, StorageError> {
        self.settle_windows(now_unix_nanos)
    }

    fn share_debuginfo(&self, build_id: &FileId, file: &Path) -> Result<bool, StorageError> {
        self.upload_debuginfo(build_id, file)
    }

    fn fetch_debuginfo(&self, build_id: &FileId, dest: &Path) -> Result<bool, StorageError> {
        self.download_debuginfo(build_id, dest)
    }
}
