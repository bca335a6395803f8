//! The write path: a batch of windows becomes interned frames, stack nodes
//! and additive sample rows, all in one transaction.
//!
//! The batch id is inserted in the same transaction, so a batch is stored
//! exactly once however often an agent retries it, even across restarts.

use std::collections::BTreeMap;

use augur_profile::{BuildId, ProfileType, RawFrame};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Context, StorageError};
use crate::intern::TxCache;
use crate::schema::{FrameColumns, status};
use crate::symbolization::{self, FrameSymbols};

/// Longest accepted batch id, in bytes.
const MAX_BATCH_ID_LEN: usize = 512;
/// Most paths remembered per binary; containers give one object many paths.
const MAX_PATHS_PER_BINARY: i64 = 16;
/// Committed entries each intern cache keeps (see [`TxCache`]).
const FRAME_CACHE_CAPACITY: usize = 1 << 18;
const NODE_CACHE_CAPACITY: usize = 1 << 20;
const SMALL_CACHE_CAPACITY: usize = 1 << 16;

/// One batch from one agent, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchWrite {
    /// Idempotency key: a batch id is stored at most once.
    pub batch_id: String,
    /// When the aggregator received the batch, Unix nanoseconds.
    pub received_unix_nanos: i64,
    /// Objects referenced by user frames, with their path on the reporting
    /// host (a hint for the symbolizer).
    pub binaries: Vec<(BuildId, String)>,
    /// Merged windows, one per service and profile type.
    pub windows: Vec<WindowWrite>,
}

/// The samples of one service and profile type in one time window.
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
    pub stacks: Vec<(Vec<RawFrame>, u64)>,
}

/// What [`crate::Store::write_batch`] did.
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

/// Checks what SQLite cannot represent or what makes no sense, before any
/// row is touched.
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
        if let Some((_, count)) = window
            .stacks
            .iter()
            .find(|(_, count)| i64::try_from(*count).is_err())
        {
            return Err(invalid(format!("window {i} has a count of {count}")));
        }
    }
    Ok(())
}

/// The one connection that writes, with what it remembers between batches.
pub(crate) struct Writer {
    conn: Connection,
    caches: Caches,
}

struct Caches {
    services: TxCache<String, i64>,
    /// `(service, canonical labels)` -> series.
    series: TxCache<(i64, String), i64>,
    units: TxCache<String, String>,
    binaries: TxCache<BuildId, i64>,
    frames: TxCache<RawFrame, i64>,
    /// `(parent node, frame)` -> node.
    nodes: TxCache<(i64, i64), i64>,
}

impl Caches {
    fn new() -> Self {
        Self {
            services: TxCache::new(SMALL_CACHE_CAPACITY),
            series: TxCache::new(SMALL_CACHE_CAPACITY),
            units: TxCache::new(SMALL_CACHE_CAPACITY),
            binaries: TxCache::new(SMALL_CACHE_CAPACITY),
            frames: TxCache::new(FRAME_CACHE_CAPACITY),
            nodes: TxCache::new(NODE_CACHE_CAPACITY),
        }
    }

    fn commit(&mut self) {
        self.services.commit();
        self.series.commit();
        self.units.commit();
        self.binaries.commit();
        self.frames.commit();
        self.nodes.commit();
    }

    fn rollback(&mut self) {
        self.services.rollback();
        self.series.rollback();
        self.units.rollback();
        self.binaries.rollback();
        self.frames.rollback();
        self.nodes.rollback();
    }

    fn clear(&mut self) {
        self.services.clear();
        self.series.clear();
        self.units.clear();
        self.binaries.clear();
        self.frames.clear();
        self.nodes.clear();
    }
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Self {
        Self {
            conn,
            caches: Caches::new(),
        }
    }

    /// Drops every cached id; used when a panic interrupted a write.
    pub(crate) fn forget_caches(&mut self) {
        self.caches.clear();
    }

