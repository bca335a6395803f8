//! Ships batches to the aggregator over gRPC, through a durable [`Spool`].
//!
//! Two halves run side by side in one task. The writer compresses each batch
//! from the sampling thread and appends it to the spool: a batch is on disk
//! before anyone tries to send it. The sender pushes the spool's oldest batch
//! and deletes it only once the server acknowledged it; a `duplicate` answer
//! is an acknowledgement too (the server stored that id before, and counts it
//! once). A batch the server refuses as invalid (`INVALID_ARGUMENT`,
//! `OUT_OF_RANGE`) is dropped and counted, since retrying cannot help. Any
//! other failure (unreachable, `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, a timeout)
//! keeps the batch and retries after an exponential backoff with jitter.
//!
//! On shutdown the sender tries once more to flush; what remains stays in the
//! spool and the next agent on the same directory sends it, under its
//! original batch id.

pub mod spool;
pub mod transport;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use augur_wire::batch::{ValidBatch, compress, to_wire};
use augur_wire::ingest::PushRequest;
use augur_wire::ingest::ingest_client::IngestClient;
use tokio::sync::{Notify, mpsc, watch};
use tonic::Code;

use crate::metrics::AgentMetrics;
use crate::ship::spool::{Dropped, Spool, SpoolError, SpooledBatch};
use crate::ship::transport::{AuthChannel, ClientSecurity, TransportError};

/// First retry delay after a failed push.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where and how to ship.
#[derive(Clone, Debug)]
pub struct ShipperConfig {
    /// Aggregator URL, e.g. `http://127.0.0.1:7070`.
    pub server: String,
    /// Directory of the on-disk spool.
    pub spool_dir: PathBuf,
    /// Bound of the spool, in bytes on disk.
    pub spool_max_bytes: u64,
    /// zstd level for payloads.
    pub compression_level: i32,
    /// TLS and token for the server.
    pub security: ClientSecurity,
}

/// Why shipping cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ShipperError {
    /// The spool directory cannot be used.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The server URL or its TLS settings cannot be used.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

type SharedSpool = Arc<Mutex<Spool>>;

/// The spool, the connection and the counters; [`Shipper::run`] ships.
pub struct Shipper {
    config: ShipperConfig,
    client: IngestClient<AuthChannel>,
    spool: SharedSpool,
    metrics: AgentMetrics,
}

/// A lazy connection to the server at `url` with `security`; see
/// [`crate::ship::transport::connect`].
pub fn channel(
    url: &str,
    security: &ClientSecurity,
    timeout: Option<Duration>,
) -> Result<AuthChannel, ShipperError> {
    Ok(crate::ship::transport::connect(url, security, timeout)?)
}

impl Shipper {
    /// Opens the spool (resuming what a previous run left) and prepares a
    /// lazy connection to the server; nothing is sent yet.
    pub fn open(config: ShipperConfig, metrics: AgentMetrics) -> Result<Self, ShipperError> {
        let channel = channel(
            &config.server,
            &config.security,
            Some(Duration::from_secs(30)),
        )?;
        let client = IngestClient::new(channel).max_encoding_message_size(64 << 20);
        let (spool, dropped) = Spool::open(&config.spool_dir, config.spool_max_bytes)?;
        count_dropped(&metrics, &dropped);
        metrics.spool_depth(spool.len(), spool.bytes());
        Ok(Self {
            config,
            client,
            spool: Arc::new(Mutex::new(spool)),
            metrics,
        })
    }

    /// Spools every batch received on `batches` and sends the spool, until
    /// the channel closes; then tries once to flush and returns.
    pub async fn run(self, batches: mpsc::Receiver<(String, ValidBatch)>) {
        let wake = Arc::new(Notify::new());
        let (closing_tx, closing_rx) = watch::channel(false);
        let writer = write_batches(
            self.config.compression_level,
            self.spool.clone(),
            batches,
            self.metrics.clone(),
            wake.clone(),
            closing_tx,
        );
        let sender = send_spooled(
            self.client,
            self.spool.clone(),
            self.metrics.clone(),
            wake,
            closing_rx,
        );
        tokio::join!(writer, sender);
        let (batches, bytes) = with_spool(&self.spool, |s| (s.len(), s.bytes())).await;
        self.metrics.spool_depth(batches, bytes);
        if batches > 0 {
            tracing::info!(
                batches,
                bytes,
                dir = %self.config.spool_dir.display(),
                "batches left in the spool for the next start"
            );
        }
    }
}

