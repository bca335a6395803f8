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

mod client;
mod profile_read;
mod read_cache;
mod schema;
mod settle;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use augur_profile::{FileId, Profile, ProfileType, RawFrame, StackTree, Symbol};
use serde::{Deserialize, Serialize};

use self::client::{Client, number_list, quote};
use self::read_cache::ReadCache;
pub use self::read_cache::ReadCacheBounds;
use crate::backend::Storage;
use crate::error::StorageError;
use crate::ingest::{BatchWrite, HeldBatch, WriteOutcome, labels_text, refused_batch, validate};
use crate::query::{ProfileQuery, ServiceSummary, StoreStats, collect_label_values};
use crate::retention::{CompactionReport, HOUR_NANOS, RetentionPolicy};
use crate::schema::FrameColumns;
use crate::symbolization::{FrameSymbols, PendingFrame, Shard};

/// Bytes of a debug file per row of the `debuginfo` table.
const DEBUGINFO_CHUNK: usize = 1 << 20;

/// Sample rows (JSON) per INSERT of a group flush, about.
const FLUSH_BYTES: usize = 64 << 20;

/// Frame and stack ids remembered as written, per process; cleared past it.
const MAX_KNOWN_IDS: usize = 1 << 20;

/// How long a minute window must go without batches before it is settled,
/// by default: agents send a window's last batch within seconds of its end,
/// and spooled retries after an outage are re-settled anyway.
pub const DEFAULT_SETTLE_AFTER: Duration = Duration::from_secs(180);

/// Where ClickHouse is and how Augur's tables are laid out in it.
#[derive(Clone, Debug)]
pub struct ClickHouseConfig {
    /// HTTP URL of the server statements go to, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding Augur's tables; created if missing.
    pub database: String,
    /// User and password, if the server wants them.
    pub user: Option<String>,
    /// See `user`.
    pub password: Option<String>,
    /// A cluster from the servers' `remote_servers` configuration: tables
    /// are sharded over it. `None`: one server, plain tables.
    pub cluster: Option<String>,
    /// Every shard's HTTP URL, for creating the local tables (ClickHouse
    /// cannot do `ON CLUSTER` without ZooKeeper). Only with `cluster`.
    pub shard_urls: Vec<String>,
    /// Longest a statement may take.
    pub timeout: Duration,
    /// A minute window is summed per service once no batch has reached it
    /// for this long ([`crate::Storage::settle`]); a later batch makes it
    /// be summed again.
    pub settle_after: Duration,
    /// Whether profiles without label matchers and fleet reports read the
    /// settled per-service rows; `false` reads `samples FINAL` as before
    /// (for comparisons).
    pub read_settled: bool,
    /// How many stacks and frames a query node keeps in memory once read
    /// (they never change); [`ReadCacheBounds::NONE`] reads them every
    /// time.
    pub read_cache: ReadCacheBounds,
}

impl ClickHouseConfig {
    /// One server at `url`, database `augur`.
    pub fn single(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            database: "augur".into(),
            user: None,
            password: None,
            cluster: None,
            shard_urls: Vec::new(),
            timeout: Duration::from_secs(30),
            settle_after: DEFAULT_SETTLE_AFTER,
            read_settled: true,
            read_cache: ReadCacheBounds::DEFAULT,
        }
    }
}

/// Profiles in ClickHouse.
pub struct ClickHouseStore {
    client: Client,
    /// Every shard (or the one server), for partition operations.
    shards: Vec<Client>,
    clustered: bool,
    db: String,
    /// Ids of frames and stacks this process wrote already.
    known: Mutex<HashSet<u64>>,
    /// Units of profile types, as stored.
    units: Mutex<HashMap<String, String>>,
    /// Last version given to a symbols row: strictly increasing.
    last_version: AtomicU64,
    /// Batches encoded and waiting for the next group flush.
    queue: Mutex<Vec<Queued>>,
    /// Held by the one caller flushing the queue.
    flushing: Mutex<()>,
    /// See [`ClickHouseConfig::settle_after`].
    settle_after_nanos: i64,
    /// See [`ClickHouseConfig::read_settled`].
    read_settled: bool,
    /// Stacks, frames and symbols read before; see `read_cache.rs`.
    read_cache: ReadCache,
    /// Held by the one query bringing the symbol cache up to date.
    symbol_sync: Mutex<()>,
    /// This node's name in `symbol_writes`, and its last row number there.
    writer_id: u64,
    write_seq: AtomicU64,
}

impl fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("url", &self.client.url())
            .field("database", &self.db)
            .finish_non_exhaustive()
    }
}

/// `symbols.status` values, as in SQLite.
mod status {
    pub(super) const PENDING: u8 = 0;
    pub(super) const SYMBOLIZED: u8 = 1;
    pub(super) const FAILED: u8 = 2;
}

