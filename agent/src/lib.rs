//! The Augur host agent.
//!
//! A sampling thread owns the BPF [`sampler`], drains it every window, and
//! [`resolve`]s the raw stacks into a batch whose user frames are
//! `(build-id, file offset)` and whose processes carry [`identity`] labels.
//! The async [`ship`]per compresses batches into a durable on-disk [`spool`]
//! and pushes them from there to the aggregator, over the [`transport`]
//! (TLS, bearer token) shared with Augur's other gRPC clients.
//! [`Collector`] is the sampling half on its own, for `augur record`.
//!
//! Cost grows with sample frequency x CPUs (map entries per drain) and with
//! process churn (maps and build-ids read once per process), never with the
//! workload's own throughput.

pub mod config;
pub mod cri;
pub mod debuginfo;
pub mod identity;
pub mod metrics;
pub mod perfmap;
pub mod profiles;
pub mod relabel;
pub mod resolve;
pub mod runtime;
pub mod sampler;
pub mod ship;
pub mod spool;
pub mod transport;
pub mod unwind;

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use augur_wire::batch::ValidBatch;
use libbpf_rs::{OpenObject, RingBuffer, RingBufferBuilder};
use tokio::sync::mpsc;

pub use identity::IdentityConfig;
pub use metrics::AgentMetrics;
pub use profiles::{ProfileKind, ProfileSpec, SampleRate};
pub use sampler::{SamplerError, SamplerOptions};

use resolve::{FrameResolver, ResolveStats};
use sampler::Sampler;

/// Longest the sampling thread sleeps between checks for a stop request
/// when no new process wakes it.
pub const STOP_CHECK: Duration = Duration::from_millis(250);

/// Agent settings.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Aggregator URL, e.g. `http://127.0.0.1:7070`.
    pub server: String,
    /// Samples per second per CPU.
    pub frequency_hz: u64,
    /// How often maps are drained and a batch is sent.
    pub window: Duration,
    /// Host name put on every process.
    pub host: String,
    /// How processes are named and which are profiled.
    pub identity: IdentityConfig,
    /// Counter profiles taken besides on-CPU time.
    pub counter_profiles: Vec<ProfileSpec>,
    /// Directory of the on-disk spool: batches wait there until the server
    /// acknowledged them, across restarts.
    pub spool_dir: PathBuf,
    /// Bound of the spool in bytes; beyond it the oldest batches are dropped.
    pub spool_max_bytes: u64,
    /// Debug-info upload for binaries the server cannot name otherwise.
    pub upload: debuginfo::UploadConfig,
    /// How user stacks are walked.
    pub unwinder: unwind::Unwinder,
    /// TLS and bearer token for the server.
    pub security: transport::ClientSecurity,
    /// Which language runtimes' own frames are read.
    pub runtimes: runtime::RuntimeConfig,
}

impl AgentConfig {
    /// Every profile to take: on-CPU time first, then the counters.
    pub fn profiles(&self) -> Vec<ProfileSpec> {
        std::iter::once(ProfileSpec::cpu(self.frequency_hz))
            .chain(self.counter_profiles.iter().copied())
            .collect()
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            server: "http://127.0.0.1:7070".into(),
            frequency_hz: 19,
            window: Duration::from_secs(10),
            host: host_name(),
            identity: IdentityConfig::default(),
            counter_profiles: Vec::new(),
            spool_dir: PathBuf::from("/var/lib/augur/spool"),
            spool_max_bytes: spool::DEFAULT_MAX_BYTES,
            upload: debuginfo::UploadConfig::default(),
            unwinder: unwind::Unwinder::default(),
            security: transport::ClientSecurity::default(),
            runtimes: runtime::RuntimeConfig::default(),
        }
    }
}

/// How long the agent sees a process before it gives the process's
/// binaries unwind tables (frame pointers until then). Building a table
/// parses the binary's `.eh_frame` (milliseconds to tens of milliseconds);
/// a process that lives shorter is sampled a few times at most, and on a
/// host that compiles code new short-lived binaries arrive by the hundred a
/// minute. `augur record` gives tables at once.
pub const DEFAULT_UNWIND_MIN_AGE: Duration = Duration::from_secs(3);

