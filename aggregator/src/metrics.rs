//! The aggregator's self-metrics: batches and samples accepted and refused by
//! reason, limits hit, the ingest buffer (memtable, log, flushes),
//! symbolization outcomes, and how long things take.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type ReasonLabel = Vec<(&'static str, String)>;
type LimitLabel = Vec<(&'static str, &'static str)>;

/// Counters of the ingest path and the symbolization worker.
#[derive(Debug, Clone)]
pub struct AggregatorMetrics {
    /// Batches acknowledged: durable in the ingest log and held.
    pub batches_accepted: Counter,
    /// Retried batches recognised by their id and not counted again.
    pub batches_duplicate: Counter,
    /// Batches refused, by reason.
    pub batches_rejected: Family<ReasonLabel, Counter>,
    /// Samples acknowledged.
    pub samples_accepted: Counter,
    /// Times a limit was hit, by limit: a batch or upload refused, or a
    /// stack, label or path hint cut down to fit.
    pub limit_hits: Family<LimitLabel, Counter>,
    /// Distinct (service, label, value) triples the cardinality limiter
    /// tracks right now.
    pub label_values_tracked: Gauge,
    /// Samples agents reported lost before sending, by reason.
    pub agent_samples_lost: Family<ReasonLabel, Counter>,
    /// Seconds from receipt to acknowledgement (durable in the log).
    pub ingest_seconds: Histogram,
    /// Batches held in memory, not yet stored.
    pub memtable_batches: Gauge,
    /// Sample rows (stack, count) held in memory.
    pub memtable_rows: Gauge,
    /// Approximate bytes held in memory: batches and the stacks they share.
    pub memtable_bytes: Gauge,
    /// Bytes in the ingest log not yet stored.
    pub ingest_log_bytes: Gauge,
    /// Segment files of the ingest log not yet stored.
    pub ingest_log_segments: Gauge,
    /// Writes (each with one fsync) to the ingest log.
    pub ingest_log_syncs: Counter,
    /// Seconds per ingest log write and fsync.
    pub ingest_log_sync_seconds: Histogram,
    /// Batches sharing one ingest log fsync.
    pub ingest_log_group_batches: Histogram,
    /// Flushes of held batches into storage that committed.
    pub flushes: Counter,
    /// Flushes that failed (retried next interval; the log keeps the data).
    pub flush_failures: Counter,
    /// Seconds per flush.
    pub flush_seconds: Histogram,
    /// Batches a flush stored.
    pub batches_flushed: Counter,
    /// Acknowledged batches storage refused at their flush, by reason.
    pub batches_dropped_at_flush: Family<ReasonLabel, Counter>,
    /// Batches replayed from the ingest log at start.
    pub batches_replayed: Counter,
    /// Frames symbolized.
    pub frames_symbolized: Counter,
    /// Frames that could not be symbolized, by reason (retried later).
    pub frames_unsymbolized: Family<ReasonLabel, Counter>,
    /// Seconds per symbolization round.
    pub symbolize_seconds: Histogram,
    /// Frames waiting for symbols at the last check, per worker (at most
    /// one round's worth).
    pub frames_pending: Family<ReasonLabel, Gauge>,
    /// Batches being decoded or stored right now.
    pub in_flight: Gauge,
    /// Debug-info uploads, by outcome (`stored` or the refusal reason).
    pub debuginfo_uploads: Family<ReasonLabel, Counter>,
    /// Bytes of debug info stored from uploads.
    pub debuginfo_bytes: Counter,
    /// Build-ids agents offered, by answer (`wanted`, `have`, `promised`).
    pub debuginfo_offers: Family<ReasonLabel, Counter>,
    /// Retention runs that completed.
    pub compactions: Counter,
    /// Retention runs that failed.
    pub compaction_failures: Counter,
    /// Minute rows rolled up into hour windows.
    pub rows_rolled_up: Counter,
    /// Rows deleted by retention or the byte bound.
    pub rows_expired: Counter,
    /// Bytes the stored profiles took after the last retention run.
    pub storage_bytes: Gauge,
    /// Windows summed into per-service rows (ClickHouse), again included.
    pub windows_settled: Counter,
    /// Settle runs that failed.
    pub settle_failures: Counter,
}

impl Default for AggregatorMetrics {
    fn default() -> Self {
        Self {
            batches_accepted: Counter::default(),
            batches_duplicate: Counter::default(),
            batches_rejected: Family::default(),
            samples_accepted: Counter::default(),
            limit_hits: Family::default(),
            label_values_tracked: Gauge::default(),
            agent_samples_lost: Family::default(),
            ingest_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            memtable_batches: Gauge::default(),
            memtable_rows: Gauge::default(),
            memtable_bytes: Gauge::default(),
            ingest_log_bytes: Gauge::default(),
            ingest_log_segments: Gauge::default(),
            ingest_log_syncs: Counter::default(),
            ingest_log_sync_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            ingest_log_group_batches: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            flushes: Counter::default(),
            flush_failures: Counter::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            batches_flushed: Counter::default(),
            batches_dropped_at_flush: Family::default(),
            batches_replayed: Counter::default(),
            frames_symbolized: Counter::default(),
            frames_unsymbolized: Family::default(),
            symbolize_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            frames_pending: Family::default(),
            in_flight: Gauge::default(),
            debuginfo_uploads: Family::default(),
            debuginfo_bytes: Counter::default(),
            debuginfo_offers: Family::default(),
            compactions: Counter::default(),
            compaction_failures: Counter::default(),
            rows_rolled_up: Counter::default(),
            rows_expired: Counter::default(),
            storage_bytes: Gauge::default(),
            windows_settled: Counter::default(),
            settle_failures: Counter::default(),
        }
    }
}