impl ClickHouseStore {
    /// Connects and creates the database and tables if missing.
    pub fn open(config: ClickHouseConfig) -> Result<Self, StorageError> {
        let client = |url: &str| {
            Client::new(
                url,
                config.user.as_deref(),
                config.password.as_deref(),
                config.timeout,
            )
        };
        let main = client(&config.url);
        let shards: Vec<Client> = if config.cluster.is_some() {
            config.shard_urls.iter().map(|u| client(u)).collect()
        } else {
            vec![main.clone()]
        };
        match &config.cluster {
            None => schema::create(&main, &config.database, None)?,
            Some(cluster) => {
                if config.shard_urls.is_empty() {
                    return Err(StorageError::ClickHouse {
                        operation: "create the schema",
                        message: "a cluster needs the URL of every shard".into(),
                        transient: false,
                    });
                }
                for url in &config.shard_urls {
                    schema::create(&client(url), &config.database, Some(cluster))?;
                }
            }
        }
        for shard in &shards {
            schema::create_views(shard, &config.database)?;
        }
        let store = Self {
            client: main,
            shards,
            clustered: config.cluster.is_some(),
            db: config.database,
            known: Mutex::new(HashSet::new()),
            units: Mutex::new(HashMap::new()),
            last_version: AtomicU64::new(0),
            queue: Mutex::new(Vec::new()),
            flushing: Mutex::new(()),
            settle_after_nanos: i64::try_from(config.settle_after.as_nanos()).unwrap_or(i64::MAX),
            read_settled: config.read_settled,
            read_cache: ReadCache::new(config.read_cache),
            symbol_sync: Mutex::new(()),
            writer_id: random_id(),
            write_seq: AtomicU64::new(0),
        };
        store.backfill_hours()?;
        store.record_old_windows()?;
        Ok(store)
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.db)
    }

    /// A version for a symbols row: now in nanoseconds, strictly increasing.
    fn next_version(&self) -> u64 {
        let now = now_unix_nanos();
        let mut last = self.last_version.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_version.compare_exchange(
                last,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    fn check_unit(&self, profile_type: &ProfileType) -> Result<(), StorageError> {
        let mut units = self.units.lock().unwrap_or_else(|p| p.into_inner());
        let stored = match units.get(&profile_type.name) {
            Some(unit) => unit.clone(),
            None => {
                #[derive(Deserialize)]
                struct Row {
                    unit: String,
                }
                let rows: Vec<Row> = self.client.select(
                    "look up a profile type",
                    &format!(
                        "SELECT any(unit) AS unit FROM {} WHERE name = {} GROUP BY name",
                        self.table("profile_types"),
                        quote(&profile_type.name)
                    ),
                )?;
                let unit = match rows.into_iter().next() {
                    Some(row) => row.unit,
                    None => {
                        self.client.insert(
                            "insert a profile type",
                            &self.table("profile_types"),
                            &[serde_json::json!({
                                "name": profile_type.name,
                                "unit": profile_type.unit,
                            })],
                        )?;
                        profile_type.unit.clone()
                    }
                };
                units.insert(profile_type.name.clone(), unit.clone());
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

    fn latest_symbols(&self, frame_ids: &[u64]) -> Result<HashMap<u64, SymbolState>, StorageError> {
        if frame_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<SymbolState> = self.client.select(
            "read symbols",
            &format!(
                "SELECT frame_id, argMax(functions, version) AS functions,
                        argMax(files, version) AS files, argMax(lines, version) AS lines
                 FROM {} WHERE frame_id IN ({}) GROUP BY frame_id",
                self.table("symbols"),
                number_list(frame_ids.iter().copied())
            ),
        )?;
        Ok(rows.into_iter().map(|r| (r.frame_id, r)).collect())
    }
}

/// The newest symbols row of a frame.
#[derive(Debug, Deserialize)]
struct SymbolState {
    frame_id: u64,
    functions: Vec<String>,
    files: Vec<String>,
    lines: Vec<u32>,
}

impl SymbolState {
    fn symbols(&self) -> Vec<Symbol> {
        symbols_of(&self.functions, &self.files, &self.lines)
    }
}

/// Symbols from the parallel arrays of a `symbols` row (an empty file or a
/// zero line is unknown).
fn symbols_of(functions: &[String], files: &[String], lines: &[u32]) -> Vec<Symbol> {
    functions
        .iter()
        .enumerate()
        .map(|(i, f)| Symbol {
            function: f.clone(),
            file: files.get(i).filter(|f| !f.is_empty()).cloned(),
            line: lines.get(i).copied().filter(|&l| l > 0),
        })
        .collect()
}

#[derive(Serialize)]
struct SymbolRow<'a> {
    frame_id: u64,
    version: u64,
    status: u8,
    reason: &'a str,
    functions: Vec<&'a str>,
    files: Vec<&'a str>,
    lines: Vec<u32>,
}

impl<'a> SymbolRow<'a> {
    fn new(
        frame_id: u64,
        version: u64,
        status: u8,
        reason: &'a str,
        symbols: &'a [Symbol],
    ) -> Self {
        Self {
            frame_id,
            version,
            status,
            reason,
            functions: symbols.iter().map(|s| s.function.as_str()).collect(),
            files: symbols
                .iter()
                .map(|s| s.file.as_deref().unwrap_or(""))
                .collect(),
            lines: symbols.iter().map(|s| s.line.unwrap_or(0)).collect(),
        }
    }
}

/// A random 64-bit name for this process's writes.
fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_unix_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// FNV-1a, 64 bits: stable across builds and machines, unlike std's hasher.
fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// A frame's content address.
fn frame_id(frame: &RawFrame) -> u64 {
    let c = FrameColumns::of(frame);
    let mut h = fnv1a(&[c.kind as u8, 0xfe], FNV_OFFSET);
    if let Some(id) = c.build_id {
        h = fnv1a(id.as_bytes(), h);
    }
    h = fnv1a(&[0xfe], h);
    h = fnv1a(&c.file_offset.to_le_bytes(), h);
    h = fnv1a(c.name.as_bytes(), h);
    h = fnv1a(&[0xff], h);
    fnv1a(c.module.as_bytes(), h)
}

/// A stack's content address, from its leaf-first frame ids.
fn stack_id(frames: &[u64]) -> u64 {
    let mut h = fnv1a(&(frames.len() as u64).to_le_bytes(), FNV_OFFSET);
    for f in frames {
        h = fnv1a(&f.to_le_bytes(), h);
    }
    h
}

/// One batch's rows, encoded as `JSONEachRow` lines, waiting in the group
/// queue for the next flush.
struct Queued {
    batch_id: String,
    /// `(frame id, line)` of frames this process has not written yet.
    frames: Vec<(u64, Vec<u8>)>,
    /// `(stack id, line)`, likewise.
    stacks: Vec<(u64, Vec<u8>)>,
    paths: Vec<u8>,
    samples: Vec<u8>,
    /// Windows the sample rows fall in.
    windows: BTreeSet<i64>,
    batch_row: Vec<u8>,
    total: u64,
    /// Where the flush leaves this batch's answer.
    answer: Arc<Mutex<Option<Result<WriteOutcome, StorageError>>>>,
}

#[derive(Serialize)]
struct FrameRow<'a> {
    frame_id: u64,
    kind: i64,
    build_id: String,
    file_offset: u64,
    name: &'a str,
    module: &'a str,
}

#[derive(Serialize)]
struct StackRow<'a> {
    stack_id: u64,
    frame_ids: &'a [u64],
}

#[derive(Serialize)]
struct SampleRow<'a> {
    service: &'a str,
    labels: &'a str,
    profile_type: &'a str,
    window_start: i64,
    stack_id: u64,
    period: u64,
    batch_id: &'a str,
    count: u64,
}

