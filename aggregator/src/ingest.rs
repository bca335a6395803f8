//! The gRPC ingest service: validate, merge, store durably, then acknowledge.
//!
//! A batch is acknowledged only after its storage transaction committed, and
//! its id is recorded in that same transaction, so a retry after a lost reply
//! is recognised and counted once. Malformed input gets `INVALID_ARGUMENT`
//! with the reason; storage trouble gets `UNAVAILABLE`, which agents retry.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use augur_storage::{BatchWrite, Store, WindowWrite, WriteOutcome};
use augur_wire::batch::{self, Limits, ValidBatch};
use augur_wire::ingest::ingest_server::Ingest;
use augur_wire::ingest::{PushRequest, PushResponse};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::merge::merge_batch;
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
}

impl IngestService {
    /// A service storing into `store`, merging into windows of `window_nanos`.
    pub fn new(
        store: Store,
        limits: Limits,
        window_nanos: i64,
        metrics: AggregatorMetrics,
        new_frames: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            limits,
            window_nanos,
            metrics,
            new_frames,
        }
    }

    fn reject(&self, reason: &str, message: String) -> Status {
        self.metrics.rejected(reason);
        tracing::warn!(reason, message, "batch rejected");
        Status::invalid_argument(message)
    }
}

/// The storage write for a validated batch: its windows, merged.
pub fn batch_write(batch_id: String, batch: &ValidBatch, window_nanos: i64) -> BatchWrite {
    let received_unix_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let windows = merge_batch(batch, window_nanos)
        .into_iter()
        .map(|(key, stacks)| WindowWrite {
            service: key.service,
            profile_type: batch.profile_type.clone(),
            period: batch.period,
            window_start_unix_nanos: key.window_start_unix_nanos,
            stacks: stacks.into_iter().collect(),
        })
        .collect();
    BatchWrite {
        batch_id,
        received_unix_nanos,
        binaries: batch.binaries.clone(),
        windows,
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let started = Instant::now();
        let PushRequest { batch_id, payload } = request.into_inner();
        if batch_id.is_empty() || batch_id.len() > MAX_BATCH_ID_LEN {
            return Err(self.reject(
                "bad_batch_id",
                format!("batch_id must be 1..={MAX_BATCH_ID_LEN} bytes"),
            ));
        }
        let limits = self.limits.clone();
        // Decompression and decoding are CPU work; keep them off the reactor.
        let decoded = tokio::task::spawn_blocking(move || {
            batch::decompress(&payload, &limits).and_then(|b| batch::validate(b, &limits))
        })
        .await
        .map_err(|e| Status::internal(format!("decoder task failed: {e}")))?;
        let batch = match decoded {
            Ok(batch) => batch,
            Err(error) => {
                return Err(self.reject(error.reason(), format!("batch {batch_id}: {error}")));
            }
        };
        for (reason, n) in &batch.dropped {
            self.metrics
                .agent_samples_lost
                .get_or_create(&vec![("reason", reason.clone())])
                .inc_by(*n);
        }
        let samples = batch.total_samples();
        let write = batch_write(batch_id.clone(), &batch, self.window_nanos);
        let store = self.store.clone();
        let outcome = tokio::task::spawn_blocking(move || store.write_batch(&write))
            .await
            .map_err(|e| Status::internal(format!("storage task failed: {e}")))?;
        let response = match outcome {
            Ok(WriteOutcome::Stored { samples: stored }) => {
                self.metrics.batches_accepted.inc();
                self.metrics.samples_accepted.inc_by(stored);
                self.new_frames.notify_one();
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
