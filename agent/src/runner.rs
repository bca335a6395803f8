//! The runner: the agent as a daemon. [`start`] opens the shipper and the
//! debug-info uploader, starts the sampling thread around a
//! [`Collector`] and returns once sampling is attached; the thread drains
//! every window and hands batches to the shipper; [`RunningAgent::stop`]
//! sends the last window and waits for both halves.

use std::mem::MaybeUninit;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime};

use augur_wire::batch::ValidBatch;
use libbpf_rs::OpenObject;
use tokio::sync::mpsc;

use crate::collector::{Collector, unix_nanos};
use crate::config::{AgentConfig, DEFAULT_UNWIND_MIN_AGE};
use crate::metrics::AgentMetrics;
use crate::sample::profiles::ProfileSpec;
use crate::sample::sampler::{SamplerError, SamplerOptions};
use crate::{debuginfo, ship};

/// Longest the sampling thread sleeps between checks for a stop request
/// when no new process wakes it.
pub const STOP_CHECK: Duration = Duration::from_millis(250);

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Sampling could not start.
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    /// The sampling thread died.
    #[error("the sampling thread panicked")]
    ThreadPanicked,
    /// Shipping could not start (spool directory, server URL).
    #[error(transparent)]
    Shipper(#[from] ship::ShipperError),
}

/// A running agent; [`RunningAgent::stop`] drains, ships the last window and
/// waits for both halves to finish.
pub struct RunningAgent {
    stop: std_mpsc::Sender<()>,
    sampling: std::thread::JoinHandle<Result<(), SamplerError>>,
    shipping: tokio::task::JoinHandle<()>,
    uploading: Option<tokio::task::JoinHandle<()>>,
    metrics: AgentMetrics,
}

impl RunningAgent {
    /// Stops sampling, sends what is left, and waits.
    pub async fn stop(self) -> Result<(), AgentError> {
        drop(self.stop);
        let sampling = tokio::task::spawn_blocking(move || self.sampling.join())
            .await
            .map_err(|_| AgentError::ThreadPanicked)?
            .map_err(|_| AgentError::ThreadPanicked)?;
        let _ = self.shipping.await;
        if let Some(uploading) = self.uploading {
            // Uploads are best effort and may be long; the next run offers
            // whatever this one did not finish.
            uploading.abort();
        }
        tracing::info!(summary = %self.metrics.summary(), "agent stopped");
        Ok(sampling?)
    }
}

/// Starts the agent: a sampling thread and a shipping task on the current
/// tokio runtime. Returns once sampling is attached on every CPU.
pub async fn start(config: AgentConfig, metrics: AgentMetrics) -> Result<RunningAgent, AgentError> {
    let shipper = ship::ShipperConfig {
        server: config.server.clone(),
        spool_dir: config.spool_dir.clone(),
        spool_max_bytes: config.spool_max_bytes,
        compression_level: 3,
        security: config.security.clone(),
    };
    let shipper = ship::Shipper::open(shipper, metrics.clone())?;
    let (offers, uploading) = if config.upload.enabled {
        let (tx, rx) = mpsc::channel(1024);
        let task = debuginfo::run(
            config.upload.clone(),
            config.spool_dir.clone(),
            // Its own connection, without a call timeout: a paced upload
            // may take minutes and must not hold up pushes.
            ship::channel(&config.server, &config.security, None)?,
            rx,
            metrics.clone(),
        );
        (Some(debuginfo::Offers::new(tx)), Some(tokio::spawn(task)))
    } else {
        (None, None)
    };
    let (batch_tx, batch_rx) = mpsc::channel::<(String, ValidBatch)>(16);
    let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<usize, SamplerError>>();
    let thread_metrics = metrics.clone();
    let thread_config = config.clone();
    let sampling = std::thread::Builder::new()
        .name("augur-sampler".into())
        .spawn(move || {
            sampling_loop(
                thread_config,
                batch_tx,
                offers,
                stop_rx,
                ready_tx,
                thread_metrics,
            )
        })
        .expect("spawning the sampler thread");
    let shipping = tokio::spawn(shipper.run(batch_rx));
    match ready_rx.await {
        Ok(Ok(cpus)) => {
            tracing::info!(cpus, frequency_hz = config.frequency_hz, window = ?config.window, "agent sampling");
            Ok(RunningAgent {
                stop: stop_tx,
                sampling,
                shipping,
                uploading,
                metrics,
            })
        }
        Ok(Err(error)) => Err(error.into()),
        Err(_) => Err(AgentError::ThreadPanicked),
    }
}

