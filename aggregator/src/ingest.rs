//! The gRPC ingest service: validate, merge, store durably, then acknowledge.
//!
//! A batch is acknowledged only after its storage transaction committed, and
//! its id is recorded in that same transaction, so a retry after a lost reply
//! is recognised and counted once. Malformed input gets `INVALID_ARGUMENT`
//! with the reason; storage trouble gets `UNAVAILABLE`, which agents retry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use augur_storage::{BatchWrite, Store, WindowWrite, WriteOutcome};
use augur_wire::batch::{self, Limits, ValidBatch};
use augur_wire::ingest::ingest_server::Ingest;
use augur_wire::ingest::{PushRequest, PushResponse};
use tokio::sync::{Notify, Semaphore};
use tonic::{Request, Response, Status};

use crate::merge::merge_batch_owned;
use crate::metrics::AggregatorMetrics;

/// Longest accepted batch id.
const MAX_BATCH_ID_LEN: usize = 256;

/// Implementation of `augur.ingest.v1.Ingest`.
pub struct IngestService {
    store: Store,
    limits: Limits,
    window_nanos: i64,
    metrics: AggregatorMetrics,
    new_frames: Arc<Notify>,
    /// Batches being decoded or stored; bounds memory (each may inflate to
    /// `limits.max_decompressed`) and the queue in front of storage.
    in_flight: Arc<Semaphore>,
    /// When the symbolizer workers were last woken.
    last_wake: Mutex<Option<Instant>>,
}

/// How long a push waits for a slot before it is answered with
/// `RESOURCE_EXHAUSTED`, which tells the agent to spool and retry.
const SLOT_WAIT: Duration = Duration::from_millis(200);

/// Least time between two wake-ups of the symbolizer workers. Each wake-up
/// costs them a scan for pending frames; woken per batch at 1,000 batches/s
/// they took an eighth of the server's CPU. A batch that is not followed by
/// a wake-up still has its frames picked up by the workers' own one-second
/// look.
const WAKE_INTERVAL: Duration = Duration::from_millis(50);

impl IngestService {
    /// A service storing into `store`, merging into windows of `window_nanos`.
    pub fn new(
        store: Store,
        limits: Limits,
        window_nanos: i64,
        metrics: AggregatorMetrics,
        new_frames: Arc<Notify>,
        max_in_flight: usize,
    ) -> Self {
        Self {
            store,
            limits,
            window_nanos,
            metrics,
            new_frames,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            last_wake: Mutex::new(None),
        }
    }

    /// Tells the symbolizer workers about new frames, at most once per
    /// [`WAKE_INTERVAL`].
    fn wake_symbolizers(&self) {
        let now = Instant::now();
        let mut last = self
            .last_wake
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| now.duration_since(at) < WAKE_INTERVAL) {
            return;
        }
        *last = Some(now);
        drop(last);
        // Every shard's worker may have new frames.
        self.new_frames.notify_waiters();
    }

    fn reject(&self, reason: &str, message: String) -> Status {
        self.metrics.rejected(reason);
        tracing::warn!(reason, message, "batch rejected");
        Status::invalid_argument(message)
    }
}

/// The storage write for a validated batch: its windows, merged. The batch
/// is consumed, so its stacks move into the write rather than being copied.
pub fn batch_write(batch_id: String, mut batch: ValidBatch, window_nanos: i64) -> BatchWrite {
    let received_unix_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let binaries = std::mem::take(&mut batch.binaries);
    let (profile_type, period) = (batch.profile_type.clone(), batch.period);
    let windows = merge_batch_owned(batch, window_nanos)
        .into_iter()
        .map(|(key, stacks)| WindowWrite {
            service: key.service,
            labels: key.labels,
            profile_type: profile_type.clone(),
            period,
            window_start_unix_nanos: key.window_start_unix_nanos,
            stacks,
        })
        .collect();
    BatchWrite {
        batch_id,
        received_unix_nanos,
        binaries,
        windows,
    }
}

/// A batch decoded, validated and merged, ready for storage.
struct Prepared {
    write: BatchWrite,
    samples: u64,
    /// What the agent lost before sending, by reason.
    dropped: BTreeMap<String, u64>,
}

