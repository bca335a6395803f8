//! The write path: a batch of windows becomes interned frames, stack nodes
//! and additive sample rows, all in one transaction.
//!
//! The batch id is inserted in the same transaction, so a batch is stored
//! exactly once however often an agent retries it, even across restarts.
//! The batches the aggregator keeps in memory until it flushes them go in
//! many to one transaction, their identical rows summed first.
//!
//! A window of a gauge type also adds one snapshot to its series' count in
//! `gauge_snapshots` (schema version 10), which reads divide by.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use augur_profile::{Aggregation, FileId, ProfileType, RawFrame};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::retention;
use super::schema::{self, status};
use super::symbols;
use super::tx_cache::{StackDigest, StackDigester, TxCache};
use crate::api::{
    BatchWrite, CompactionReport, FrameSymbols, RetentionPolicy, WindowWrite, WriteOutcome,
    labels_text, refused_batch, validate,
};
use crate::columns::FrameColumns;
use crate::error::{Context, StorageError};

/// Most paths remembered per binary; containers give one object many paths.
const MAX_PATHS_PER_BINARY: i64 = 16;
/// Committed entries each intern cache keeps (see [`TxCache`]).
const FRAME_CACHE_CAPACITY: usize = 1 << 18;
const NODE_CACHE_CAPACITY: usize = 1 << 20;
const STACK_CACHE_CAPACITY: usize = 1 << 19;
const SMALL_CACHE_CAPACITY: usize = 1 << 16;
/// How long a symbol write waits for a lock another process holds. Symbol
/// writes share the writer (and its mutex) with the flusher, and a failed
/// one is only redone by a later round: waiting the full
/// [`schema::BUSY_TIMEOUT`] would queue the flusher behind every
/// symbolization thread in turn while the database is locked, hiding the
/// outage from `flush_failures_total` for tens of seconds.
const SYMBOL_WRITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether `batch_id` is stored.
pub(super) fn batch_stored(conn: &mut Connection, batch_id: &str) -> Result<bool, StorageError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM batches WHERE batch_id = ?1)")
        .and_then(|mut s| s.query_row([batch_id], |r| r.get(0)))
        .map_err(|source| StorageError::Sqlite {
            operation: "look up a batch id",
            source,
        })
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
    binaries: TxCache<FileId, i64>,
    frames: TxCache<RawFrame, i64>,
    /// `(parent node, frame)` -> node.
    nodes: TxCache<(i64, i64), i64>,
    /// Whole stacks -> leaf node: a known stack costs one lookup.
    stacks: TxCache<StackDigest, i64>,
    digester: StackDigester,
    /// Nodes the current transaction inserted, `(id, (parent, frame))`;
    /// after a commit the store hands them to its read cache
    /// ([`Writer::take_new_nodes`]), so queries of new stacks find their
    /// nodes in memory.
    new_nodes: Vec<(i64, (i64, i64))>,
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
            new_nodes: Vec::new(),
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
        self.new_nodes.clear();
        self.services.rollback();
        self.series.rollback();
        self.units.rollback();
        self.binaries.rollback();
        self.frames.rollback();
        self.nodes.rollback();
        self.stacks.rollback();
    }

    fn clear(&mut self) {
        self.new_nodes.clear();
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
        policy: &RetentionPolicy,
        now_unix_nanos: i64,
    ) -> Result<CompactionReport, StorageError> {
        let report = retention::compact(&mut self.conn, policy, now_unix_nanos);
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

    /// Writes many held batches in one transaction (one commit, one fsync),
    /// their identical rows summed first. Each batch gets its own outcome:
    /// stored, a duplicate of a stored id, or refused (invalid, or a unit
    /// conflict), in which case nothing of it is stored. The outer error is
    /// storage's: nothing was stored and the whole write may be retried.
    pub(crate) fn write_batches(
        &mut self,
        batches: &[BatchWrite],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        let result = write_held_in_transaction(&mut self.conn, &mut self.caches, batches);
        match result {
            Ok(_) => self.caches.commit(),
            Err(_) => self.caches.rollback(),
        }
        result
    }

    /// The stack nodes the last write committed (a rollback empties the
    /// list), taken once.
    pub(crate) fn take_new_nodes(&mut self) -> Vec<(i64, (i64, i64))> {
        std::mem::take(&mut self.caches.new_nodes)
    }

    pub(crate) fn record_symbols(
        &mut self,
        results: &[FrameSymbols],
        now_unix_secs: i64,
    ) -> Result<symbols::Recorded, StorageError> {
        self.with_short_busy_timeout(|conn| symbols::record(conn, results, now_unix_secs))
    }

    pub(crate) fn requeue_binary(&mut self, build_id: &FileId) -> Result<usize, StorageError> {
        self.with_short_busy_timeout(|conn| symbols::requeue_binary(conn, build_id))
    }

    /// Runs a symbol write with [`SYMBOL_WRITE_BUSY_TIMEOUT`], then puts the
    /// connection's usual timeout back.
    fn with_short_busy_timeout<T>(
        &mut self,
        write: impl FnOnce(&mut Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.conn
            .busy_timeout(SYMBOL_WRITE_BUSY_TIMEOUT)
            .context("shorten the busy timeout")?;
        let result = write(&mut self.conn);
        let restored = self
            .conn
            .busy_timeout(schema::BUSY_TIMEOUT)
            .context("restore the busy timeout");
        let value = result?;
        restored?;
        Ok(value)
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

/// Hashes addresses of shared stacks: one multiply, as keyed hashing of a
/// pointer no one outside chooses buys nothing.
#[derive(Default)]
struct BuildAddressHasher;

impl std::hash::BuildHasher for BuildAddressHasher {
    type Hasher = AddressHasher;
    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        // Allocations are 8-aligned: the low bits carry nothing.
        self.0 = ((n as u64) >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

/// One sample row of a multi-batch write before it is summed: series,
/// profile type (an index into the write's type names), window start,
/// period, stack, count.
type HeldRow = (i64, u32, i64, i64, i64, i64);

fn write_held_in_transaction(
    conn: &mut Connection,
    caches: &mut Caches,
    batches: &[BatchWrite],
) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("begin a flush")?;
    let mut outcomes = Vec::with_capacity(batches.len());
    let mut rows: Vec<HeldRow> = Vec::new();
    // The same rows per service: many hosts' batches of one service sum to
    // far fewer of these.
    let mut service_rows: Vec<HeldRow> = Vec::new();
    let mut type_names: Vec<&str> = Vec::new();
    // (series, type, window) of each gauge window: one snapshot each.
    let mut snapshots: Vec<(i64, u32, i64)> = Vec::new();
    // Held stacks are shared: a stack seen earlier in this write is found by
    // its address, without digesting its frames again. The batches outlive
    // this map, so no address is reused meanwhile.
    let mut stack_ids: HashMap<*const RawFrame, i64, BuildAddressHasher> = HashMap::default();
    for batch in batches {
        if let Err(invalid) = validate(batch) {
            outcomes.push(Err(invalid));
            continue;
        }
        // One batch has one profile type; a conflict refuses it whole,
        // before its id is recorded.
        let mut conflict = None;
        for window in batch
            .windows
            .iter()
            .filter(|w| w.stacks.iter().any(|(_, c)| *c > 0))
        {
            if let Err(error) = check_unit(&tx, caches, &window.profile_type) {
                conflict = Some(error);
                break;
            }
        }
        if let Some(error) = conflict {
            if !refused_batch(&error) {
                return Err(error);
            }
            outcomes.push(Err(error));
            continue;
        }
        let inserted = tx
            .prepare_cached(
                "INSERT INTO batches (batch_id, received_unix_nanos) VALUES (?1, ?2)
                 ON CONFLICT (batch_id) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![batch.batch_id, batch.received_unix_nanos]))
            .context("record the batch id")?;
        if inserted == 0 {
            outcomes.push(Ok(WriteOutcome::Duplicate));
            continue;
        }
        for (build_id, path) in &batch.binaries {
            let binary_id = intern_binary(&tx, caches, build_id)?;
            if !path.is_empty() {
                record_path(&tx, binary_id, path)?;
            }
        }
        let mut samples = 0u64;
        for window in &batch.windows {
            if window.stacks.iter().all(|(_, count)| *count == 0) {
                continue;
            }
            let service_id = intern_service(&tx, caches, &window.service)?;
            let series_id = intern_series(&tx, caches, service_id, &window.labels)?;
            let type_index = match type_names
                .iter()
                .position(|n| *n == window.profile_type.name)
            {
                Some(i) => i,
                None => {
                    type_names.push(&window.profile_type.name);
                    type_names.len() - 1
                }
            } as u32;
            if window.profile_type.aggregation() == Aggregation::Gauge {
                snapshots.push((series_id, type_index, window.window_start_unix_nanos));
            }
            for (frames, count) in &window.stacks {
                if *count == 0 {
                    continue;
                }
                let stack_id = match stack_ids.get(&frames.as_ptr()) {
                    Some(&id) => id,
                    None => {
                        let digest = caches.digester.digest(frames);
                        let id = match caches.stacks.get(&digest) {
                            Some(id) => id,
                            None => {
                                let id = intern_stack(&tx, caches, frames)?;
                                caches.stacks.insert(digest, id);
                                id
                            }
                        };
                        stack_ids.insert(frames.as_ptr(), id);
                        id
                    }
                };
                // Range-checked by `validate`.
                for (table, owner) in [(&mut rows, series_id), (&mut service_rows, service_id)] {
                    table.push((
                        owner,
                        type_index,
                        window.window_start_unix_nanos,
                        window.period as i64,
                        stack_id,
                        *count as i64,
                    ));
                }
                samples = samples.saturating_add(*count);
            }
        }
        outcomes.push(Ok(WriteOutcome::Stored { samples }));
    }
    upsert_held(&tx, SampleTable::Series, rows, &type_names)?;
    upsert_held(&tx, SampleTable::Service, service_rows, &type_names)?;
    snapshots.sort_unstable();
    for group in snapshots.chunk_by(|a, b| a == b) {
        let (series_id, type_index, window_start) = group[0];
        add_snapshots(
            &tx,
            (series_id, type_names[type_index as usize], window_start),
            group.len() as i64,
        )?;
    }
    tx.commit().context("commit a flush")?;
    Ok(outcomes)
}

/// Sums identical held rows, then adds them to `table` in key order:
/// neighbouring rows share B-tree pages.
fn upsert_held(
    tx: &Transaction<'_>,
    table: SampleTable,
    mut rows: Vec<HeldRow>,
    type_names: &[&str],
) -> Result<(), StorageError> {
    rows.sort_unstable();
    let mut group: Vec<(i64, i64)> = Vec::new();
    let mut current: Option<(i64, u32, i64, i64)> = None;
    for (owner, type_index, window_start, period, stack_id, count) in rows {
        let key = (owner, type_index, window_start, period);
        if current != Some(key) {
            if let Some((o, t, w, p)) = current {
                upsert_group(tx, table, (o, type_names[t as usize], w, p), &group)?;
            }
            group.clear();
            current = Some(key);
        }
        match group.last_mut() {
            Some((last, sum)) if *last == stack_id => *sum = sum.saturating_add(count),
            _ => group.push((stack_id, count)),
        }
    }
    if let Some((o, t, w, p)) = current {
        upsert_group(tx, table, (o, type_names[t as usize], w, p), &group)?;
    }
    Ok(())
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
    // One window of one series: its rows are the service's rows too.
    rows.sort_unstable();
    rows.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            kept.1 = kept.1.saturating_add(next.1);
        }
        same
    });
    for (table, owner) in [
        (SampleTable::Series, series_id),
        (SampleTable::Service, service_id),
    ] {
        let key = (
            owner,
            window.profile_type.name.as_str(),
            window.window_start_unix_nanos,
            window.period as i64,
        );
        upsert_group(tx, table, key, &rows)?;
    }
    if window.profile_type.aggregation() == Aggregation::Gauge {
        let key = (
            series_id,
            window.profile_type.name.as_str(),
            window.window_start_unix_nanos,
        );
        add_snapshots(tx, key, 1)?;
    }
    Ok(total)
}