/// The host's name, from the kernel.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The sampling half of the agent: one BPF sampler per profile, and one
/// frame resolver they share.
pub struct Collector<'obj> {
    samplers: Vec<(ProfileSpec, Sampler<'obj>)>,
    unavailable: Vec<(ProfileKind, String)>,
    /// Every sampler's new-process ring buffer, behind one epoll.
    new_processes: RingBuffer<'static>,
    /// Pids the ring buffer callbacks collected, not yet snapshotted.
    announced: Rc<RefCell<Vec<u32>>>,
    resolver: FrameResolver,
    /// The thread filling the in-kernel unwinder's tables, unless frame
    /// pointers are forced (or its maps could not be set up).
    unwind: Option<unwind::worker::UnwindTableWorker>,
    /// Processes handed to the unwinder's worker.
    unwind_given: std::collections::HashSet<u32>,
    /// Processes not handed over yet, with when they may be: a process gets
    /// tables once it was seen for `unwind_min_age`.
    unwind_parked: std::collections::HashMap<u32, Instant>,
    unwind_min_age: Duration,
    /// The Python walker's maps, when Python stacks are walked.
    python_maps: Option<Arc<sampler::PythonMapFds>>,
    /// The Java walker's maps, when Java frames are walked.
    java_maps: Option<Arc<sampler::JavaMapFds>>,
    host: String,
    window_start: SystemTime,
}

impl<'obj> Collector<'obj> {
    /// See [`FrameResolver::readable_path`].
    pub fn readable_path(&self, id: &augur_profile::FileId) -> Option<std::path::PathBuf> {
        self.resolver.readable_path(id)
    }

    /// Starts one sampler per profile in `profiles`; `objects` holds their
    /// BPF objects for the collector's life and needs one slot per profile.
    /// A counter profile the machine cannot take (no PMU: ENOENT) is
    /// reported in [`Collector::unavailable`] and skipped; on-CPU sampling
    /// failing is an error.
    pub fn start(
        profiles: &[ProfileSpec],
        options: &SamplerOptions,
        host: String,
        identity: IdentityConfig,
        objects: &'obj mut [MaybeUninit<OpenObject>],
    ) -> Result<Self, SamplerError> {
        assert!(
            objects.len() >= profiles.len(),
            "one BPF object slot per profile"
        );
        let mut samplers = Vec::new();
        let mut unavailable = Vec::new();
        let mut unwind_maps: Option<Arc<unwind::kernel::UnwindMapFds>> = None;
        let mut python_maps: Option<Arc<sampler::PythonMapFds>> = None;
        let mut java_maps: Option<Arc<sampler::JavaMapFds>> = None;
        let mut options = options.clone();
        if options.unwinder == unwind::Unwinder::Auto && !unwind::kernel::kernel_can_unwind() {
            tracing::warn!(
                "this kernel lacks bpf_loop, bpf_find_vma or bpf_task_pt_regs (5.17 or later has them); frame pointers only, and a stack they cut short is not marked"
            );
            options.unwinder = unwind::Unwinder::FramePointers;
        }
        for (spec, object) in profiles.iter().zip(objects.iter_mut()) {
            let options = SamplerOptions {
                profile: *spec,
                unwind_maps: unwind_maps.clone(),
                python_maps: python_maps.clone(),
                java_maps: java_maps.clone(),
                ..options.clone()
            };
            match Sampler::start(&options, object) {
                Ok(sampler) => {
                    if unwind_maps.is_none() {
                        unwind_maps = sampler.unwind_map_fds().map(Arc::new);
                    }
                    if python_maps.is_none() {
                        python_maps = sampler.python_map_fds().map(Arc::new);
                    }
                    if java_maps.is_none() {
                        java_maps = sampler.java_map_fds().map(Arc::new);
                    }
                    samplers.push((*spec, sampler));
                }
                Err(error) if spec.kind != ProfileKind::Cpu => {
                    let reason = match &error {
                        SamplerError::PerfEvent { source, .. }
                            if source.raw_os_error() == Some(libc::ENOENT) =>
                        {
                            "no hardware PMU for this event (ENOENT)".to_owned()
                        }
                        other => other.to_string(),
                    };
                    tracing::warn!(profile = %spec.kind, reason, "profile unavailable; continuing without it");
                    unavailable.push((spec.kind, reason));
                }
                Err(error) => return Err(error),
            }
        }
        if samplers.is_empty() {
            let reasons: Vec<String> = unavailable
                .iter()
                .map(|(kind, why)| format!("{kind}: {why}"))
                .collect();
            return Err(SamplerError::NothingToSample(reasons.join("; ")));
        }
        let announced: Rc<RefCell<Vec<u32>>> = Rc::default();
        let mut builder = RingBufferBuilder::new();
        for (_, sampler) in &samplers {
            let announced = announced.clone();
            builder
                .add(sampler.new_pids_map(), move |record: &[u8]| {
                    if let Some(bytes) = record.get(..4).and_then(|b| b.try_into().ok()) {
                        announced.borrow_mut().push(u32::from_ne_bytes(bytes));
                    }
                    0
                })
                .map_err(|source| SamplerError::Load { source })?;
        }
        let new_processes = builder
            .build()
            .map_err(|source| SamplerError::Load { source })?;
        let unwind = unwind_maps.and_then(|fds| {
            unwind::worker::UnwindTableWorker::start(fds, unwind::CacheLimits::default())
                .inspect_err(|error| {
                    tracing::warn!(%error, "cannot map the unwind tables; frame pointers only");
                })
                .ok()
        });
        let mut resolver = FrameResolver::new(host.clone(), identity);
        let python_procs = python_maps
            .as_ref()
            .and_then(|maps| maps.procs.try_clone().ok());
        resolver.set_python(runtime::python::PythonProcesses::new(python_procs));
        let java_procs = java_maps
            .as_ref()
            .and_then(|maps| maps.procs.try_clone().ok());
        resolver.set_jvm(runtime::jvm::JvmProcesses::new(java_procs));
        Ok(Self {
            python_maps,
            java_maps,
            samplers,
            unavailable,
            new_processes,
            announced,
            unwind,
            unwind_given: Default::default(),
            unwind_parked: Default::default(),
            unwind_min_age: options.unwind_min_age,
            resolver,
            host,
            window_start: SystemTime::now(),
        })
    }