/// Runs `f` on the spool on a blocking thread: spool calls touch the disk
/// and fsync.
async fn with_spool<T, F>(spool: &SharedSpool, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&mut Spool) -> T + Send + 'static,
{
    let spool = spool.clone();
    tokio::task::spawn_blocking(move || {
        let mut spool = spool.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut spool)
    })
    .await
    .expect("a spool operation panicked")
}

fn count_dropped(metrics: &AgentMetrics, dropped: &[Dropped]) {
    for d in dropped {
        metrics.dropped_batch(d.reason, d.samples);
    }
}

/// The writer half: compress, spool, wake the sender. Signals `closing`
/// once the channel closed and everything received is spooled.
async fn write_batches(
    compression_level: i32,
    spool: SharedSpool,
    mut batches: mpsc::Receiver<(String, ValidBatch)>,
    metrics: AgentMetrics,
    wake: Arc<Notify>,
    closing: watch::Sender<bool>,
) {
    while let Some((id, batch)) = batches.recv().await {
        let samples = batch.total_samples();
        // Compression is CPU work: off the reactor, outside the spool lock.
        let compressed =
            tokio::task::spawn_blocking(move || compress(&to_wire(&batch), compression_level))
                .await
                .expect("compressing a batch panicked");
        let payload = match compressed {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(%error, batch_id = id, "compressing a batch failed");
                metrics.dropped_batch("compression_failed", samples);
                continue;
            }
        };
        let m = metrics.clone();
        with_spool(&spool, move |spool| {
            match spool.push(&id, samples, &payload) {
                Ok(dropped) => {
                    m.batches_spooled.inc();
                    count_dropped(&m, &dropped);
                }
                Err(error) => {
                    // Without the spool the batch cannot be kept durably;
                    // say so loudly and count it.
                    tracing::error!(%error, batch_id = id, "spooling a batch failed; dropping it");
                    m.dropped_batch("spool_write_failed", samples);
                }
            }
            m.spool_depth(spool.len(), spool.bytes());
        })
        .await;
        wake.notify_one();
    }
    let _ = closing.send(true);
}

/// True for answers that mean "this batch will never be accepted": drop it.
/// Everything else (unreachable, `UNAVAILABLE`, `RESOURCE_EXHAUSTED`,
/// timeouts, transport errors) is worth a retry.
fn refused(code: Code) -> bool {
    matches!(code, Code::InvalidArgument | Code::OutOfRange)
}

/// The sender half: pushes the spool's head, in order, until the writer
/// closed and either the spool is empty or one more attempt failed.
async fn send_spooled(
    mut client: IngestClient<AuthChannel>,
    spool: SharedSpool,
    metrics: AgentMetrics,
    wake: Arc<Notify>,
    mut closing: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX, seed());
    // The head, kept in memory across retries.
    let mut current: Option<SpooledBatch> = None;
    loop {
        // A dropped sender (the writer gone) means closing too.
        let finishing = *closing.borrow_and_update() || closing.has_changed().is_err();
        let batch = match current.take() {
            Some(batch) => Some(batch),
            None => {
                let m = metrics.clone();
                let head = with_spool(&spool, move |spool| {
                    let head = spool.head();
                    m.spool_depth(spool.len(), spool.bytes());
                    head
                })
                .await;
                match head {
                    Ok((batch, dropped)) => {
                        count_dropped(&metrics, &dropped);
                        batch
                    }
                    Err(error) => {
                        tracing::error!(%error, "reading the spool failed; will retry");
                        if finishing {
                            return;
                        }
                        pause(backoff.next_delay(), &mut closing).await;
                        continue;
                    }
                }
            }
        };
        let Some(batch) = batch else {
            if finishing {
                return;
            }
            tokio::select! {
                () = wake.notified() => {}
                _ = closing.changed() => {}
            }
            continue;
        };
        let seq = batch.seq;
        // The writer may have evicted it (spool full) while we waited.
        if !with_spool(&spool, move |spool| spool.claim(seq)).await {
            continue;
        }
        let request = PushRequest {
            batch_id: batch.batch_id.clone(),
            payload: batch.payload.clone(),
        };
        match client.push(request).await {
            Ok(response) => {
                metrics.batches_sent.inc();
                if response.get_ref().duplicate {
                    metrics.batches_duplicate.inc();
                    tracing::debug!(batch_id = batch.batch_id, "server already had this batch");
                }
                remove(&spool, &metrics, seq).await;
                backoff.reset();
            }
            Err(status) if refused(status.code()) => {
                tracing::error!(code = ?status.code(), message = status.message(), batch_id = batch.batch_id, "server refused a batch; dropping it");
                metrics.dropped_batch("refused", batch.samples);
                remove(&spool, &metrics, seq).await;
            }
            Err(status) => {
                with_spool(&spool, Spool::release).await;
                metrics.send_failures.inc();
                let (code, message) = (status.code(), status.message());
                if finishing {
                    tracing::warn!(
                        ?code,
                        message,
                        "push failed while stopping; the spool keeps the rest"
                    );
                    return;
                }
                let delay = backoff.next_delay();
                tracing::warn!(?code, message, retry_in = ?delay, "push failed; will retry");
                current = Some(batch);
                pause(delay, &mut closing).await;
            }
        }
    }
}

