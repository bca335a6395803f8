//! The ingest buffer, a memtable in front of storage with a write-ahead log.
//!
//! A push is acknowledged once its payload is in the [`ingest_log`]
//! (`crate::ingest_log`), fsynced, and its decoded batch is held in memory;
//! many pushes that arrive while one fsync runs share the next
//! (group commit, on the log thread). A flusher thread stores what is held
//! every `flush_interval`, or sooner when it grows past half its bound, with
//! [`Store::write_batches`] (one transaction on SQLite, batch ids included),
//! then deletes the log segments that held it. On start the log left by a
//! crash is replayed, skipping batch ids already stored, so a `kill -9`
//! neither loses nor doubles an acknowledged batch.
//!
//! Every held batch id is known here, and the ids the last flushes stored,
//! so a retry is recognised without asking storage; past `max_bytes` held (or `max_log_bytes` logged) pushes are
//! answered `RESOURCE_EXHAUSTED` and agents keep them in their spool.
//! Queries see a batch after its flush: at most `flush_interval` (plus the
//! flush itself) after it was acknowledged.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use augur_storage::{BatchWrite, StorageError, Store, WriteOutcome};
use augur_wire::batch::Limits;
use tokio::sync::{Notify, oneshot};

use crate::dir_lock::{DirLock, DirLockError};
use crate::ingest_log::{self, SegmentWriter};
use crate::intern::StackInterner;
use crate::metrics::AggregatorMetrics;
use crate::prepare::prepare;

/// Most appends one log write and fsync carries.
const MAX_GROUP: usize = 512;
/// Most bytes of stacks the interner keeps for sharing; at most a quarter
/// of the buffer's bound.
const INTERNER_BYTES: u64 = 64 << 20;

/// Settings of the ingest buffer.
#[derive(Clone, Debug)]
pub struct BufferConfig {
    /// Directory of the ingest log's segments; one server per directory.
    pub dir: PathBuf,
    /// Longest a batch stays in memory before it is stored.
    pub flush_interval: Duration,
    /// Most bytes of decoded batches held in memory.
    pub max_bytes: u64,
    /// Most bytes of payloads in the log.
    pub max_log_bytes: u64,
    /// Limits for decoding payloads replayed from the log.
    pub limits: Limits,
    /// The label bound replayed batches pass through, shared with ingest.
    pub labels: Arc<crate::cardinality::LabelCardinality>,
    /// Window length, for replayed payloads.
    pub window_nanos: i64,
}

