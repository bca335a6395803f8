//! The Augur aggregator: where a fleet's batches meet.
//!
//! [`ingest`] serves the gRPC `Push` call: it checks sizes before
//! decompressing, validates, [`merge`]s samples per (service, window) and
//! stores the batch durably before acknowledging it. The [`symbolize`]
//! worker names stored frames in the background.

pub mod ingest;
pub mod merge;
pub mod metrics;
pub mod symbolize;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use augur_storage::Store;
use augur_wire::batch::Limits;
use augur_wire::ingest::ingest_server::IngestServer;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use metrics::AggregatorMetrics;
pub use symbolize::SymbolizeConfig;

/// How long shutdown waits for open ingest connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Aggregator settings.
#[derive(Clone, Debug)]
pub struct AggregatorConfig {
    /// Size and shape limits for incoming batches.
    pub limits: Limits,
    /// Length of a storage window.
    pub window: Duration,
    /// Symbolization settings.
    pub symbolize: SymbolizeConfig,
    /// Batches decoded or stored at once; more wait briefly, then get
    /// `RESOURCE_EXHAUSTED` (agents spool them and retry).
    pub max_in_flight: usize,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            window: Duration::from_secs(60),
            symbolize: SymbolizeConfig::default(),
            max_in_flight: 16,
        }
    }
}

/// Errors that stop the aggregator.
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    /// The gRPC server failed.
    #[error("ingest server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves ingest on `listener` until `shutdown` resolves, with a
/// symbolization worker thread beside it.
pub async fn serve(
    config: AggregatorConfig,
    listener: TcpListener,
    store: Store,
    metrics: AggregatorMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), AggregatorError> {
    let new_frames = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (config, store, metrics, new_frames, stop) = (
            config.symbolize.clone(),
            store.clone(),
            metrics.clone(),
            new_frames.clone(),
            stop.clone(),
        );
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("augur-symbolizer".into())
            .spawn(move || symbolize::run_worker(config, store, metrics, new_frames, stop, runtime))
            .expect("spawning the symbolizer thread")
    };
    let service = ingest::IngestService::new(
        store,
        config.limits.clone(),
        config.window.as_nanos() as i64,
        metrics,
        new_frames.clone(),
        config.max_in_flight,
    );
    // Let our own size check answer payloads a little over the limit, so the
    // client gets our message; far larger messages stop at the transport.
    let max_message = config.limits.max_compressed + (64 << 10);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tonic::transport::Server::builder()
        .add_service(IngestServer::new(service).max_decoding_message_size(max_message))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = drain_rx.await;
        });
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        () = shutdown => {
            let _ = drain_tx.send(());
            // In-flight pushes finish; a client that never closes its
            // connection does not hold shutdown hostage.
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(grace = ?SHUTDOWN_GRACE, "ingest connections still open at shutdown; closing them");
                    Ok(())
                }
            }
        }
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    new_frames.notify_one();
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    Ok(result?)
}
