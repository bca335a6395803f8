//! The words every backend speaks: the [`Storage`] trait, the [`Store`]
//! handle, and the values that cross it (batches to write, queries, the
//! answers).
//!
//! [`Storage`] is everything the aggregator, the symbolization workers and
//! the web server ask of storage; none of them sees SQL. [`Store`] is the
//! cheap, cloneable handle they hold, over SQLite (`sqlite/`, the embedded
//! default) or ClickHouse (`clickhouse/`, for fleets); either backend, and
//! any wrapper around one, implements the trait. The conformance suite in
//! `tests/suite/conformance.rs` runs unchanged against both backends.
//!
//! Profile types are open-ended ([`augur_profile::types`]), and each has an
//! aggregation that follows from its name. A sum type (CPU time, events,
//! allocations) adds: a window adds the counts of every batch, and a range
//! adds its windows ([`merge_periods`] only rescales periods). A gauge type
//! (memory in use, goroutines) is a value at a point in time: every batch
//! of it is one snapshot, a backend counts the snapshots each series adds
//! to each window beside the summed counts, and reads divide by them, so a
//! window is the mean of its snapshots, a range the mean of every snapshot
//! in it (per series; series add up), and two pushes of one heap into one
//! window read as that heap, not twice it. Writes stay additive, so batch
//! ids, flushes, rollups and retries work as for sums.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use augur_profile::{FileId, Profile, ProfileType, RawFrame, StackTree, Symbol};

use crate::error::StorageError;
use crate::matcher::LabelMatcher;

/// What every backend provides. Methods block; async callers run them on a
/// blocking pool.
pub trait Storage: Send + Sync + fmt::Debug {
    /// The SQLite file, when that is the backend.
    fn path(&self) -> Option<&Path> {
        None
    }

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
        batches: &[BatchWrite],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        let mut outcomes = Vec::with_capacity(batches.len());
        for batch in batches {
            match self.write_batch(batch) {
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

    /// The distinct label sets (`service` not among them) `service` has
    /// samples under, in no particular order.
    fn series(&self, service: &str) -> Result<Vec<BTreeMap<String, String>>, StorageError>;

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

    /// The `limit` largest lines of `report` over windows starting in
    /// `[start, end)`, with each line's share of the fleet's CPU. Each
    /// backend runs the report's SQL over its own best source of per-service
    /// samples.
    fn fleet_report(
        &self,
        report: FleetReport,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
        limit: usize,
    ) -> Result<Vec<ReportRow>, StorageError>;

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

/// Which breakdown of the fleet's CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetReport {
    /// Services, busiest first.
    Services,
    /// Functions by self time (the leaf of each stack), across services.
    /// Leaves not symbolized are summed per binary, `[unsymbolized] PATH`
    /// (the file id's hex when no path is known), and unknown frames per
    /// placeholder, `[reason]` as [`augur_profile::placeholder::display`]
    /// shows it.
    Functions,
    /// Binaries by self time: the executable or shared library of the leaf
    /// frame, `[kernel]`, `[jit]`, `[python]`, `[java]` or `[unknown]`.
    Binaries,
}

impl FleetReport {
    /// The report's name in the API and CLI.
    pub fn name(self) -> &'static str {
        match self {
            FleetReport::Services => "services",
            FleetReport::Functions => "functions",
            FleetReport::Binaries => "binaries",
        }
    }

    /// Parses [`FleetReport::name`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Services, Self::Functions, Self::Binaries]
            .into_iter()
            .find(|r| r.name() == text)
    }
}

/// One line of a fleet report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReportRow {
    /// Service, function or binary.
    pub name: String,
    /// On-CPU time in the range, nanoseconds.
    pub cpu_ns: u64,
    /// On-CPU samples in the range.
    pub samples: u64,
    /// Share of the fleet's CPU in the range, 0 to 1.
    pub share: f64,
}

/// A shared handle on a storage backend. Cheap to clone; every method is
/// the backend's [`Storage`] method.
#[derive(Clone)]
pub struct Store(Arc<dyn Storage>);

impl Store {
    /// A handle on `backend`: one of this crate's, or a wrapper around a
    /// [`Store`] (the aggregator's flushes held batches before queries).
    pub fn new(backend: impl Storage + 'static) -> Store {
        Store(Arc::new(backend))
    }
}

