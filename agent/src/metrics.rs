//! The agent's self-metrics: what it collected, spooled, shipped and lost, by
//! reason.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type ReasonLabel = Vec<(&'static str, String)>;

/// Raises a counter to a total the kernel or `/proc` keeps (a counter only
/// goes up, so a smaller total, after a reset, leaves it where it is).
pub(crate) fn raise_to(counter: &Counter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

/// [`raise_to`] for a counter of seconds.
pub(crate) fn raise_seconds_to(counter: &Counter<f64, AtomicU64>, total: f64) {
    let delta = total - counter.get();
    if delta > 0.0 {
        counter.inc_by(delta);
    }
}

/// Counters shared by the sampling thread and the shipper.
#[derive(Debug, Default, Clone)]
pub struct AgentMetrics {
    /// Samples resolved into batches.
    pub samples: Counter,
    /// Samples lost or degraded, by reason (kernel drops, exited processes).
    pub samples_lost: Family<ReasonLabel, Counter>,
    /// Batches written durably to the spool, to be sent.
    pub batches_spooled: Counter,
    /// Batches acknowledged by the server (duplicates included).
    pub batches_sent: Counter,
    /// Acknowledgements saying the server already had the batch: a retry
    /// after a lost reply, counted once by the server.
    pub batches_duplicate: Counter,
    /// Push attempts that failed and will be retried.
    pub send_failures: Counter,
    /// Batches given up on, by reason; their samples are lost.
    pub batches_dropped: Family<ReasonLabel, Counter>,
    /// Samples in dropped batches.
    pub samples_dropped_unsent: Counter,
    /// Samples in dropped batches, by reason.
    pub samples_dropped: Family<ReasonLabel, Counter>,
    /// Batches waiting in the spool.
    pub spool_batches: Gauge,
    /// Bytes on disk of the batches waiting in the spool.
    pub spool_bytes: Gauge,
    /// Drains performed.
    pub drains: Counter,
    /// Drains that failed (their samples stay in the maps for the next one).
    pub drain_failures: Counter,
    /// Samples of processes that relabel rules drop (deliberate, not a loss).
    pub samples_filtered: Counter,
    /// Profiles configured but not available here, by profile and reason.
    pub profile_unavailable: Family<Vec<(&'static str, String)>, Gauge>,
    /// Kernel time spent in each BPF program (needs `kernel.bpf_stats_enabled=1`).
    pub bpf_run_seconds: Family<Vec<(&'static str, String)>, Counter<f64, AtomicU64>>,
    /// Runs of each BPF program (needs `kernel.bpf_stats_enabled=1`).
    pub bpf_runs: Family<Vec<(&'static str, String)>, Counter>,
    /// The agent's own CPU time, user plus system.
    pub cpu_seconds: Counter<f64, AtomicU64>,
    /// The agent's resident memory.
    pub resident_bytes: Gauge,
    /// Processes with a memory-map snapshot.
    pub tracked_processes: Gauge,
    /// Binaries considered for debug-info upload, by outcome: `uploaded`,
    /// `not_wanted`, `no_symbols`, `too_large`, `replaced`, `unreadable`,
    /// `failed`.
    pub debuginfo_uploads: Family<ReasonLabel, Counter>,
    /// Bytes of debug info uploaded.
    pub debuginfo_upload_bytes: Counter,
    /// Instructions the verifier processed to load each BPF program.
    pub bpf_verified_insns: Family<Vec<(&'static str, String)>, Gauge>,
    /// Samples whose user stack the unwinder cut short (sent with a final
    /// `[truncated]` frame).
    pub samples_truncated: Counter,
    /// Unwind tables built.
    pub unwind_tables_built: Counter,
    /// Rows of the unwind tables built.
    pub unwind_rows_built: Counter,
    /// Time spent building unwind tables.
    pub unwind_build_seconds: Counter<f64, AtomicU64>,
    /// Binaries without a table, by reason.
    pub unwind_table_failures: Family<ReasonLabel, Counter>,
    /// Unwind tables held (in use or idle).
    pub unwind_tables: Gauge,
    /// Rows of the tables held.
    pub unwind_rows: Gauge,
    /// Memory of the tables held.
    pub unwind_bytes: Gauge,
    /// Rows in the kernel's array.
    pub unwind_kernel_rows: Gauge,
    /// Rows the kernel's array holds at most.
    pub unwind_kernel_rows_capacity: Gauge,
    /// Binaries walked by frame pointers because their table did not fit
    /// in the kernel's array (they get it when rows are freed).
    pub unwind_binaries_waiting: Gauge,
    /// Processes the BPF unwinder has tables for.
    pub unwind_processes: Gauge,
    /// Processes waiting for the table worker (frame pointers meanwhile).
    pub unwind_queue: Gauge,
    /// Process updates the worker's full queue refused.
    pub unwind_queue_full: Counter,
    /// Process updates and exits the table worker handled.
    pub unwind_requests: Counter,
    /// The BPF unwinder's counters: stacks walked, frames by method,
    /// truncations by reason.
    pub unwind_events: Family<Vec<(&'static str, String)>, Counter>,
    /// Stacks walked by a runtime's walker in BPF, by runtime.
    pub runtime_stacks: Family<ReasonLabel, Counter>,
    /// Frames a runtime's walker recorded, by runtime.
    pub runtime_frames: Family<ReasonLabel, Counter>,
    /// What kept a runtime's frames out or unnamed, by runtime and reason.
    pub runtime_failures: Family<ReasonLabel, Counter>,
    /// Processes registered with a runtime's walker, by runtime.
    pub runtime_processes: Family<ReasonLabel, Gauge>,
    /// The memory profile's allocator events, by event: allocations
    /// sampled, frees of tracked ones, frees of untracked blocks, sampled
    /// allocations the live map had no room for.
    pub memory_events: Family<ReasonLabel, Counter>,
    /// Processes whose allocator the memory profile probes.
    pub memory_processes: Gauge,
}

impl AgentMetrics {
    /// Registers every metric under `augur_agent_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("augur_agent");
        r.register(
            "samples_filtered",
            "Samples of processes dropped by relabel rules",
            self.samples_filtered.clone(),
        );
        r.register(
            "profile_unavailable",
            "Configured profiles this host cannot take, by reason (1 = unavailable)",
            self.profile_unavailable.clone(),
        );
        r.register(
            "bpf_run_seconds",
            "Kernel time spent in each BPF program since it was loaded",
            self.bpf_run_seconds.clone(),
        );
        r.register(
            "bpf_runs",
            "Runs of each BPF program since it was loaded",
            self.bpf_runs.clone(),
        );
        r.register(
            "cpu_seconds",
            "The agent's own CPU time (user + system)",
            self.cpu_seconds.clone(),
        );
        r.register(
            "resident_bytes",
            "The agent's resident memory",
            self.resident_bytes.clone(),
        );
        r.register(
            "tracked_processes",
            "Processes with a memory-map snapshot",
            self.tracked_processes.clone(),
        );
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
            "batches_spooled",
            "Batches written durably to the on-disk spool",
            self.batches_spooled.clone(),
        );
        r.register(
            "batches_sent",
            "Batches acknowledged by the server",
            self.batches_sent.clone(),
        );
        r.register(
            "batches_duplicate",
            "Acknowledged batches the server already had (retries counted once)",
            self.batches_duplicate.clone(),
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
            "samples_dropped",
            "Samples in batches given up on, by reason",
            self.samples_dropped.clone(),
        );
        r.register(
            "spool_batches",
            "Batches waiting in the on-disk spool",
            self.spool_batches.clone(),
        );
        r.register(
            "spool_bytes",
            "Bytes on disk of the batches waiting in the spool",
            self.spool_bytes.clone(),
        );
        r.register("drains", "BPF map drains performed", self.drains.clone());
        r.register(
            "debuginfo_uploads",
            "Binaries considered for debug-info upload, by outcome",
            self.debuginfo_uploads.clone(),
        );
        r.register(
            "debuginfo_upload_bytes",
            "Bytes of debug info uploaded to the server",
            self.debuginfo_upload_bytes.clone(),
        );
        r.register(
            "drain_failures",
            "BPF map drains that failed",
            self.drain_failures.clone(),
        );
        r.register(
            "bpf_verified_insns",
            "Instructions the verifier processed to load each BPF program",
            self.bpf_verified_insns.clone(),
        );
        r.register(
            "samples_truncated",
            "Samples whose user stack the unwinder cut short",
            self.samples_truncated.clone(),
        );
        r.register(
            "unwind_tables_built",
            "Unwind tables built from .eh_frame/.debug_frame",
            self.unwind_tables_built.clone(),
        );
        r.register(
            "unwind_rows_built",
            "Rows of the unwind tables built (12 bytes each)",
            self.unwind_rows_built.clone(),
        );
        r.register(
            "unwind_build_seconds",
            "Time spent building unwind tables",
            self.unwind_build_seconds.clone(),
        );
        r.register(
            "unwind_table_failures",
            "Binaries without an unwind table, by reason",
            self.unwind_table_failures.clone(),
        );
        r.register(
            "unwind_tables",
            "Unwind tables held (in use or idle)",
            self.unwind_tables.clone(),
        );
        r.register(
            "unwind_rows",
            "Rows of the unwind tables held",
            self.unwind_rows.clone(),
        );
        r.register(
            "unwind_bytes",
            "Memory of the unwind tables held",
            self.unwind_bytes.clone(),
        );
        r.register(
            "unwind_kernel_rows",
            "Unwind rows in the kernel's array",
            self.unwind_kernel_rows.clone(),
        );
        r.register(
            "unwind_kernel_rows_capacity",
            "Unwind rows the kernel's array holds at most",
            self.unwind_kernel_rows_capacity.clone(),
        );
        r.register(
            "unwind_binaries_waiting",
            "Binaries walked by frame pointers because the kernel's unwind array is full",
            self.unwind_binaries_waiting.clone(),
        );
        r.register(
            "unwind_processes",
            "Processes the BPF unwinder has tables for",
            self.unwind_processes.clone(),
        );
        r.register(
            "unwind_queue",
            "Processes waiting for the unwind table worker (walked by frame pointers meanwhile)",
            self.unwind_queue.clone(),
        );
        r.register(
            "unwind_queue_full",
            "Process updates refused by the unwind table worker's full queue",
            self.unwind_queue_full.clone(),
        );
        r.register(
            "unwind_requests",
            "Process updates and exits the unwind table worker handled",
            self.unwind_requests.clone(),
        );
        r.register(
            "unwind_events",
            "The BPF unwinder's counters: stacks, frames by method, truncations by reason",
            self.unwind_events.clone(),
        );
        r.register(
            "runtime_stacks",
            "Samples with a language runtime's own stack, by runtime",
            self.runtime_stacks.clone(),
        );
        r.register(
            "runtime_frames",
            "Language-runtime frames recorded, by runtime",
            self.runtime_frames.clone(),
        );
        r.register(
            "runtime_failures",
            "Runtime frames missed or left unnamed, by runtime and reason",
            self.runtime_failures.clone(),
        );
        r.register(
            "runtime_processes",
            "Processes whose runtime frames are read, by runtime",
            self.runtime_processes.clone(),
        );
        r.register(
            "memory_events",
            "Memory profile allocator events, by event (sampled, freed, free_untracked, live_map_full, ...)",
            self.memory_events.clone(),
        );
        r.register(
            "memory_processes",
            "Processes whose allocator the memory profile probes",
            self.memory_processes.clone(),
        );
    }

    /// Brings the memory metrics up to the BPF counters (totals since
    /// start) and the processes probed.
    pub fn record_memory(&self, stats: &crate::sample::memory::MemoryStats, probed: usize) {
        for &(stat, total) in stats {
            raise_to(
                &self
                    .memory_events
                    .get_or_create(&vec![("event", stat.name().to_owned())]),
                total,
            );
        }
        self.memory_processes.set(probed as i64);
    }

    /// Brings the Java metrics up to the BPF walker's counters and the
    /// agent's (totals since start).
    pub fn record_java(
        &self,
        kernel: &[(augur_bpf::JvmStat, u64)],
        user: &crate::runtime::jvm::JavaStats,
        registered: usize,
    ) {
        let java = || ("runtime", "java".to_owned());
        let failure = |reason: &str| vec![java(), ("reason", reason.to_owned())];
        let frames = |kind: &str| vec![java(), ("kind", kind.to_owned())];
        for &(stat, total) in kernel {
            let counter = match stat {
                augur_bpf::JvmStat::Stacks => self.runtime_stacks.get_or_create(&vec![java()]),
                augur_bpf::JvmStat::FramesInterpreted => {
                    self.runtime_frames.get_or_create(&frames("interpreted"))
                }
                augur_bpf::JvmStat::FramesCompiled => {
                    self.runtime_frames.get_or_create(&frames("compiled"))
                }
                augur_bpf::JvmStat::FramesStub => {
                    self.runtime_frames.get_or_create(&frames("stub"))
                }
                augur_bpf::JvmStat::LostBlob => self
                    .runtime_failures
                    .get_or_create(&failure("pc_in_no_code_blob")),
                augur_bpf::JvmStat::LostRead => {
                    self.runtime_failures.get_or_create(&failure("read_failed"))
                }
            };
            raise_to(&counter, total);
        }
        for (reason, total) in [
            ("attach_failed", user.attach_failed),
            ("register_failed", user.register_failed),
            ("unnamed_unreadable", user.unnamed),
            ("no_inline_info", user.no_inline_info),
        ] {
            raise_to(
                &self.runtime_failures.get_or_create(&failure(reason)),
                total,
            );
        }
        self.runtime_processes
            .get_or_create(&vec![java()])
            .set(registered as i64);
    }

    /// Brings the Python metrics up to the BPF walker's counters and the
    /// agent's (totals since start).
    pub fn record_python(
        &self,
        kernel: &[(augur_bpf::PyStat, u64)],
        user: &crate::runtime::python::PythonStats,
        registered: usize,
    ) {
        let python = || ("runtime", "python".to_owned());
        let failure = |reason: &str| vec![python(), ("reason", reason.to_owned())];
        for &(stat, total) in kernel {
            let counter = match stat {
                augur_bpf::PyStat::Stacks => self.runtime_stacks.get_or_create(&vec![python()]),
                augur_bpf::PyStat::Frames => self.runtime_frames.get_or_create(&vec![python()]),
                augur_bpf::PyStat::NoThread => self
                    .runtime_failures
                    .get_or_create(&failure("no_thread_state")),
                augur_bpf::PyStat::ReadFailed => {
                    self.runtime_failures.get_or_create(&failure("read_failed"))
                }
                augur_bpf::PyStat::Truncated => self
                    .runtime_failures
                    .get_or_create(&failure("truncated_depth")),
                augur_bpf::PyStat::NoFrame => self
                    .runtime_failures
                    .get_or_create(&failure("no_python_frame")),
            };
            raise_to(&counter, total);
        }
        for (reason, total) in [
            ("unknown_version", user.unknown_version),
            ("register_failed", user.register_failed),
            ("unnamed_process_exited", user.unnamed_exited),
            ("unnamed_unreadable", user.unnamed_unreadable),
        ] {
            raise_to(
                &self.runtime_failures.get_or_create(&failure(reason)),
                total,
            );
        }
        self.runtime_processes
            .get_or_create(&vec![python()])
            .set(registered as i64);
    }

    /// Brings the unwinder's metrics up to `stats` (totals since start).
    pub fn record_unwind(&self, stats: &crate::unwind::kernel::KernelTableStats) {
        let cache = &stats.cache;
        raise_to(&self.unwind_tables_built, cache.builds);
        raise_to(&self.unwind_rows_built, cache.rows_built);
        raise_seconds_to(&self.unwind_build_seconds, cache.build_seconds);
        let mut failures: Vec<(&str, u64)> = cache.failures.iter().map(|(r, n)| (*r, *n)).collect();
        failures.push(("kernel_rows_full", stats.rows_full));
        failures.push(("kernel_processes_full", stats.processes_full));
        for (reason, total) in failures {
            raise_to(
                &self
                    .unwind_table_failures
                    .get_or_create(&vec![("reason", reason.to_owned())]),
                total,
            );
        }
        self.unwind_tables.set(cache.tables as i64);
        self.unwind_rows
            .set(cache.rows.try_into().unwrap_or(i64::MAX));
        self.unwind_bytes
            .set(cache.bytes.try_into().unwrap_or(i64::MAX));
        self.unwind_kernel_rows
            .set(stats.rows_used.try_into().unwrap_or(i64::MAX));
        self.unwind_kernel_rows_capacity
            .set(stats.rows_capacity.try_into().unwrap_or(i64::MAX));
        self.unwind_binaries_waiting
            .set(stats.binaries_waiting as i64);
        self.unwind_processes.set(stats.processes as i64);
        self.unwind_queue.set(stats.queued as i64);
        raise_to(&self.unwind_queue_full, stats.queue_full);
        raise_to(&self.unwind_requests, stats.requests_done);
        for stat in augur_bpf::UnwindStat::ALL {
            let event = match stat {
                augur_bpf::UnwindStat::Stacks => "stacks",
                augur_bpf::UnwindStat::FramesTable => "frames_table",
                augur_bpf::UnwindStat::FramesFramePointer => "frames_frame_pointer",
                augur_bpf::UnwindStat::TruncatedUnsupported => "truncated_unsupported",
                augur_bpf::UnwindStat::TruncatedRead => "truncated_read",
                augur_bpf::UnwindStat::TruncatedDepth => "truncated_depth",
                augur_bpf::UnwindStat::TruncatedReadFramePointer => "truncated_read_frame_pointer",
                augur_bpf::UnwindStat::TruncatedNoMapping => "truncated_no_mapping",
                augur_bpf::UnwindStat::StacksNoTables => "stacks_without_tables",
                augur_bpf::UnwindStat::StacksNoTablesTruncated => "stacks_without_tables_truncated",
                augur_bpf::UnwindStat::StacksNoTablesCompleted => "stacks_without_tables_completed",
            };
            raise_to(
                &self
                    .unwind_events
                    .get_or_create(&vec![("event", event.to_owned())]),
                stats.kernel[stat as usize],
            );
        }
    }

    /// Counts `n` samples lost for `reason`.
    pub fn lost(&self, reason: &str, n: u64) {
        self.samples_lost
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc_by(n);
    }

    /// Counts one batch dropped for `reason`.
    pub fn dropped_batch(&self, reason: &str, samples: u64) {
        let label = vec![("reason", reason.to_owned())];
        self.batches_dropped.get_or_create(&label).inc();
        self.samples_dropped.get_or_create(&label).inc_by(samples);
        self.samples_dropped_unsent.inc_by(samples);
    }

    /// Counts one binary's debug-info upload outcome.
    pub fn debuginfo(&self, outcome: &str) {
        self.debuginfo_uploads
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    /// Sets the spool gauges.
    pub fn spool_depth(&self, batches: usize, bytes: u64) {
        self.spool_batches.set(batches as i64);
        self.spool_bytes.set(bytes.try_into().unwrap_or(i64::MAX));
    }

    /// What the agent did so far, for the line it prints when it stops.
    pub fn summary(&self) -> AgentSummary {
        AgentSummary {
            samples_collected: self.samples.get(),
            batches_sent: self.batches_sent.get(),
            batches_spooled: self.spool_batches.get().max(0) as u64,
            samples_dropped: self.samples_dropped_unsent.get(),
        }
    }
}

/// Totals of one agent run. Displays as
/// `collected N samples, sent M batches, K batches spooled, D samples dropped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentSummary {
    /// Samples collected into batches.
    pub samples_collected: u64,
    /// Batches the server acknowledged.
    pub batches_sent: u64,
    /// Batches still in the spool, sent by the next run.
    pub batches_spooled: u64,
    /// Samples in batches given up on.
    pub samples_dropped: u64,
}

impl std::fmt::Display for AgentSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "collected {} samples, sent {} batches, {} batches spooled, {} samples dropped",
            self.samples_collected, self.batches_sent, self.batches_spooled, self.samples_dropped
        )
    }
}