/// Why the buffer could not start.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// The log directory or a segment could not be read or created.
    #[error("ingest log {}: {source}", path.display())]
    Log {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Storage could not say which logged batches it has.
    #[error("replaying the ingest log: {0}")]
    Storage(#[from] StorageError),
    /// Another process owns the log, or it could not be locked.
    #[error("ingest log: {0}")]
    Locked(#[from] DirLockError),
}

/// What [`IngestBuffer::reserve`] found for a batch id.
pub enum Reserve {
    /// The id is new: the reservation holds it while the batch is decoded
    /// and logged.
    Reserved(Reservation),
    /// The id is held (logged, not yet flushed) or was stored by one of
    /// the last flushes: a retry of an accepted batch.
    Held,
    /// Another push of the same id is being logged right now.
    InFlight,
    /// Memory or log over their bound.
    Full,
}

/// A batch id being decoded and logged; dropping it frees the id again.
pub struct Reservation {
    shared: Arc<Shared>,
    batch_id: String,
    armed: bool,
}

impl Reservation {
    /// The reserved id.
    pub fn batch_id(&self) -> &str {
        &self.batch_id
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            self.shared.lock().ids.remove(&self.batch_id);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdState {
    InFlight,
    Held,
}

/// Held batches and the log segments that hold their payloads.
#[derive(Default)]
struct Generation {
    batches: Vec<BatchWrite>,
    segments: Vec<PathBuf>,
    bytes: u64,
    rows: u64,
    log_bytes: u64,
}

impl Generation {
    fn add(&mut self, batch: BatchWrite, log_bytes: u64) {
        let (bytes, rows) = held_size(&batch);
        self.bytes += bytes;
        self.rows += rows;
        self.log_bytes += log_bytes;
        self.batches.push(batch);
    }
}

/// What the interner may keep under `config`.
fn interner_bytes(config: &BufferConfig) -> u64 {
    INTERNER_BYTES.min(config.max_bytes / 4)
}

/// Approximate heap bytes and rows of a held batch; its stacks' frames are
/// shared and counted by the interner.
fn held_size(batch: &BatchWrite) -> (u64, u64) {
    let mut bytes = std::mem::size_of::<BatchWrite>() + batch.batch_id.len();
    let mut rows = 0;
    for (build_id, path) in &batch.binaries {
        bytes += 48 + build_id.as_bytes().len() + path.len();
    }
    for window in &batch.windows {
        bytes += std::mem::size_of_val(window) + window.service.len();
        bytes += window
            .labels
            .iter()
            .map(|(k, v)| 64 + k.len() + v.len())
            .sum::<usize>();
        bytes += window.stacks.len() * std::mem::size_of::<(augur_storage::SharedStack, u64)>();
        rows += window.stacks.len() as u64;
    }
    (bytes as u64, rows)
}

struct State {
    ids: HashMap<String, IdState>,
    /// Ids of batches the last flushes stored, so that a retry of one is
    /// answered as the duplicate it is without asking storage (which
    /// ClickHouse cannot answer cheaply; it would acknowledge the retry as
    /// new and only its flush would find it stored).
    recent: RecentIds,
    /// What the log thread adds to.
    current: Generation,
    /// Generations cut off from the log, oldest first, waiting to be stored.
    sealed: VecDeque<Generation>,
    flush_requested: bool,
    stop: Option<Stop>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Store what is held, then stop.
    Flush,
    /// Stop at once, as a crash would (tests).
    #[cfg(test)]
    Abandon,
}

/// The ids of the last [`RECENT_IDS`] batches stored, oldest first out.
#[derive(Default)]
struct RecentIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

/// Batch ids remembered after their flush: at 1,000 batches a second,
/// retries up to a minute late (a few MB of ids).
const RECENT_IDS: usize = 1 << 16;

impl RecentIds {
    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: &str) {
        if !self.set.insert(id.to_owned()) {
            return;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > RECENT_IDS {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
    }
}

impl State {
    fn held(&self) -> impl Iterator<Item = &Generation> {
        std::iter::once(&self.current).chain(&self.sealed)
    }
}

struct Shared {
    state: Mutex<State>,
    wake_flusher: Condvar,
    interner: Mutex<StackInterner>,
    store: Store,
    metrics: AggregatorMetrics,
    new_frames: Arc<Notify>,
    config: BufferConfig,
    log: mpsc::Sender<LogCommand>,
    /// One flush at a time.
    flushing: Mutex<()>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Held bytes: batches plus the stacks they share.
    fn held_bytes(&self, state: &State) -> u64 {
        let interned = self
            .interner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes();
        state.held().map(|g| g.bytes).sum::<u64>() + interned
    }

    fn log_bytes(state: &State) -> u64 {
        state.held().map(|g| g.log_bytes).sum()
    }

    /// Refreshes the gauges and asks for an early flush once held batches
    /// or the log pass half of what they may take. The interner's share of
    /// the bound is left out: a flush does not shrink it.
    fn publish(&self, state: &mut State) {
        let held_bytes = self.held_bytes(state);
        let batch_bytes: u64 = state.held().map(|g| g.bytes).sum();
        let batch_bound = self
            .config
            .max_bytes
            .saturating_sub(interner_bytes(&self.config));
        let log_bytes = Self::log_bytes(state);
        let m = &self.metrics;
        m.memtable_batches
            .set(state.held().map(|g| g.batches.len() as i64).sum());
        m.memtable_rows
            .set(state.held().map(|g| g.rows as i64).sum());
        m.memtable_bytes.set(held_bytes as i64);
        m.ingest_log_bytes.set(log_bytes as i64);
        m.ingest_log_segments
            .set(state.held().map(|g| g.segments.len() as i64).sum());
        if !state.flush_requested
            && (batch_bytes > batch_bound / 2 || log_bytes > self.config.max_log_bytes / 2)
        {
            state.flush_requested = true;
            self.wake_flusher.notify_one();
        }
    }
}

enum LogCommand {
    Append(Append),
    /// Close the open segment and move what is held to the sealed queue.
    Seal(mpsc::Sender<()>),
    /// Write what is queued, then end the thread.
    Stop,
}

struct Append {
    record: Vec<u8>,
    batch: BatchWrite,
    reservation: Reservation,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The handle pushes use. Cheap to clone.
#[derive(Clone)]
pub struct IngestBuffer {
    shared: Arc<Shared>,
}

/// A handle that does not keep the buffer alive.
#[derive(Clone)]
pub struct WeakIngestBuffer {
    shared: std::sync::Weak<Shared>,
}

impl WeakIngestBuffer {
    /// The buffer, unless it is gone.
    pub fn upgrade(&self) -> Option<IngestBuffer> {
        self.shared.upgrade().map(|shared| IngestBuffer { shared })
    }
}

/// The buffer's threads; [`BufferThreads::shutdown`] stores what is held
/// and stops them.
pub struct BufferThreads {
    shared: Arc<Shared>,
    log: Option<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
    /// The log directory is this process's until the threads are gone.
    _log_lock: DirLock,
}

impl IngestBuffer {
    /// Opens the log in `config.dir`, replays what a previous run left in
    /// it (batches whose ids are stored are skipped), and starts the log
    /// and flusher threads. Replayed batches are stored by the first flush,
    /// right away.
    pub fn open(
        config: BufferConfig,
        store: Store,
        metrics: AggregatorMetrics,
        new_frames: Arc<Notify>,
    ) -> Result<(IngestBuffer, BufferThreads), BufferError> {
        let dir = config.dir.clone();
        let log_error = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| BufferError::Log { path, source }
        };
        // Nothing touches the log before this process owns it.
        let log_lock = DirLock::acquire(&dir, "an Augur ingest log")?;
        let segments = ingest_log::list_segments(&dir).map_err(log_error(&dir))?;
        let next_seq = segments.last().map_or(0, |(seq, _)| seq + 1);
        let mut interner = StackInterner::new(interner_bytes(&config));
        let mut replayed = Generation::default();
        let mut ids = HashMap::new();
        let mut seen = HashSet::new();
        for (_, path) in &segments {
            let contents = ingest_log::read_segment(path).map_err(log_error(path))?;
            if contents.torn_bytes > 0 {
                tracing::warn!(
                    segment = %path.display(),
                    bytes = contents.torn_bytes,
                    "ingest log segment ends in a torn record (an append a crash cut short, never acknowledged); ignoring it"
                );
            }
            for record in contents.records {
                if !seen.insert(record.batch_id.clone()) || store.batch_stored(&record.batch_id)? {
                    continue;
                }
                let log_bytes = (record.payload.len() + record.batch_id.len() + 18) as u64;
                match prepare(
                    record.batch_id.clone(),
                    &record.payload,
                    &config.limits,
                    &config.labels,
                    config.window_nanos,
                    record.received_unix_nanos,
                    |stacks| interner.intern(stacks),
                ) {
                    Ok(prepared) => {
                        ids.insert(record.batch_id, IdState::Held);
                        replayed.add(prepared.batch, log_bytes);
                        metrics.batches_replayed.inc();
                    }
                    Err(error) => {
                        metrics.rejected("replay_invalid");
                        tracing::warn!(%error, batch_id = record.batch_id, "a logged batch no longer decodes; skipping it");
                    }
                }
            }
            replayed.segments.push(path.clone());
        }
        if !replayed.batches.is_empty() {
            tracing::info!(
                batches = replayed.batches.len(),
                segments = replayed.segments.len(),
                "replayed the ingest log"
            );
        }
        let mut sealed = VecDeque::new();
        let flush_requested = !replayed.segments.is_empty();
        if flush_requested {
            sealed.push_back(replayed);
        }
        let (log_tx, log_rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ids,
                recent: RecentIds::default(),
                current: Generation::default(),
                sealed,
                flush_requested,
                stop: None,
            }),
            wake_flusher: Condvar::new(),
            interner: Mutex::new(interner),
            store,
            metrics,
            new_frames,
            config,
            log: log_tx,
            flushing: Mutex::new(()),
        });
        shared.publish(&mut shared.lock());
        let writer = SegmentWriter::new(&dir, next_seq);
        let log = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("augur-ingest-log".into())
                .spawn(move || run_log(&shared, writer, &log_rx))
                .map_err(log_error(&dir))?
        };
        let flusher = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("augur-flusher".into())
                .spawn(move || run_flusher(&shared))
                .map_err(log_error(&dir))?
        };
        Ok((
            IngestBuffer {
                shared: shared.clone(),
            },
            BufferThreads {
                shared,
                log: Some(log),
                flusher: Some(flusher),
                _log_lock: log_lock,
            },
        ))
    }

    /// A handle that does not keep the buffer alive.
    pub fn downgrade(&self) -> WeakIngestBuffer {
        WeakIngestBuffer {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Claims `batch_id` for a push, unless it is held or being logged, or
    /// the buffer is full.
    pub fn reserve(&self, batch_id: &str) -> Reserve {
        let mut state = self.shared.lock();
        match state.ids.get(batch_id) {
            Some(IdState::Held) => return Reserve::Held,
            Some(IdState::InFlight) => return Reserve::InFlight,
            None if state.recent.contains(batch_id) => return Reserve::Held,
            None => {}
        }
        let config = &self.shared.config;
        if self.shared.held_bytes(&state) >= config.max_bytes
            || Shared::log_bytes(&state) >= config.max_log_bytes
        {
            state.flush_requested = true;
            self.shared.wake_flusher.notify_one();
            return Reserve::Full;
        }
        state.ids.insert(batch_id.to_owned(), IdState::InFlight);
        Reserve::Reserved(Reservation {
            shared: self.shared.clone(),
            batch_id: batch_id.to_owned(),
            armed: true,
        })
    }

    /// The store flushes go to.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Runs `f` with the stack interner (for decoding a batch to hold).
    pub fn with_interner<T>(&self, f: impl FnOnce(&mut StackInterner) -> T) -> T {
        f(&mut self
            .shared
            .interner
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Logs `batch` (its encoded log `record`) durably and holds it; the
    /// batch is acknowledged-safe when this returns `Ok`.
    pub async fn append(
        &self,
        record: Vec<u8>,
        batch: BatchWrite,
        reservation: Reservation,
    ) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .log
            .send(LogCommand::Append(Append {
                record,
                batch,
                reservation,
                reply,
            }))
            .map_err(|_| "the ingest log is closed".to_string())?;
        answer
            .await
            .map_err(|_| "the ingest log stopped before answering".to_string())?
    }

    /// Stores everything held now, from the caller's thread; used at
    /// shutdown and by tests.
    pub fn flush(&self) -> Result<(), StorageError> {
        flush(&self.shared)
    }
}

impl BufferThreads {
    /// Stores what is held, then stops both threads. What cannot be stored
    /// stays in the log for the next start.
    pub fn shutdown(mut self) {
        self.stop(Stop::Flush);
    }

    /// Stops both threads without storing anything, as a crash would.
    #[cfg(test)]
    pub fn abandon(mut self) {
        self.stop(Stop::Abandon);
    }

    fn stop(&mut self, how: Stop) {
        {
            let mut state = self.shared.lock();
            state.stop = Some(how);
            self.shared.wake_flusher.notify_all();
        }
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        let _ = self.shared.log.send(LogCommand::Stop);
        if let Some(log) = self.log.take() {
            let _ = log.join();
        }
    }
}

/// The log thread: writes each group of queued appends with one fsync,
/// holds their batches, answers them; seals on request.
fn run_log(shared: &Shared, mut writer: SegmentWriter, commands: &mpsc::Receiver<LogCommand>) {
    let mut group: Vec<Append> = Vec::new();
    let mut buf = Vec::new();
    while let Ok(first) = commands.recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                LogCommand::Append(append) => {
                    group.push(append);
                    if group.len() < MAX_GROUP {
                        next = commands.try_recv().ok();
                    }
                }
                LogCommand::Seal(done) => {
                    commit_group(shared, &mut writer, &mut group, &mut buf);
                    let segments = writer.seal();
                    let mut state = shared.lock();
                    let mut generation = std::mem::take(&mut state.current);
                    generation.segments.extend(segments);
                    state.sealed.push_back(generation);
                    drop(state);
                    let _ = done.send(());
                    next = commands.try_recv().ok();
                }
                LogCommand::Stop => {
                    commit_group(shared, &mut writer, &mut group, &mut buf);
                    return;
                }
            }
        }
        commit_group(shared, &mut writer, &mut group, &mut buf);
    }
}