fn json_line(row: &impl Serialize, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, row).expect("rows always serialize");
    out.push(b'\n');
}

/// The same error for every batch of a failed flush.
fn shared_error(error: &StorageError) -> StorageError {
    match error {
        StorageError::ClickHouse {
            operation,
            message,
            transient,
        } => StorageError::ClickHouse {
            operation,
            message: message.clone(),
            transient: *transient,
        },
        other => StorageError::ClickHouse {
            operation: "store a group of batches",
            message: other.to_string(),
            transient: other.is_transient(),
        },
    }
}

impl ClickHouseStore {
    /// Stores `batches`, each exactly once, and answers for each in order.
    ///
    /// Group commit: every caller encodes its rows and queues them; whoever
    /// holds the flush lock next inserts everything queued so far as one
    /// block per table (frames, stacks, paths, samples, then the batch rows
    /// last), so concurrent writers share a few large INSERTs instead of
    /// five small ones each, which ClickHouse would turn into a part each.
    /// A caller returns once the flush that carried its rows succeeded (or
    /// with that flush's error), so an answer still means durable.
    fn write_group(&self, batches: &[&BatchWrite]) -> Vec<Result<WriteOutcome, StorageError>> {
        let mut answers: Vec<Result<WriteOutcome, StorageError>> =
            Vec::with_capacity(batches.len());
        let mut waiting = Vec::new();
        for batch in batches {
            match self.encode(batch) {
                Ok(queued) => {
                    waiting.push((answers.len(), queued.answer.clone()));
                    answers.push(Ok(WriteOutcome::Duplicate));
                    self.queue
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(queued);
                }
                Err(error) => answers.push(Err(error)),
            }
        }
        if waiting.is_empty() {
            return answers;
        }
        let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let taken = |slot: &Mutex<Option<Result<WriteOutcome, StorageError>>>| {
            slot.lock().unwrap_or_else(|p| p.into_inner()).take()
        };
        if waiting
            .iter()
            .any(|(_, slot)| slot.lock().unwrap_or_else(|p| p.into_inner()).is_none())
        {
            let group = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            self.flush(group);
        }
        for (i, slot) in waiting {
            answers[i] = taken(&slot).unwrap_or_else(|| {
                Err(StorageError::ClickHouse {
                    operation: "store a batch",
                    message: "the batch was not flushed".into(),
                    transient: true,
                })
            });
        }
        answers
    }

    /// Checks a batch and encodes its rows for the group queue.
    fn encode(&self, batch: &BatchWrite) -> Result<Queued, StorageError> {
        validate(batch)?;
        for window in &batch.windows {
            if window.stacks.iter().any(|(_, c)| *c > 0) {
                self.check_unit(&window.profile_type)?;
            }
        }
        let mut frames = Vec::new();
        let mut stacks = Vec::new();
        let mut samples = Vec::new();
        let mut windows = BTreeSet::new();
        let mut total = 0u64;
        {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let mut batch_ids: HashSet<u64> = HashSet::new();
            for window in &batch.windows {
                let labels = labels_text(&window.labels);
                for (stack, count) in &window.stacks {
                    if *count == 0 {
                        continue;
                    }
                    let ids: Vec<u64> = stack.iter().map(frame_id).collect();
                    for (frame, &id) in stack.iter().zip(&ids) {
                        if !known.contains(&id) && batch_ids.insert(id) {
                            let c = FrameColumns::of(frame);
                            let mut line = Vec::new();
                            json_line(
                                &FrameRow {
                                    frame_id: id,
                                    kind: c.kind,
                                    build_id: c.build_id.map(FileId::to_hex).unwrap_or_default(),
                                    file_offset: c.file_offset as u64,
                                    name: c.name,
                                    module: c.module,
                                },
                                &mut line,
                            );
                            frames.push((id, line));
                        }
                    }
                    let sid = stack_id(&ids);
                    if !known.contains(&sid) && batch_ids.insert(sid) {
                        let mut line = Vec::new();
                        json_line(
                            &StackRow {
                                stack_id: sid,
                                frame_ids: &ids,
                            },
                            &mut line,
                        );
                        stacks.push((sid, line));
                    }
                    json_line(
                        &SampleRow {
                            service: &window.service,
                            labels: &labels,
                            profile_type: &window.profile_type.name,
                            window_start: window.window_start_unix_nanos,
                            stack_id: sid,
                            period: window.period,
                            batch_id: &batch.batch_id,
                            count: *count,
                        },
                        &mut samples,
                    );
                    total = total.saturating_add(*count);
                    windows.insert(window.window_start_unix_nanos);
                }
            }
        }
        let mut paths = Vec::new();
        for (id, path) in &batch.binaries {
            json_line(
                &serde_json::json!({
                    "build_id": id.to_hex(),
                    "path": path,
                    "first_seen": batch.received_unix_nanos,
                }),
                &mut paths,
            );
        }
        let mut batch_row = Vec::new();
        json_line(
            &serde_json::json!({
                "batch_id": batch.batch_id,
                "received": batch.received_unix_nanos,
            }),
            &mut batch_row,
        );
        Ok(Queued {
            batch_id: batch.batch_id.clone(),
            frames,
            stacks,
            paths,
            samples,
            windows,
            batch_row,
            total,
            answer: Arc::new(Mutex::new(None)),
        })
    }

