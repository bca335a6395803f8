//! The Augur aggregator: where a fleet's batches meet.
//!
//! [`ingest`] serves the gRPC `Push` call: it checks sizes before
//! decompressing, validates, bounds each service's label values
//! ([`cardinality`]), [`merge`]s samples per (service, window), and
//! acknowledges once the batch is durable in the [`ingest_log`] and held by
//! the [`buffer`], whose flusher stores many batches at a time. [`debuginfo`] serves
//! agents' debug-info uploads. The [`symbolize`] workers name stored frames
//! in the background, one thread per shard of binaries. [`auth`] decides
//! who may connect: TLS, client certificates and bearer tokens.

pub mod auth;
pub mod buffer;
pub mod cardinality;
pub mod debuginfo;
pub mod flushing;
pub mod ingest;
pub mod ingest_log;
pub mod intern;
pub mod merge;
pub mod metrics;
pub mod symbolize;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use augur_storage::Store;
use augur_wire::batch::Limits;
use augur_wire::ingest::debug_info_server::DebugInfoServer;
use augur_wire::ingest::ingest_server::IngestServer;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use cardinality::CardinalityConfig;
pub use flushing::{FlushingStore, HeldBatches};
pub use metrics::AggregatorMetrics;
pub use symbolize::SymbolizeConfig;

/// Concurrent requests one client connection may have open.
const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// Default memory every batch being decoded at once shares.
pub const DECODE_MEMORY: usize = 256 << 20;

/// How long shutdown waits for open ingest connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Aggregator settings.
#[derive(Clone, Debug)]
pub struct AggregatorConfig {
    /// Size and shape limits for incoming batches.
    pub limits: Limits,
    /// Bounds on distinct label values per service.
    pub label_cardinality: CardinalityConfig,
    /// Length of a storage window.
    pub window: Duration,
    /// Symbolization settings.
    pub symbolize: SymbolizeConfig,
    /// Batches decoded or stored at once; more wait briefly, then get
    /// `RESOURCE_EXHAUSTED` (agents spool them and retry).
    pub max_in_flight: usize,
    /// Where agents' debug-info uploads are kept; `None` refuses uploads.
    pub debuginfo_dir: Option<std::path::PathBuf>,
    /// Largest debug-info upload accepted, in bytes.
    pub max_debuginfo_bytes: u64,
    /// How long windows are kept, and the byte bound.
    pub retention: augur_storage::RetentionPolicy,
    /// How often retention runs (rollups, expiry, the byte bound).
    pub compact_every: Duration,
    /// How often quiet windows are settled into per-service rows
    /// (`Store::settle`; nothing to do on SQLite).
    pub settle_every: Duration,
    /// Where the ingest log lives; `None`: `ingest-log` beside the SQLite
    /// file.
    pub ingest_log_dir: Option<std::path::PathBuf>,
    /// Longest an acknowledged batch waits in memory before it is stored,
    /// and so how far queries may lag ingest.
    pub flush_interval: Duration,
    /// Most bytes of acknowledged batches held in memory; beyond it pushes
    /// get `RESOURCE_EXHAUSTED`.
    pub max_buffered_bytes: u64,
    /// Most bytes of payloads in the ingest log; beyond it likewise.
    pub max_log_bytes: u64,
    /// TLS and tokens on the ingest port.
    pub security: auth::IngestSecurity,
    /// Where [`serve`] publishes the batches it holds while it runs: a
    /// [`FlushingStore`] over the same handle (the web server's, in one
    /// process) stores them before each query.
    pub held_batches: HeldBatches,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            limits: Limits {
                decode_memory: Some(augur_wire::batch::DecodeMemory::new(DECODE_MEMORY)),
                ..Limits::default()
            },
            label_cardinality: CardinalityConfig::default(),
            window: Duration::from_secs(60),
            symbolize: SymbolizeConfig::default(),
            max_in_flight: 16,
            debuginfo_dir: None,
            max_debuginfo_bytes: 1 << 30,
            retention: augur_storage::RetentionPolicy::default(),
            compact_every: Duration::from_secs(600),
            settle_every: Duration::from_secs(15),
            ingest_log_dir: None,
            flush_interval: Duration::from_secs(1),
            max_buffered_bytes: 128 << 20,
            max_log_bytes: 1 << 30,
            security: auth::IngestSecurity::default(),
            held_batches: HeldBatches::default(),
        }
    }
}