/// Adds `n` snapshots to the gauge window `(series, type, window start)`.
fn add_snapshots(
    tx: &Transaction<'_>,
    (series_id, profile_type, window_start): (i64, &str, i64),
    n: i64,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO gauge_snapshots (series_id, profile_type, window_start, snapshots)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (series_id, profile_type, window_start)
         DO UPDATE SET snapshots = snapshots + excluded.snapshots",
    )
    .and_then(|mut s| s.execute(params![series_id, profile_type, window_start, n]))
    .context("count a gauge snapshot")?;
    Ok(())
}

/// Which sample table an upsert adds to: a series' rows, or the same rows
/// summed per service (schema version 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SampleTable {
    Series,
    Service,
}

impl SampleTable {
    fn table(self) -> &'static str {
        match self {
            SampleTable::Series => "samples",
            SampleTable::Service => "service_samples",
        }
    }

    fn owner(self) -> &'static str {
        match self {
            SampleTable::Series => "series_id",
            SampleTable::Service => "service_id",
        }
    }
}

/// Adds `rows` of `(stack, count)` to one owner (series or service), type,
/// window and period of `table`: in [`UPSERT_ROWS`]-row statements, then the
/// rest one by one.
fn upsert_group(
    tx: &Transaction<'_>,
    table: SampleTable,
    key: (i64, &str, i64, i64),
    rows: &[(i64, i64)],
) -> Result<(), StorageError> {
    let mut chunks = rows.chunks_exact(UPSERT_ROWS);
    if chunks.len() > 0 {
        let mut upsert = tx
            .prepare_cached(upsert_sql(table, UPSERT_ROWS))
            .context("prepare the sample upsert")?;
        for chunk in &mut chunks {
            upsert_rows(&mut upsert, key, chunk)?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut upsert = tx
            .prepare_cached(upsert_sql(table, 1))
            .context("prepare the sample upsert")?;
        for row in chunks.remainder() {
            upsert_rows(&mut upsert, key, std::slice::from_ref(row))?;
        }
    }
    Ok(())
}

/// Sample rows one upsert statement adds, for all but the last few rows of a
/// window: one statement per row spent more time stepping statements than
/// changing rows.
const UPSERT_ROWS: usize = 32;

/// The sample upsert into `table` for `rows` rows (`UPSERT_ROWS` or 1).
/// `?1`..`?4` are the series (or service), profile type, window start and
/// period shared by the rows; each row adds its stack and count. Rows are
/// applied in order, so a stack twice in one statement adds up like two
/// statements would.
fn upsert_sql(table: SampleTable, rows: usize) -> &'static str {
    static SQL: [[OnceLock<String>; 2]; 2] = [
        [OnceLock::new(), OnceLock::new()],
        [OnceLock::new(), OnceLock::new()],
    ];
    let (name, owner) = (table.table(), table.owner());
    let build = move || {
        let values: Vec<String> = (0..rows)
            .map(|i| format!("(?1, ?2, ?3, ?{}, ?4, ?{})", 5 + 2 * i, 6 + 2 * i))
            .collect();
        format!(
            "INSERT INTO {name} ({owner}, profile_type, window_start, stack_id, period, count)
             VALUES {}
             ON CONFLICT ({owner}, profile_type, window_start, stack_id, period)
             DO UPDATE SET count = CASE
                 WHEN count > 9223372036854775807 - excluded.count THEN 9223372036854775807
                 ELSE count + excluded.count
             END",
            values.join(", ")
        )
    };
    debug_assert!(rows == 1 || rows == UPSERT_ROWS);
    SQL[table as usize][usize::from(rows != 1)].get_or_init(build)
}