impl Deref for Store {
    type Target = dyn Storage;

    fn deref(&self) -> &(dyn Storage + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The frames of one stack, leaf first, shared by every batch that has it:
/// a hot stack is kept once in memory, not once per batch, and a backend
/// reads it in place.
pub type SharedStack = Arc<[RawFrame]>;

/// One batch from one agent, ready to store: what the aggregator holds in
/// memory until it flushes, and what every backend writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchWrite {
    /// Idempotency key: a batch id is stored at most once.
    pub batch_id: String,
    /// When the aggregator received the batch, Unix nanoseconds.
    pub received_unix_nanos: i64,
    /// Objects referenced by user frames, with their path on the reporting
    /// host (a hint for the symbolizer).
    pub binaries: Vec<(FileId, String)>,
    /// Merged windows, one per series and profile type.
    pub windows: Vec<WindowWrite>,
}

/// The samples of one series and profile type in one time window.
///
/// Counts are additive: a window's count for a stack is the sum over every
/// batch that has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowWrite {
    /// Service the samples belong to.
    pub service: String,
    /// The other labels of the processes the samples came from; `service`
    /// is not among them.
    pub labels: BTreeMap<String, String>,
    /// What a sample measures.
    pub profile_type: ProfileType,
    /// Value of one sample in the profile type's unit; positive.
    pub period: u64,
    /// Start of the window, Unix nanoseconds.
    pub window_start_unix_nanos: i64,
    /// Distinct stacks, leaf first, with their sample counts.
    pub stacks: Vec<(SharedStack, u64)>,
}

impl BatchWrite {
    /// Sum of the counts.
    pub fn samples(&self) -> u64 {
        self.windows
            .iter()
            .flat_map(|w| &w.stacks)
            .fold(0u64, |n, (_, c)| n.saturating_add(*c))
    }
}

/// What [`Storage::write_batch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The batch was new and is now durable.
    Stored {
        /// Sum of the counts stored.
        samples: u64,
    },
    /// The batch id was stored before; nothing changed.
    Duplicate,
}

/// Whether a failed write is the batch's fault (it would fail again, so
/// it is refused) rather than storage's (retry later).
pub fn refused_batch(error: &StorageError) -> bool {
    matches!(
        error,
        StorageError::InvalidBatch { .. } | StorageError::UnitConflict { .. }
    )
}

/// Longest accepted batch id, in bytes.
pub(crate) const MAX_BATCH_ID_LEN: usize = 512;

/// Checks what a backend cannot represent (counts and periods past
/// `i64::MAX`, SQLite's integers) or what makes no sense, before any row
/// is touched.
pub(crate) fn validate(batch: &BatchWrite) -> Result<(), StorageError> {
    let invalid = |reason: String| StorageError::InvalidBatch {
        batch_id: batch.batch_id.chars().take(140).collect(),
        reason,
    };
    if batch.batch_id.is_empty() || batch.batch_id.len() > MAX_BATCH_ID_LEN {
        return Err(invalid(format!(
            "batch id must be 1..={MAX_BATCH_ID_LEN} bytes"
        )));
    }
    for (i, window) in batch.windows.iter().enumerate() {
        if window.service.is_empty() {
            return Err(invalid(format!("window {i} has no service")));
        }
        if window.labels.contains_key("service") || window.labels.keys().any(String::is_empty) {
            return Err(invalid(format!(
                "window {i} has an empty label name or `service` among its other labels"
            )));
        }
        if window.profile_type.name.is_empty() {
            return Err(invalid(format!("window {i} has no profile type")));
        }
        if window.period == 0 || i64::try_from(window.period).is_err() {
            return Err(invalid(format!(
                "window {i} has period {}, outside 1..=i64::MAX",
                window.period
            )));
        }
        let max_count = window.stacks.iter().map(|(_, c)| *c).max().unwrap_or(0);
        if i64::try_from(max_count).is_err() {
            return Err(invalid(format!("window {i} has a count of {max_count}")));
        }
    }
    Ok(())
}

/// The canonical text of a label set: a JSON object with sorted keys.
pub(crate) fn labels_text(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).expect("a string map always serializes")
}