    pub(crate) fn compact(
        &mut self,
        policy: &crate::retention::RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<crate::retention::CompactionReport, StorageError> {
        let report = crate::retention::compact(&mut self.conn, policy, now_unix_nanos);
        // Series rows may have been deleted: cached ids must not outlive them.
        self.caches.clear();
        report
    }

    pub(crate) fn write_batch(&mut self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError> {
        validate(batch)?;
        let result = write_in_transaction(&mut self.conn, &mut self.caches, batch);
        // Ids learned in a transaction that did not commit may be reused by
        // SQLite for other rows; a duplicate rolled back too.
        match result {
            Ok(WriteOutcome::Stored { .. }) => self.caches.commit(),
            Ok(WriteOutcome::Duplicate) | Err(_) => self.caches.rollback(),
        }
        result
    }

    pub(crate) fn record_symbols(
        &mut self,
        results: &[FrameSymbols],
        now_unix_secs: i64,
    ) -> Result<(), StorageError> {
        symbolization::record(&mut self.conn, results, now_unix_secs)
    }

    pub(crate) fn requeue_binary(&mut self, build_id: &BuildId) -> Result<usize, StorageError> {
        symbolization::requeue_binary(&mut self.conn, build_id)
    }
}

fn write_in_transaction(
    conn: &mut Connection,
    caches: &mut Caches,
    batch: &BatchWrite,
) -> Result<WriteOutcome, StorageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin a batch")?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO batches (batch_id, received_unix_nanos) VALUES (?1, ?2)
             ON CONFLICT (batch_id) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![batch.batch_id, batch.received_unix_nanos]))
        .context("record the batch id")?;
    if inserted == 0 {
        return Ok(WriteOutcome::Duplicate);
    }
    for (build_id, path) in &batch.binaries {
        let binary_id = intern_binary(&tx, caches, build_id)?;
        if !path.is_empty() {
            record_path(&tx, binary_id, path)?;
        }
    }
    let mut samples = 0u64;
    for window in &batch.windows {
        samples = samples.saturating_add(write_window(&tx, caches, window)?);
    }
    tx.commit().context("commit a batch")?;
    Ok(WriteOutcome::Stored { samples })
}

fn write_window(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    window: &WindowWrite,
) -> Result<u64, StorageError> {
    if window.stacks.iter().all(|(_, count)| *count == 0) {
        return Ok(0);
    }
    let service_id = intern_service(tx, caches, &window.service)?;
    let series_id = intern_series(tx, caches, service_id, &window.labels)?;
    check_unit(tx, caches, &window.profile_type)?;
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO samples (series_id, profile_type, window_start, stack_id, period, count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (series_id, profile_type, window_start, stack_id, period)
             DO UPDATE SET count = CASE
                 WHEN count > 9223372036854775807 - excluded.count THEN 9223372036854775807
                 ELSE count + excluded.count
             END",
        )
        .context("prepare the sample upsert")?;
    let mut total = 0u64;
    for (frames, count) in &window.stacks {
        if *count == 0 {
            continue;
        }
        let stack_id = intern_stack(tx, caches, frames)?;
        // Both were range-checked by `validate`.
        let (period, count_sql) = (window.period as i64, *count as i64);
        upsert
            .execute(params![
                series_id,
                window.profile_type.name,
                window.window_start_unix_nanos,
                stack_id,
                period,
                count_sql
            ])
            .context("add a sample count")?;
        total = total.saturating_add(*count);
    }
    Ok(total)
}

/// Interns a leaf-first stack root first and returns its leaf node.
/// The empty stack is the root, node 0.
fn intern_stack(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    leaf_first: &[RawFrame],
) -> Result<i64, StorageError> {
    let mut node = 0;
    // Below a node created just now nothing can exist yet: skip the lookups.
    let mut parent_is_new = false;
    for frame in leaf_first.iter().rev() {
        let frame_id = intern_frame(tx, caches, frame)?;
        (node, parent_is_new) = intern_node(tx, caches, node, frame_id, parent_is_new)?;
    }
    Ok(node)
}

