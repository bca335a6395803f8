//! The agent's self-metrics: what it collected, lost and shipped, by reason.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type ReasonLabel = Vec<(&'static str, String)>;

/// Counters shared by the sampling thread and the shipper.
#[derive(Debug, Default, Clone)]
pub struct AgentMetrics {
    /// Samples resolved into batches.
    pub samples: Counter,
    /// Samples lost or degraded, by reason (kernel drops, exited processes).
    pub samples_lost: Family<ReasonLabel, Counter>,
    /// Batches acknowledged by the server.
    pub batches_sent: Counter,
    /// Push attempts that failed and will be retried.
    pub send_failures: Counter,
    /// Batches given up on, by reason; their samples are lost.
    pub batches_dropped: Family<ReasonLabel, Counter>,
    /// Samples in dropped batches.
    pub samples_dropped_unsent: Counter,
    /// Batches waiting to be sent.
    pub backlog: Gauge,
    /// Drains performed.
    pub drains: Counter,
    /// Drains that failed (their samples stay in the maps for the next one).
    pub drain_failures: Counter,
}

impl AgentMetrics {
    /// Registers every metric under `augur_agent_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("augur_agent");
        r.register(
            "samples",
            "Samples collected and resolved",
            self.samples.clone(),
        );
        r.register(
            "samples_lost",
            "Samples lost or degraded before sending, by reason",
            self.samples_lost.clone(),
        );
        r.register(
            "batches_sent",
            "Batches acknowledged by the server",
            self.batches_sent.clone(),
        );
        r.register(
            "send_failures",
            "Failed push attempts (retried)",
            self.send_failures.clone(),
        );
        r.register(
            "batches_dropped",
            "Batches given up on, by reason",
            self.batches_dropped.clone(),
        );
        r.register(
            "samples_unsent",
            "Samples in batches given up on",
            self.samples_dropped_unsent.clone(),
        );
        r.register(
            "backlog_batches",
            "Batches waiting to be sent",
            self.backlog.clone(),
        );
        r.register("drains", "BPF map drains performed", self.drains.clone());
        r.register(
            "drain_failures",
            "BPF map drains that failed",
            self.drain_failures.clone(),
        );
    }

    /// Counts `n` samples lost for `reason`.
    pub fn lost(&self, reason: &str, n: u64) {
        self.samples_lost
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc_by(n);
    }

    /// Counts one batch dropped for `reason`.
    pub fn dropped_batch(&self, reason: &str, samples: u64) {
        self.batches_dropped
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
        self.samples_dropped_unsent.inc_by(samples);
    }
}
