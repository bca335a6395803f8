//! Which profiles the agent takes: on-CPU time from the cpu-clock, and
//! counter profiles from software or hardware perf events, each with its
//! own sample type and unit from the kernel to the pprof file.
//!
//! On-CPU time samples at a frequency, so its cost is rate x CPUs. Counter
//! profiles sample every `period` events; their cost follows the event rate
//! divided by the period, so choose a period that keeps samples per second
//! low on busy hosts.

use std::fmt;
use std::io;

use augur_profile::ProfileType;
use perf_event_open::config::{Cpu, Opts, Proc};
use perf_event_open::count::Counter;
use perf_event_open::event::hw::Hardware;
use perf_event_open::event::sw::Software;

/// A kind of profile the agent can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    /// On-CPU time (cpu-clock), in nanoseconds.
    Cpu,
    /// Time blocked off CPU, in nanoseconds, from `sched_switch`; its
    /// "period" is the shortest block counted.
    OffCpu,
    /// Page faults (software event).
    PageFaults,
    /// Context switches (software event).
    ContextSwitches,
    /// CPU cycles (hardware PMU).
    Cycles,
    /// Retired instructions (hardware PMU).
    Instructions,
    /// Last-level cache misses (hardware PMU).
    CacheMisses,
    /// Mispredicted branches (hardware PMU).
    BranchMisses,
    /// Bytes `brk` grew the heap by, from the `sys_enter` tracepoint.
    Brk,
    /// Bytes anonymous `mmap` mapped, from the `sys_enter` tracepoint.
    Mmap,
    /// Memory allocated and held, from uprobes on each process's
    /// allocator; its "period" is the mean bytes between samples. Four
    /// types in Go's heap vocabulary ([`MEMORY_TYPES`]).
    Memory,
}

/// The memory profile's types: allocations in a window (`alloc_*`, summed)
/// and what is held at its end (`inuse_*`, gauges), as in Go's heap profile.
pub const MEMORY_TYPES: [(&str, &str); 4] = [
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
];

/// Mean bytes between memory samples when none is configured, as Go's
/// `MemProfileRate`.
pub const DEFAULT_MEMORY_SAMPLE_BYTES: u64 = 512 * 1024;

impl ProfileKind {
    /// Every kind, in a stable order.
    pub const ALL: [ProfileKind; 11] = [
        ProfileKind::Cpu,
        ProfileKind::OffCpu,
        ProfileKind::PageFaults,
        ProfileKind::ContextSwitches,
        ProfileKind::Cycles,
        ProfileKind::Instructions,
        ProfileKind::CacheMisses,
        ProfileKind::BranchMisses,
        ProfileKind::Brk,
        ProfileKind::Mmap,
        ProfileKind::Memory,
    ];