/// Runs one [`upsert_sql`] statement over `rows` of `(stack, count)`.
fn upsert_rows(
    upsert: &mut rusqlite::CachedStatement<'_>,
    (owner_id, profile_type, window_start, period): (i64, &str, i64, i64),
    rows: &[(i64, i64)],
) -> Result<(), StorageError> {
    let bind = |upsert: &mut rusqlite::CachedStatement<'_>| -> rusqlite::Result<usize> {
        upsert.raw_bind_parameter(1, owner_id)?;
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
    caches.new_nodes.push((id, (parent_id, frame_id)));
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
                // Kernel, named, runtime and unknown frames are named
                // already (or never will be); user frames queue for the
                // symbolizer.
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
    build_id: &FileId,
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
    use std::sync::Arc;

    use super::*;
    use crate::api::{MAX_BATCH_ID_LEN, SharedStack};

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
                stacks: vec![(vec![].into(), 1)],
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
        let writer = Writer::new(schema::open_writer(&dir.path().join("db")).unwrap());
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
                build_id: FileId::parse_hex("aa").unwrap(),
                file_offset: i,
            };
            (vec![frame, kernel(None)], 10 + i)
        }));
        let mut b = batch();
        b.batch_id = batch_id.into();
        b.windows[0].stacks = stacks.into_iter().map(|(s, c)| (s.into(), c)).collect();
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

    fn held(batch_id: &str, stacks: &[(&SharedStack, u64)], unit: &str) -> BatchWrite {
        let mut profile_type = ProfileType::cpu();
        profile_type.unit = unit.into();
        BatchWrite {
            batch_id: batch_id.into(),
            received_unix_nanos: 0,
            binaries: vec![(FileId::parse_hex("aa").unwrap(), "/bin/a".into())],
            windows: vec![WindowWrite {
                service: "api".into(),
                labels: BTreeMap::new(),
                profile_type,
                period: 10,
                window_start_unix_nanos: 0,
                stacks: stacks.iter().map(|(s, c)| ((*s).clone(), *c)).collect(),
            }],
        }
    }

    #[test]
    fn held_batches_go_in_one_write_summed_each_with_its_outcome() {
        let (_dir, mut writer) = writer();
        let user = |offset| RawFrame::User {
            build_id: FileId::parse_hex("aa").unwrap(),
            file_offset: offset,
        };
        let a: SharedStack = Arc::from(vec![user(1), user(2)]);
        // Equal to `a` but another copy: found by its digest, not its address.
        let a_copy: SharedStack = Arc::from(vec![user(1), user(2)]);
        let b: SharedStack = Arc::from(vec![user(3)]);
        assert_eq!(
            writer
                .write_batch(&held("b0", &[(&b, 1)], "nanoseconds"))
                .unwrap(),
            WriteOutcome::Stored { samples: 1 }
        );
        let mut invalid = held("bad", &[(&a, 1)], "nanoseconds");
        invalid.windows[0].service.clear();
        let outcomes = writer
            .write_batches(&[
                held("b1", &[(&a, 2), (&b, 3)], "nanoseconds"),
                held("b2", &[(&a_copy, 4)], "nanoseconds"),
                held("b0", &[(&a, 100)], "nanoseconds"),
                held("b3", &[(&a, 100)], "bytes"),
                invalid,
                held("b1", &[(&a, 100)], "nanoseconds"),
                held("b4", &[(&b, 5), (&a, 0)], "nanoseconds"),
            ])
            .unwrap();
        assert!(matches!(
            outcomes[0],
            Ok(WriteOutcome::Stored { samples: 5 })
        ));
        assert!(matches!(
            outcomes[1],
            Ok(WriteOutcome::Stored { samples: 4 })
        ));
        assert!(matches!(outcomes[2], Ok(WriteOutcome::Duplicate)));
        assert!(matches!(
            outcomes[3],
            Err(StorageError::UnitConflict { .. })
        ));
        assert!(matches!(
            outcomes[4],
            Err(StorageError::InvalidBatch { .. })
        ));
        assert!(matches!(outcomes[5], Ok(WriteOutcome::Duplicate)));
        assert!(matches!(
            outcomes[6],
            Ok(WriteOutcome::Stored { samples: 5 })
        ));
        // Two rows: a = 2 + 4, b = 1 + 3 + 5.
        assert_eq!(rows_and_total(&writer), (2, 15));
        let ids: i64 = writer
            .conn
            .query_row("SELECT COUNT(*) FROM batches", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ids, 4);
    }

    #[test]
    fn a_failed_held_write_stores_nothing_and_can_be_retried() {
        let (_dir, mut writer) = writer();
        let a: SharedStack = Arc::from(vec![RawFrame::Unknown { reason: "x".into() }]);
        writer
            .conn
            .execute_batch(
                "CREATE TRIGGER fail BEFORE INSERT ON samples WHEN NEW.count = 7
                 BEGIN SELECT RAISE(ABORT, 'injected'); END;",
            )
            .unwrap();
        let batches = [
            held("b1", &[(&a, 3)], "nanoseconds"),
            held("b2", &[(&a, 4)], "nanoseconds"),
        ];
        let err = writer.write_batches(&batches).unwrap_err();
        assert!(matches!(err, StorageError::Sqlite { .. }), "{err}");
        assert_eq!(rows_and_total(&writer), (0, 0));
        assert_eq!(writer.caches.stacks.len(), 0);
        writer.conn.execute_batch("DROP TRIGGER fail").unwrap();
        let outcomes = writer.write_batches(&batches).unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(WriteOutcome::Stored { .. })))
        );
        assert_eq!(rows_and_total(&writer), (1, 7));
    }

    #[test]
    fn user_frames_are_queued_for_symbolization() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Writer::new(schema::open_writer(&dir.path().join("db")).unwrap());
        let mut b = batch();
        b.windows[0].stacks = vec![(
            vec![
                RawFrame::User {
                    build_id: FileId::parse_hex("aa").unwrap(),
                    file_offset: 1,
                },
                RawFrame::Kernel {
                    function: "k".into(),
                    module: None,
                },
            ]
            .into(),
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
