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
use augur_bpf::{DropReason, SampleKey};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};
use perf_event_open::config::{Cpu, Opts, Proc, SampleOn};
use perf_event_open::count::Counter;
use perf_event_open::event::sw::Software;

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
    /// A perf event could not be opened or attached on a CPU.
    #[error("perf event on CPU {cpu}: {source}")]
    PerfEvent {
        /// CPU number.
        cpu: u32,
        /// Kernel error.
        #[source]
        source: std::io::Error,
    },
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
    /// Samples per second per CPU.
    pub frequency_hz: u64,
    /// Only sample this process and its descendants.
    pub filter_tgid: Option<u32>,
}

/// One drain's worth of raw data, still in kernel terms.
#[derive(Debug, Default)]
pub struct Drained {
    /// (key, samples) pairs from the counts map.
    pub counts: Vec<(SampleKey, u64)>,
    /// Stack id -> instruction pointers, leaf first.
    pub stacks: HashMap<i32, Vec<u64>>,
    /// Samples lost in the kernel since the previous drain, by reason.
    pub drops: Vec<(DropReason, u64)>,
}

/// A loaded, attached sampler. Dropping it detaches everything.
pub struct Sampler<'obj> {
    skel: SamplerSkel<'obj>,
    counters: Vec<Counter>,
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

        let prog_fd = skel
            .progs
            .sample_stack
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| SamplerError::PerfEvent { cpu: 0, source: e })?;
        let prog_file = File::from(prog_fd);
        let mut counters = Vec::new();
        for cpu in online_cpus().map_err(SamplerError::OnlineCpus)? {
            let perf_err = |source| SamplerError::PerfEvent { cpu, source };
            let opts = Opts {
                sample_on: SampleOn::Freq(options.frequency_hz),
                ..Opts::default()
            };
            let counter =
                Counter::new(Software::CpuClock, (Proc::ALL, Cpu(cpu)), &opts).map_err(perf_err)?;
            counter.attach_bpf(&prog_file).map_err(perf_err)?;
            counter.enable().map_err(perf_err)?;
            counters.push(counter);
        }
        Ok(Self {
            skel,
            counters,
            generation: 0,
            drops_seen: [0; DropReason::ALL.len()],
        })
    }

    /// Number of CPUs being sampled.
    pub fn cpus(&self) -> usize {
        self.counters.len()
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

        // Read every stack the counts reference, then clear the whole stack
        // map, including entries whose sample was lost to a full counts map.
        let stack_keys: Vec<Vec<u8>> = stacks_map.keys().collect();
        for id_bytes in &stack_keys {
            let id = i32::from_ne_bytes(id_bytes[..4].try_into().expect("u32 key"));
            if let Some(value) = stacks_map
                .lookup(id_bytes, MapFlags::ANY)
                .map_err(|source| SamplerError::Map {
                    map: "stacks",
                    source,
                })?
            {
                let ips: Vec<u64> = value
                    .chunks_exact(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
                    .take_while(|&ip| ip != 0)
                    .collect();
                drained.stacks.insert(id, ips);
            }
            let _ = stacks_map.delete(id_bytes);
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
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5\n"), Some(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