fn commit_group(
    shared: &Shared,
    writer: &mut SegmentWriter,
    group: &mut Vec<Append>,
    buf: &mut Vec<u8>,
) {
    if group.is_empty() {
        return;
    }
    buf.clear();
    for append in group.iter() {
        buf.extend_from_slice(&append.record);
    }
    let started = Instant::now();
    let written = writer.append(buf);
    let metrics = &shared.metrics;
    metrics.ingest_log_syncs.inc();
    metrics
        .ingest_log_sync_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.ingest_log_group_batches.observe(group.len() as f64);
    let mut replies = Vec::with_capacity(group.len());
    // Reservations of failed appends free their ids when dropped, which
    // takes the lock: keep them until it is released.
    let mut failed = Vec::new();
    let mut state = shared.lock();
    match &written {
        Ok(()) => {
            for mut append in group.drain(..) {
                append.reservation.armed = false;
                let id = std::mem::take(&mut append.reservation.batch_id);
                state.ids.insert(id, IdState::Held);
                state.current.add(append.batch, append.record.len() as u64);
                replies.push((append.reply, Ok(())));
            }
            shared.publish(&mut state);
        }
        Err(error) => {
            tracing::error!(%error, batches = group.len(), "writing the ingest log failed");
            for append in group.drain(..) {
                replies.push((
                    append.reply,
                    Err(format!("ingest log write failed: {error}")),
                ));
                failed.push(append.reservation);
            }
        }
    }
    drop(state);
    drop(failed);
    for (reply, answer) in replies {
        let _ = reply.send(answer);
    }
}

