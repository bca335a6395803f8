//! The kernel half of the agent: loads the BPF sampler, opens one cpu-clock
//! perf event per online CPU, and drains the idle map generation.
//!
//! Draining flips the generation the BPF program writes to, waits for
//! programs already running to finish, then reads and clears the old maps at
//! leisure: no sample is read while half-written, none lost between drains.

use std::collections::HashMap;
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::time::Duration;

use augur_bpf::sampler::{OpenSamplerSkel, SamplerSkel, SamplerSkelBuilder};
use augur_bpf::{DropReason, SampleKey, Stack};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};
use perf_event_open::config::{Opts, SampleOn};
use perf_event_open::count::Counter;

use crate::profiles::{ProfileSpec, SampleRate};

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

/// A loaded, attached sampler. Dropping it detaches everything.
pub struct Sampler<'obj> {
    skel: SamplerSkel<'obj>,
    counters: Vec<Counter>,
    _exit_link: Option<Link>,
    generation: u32,
    drops_seen: [u64; DropReason::ALL.len()],
}

impl<'obj> Sampler<'obj> {
    /// Loads the BPF program and starts sampling on every online CPU.
    pub fn start(
        options: &SamplerOptions,
        object: &'obj mut MaybeUninit<OpenObject>,
    ) -> Result<Self, SamplerError> {
        let mut open: OpenSamplerSkel<'obj> = SamplerSkelBuilder::default()
            .open(object)
            .map_err(|source| SamplerError::Load { source })?;
        let cpus = online_cpus().map_err(SamplerError::OnlineCpus)?;
        let entries = options.map_entries(cpus.len());
        for map in [
            &mut open.maps.stacks_0,
            &mut open.maps.stacks_1,
            &mut open.maps.counts_0,
            &mut open.maps.counts_1,
        ] {
            map.set_max_entries(entries)
                .map_err(|source| SamplerError::Load { source })?;
        }
        tracing::debug!(entries, cpus = cpus.len(), "sizing sampler maps");
        if let Some(tgid) = options.filter_tgid {
            open.maps
                .rodata_data
                .as_deref_mut()
                .expect("sampler has .rodata")
                .filter_tgid = tgid;
        }
        let skel = open
            .load()
            .map_err(|source| SamplerError::Load { source })?;
        // Without the exit hook a recycled pid is not re-announced; its
        // process is then normalized at drain time, which still works.
        let exit_link = match skel.progs.process_exit.attach() {
            Ok(link) => Some(link),
            Err(error) => {
                tracing::warn!(%error, "cannot watch process exits; recycled pids are normalized late");
                None
            }
        };

        let prog_fd = skel
            .progs
            .sample_stack
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| SamplerError::PerfEvent { cpu: 0, source: e })?;
        let prog_file = File::from(prog_fd);
        let mut counters = Vec::new();
        for cpu in cpus {
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
        Ok(Self {
            skel,
            counters,
            _exit_link: exit_link,
            generation: 0,
            drops_seen: [0; DropReason::ALL.len()],
        })
    }

    /// Number of CPUs being sampled.
    pub fn cpus(&self) -> usize {
        self.counters.len()
    }

    /// Processes sampled for the first time since the last call.
    pub fn new_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        // A queue pops with an empty key; None means empty.
        while let Ok(Some(value)) = self.skel.maps.new_pids.lookup_and_delete(&[]) {
            if let Ok(bytes) = value[..4].try_into() {
                pids.push(u32::from_ne_bytes(bytes));
            }
        }
        pids
    }

    /// Switches the BPF program to the other map generation and returns
    /// everything the previous one collected.
    pub fn drain(&mut self) -> Result<Drained, SamplerError> {
        let old = self.generation & 1;
        self.generation = self.generation.wrapping_add(1);
        let bss = self
            .skel
            .maps
            .bss_data
            .as_deref_mut()
            .expect("sampler has .bss");
        // SAFETY: `bss` is the live mmap of the BPF program's .bss; a volatile
        // write makes the flip visible to the program immediately.
        unsafe { std::ptr::write_volatile(&mut bss.generation, self.generation) };
        // A perf-event BPF program runs for microseconds with preemption off;
        // after this pause none can still be writing the old generation.
        std::thread::sleep(Duration::from_millis(5));

        let maps = &self.skel.maps;
        let (counts_map, stacks_map) = if old == 0 {
            (&maps.counts_0, &maps.stacks_0)
        } else {
            (&maps.counts_1, &maps.stacks_1)
        };

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

        for reason in DropReason::ALL {
            let index = (reason as u32).to_ne_bytes();
            let per_cpu = maps
                .drops
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
        Ok(drained)
    }
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