    /// Writes a group of queued batches and leaves each one's answer.
    fn flush(&self, group: Vec<Queued>) {
        if group.is_empty() {
            return;
        }
        let answer = |q: &Queued, result: Result<WriteOutcome, StorageError>| {
            *q.answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        };
        #[derive(Deserialize)]
        struct Seen {
            batch_id: String,
        }
        let ids: BTreeSet<&str> = group.iter().map(|q| q.batch_id.as_str()).collect();
        let seen = self.client.select::<Seen>(
            "look up batch ids",
            &format!(
                "SELECT DISTINCT batch_id FROM {} WHERE batch_id IN ({})",
                self.table("batches"),
                ids.iter()
                    .map(|id| quote(id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let seen: HashSet<String> = match seen {
            Ok(rows) => rows.into_iter().map(|r| r.batch_id).collect(),
            Err(error) => {
                for q in &group {
                    answer(q, Err(shared_error(&error)));
                }
                return;
            }
        };
        // A batch stored before, or twice in this group, is a duplicate.
        let mut fresh: Vec<&Queued> = Vec::new();
        let mut in_group: HashSet<&str> = HashSet::new();
        for q in &group {
            if seen.contains(&q.batch_id) || !in_group.insert(&q.batch_id) {
                answer(q, Ok(WriteOutcome::Duplicate));
            } else {
                fresh.push(q);
            }
        }
        // Blocks of at most about FLUSH_BYTES of sample rows each.
        let mut chunk: Vec<&Queued> = Vec::new();
        let mut bytes = 0;
        let mut failed: Option<StorageError> = None;
        for q in fresh {
            if let Some(error) = &failed {
                answer(q, Err(shared_error(error)));
                continue;
            }
            bytes += q.samples.len();
            chunk.push(q);
            if bytes >= FLUSH_BYTES {
                failed = self.write_chunk(&std::mem::take(&mut chunk)).err();
                bytes = 0;
            }
        }
        if failed.is_none() && !chunk.is_empty() {
            self.write_chunk(&chunk).ok();
        }
    }

    /// Inserts the rows of `chunk` as one block per table and answers each.
    fn write_chunk(&self, chunk: &[&Queued]) -> Result<(), StorageError> {
        let mut new_ids: HashSet<u64> = HashSet::new();
        let mut frames = Vec::new();
        let mut stacks = Vec::new();
        let (mut paths, mut samples, mut batch_rows) = (Vec::new(), Vec::new(), Vec::new());
        let mut windows = BTreeSet::new();
        for q in chunk {
            for (id, line) in &q.frames {
                if new_ids.insert(*id) {
                    frames.extend_from_slice(line);
                }
            }
            for (id, line) in &q.stacks {
                if new_ids.insert(*id) {
                    stacks.extend_from_slice(line);
                }
            }
            paths.extend_from_slice(&q.paths);
            samples.extend_from_slice(&q.samples);
            windows.extend(q.windows.iter().copied());
            batch_rows.extend_from_slice(&q.batch_row);
        }
        // Frames and stacks before the samples that point at them; the batch
        // rows last, so that one means "all of it is stored".
        let written = self
            .client
            .insert_lines("insert frames", &self.table("frames"), &frames)
            .and_then(|()| {
                self.client
                    .insert_lines("insert stacks", &self.table("stacks"), &stacks)
            })
            .and_then(|()| {
                self.client
                    .insert_lines("insert binary paths", &self.table("binary_paths"), &paths)
            })
            .and_then(|()| {
                self.client
                    .insert_lines("insert samples", &self.table("samples"), &samples)
            })
            // After the samples, before the answer: see `settle.rs`.
            .and_then(|()| self.mark_windows(&windows))
            .and_then(|()| {
                self.client
                    .insert_lines("record the batches", &self.table("batches"), &batch_rows)
            });
        let answer = |q: &Queued, result: Result<WriteOutcome, StorageError>| {
            *q.answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        };
        match written {
            Ok(()) => {
                let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
                if known.len() + new_ids.len() > MAX_KNOWN_IDS {
                    known.clear();
                }
                known.extend(new_ids);
                drop(known);
                for q in chunk {
                    answer(q, Ok(WriteOutcome::Stored { samples: q.total }));
                }
                Ok(())
            }
            Err(error) => {
                for q in chunk {
                    answer(q, Err(shared_error(&error)));
                }
                Err(error)
            }
        }
    }
}

impl Storage for ClickHouseStore {
    fn write_batch(&self, batch: &BatchWrite) -> Result<WriteOutcome, StorageError> {
        self.write_group(&[batch])
            .pop()
            .expect("one result per batch")
    }

    fn write_batches(
        &self,
        batches: &[HeldBatch],
    ) -> Result<Vec<Result<WriteOutcome, StorageError>>, StorageError> {
        let writes: Vec<BatchWrite> = batches.iter().map(HeldBatch::to_batch_write).collect();
        let mut outcomes = self.write_group(&writes.iter().collect::<Vec<_>>());
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
        #[derive(Deserialize)]
        struct Row {
            service: String,
            profile_type: String,
            samples: u64,
            value: f64,
            first: i64,
            last: i64,
        }
        // Every series: the per-service rows where settled, as profiles
        // without matchers read them.
        let source = if self.read_settled {
            self.service_source("1", i64::MIN, i64::MAX)?
        } else {
            self.samples_source("1")
        };
        let rows: Vec<Row> = self.client.select(
            "list services",
            &format!(
                "SELECT service, profile_type, sum(count) AS samples,
                        sum(toFloat64(count) * period) AS value,
                        min(window_start) AS first, max(window_start) AS last
                 FROM {source}
                 GROUP BY service, profile_type
                 ORDER BY service, profile_type"
            ),
        )?;
        let mut services: Vec<ServiceSummary> = Vec::new();
        for row in rows {
            if services.last().is_none_or(|s| s.name != row.service) {
                services.push(ServiceSummary {
                    name: row.service.clone(),
                    total_samples: 0,
                    profile_types: Vec::new(),
                    totals: BTreeMap::new(),
                    first_window_unix_nanos: row.first,
                    last_window_unix_nanos: row.last,
                });
            }
            let s = services.last_mut().expect("pushed above");
            if row.profile_type == "cpu" {
                s.total_samples = row.samples;
            }
            s.first_window_unix_nanos = s.first_window_unix_nanos.min(row.first);
            s.last_window_unix_nanos = s.last_window_unix_nanos.max(row.last);
            s.totals
                .insert(row.profile_type.clone(), row.value.max(0.0) as u64);
            s.profile_types.push(row.profile_type);
        }
        Ok(services)
    }

    fn label_values(&self, service: &str) -> Result<BTreeMap<String, Vec<String>>, StorageError> {
        Ok(collect_label_values(self.series_labels(service)?))
    }

    fn query_profile(&self, query: &ProfileQuery) -> Result<Profile, StorageError> {
        self.profile_parts(query)?.into_profile()
    }

    fn query_stack_tree(&self, query: &ProfileQuery) -> Result<StackTree, StorageError> {
        self.profile_parts(query)?.into_stack_tree()
    }

    fn deploys(&self, service: &str) -> Result<Vec<crate::Deploy>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            version: String,
            first: i64,
            last: i64,
            hosts: Vec<String>,
            build_ids: Vec<String>,
            samples: u64,
        }
        let rows: Vec<Row> = self.client.select(
            "read the deploy history",
            &format!(
                "SELECT visitParamExtractString(labels, 'version') AS version,
                        min(window_start) AS first, max(window_start) AS last,
                        groupUniqArray(visitParamExtractString(labels, 'host')) AS hosts,
                        groupUniqArray(visitParamExtractString(labels, 'build_id')) AS build_ids,
                        sumIf(count, profile_type = 'cpu') AS samples
                 FROM {}
                 GROUP BY version HAVING version != ''
                 ORDER BY first, last, version",
                self.samples_source(&format!("service = {}", quote(service)))
            ),
        )?;
        let sorted = |mut v: Vec<String>| {
            v.retain(|s| !s.is_empty());
            v.sort();
            v
        };
        Ok(rows
            .into_iter()
            .map(|r| crate::Deploy {
                version: r.version,
                build_ids: sorted(r.build_ids),
                hosts: sorted(r.hosts),
                first_seen_unix_nanos: r.first,
                last_seen_unix_nanos: r.last,
                cpu_samples: r.samples,
            })
            .collect())
    }

    fn timeline(&self, query: &ProfileQuery) -> Result<Vec<(i64, u64)>, StorageError> {
        let Some(selected) = self.selected_samples(query)? else {
            return Ok(Vec::new());
        };
        #[derive(Deserialize)]
        struct Point {
            start: i64,
            samples: u64,
        }
        let points: Vec<Point> = self.client.select(
            "sum samples per window",
            &format!(
                "SELECT window_start AS start, sum(count) AS samples FROM {selected}
                 GROUP BY start ORDER BY start"
            ),
        )?;
        Ok(points.into_iter().map(|p| (p.start, p.samples)).collect())
    }

    fn pending_frames(
        &self,
        retry_failed_after: Duration,
        limit: usize,
        shard: Shard,
    ) -> Result<Vec<PendingFrame>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let due = now_unix_nanos()
            .saturating_sub(u64::try_from(retry_failed_after.as_nanos()).unwrap_or(u64::MAX));
        #[derive(Deserialize)]
        struct Row {
            frame_id: u64,
            build_id: String,
            file_offset: u64,
        }
        let rows: Vec<Row> = self.client.select(
            "read pending frames",
            &format!(
                "SELECT frame_id, bid AS build_id, off AS file_offset
                 FROM (SELECT frame_id, any(build_id) AS bid, any(file_offset) AS off
                       FROM {frames} WHERE kind = 0 AND cityHash64(build_id) % {count} = {index}
                       GROUP BY frame_id)
                 ANY LEFT JOIN (SELECT frame_id, argMax(status, version) AS st, max(version) AS ver
                                FROM {symbols} GROUP BY frame_id)
                 USING frame_id
                 WHERE ver = 0 OR st = {pending} OR (st = {failed} AND ver <= {due})
                 ORDER BY ver, frame_id
                 LIMIT {limit}",
                frames = self.table("frames"),
                symbols = self.table("symbols"),
                count = shard.count.max(1),
                index = shard.index,
                pending = status::PENDING,
                failed = status::FAILED,
                limit = limit.min(1 << 30),
            ),
        )?;
        let hexes: BTreeSet<&str> = rows.iter().map(|r| r.build_id.as_str()).collect();
        let paths = self.paths(hexes)?;
        rows.iter()
            .map(|row| {
                let build_id =
                    FileId::parse_hex(&row.build_id).map_err(|e| StorageError::Corrupt {
                        what: format!("frame {}: {e}", row.frame_id),
                    })?;
                Ok(PendingFrame {
                    frame_id: row.frame_id as i64,
                    build_id,
                    file_offset: row.file_offset,
                    paths: paths.get(&row.build_id).cloned().unwrap_or_default(),
                })
            })
            .collect()
    }

    fn record_symbols(&self, results: &[FrameSymbols]) -> Result<(), StorageError> {
        let ids: Vec<u64> = results.iter().map(|r| r.frame_id as u64).collect();
        if ids.is_empty() {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct Id {
            frame_id: u64,
        }
        let user: HashSet<u64> = self
            .client
            .select::<Id>(
                "check frames",
                &format!(
                    "SELECT DISTINCT frame_id FROM {} WHERE kind = 0 AND frame_id IN ({})",
                    self.table("frames"),
                    number_list(ids.iter().copied())
                ),
            )?
            .into_iter()
            .map(|r| r.frame_id)
            .collect();
        let kept = self.known_symbols(&ids)?;
        let mut rows = Vec::new();
        let mut skipped = 0usize;
        for result in results {
            let id = result.frame_id as u64;
            if !user.contains(&id) {
                skipped += 1;
                continue;
            }
            let version = self.next_version();
            let known = kept.get(&id).filter(|s| !s.is_empty());
            rows.push(match (&result.outcome, known) {
                (Ok(symbols), _) if !symbols.is_empty() => {
                    SymbolRow::new(id, version, status::SYMBOLIZED, "", symbols)
                }
                // A failure never hides names found before.
                (_, Some(known)) => SymbolRow::new(id, version, status::SYMBOLIZED, "", known),
                (Ok(_), None) => {
                    SymbolRow::new(id, version, status::FAILED, "no symbols found", &[])
                }
                (Err(reason), None) => SymbolRow::new(id, version, status::FAILED, reason, &[]),
            });
        }
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "symbols for frames that are not stored user frames"
            );
        }
        self.announce_symbols(rows.iter().map(|r| r.frame_id))?;
        self.client
            .insert("record symbols", &self.table("symbols"), &rows)
    }