    /// Number of CPUs sampled.
    pub fn cpus(&self) -> usize {
        self.samplers.first().map_or(0, |(_, s)| s.cpus())
    }

    /// Kernel time (ns) and runs of every BPF program, per profile.
    pub fn program_stats(&self) -> Vec<(String, u64, u64)> {
        self.samplers
            .iter()
            .flat_map(|(spec, sampler)| {
                sampler
                    .program_stats()
                    .into_iter()
                    .map(move |(program, ns, runs)| (format!("{}/{program}", spec.kind), ns, runs))
            })
            .collect()
    }

    /// Processes with a memory-map snapshot.
    pub fn tracked_processes(&self) -> usize {
        self.resolver.tracked_processes()
    }

    /// Instructions the verifier processed for each BPF program, per profile.
    pub fn verified_insns(&self) -> Vec<(String, u32)> {
        self.samplers
            .iter()
            .flat_map(|(spec, sampler)| {
                sampler
                    .verified_insns()
                    .into_iter()
                    .map(move |(program, insns)| (format!("{}/{program}", spec.kind), insns))
            })
            .collect()
    }

    /// The unwind tables' cost and the BPF unwinder's counters; `None`
    /// when stacks are walked by frame pointers only.
    pub fn unwind_stats(&self) -> Option<unwind::kernel::KernelTableStats> {
        self.unwind.as_ref().map(|u| u.stats())
    }

    /// Waits until every process handed to the unwinder so far has its
    /// tables (or was found to have none), at most `timeout`; false if
    /// some still wait. True at once without the unwinder.
    pub fn wait_for_unwind_tables(&self, timeout: Duration) -> bool {
        self.unwind.as_ref().is_none_or(|u| u.wait_idle(timeout))
    }

    /// Hands the processes whose snapshot changed to the unwinder's worker
    /// thread; never waits for their tables. A process first seen less
    /// than `unwind_min_age` ago, unless it runs a JVM, is parked until it
    /// is that old: most
    /// processes that live shorter (build steps, shell pipelines) are
    /// sampled a few times at most, and parsing their binaries' unwind
    /// information would cost more than they ran.
    fn sync_unwind_tables(&mut self) {
        let changed = self.resolver.take_changed();
        self.resolver.update_runtimes(&changed);
        let Some(unwind) = &self.unwind else {
            return;
        };
        let now = Instant::now();
        for pid in changed {
            // A JVM's Java frames are walked only with tables, and a
            // runtime's process is no build step: its tables come at once
            // (libjvm's is built once per file and shared).
            if self.unwind_given.contains(&pid)
                || self.unwind_min_age.is_zero()
                || self.resolver.jvm().attached(pid)
            {
                match self.resolver.exec_mappings(pid) {
                    Some(mappings) => {
                        unwind.update_process(pid, mappings);
                        self.unwind_given.insert(pid);
                    }
                    None => {
                        unwind.forget_process(pid);
                        self.unwind_given.remove(&pid);
                    }
                }
            } else {
                self.unwind_parked
                    .entry(pid)
                    .or_insert(now + self.unwind_min_age);
            }
        }
        let resolver = &self.resolver;
        let given = &mut self.unwind_given;
        self.unwind_parked.retain(|&pid, ready| {
            if *ready > now {
                return true;
            }
            if let Some(mappings) = resolver.exec_mappings(pid) {
                unwind.update_process(pid, mappings);
                given.insert(pid);
            }
            false
        });
    }