async fn remove(spool: &SharedSpool, metrics: &AgentMetrics, seq: u64) {
    let m = metrics.clone();
    with_spool(spool, move |spool| {
        if let Err(error) = spool.remove(seq) {
            // The batch is out of the index; at worst its file is sent
            // again by the next run, and counted once by the server.
            tracing::warn!(%error, "deleting a sent batch from the spool failed");
        }
        m.spool_depth(spool.len(), spool.bytes());
    })
    .await;
}

/// Sleeps for `delay`, or until shutdown starts.
async fn pause(delay: Duration, closing: &mut watch::Receiver<bool>) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        _ = closing.wait_for(|closing| *closing) => {}
    }
}

/// Exponential backoff with ±20% jitter, so that a fleet of agents does not
/// retry in lockstep when their server comes back.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
    rng: XorShift,
}

impl Backoff {
    /// Starts at `min`, doubles up to `max`; `seed` drives the jitter.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Self {
            next: min,
            min,
            max,
            rng: XorShift::new(seed),
        }
    }

    /// The delay before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(self.max);
        // Uniform in [0.8, 1.2).
        let factor = 0.8 + 0.4 * self.rng.next_unit();
        base.mul_f64(factor)
    }

    /// Back to the first delay, after a success.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Jitter seed: differs between agents started at the same moment.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15
}

/// xorshift64*: plenty for jitter, no dependency.
#[derive(Clone, Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x2545_F491_4F6C_DD1D
        } else {
            seed
        })
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_bounded_jitter() {
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX, 7);
        let bases = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0];
        for base in bases {
            let delay = backoff.next_delay().as_secs_f64();
            assert!(
                delay >= base * 0.8 && delay <= base * 1.2,
                "{delay} s is not within 20% of {base} s"
            );
        }
        backoff.reset();
        let delay = backoff.next_delay().as_secs_f64();
        assert!((0.4..=0.6).contains(&delay), "{delay} after reset");
    }

    #[test]
    fn jitter_spreads_over_the_whole_range() {
        let mut rng = XorShift::new(seed());
        let draws: Vec<f64> = (0..10_000).map(|_| rng.next_unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let low = draws.iter().filter(|d| **d < 0.1).count();
        let high = draws.iter().filter(|d| **d >= 0.9).count();
        assert!(low > 800 && high > 800, "low {low}, high {high}");
        // Different seeds, different sequences.
        let mut a = XorShift::new(1);
        let mut b = XorShift::new(2);
        assert_ne!(a.next_unit(), b.next_unit());
    }

    #[test]
    fn refusals_drop_and_everything_else_retries() {
        assert!(refused(Code::InvalidArgument));
        assert!(refused(Code::OutOfRange));
        for code in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
            Code::Unknown,
            Code::Internal,
            Code::Cancelled,
        ] {
            assert!(!refused(code), "{code:?} must be retried");
        }
    }
}
