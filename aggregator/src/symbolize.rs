//! The symbolization workers: give stored frames their names.
//!
//! Frames are stored as `(build-id, offset)` first and named here afterwards,
//! so ingest never waits on debug info, and a frame whose debug info arrives
//! late is named on a later round without re-ingesting anything. Each worker
//! owns its blazesym instance on its own thread, and the work is sharded by
//! binary ([`Shard`]): one object's DWARF is parsed and cached by one worker
//! only, and workers never contend for the same frames.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use augur_profile::FileId;
use augur_storage::{FrameSymbols, Shard, Store};
use augur_symbolizer::{DebugInfoLocator, FrameRequest, Symbolizer};
use tokio::sync::Notify;

use crate::debuginfo::DebugInfoStore;
use crate::metrics::AggregatorMetrics;

/// How the worker finds debug info and how often it retries misses.
#[derive(Clone, Debug)]
pub struct SymbolizeConfig {
    /// Directories with `.build-id/xx/rest.debug` trees.
    pub debug_dirs: Vec<std::path::PathBuf>,
    /// Trust agents' path hints (only when the aggregator shares their files).
    pub use_path_hints: bool,
    /// Frames that failed are tried again after this long.
    pub retry_after: Duration,
    /// Frames per round.
    pub batch_size: usize,
    /// debuginfod servers to ask for debug info, if any.
    pub debuginfod: Option<augur_symbolizer::DebuginfodConfig>,
    /// Worker threads, each with its own symbolizer and share of binaries.
    pub workers: usize,
}

impl Default for SymbolizeConfig {
    fn default() -> Self {
        Self {
            debug_dirs: vec!["/usr/lib/debug".into()],
            use_path_hints: true,
            retry_after: Duration::from_secs(60),
            batch_size: 2000,
            debuginfod: None,
            workers: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(1),
        }
    }
}

/// What a worker shares with the others and the server.
#[derive(Clone)]
pub struct WorkerContext {
    /// Where frames come from and names go.
    pub store: Store,
    /// Counters.
    pub metrics: AggregatorMetrics,
    /// Notified when new frames were stored or debug info arrived.
    pub new_frames: Arc<Notify>,
    /// Set to stop.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// Uploaded debug info, searched before the configured directories.
    pub uploads: Option<Arc<DebugInfoStore>>,
    /// For waiting on `new_frames` from a plain thread.
    pub runtime: tokio::runtime::Handle,
}

/// Runs rounds for `shard` until `stop` is set; wakes on `new_frames` or
/// every second.
pub fn run_worker(config: SymbolizeConfig, shard: Shard, cx: WorkerContext) {
    let WorkerContext {
        store,
        metrics,
        new_frames,
        stop,
        uploads,
        runtime,
    } = cx;
    let debug_dirs = uploads
        .iter()
        .map(|u| u.root().to_owned())
        .chain(config.debug_dirs.iter().cloned())
        .collect();
    let mut locator = DebugInfoLocator::new(debug_dirs, config.use_path_hints);
    if let Some(debuginfod) = &config.debuginfod {
        let mut debuginfod = debuginfod.clone();
        debuginfod.retry_after = config.retry_after;
        locator = locator.with_debuginfod(augur_symbolizer::DebuginfodClient::new(debuginfod));
    }
    let mut symbolizer = Symbolizer::new(locator);
    let mut last_forget = Instant::now();
    let generation = || uploads.as_ref().map_or(0, |u| u.generation());
    let mut seen_generation = generation();
    // When each build-id was last looked for among other nodes' uploads.
    let mut shared_checked: HashMap<FileId, Instant> = HashMap::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // New uploads, or the retry interval: look for files again.
        if last_forget.elapsed() >= config.retry_after || generation() != seen_generation {
            seen_generation = generation();
            symbolizer.forget_misses();
            last_forget = Instant::now();
        }
        let did = match round(
            &config,
            shard,
            &store,
            &mut symbolizer,
            &metrics,
            uploads.as_deref(),
            &mut shared_checked,
        ) {
            Ok(n) => n,
            Err(error) => {
                tracing::warn!(%error, "symbolization round failed");
                0
            }
        };
        if did < config.batch_size {
            // Caught up: wait for new frames, but look again at least every second.
            runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(1), new_frames.notified()).await;
            });
        }
    }
}

fn round(
    config: &SymbolizeConfig,
    shard: Shard,
    store: &Store,
    symbolizer: &mut Symbolizer,
    metrics: &AggregatorMetrics,
    uploads: Option<&DebugInfoStore>,
    shared_checked: &mut HashMap<FileId, Instant>,
) -> Result<usize, augur_storage::StorageError> {
    let pending = store.pending_frames(config.retry_after, config.batch_size, shard)?;
    if let Some(uploads) = uploads {
        // Debug info another ingest node received: fetch it before the
        // locator looks, at most once per retry interval per build-id.
        if shared_checked.len() > 65_536 {
            shared_checked.clear();
        }
        let mut fetched = false;
        for frame in &pending {
            let due = shared_checked
                .get(&frame.build_id)
                .is_none_or(|at| at.elapsed() >= config.retry_after);
            if due {
                shared_checked.insert(frame.build_id.clone(), Instant::now());
                fetched |= uploads.fetch_shared(store, &frame.build_id);
            }
        }
        if fetched {
            symbolizer.forget_misses();
        }
    }
    metrics
        .frames_pending
        .get_or_create(&vec![("worker", shard.index.to_string())])
        .set(pending.len() as i64);
    if pending.is_empty() {
        return Ok(0);
    }
    let started = Instant::now();
    let requests: Vec<FrameRequest<'_>> = pending
        .iter()
        .map(|f| FrameRequest {
            build_id: &f.build_id,
            file_offset: f.file_offset,
            path_hints: &f.paths,
        })
        .collect();
    let results = symbolizer.symbolize(&requests);
    let outcomes: Vec<FrameSymbols> = pending
        .iter()
        .zip(results)
        .map(|(frame, result)| {
            match &result {
                Ok(_) => metrics.frames_symbolized.inc(),
                Err(why) => metrics
                    .frames_unsymbolized
                    .get_or_create(&vec![("reason", why.reason().to_owned())])
                    .inc(),
            };
            FrameSymbols {
                frame_id: frame.frame_id,
                outcome: result.map_err(|e| e.to_string()),
            }
        })
        .collect();
    store.record_symbols(&outcomes)?;
    metrics
        .symbolize_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(pending.len())
}
