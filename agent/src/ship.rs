//! Ships batches to the aggregator over gRPC, retrying with backoff.
//!
//! Batches wait in a bounded backlog while the server is unreachable or asks
//! for backpressure; when the backlog is full the oldest batch is dropped and
//! counted. A batch the server refuses as invalid is dropped and counted too,
//! since retrying it cannot succeed. (A disk spool replaces the in-memory
//! backlog in a later step.)

use std::collections::VecDeque;
use std::time::Duration;

use augur_wire::batch::{ValidBatch, compress, to_wire};
use augur_wire::ingest::PushRequest;
use augur_wire::ingest::ingest_client::IngestClient;
use tokio::sync::mpsc;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::metrics::AgentMetrics;

/// Where and how to ship.
#[derive(Clone, Debug)]
pub struct ShipperConfig {
    /// Aggregator URL, e.g. `http://127.0.0.1:7070`.
    pub server: String,
    /// Batches kept while the server is away.
    pub max_backlog: usize,
    /// zstd level for payloads.
    pub compression_level: i32,
}

struct Pending {
    request: PushRequest,
    samples: u64,
}

/// Sends every batch received on `batches` until the channel closes, then
/// makes one last attempt to flush the backlog.
pub async fn ship(
    config: ShipperConfig,
    mut batches: mpsc::Receiver<(String, ValidBatch)>,
    metrics: AgentMetrics,
) {
    let channel = match Endpoint::from_shared(config.server.clone()) {
        Ok(endpoint) => endpoint
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy(),
        Err(error) => {
            tracing::error!(%error, server = config.server, "invalid server URL; batches will not be sent");
            while let Some((_, batch)) = batches.recv().await {
                metrics.dropped_batch("invalid_server_url", batch.total_samples());
            }
            return;
        }
    };
    let mut client = IngestClient::new(channel).max_encoding_message_size(64 << 20);
    let mut backlog: VecDeque<Pending> = VecDeque::new();
    let mut backoff = Duration::from_millis(500);
    loop {
        let healthy = flush(&mut client, &mut backlog, &metrics).await;
        metrics.backlog.set(backlog.len() as i64);
        if healthy {
            backoff = Duration::from_millis(500);
        }
        tokio::select! {
            next = batches.recv() => match next {
                Some((id, batch)) => enqueue(&config, &mut backlog, id, &batch, &metrics),
                None => {
                    flush(&mut client, &mut backlog, &metrics).await;
                    for pending in backlog.drain(..) {
                        metrics.dropped_batch("shutdown_unsent", pending.samples);
                    }
                    metrics.backlog.set(0);
                    return;
                }
            },
            () = tokio::time::sleep(backoff), if !healthy => {
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn enqueue(
    config: &ShipperConfig,
    backlog: &mut VecDeque<Pending>,
    id: String,
    batch: &ValidBatch,
    metrics: &AgentMetrics,
) {
    let samples = batch.total_samples();
    let payload = match compress(&to_wire(batch), config.compression_level) {
        Ok(payload) => payload,
        Err(error) => {
            tracing::error!(%error, "compressing a batch failed");
            metrics.dropped_batch("compression_failed", samples);
            return;
        }
    };
    if backlog.len() >= config.max_backlog {
        if let Some(oldest) = backlog.pop_front() {
            metrics.dropped_batch("backlog_full", oldest.samples);
        }
    }
    backlog.push_back(Pending {
        request: PushRequest {
            batch_id: id,
            payload,
        },
        samples,
    });
}

/// Sends the backlog in order; returns false if the server should be given time.
async fn flush(
    client: &mut IngestClient<Channel>,
    backlog: &mut VecDeque<Pending>,
    metrics: &AgentMetrics,
) -> bool {
    while let Some(pending) = backlog.front() {
        match client.push(pending.request.clone()).await {
            Ok(_) => {
                metrics.batches_sent.inc();
                backlog.pop_front();
            }
            Err(status) if matches!(status.code(), Code::InvalidArgument | Code::OutOfRange) => {
                tracing::error!(code = ?status.code(), message = status.message(), "server refused a batch; dropping it");
                metrics.dropped_batch("refused", pending.samples);
                backlog.pop_front();
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), backlog = backlog.len(), "push failed; will retry");
                metrics.send_failures.inc();
                return false;
            }
        }
    }
    true
}
