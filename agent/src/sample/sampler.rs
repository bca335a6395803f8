//! The kernel half of the agent: loads a BPF program (the perf-event
//! sampler with one perf event per online CPU, the off-CPU program on
//! `sched_switch`, or the memory program on allocator uprobes), and drains
//! the idle map generation.
//!
//! Draining flips the generation the BPF program writes to, waits for
//! programs already running to finish, then reads and clears the old maps at
//! leisure: no sample is read while half-written, none lost between drains.
//! The kernel addresses of a drain are named here too, by the kernel itself
//! (`name_kernel_addrs`, a `syscall` BPF program printing them with `%ps`):
//! a lookup per new address instead of parsing all of `/proc/kallsyms`,
//! which costs more CPU than the rest of the agent's first minute.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use augur_bpf::growth::{GrowthSkel, GrowthSkelBuilder};
use augur_bpf::memory::{MemorySkel, MemorySkelBuilder};
use augur_bpf::offcpu::{OffcpuSkel, OffcpuSkelBuilder};
use augur_bpf::sampler::{SamplerSkel, SamplerSkelBuilder};
use augur_bpf::{DropReason, KSYM_BATCH, SampleKey, Stack};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, MapMut, OpenObject, ProgramInput};
use perf_event_open::config::{Opts, SampleOn};
use perf_event_open::count::Counter;

use crate::sample::memory::{MemoryOptions, MemoryState, MemoryStats};
use crate::sample::profiles::{ProfileKind, ProfileSpec, SampleRate};
use crate::unwind::Unwinder;
use crate::unwind::kernel::{MAX_PROCESSES, ROW_CAPACITY, UnwindMapFds};

/// Errors while setting up or draining the sampler.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    /// The BPF object could not be opened or loaded.
    #[error("loading the BPF sampler: {source}")]
    Load {
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
    /// A perf event could not be opened or attached on a CPU. ENOENT for a
    /// hardware event means the machine has no PMU for it.
    #[error("perf event on CPU {cpu}: {source}")]
    PerfEvent {
        /// CPU number.
        cpu: u32,
        /// Kernel error.
        #[source]
        source: std::io::Error,
    },
    /// No profile could be started.
    #[error("no profile could be started: {0}")]
    NothingToSample(String),
    /// The list of online CPUs could not be read.
    #[error("reading online CPUs: {0}")]
    OnlineCpus(#[source] std::io::Error),
    /// A map operation failed while draining.
    #[error("draining BPF map {map}: {source}")]
    Map {
        /// Map name.
        map: &'static str,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
}

/// How to sample.
#[derive(Clone, Debug)]
pub struct SamplerOptions {
    /// Which event, how often.
    pub profile: ProfileSpec,
    /// Only sample this process and its descendants.
    pub filter_tgid: Option<u32>,
    /// Longest expected time between drains; sizes the maps.
    pub drain_interval: Duration,
    /// How perf-event samplers walk user stacks.
    pub unwinder: Unwinder,
    /// The unwinder's maps of an earlier sampler, shared rather than
    /// created again.
    pub unwind_maps: Option<Arc<UnwindMapFds>>,
    /// How long a process is seen before its binaries get unwind tables
    /// (frame pointers until then); see [`crate::DEFAULT_UNWIND_MIN_AGE`].
    pub unwind_min_age: Duration,
    /// Whether perf-event samplers walk Python stacks.
    pub python: bool,
    /// Whether perf-event samplers walk Java frames (with unwind tables
    /// only: the walk is part of the table unwinder).
    pub java: bool,
    /// The Java walker's maps of an earlier sampler, shared.
    pub java_maps: Option<Arc<JavaMapFds>>,
    /// The Python walker's maps of an earlier sampler, shared rather than
    /// created again.
    pub python_maps: Option<Arc<PythonMapFds>>,
    /// Which processes the memory profile probes, and how many
    /// allocations it tracks.
    pub memory: MemoryOptions,
}

/// File descriptors of the Java walker's maps, shared by every
/// perf-event sampler of the agent.
#[derive(Debug)]
pub struct JavaMapFds {
    /// `jvm_procs`: the registered JVMs.
    pub procs: OwnedFd,
    /// `jvm_stats`: the walker's per-CPU counters.
    pub stats: OwnedFd,
}

/// File descriptors of the Python walker's maps, shared by every
/// perf-event sampler of the agent.
#[derive(Debug)]
pub struct PythonMapFds {
    /// `py_procs`: the registered processes.
    pub procs: OwnedFd,
    /// `py_stats`: the walker's per-CPU counters.
    pub stats: OwnedFd,
}

impl SamplerOptions {
    /// Entries of each stacks and counts map: room for every sample of one
    /// drain interval having distinct user and kernel stacks, with headroom
    /// for a late drain. Bounded, since the maps are preallocated.
    pub fn map_entries(&self, cpus: usize) -> u32 {
        // Counter profiles have no fixed rate; assume a busy 1000/s per CPU.
        let per_second = match self.profile.rate {
            SampleRate::Frequency(hz) => hz,
            SampleRate::Period(_) => 1000,
        };
        let per_window = per_second as f64 * self.drain_interval.as_secs_f64() * cpus as f64;
        let wanted = (per_window * 2.0 * 2.0).ceil() as u64;
        wanted.clamp(1024, 262_144).next_power_of_two() as u32
    }
}

/// One drain's worth of raw data, still in kernel terms.
#[derive(Debug, Default)]
pub struct Drained {
    /// (key, samples) pairs from the counts map.
    pub counts: Vec<(SampleKey, u64)>,
    /// Stack hash -> instruction pointers, leaf first.
    pub stacks: HashMap<u64, Vec<u64>>,
    /// Hashes of the stacks the unwinder cut short (`STACK_TRUNCATED`).
    pub truncated: HashSet<u64>,
    /// Hashes of the Python stacks of threads that held the GIL.
    pub gil_held: HashSet<u64>,
    /// Hashes of the runtime stacks holding Java frames.
    pub java: HashSet<u64>,
    /// Samples lost in the kernel since the previous drain, by reason.
    pub drops: Vec<(DropReason, u64)>,
    /// Names of the kernel stacks' [`lookup_addrs`], as the kernel gave
    /// them; `None` for an address kallsyms does not know. An address
    /// missing here was not named (no `name_kernel_addrs` on this kernel, or
    /// a name too long for it): the resolver names it from `/proc/kallsyms`.
    pub kernel_names: HashMap<u64, Option<KernelSymbol>>,
}

/// A kernel function, named by the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSymbol {
    /// Function name.
    pub function: String,
    /// Module holding it; `None` in the kernel image (and BPF programs).
    pub module: Option<String>,
}

impl KernelSymbol {
    /// Parses what `%ps` prints: `function`, `function [module]`, or the
    /// address as `0x...` when kallsyms does not know it (`Some(None)`).
    /// `None` when there is nothing to parse.
    fn parse(text: &str) -> Option<Option<Self>> {
        if text.is_empty() {
            return None;
        }
        if text.starts_with("0x") {
            return Some(None);
        }
        let (function, module) = match text.strip_suffix(']').and_then(|t| t.rsplit_once(" [")) {
            Some((function, module)) => (function, Some(module.to_owned())),
            None => (text, None),
        };
        Some(Some(Self {
            function: function.to_owned(),
            module,
        }))
    }
}

/// Addresses to look up for a leaf-first stack: return addresses minus one,
/// so that each lands inside its call instruction.
pub fn lookup_addrs(ips: &[u64]) -> impl Iterator<Item = u64> + '_ {
    ips.iter()
        .enumerate()
        .map(|(i, &ip)| if i == 0 { ip } else { ip.saturating_sub(1) })
}

