//! The gRPC ingest service: validate, log durably, hold, then acknowledge.
//!
//! A batch is acknowledged only after its payload is fsynced in the ingest
//! log and its decoded windows are held in the [`IngestBuffer`], which
//! stores them with many others at its next flush, batch ids included, so
//! a retry after a lost reply is recognised and counted once: while held by
//! the buffer, and once stored by storage. Malformed input, and a batch over
//! a size or count limit, gets `INVALID_ARGUMENT` with the reason; trouble
//! with the log or storage gets `UNAVAILABLE`, and a full buffer
//! `RESOURCE_EXHAUSTED`, as does a batch that would take more decode memory
//! than the batches being decoded leave; agents retry all of these. What fits once cut down (deep
//! stacks, extra labels, label values beyond their service's bound) is cut
//! down, stored and counted in `augur_aggregator_limit_hits_total`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use augur_storage::StorageError;
use augur_wire::batch::{self, Limits};
use augur_wire::ingest::ingest_server::Ingest;
use augur_wire::ingest::{PushRequest, PushResponse};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::buffer::{IngestBuffer, Reserve};
use crate::cardinality::LabelCardinality;
use crate::ingest_log::encode_record;
use crate::metrics::AggregatorMetrics;
use crate::prepare::{Prepared, prepare};

/// Longest accepted batch id.
const MAX_BATCH_ID_LEN: usize = 256;

/// Implementation of `augur.ingest.v1.Ingest`.
pub struct IngestService {
    buffer: IngestBuffer,
    limits: Limits,
    labels: Arc<LabelCardinality>,
    window_nanos: i64,
    metrics: AggregatorMetrics,
    /// Batches being decoded or logged; bounds memory (each may inflate to
    /// `limits.max_decompressed`) and the queue in front of the log.
    in_flight: Arc<Semaphore>,
}

/// How long a push waits for a slot before it is answered with
/// `RESOURCE_EXHAUSTED`, which tells the agent to spool and retry.
const SLOT_WAIT: Duration = Duration::from_millis(200);

impl IngestService {
    /// A service holding batches in `buffer`, merged into windows of
    /// `window_nanos`, with label values bounded by `labels`.
    pub fn new(
        buffer: IngestBuffer,
        limits: Limits,
        labels: Arc<LabelCardinality>,
        window_nanos: i64,
        metrics: AggregatorMetrics,
        max_in_flight: usize,
    ) -> Self {
        Self {
            buffer,
            limits,
            labels,
            window_nanos,
            metrics,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
        }
    }

    fn duplicate(&self, started: Instant) {
        self.metrics.batches_duplicate.inc();
        self.metrics
            .ingest_seconds
            .observe(started.elapsed().as_secs_f64());
    }
}

fn now_unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Counts a batch in `augur_aggregator_batches_in_flight` while it lives.
struct InFlight<'a>(&'a AggregatorMetrics);