    /// The name used in configs, storage, the API and pprof.
    pub fn name(self) -> &'static str {
        match self {
            ProfileKind::Cpu => "cpu",
            ProfileKind::OffCpu => "off-cpu",
            ProfileKind::PageFaults => "page-faults",
            ProfileKind::ContextSwitches => "context-switches",
            ProfileKind::Cycles => "cycles",
            ProfileKind::Instructions => "instructions",
            ProfileKind::CacheMisses => "cache-misses",
            ProfileKind::BranchMisses => "branch-misses",
            ProfileKind::Brk => "brk",
            ProfileKind::Mmap => "mmap",
            ProfileKind::Memory => "memory",
        }
    }

    /// Every sample type and unit this profile produces: one, but four for
    /// memory.
    pub fn profile_types(self) -> Vec<ProfileType> {
        match self {
            ProfileKind::Memory => MEMORY_TYPES
                .iter()
                .map(|(name, unit)| ProfileType {
                    name: (*name).to_owned(),
                    unit: (*unit).to_owned(),
                })
                .collect(),
            other => vec![other.profile_type()],
        }
    }

    /// Sample type and unit (for memory, the first of its four:
    /// [`ProfileKind::profile_types`]).
    pub fn profile_type(self) -> ProfileType {
        match self {
            ProfileKind::Memory => ProfileType {
                name: MEMORY_TYPES[0].0.to_owned(),
                unit: MEMORY_TYPES[0].1.to_owned(),
            },
            ProfileKind::Cpu => ProfileType::cpu(),
            ProfileKind::OffCpu => ProfileType {
                name: "off-cpu".to_owned(),
                unit: "nanoseconds".to_owned(),
            },
            ProfileKind::Brk | ProfileKind::Mmap => ProfileType {
                name: self.name().to_owned(),
                unit: "bytes".to_owned(),
            },
            other => ProfileType {
                name: other.name().to_owned(),
                unit: "count".to_owned(),
            },
        }
    }

    /// Whether the event needs a hardware PMU.
    pub fn is_hardware(self) -> bool {
        matches!(
            self,
            ProfileKind::Cycles
                | ProfileKind::Instructions
                | ProfileKind::CacheMisses
                | ProfileKind::BranchMisses
        )
    }

    /// Events between samples when no period is configured.
    pub fn default_period(self) -> u64 {
        match self {
            ProfileKind::Cpu => 0,
            ProfileKind::OffCpu => 1_000_000,
            ProfileKind::PageFaults => 100,
            ProfileKind::ContextSwitches => 10,
            ProfileKind::Cycles | ProfileKind::Instructions => 10_000_000,
            ProfileKind::CacheMisses | ProfileKind::BranchMisses => 10_000,
            ProfileKind::Memory => DEFAULT_MEMORY_SAMPLE_BYTES,
            // Every call: they are rare, and weighted in bytes.
            ProfileKind::Brk | ProfileKind::Mmap => 1,
        }
    }

    /// Opens this profile's perf event for every process on `cpu`.
    pub(crate) fn open_counter(self, cpu: u32, opts: &Opts) -> io::Result<Counter> {
        let target = (Proc::ALL, Cpu(cpu));
        match self {
            ProfileKind::Cpu => Counter::new(Software::CpuClock, target, opts),
            ProfileKind::OffCpu => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "off-CPU time comes from sched_switch, not a perf event",
            )),
            ProfileKind::Memory => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "memory comes from uprobes on allocators, not a perf event",
            )),
            ProfileKind::Brk | ProfileKind::Mmap => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "heap growth comes from the sys_enter tracepoint, not a perf event",
            )),
            ProfileKind::PageFaults => Counter::new(Software::PageFault, target, opts),
            ProfileKind::ContextSwitches => Counter::new(Software::CtxSwitch, target, opts),
            ProfileKind::Cycles => Counter::new(Hardware::CpuCycle, target, opts),
            ProfileKind::Instructions => Counter::new(Hardware::Instr, target, opts),
            ProfileKind::CacheMisses => Counter::new(Hardware::CacheMiss, target, opts),
            ProfileKind::BranchMisses => Counter::new(Hardware::BranchMiss, target, opts),
        }
    }
}

impl fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How often a profile samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleRate {
    /// Samples per second per CPU (time-based profiles).
    Frequency(u64),
    /// One sample every this many events (counter profiles).
    Period(u64),
}

/// One profile to take: its kind and rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileSpec {
    /// What to sample.
    pub kind: ProfileKind,
    /// How often.
    pub rate: SampleRate,
}

impl ProfileSpec {
    /// On-CPU time at `hz`.
    pub fn cpu(hz: u64) -> Self {
        Self {
            kind: ProfileKind::Cpu,
            rate: SampleRate::Frequency(hz),
        }
    }