    fn requeue_binary(&self, build_id: &FileId) -> Result<usize, StorageError> {
        #[derive(Deserialize)]
        struct Id {
            frame_id: u64,
        }
        let ids: Vec<u64> = self
            .client
            .select::<Id>(
                "find a binary's frames",
                &format!(
                    "SELECT DISTINCT frame_id FROM {} WHERE kind = 0 AND build_id = {}",
                    self.table("frames"),
                    quote(&build_id.to_hex())
                ),
            )?
            .into_iter()
            .map(|r| r.frame_id)
            .collect();
        let kept = self.known_symbols(&ids)?;
        let empty = Vec::new();
        let rows: Vec<SymbolRow<'_>> = ids
            .iter()
            .map(|&id| {
                let symbols = kept.get(&id).unwrap_or(&empty);
                SymbolRow::new(id, self.next_version(), status::PENDING, "", symbols)
            })
            .collect();
        self.announce_symbols(ids.iter().copied())?;
        self.client
            .insert("queue a binary's frames", &self.table("symbols"), &rows)?;
        Ok(ids.len())
    }

    fn sql(&self, query: &str, max_rows: usize) -> Result<crate::SqlAnswer, StorageError> {
        self.user_sql(query, max_rows)
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

    fn service_samples_sql(
        &self,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
    ) -> Result<Option<String>, StorageError> {
        if !self.read_settled {
            return Ok(None);
        }
        let source = self.service_source("1", start_unix_nanos, end_unix_nanos)?;
        Ok(Some(format!(
            "SELECT service, profile_type, window_start, resolution, stack_id, leaf_frame_id,
                    period, count, count * period AS value
             FROM {source}
             ANY LEFT JOIN (SELECT stack_id, any(frame_ids)[1] AS leaf_frame_id
                            FROM {stacks} GROUP BY stack_id)
             USING stack_id",
            stacks = self.table("stacks"),
        )))
    }

    fn share_debuginfo(&self, build_id: &FileId, file: &Path) -> Result<bool, StorageError> {
        use std::io::Read;

        let io = |e: std::io::Error| StorageError::ClickHouse {
            operation: "share debug info",
            message: format!("reading {}: {e}", file.display()),
            transient: false,
        };
        let mut source = std::fs::File::open(file).map_err(io)?;
        let hex = build_id.to_hex();
        let mut buffer = vec![0u8; DEBUGINFO_CHUNK];
        let mut chunk = 0u32;
        loop {
            let mut filled = 0;
            while filled < buffer.len() {
                let n = source.read(&mut buffer[filled..]).map_err(io)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 && chunk > 0 {
                break;
            }
            // Hex keeps arbitrary bytes safe in JSON rows.
            let data: String = buffer[..filled]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            self.client.insert(
                "share debug info",
                &self.table("debuginfo"),
                &[serde_json::json!({"build_id": hex, "chunk": chunk, "data": data})],
            )?;
            chunk += 1;
            if filled < buffer.len() {
                break;
            }
        }
        Ok(true)
    }

    fn fetch_debuginfo(&self, build_id: &FileId, dest: &Path) -> Result<bool, StorageError> {
        use std::io::Write;

        #[derive(Deserialize)]
        struct Chunk {
            chunk: u32,
            data: String,
        }
        let chunks: Vec<Chunk> = self.client.select(
            "fetch debug info",
            &format!(
                "SELECT chunk, any(data) AS data FROM {} WHERE build_id = {}
                 GROUP BY chunk ORDER BY chunk",
                self.table("debuginfo"),
                quote(&build_id.to_hex())
            ),
        )?;
        if chunks.is_empty()
            || chunks
                .iter()
                .enumerate()
                .any(|(i, c)| c.chunk as usize != i)
        {
            // Nothing, or an upload still being shared: not yet.
            return Ok(false);
        }
        let io = |e: std::io::Error| StorageError::ClickHouse {
            operation: "fetch debug info",
            message: format!("writing {}: {e}", dest.display()),
            transient: false,
        };
        let temp = dest.with_extension("fetch.tmp");
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut out = std::fs::File::create(&temp).map_err(io)?;
        for c in &chunks {
            let bytes: Option<Vec<u8>> = (0..c.data.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(c.data.get(i..i + 2)?, 16).ok())
                .collect();
            let bytes = bytes.ok_or_else(|| StorageError::Corrupt {
                what: format!("debug info chunk {} of {build_id} is not hex", c.chunk),
            })?;
            out.write_all(&bytes).map_err(io)?;
        }
        out.sync_all().map_err(io)?;
        std::fs::rename(&temp, dest).map_err(io)?;
        Ok(true)
    }

    fn stats(&self) -> Result<StoreStats, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            frames: u64,
            stacks: u64,
            sample_rows: u64,
            batches: u64,
        }
        let counts: Vec<Row> = self.client.select(
            "count rows",
            &format!(
                "SELECT (SELECT uniqExact(frame_id) FROM {}) AS frames,
                        (SELECT uniqExact(stack_id) FROM {}) AS stacks,
                        (SELECT count() FROM {}) AS sample_rows,
                        (SELECT uniqExact(batch_id) FROM {}) AS batches",
                self.table("frames"),
                self.table("stacks"),
                self.samples_source("1"),
                self.table("batches"),
            ),
        )?;
        #[derive(Deserialize)]
        struct Status {
            st: u8,
            n: u64,
        }
        let statuses: Vec<Status> = self.client.select(
            "count symbolization states",
            &format!(
                "SELECT st, count() AS n FROM
                   (SELECT frame_id FROM {} WHERE kind = 0 GROUP BY frame_id)
                 ANY LEFT JOIN (SELECT frame_id, argMax(status, version) AS st FROM {} GROUP BY frame_id)
                 USING frame_id
                 GROUP BY st",
                self.table("frames"),
                self.table("symbols"),
            ),
        )?;
        let row = counts
            .into_iter()
            .next()
            .ok_or_else(|| StorageError::ClickHouse {
                operation: "count rows",
                message: "no answer row".into(),
                transient: true,
            })?;
        let of = |s: u8| {
            statuses
                .iter()
                .filter(|r| r.st == s)
                .map(|r| r.n)
                .sum::<u64>()
        };
        Ok(StoreStats {
            frames: row.frames,
            frames_symbolized: of(status::SYMBOLIZED),
            frames_failed: of(status::FAILED),
            frames_pending: of(status::PENDING),
            stacks: row.stacks,
            sample_rows: row.sample_rows,
            batches: row.batches,
        })
    }
}