/// Errors that stop the aggregator.
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    /// The gRPC server failed.
    #[error("ingest server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The debug-info directory cannot be used.
    #[error("debug-info directory {path}: {source}")]
    DebugInfoDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The ingest log could not be opened or replayed.
    #[error(transparent)]
    Buffer(#[from] buffer::BufferError),
    /// No directory for the ingest log was given and the store has none.
    #[error("the ingest log needs a directory: set AggregatorConfig::ingest_log_dir")]
    NoIngestLogDir,
    /// TLS or token settings refused, or anonymous ingest not allowed here.
    #[error(transparent)]
    Security(#[from] auth::SecurityError),
}

/// Serves ingest (and debug-info uploads) on `listener` until `shutdown`
/// resolves, with the symbolization worker threads beside it.
pub async fn serve(
    config: AggregatorConfig,
    listener: TcpListener,
    store: Store,
    metrics: AggregatorMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), AggregatorError> {
    if let Ok(addr) = listener.local_addr() {
        config.security.check_exposure(addr)?;
    }
    let new_frames = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let uploads = match &config.debuginfo_dir {
        Some(dir) => Some(Arc::new(
            debuginfo::DebugInfoStore::open(
                dir,
                config.symbolize.debug_dirs.clone(),
                config.symbolize.use_path_hints,
                config.max_debuginfo_bytes,
            )
            .map_err(|source| AggregatorError::DebugInfoDir {
                path: dir.clone(),
                source,
            })?,
        )),
        None => None,
    };
    let context = symbolize::WorkerContext {
        store: store.clone(),
        metrics: metrics.clone(),
        new_frames: new_frames.clone(),
        stop: stop.clone(),
        uploads: uploads.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    // Zero workers: this node ingests only; others symbolize.
    let count = config.symbolize.workers.min(64) as u32;
    let workers: Vec<_> = (0..count)
        .map(|index| {
            let (config, context) = (config.symbolize.clone(), context.clone());
            let shard = augur_storage::Shard { index, count };
            std::thread::Builder::new()
                .name(format!("augur-symbolizer-{index}"))
                .spawn(move || symbolize::run_worker(config, shard, context))
                .expect("spawning a symbolizer thread")
        })
        .collect();
    let compactor = tokio::spawn(compact_periodically(
        store.clone(),
        config.retention.clone(),
        config.compact_every,
        metrics.clone(),
    ));
    let settler = tokio::spawn(settle_periodically(
        store.clone(),
        config.settle_every,
        metrics.clone(),
    ));
    let debuginfo_service = uploads.map(|uploads| {
        DebugInfoServer::new(debuginfo::DebugInfoService::new(
            uploads,
            store.clone(),
            metrics.clone(),
            new_frames.clone(),
        ))
    });
    let log_dir = match (&config.ingest_log_dir, store.path()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(db)) => db.with_file_name("ingest-log"),
        (None, None) => return Err(AggregatorError::NoIngestLogDir),
    };
    let labels = Arc::new(cardinality::LabelCardinality::new(
        config.label_cardinality.clone(),
    ));
    let buffer_config = buffer::BufferConfig {
        dir: log_dir,
        flush_interval: config.flush_interval,
        max_bytes: config.max_buffered_bytes,
        max_log_bytes: config.max_log_bytes,
        // Replayed batches were acknowledged: never told to wait for memory
        // (replay runs alone, before ingest starts).
        limits: Limits {
            decode_memory: None,
            ..config.limits.clone()
        },
        labels: labels.clone(),
        window_nanos: config.window.as_nanos() as i64,
    };
    let (buffer, buffer_threads) = {
        let (store, metrics, new_frames) = (store.clone(), metrics.clone(), new_frames.clone());
        // Replaying the log decodes and looks up ids: blocking work.
        tokio::task::spawn_blocking(move || {
            buffer::IngestBuffer::open(buffer_config, store, metrics, new_frames)
        })
        .await
        .expect("opening the ingest buffer panicked")?
    };
    // Queries in this process see every batch acknowledged before them.
    config.held_batches.attach(buffer.downgrade());
    let token_check = config.security.token_check().counting(metrics.clone());
    let service = ingest::IngestService::new(
        buffer,
        config.limits.clone(),
        labels,
        config.window.as_nanos() as i64,
        metrics,
        config.max_in_flight,
    );
    // Let our own size check answer payloads a little over the limit, so the
    // client gets our message; far larger messages stop at the transport.
    let max_message = config.limits.max_compressed + (64 << 10);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    // Each waiting push holds its payload: bound the pushes one connection
    // can have open, on top of the in-flight bound inside the service.
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.security.tls {
        builder = builder.tls_config(tls.config())?;
    }
    let server = builder
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        // Every call of every service shows a token first (if any is set).
        .layer(tonic::service::InterceptorLayer::new(token_check))
        .add_service(IngestServer::new(service).max_decoding_message_size(max_message))
        .add_optional_service(debuginfo_service)
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
    compactor.abort();
    settler.abort();
    // What is held is stored before the symbolizers stop.
    config.held_batches.detach();
    let _ = tokio::task::spawn_blocking(move || buffer_threads.shutdown()).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    new_frames.notify_waiters();
    let _ = tokio::task::spawn_blocking(move || {
        for worker in workers {
            let _ = worker.join();
        }
    })
    .await;
    Ok(result?)
}

/// Settles quiet windows into per-service rows every `every`. A failed run
/// is logged and counted; the next one tries again, and reads stay exact
/// meanwhile (unsettled windows are read from the sample rows).
async fn settle_periodically(store: Store, every: Duration, metrics: AggregatorMetrics) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let store = store.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        match tokio::task::spawn_blocking(move || store.settle(now)).await {
            Ok(Ok(windows)) => {
                metrics.windows_settled.inc_by(windows as u64);
            }
            Ok(Err(error)) => {
                metrics.settle_failures.inc();
                tracing::warn!(%error, "settling windows failed; trying again later");
            }
            Err(error) => {
                metrics.settle_failures.inc();
                tracing::warn!(%error, "the settle task panicked");
            }
        }
    }
}

/// Applies the retention policy now and then every `every`. A failed run is
/// logged and counted; the next one tries again.
async fn compact_periodically(
    store: Store,
    policy: augur_storage::RetentionPolicy,
    every: Duration,
    metrics: AggregatorMetrics,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (store, policy) = (store.clone(), policy.clone());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || store.compact(&policy, now)).await {
            Ok(Ok(report)) => {
                metrics.compactions.inc();
                metrics.rows_rolled_up.inc_by(report.minute_rows_rolled_up);
                metrics
                    .rows_expired
                    .inc_by(report.hour_rows_expired + report.rows_evicted_for_space);
                metrics.storage_bytes.set(report.bytes as i64);
                tracing::info!(?report, took = ?started.elapsed(), "retention applied");
            }
            Ok(Err(error)) => {
                metrics.compaction_failures.inc();
                tracing::warn!(%error, "applying retention failed; trying again later");
            }
            Err(error) => {
                metrics.compaction_failures.inc();
                tracing::warn!(%error, "the retention task panicked");
            }
        }
    }
}
