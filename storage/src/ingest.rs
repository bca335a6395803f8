//! The write path: a batch of windows becomes interned frames, stack nodes
//! and additive sample rows, all in one transaction.
//!
//! The batch id is inserted in the same transaction, so a batch is stored
//! exactly once however often an agent retries it, even across restarts.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use augur_profile::{BuildId, ProfileType, RawFrame};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Context, StorageError};
use crate::intern::{StackDigest, StackDigester, TxCache};
use crate::schema::{FrameColumns, status};
use crate::symbolization::{self, FrameSymbols};

/// Longest accepted batch id, in bytes.
const MAX_BATCH_ID_LEN: usize = 512;
/// Most paths remembered per binary; containers give one object many paths.
const MAX_PATHS_PER_BINARY: i64 = 16;
/// Committed entries each intern cache keeps (see [`TxCache`]).
const FRAME_CACHE_CAPACITY: usize = 1 << 18;
const NODE_CACHE_CAPACITY: usize = 1 << 20;
const STACK_CACHE_CAPACITY: usize = 1 << 19;
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
    /// Whole stacks -> leaf node: a known stack costs one lookup.
    stacks: TxCache<StackDigest, i64>,
    digester: StackDigester,
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
            stacks: TxCache::new(STACK_CACHE_CAPACITY),
            digester: StackDigester::default(),
        }
    }

    fn commit(&mut self) {
        self.services.commit();
        self.series.commit();
        self.units.commit();
        self.binaries.commit();
        self.frames.commit();
        self.nodes.commit();
        self.stacks.commit();
    }

    fn rollback(&mut self) {
        self.services.rollback();
        self.series.rollback();
        self.units.rollback();
        self.binaries.rollback();
        self.frames.rollback();
        self.nodes.rollback();
        self.stacks.rollback();
    }

    fn clear(&mut self) {
        self.services.clear();
        self.series.clear();
        self.units.clear();
        self.binaries.clear();
        self.frames.clear();
        self.nodes.clear();
        self.stacks.clear();
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
    let mut rows: Vec<(i64, i64)> = Vec::with_capacity(window.stacks.len());
    let mut total = 0u64;
    for (frames, count) in &window.stacks {
        if *count == 0 {
            continue;
        }
        let digest = caches.digester.digest(frames);
        let stack_id = match caches.stacks.get(&digest) {
            Some(id) => id,
            None => {
                let id = intern_stack(tx, caches, frames)?;
                caches.stacks.insert(digest, id);
                id
            }
        };
        // Range-checked by `validate`.
        rows.push((stack_id, *count as i64));
        total = total.saturating_add(*count);
    }
    let series = (
        series_id,
        window.profile_type.name.as_str(),
        window.window_start_unix_nanos,
        window.period as i64,
    );
    let mut chunks = rows.chunks_exact(UPSERT_ROWS);
    if chunks.len() > 0 {
        let mut upsert = tx
            .prepare_cached(upsert_sql(UPSERT_ROWS))
            .context("prepare the sample upsert")?;
        for chunk in &mut chunks {
            upsert_rows(&mut upsert, series, chunk)?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut upsert = tx
            .prepare_cached(upsert_sql(1))
            .context("prepare the sample upsert")?;
        for row in chunks.remainder() {
            upsert_rows(&mut upsert, series, std::slice::from_ref(row))?;
        }
    }
    Ok(total)
}

/// Sample rows one upsert statement adds, for all but the last few rows of a
/// window: one statement per row spent more time stepping statements than
/// changing rows.
const UPSERT_ROWS: usize = 32;

/// The sample upsert for `rows` rows (`UPSERT_ROWS` or 1). `?1`..`?4` are the
/// series, profile type, window start and period shared by the rows; each
/// row adds its stack and count. Rows are applied in order, so a stack twice
/// in one statement adds up like two statements would.
fn upsert_sql(rows: usize) -> &'static str {
    static ONE: OnceLock<String> = OnceLock::new();
    static MANY: OnceLock<String> = OnceLock::new();
    let build = move || {
        let values: Vec<String> = (0..rows)
            .map(|i| format!("(?1, ?2, ?3, ?{}, ?4, ?{})", 5 + 2 * i, 6 + 2 * i))
            .collect();
        format!(
            "INSERT INTO samples (series_id, profile_type, window_start, stack_id, period, count)
             VALUES {}
             ON CONFLICT (series_id, profile_type, window_start, stack_id, period)
             DO UPDATE SET count = CASE
                 WHEN count > 9223372036854775807 - excluded.count THEN 9223372036854775807
                 ELSE count + excluded.count
             END",
            values.join(", ")
        )
    };
    if rows == 1 {
        ONE.get_or_init(build)
    } else {
        debug_assert_eq!(rows, UPSERT_ROWS);
        MANY.get_or_init(build)
    }
}