/// Which samples to merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileQuery {
    /// Service name.
    pub service: String,
    /// Only samples of processes with these labels (equality; empty: all).
    pub labels: BTreeMap<String, String>,
    /// Only samples of series every one of these passes too (`=`, `!=`,
    /// `=~`, `!~`; empty: all).
    pub matchers: Vec<LabelMatcher>,
    /// Profile type name, e.g. `cpu`.
    pub profile_type: String,
    /// Windows starting at or after this instant are included, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Windows starting at or after this instant are excluded, Unix nanoseconds.
    pub end_unix_nanos: i64,
}

impl ProfileQuery {
    /// Whether a series with `labels` is selected: it has every label of
    /// `labels` and passes every one of `matchers`.
    pub(crate) fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.matchers.iter().all(|m| m.selects(labels))
    }

    /// Whether some series may be left out: the query has labels or
    /// matchers. Without, backends read the per-service rows.
    pub(crate) fn filters_series(&self) -> bool {
        !self.labels.is_empty() || !self.matchers.is_empty()
    }
}

/// Label names with the values they take across `series`, sorted.
pub(crate) fn collect_label_values(
    series: impl IntoIterator<Item = BTreeMap<String, String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut values: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for labels in series {
        for (k, v) in labels {
            values.entry(k).or_default().insert(v);
        }
    }
    values
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

/// One service and how much data it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSummary {
    /// Service name.
    pub name: String,
    /// Its on-CPU samples (profile type `cpu`); other types weigh in other
    /// units and are not added in.
    pub total_samples: u64,
    /// Profile types it has data for, sorted.
    pub profile_types: Vec<String>,
    /// Total value per profile type, in that type's unit (samples times
    /// their period: nanoseconds, events, ...); for a gauge type, its mean
    /// over the snapshots of each series, the series added.
    pub totals: BTreeMap<String, u64>,
    /// Start of its oldest window, Unix nanoseconds.
    pub first_window_unix_nanos: i64,
    /// Start of its newest window, Unix nanoseconds.
    pub last_window_unix_nanos: i64,
}

/// Row counts, for `/metrics` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Distinct frames of every kind.
    pub frames: u64,
    /// User frames with symbols.
    pub frames_symbolized: u64,
    /// User frames whose last symbolization attempt failed.
    pub frames_failed: u64,
    /// User frames never attempted.
    pub frames_pending: u64,
    /// Nodes of the stack prefix tree.
    pub stacks: u64,
    /// Sample rows (series, type, window, stack, period).
    pub sample_rows: u64,
    /// Batches stored.
    pub batches: u64,
}

/// One `(stack, period)` group of the matching sample rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StackCount {
    pub(crate) stack_id: i64,
    pub(crate) period: u64,
    pub(crate) count: u64,
}

/// A service's deploys from its series' `version`, `host` and `build_id`
/// Picks the period that carries the most samples (the smaller on a tie) and
/// expresses every count in it, so `count * period` keeps its value. Rows of
/// other periods are rounded to the nearest sample, and never to zero, so a
/// stack does not vanish. Returns the period and one count per stack.
pub(crate) fn merge_periods(rows: &[StackCount]) -> (u64, Vec<(i64, u64)>) {
    let mut weight: BTreeMap<u64, u128> = BTreeMap::new();
    for row in rows {
        *weight.entry(row.period).or_default() += u128::from(row.count);
    }
    let period = weight
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map_or(0, |(&period, _)| period);
    let mut per_stack: IdMap<u64> = IdMap::with_capacity_and_hasher(rows.len(), Default::default());
    for row in rows {
        let count = if row.period == period || period == 0 {
            row.count
        } else {
            let value = u128::from(row.count) * u128::from(row.period);
            let scaled = (value + u128::from(period) / 2) / u128::from(period);
            u64::try_from(scaled).unwrap_or(u64::MAX).max(1)
        };
        let total = per_stack.entry(row.stack_id).or_default();
        *total = total.saturating_add(count);
    }
    (period, per_stack.into_iter().collect())
}

/// Row ids from our own tables, hashed by one multiply: a profile query
/// looks up hundreds of thousands of them, and SipHash's protection against
/// chosen keys buys nothing for ids SQLite assigned.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u64(&mut self, n: u64) {
        // ClickHouse's content addresses.
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        // The high bits carry the product's mixing; hashbrown uses the top
        // seven for its control bytes and the low ones for the bucket.
        self.0 ^ (self.0 >> 29)
    }
}