/// The loaded BPF program behind a sampler.
enum Program<'obj> {
    /// `sampler.bpf.c`, fed by perf events.
    PerfEvent(SamplerSkel<'obj>),
    /// `offcpu.bpf.c`, on `sched_switch`.
    OffCpu(OffcpuSkel<'obj>),
    /// `memory.bpf.c`, on uprobes of each probed process's allocator.
    Memory(MemorySkel<'obj>),
    /// `growth.bpf.c`, on `sys_enter` (`brk`, `mmap`).
    Growth(GrowthSkel<'obj>),
}

/// The maps both programs share, borrowed for one drain.
struct SharedMaps<'a, 'obj> {
    counts: [&'a MapMut<'obj>; 2],
    stacks: [&'a MapMut<'obj>; 2],
    drops: &'a MapMut<'obj>,
    generation: &'a mut u32,
}

macro_rules! shared_maps {
    ($skel:expr) => {{
        let maps = &mut $skel.maps;
        SharedMaps {
            counts: [&maps.counts_0, &maps.counts_1],
            stacks: [&maps.stacks_0, &maps.stacks_1],
            drops: &maps.drops,
            generation: &mut maps
                .bss_data
                .as_deref_mut()
                .expect("program has .bss")
                .generation,
        }
    }};
}

/// Sizes the generation maps, sets the process filter and whether user
/// stacks without tables are walked in BPF (`fp_walk.h`), before loading.
macro_rules! configure {
    ($open:expr, $entries:expr, $filter:expr, $fp_walk:expr) => {{
        for map in [
            &mut $open.maps.stacks_0,
            &mut $open.maps.stacks_1,
            &mut $open.maps.counts_0,
            &mut $open.maps.counts_1,
        ] {
            map.set_max_entries($entries)
                .map_err(|source| SamplerError::Load { source })?;
        }
        if let Some(tgid) = $filter {
            $open
                .maps
                .rodata_data
                .as_deref_mut()
                .expect("program has .rodata")
                .filter_tgid = tgid;
        }
        $open
            .maps
            .rodata_data
            .as_deref_mut()
            .expect("program has .rodata")
            .user_fp_walk = u32::from($fp_walk);
    }};
}

/// Sets up the user and runtime stack walks of a program that includes
/// `walks.h` (unwind tables, Java, Python), sharing the maps of an earlier
/// sampler when there is one.
macro_rules! configure_walkers {
    ($open:expr, $options:expr, $load:expr) => {{
        let open = &mut $open;
        let options = &$options;
        let load = $load;
        if options.unwinder == Unwinder::Auto {
            open.maps
                .rodata_data
                .as_deref_mut()
                .expect("program has .rodata")
                .unwind_enabled = 1;
            let maps = &mut open.maps;
            match &options.unwind_maps {
                Some(shared) => {
                    maps.unwind_rows
                        .reuse_fd(shared.rows.as_fd())
                        .map_err(load)?;
                    maps.unwind_procs
                        .reuse_fd(shared.procs.as_fd())
                        .map_err(load)?;
                    maps.unwind_stats
                        .reuse_fd(shared.stats.as_fd())
                        .map_err(load)?;
                    maps.unwind_files
                        .reuse_fd(shared.files.as_fd())
                        .map_err(load)?;
                }
                None => {
                    maps.unwind_rows
                        .set_max_entries(ROW_CAPACITY / augur_bpf::UNWIND_ROWS_PER_CHUNK as u32)
                        .map_err(load)?;
                    maps.unwind_procs
                        .set_max_entries(MAX_PROCESSES)
                        .map_err(load)?;
                }
            }
        }
        if options.java && options.unwinder == Unwinder::Auto {
            open.maps
                .rodata_data
                .as_deref_mut()
                .expect("program has .rodata")
                .jvm_enabled = 1;
            if let Some(shared) = &options.java_maps {
                let maps = &mut open.maps;
                maps.jvm_procs
                    .reuse_fd(shared.procs.as_fd())
                    .map_err(load)?;
                maps.jvm_stats
                    .reuse_fd(shared.stats.as_fd())
                    .map_err(load)?;
            }
        }
        if options.python {
            open.maps
                .rodata_data
                .as_deref_mut()
                .expect("program has .rodata")
                .py_enabled = 1;
            if let Some(shared) = &options.python_maps {
                let maps = &mut open.maps;
                maps.py_procs.reuse_fd(shared.procs.as_fd()).map_err(load)?;
                maps.py_stats.reuse_fd(shared.stats.as_fd()).map_err(load)?;
            }
        }
    }};
}

/// Names up to [`KSYM_BATCH`] kernel addresses with the skeleton's
/// `name_kernel_addrs` program, through its mmapped `.bss`.
macro_rules! name_kernel_addrs {
    ($skel:expr, $addrs:expr) => {{
        let addrs: &[u64] = $addrs;
        {
            let bss = $skel
                .maps
                .bss_data
                .as_deref_mut()
                .expect("program has .bss");
            bss.ksym_addrs[..addrs.len()].copy_from_slice(addrs);
            bss.ksym_count = addrs.len() as u32;
        }
        $skel
            .progs
            .name_kernel_addrs
            .test_run(ProgramInput::default())?;
        let bss = $skel.maps.bss_data.as_deref().expect("program has .bss");
        Ok(bss.ksym_names[..addrs.len()]
            .iter()
            .map(|name| {
                let bytes: Vec<u8> = name
                    .iter()
                    .take_while(|&&c| c != 0)
                    .map(|&c| c as u8)
                    .collect();
                KernelSymbol::parse(&String::from_utf8_lossy(&bytes))
            })
            .collect())
    }};
}

impl<'obj> Program<'obj> {
    /// Names at most [`KSYM_BATCH`] kernel addresses: see [`KernelSymbol::parse`].
    fn name_kernel_addrs(
        &mut self,
        addrs: &[u64],
    ) -> Result<Vec<Option<Option<KernelSymbol>>>, libbpf_rs::Error> {
        debug_assert!(addrs.len() <= KSYM_BATCH);
        match self {
            Program::PerfEvent(skel) => name_kernel_addrs!(skel, addrs),
            Program::OffCpu(skel) => name_kernel_addrs!(skel, addrs),
            Program::Memory(skel) => name_kernel_addrs!(skel, addrs),
            Program::Growth(skel) => name_kernel_addrs!(skel, addrs),
        }
    }

    fn shared(&mut self) -> SharedMaps<'_, 'obj> {
        match self {
            Program::PerfEvent(skel) => shared_maps!(skel),
            Program::OffCpu(skel) => shared_maps!(skel),
            Program::Memory(skel) => shared_maps!(skel),
            Program::Growth(skel) => shared_maps!(skel),
        }
    }

    fn new_pids_map(&self) -> &MapMut<'obj> {
        match self {
            Program::PerfEvent(skel) => &skel.maps.new_pids,
            Program::OffCpu(skel) => &skel.maps.new_pids,
            Program::Memory(skel) => &skel.maps.new_pids,
            Program::Growth(skel) => &skel.maps.new_pids,
        }
    }
}

/// Stacks kept from earlier drains, for off-CPU counts that arrive after the
/// drain that cleared their stacks (a thread blocked across a window).
const STACK_GENERATIONS_KEPT: u32 = 6;

/// Kernel names a sampler keeps at most; all are forgotten beyond it.
const MAX_KERNEL_NAMES: usize = 200_000;

/// Whether this kernel runs `name_kernel_addrs`: `syscall` programs
/// (5.14) calling `bpf_snprintf` (5.13, needs CAP_PERFMON). Probed once.
fn kernel_names_itself() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        use libbpf_rs::libbpf_sys;
        // SAFETY: probes with no options; loads and frees a tiny program.
        let probe = unsafe {
            libbpf_sys::libbpf_probe_bpf_helper(
                libbpf_sys::BPF_PROG_TYPE_SYSCALL,
                libbpf_sys::BPF_FUNC_snprintf,
                std::ptr::null(),
            )
        };
        if probe <= 0 {
            tracing::info!(
                probe,
                "this kernel cannot name addresses for BPF; reading /proc/kallsyms instead"
            );
        }
        probe > 0
    })
}

