//! The aggregator's periodic chores: applying retention and settling quiet
//! windows, each a tokio task that runs until the server stops.
//!
//! A failed run is logged and counted, and the next tick tries again; no
//! chore ever stops ingest.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use augur_storage::{RetentionPolicy, Store};
use tokio::task::JoinHandle;

use crate::metrics::AggregatorMetrics;

/// The chores running beside the server.
pub struct BackgroundTasks {
    compactor: JoinHandle<()>,
    settler: JoinHandle<()>,
}

impl BackgroundTasks {
    /// Starts retention (now, then every `compact_every`) and settling
    /// (every `settle_every`).
    pub fn start(
        store: &Store,
        retention: RetentionPolicy,
        compact_every: Duration,
        settle_every: Duration,
        metrics: &AggregatorMetrics,
    ) -> Self {
        let compactor = tokio::spawn(compact_periodically(
            store.clone(),
            retention,
            compact_every,
            metrics.clone(),
        ));
        let settler = tokio::spawn(settle_periodically(
            store.clone(),
            settle_every,
            metrics.clone(),
        ));
        Self { compactor, settler }
    }

    /// Stops both chores where they are; a run in the blocking pool
    /// finishes on its own.
    pub fn abort(self) {
        self.compactor.abort();
        self.settler.abort();
    }
}

fn now_unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
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
        let now = now_unix_nanos();
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
    policy: RetentionPolicy,
    every: Duration,
    metrics: AggregatorMetrics,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (store, policy) = (store.clone(), policy.clone());
        let now = now_unix_nanos();
        let started = Instant::now();
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