/// A map keyed by row id.
pub(crate) type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;

/// One hour in nanoseconds.
pub const HOUR_NANOS: i64 = 3_600_000_000_000;

/// How long profiles are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Minute windows are kept this long, then rolled up into hours.
    pub minute_windows: Duration,
    /// Hour windows are kept this long, then deleted.
    pub hour_windows: Duration,
    /// Most bytes the stored profiles may take; the oldest windows are
    /// deleted beyond it. `None`: no bound but time.
    pub max_bytes: Option<u64>,
}

impl Default for RetentionPolicy {
    /// Minutes for 7 days, hours for 90 days, no byte bound.
    fn default() -> Self {
        Self {
            minute_windows: Duration::from_secs(7 * 86_400),
            hour_windows: Duration::from_secs(90 * 86_400),
            max_bytes: None,
        }
    }
}

/// What one compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Minute rows rolled into hour windows (and removed).
    pub minute_rows_rolled_up: u64,
    /// Hour rows deleted past their retention.
    pub hour_rows_expired: u64,
    /// Rows deleted to stay under `max_bytes`.
    pub rows_evicted_for_space: u64,
    /// Bytes the profiles take after the compaction.
    pub bytes: u64,
}

/// The start of the hour containing `t`.
pub fn hour_start(t: i64) -> i64 {
    t.div_euclid(HOUR_NANOS) * HOUR_NANOS
}

/// A user frame the symbolizer should (re)try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingFrame {
    /// Id to hand back in [`FrameSymbols::frame_id`].
    pub frame_id: i64,
    /// Object the frame belongs to.
    pub build_id: FileId,
    /// Offset of the instruction within the object file.
    pub file_offset: u64,
    /// Paths under which hosts reported the object, first seen first.
    pub paths: Vec<String>,
}

/// What the symbolizer found for one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameSymbols {
    /// The frame, from [`PendingFrame::frame_id`].
    pub frame_id: i64,
    /// The inline chain, innermost first, or why there is none. An empty
    /// chain counts as a failure, so the frame is retried later.
    pub outcome: Result<Vec<Symbol>, String>,
}

/// A slice of the binaries, for symbolization workers that split the work
/// by build-id: worker `index` of `count` sees binaries whose id is
/// `index` modulo `count`, so each object is opened by one worker only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This worker's slice, `0..count`.
    pub index: u32,
    /// Number of workers, at least 1.
    pub count: u32,
}

impl Shard {
    /// Everything, for a single worker.
    pub const ALL: Shard = Shard { index: 0, count: 1 };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(stack_id: i64, period: u64, count: u64) -> StackCount {
        StackCount {
            stack_id,
            period,
            count,
        }
    }

    fn sorted(mut v: Vec<(i64, u64)>) -> Vec<(i64, u64)> {
        v.sort();
        v
    }

    #[test]
    fn one_period_sums_per_stack() {
        let (period, totals) = merge_periods(&[row(1, 10, 3), row(2, 10, 4)]);
        assert_eq!(period, 10);
        assert_eq!(sorted(totals), vec![(1, 3), (2, 4)]);
    }

    #[test]
    fn mixed_periods_keep_their_value_in_the_dominant_one() {
        // Period 10 carries 100 samples, period 20 only 6.
        let (period, totals) = merge_periods(&[row(1, 10, 100), row(1, 20, 5), row(2, 20, 1)]);
        assert_eq!(period, 10);
        assert_eq!(sorted(totals), vec![(1, 110), (2, 2)]);
    }

    #[test]
    fn rescaling_rounds_but_never_drops_a_stack() {
        let (period, totals) = merge_periods(&[row(1, 1000, 50), row(2, 1, 1)]);
        assert_eq!(period, 1000);
        assert_eq!(sorted(totals), vec![(1, 50), (2, 1)]);
    }

    #[test]
    fn ties_pick_the_finer_period() {
        let (period, _) = merge_periods(&[row(1, 20, 5), row(2, 10, 5)]);
        assert_eq!(period, 10);
    }
}