/// The flusher thread: flushes every `flush_interval`, or when asked.
fn run_flusher(shared: &Shared) {
    let interval = shared.config.flush_interval;
    loop {
        let stop = {
            let deadline = Instant::now() + interval;
            let mut state = shared.lock();
            loop {
                if state.flush_requested || state.stop.is_some() {
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                state = shared
                    .wake_flusher
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            state.flush_requested = false;
            state.stop
        };
        match stop {
            #[cfg(test)]
            Some(Stop::Abandon) => return,
            Some(Stop::Flush) => {
                if let Err(error) = flush(shared) {
                    tracing::warn!(%error, "storing the ingest buffer at shutdown failed; the log keeps it for the next start");
                }
                return;
            }
            None => {
                if let Err(error) = flush(shared) {
                    tracing::warn!(%error, "storing the ingest buffer failed; trying again next interval");
                }
            }
        }
    }
}

/// Seals what is held and stores every sealed generation, oldest first.
/// Stops at the first that fails; it stays queued (and logged) for the
/// next try.
fn flush(shared: &Shared) -> Result<(), StorageError> {
    let _one = shared
        .flushing
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let has_current = !shared.lock().current.batches.is_empty();
    if has_current {
        let (done, sealed) = mpsc::channel();
        if shared.log.send(LogCommand::Seal(done)).is_ok() {
            let _ = sealed.recv();
        }
    }
    loop {
        let batches = {
            let mut state = shared.lock();
            match state.sealed.front_mut() {
                Some(generation) => std::mem::take(&mut generation.batches),
                None => return Ok(()),
            }
        };
        let started = Instant::now();
        let written = shared.store.write_batches(&batches);
        let metrics = &shared.metrics;
        let outcomes = match written {
            Ok(outcomes) => outcomes,
            Err(error) => {
                metrics.flush_failures.inc();
                let mut state = shared.lock();
                if let Some(generation) = state.sealed.front_mut() {
                    generation.batches = batches;
                }
                return Err(error);
            }
        };
        metrics.flushes.inc();
        metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        for (batch, outcome) in batches.iter().zip(&outcomes) {
            match outcome {
                Ok(WriteOutcome::Stored { .. }) => {
                    metrics.batches_flushed.inc();
                }
                // Stored by someone else since it was checked: counted once.
                Ok(WriteOutcome::Duplicate) => {
                    metrics.batches_duplicate.inc();
                }
                Err(error) => {
                    let reason = match error {
                        StorageError::UnitConflict { .. } => "unit_conflict",
                        _ => "invalid",
                    };
                    metrics
                        .batches_dropped_at_flush
                        .get_or_create(&vec![("reason", reason.to_string())])
                        .inc();
                    tracing::error!(%error, batch_id = batch.batch_id, "storage refused an acknowledged batch; dropping it");
                }
            }
        }
        let segments = {
            let mut state = shared.lock();
            let generation = state
                .sealed
                .pop_front()
                .expect("only the flush removes sealed generations");
            for (batch, outcome) in batches.iter().zip(&outcomes) {
                state.ids.remove(&batch.batch_id);
                // A refused batch is not stored: its retry must not be
                // told it is.
                if outcome.is_ok() {
                    state.recent.insert(&batch.batch_id);
                }
            }
            shared.publish(&mut state);
            generation.segments
        };
        for segment in segments {
            if let Err(error) = std::fs::remove_file(&segment) {
                // Its batches are stored; a replay would skip them.
                tracing::warn!(%error, segment = %segment.display(), "deleting a flushed ingest log segment failed");
            }
        }
        // New frames may wait for names now.
        shared.new_frames.notify_waiters();
    }
}