/// The node for `frame_id` under `parent_id`, and whether it was created.
fn intern_node(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    parent_id: i64,
    frame_id: i64,
    parent_is_new: bool,
) -> Result<(i64, bool), StorageError> {
    if !parent_is_new {
        if let Some(id) = caches.nodes.get(&(parent_id, frame_id)) {
            return Ok((id, false));
        }
        let existing = tx
            .prepare_cached("SELECT id FROM stacks WHERE parent_id = ?1 AND frame_id = ?2")
            .and_then(|mut s| {
                s.query_row(params![parent_id, frame_id], |r| r.get(0))
                    .optional()
            })
            .context("look up a stack node")?;
        if let Some(id) = existing {
            caches.nodes.insert((parent_id, frame_id), id);
            return Ok((id, false));
        }
    }
    let id = tx
        .prepare_cached("INSERT INTO stacks (parent_id, frame_id) VALUES (?1, ?2) RETURNING id")
        .and_then(|mut s| s.query_row(params![parent_id, frame_id], |r| r.get(0)))
        .context("insert a stack node")?;
    caches.nodes.insert((parent_id, frame_id), id);
    Ok((id, true))
}

fn intern_frame(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    frame: &RawFrame,
) -> Result<i64, StorageError> {
    if let Some(id) = caches.frames.get(frame) {
        return Ok(id);
    }
    let columns = FrameColumns::of(frame);
    let binary_id = match columns.build_id {
        Some(build_id) => intern_binary(tx, caches, build_id)?,
        None => 0,
    };
    let key = params![
        columns.kind,
        binary_id,
        columns.file_offset,
        columns.name,
        columns.module
    ];
    let existing = tx
        .prepare_cached(
            "SELECT id FROM frames
             WHERE kind = ?1 AND binary_id = ?2 AND file_offset = ?3 AND name = ?4 AND module = ?5",
        )
        .and_then(|mut s| s.query_row(key, |r| r.get(0)).optional())
        .context("look up a frame")?;
    let id = match existing {
        Some(id) => id,
        None => {
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO frames (kind, binary_id, file_offset, name, module)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )
                .and_then(|mut s| s.query_row(key, |r| r.get(0)))
                .context("insert a frame")?;
            if columns.is_user() {
                // Kernel and unknown frames are named already; user frames
                // queue for the symbolizer.
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO symbolization (frame_id, status) VALUES (?1, ?2)",
                )
                .and_then(|mut s| s.execute(params![id, status::PENDING]))
                .context("queue a frame for symbolization")?;
            }
            id
        }
    };
    caches.frames.insert(frame.clone(), id);
    Ok(id)
}

fn intern_binary(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    build_id: &BuildId,
) -> Result<i64, StorageError> {
    if let Some(id) = caches.binaries.get(build_id) {
        return Ok(id);
    }
    let bytes = build_id.as_bytes();
    let existing = tx
        .prepare_cached("SELECT id FROM binaries WHERE build_id = ?1")
        .and_then(|mut s| s.query_row([bytes], |r| r.get(0)).optional())
        .context("look up a binary")?;
    let id = match existing {
        Some(id) => id,
        None => tx
            .prepare_cached("INSERT INTO binaries (build_id) VALUES (?1) RETURNING id")
            .and_then(|mut s| s.query_row([bytes], |r| r.get(0)))
            .context("insert a binary")?,
    };
    caches.binaries.insert(build_id.clone(), id);
    Ok(id)
}

fn record_path(tx: &Transaction<'_>, binary_id: i64, path: &str) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO binary_paths (binary_id, path)
         SELECT ?1, ?2
         WHERE (SELECT COUNT(*) FROM binary_paths WHERE binary_id = ?1) < ?3",
    )
    .and_then(|mut s| s.execute(params![binary_id, path, MAX_PATHS_PER_BINARY]))
    .context("record a binary path")?;
    Ok(())
}

fn intern_service(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    name: &str,
) -> Result<i64, StorageError> {
    if let Some(id) = caches.services.get(name) {
        return Ok(id);
    }
    let existing = tx
        .prepare_cached("SELECT id FROM services WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .context("look up a service")?;
    let id = match existing {
        Some(id) => id,
        None => tx
            .prepare_cached("INSERT INTO services (name) VALUES (?1) RETURNING id")
            .and_then(|mut s| s.query_row([name], |r| r.get(0)))
            .context("insert a service")?,
    };
    caches.services.insert(name.to_owned(), id);
    Ok(id)
}

/// The canonical text of a label set: a JSON object with sorted keys.
pub(crate) fn labels_text(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).expect("a string map always serializes")
}