/// Everything a push needs before storage, as one piece of CPU work.
fn prepare(
    batch_id: String,
    payload: &[u8],
    limits: &Limits,
    window_nanos: i64,
) -> Result<Prepared, batch::BatchError> {
    let mut batch = batch::decompress(payload, limits).and_then(|b| batch::validate(b, limits))?;
    let dropped = std::mem::take(&mut batch.dropped);
    let samples = batch.total_samples();
    Ok(Prepared {
        write: batch_write(batch_id, batch, window_nanos),
        samples,
        dropped,
    })
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

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let started = Instant::now();
        // Backpressure: a bounded number of batches in flight; the rest are
        // told to come back, and agents keep them in their spool meanwhile.
        let _slot = match tokio::time::timeout(SLOT_WAIT, self.in_flight.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                self.metrics.rejected("backpressure");
                return Err(Status::resource_exhausted(
                    "too many batches in flight; keep this one and retry later",
                ));
            }
        };
        let _in_flight = InFlight::enter(&self.metrics);
        let PushRequest { batch_id, payload } = request.into_inner();
        if batch_id.is_empty() || batch_id.len() > MAX_BATCH_ID_LEN {
            return Err(self.reject(
                "bad_batch_id",
                format!("batch_id must be 1..={MAX_BATCH_ID_LEN} bytes"),
            ));
        }
        let (limits, window_nanos) = (self.limits.clone(), self.window_nanos);
        let store = self.store.clone();
        let id = batch_id.clone();
        // Decompression, decoding and merging are CPU work and storage
        // blocks: one trip to the blocking pool for both, off the reactor.
        let stored = tokio::task::spawn_blocking(move || {
            let prepared = prepare(id, &payload, &limits, window_nanos)?;
            let outcome = store.write_batch(&prepared.write);
            Ok::<_, batch::BatchError>((outcome, prepared.samples, prepared.dropped))
        })
        .await
        .map_err(|e| Status::internal(format!("ingest task failed: {e}")))?;
        let (outcome, samples, dropped) = match stored {
            Ok(stored) => stored,
            Err(error) => {
                return Err(self.reject(error.reason(), format!("batch {batch_id}: {error}")));
            }
        };
        for (reason, n) in dropped {
            self.metrics
                .agent_samples_lost
                .get_or_create(&vec![("reason", reason)])
                .inc_by(n);
        }
        let response = match outcome {
            Ok(WriteOutcome::Stored { samples: stored }) => {
                self.metrics.batches_accepted.inc();
                self.metrics.samples_accepted.inc_by(stored);
                self.wake_symbolizers();
                debug_assert_eq!(stored, samples);
                PushResponse {
                    duplicate: false,
                    samples_accepted: stored,
                }
            }
            Ok(WriteOutcome::Duplicate) => {
                self.metrics.batches_duplicate.inc();
                PushResponse {
                    duplicate: true,
                    samples_accepted: 0,
                }
            }
            Err(error) => {
                self.metrics.rejected("storage_error");
                tracing::error!(%error, batch_id, "storing a batch failed");
                return Err(Status::unavailable(format!(
                    "storage failed, retry later: {error}"
                )));
            }
        };
        self.metrics
            .ingest_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(Response::new(response))
    }
}

#[cfg(test)]
mod tests {
    use augur_wire::ingest::{Batch, Process, Sample, frame};

    use super::*;

    fn service(dir: &std::path::Path, max_in_flight: usize) -> (IngestService, AggregatorMetrics) {
        let store = Store::open(&dir.join("augur.db")).unwrap();
        let metrics = AggregatorMetrics::default();
        let service = IngestService::new(
            store,
            Limits::default(),
            60_000_000_000,
            metrics.clone(),
            Arc::new(Notify::new()),
            max_in_flight,
        );
        (service, metrics)
    }

    fn push(batch_id: &str) -> Request<PushRequest> {
        let batch = Batch {
            host: "h".into(),
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            profile_type: "cpu".into(),
            unit: "nanoseconds".into(),
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

    #[tokio::test]
    async fn a_full_aggregator_answers_resource_exhausted_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (service, metrics) = service(dir.path(), 0);
        let err = service.push(push("b1")).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert_eq!(metrics.batches_accepted.get(), 0);
        assert_eq!(
            metrics
                .batches_rejected
                .get_or_create(&vec![("reason", "backpressure".to_string())])
                .get(),
            1
        );
        assert_eq!(metrics.in_flight.get(), 0);
    }

    #[tokio::test]
    async fn a_free_slot_stores_and_a_retry_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let (service, metrics) = service(dir.path(), 1);
        let first = service.push(push("b1")).await.unwrap().into_inner();
        assert_eq!((first.duplicate, first.samples_accepted), (false, 3));
        let retry = service.push(push("b1")).await.unwrap().into_inner();
        assert!(retry.duplicate);
        assert_eq!(metrics.samples_accepted.get(), 3);
        assert_eq!(metrics.in_flight.get(), 0, "slots are given back");
    }
}