/// A loaded, attached sampler. Dropping it detaches everything.
pub struct Sampler<'obj> {
    program: Program<'obj>,
    /// Perf events feeding the program; closing them stops sampling.
    _counters: Vec<Counter>,
    _links: Vec<Link>,
    cpus: usize,
    generation: u32,
    drops_seen: [u64; DropReason::ALL.len()],
    /// Off-CPU only: stack hash -> (frames, drain in which it was last seen).
    recent_stacks: HashMap<u64, (Vec<u64>, u32)>,
    /// Whether `name_kernel_addrs` is loaded and working.
    names_kernel: bool,
    /// Kernel lookup address -> name, across drains.
    kernel_names: HashMap<u64, Option<KernelSymbol>>,
    /// The memory profile's processes and held stacks.
    memory: Option<MemoryState>,
}

impl<'obj> Sampler<'obj> {
    /// Loads the BPF program for `options.profile` and starts sampling on
    /// every online CPU.
    pub fn start(
        options: &SamplerOptions,
        object: &'obj mut MaybeUninit<OpenObject>,
    ) -> Result<Self, SamplerError> {
        let cpus = online_cpus().map_err(SamplerError::OnlineCpus)?;
        let entries = options.map_entries(cpus.len());
        tracing::debug!(entries, cpus = cpus.len(), profile = %options.profile.kind, "sizing sampler maps");
        let load = |source| SamplerError::Load { source };
        let mut links = Vec::new();
        let mut counters = Vec::new();
        let names_kernel = kernel_names_itself();
        let mut memory = None;
        let mut growth = false;
        // User stacks without tables: walked and marked in BPF where the
        // kernel has the helpers, else by bpf_get_stack.
        let walks_in_bpf = crate::unwind::kernel::kernel_can_unwind();
        let program = if options.profile.kind == ProfileKind::OffCpu {
            let mut open = OffcpuSkelBuilder::default().open(object).map_err(load)?;
            configure!(open, entries, options.filter_tgid, walks_in_bpf);
            open.progs.name_kernel_addrs.set_autoload(names_kernel);
            if let SampleRate::Period(min_block_ns) = options.profile.rate {
                open.maps
                    .rodata_data
                    .as_deref_mut()
                    .expect("program has .rodata")
                    .min_block_ns = min_block_ns;
            }
            let skel = open.load().map_err(load)?;
            links.push(skel.progs.switch_task.attach().map_err(load)?);
            links.extend(exit_hook(skel.progs.process_exit.attach()));
            links.extend(exec_hook(skel.progs.process_exec.attach()));
            Program::OffCpu(skel)
        } else if matches!(options.profile.kind, ProfileKind::Brk | ProfileKind::Mmap) {
            let mut open = GrowthSkelBuilder::default().open(object).map_err(load)?;
            configure!(open, entries, options.filter_tgid, walks_in_bpf);
            // User stacks only: nothing for the kernel to name.
            open.progs.name_kernel_addrs.set_autoload(false);
            open.maps
                .rodata_data
                .as_deref_mut()
                .expect("program has .rodata")
                .syscall_nr = if options.profile.kind == ProfileKind::Brk {
                12
            } else {
                9
            };
            configure_walkers!(open, options, load);
            let skel = open.load().map_err(load)?;
            links.push(skel.progs.grow.attach().map_err(load)?);
            links.extend(exit_hook(skel.progs.process_exit.attach()));
            links.extend(exec_hook(skel.progs.process_exec.attach()));
            growth = true;
            Program::Growth(skel)
        } else if options.profile.kind == ProfileKind::Memory {
            let mut open = MemorySkelBuilder::default().open(object).map_err(load)?;
            configure!(open, entries, options.filter_tgid, walks_in_bpf);
            // The memory program counts in its own maps.
            open.maps.counts_0.set_max_entries(1).map_err(load)?;
            open.maps.counts_1.set_max_entries(1).map_err(load)?;
            open.maps
                .live
                .set_max_entries(options.memory.live_capacity.max(1))
                .map_err(load)?;
            open.maps.allocs_0.set_max_entries(entries).map_err(load)?;
            open.maps.allocs_1.set_max_entries(entries).map_err(load)?;
            open.progs.name_kernel_addrs.set_autoload(false);
            let SampleRate::Period(mean_bytes) = options.profile.rate else {
                unreachable!("memory is sampled by bytes")
            };
            {
                let rodata = open
                    .maps
                    .rodata_data
                    .as_deref_mut()
                    .expect("program has .rodata");
                rodata.fp_at_entry = 1;
                rodata.sample_bytes = mean_bytes;
                rodata.intervals = crate::sample::memory::interval_quantiles(mean_bytes);
            }
            configure_walkers!(open, options, load);
            let sessions = crate::sample::memory::kernel_has_uprobe_sessions();
            open.progs.alloc_session.set_autoload(sessions);
            open.progs.alloc_entry.set_autoload(!sessions);
            open.progs.alloc_exit.set_autoload(!sessions);
            let skel = open.load().map_err(load)?;
            tracing::info!(sessions, "memory profile loaded");
            links.extend(exit_hook(skel.progs.process_exit.attach()));
            links.extend(exec_hook(skel.progs.process_exec.attach()));
            let mut state = MemoryState::new(
                mean_bytes,
                sessions,
                options.memory.clone(),
                options.filter_tgid,
            );
            state.refresh(&skel, None);
            memory = Some(state);
            Program::Memory(skel)
        } else {
            let mut open = SamplerSkelBuilder::default().open(object).map_err(load)?;
            configure!(open, entries, options.filter_tgid, walks_in_bpf);
            open.progs.name_kernel_addrs.set_autoload(names_kernel);
            configure_walkers!(open, options, load);
            let skel = open.load().map_err(load)?;
            let verified = program_info(skel.progs.sample_stack.as_fd()).map_or(0, |i| i.2);
            tracing::info!(
                verified_insns = verified,
                unwinder = ?options.unwinder,
                "sample_stack loaded"
            );
            links.extend(exit_hook(skel.progs.process_exit.attach()));
            links.extend(exec_hook(skel.progs.process_exec.attach()));
            let prog_fd = skel
                .progs
                .sample_stack
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| SamplerError::PerfEvent { cpu: 0, source: e })?;
            let prog_file = File::from(prog_fd);
            for &cpu in &cpus {
                let perf_err = |source| SamplerError::PerfEvent { cpu, source };
                let opts = Opts {
                    sample_on: match options.profile.rate {
                        SampleRate::Frequency(hz) => SampleOn::Freq(hz),
                        SampleRate::Period(n) => SampleOn::Count(n),
                    },
                    ..Opts::default()
                };
                let counter = options
                    .profile
                    .kind
                    .open_counter(cpu, &opts)
                    .map_err(perf_err)?;
                counter.attach_bpf(&prog_file).map_err(perf_err)?;
                counter.enable().map_err(perf_err)?;
                counters.push(counter);
            }
            Program::PerfEvent(skel)
        };
        Ok(Self {
            names_kernel: names_kernel && memory.is_none() && !growth,
            memory,
            program,
            _counters: counters,
            _links: links,
            cpus: cpus.len(),
            generation: 0,
            drops_seen: [0; DropReason::ALL.len()],
            recent_stacks: HashMap::new(),
            kernel_names: HashMap::new(),
        })
    }

    /// The Python walker's maps (new file descriptors), when this sampler
    /// walks Python stacks.
    pub fn python_map_fds(&self) -> Option<PythonMapFds> {
        macro_rules! fds {
            ($skel:expr) => {{
                if $skel.maps.rodata_data.as_ref()?.py_enabled == 0 {
                    return None;
                }
                Some(PythonMapFds {
                    procs: $skel.maps.py_procs.as_fd().try_clone_to_owned().ok()?,
                    stats: $skel.maps.py_stats.as_fd().try_clone_to_owned().ok()?,
                })
            }};
        }
        match &self.program {
            Program::PerfEvent(skel) => fds!(skel),
            Program::Memory(skel) => fds!(skel),
            Program::Growth(skel) => fds!(skel),
            Program::OffCpu(_) => None,
        }
    }

    /// The Java walker's maps (new file descriptors), when this sampler
    /// walks Java frames.
    pub fn java_map_fds(&self) -> Option<JavaMapFds> {
        macro_rules! fds {
            ($skel:expr) => {{
                if $skel.maps.rodata_data.as_ref()?.jvm_enabled == 0 {
                    return None;
                }
                Some(JavaMapFds {
                    procs: $skel.maps.jvm_procs.as_fd().try_clone_to_owned().ok()?,
                    stats: $skel.maps.jvm_stats.as_fd().try_clone_to_owned().ok()?,
                })
            }};
        }
        match &self.program {
            Program::PerfEvent(skel) => fds!(skel),
            Program::Memory(skel) => fds!(skel),
            Program::Growth(skel) => fds!(skel),
            Program::OffCpu(_) => None,
        }
    }

    /// The unwinder's maps (new file descriptors), when this sampler walks
    /// user stacks with unwind tables.
    pub fn unwind_map_fds(&self) -> Option<UnwindMapFds> {
        macro_rules! fds {
            ($skel:expr) => {{
                if $skel.maps.rodata_data.as_ref()?.unwind_enabled == 0 {
                    return None;
                }
                let maps = &$skel.maps;
                Some(UnwindMapFds {
                    rows: maps.unwind_rows.as_fd().try_clone_to_owned().ok()?,
                    procs: maps.unwind_procs.as_fd().try_clone_to_owned().ok()?,
                    stats: maps.unwind_stats.as_fd().try_clone_to_owned().ok()?,
                    files: maps.unwind_files.as_fd().try_clone_to_owned().ok()?,
                    row_capacity: maps.unwind_rows.max_entries()
                        * augur_bpf::UNWIND_ROWS_PER_CHUNK as u32,
                })
            }};
        }
        match &self.program {
            Program::PerfEvent(skel) => fds!(skel),
            Program::Memory(skel) => fds!(skel),
            Program::Growth(skel) => fds!(skel),
            Program::OffCpu(_) => None,
        }
    }

    /// Instructions the verifier processed to load each BPF program.
    pub fn verified_insns(&self) -> Vec<(&'static str, u32)> {
        self.programs()
            .into_iter()
            .filter_map(|(name, fd)| program_info(fd).map(|(_, _, insns)| (name, insns)))
            .collect()
    }

    fn programs(&self) -> Vec<(&'static str, std::os::fd::BorrowedFd<'_>)> {
        match &self.program {
            Program::PerfEvent(skel) => vec![
                ("sample_stack", skel.progs.sample_stack.as_fd()),
                ("process_exit", skel.progs.process_exit.as_fd()),
                ("process_exec", skel.progs.process_exec.as_fd()),
            ],
            Program::OffCpu(skel) => vec![
                ("switch_task", skel.progs.switch_task.as_fd()),
                ("process_exit", skel.progs.process_exit.as_fd()),
                ("process_exec", skel.progs.process_exec.as_fd()),
            ],
            Program::Memory(skel) => {
                let progs = &skel.progs;
                // Only the loaded ones: sessions, or the pair they replace.
                let allocation = if self.memory.as_ref().is_some_and(|m| m.sessions()) {
                    vec![("alloc_session", progs.alloc_session.as_fd())]
                } else {
                    vec![
                        ("alloc_entry", progs.alloc_entry.as_fd()),
                        ("alloc_exit", progs.alloc_exit.as_fd()),
                    ]
                };
                allocation
                    .into_iter()
                    .chain([
                        ("free_entry", progs.free_entry.as_fd()),
                        ("process_exit", progs.process_exit.as_fd()),
                        ("process_exec", progs.process_exec.as_fd()),
                    ])
                    .collect()
            }
            Program::Growth(skel) => vec![
                ("grow", skel.progs.grow.as_fd()),
                ("process_exit", skel.progs.process_exit.as_fd()),
                ("process_exec", skel.progs.process_exec.as_fd()),
            ],
        }
    }

    /// Number of CPUs being sampled.
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// Kernel time (ns) and run count of each of this sampler's BPF
    /// programs, as the kernel accounts them with `kernel.bpf_stats_enabled`.
    pub fn program_stats(&self) -> Vec<(&'static str, u64, u64)> {
        self.programs()
            .into_iter()
            .filter_map(|(name, fd)| program_info(fd).map(|(ns, runs, _)| (name, ns, runs)))
            .collect()
    }

    /// The ring buffer on which the program announces processes it sees
    /// for the first time (a `u32` pid per record).
    pub fn new_pids_map(&self) -> &MapMut<'obj> {
        self.program.new_pids_map()
    }

    /// Off-CPU counts can arrive a window after their stacks were drained
    /// (the thread blocked across a drain): fill them in from stacks kept
    /// from recent drains, and keep this drain's stacks for later.
    fn remember_stacks(&mut self, drained: &mut Drained) {
        let now = self.generation;
        for (hash, frames) in &drained.stacks {
            self.recent_stacks.insert(*hash, (frames.clone(), now));
        }
        for (key, _) in &drained.counts {
            for hash in [key.user_stack, key.kernel_stack, key.runtime_stack] {
                if let (false, Some((frames, seen))) = (
                    drained.stacks.contains_key(&hash),
                    self.recent_stacks.get_mut(&hash),
                ) {
                    *seen = now;
                    drained.stacks.insert(hash, frames.clone());
                }
            }
        }
        self.recent_stacks
            .retain(|_, (_, seen)| now.wrapping_sub(*seen) < STACK_GENERATIONS_KEPT);
    }

    /// Flips the generation the BPF program writes to and waits until
    /// none can still be writing the old one; returns the old one.
    fn flip(&mut self) -> usize {
        let old = (self.generation & 1) as usize;
        self.generation = self.generation.wrapping_add(1);
        let maps = self.program.shared();
        // SAFETY: `generation` lives in the live mmap of the program's .bss; a
        // volatile write makes the flip visible to the program immediately.
        unsafe { std::ptr::write_volatile(maps.generation, self.generation) };
        // A BPF program runs for microseconds with preemption off; after
        // this pause none can still be writing the old generation.
        std::thread::sleep(Duration::from_millis(5));
        old
    }

    /// Drains every profile type this sampler takes: one, or the memory
    /// profile's four ([`crate::profiles::MEMORY_TYPES`]), each with its
    /// type.
    pub fn drain_all(
        &mut self,
        kind: ProfileKind,
    ) -> Result<Vec<(augur_profile::ProfileType, Drained)>, SamplerError> {
        if self.memory.is_none() {
            return Ok(vec![(kind.profile_type(), self.drain()?)]);
        }
        let old = self.flip();
        let drops = self.read_drops()?;
        let (Program::Memory(skel), Some(memory)) = (&mut self.program, &mut self.memory) else {
            unreachable!("memory state comes with the memory program");
        };
        let maps = &skel.maps;
        let (allocs, stacks) = if old == 0 {
            (&maps.allocs_0, &maps.stacks_0)
        } else {
            (&maps.allocs_1, &maps.stacks_1)
        };
        let mut drained = memory.collect(allocs, stacks, &maps.live)?;
        for (_, d) in &mut drained {
            d.drops = drops.clone();
        }
        memory.refresh(skel, None);
        Ok(drained)
    }

    /// Probes the allocators of `pids` (new processes announced) for the
    /// memory profile; nothing for other profiles.
    pub fn probe_processes(&mut self, pids: &[u32]) {
        if let (Program::Memory(skel), Some(memory)) = (&self.program, &mut self.memory) {
            memory.refresh(skel, Some(pids));
        }
    }

    /// The memory program's counters, and the processes it probes; `None`
    /// for other profiles.
    pub fn memory_stats(&self) -> Option<(MemoryStats, usize)> {
        let (Program::Memory(skel), Some(memory)) = (&self.program, &self.memory) else {
            return None;
        };
        Some((
            crate::sample::memory::stats(&skel.maps.mem_stats),
            memory.probed(),
        ))
    }

    /// The allocator files the memory profile probes, as (device, inode).
    pub fn memory_probed_files(&self) -> HashSet<(u64, u64)> {
        self.memory
            .as_ref()
            .map(|m| m.probed_files())
            .unwrap_or_default()
    }

    /// Samples (or parts) the kernel lost since the last call, by reason.
    fn read_drops(&mut self) -> Result<Vec<(DropReason, u64)>, SamplerError> {
        let drops_map = self.program.shared().drops;
        let mut drops = Vec::new();
        for reason in DropReason::ALL {
            let index = (reason as u32).to_ne_bytes();
            let per_cpu = drops_map
                .lookup_percpu(&index, MapFlags::ANY)
                .map_err(|source| SamplerError::Map {
                    map: "drops",
                    source,
                })?
                .unwrap_or_default();
            let total: u64 = per_cpu
                .iter()
                .map(|v| u64::from_ne_bytes(v[..8].try_into().expect("u64 value")))
                .sum();
            let slot = &mut self.drops_seen[reason as usize];
            if total > *slot {
                drops.push((reason, total - *slot));
            }
            *slot = total;
        }
        Ok(drops)
    }

    /// Switches the BPF program to the other map generation and returns
    /// everything the previous one collected.
    pub fn drain(&mut self) -> Result<Drained, SamplerError> {
        let off_cpu = matches!(self.program, Program::OffCpu(_));
        let old = self.flip();
        let maps = self.program.shared();
        let (counts_map, stacks_map) = (maps.counts[old], maps.stacks[old]);

        let mut drained = Drained::default();
        take_all(counts_map, "counts", |key, value| {
            if let (Ok(key), Some(count)) = (plain::from_bytes::<SampleKey>(key), u64_at(value)) {
                drained.counts.push((*key, count));
            }
        })?;
        // Every stack, including those whose sample was lost to a full
        // counts map: the map must end up empty.
        take_all(stacks_map, "stacks", |hash, value| {
            if let (Some(hash), Ok(stack)) = (u64_at(hash), plain::from_bytes::<Stack>(value)) {
                if stack.truncated() {
                    drained.truncated.insert(hash);
                }
                if stack.flags & augur_bpf::PY_STACK_GIL_HELD != 0 {
                    drained.gil_held.insert(hash);
                }
                if stack.flags & augur_bpf::RUNTIME_JAVA != 0 {
                    drained.java.insert(hash);
                }
                drained.stacks.insert(hash, stack.frames().to_vec());
            }
        })?;
        drained.drops = self.read_drops()?;
        if off_cpu {
            self.remember_stacks(&mut drained);
        }
        if self.names_kernel {
            self.name_kernel_stacks(&mut drained);
        }
        Ok(drained)
    }

    /// Fills `drained.kernel_names`, asking the kernel only about addresses
    /// no earlier drain saw. A failing program is reported once and left
    /// alone; the resolver then reads `/proc/kallsyms` instead.
    fn name_kernel_stacks(&mut self, drained: &mut Drained) {
        if self.kernel_names.len() > MAX_KERNEL_NAMES {
            self.kernel_names.clear();
        }
        let mut addrs: Vec<u64> = drained
            .counts
            .iter()
            .filter_map(|(key, _)| drained.stacks.get(&key.kernel_stack))
            .flat_map(|ips| lookup_addrs(ips))
            .collect();
        addrs.sort_unstable();
        addrs.dedup();
        let new: Vec<u64> = addrs
            .iter()
            .copied()
            .filter(|a| !self.kernel_names.contains_key(a))
            .collect();
        for batch in new.chunks(KSYM_BATCH) {
            match self.program.name_kernel_addrs(batch) {
                Ok(names) => {
                    for (&addr, name) in batch.iter().zip(names) {
                        if let Some(name) = name {
                            self.kernel_names.insert(addr, name);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "naming kernel addresses in the kernel failed; reading /proc/kallsyms instead");
                    self.names_kernel = false;
                    break;
                }
            }
        }
        drained.kernel_names = addrs
            .into_iter()
            .filter_map(|a| Some((a, self.kernel_names.get(&a)?.clone())))
            .collect();
    }
}

