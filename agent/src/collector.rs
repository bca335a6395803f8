//! The collector: what gathers samples each window.
//!
//! One BPF sampler per profile, the frame resolver they share, the thread
//! filling the in-kernel unwinder's tables, and the new-process ring buffer
//! that wakes them. [`Collector::collect`] drains every sampler and resolves
//! the window into one batch per profile; the [`runner`](crate::runner)
//! decides when, and `augur record` drives it directly.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use augur_wire::batch::ValidBatch;
use libbpf_rs::{OpenObject, RingBuffer, RingBufferBuilder};

use crate::identity::IdentityConfig;
use crate::resolve::{FrameResolver, ResolveStats};
use crate::sample::profiles::{ProfileKind, ProfileSpec};
use crate::sample::sampler::{self, Sampler, SamplerError, SamplerOptions};
use crate::{runtime, unwind};

pub(crate) fn unix_nanos(t: SystemTime) -> i64 {
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
    /// Processes given only the tables at hand when first seen, with when
    /// they get the rest: once seen for `unwind_min_age`.
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
    /// than `unwind_min_age` ago, unless it runs a JVM, is handed over at
    /// once as a young one (the tables already built, and those of small
    /// binaries never seen, so it is walked with tables from its first
    /// moments) and parked until it is that old for the rest: most
    /// processes that live shorter (build steps, shell pipelines) are
    /// sampled a few times at most, and parsing their large binaries'
    /// unwind information would cost more than they ran.
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
                if let Some(mappings) = self.resolver.exec_mappings(pid) {
                    unwind.update_young_process(pid, mappings);
                }
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
            match resolver.exec_mappings(pid) {
                Some(mappings) => {
                    unwind.update_process(pid, mappings);
                    given.insert(pid);
                }
                // Its young tables, if any.
                None => unwind.forget_process(pid),
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

    /// The memory program's counters and the processes whose allocator it
    /// probes; `None` without the memory profile.
    pub fn memory_stats(&self) -> Option<(crate::sample::memory::MemoryStats, usize)> {
        self.samplers.iter().find_map(|(_, s)| s.memory_stats())
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
        if !pids.is_empty() {
            for (_, sampler) in &mut self.samplers {
                sampler.probe_processes(&pids);
            }
        }
        self.sync_unwind_tables();
        pids.len()
    }

    /// Drains every sampler and resolves what it held since the last call:
    /// one batch per profile type (the memory profile has four).
    pub fn collect(&mut self) -> Result<Vec<(ValidBatch, ResolveStats)>, SamplerError> {
        let end = SystemTime::now();
        let start = std::mem::replace(&mut self.window_start, end);
        let mut batches = Vec::with_capacity(self.samplers.len());
        for (spec, sampler) in &mut self.samplers {
            for (profile_type, drained) in sampler.drain_all(spec.kind)? {
                batches.push(self.resolver.resolve(
                    &self.host,
                    &drained,
                    profile_type,
                    spec.sample_value(),
                    unix_nanos(start),
                    unix_nanos(end),
                ));
            }
        }
        self.sync_unwind_tables();
        for pid in self.resolver.forget_exited() {
            // A parked process holds its young tables.
            let parked = self.unwind_parked.remove(&pid).is_some();
            if (self.unwind_given.remove(&pid) || parked)
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