impl ClickHouseStore {
    /// Records, before writing them, that the symbols of `frames` are
    /// about to change: query nodes drop those frames from their symbol
    /// caches (`read_cache.rs`). Nothing is written for no frames.
    fn announce_symbols(&self, frames: impl Iterator<Item = u64>) -> Result<(), StorageError> {
        let frame_ids: Vec<u64> = frames.collect();
        if frame_ids.is_empty() {
            return Ok(());
        }
        let seq = self.write_seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.client.insert(
            "announce a symbols write",
            &self.table("symbol_writes"),
            &[serde_json::json!({
                "writer": self.writer_id,
                "seq": seq,
                "written": now_unix_nanos() as i64,
                "frame_ids": frame_ids,
            })],
        )
    }

    /// Every sample row matching `filter` (a condition on the samples'
    /// columns), at minute resolution for days not rolled up yet and hour
    /// resolution for days that were, with a `resolution` column. Minute
    /// rows of rolled days and hour rows of days not marked rolled are
    /// ignored, so a query during a rollup sees each day whole, once.
    fn samples_source(&self, filter: &str) -> String {
        let watermark = schema::watermark(&self.db);
        format!(
            "(SELECT service, labels, profile_type, window_start, stack_id, period, count,
                     'minute' AS resolution
              FROM {minutes} FINAL WHERE window_start >= {watermark} AND ({filter})
              UNION ALL
              SELECT service, labels, profile_type, window_start, stack_id, period, count,
                     'hour' AS resolution
              FROM {hours} FINAL WHERE window_start < {watermark} AND ({filter}))",
            minutes = self.table("samples"),
            hours = self.table("samples_hourly"),
        )
    }

    /// Runs `sql` on every shard (or the one server): partition drops must
    /// address the local tables.
    fn on_every_shard(&self, operation: &'static str, sql: &str) -> Result<(), StorageError> {
        for client in &self.shards {
            client.execute(operation, sql)?;
        }
        Ok(())
    }

    /// The table partitions are dropped from: the local table on a cluster.
    fn local(&self, name: &str) -> String {
        if self.clustered {
            format!("{}.{name}_local", self.db)
        } else {
            self.table(name)
        }
    }

    fn compact_days(
        &self,
        policy: &RetentionPolicy,
        now: i64,
    ) -> Result<CompactionReport, StorageError> {
        const DAY: i64 = 86_400_000_000_000;
        let mut report = CompactionReport::default();
        let span = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        // Whole days only: a partition is a day.
        let minute_cutoff = now
            .saturating_sub(span(policy.minute_windows))
            .div_euclid(DAY);
        #[derive(Deserialize)]
        struct Day {
            day: i64,
            rows: u64,
        }
        let days: Vec<Day> = self.client.select(
            "find days to roll up",
            &format!(
                "SELECT intDiv(window_start, {DAY}) AS day, count() AS rows FROM {}
                 WHERE window_start < {} GROUP BY day ORDER BY day",
                self.table("samples"),
                minute_cutoff.saturating_mul(DAY)
            ),
        )?;
        for Day { day, rows } in days {
            #[derive(Deserialize)]
            struct Done {
                n: u64,
            }
            let done: Vec<Done> = self.client.select(
                "count rollups of a day",
                &format!(
                    "SELECT count() AS n FROM {} WHERE day = {day}",
                    self.table("rollups")
                ),
            )?;
            // A rollup cut short by a crash is redone with the same
            // generation: its rows replace the first attempt's.
            let generation = done.first().map_or(0, |d| d.n) + 1;
            self.client.execute(
                "roll a day up into hours",
                &format!(
                    "INSERT INTO {hours} (service, labels, profile_type, window_start, stack_id,
                                          period, generation, count)
                     SELECT service, labels, profile_type, intDiv(window_start, {HOUR_NANOS}) * {HOUR_NANOS} AS hour,
                            stack_id, period, {generation}, sum(count)
                     FROM {minutes} FINAL
                     WHERE window_start >= {start} AND window_start < {end}
                     GROUP BY service, labels, profile_type, hour, stack_id, period",
                    hours = self.table("samples_hourly"),
                    minutes = self.table("samples"),
                    start = day * DAY,
                    end = (day + 1) * DAY,
                ),
            )?;
            self.summarize_hours(day, Some(generation))?;
            self.client.insert(
                "mark a day rolled up",
                &self.table("rollups"),
                &[serde_json::json!({"day": day, "generation": generation})],
            )?;
            for table in ["samples", "service_samples", "windows", "settles"] {
                self.on_every_shard(
                    "drop a rolled-up day",
                    &format!("ALTER TABLE {} DROP PARTITION {day}", self.local(table)),
                )?;
            }
            report.minute_rows_rolled_up += rows;
        }

        let hour_cutoff = now.saturating_sub(span(policy.hour_windows));
        let expired: Vec<Day> = self.client.select(
            "find expired hour days",
            &format!(
                "SELECT intDiv(window_start, {DAY}) AS day, count() AS rows FROM {}
                 WHERE window_start < {} GROUP BY day HAVING max(window_start) < {hour_cutoff}
                 ORDER BY day",
                self.table("samples_hourly"),
                hour_cutoff
            ),
        )?;
        for Day { day, rows } in expired {
            for table in ["samples_hourly", "service_samples_hourly"] {
                self.on_every_shard(
                    "drop an expired day",
                    &format!("ALTER TABLE {} DROP PARTITION {day}", self.local(table)),
                )?;
            }
            report.hour_rows_expired += rows;
        }

        if let Some(max_bytes) = policy.max_bytes {
            for _ in 0..10_000 {
                if self.bytes()? <= max_bytes {
                    break;
                }
                // Oldest first: hour days, then minute days.
                let mut evicted = false;
                for table in ["samples_hourly", "samples"] {
                    let oldest: Vec<Day> = self.client.select(
                        "find the oldest day",
                        &format!(
                            "SELECT intDiv(window_start, {DAY}) AS day, count() AS rows FROM {}
                             GROUP BY day ORDER BY day LIMIT 1",
                            self.table(table)
                        ),
                    )?;
                    if let Some(Day { day, rows }) = oldest.into_iter().next() {
                        // The day's per-service rows and window states go
                        // with it.
                        let companions: &[&str] = if table == "samples" {
                            &["samples", "service_samples", "windows", "settles"]
                        } else {
                            &["samples_hourly", "service_samples_hourly"]
                        };
                        for companion in companions {
                            self.on_every_shard(
                                "evict the oldest day",
                                &format!(
                                    "ALTER TABLE {} DROP PARTITION {day}",
                                    self.local(companion)
                                ),
                            )?;
                        }
                        report.rows_evicted_for_space += rows;
                        evicted = true;
                        break;
                    }
                }
                if !evicted {
                    break;
                }
            }
        }
        report.bytes = self.bytes()?;
        Ok(report)
    }

    /// Bytes on disk of Augur's tables, over every shard.
    fn bytes(&self) -> Result<u64, StorageError> {
        #[derive(Deserialize)]
        struct Bytes {
            bytes: u64,
        }
        let mut total = 0;
        for client in &self.shards {
            let rows: Vec<Bytes> = client.select(
                "measure the tables",
                &format!(
                    "SELECT sum(bytes_on_disk) AS bytes FROM system.parts
                     WHERE active AND database = {}",
                    quote(&self.db)
                ),
            )?;
            total += rows.first().map_or(0, |r| r.bytes);
        }
        Ok(total)
    }

    fn user_sql(&self, sql: &str, max_rows: usize) -> Result<crate::SqlAnswer, StorageError> {
        let (columns, mut rows) =
            self.client
                .user_query(&self.db, sql, max_rows, crate::backend::SQL_TIMEOUT)?;
        let truncated = rows.len() > max_rows;
        rows.truncate(max_rows);
        Ok(crate::SqlAnswer {
            columns,
            rows,
            truncated,
        })
    }

    /// The sample rows `query` selects (its service, type, range and label
    /// matchers), as a subquery; `None` when no label set matches.
    fn selected_samples(&self, query: &ProfileQuery) -> Result<Option<String>, StorageError> {
        let range = format!(
            "service = {} AND profile_type = {}
             AND window_start >= {} AND window_start < {}",
            quote(&query.service),
            quote(&query.profile_type),
            query.start_unix_nanos,
            query.end_unix_nanos,
        );
        if query.labels.is_empty() {
            // Every series: the per-service rows where settled.
            if self.read_settled {
                let filter = format!(
                    "service = {} AND profile_type = {}",
                    quote(&query.service),
                    quote(&query.profile_type)
                );
                return Ok(Some(self.service_source(
                    &filter,
                    query.start_unix_nanos,
                    query.end_unix_nanos,
                )?));
            }
            return Ok(Some(self.samples_source(&range)));
        }
        // Only the label sets present in the range: the sorting key starts
        // with (service, profile_type, window_start), so this reads the
        // range alone, not the service's whole history.
        let matching: Vec<String> = self
            .labels_where(&range)?
            .into_iter()
            .filter(|labels| query.selects(labels))
            .map(|labels| quote(&labels_text(&labels)))
            .collect();
        if matching.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.samples_source(&format!(
            "{range} AND labels IN ({})",
            matching.join(", ")
        ))))
    }

    /// The symbols known now for each of `frame_ids` (the newest attempt's).
    fn known_symbols(&self, frame_ids: &[u64]) -> Result<HashMap<u64, Vec<Symbol>>, StorageError> {
        Ok(self
            .latest_symbols(frame_ids)?
            .iter()
            .map(|(&id, state)| (id, state.symbols()))
            .collect())
    }

    /// The label sets `service` has samples under.
    fn series_labels(&self, service: &str) -> Result<Vec<BTreeMap<String, String>>, StorageError> {
        self.labels_where(&format!("service = {}", quote(service)))
    }

    /// The label sets of the sample rows matching `filter`.
    fn labels_where(&self, filter: &str) -> Result<Vec<BTreeMap<String, String>>, StorageError> {
        #[derive(Deserialize)]
        struct Row {
            labels: String,
        }
        let rows: Vec<Row> = self.client.select(
            "list series",
            &format!(
                "SELECT DISTINCT labels FROM {}",
                self.samples_source(filter)
            ),
        )?;
        rows.into_iter()
            .map(|r| {
                serde_json::from_str(&r.labels).map_err(|e| StorageError::Corrupt {
                    what: format!("labels {:?}: {e}", r.labels),
                })
            })
            .collect()
    }

    /// First reported path of each binary (by hex build-id), in report order.
    fn paths<'a>(
        &self,
        hexes: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, Vec<String>>, StorageError> {
        let list: Vec<String> = hexes.into_iter().map(quote).collect();
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        #[derive(Deserialize)]
        struct Row {
            build_id: String,
            path: String,
        }
        let rows: Vec<Row> = self.client.select(
            "read binary paths",
            &format!(
                "SELECT build_id, path FROM {} WHERE build_id IN ({})
                 GROUP BY build_id, path ORDER BY build_id, min(first_seen), path",
                self.table("binary_paths"),
                list.join(", ")
            ),
        )?;
        let mut paths: HashMap<String, Vec<String>> = HashMap::new();
        for row in rows {
            paths.entry(row.build_id).or_default().push(row.path);
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addresses_are_stable_and_tell_frames_apart() {
        let user = |offset| RawFrame::User {
            build_id: FileId::parse_hex("abcd").unwrap(),
            file_offset: offset,
        };
        assert_eq!(frame_id(&user(16)), frame_id(&user(16)));
        assert_ne!(frame_id(&user(16)), frame_id(&user(17)));
        let kernel = RawFrame::Kernel {
            function: "ab".into(),
            module: Some("c".into()),
        };
        let other = RawFrame::Kernel {
            function: "a".into(),
            module: Some("bc".into()),
        };
        assert_ne!(frame_id(&kernel), frame_id(&other));
        // Ids are shared by every node and stored: the hash must be FNV-1a
        // exactly (the published test vector), in every build.
        assert_eq!(fnv1a(b"a", FNV_OFFSET), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(stack_id(&[1, 2]), stack_id(&[2, 1]));
    }
}
