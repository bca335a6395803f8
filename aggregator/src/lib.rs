//! The Augur aggregator: where a fleet's batches meet.
//!
//! [`ingest`] serves the gRPC `Push` call: it checks sizes before
//! decompressing, validates, bounds each service's label values
//! ([`cardinality`]), [`merge`]s samples per (service, window), and
//! acknowledges once the batch is durable in the [`ingest_log`] and held by
//! the [`buffer`], whose flusher stores many batches at a time. [`debuginfo`] serves
//! agents' debug-info uploads, [`otlp`] OTLP profiles exports into the same
//! ingest. The [`symbolize`] workers name stored frames
//! in the background, one thread per shard of binaries. [`auth`] decides
//! who may connect: TLS, client certificates and bearer tokens.
//!
//! [`serve`] is the composition root: it starts the [`symbolizer_pool`],
//! the [`background`] chores (retention, settling) and the gRPC [`server`],
//! and stops them in the order that loses nothing.

pub mod auth;
pub mod background;
pub mod buffer;
pub mod cardinality;
pub mod debuginfo;
pub mod dir_lock;
pub mod flushing;
pub mod handle;
pub mod ingest;
pub mod ingest_log;
pub mod intern;
pub mod merge;
pub mod metrics;
pub mod otlp;
mod prepare;
pub mod server;
pub mod symbolize;
pub mod symbolizer_pool;

use std::sync::Arc;
use std::time::Duration;

use augur_storage::Store;
use augur_wire::batch::Limits;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use background::BackgroundTasks;
use symbolizer_pool::SymbolizerPool;

pub use cardinality::CardinalityConfig;
pub use flushing::{FlushingStore, HeldBatches};
pub use handle::IngestHandle;
pub use metrics::AggregatorMetrics;
pub use symbolize::SymbolizeConfig;

/// Default memory every batch being decoded at once shares.
pub const DECODE_MEMORY: usize = 256 << 20;

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
    /// Where [`serve`] publishes its ingest while it runs, for batches
    /// translated from other protocols (Pyroscope, OTLP) on the web port.
    pub pushes: IngestHandle,
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
            pushes: IngestHandle::default(),
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
/// resolves, with the symbolization worker threads and the periodic chores
/// beside it.
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
    let uploads = open_uploads(&config)?;
    let log_dir = match (&config.ingest_log_dir, store.path()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(db)) => db.with_file_name("ingest-log"),
        (None, None) => return Err(AggregatorError::NoIngestLogDir),
    };
    let new_frames = Arc::new(Notify::new());
    let symbolizers = SymbolizerPool::start(
        &config.symbolize,
        &store,
        &metrics,
        &new_frames,
        uploads.clone(),
    );
    let chores = BackgroundTasks::start(
        &store,
        config.retention.clone(),
        config.compact_every,
        config.settle_every,
        &metrics,
    );
    let labels = Arc::new(cardinality::LabelCardinality::new(
        config.label_cardinality.clone(),
    ));
    let (buffer, buffer_threads) =
        match open_buffer(&config, log_dir, &labels, &store, &metrics, &new_frames).await {
            Ok(opened) => opened,
            Err(error) => {
                chores.abort();
                symbolizers.stop().await;
                return Err(error.into());
            }
        };
    // Queries in this process see every batch acknowledged before them.
    config.held_batches.attach(buffer.downgrade());
    let ingest = Arc::new(ingest::IngestService::new(
        buffer,
        config.limits.clone(),
        labels,
        config.window.as_nanos() as i64,
        metrics.clone(),
        config.max_in_flight,
    ));
    config.pushes.attach(
        &ingest,
        config.security.token_check().counting(metrics.clone()),
    );
    let services = server::Services {
        otlp: otlp::OtlpExportServer::new(ingest.clone(), augur_wire::otlp::OtlpLimits::default()),
        ingest,
        debuginfo: uploads.map(|uploads| {
            debuginfo::DebugInfoService::new(
                uploads,
                store.clone(),
                metrics.clone(),
                new_frames.clone(),
            )
        }),
        // Let our own size check answer payloads a little over the limit,
        // so the client gets our message; far larger messages stop at the
        // transport.
        max_message: config.limits.max_compressed + (64 << 10),
    };
    let served = server::serve_grpc(listener, &config.security, &metrics, services, shutdown).await;
    chores.abort();
    config.pushes.detach();
    // What is held is stored before the symbolizers stop.
    config.held_batches.detach();
    let _ = tokio::task::spawn_blocking(move || buffer_threads.shutdown()).await;
    symbolizers.stop().await;
    served
}

/// The store for agents' debug-info uploads, if a directory was given.
fn open_uploads(
    config: &AggregatorConfig,
) -> Result<Option<Arc<debuginfo::DebugInfoStore>>, AggregatorError> {
    let Some(dir) = &config.debuginfo_dir else {
        return Ok(None);
    };
    let uploads = debuginfo::DebugInfoStore::open(
        dir,
        config.symbolize.debug_dirs.clone(),
        config.symbolize.use_path_hints,
        config.max_debuginfo_bytes,
    )
    .map_err(|source| AggregatorError::DebugInfoDir {
        path: dir.clone(),
        source,
    })?;
    Ok(Some(Arc::new(uploads)))
}

/// Opens the ingest buffer over the log in `log_dir`, replaying what the
/// log holds.
async fn open_buffer(
    config: &AggregatorConfig,
    log_dir: std::path::PathBuf,
    labels: &Arc<cardinality::LabelCardinality>,
    store: &Store,
    metrics: &AggregatorMetrics,
    new_frames: &Arc<Notify>,
) -> Result<(buffer::IngestBuffer, buffer::BufferThreads), buffer::BufferError> {
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
    let (store, metrics, new_frames) = (store.clone(), metrics.clone(), new_frames.clone());
    // Replaying the log decodes and looks up ids: blocking work.
    tokio::task::spawn_blocking(move || {
        buffer::IngestBuffer::open(buffer_config, store, metrics, new_frames)
    })
    .await
    .expect("opening the ingest buffer panicked")
}