    /// The Python walker's counters in BPF, summed over CPUs, and what
    /// user space did with its stacks; `None` when Python is off.
    pub fn python_stats(
        &self,
    ) -> Option<(Vec<(augur_bpf::PyStat, u64)>, runtime::python::PythonStats)> {
        let maps = self.python_maps.as_ref()?;
        let kernel = augur_bpf::PyStat::ALL
            .iter()
            .map(|&stat| {
                (
                    stat,
                    unwind::kernel::percpu_sum(&maps.stats, stat as u32).unwrap_or(0),
                )
            })
            .collect();
        Some((kernel, self.resolver.python().stats().clone()))
    }

    /// The Java walker's counters in BPF, summed over CPUs, what user
    /// space did with its frames, and the JVMs registered; `None` when
    /// Java is off.
    pub fn java_stats(&self) -> Option<JavaWalkerStats> {
        let maps = self.java_maps.as_ref()?;
        let kernel = augur_bpf::JvmStat::ALL
            .iter()
            .map(|&stat| {
                (
                    stat,
                    unwind::kernel::percpu_sum(&maps.stats, stat as u32).unwrap_or(0),
                )
            })
            .collect();
        let jvm = self.resolver.jvm();
        Some(JavaWalkerStats {
            kernel,
            user: jvm.stats().clone(),
            registered: jvm.registered(),
        })
    }

    /// Processes whose Python frames are read now.
    pub fn python_processes(&self) -> usize {
        self.resolver.python().registered()
    }

    /// Profiles that could not be started, with the reason.
    pub fn unavailable(&self) -> &[(ProfileKind, String)] {
        &self.unavailable
    }

    /// Sleeps until a BPF program announces a process it sees for the
    /// first time, or `timeout`, then snapshots the announced processes.
    /// Processes are snapshotted within moments of their first sample, so
    /// one that exits before the next drain is still normalized; the thread
    /// wakes for process churn, not on a timer.
    pub fn wait_for_new_processes(&mut self, timeout: Duration) -> usize {
        if let Err(error) = self.new_processes.poll(timeout) {
            tracing::debug!(%error, "waiting on the new-process ring buffer");
        }
        self.snapshot_announced()
    }

    /// Snapshots processes announced so far, without waiting.
    pub fn track_new_processes(&mut self) -> usize {
        if let Err(error) = self.new_processes.consume() {
            tracing::debug!(%error, "reading the new-process ring buffer");
        }
        self.snapshot_announced()
    }

    fn snapshot_announced(&mut self) -> usize {
        let pids = std::mem::take(&mut *self.announced.borrow_mut());
        for &pid in &pids {
            self.resolver.prepare(pid);
        }
        self.sync_unwind_tables();
        pids.len()
    }

    /// Drains every sampler and resolves what it held since the last call:
    /// one batch per profile.
    pub fn collect(&mut self) -> Result<Vec<(ValidBatch, ResolveStats)>, SamplerError> {
        let end = SystemTime::now();
        let start = std::mem::replace(&mut self.window_start, end);
        let mut batches = Vec::with_capacity(self.samplers.len());
        for (spec, sampler) in &mut self.samplers {
            let drained = sampler.drain()?;
            batches.push(self.resolver.resolve(
                &self.host,
                &drained,
                spec.kind.profile_type(),
                spec.sample_value(),
                unix_nanos(start),
                unix_nanos(end),
            ));
        }
        self.sync_unwind_tables();
        for pid in self.resolver.forget_exited() {
            self.unwind_parked.remove(&pid);
            if self.unwind_given.remove(&pid)
                && let Some(unwind) = &self.unwind
            {
                unwind.forget_process(pid);
            }
        }
        Ok(batches)
    }
}

/// What the Java walker did: its BPF counters, the agent's naming, and
/// the JVMs registered now.
#[derive(Clone, Debug)]
pub struct JavaWalkerStats {
    /// BPF counters, summed over CPUs.
    pub kernel: Vec<(augur_bpf::JvmStat, u64)>,
    /// What user space did with the frames.
    pub user: runtime::jvm::JavaStats,
    /// JVMs registered with BPF.
    pub registered: usize,
}

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
        metrics
            .bpf_run_seconds
            .get_or_create(&label)
            .set(ns as f64 / 1e9);
        metrics.bpf_runs.get_or_create(&label).set(runs as i64);
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
            metrics.cpu_seconds.set(cpu as f64 / ticks as f64);
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