/// Runs one [`upsert_sql`] statement over `rows` of `(stack, count)`.
fn upsert_rows(
    upsert: &mut rusqlite::CachedStatement<'_>,
    (series_id, profile_type, window_start, period): (i64, &str, i64, i64),
    rows: &[(i64, i64)],
) -> Result<(), StorageError> {
    let bind = |upsert: &mut rusqlite::CachedStatement<'_>| -> rusqlite::Result<usize> {
        upsert.raw_bind_parameter(1, series_id)?;
        upsert.raw_bind_parameter(2, profile_type)?;
        upsert.raw_bind_parameter(3, window_start)?;
        upsert.raw_bind_parameter(4, period)?;
        for (i, (stack_id, count)) in rows.iter().enumerate() {
            upsert.raw_bind_parameter(5 + 2 * i, stack_id)?;
            upsert.raw_bind_parameter(6 + 2 * i, count)?;
        }
        upsert.raw_execute()
    };
    bind(upsert).context("add sample counts")?;
    Ok(())
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

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::new(crate::schema::open_writer(&dir.path().join("db")).unwrap());
        (dir, writer)
    }

    /// 70 stacks: two full multi-row statements and six single rows. The
    /// first two differ only in how they say "no module", which storage
    /// does not tell apart: one stack, added up within one statement.
    fn wide_batch(batch_id: &str) -> BatchWrite {
        let kernel = |module: Option<&str>| RawFrame::Kernel {
            function: "k".into(),
            module: module.map(Into::into),
        };
        let mut stacks = vec![(vec![kernel(None)], 1), (vec![kernel(Some(""))], 2)];
        stacks.extend((0..68).map(|i| {
            let frame = RawFrame::User {
                build_id: BuildId::parse_hex("aa").unwrap(),
                file_offset: i,
            };
            (vec![frame, kernel(None)], 10 + i)
        }));
        let mut b = batch();
        b.batch_id = batch_id.into();
        b.windows[0].stacks = stacks;
        b
    }

    fn rows_and_total(writer: &Writer) -> (i64, i64) {
        writer
            .conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(count), 0) FROM samples",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    #[test]
    fn many_rows_go_in_chunks_and_a_repeated_stack_adds_up() {
        let (_dir, mut writer) = writer();
        let expected: u64 = 1 + 2 + (0..68).map(|i| 10 + i).sum::<u64>();
        assert_eq!(
            writer.write_batch(&wide_batch("b1")).unwrap(),
            WriteOutcome::Stored { samples: expected }
        );
        assert_eq!(rows_and_total(&writer), (69, expected as i64));
        // Again under another id: every row is found and added to, now
        // through the stack cache.
        writer.write_batch(&wide_batch("b2")).unwrap();
        assert_eq!(rows_and_total(&writer), (69, 2 * expected as i64));
        assert_eq!(writer.caches.stacks.len(), 70);
    }

    #[test]
    fn a_row_failing_inside_a_chunk_stores_nothing_and_forgets_the_stacks() {
        let (_dir, mut writer) = writer();
        // The 20th stack of the first chunk (count 10 + 18) fails.
        writer
            .conn
            .execute_batch(
                "CREATE TRIGGER fail BEFORE INSERT ON samples WHEN NEW.count = 28
                 BEGIN SELECT RAISE(ABORT, 'injected'); END;",
            )
            .unwrap();
        let err = writer.write_batch(&wide_batch("b1")).unwrap_err();
        assert!(matches!(err, StorageError::Sqlite { .. }), "{err}");
        assert_eq!(rows_and_total(&writer), (0, 0));
        assert_eq!(writer.caches.stacks.len(), 0);
        assert_eq!(writer.caches.nodes.len(), 0);
        writer.conn.execute_batch("DROP TRIGGER fail").unwrap();
        // The id was rolled back with the rest, so the retry is stored.
        assert!(matches!(
            writer.write_batch(&wide_batch("b1")).unwrap(),
            WriteOutcome::Stored { .. }
        ));
        assert_eq!(rows_and_total(&writer).0, 69);
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
