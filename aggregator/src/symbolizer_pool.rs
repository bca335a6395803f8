//! The symbolizer pool: the [`crate::symbolize`] worker threads,
//! started together and stopped together.
//!
//! The threads are plain OS threads (blazesym's work is blocking and CPU
//! bound); the pool owns the stop flag and the wake-up they share, so the
//! server only says when to start and when to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use augur_storage::{Shard, Store};
use tokio::sync::Notify;

use crate::debuginfo::DebugInfoStore;
use crate::metrics::AggregatorMetrics;

use crate::symbolize::{self, SymbolizeConfig, WorkerContext};

/// Most worker threads one aggregator runs.
const MAX_WORKERS: usize = 64;

/// The running symbolization workers.
pub struct SymbolizerPool {
    workers: Vec<JoinHandle<()>>,
    context: WorkerContext,
}

impl SymbolizerPool {
    /// Starts `config.workers` threads, each owning one shard of the
    /// binaries, woken by `new_frames`. Zero workers: this node ingests
    /// only; others symbolize.
    pub fn start(
        config: &SymbolizeConfig,
        store: &Store,
        metrics: &AggregatorMetrics,
        new_frames: &Arc<Notify>,
        uploads: Option<Arc<DebugInfoStore>>,
    ) -> Self {
        let context = WorkerContext {
            store: store.clone(),
            metrics: metrics.clone(),
            new_frames: new_frames.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            uploads,
            runtime: tokio::runtime::Handle::current(),
        };
        let count = config.workers.min(MAX_WORKERS) as u32;
        let workers = (0..count)
            .map(|index| {
                let (config, context) = (config.clone(), context.clone());
                let shard = Shard { index, count };
                std::thread::Builder::new()
                    .name(format!("augur-symbolizer-{index}"))
                    .spawn(move || symbolize::run_worker(config, shard, context))
                    .expect("spawning a symbolizer thread")
            })
            .collect();
        Self { workers, context }
    }

    /// Tells every worker to stop, wakes those waiting for frames, and waits
    /// for them off the reactor.
    pub async fn stop(self) {
        let Self { workers, context } = self;
        context.stop.store(true, Ordering::Relaxed);
        context.new_frames.notify_waiters();
        let _ = tokio::task::spawn_blocking(move || {
            for worker in workers {
                let _ = worker.join();
            }
        })
        .await;
    }
}