    /// Parses `NAME` or `NAME:PERIOD` (e.g. `page-faults:1`); `cpu` takes
    /// `cpu_hz` as its frequency; for `off-cpu` the number is the shortest
    /// block counted, in nanoseconds; for `memory` the mean bytes between
    /// samples.
    pub fn parse(text: &str, cpu_hz: u64) -> Result<Self, String> {
        let (name, period) = match text.split_once(':') {
            Some((name, period)) => (name, Some(period)),
            None => (text, None),
        };
        let kind = ProfileKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = ProfileKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown profile {name:?}; known: {}", names.join(", "))
            })?;
        if matches!(kind, ProfileKind::Brk | ProfileKind::Mmap) && period.is_some() {
            return Err(format!(
                "{name} weighs every call in bytes; it takes no period"
            ));
        }
        if kind == ProfileKind::Cpu {
            if period.is_some() {
                return Err(
                    "cpu is sampled by frequency; set frequency_hz instead of a period".into(),
                );
            }
            return Ok(Self::cpu(cpu_hz));
        }
        let period =
            match period {
                None => kind.default_period(),
                Some(p) => p.parse::<u64>().ok().filter(|&p| p > 0).ok_or_else(|| {
                    format!("period of {name} must be a positive integer, not {p:?}")
                })?,
            };
        Ok(Self {
            kind,
            rate: SampleRate::Period(period),
        })
    }

    /// Value of one sample in the profile's unit. Off-CPU counts are
    /// nanoseconds already, memory values bytes and objects.
    pub fn sample_value(&self) -> u64 {
        if matches!(
            self.kind,
            ProfileKind::OffCpu | ProfileKind::Memory | ProfileKind::Brk | ProfileKind::Mmap
        ) {
            return 1;
        }
        match self.rate {
            SampleRate::Frequency(hz) => 1_000_000_000 / hz.max(1),
            SampleRate::Period(n) => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_defaults_and_periods() {
        assert_eq!(ProfileSpec::parse("cpu", 19).unwrap(), ProfileSpec::cpu(19));
        let pf = ProfileSpec::parse("page-faults:1", 19).unwrap();
        assert_eq!(
            (pf.kind, pf.rate),
            (ProfileKind::PageFaults, SampleRate::Period(1))
        );
        assert_eq!(pf.sample_value(), 1);
        let cs = ProfileSpec::parse("context-switches", 19).unwrap();
        assert_eq!(cs.rate, SampleRate::Period(10));
        assert!(ProfileSpec::parse("cycles:0", 19).is_err());
        assert!(ProfileSpec::parse("cpu:5", 19).is_err());
        assert!(
            ProfileSpec::parse("cpu-cycles", 19)
                .unwrap_err()
                .contains("known")
        );
    }

    #[test]
    fn every_kind_is_a_known_profile_type() {
        let names: Vec<&str> = ProfileKind::ALL
            .iter()
            .filter(|k| **k != ProfileKind::Memory)
            .map(|k| k.name())
            .collect();
        assert_eq!(names, augur_profile::PROFILE_TYPES);
        // Memory's four are Go's well-known types, in their units, and
        // the in-use pair are gauges.
        for t in ProfileKind::Memory.profile_types() {
            assert_eq!(
                augur_profile::canonical_unit(&t.name),
                Some(t.unit.as_str())
            );
            assert_eq!(
                augur_profile::types::aggregation(&t.name) == augur_profile::Aggregation::Gauge,
                t.name.starts_with("inuse_")
            );
        }
        // Heap growth: bytes, every call, no period.
        for name in ["brk", "mmap"] {
            let spec = ProfileSpec::parse(name, 19).unwrap();
            assert_eq!(spec.kind.profile_type().unit, "bytes");
            assert_eq!(spec.sample_value(), 1);
            assert!(ProfileSpec::parse(&format!("{name}:5"), 19).is_err());
        }
        let memory = ProfileSpec::parse("memory", 19).unwrap();
        assert_eq!(memory.rate, SampleRate::Period(512 * 1024));
        assert_eq!(memory.sample_value(), 1);
        assert!(ProfileSpec::parse("memory:0", 19).is_err());
    }

    #[test]
    fn types_and_units() {
        assert_eq!(ProfileKind::Cpu.profile_type().unit, "nanoseconds");
        assert_eq!(ProfileKind::PageFaults.profile_type().name, "page-faults");
        assert_eq!(ProfileSpec::cpu(100).sample_value(), 10_000_000);
        assert!(ProfileKind::Cycles.is_hardware() && !ProfileKind::PageFaults.is_hardware());
        let off = ProfileSpec::parse("off-cpu:5000000", 19).unwrap();
        assert_eq!(off.rate, SampleRate::Period(5_000_000));
        assert_eq!(off.sample_value(), 1);
        assert_eq!(off.kind.profile_type().unit, "nanoseconds");
    }
}
