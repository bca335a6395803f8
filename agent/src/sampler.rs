//! The kernel half of the agent: loads a BPF program (the perf-event
//! sampler with one perf event per online CPU, or the off-CPU program on
//! `sched_switch`), and drains the idle map generation.
//!
//! Draining flips the generation the BPF program writes to, waits for
//! programs already running to finish, then reads and clears the old maps at
//! leisure: no sample is read while half-written, none lost between drains.

use std::collections::HashMap;
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::time::Duration;

use augur_bpf::offcpu::{OffcpuSkel, OffcpuSkelBuilder};
use augur_bpf::sampler::{SamplerSkel, SamplerSkelBuilder};
use augur_bpf::{DropReason, SampleKey, Stack};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, MapMut, OpenObject};
use perf_event_open::config::{Opts, SampleOn};
use perf_event_open::count::Counter;

use crate::profiles::{ProfileKind, ProfileSpec, SampleRate};

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
    /// Samples lost in the kernel since the previous drain, by reason.
    pub drops: Vec<(DropReason, u64)>,
}

/// The loaded BPF program behind a sampler.
enum Program<'obj> {
    /// `sampler.bpf.c`, fed by perf events.
    PerfEvent(SamplerSkel<'obj>),
    /// `offcpu.bpf.c`, on `sched_switch`.
    OffCpu(OffcpuSkel<'obj>),
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

/// Sizes the generation maps and sets the process filter before loading.
macro_rules! configure {
    ($open:expr, $entries:expr, $filter:expr) => {{
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
    }};
}

impl<'obj> Program<'obj> {
    fn shared(&mut self) -> SharedMaps<'_, 'obj> {
        match self {
            Program::PerfEvent(skel) => shared_maps!(skel),
            Program::OffCpu(skel) => shared_maps!(skel),
        }
    }

    fn new_pids_map(&self) -> &MapMut<'obj> {
        match self {
            Program::PerfEvent(skel) => &skel.maps.new_pids,
            Program::OffCpu(skel) => &skel.maps.new_pids,
        }
    }
}

/// Stacks kept from earlier drains, for off-CPU counts that arrive after the
/// drain that cleared their stacks (a thread blocked across a window).
const STACK_GENERATIONS_KEPT: u32 = 6;

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
        let program = if options.profile.kind == ProfileKind::OffCpu {
            let mut open = OffcpuSkelBuilder::default().open(object).map_err(load)?;
            configure!(open, entries, options.filter_tgid);
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
            Program::OffCpu(skel)
        } else {
            let mut open = SamplerSkelBuilder::default().open(object).map_err(load)?;
            configure!(open, entries, options.filter_tgid);
            let skel = open.load().map_err(load)?;
            links.extend(exit_hook(skel.progs.process_exit.attach()));
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
            program,
            _counters: counters,
            _links: links,
            cpus: cpus.len(),
            generation: 0,
            drops_seen: [0; DropReason::ALL.len()],
            recent_stacks: HashMap::new(),
        })
    }

    /// Number of CPUs being sampled.
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// Kernel time (ns) and run count of each of this sampler's BPF
    /// programs, as the kernel accounts them with `kernel.bpf_stats_enabled`.
    pub fn program_stats(&self) -> Vec<(&'static str, u64, u64)> {
        let programs: Vec<(&'static str, std::os::fd::BorrowedFd<'_>)> = match &self.program {
            Program::PerfEvent(skel) => vec![
                ("sample_stack", skel.progs.sample_stack.as_fd()),
                ("process_exit", skel.progs.process_exit.as_fd()),
            ],
            Program::OffCpu(skel) => vec![
                ("switch_task", skel.progs.switch_task.as_fd()),
                ("process_exit", skel.progs.process_exit.as_fd()),
            ],
        };
        programs
            .into_iter()
            .filter_map(|(name, fd)| program_info(fd).map(|(ns, runs)| (name, ns, runs)))
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
            for hash in [key.user_stack, key.kernel_stack] {
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

    /// Switches the BPF program to the other map generation and returns
    /// everything the previous one collected.
    pub fn drain(&mut self) -> Result<Drained, SamplerError> {
        let off_cpu = matches!(self.program, Program::OffCpu(_));
        let old = (self.generation & 1) as usize;
        self.generation = self.generation.wrapping_add(1);
        let maps = self.program.shared();
        // SAFETY: `generation` lives in the live mmap of the program's .bss; a
        // volatile write makes the flip visible to the program immediately.
        unsafe { std::ptr::write_volatile(maps.generation, self.generation) };
        // A BPF program runs for microseconds with preemption off; after
        // this pause none can still be writing the old generation.
        std::thread::sleep(Duration::from_millis(5));
        let (counts_map, stacks_map) = (maps.counts[old], maps.stacks[old]);

        let mut drained = Drained::default();
        let keys: Vec<Vec<u8>> = counts_map.keys().collect();
        for key_bytes in &keys {
            let value = counts_map
                .lookup(key_bytes, MapFlags::ANY)
                .map_err(|source| SamplerError::Map {
                    map: "counts",
                    source,
                })?;
            let (Some(value), Ok(key)) = (value, plain::from_bytes::<SampleKey>(key_bytes)) else {
                continue;
            };
            let count = u64::from_ne_bytes(value[..8].try_into().expect("u64 value"));
            drained.counts.push((*key, count));
        }
        for key_bytes in &keys {
            // A key can vanish only if we deleted it; ignore ENOENT-style errors.
            let _ = counts_map.delete(key_bytes);
        }

        // Read every stack, then clear the whole map, including entries
        // whose sample was lost to a full counts map.
        let stack_keys: Vec<Vec<u8>> = stacks_map.keys().collect();
        for hash_bytes in &stack_keys {
            let hash = u64::from_ne_bytes(hash_bytes[..8].try_into().expect("u64 key"));
            let value = stacks_map
                .lookup(hash_bytes, MapFlags::ANY)
                .map_err(|source| SamplerError::Map {
                    map: "stacks",
                    source,
                })?;
            if let Some(stack) = value
                .as_deref()
                .and_then(|v| plain::from_bytes::<Stack>(v).ok())
            {
                drained.stacks.insert(hash, stack.frames().to_vec());
            }
            let _ = stacks_map.delete(hash_bytes);
        }
        let drops_map = maps.drops;

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
                drained.drops.push((reason, total - *slot));
            }
            *slot = total;
        }
        if off_cpu {
            self.remember_stacks(&mut drained);
        }
        Ok(drained)
    }
}

fn program_info(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u64, u64)> {
    use std::os::fd::AsRawFd;

    use libbpf_rs::libbpf_sys;

    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: `info` is a properly sized, writable bpf_prog_info and `len`
    // holds its size; the fd is a live BPF program.
    let ret = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
    (ret == 0).then_some((info.run_time_ns, info.run_cnt))
}

fn exit_hook(attached: Result<Link, libbpf_rs::Error>) -> Option<Link> {
    // Without the exit hook a recycled pid is not re-announced; its process
    // is then normalized at drain time, which still works.
    attached
        .inspect_err(|error| tracing::warn!(%error, "cannot watch process exits; recycled pids are normalized late"))
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
            profile: crate::profiles::ProfileSpec::cpu(hz),
            filter_tgid: None,
            drain_interval: std::time::Duration::from_secs(secs),
        };
        assert_eq!(options(19, 10).map_entries(2), 2048);
        assert!(options(99, 10).map_entries(2) as u64 >= 99 * 10 * 2 * 2);
        assert_eq!(options(999, 60).map_entries(512), 262_144);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5\n"), Some(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