/// Entries moved per `BPF_MAP_LOOKUP_AND_DELETE_BATCH` call.
const DRAIN_BATCH: usize = 256;

/// Reads and deletes every entry of a hash map that no program writes to
/// any more, a batch of entries per system call (rather than three calls
/// per entry: next key, lookup, delete).
pub(crate) fn take_all(
    map: &MapMut<'_>,
    name: &'static str,
    each: impl FnMut(&[u8], &[u8]),
) -> Result<(), SamplerError> {
    batch_read(map, name, true, each)
}

/// Reads every entry of a hash map, a batch per system call, leaving them
/// in place. Entries written meanwhile may be missed or seen twice only if
/// the map changes under the walk; the memory profile reads its live map
/// so, and a window's snapshot needs no more.
pub(crate) fn read_all(
    map: &MapMut<'_>,
    name: &'static str,
    each: impl FnMut(&[u8], &[u8]),
) -> Result<(), SamplerError> {
    batch_read(map, name, false, each)
}

fn batch_read(
    map: &MapMut<'_>,
    name: &'static str,
    delete: bool,
    mut each: impl FnMut(&[u8], &[u8]),
) -> Result<(), SamplerError> {
    use std::os::fd::AsRawFd;

    use libbpf_rs::libbpf_sys;

    let (key_size, value_size) = (map.key_size() as usize, map.value_size() as usize);
    let mut keys = vec![0u8; key_size * DRAIN_BATCH];
    let mut values = vec![0u8; value_size * DRAIN_BATCH];
    // The position to resume from: a bucket index (u32) for hash maps.
    let mut position = [0u64; 1];
    let mut next = [0u64; 1];
    let opts = libbpf_sys::bpf_map_batch_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
        ..Default::default()
    };
    let mut first = true;
    loop {
        let mut count = DRAIN_BATCH as u32;
        // SAFETY: the buffers hold DRAIN_BATCH keys and values of the map's
        // sizes, the positions 8 bytes; the fd is a live map.
        let batch = if delete {
            libbpf_sys::bpf_map_lookup_and_delete_batch
        } else {
            libbpf_sys::bpf_map_lookup_batch
        };
        let ret = unsafe {
            batch(
                map.as_fd().as_raw_fd(),
                if first {
                    std::ptr::null_mut()
                } else {
                    position.as_mut_ptr().cast()
                },
                next.as_mut_ptr().cast(),
                keys.as_mut_ptr().cast(),
                values.as_mut_ptr().cast(),
                &mut count,
                &opts,
            )
        };
        let error = (ret < 0).then(|| std::io::Error::from_raw_os_error(-ret));
        if error
            .as_ref()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::Interrupted)
        {
            continue;
        }
        // With ENOENT (the end), `count` entries were still returned.
        let count = if error.is_none() || ret == -libc::ENOENT {
            (count as usize).min(DRAIN_BATCH)
        } else {
            0
        };
        for (key, value) in keys
            .chunks_exact(key_size)
            .zip(values.chunks_exact(value_size))
            .take(count)
        {
            each(key, value);
        }
        match error {
            None => {}
            Some(_) if ret == -libc::ENOENT => return Ok(()),
            Some(error) => {
                return Err(SamplerError::Map {
                    map: name,
                    source: libbpf_rs::Error::from(error),
                });
            }
        }
        position = next;
        first = false;
    }
}