impl<'a> InFlight<'a> {
    fn enter(metrics: &'a AggregatorMetrics) -> Self {
        metrics.in_flight.inc();
        Self(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// What the blocking part of a push found.
enum Decoded {
    /// Storage has the id: a retry of a flushed batch.
    Stored,
    /// Ready to log: the record, the batch and its counts.
    Ready(Vec<u8>, Prepared),
}

/// Why a push was refused. Each kind answers with one gRPC status and is
/// counted under one `reason` in `augur_aggregator_batches_rejected_total`:
/// [`PushError::code`] and [`PushError::reason`] are the only places that
/// decide either.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// No slot came free in time.
    #[error("too many batches in flight; keep this one and retry later")]
    Backpressure,
    /// The batch id is empty or too long.
    #[error("batch_id must be 1..={MAX_BATCH_ID_LEN} bytes")]
    BadBatchId,
    /// Another push is storing the same batch id right now.
    #[error("this batch id is being stored by another push; retry later")]
    InFlightRetry,
    /// The buffer holds as much as it may.
    #[error("the ingest buffer is full; keep this batch and retry later")]
    BufferFull,
    /// Storage could not say whether it has the batch id.
    #[error("storage failed, retry later: {0}")]
    Storage(#[source] StorageError),
    /// The batch is malformed, over a limit, or would take more decode
    /// memory than is free now.
    #[error("{0}")]
    Batch(#[source] batch::BatchError),
    /// The ingest log did not take the batch.
    #[error("the ingest log failed, retry later: {0}")]
    Log(String),
    /// The blocking part of the push failed to run.
    #[error("ingest task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

impl PushError {
    /// The gRPC status code the agent sees: `RESOURCE_EXHAUSTED` and
    /// `UNAVAILABLE` tell it to keep the batch and retry.
    pub fn code(&self) -> tonic::Code {
        match self {
            PushError::Backpressure | PushError::BufferFull => tonic::Code::ResourceExhausted,
            // Nothing wrong with the batch: the agent keeps it and sends it
            // again.
            PushError::Batch(batch::BatchError::Busy { .. }) => tonic::Code::ResourceExhausted,
            PushError::BadBatchId | PushError::Batch(_) => tonic::Code::InvalidArgument,
            PushError::InFlightRetry | PushError::Storage(_) | PushError::Log(_) => {
                tonic::Code::Unavailable
            }
            PushError::Task(_) => tonic::Code::Internal,
        }
    }

    /// The `reason` label it is counted under; `None` for a failure of our
    /// own that says nothing about the batch.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            PushError::Backpressure => Some("backpressure"),
            PushError::BadBatchId => Some("bad_batch_id"),
            PushError::InFlightRetry => Some("in_flight_retry"),
            PushError::BufferFull => Some("buffer_full"),
            PushError::Storage(_) => Some("storage_error"),
            PushError::Batch(error) => Some(error.reason()),
            PushError::Log(_) => Some("log_error"),
            PushError::Task(_) => None,
        }
    }

    /// The limit this refusal hit, as in
    /// `augur_aggregator_limit_hits_total{limit=...}`.
    fn limit(&self) -> Option<&'static str> {
        match self {
            PushError::Batch(error) => error.limit(),
            _ => None,
        }
    }

    /// Counts and logs the refusal of `batch_id`, and turns it into the
    /// status the agent gets.
    fn into_status(self, batch_id: &str, metrics: &AggregatorMetrics) -> Status {
        if let Some(limit) = self.limit() {
            metrics.limit_hit(limit, 1);
        }
        if let Some(reason) = self.reason() {
            metrics.rejected(reason);
        }
        let message = match &self {
            PushError::Batch(_) => format!("batch {batch_id}: {self}"),
            _ => self.to_string(),
        };
        match &self {
            PushError::Storage(error) => {
                tracing::error!(%error, batch_id, "looking up a batch id failed");
            }
            _ if self.code() == tonic::Code::InvalidArgument => {
                tracing::warn!(reason = self.reason(), message, "batch rejected");
            }
            _ => {}
        }
        Status::new(self.code(), message)
    }
}

/// What an accepted push was.
enum Accepted {
    /// A retry of a batch held or stored already.
    Duplicate,
    /// A new batch of this many samples, now durable and held.
    Fresh(u64),
}

impl IngestService {
    /// Takes one batch: a slot, its id, the blocking decode, the log.
    async fn accept(&self, batch_id: &str, payload: Vec<u8>) -> Result<Accepted, PushError> {
        // Backpressure: a bounded number of batches in flight; the rest are
        // told to come back, and agents keep them in their spool meanwhile.
        let _slot = match tokio::time::timeout(SLOT_WAIT, self.in_flight.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(PushError::Backpressure),
        };
        let _in_flight = InFlight::enter(&self.metrics);
        if batch_id.is_empty() || batch_id.len() > MAX_BATCH_ID_LEN {
            return Err(PushError::BadBatchId);
        }
        let reservation = match self.buffer.reserve(batch_id) {
            Reserve::Reserved(reservation) => reservation,
            Reserve::Held => return Ok(Accepted::Duplicate),
            Reserve::InFlight => return Err(PushError::InFlightRetry),
            Reserve::Full => return Err(PushError::BufferFull),
        };
        let (limits, window_nanos) = (self.limits.clone(), self.window_nanos);
        let (buffer, labels) = (self.buffer.clone(), self.labels.clone());
        let id = batch_id.to_owned();
        // The id lookup, decompression, decoding and merging are blocking
        // and CPU work: one trip to the blocking pool, off the reactor.
        let decoded = tokio::task::spawn_blocking(move || {
            if buffer
                .store()
                .batch_stored(&id)
                .map_err(PushError::Storage)?
            {
                return Ok(Decoded::Stored);
            }
            let received = now_unix_nanos();
            let prepared = prepare(
                id,
                &payload,
                &limits,
                &labels,
                window_nanos,
                received,
                |stacks| buffer.with_interner(|interner| interner.intern(stacks)),
            )
            .map_err(PushError::Batch)?;
            let mut record = Vec::with_capacity(payload.len() + 64);
            encode_record(&prepared.batch.batch_id, received, &payload, &mut record);
            Ok(Decoded::Ready(record, prepared))
        })
        .await
        .map_err(PushError::Task)??;
        let (record, prepared) = match decoded {
            Decoded::Ready(record, prepared) => (record, prepared),
            Decoded::Stored => return Ok(Accepted::Duplicate),
        };
        let Prepared {
            batch,
            samples,
            dropped,
            limit_hits,
        } = prepared;
        self.metrics
            .label_values_tracked
            .set(self.labels.tracked() as i64);
        self.buffer
            .append(record, batch, reservation)
            .await
            .map_err(PushError::Log)?;
        for (reason, n) in dropped {
            self.metrics
                .agent_samples_lost
                .get_or_create(&vec![("reason", reason)])
                .inc_by(n);
        }
        if !limit_hits.is_empty() {
            tracing::debug!(batch_id, ?limit_hits, "batch cut down to fit the limits");
        }
        for (limit, n) in limit_hits {
            self.metrics.limit_hit(limit, n);
        }
        Ok(Accepted::Fresh(samples))
    }
}

impl IngestService {
    /// Takes one batch and counts it as every push is counted: accepted,
    /// duplicate, or refused with its reason. Returns whether it was a
    /// duplicate and the samples stored, or the status the refusal is.
    pub(crate) async fn push_counted(
        &self,
        batch_id: &str,
        payload: Vec<u8>,
        started: Instant,
    ) -> Result<(bool, u64), Status> {
        match self.accept(batch_id, payload).await {
            Ok(Accepted::Duplicate) => {
                self.duplicate(started);
                Ok((true, 0))
            }
            Ok(Accepted::Fresh(samples)) => {
                self.metrics.batches_accepted.inc();
                self.metrics.samples_accepted.inc_by(samples);
                self.metrics
                    .ingest_seconds
                    .observe(started.elapsed().as_secs_f64());
                Ok((false, samples))
            }
            Err(error) => Err(error.into_status(batch_id, &self.metrics)),
        }
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let started = Instant::now();
        let PushRequest { batch_id, payload } = request.into_inner();
        match self.push_counted(&batch_id, payload, started).await {
            Ok((duplicate, samples)) => Ok(Response::new(PushResponse {
                duplicate,
                samples_accepted: samples,
            })),
            Err(status) => Err(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use augur_storage::Store;
    use augur_wire::ingest::{Batch, Process, Sample, frame};
    use tokio::sync::Notify;

    use super::*;
    use crate::buffer::{BufferConfig, BufferThreads};

    const WINDOW: i64 = 60_000_000_000;

    struct Fixture {
        service: IngestService,
        metrics: AggregatorMetrics,
        store: Store,
        buffer: IngestBuffer,
        threads: BufferThreads,
    }

    /// A service over a buffer that never flushes by itself: tests flush.
    fn fixture(dir: &Path, max_in_flight: usize, max_bytes: u64) -> Fixture {
        let store = Store::open(&dir.join("augur.db")).unwrap();
        let metrics = AggregatorMetrics::default();
        let (buffer, threads) = open_buffer(dir, &store, &metrics, max_bytes);
        let service = IngestService::new(
            buffer.clone(),
            Limits::default(),
            Arc::new(LabelCardinality::new(Default::default())),
            WINDOW,
            metrics.clone(),
            max_in_flight,
        );
        Fixture {
            service,
            metrics,
            store,
            buffer,
            threads,
        }
    }

    fn open_buffer(
        dir: &Path,
        store: &Store,
        metrics: &AggregatorMetrics,
        max_bytes: u64,
    ) -> (IngestBuffer, BufferThreads) {
        let config = BufferConfig {
            dir: dir.join("ingest-log"),
            flush_interval: Duration::from_secs(3600),
            max_bytes,
            max_log_bytes: 1 << 30,
            limits: Limits::default(),
            labels: Arc::new(LabelCardinality::new(Default::default())),
            window_nanos: WINDOW,
        };
        IngestBuffer::open(
            config,
            store.clone(),
            metrics.clone(),
            Arc::new(Notify::new()),
        )
        .unwrap()
    }

    fn push(batch_id: &str) -> Request<PushRequest> {
        push_in(batch_id, "nanoseconds")
    }

    /// A push of 3 `cpu` samples in `unit`; any unit but the first one
    /// stored is refused by storage.
    fn push_in(batch_id: &str, unit: &str) -> Request<PushRequest> {
        let batch = Batch {
            host: "h".into(),
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            profile_type: "cpu".into(),
            unit: unit.into(),
            period: 1,
            binaries: vec![],
            processes: vec![Process {
                pid: 1,
                labels: [("service".to_string(), "s".to_string())].into(),
            }],
            samples: vec![Sample {
                process: 0,
                frames: vec![augur_wire::ingest::Frame {
                    kind: Some(frame::Kind::Unknown("x".into())),
                }],
                count: 3,
            }],
            dropped: Default::default(),
        };
        Request::new(PushRequest {
            batch_id: batch_id.into(),
            payload: batch::compress(&batch, 1).unwrap(),
        })
    }

    fn stored(store: &Store) -> (u64, u64) {
        let services = store.services().unwrap();
        let samples = services.iter().map(|s| s.total_samples).sum();
        (store.stats().unwrap().batches, samples)
    }

    #[tokio::test]
    async fn a_full_aggregator_answers_resource_exhausted_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = fixture(dir.path(), 0, 1 << 30);
        let err = f.service.push(push("b1")).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert_eq!(f.metrics.batches_accepted.get(), 0);
        assert_eq!(
            f.metrics
                .batches_rejected
                .get_or_create(&vec![("reason", "backpressure".to_string())])
                .get(),
            1
        );
        assert_eq!(f.metrics.in_flight.get(), 0);
        f.threads.shutdown();
        assert_eq!(stored(&f.store), (0, 0));
    }

    #[tokio::test]
    async fn a_retry_is_a_duplicate_while_held_and_once_stored() {
        let dir = tempfile::tempdir().unwrap();
        let f = fixture(dir.path(), 1, 1 << 30);
        let first = f.service.push(push("b1")).await.unwrap().into_inner();
        assert_eq!((first.duplicate, first.samples_accepted), (false, 3));
        // Acknowledged, held, not stored yet.
        assert_eq!(stored(&f.store), (0, 0));
        assert_eq!(f.metrics.memtable_batches.get(), 1);
        let retry = f.service.push(push("b1")).await.unwrap().into_inner();
        assert!(retry.duplicate, "a retry of a held batch");
        f.buffer.flush().unwrap();
        assert_eq!(stored(&f.store), (1, 3));
        assert_eq!(f.metrics.memtable_batches.get(), 0);
        assert_eq!(f.metrics.ingest_log_segments.get(), 0);
        let retry = f.service.push(push("b1")).await.unwrap().into_inner();
        assert!(retry.duplicate, "a retry of a stored batch");
        assert_eq!(f.metrics.samples_accepted.get(), 3);
        assert_eq!(f.metrics.batches_duplicate.get(), 2);
        assert_eq!(f.metrics.in_flight.get(), 0, "slots are given back");
        f.threads.shutdown();
        assert_eq!(stored(&f.store), (1, 3));
        assert!(
            crate::ingest_log::list_segments(&dir.path().join("ingest-log"))
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_full_buffer_answers_resource_exhausted_until_it_is_flushed() {
        let dir = tempfile::tempdir().unwrap();
        // Any held batch fills it.
        let f = fixture(dir.path(), 4, 1);
        f.service.push(push("b1")).await.unwrap();
        let err = f.service.push(push("b2")).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            f.metrics
                .batches_rejected
                .get_or_create(&vec![("reason", "buffer_full".to_string())])
                .get(),
            1
        );
        assert!(f.metrics.memtable_bytes.get() > 1);
        f.buffer.flush().unwrap();
        // The shared stacks are kept for the next batches; what the held
        // batches took is free again.
        let interned = f.buffer.with_interner(|i| i.bytes()) as i64;
        assert_eq!(f.metrics.memtable_bytes.get(), interned);
        let f = {
            f.threads.shutdown();
            fixture(dir.path(), 4, 1)
        };
        f.service.push(push("b2")).await.unwrap();
        f.threads.shutdown();
        assert_eq!(stored(&f.store), (2, 6));
    }

    #[tokio::test]
    async fn a_crash_loses_and_doubles_nothing_the_log_held() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ingest-log");
        let f = fixture(dir.path(), 4, 1 << 30);
        for id in ["b1", "b2", "b3"] {
            f.service.push(push(id)).await.unwrap();
        }
        // Stopped like a `kill -9`: nothing flushed.
        f.threads.abandon();
        assert_eq!(stored(&f.store), (0, 0));
        // An append the crash cut short, never acknowledged.
        let segments = crate::ingest_log::list_segments(&log).unwrap();
        assert_eq!(segments.len(), 1);
        let mut torn = Vec::new();
        crate::ingest_log::encode_record("b4", 0, b"lost", &mut torn);
        let mut bytes = std::fs::read(&segments[0].1).unwrap();
        bytes.extend_from_slice(&torn[..torn.len() - 2]);
        std::fs::write(&segments[0].1, &bytes).unwrap();
        // Keep the log as it is now, to replay it again after it was stored.
        let kept = std::fs::read(&segments[0].1).unwrap();

        let metrics = AggregatorMetrics::default();
        let (buffer, threads) = open_buffer(dir.path(), &f.store, &metrics, 1 << 30);
        assert_eq!(metrics.batches_replayed.get(), 3);
        assert_eq!(metrics.memtable_batches.get(), 3);
        // A retry of a replayed batch is known before it is stored.
        let service = IngestService::new(
            buffer.clone(),
            Limits::default(),
            Arc::new(LabelCardinality::new(Default::default())),
            WINDOW,
            metrics.clone(),
            4,
        );
        assert!(
            service
                .push(push("b2"))
                .await
                .unwrap()
                .into_inner()
                .duplicate
        );
        buffer.flush().unwrap();
        assert_eq!(stored(&f.store), (3, 9));
        assert!(crate::ingest_log::list_segments(&log).unwrap().is_empty());
        threads.abandon();

        // Crashed after the flush committed but before the segment was
        // deleted: the replay skips every stored batch.
        std::fs::write(&segments[0].1, &kept).unwrap();
        let metrics = AggregatorMetrics::default();
        let (buffer, threads) = open_buffer(dir.path(), &f.store, &metrics, 1 << 30);
        assert_eq!(metrics.batches_replayed.get(), 0);
        buffer.flush().unwrap();
        threads.shutdown();
        assert_eq!(stored(&f.store), (3, 9));
        assert!(crate::ingest_log::list_segments(&log).unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_pushes_share_fsyncs_and_each_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = fixture(dir.path(), 16, 1 << 30);
        let service = Arc::new(f.service);
        let mut pushes = tokio::task::JoinSet::new();
        for i in 0..40 {
            let service = service.clone();
            pushes.spawn(async move {
                let request = match i {
                    // The same batch twice at once: one is stored, the other
                    // is a duplicate or told to retry.
                    8 | 9 => push("twice"),
                    i => push(&format!("b{i}")),
                };
                (i, service.push(request).await)
            });
        }
        let (mut fresh, mut duplicates, mut retry) = (0, 0, 0);
        while let Some(done) = pushes.join_next().await {
            match done.unwrap().1 {
                Ok(answer) if answer.get_ref().duplicate => duplicates += 1,
                Ok(_) => fresh += 1,
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
                    retry += 1;
                }
            }
        }
        assert_eq!((fresh, duplicates + retry), (39, 1));
        assert!(f.metrics.ingest_log_syncs.get() <= 39);
        f.threads.shutdown();
        assert_eq!(stored(&f.store), (39, 39 * 3));
    }

    fn limit_hits(metrics: &AggregatorMetrics, limit: &'static str) -> u64 {
        metrics
            .limit_hits
            .get_or_create(&vec![("limit", limit)])
            .get()
    }

    #[tokio::test]
    async fn what_fits_once_cut_down_is_stored_cut_down_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("augur.db")).unwrap();
        let metrics = AggregatorMetrics::default();
        let (buffer, threads) = open_buffer(dir.path(), &store, &metrics, 1 << 30);
        let labels = Arc::new(LabelCardinality::new(crate::CardinalityConfig {
            max_values: 2,
            ..Default::default()
        }));
        let limits = Limits {
            max_stack_depth: 16,
            max_stacks: 8,
            ..Limits::default()
        };
        let service =
            IngestService::new(buffer.clone(), limits, labels, WINDOW, metrics.clone(), 4);
        let frame = |i: usize| augur_wire::ingest::Frame {
            kind: Some(frame::Kind::Kernel(augur_wire::ingest::KernelFrame {
                function: format!("f{i}"),
                module: String::new(),
            })),
        };
        let batch = Batch {
            host: "h".into(),
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            profile_type: "cpu".into(),
            unit: "nanoseconds".into(),
            period: 1,
            binaries: vec![],
            processes: (0..5)
                .map(|i| Process {
                    pid: i,
                    labels: [("service", "s".to_string()), ("pod", format!("p{i}"))]
                        .map(|(k, v)| (k.to_string(), v))
                        .into(),
                })
                .collect(),
            samples: (0..5)
                .map(|i| Sample {
                    process: i,
                    frames: (0..100_000).map(frame).collect(),
                    count: 1,
                })
                .collect(),
            dropped: Default::default(),
        };
        let request = |id: &str, batch: &Batch| {
            Request::new(PushRequest {
                batch_id: id.into(),
                payload: batch::compress(batch, 1).unwrap(),
            })
        };
        let answer = service
            .push(request("deep", &batch))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.samples_accepted, 5);
        assert_eq!(limit_hits(&metrics, "stack_depth"), 5);
        assert_eq!(limit_hits(&metrics, "label_values"), 3);
        assert_eq!(metrics.label_values_tracked.get(), 3);
        buffer.flush().unwrap();
        let pods = &store.label_values("s").unwrap()["pod"];
        assert_eq!(pods, &["__overflow__", "p0", "p1"]);
        let profile = store
            .query_profile(&augur_storage::ProfileQuery {
                service: "s".into(),
                labels: Default::default(),
                matchers: Vec::new(),
                profile_type: "cpu".into(),
                start_unix_nanos: 0,
                end_unix_nanos: WINDOW,
            })
            .unwrap();
        let stacks = profile.folded_stacks();
        assert_eq!(stacks.len(), 1, "one stack, five samples");
        let (frames, count) = &stacks[0];
        assert_eq!(*count, 5);
        assert_eq!(frames.len(), 16);
        // Root first: the marker, then the leaf-most 15 frames.
        assert_eq!(frames[0], "[truncated]");
        assert_eq!(frames[15], "f0");

        // Over the stacks limit: refused and counted.
        let mut wide = batch.clone();
        wide.samples = vec![wide.samples[0].clone(); 9];
        let err = service.push(request("wide", &wide)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("9 exceed the limit of 8"), "{err}");
        assert_eq!(limit_hits(&metrics, "stacks_per_batch"), 1);
        threads.shutdown();
    }

    #[tokio::test]
    async fn another_unit_for_a_type_is_refused_before_it_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let f = fixture(dir.path(), 4, 1 << 30);
        f.service.push(push("b1")).await.unwrap();
        let error = f.service.push(push_in("b2", "bytes")).await.unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        assert!(error.message().contains("nanoseconds"), "{error}");
        f.buffer.flush().unwrap();
        assert_eq!(stored(&f.store), (1, 3));
        f.threads.shutdown();
    }