fn intern_series(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    service_id: i64,
    labels: &BTreeMap<String, String>,
) -> Result<i64, StorageError> {
    let key = (service_id, labels_text(labels));
    if let Some(id) = caches.series.get(&key) {
        return Ok(id);
    }
    let existing = tx
        .prepare_cached("SELECT id FROM series WHERE service_id = ?1 AND labels = ?2")
        .and_then(|mut s| s.query_row(params![key.0, key.1], |r| r.get(0)).optional())
        .context("look up a series")?;
    let id = match existing {
        Some(id) => id,
        None => tx
            .prepare_cached("INSERT INTO series (service_id, labels) VALUES (?1, ?2) RETURNING id")
            .and_then(|mut s| s.query_row(params![key.0, key.1], |r| r.get(0)))
            .context("insert a series")?,
    };
    caches.series.insert(key, id);
    Ok(id)
}

/// Records the unit of a new profile type, or checks it against the stored one.
fn check_unit(
    tx: &Transaction<'_>,
    caches: &mut Caches,
    profile_type: &ProfileType,
) -> Result<(), StorageError> {
    let stored = match caches.units.get(profile_type.name.as_str()) {
        Some(unit) => unit,
        None => {
            let existing: Option<String> = tx
                .prepare_cached("SELECT unit FROM profile_types WHERE name = ?1")
                .and_then(|mut s| s.query_row([&profile_type.name], |r| r.get(0)).optional())
                .context("look up a profile type")?;
            let unit = match existing {
                Some(unit) => unit,
                None => {
                    tx.prepare_cached("INSERT INTO profile_types (name, unit) VALUES (?1, ?2)")
                        .and_then(|mut s| s.execute([&profile_type.name, &profile_type.unit]))
                        .context("insert a profile type")?;
                    profile_type.unit.clone()
                }
            };
            caches.units.insert(profile_type.name.clone(), unit.clone());
            unit
        }
    };
    if stored != profile_type.unit {
        return Err(StorageError::UnitConflict {
            profile_type: profile_type.name.clone(),
            stored,
            received: profile_type.unit.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> BatchWrite {
        BatchWrite {
            batch_id: "agent-1/1".into(),
            received_unix_nanos: 0,
            binaries: vec![],
            windows: vec![WindowWrite {
                service: "api".into(),
                labels: BTreeMap::new(),
                profile_type: ProfileType::cpu(),
                period: 10,
                window_start_unix_nanos: 0,
                stacks: vec![(vec![], 1)],
            }],
        }
    }

    #[test]
    fn accepts_a_sane_batch() {
        validate(&batch()).unwrap();
    }

    #[test]
    fn rejects_what_sqlite_cannot_hold_or_that_makes_no_sense() {
        let mut b = batch();
        b.batch_id.clear();
        assert!(validate(&b).is_err());

        let mut b = batch();
        b.batch_id = "x".repeat(MAX_BATCH_ID_LEN + 1);
        assert!(validate(&b).is_err());

        let mut b = batch();
        b.windows[0].period = 0;
        assert!(validate(&b).is_err());

        let mut b = batch();
        b.windows[0].period = u64::MAX;
        assert!(validate(&b).is_err());

        let mut b = batch();
        b.windows[0].stacks[0].1 = i64::MAX as u64 + 1;
        assert!(validate(&b).is_err());

        let mut b = batch();
        b.windows[0].service.clear();
        assert!(validate(&b).is_err());

        let mut b = batch();
        b.windows[0].profile_type.name.clear();
        assert!(validate(&b).is_err());
    }

    #[test]
    fn user_frames_are_queued_for_symbolization() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Writer::new(crate::schema::open_writer(&dir.path().join("db")).unwrap());
        let mut b = batch();
        b.windows[0].stacks = vec![(
            vec![
                RawFrame::User {
                    build_id: BuildId::parse_hex("aa").unwrap(),
                    file_offset: 1,
                },
                RawFrame::Kernel {
                    function: "k".into(),
                    module: None,
                },
            ],
            2,
        )];
        assert_eq!(
            writer.write_batch(&b).unwrap(),
            WriteOutcome::Stored { samples: 2 }
        );
        let queued: i64 = writer
            .conn
            .query_row("SELECT COUNT(*) FROM symbolization", [], |r| r.get(0))
            .unwrap();
        assert_eq!(queued, 1);
        assert_eq!(writer.caches.frames.len(), 2);
        assert_eq!(writer.caches.nodes.len(), 2);
    }
}