impl AggregatorMetrics {
    /// Registers every metric under `augur_aggregator_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("augur_aggregator");
        r.register(
            "batches_in_flight",
            "Batches being decoded or stored; bounded, beyond it pushes get RESOURCE_EXHAUSTED",
            self.in_flight.clone(),
        );
        r.register(
            "batches_accepted",
            "Batches acknowledged (durable in the ingest log, stored at the next flush)",
            self.batches_accepted.clone(),
        );
        r.register(
            "batches_duplicate",
            "Retried batches held or stored before, not counted again",
            self.batches_duplicate.clone(),
        );
        r.register(
            "batches_rejected",
            "Batches refused, by reason",
            self.batches_rejected.clone(),
        );
        r.register(
            "samples_accepted",
            "Samples acknowledged",
            self.samples_accepted.clone(),
        );
        r.register(
            "limit_hits",
            "Times a limit was hit, by limit: batches and uploads refused, stacks truncated, labels dropped, shortened or folded",
            self.limit_hits.clone(),
        );
        r.register(
            "label_values_tracked",
            "Distinct (service, label, value) triples the label cardinality limit tracks",
            self.label_values_tracked.clone(),
        );
        r.register(
            "agent_samples_lost",
            "Samples agents lost before sending, by reason",
            self.agent_samples_lost.clone(),
        );
        r.register(
            "ingest_seconds",
            "Time from receipt to acknowledgement (durable in the ingest log)",
            self.ingest_seconds.clone(),
        );
        r.register(
            "memtable_batches",
            "Acknowledged batches held in memory, not yet stored",
            self.memtable_batches.clone(),
        );
        r.register(
            "memtable_rows",
            "Sample rows held in memory, not yet stored",
            self.memtable_rows.clone(),
        );
        r.register(
            "memtable_bytes",
            "Approximate bytes held in memory; at the bound pushes get RESOURCE_EXHAUSTED",
            self.memtable_bytes.clone(),
        );
        r.register(
            "ingest_log_bytes",
            "Bytes in the ingest log not yet stored",
            self.ingest_log_bytes.clone(),
        );
        r.register(
            "ingest_log_segments",
            "Ingest log segment files not yet stored",
            self.ingest_log_segments.clone(),
        );
        r.register(
            "ingest_log_syncs",
            "Ingest log writes, each with one fsync",
            self.ingest_log_syncs.clone(),
        );
        r.register(
            "ingest_log_sync_seconds",
            "Time per ingest log write and fsync",
            self.ingest_log_sync_seconds.clone(),
        );
        r.register(
            "ingest_log_group_batches",
            "Batches sharing one ingest log fsync",
            self.ingest_log_group_batches.clone(),
        );
        r.register(
            "flushes",
            "Flushes of held batches into storage",
            self.flushes.clone(),
        );
        r.register(
            "flush_failures",
            "Flushes that failed; the log keeps their batches and the next interval retries",
            self.flush_failures.clone(),
        );
        r.register(
            "flush_seconds",
            "Time per flush into storage",
            self.flush_seconds.clone(),
        );
        r.register(
            "batches_flushed",
            "Batches stored by flushes",
            self.batches_flushed.clone(),
        );
        r.register(
            "batches_dropped_at_flush",
            "Acknowledged batches storage refused at their flush, by reason",
            self.batches_dropped_at_flush.clone(),
        );
        r.register(
            "batches_replayed",
            "Batches replayed from the ingest log at start",
            self.batches_replayed.clone(),
        );
        r.register(
            "frames_symbolized",
            "Frames given symbols",
            self.frames_symbolized.clone(),
        );
        r.register(
            "frames_unsymbolized",
            "Frames without symbols after an attempt, by reason",
            self.frames_unsymbolized.clone(),
        );
        r.register(
            "symbolize_seconds",
            "Time per symbolization round",
            self.symbolize_seconds.clone(),
        );
        r.register(
            "frames_pending",
            "Frames waiting for symbols at a worker's last round (at most one round's worth)",
            self.frames_pending.clone(),
        );
        r.register(
            "debuginfo_uploads",
            "Debug-info uploads from agents, by outcome",
            self.debuginfo_uploads.clone(),
        );
        r.register(
            "debuginfo_bytes",
            "Bytes of uploaded debug info stored",
            self.debuginfo_bytes.clone(),
        );
        r.register(
            "compactions",
            "Retention runs completed",
            self.compactions.clone(),
        );
        r.register(
            "compaction_failures",
            "Retention runs that failed",
            self.compaction_failures.clone(),
        );
        r.register(
            "windows_settled",
            "Minute windows summed into per-service rows, settling again included",
            self.windows_settled.clone(),
        );
        r.register(
            "settle_failures",
            "Settle runs that failed",
            self.settle_failures.clone(),
        );
        r.register(
            "rows_rolled_up",
            "Minute sample rows rolled up into hour windows",
            self.rows_rolled_up.clone(),
        );
        r.register(
            "rows_expired",
            "Sample rows deleted by retention or the byte bound",
            self.rows_expired.clone(),
        );
        r.register(
            "storage_bytes",
            "Bytes the stored profiles took after the last retention run",
            self.storage_bytes.clone(),
        );
        r.register(
            "debuginfo_offers",
            "Build-ids agents offered to upload, by answer",
            self.debuginfo_offers.clone(),
        );
    }

    /// Counts `n` hits of the limit named `limit`.
    pub fn limit_hit(&self, limit: &'static str, n: u64) {
        if n > 0 {
            self.limit_hits
                .get_or_create(&vec![("limit", limit)])
                .inc_by(n);
        }
    }

    /// Counts a refused batch.
    pub fn rejected(&self, reason: &str) {
        self.batches_rejected
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }
}