    #[tokio::test]
    async fn a_batch_storage_refuses_at_its_flush_is_dropped_alone_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let f = fixture(dir.path(), 4, 1 << 30);
        // A database that already counts `cpu` in another unit (written by
        // an older version): pushes pass validation, storage refuses them
        // when they are flushed.
        f.store
            .write_batch(&augur_storage::BatchWrite {
                batch_id: "legacy".into(),
                received_unix_nanos: 1,
                binaries: vec![],
                windows: vec![augur_storage::WindowWrite {
                    service: "legacy".into(),
                    labels: Default::default(),
                    profile_type: augur_profile::ProfileType {
                        name: "cpu".into(),
                        unit: "bytes".into(),
                    },
                    period: 1,
                    window_start_unix_nanos: 0,
                    stacks: vec![(vec![].into(), 1)],
                }],
            })
            .unwrap();
        f.service.push(push("b1")).await.unwrap();
        f.service.push(push("b2")).await.unwrap();
        f.buffer.flush().unwrap();
        assert_eq!(stored(&f.store).0, 1, "only the legacy batch");
        assert_eq!(
            f.metrics
                .batches_dropped_at_flush
                .get_or_create(&vec![("reason", "unit_conflict".to_string())])
                .get(),
            2
        );
        f.threads.shutdown();
    }
}