/// Own CPU, memory and BPF cost, refreshed every drain.
fn record_self_metrics(collector: &Collector<'_>, metrics: &AgentMetrics) {
    for (program, ns, runs) in collector.program_stats() {
        let label = vec![("program", program)];
        crate::metrics::raise_seconds_to(
            &metrics.bpf_run_seconds.get_or_create(&label),
            ns as f64 / 1e9,
        );
        crate::metrics::raise_to(&metrics.bpf_runs.get_or_create(&label), runs);
    }
    metrics
        .tracked_processes
        .set(collector.tracked_processes() as i64);
    for (program, insns) in collector.verified_insns() {
        metrics
            .bpf_verified_insns
            .get_or_create(&vec![("program", program)])
            .set(i64::from(insns));
    }
    if let Some(stats) = collector.unwind_stats() {
        metrics.record_unwind(&stats);
    }
    if let Some((kernel, user)) = collector.python_stats() {
        metrics.record_python(&kernel, &user, collector.python_processes());
    }
    if let Some(java) = collector.java_stats() {
        metrics.record_java(&java.kernel, &java.user, java.registered);
    }
    if let Some((stats, probed)) = collector.memory_stats() {
        metrics.record_memory(&stats, probed);
    }
    // SAFETY: sysconf has no preconditions.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command: utime and stime are 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let cpu: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        if ticks > 0 {
            crate::metrics::raise_seconds_to(&metrics.cpu_seconds, cpu as f64 / ticks as f64);
        }
    }
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        if let Some(pages) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i64>().ok())
        {
            metrics.resident_bytes.set(pages * page.max(1));
        }
    }
}

fn sampling_loop(
    config: AgentConfig,
    batches: mpsc::Sender<(String, ValidBatch)>,
    mut offers: Option<debuginfo::Offers>,
    stop: std_mpsc::Receiver<()>,
    ready: tokio::sync::oneshot::Sender<Result<usize, SamplerError>>,
    metrics: AgentMetrics,
) -> Result<(), SamplerError> {
    let profiles = config.profiles();
    let mut objects: Vec<MaybeUninit<OpenObject>> =
        profiles.iter().map(|_| MaybeUninit::uninit()).collect();
    let options = SamplerOptions {
        profile: ProfileSpec::cpu(config.frequency_hz),
        filter_tgid: None,
        drain_interval: config.window,
        unwinder: config.unwinder,
        unwind_maps: None,
        unwind_min_age: DEFAULT_UNWIND_MIN_AGE,
        python: config.runtimes.python,
        python_maps: None,
        memory: config.memory.clone(),
        java: config.runtimes.java,
        java_maps: None,
    };
    let started = Collector::start(
        &profiles,
        &options,
        config.host.clone(),
        config.identity.clone(),
        &mut objects,
    );
    let mut collector = match started {
        Ok(c) => {
            for (kind, reason) in c.unavailable() {
                metrics
                    .profile_unavailable
                    .get_or_create(&vec![
                        ("profile", kind.to_string()),
                        ("reason", reason.clone()),
                    ])
                    .set(1);
                println!("augur: profile {kind} unavailable on this host: {reason}");
            }
            let _ = ready.send(Ok(c.cpus()));
            c
        }
        Err(e) => {
            // The error is reported through `ready`; `start` returns it.
            let _ = ready.send(Err(e));
            return Ok(());
        }
    };
    let agent_id = format!("{}-{}", config.host, unix_nanos(SystemTime::now()));
    let mut sequence: u64 = 0;
    let mut next = Instant::now() + config.window;
    loop {
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(STOP_CHECK);
        collector.wait_for_new_processes(wait);
        let stopping = match stop.try_recv() {
            Err(std_mpsc::TryRecvError::Empty) => false,
            Ok(()) | Err(std_mpsc::TryRecvError::Disconnected) => true,
        };
        if !stopping && Instant::now() < next {
            continue;
        }
        next += config.window;
        if next < Instant::now() {
            // A slow drain must not cause a burst of catch-up drains.
            next = Instant::now() + config.window;
        }
        let collected = match collector.collect() {
            Ok(collected) => collected,
            Err(error) => {
                // One failed drain must not stop the agent; the next one
                // picks up whatever the maps still hold.
                tracing::error!(%error, "draining the sampler failed");
                metrics.drain_failures.inc();
                if stopping {
                    return Err(error);
                }
                continue;
            }
        };
        metrics.drains.inc();
        record_self_metrics(&collector, &metrics);
        for (batch, stats) in collected {
            metrics.samples.inc_by(batch.total_samples());
            metrics.samples_filtered.inc_by(stats.filtered);
            metrics.samples_truncated.inc_by(stats.truncated);
            for (reason, n) in &batch.dropped {
                metrics.lost(reason, *n);
            }
            if stats.stack_lost > 0 {
                tracing::debug!(samples = stats.stack_lost, "samples with a lost stack");
            }
            if batch.samples.is_empty() {
                continue;
            }
            if let Some(offers) = &mut offers {
                for (build_id, path) in &batch.binaries {
                    // Read through the descriptor the resolver holds, if
                    // it holds one: the path may name another file now.
                    let readable = collector.readable_path(build_id);
                    let readable = readable.as_ref().map(|p| p.to_string_lossy());
                    offers.offer(build_id, path, readable.as_deref());
                }
            }
            sequence += 1;
            let id = format!("{agent_id}-{sequence}");
            if batches.blocking_send((id, batch)).is_err() {
                return Ok(());
            }
        }
        if stopping {
            return Ok(());
        }
    }
}