/// The native-endian u64 at the start of `bytes`.
fn u64_at(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Run time (ns), runs and verified instructions of a loaded program.
fn program_info(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u64, u64, u32)> {
    use std::os::fd::AsRawFd;

    use libbpf_rs::libbpf_sys;

    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: `info` is a properly sized, writable bpf_prog_info and `len`
    // holds its size; the fd is a live BPF program.
    let ret = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
    (ret == 0).then_some((info.run_time_ns, info.run_cnt, info.verified_insns))
}

fn exit_hook(attached: Result<Link, libbpf_rs::Error>) -> Option<Link> {
    // Without the exit hook a recycled pid is not re-announced; its process
    // is then normalized at drain time, which still works.
    attached
        .inspect_err(|error| tracing::warn!(%error, "cannot watch process exits; recycled pids are normalized late"))
        .ok()
}

fn exec_hook(attached: Result<Link, libbpf_rs::Error>) -> Option<Link> {
    // Without the exec hook a process keeps the labels and mappings of the
    // program it ran when first sampled; mappings are still re-read when an
    // address falls outside them.
    attached
        .inspect_err(|error| tracing::warn!(%error, "cannot watch exec; a process that execs keeps its first labels"))
        .ok()
}

/// CPUs listed in `/sys/devices/system/cpu/online` (e.g. `0-3,5`).
fn online_cpus() -> std::io::Result<Vec<u32>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    parse_cpu_list(&text)
        .ok_or_else(|| std::io::Error::other(format!("unparsable CPU list {text:?}")))
}

fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<u32>().ok()?..=b.parse::<u32>().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn maps_hold_a_window_and_stay_bounded() {
        let options = |hz, secs| super::SamplerOptions {
            profile: crate::sample::profiles::ProfileSpec::cpu(hz),
            filter_tgid: None,
            drain_interval: std::time::Duration::from_secs(secs),
            unwinder: Default::default(),
            unwind_maps: None,
            unwind_min_age: std::time::Duration::ZERO,
            python: false,
            python_maps: None,
            memory: Default::default(),
            java: false,
            java_maps: None,
        };
        assert_eq!(options(19, 10).map_entries(2), 2048);
        assert!(options(99, 10).map_entries(2) as u64 >= 99 * 10 * 2 * 2);
        assert_eq!(options(999, 60).map_entries(512), 262_144);
    }

    #[test]
    fn kernel_symbols_are_parsed_as_printed() {
        use super::KernelSymbol;
        let symbol = |f: &str, m: Option<&str>| {
            Some(Some(KernelSymbol {
                function: f.to_owned(),
                module: m.map(str::to_owned),
            }))
        };
        assert_eq!(KernelSymbol::parse("vfs_read"), symbol("vfs_read", None));
        assert_eq!(
            KernelSymbol::parse("nf_hook_slow [nf_tables]"),
            symbol("nf_hook_slow", Some("nf_tables"))
        );
        assert_eq!(KernelSymbol::parse("0xffffffffc0201000"), Some(None));
        assert_eq!(KernelSymbol::parse(""), None);
    }

    /// The kernel names its own addresses as /proc/kallsyms lists them.
    #[test]
    fn the_kernel_names_kernel_addresses() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED the_kernel_names_kernel_addresses: loading BPF needs root");
            return;
        }
        if !super::kernel_names_itself() {
            eprintln!("SKIPPED the_kernel_names_kernel_addresses: this kernel cannot");
            return;
        }
        let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
        let address = |name: &str| {
            kallsyms
                .lines()
                .find_map(|l| {
                    let mut f = l.split_whitespace();
                    let (addr, kind, sym) = (f.next()?, f.next()?, f.next()?);
                    (sym == name && kind.eq_ignore_ascii_case("t"))
                        .then(|| u64::from_str_radix(addr, 16).ok())
                        .flatten()
                })
                .unwrap_or_else(|| panic!("{name} is not in /proc/kallsyms"))
        };
        let options = super::SamplerOptions {
            profile: crate::sample::profiles::ProfileSpec::cpu(19),
            filter_tgid: None,
            drain_interval: std::time::Duration::from_secs(1),
            unwinder: Default::default(),
            unwind_maps: None,
            unwind_min_age: std::time::Duration::ZERO,
            python: false,
            python_maps: None,
            memory: Default::default(),
            java: false,
            java_maps: None,
        };
        let mut object = std::mem::MaybeUninit::uninit();
        let mut sampler = super::Sampler::start(&options, &mut object).unwrap();
        let addrs = [address("vfs_read") + 1, address("schedule"), 0x1000];
        let names = sampler.program.name_kernel_addrs(&addrs).unwrap();
        let function = |i: usize| names[i].clone().flatten().map(|s| s.function);
        assert_eq!(function(0).as_deref(), Some("vfs_read"));
        assert_eq!(function(1).as_deref(), Some("schedule"));
        assert_eq!(names[2], Some(None), "0x1000 is no kernel function");
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5\n"), Some(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
