//! The memory profile's user half: which processes get allocator probes,
//! and what each window's maps say about allocations and what is held.
//!
//! `memory.bpf.c` samples allocations by bytes: an allocation standing for
//! `points` sample points is an estimate of `R x points` bytes and
//! `R x points / size` allocations, R the mean interval; both are unbiased
//! for any size, so a flame graph of them weighs call sites as the
//! allocator saw them. A window reports four types ([`MEMORY_TYPES`]):
//! `alloc_*` from the window's sampled allocations, `inuse_*` from every
//! tracked allocation not freed at its end (a gauge).
//!
//! Processes are probed one by one (a uprobe per process: the trap is paid
//! only by processes chosen, never by the rest of the host), found by
//! scanning `/proc` at each drain and by the samplers' new-process
//! announcements. A process that exits is dropped, and its allocations
//! with it, one drain after its last report.

use std::collections::{HashMap, HashSet};

use augur_bpf::memory::MemorySkel;
use augur_bpf::{AllocKey, INTERVAL_QUANTILES, LiveAlloc, LiveKey, SampleKey, Stack};
use augur_profile::ProfileType;
use libbpf_rs::{Link, MapCore, MapMut, UprobeMultiOpts, UprobeOpts};

use crate::sample::allocator::{AllocFn, AllocatorFinder};
use crate::sample::profiles::MEMORY_TYPES;
use crate::sample::sampler::{Drained, SamplerError, read_all, take_all};

/// Which processes get allocator probes, and how many allocations are
/// tracked.
#[derive(Clone, Debug)]
pub struct MemoryOptions {
    /// Entries of the kernel's live-allocation map: sampled allocations
    /// tracked until freed. At the default rate, 65,536 entries stand for
    /// 32 GiB held.
    pub live_capacity: u32,
    /// Only processes whose name (`comm`) matches; all when `None`. The
    /// agent's own process is never probed.
    pub processes: Option<regex::Regex>,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        Self {
            live_capacity: 65_536,
            processes: None,
        }
    }
}

/// Quantiles of an exponential with mean `mean`, each the mean of its
/// slice of probability, so that the table's mean is `mean` exactly and a
/// uniform pick from it is the discrete exponential the countdown draws.
pub fn interval_quantiles(mean: u64) -> [u64; INTERVAL_QUANTILES] {
    // E[-ln U | a < U <= b] = (F(b) - F(a)) / (b - a), F(u) = u - u ln u.
    let f = |u: f64| if u <= 0.0 { 0.0 } else { u - u * u.ln() };
    let n = INTERVAL_QUANTILES as f64;
    let mut table = [0u64; INTERVAL_QUANTILES];
    for (i, slot) in table.iter_mut().enumerate() {
        let (a, b) = (i as f64 / n, (i + 1) as f64 / n);
        let mean_of_slice = (f(b) - f(a)) / (b - a);
        *slot = ((mean as f64) * mean_of_slice).round().max(1.0) as u64;
    }
    table
}

/// BPF cookies of the allocation probes: `enum alloc_fn` in memory.bpf.c.
const FN_MALLOC: u64 = 0;
const FN_CALLOC: u64 = 1;
const FN_REALLOC: u64 = 2;
const FN_MEMALIGN: u64 = 3;
const FN_POSIX_MEMALIGN: u64 = 4;

/// Whether this kernel has session uprobes (6.12): one trap per unsampled
/// allocation instead of two. Probed once, from the kernel's BTF.
pub fn kernel_has_uprobe_sessions() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        use libbpf_rs::libbpf_sys;
        // SAFETY: libbpf returns an owned BTF object or an error pointer,
        // freed below; the name is a NUL-terminated literal.
        unsafe {
            let btf = libbpf_sys::btf__load_vmlinux_btf();
            if libbpf_sys::libbpf_get_error(btf.cast()) != 0 {
                return false;
            }
            let found = libbpf_sys::btf__find_by_name_kind(
                btf,
                c"bpf_session_is_return".as_ptr(),
                libbpf_sys::BTF_KIND_FUNC,
            );
            libbpf_sys::btf__free(btf);
            found > 0
        }
    })
}

/// A process with probes on its allocator.
struct Probed {
    /// The allocator file probed, (device, inode).
    file: (u64, u64),
    _links: Vec<Link>,
}

/// Counters of the memory program, summed over CPUs.
pub type MemoryStats = Vec<(augur_bpf::MemStat, u64)>;

/// What the agent keeps between drains for the memory profile.
pub(crate) struct MemoryState {
    mean_bytes: u64,
    /// Allocation probes are session uprobes (else uprobe + uretprobe).
    sessions: bool,
    options: MemoryOptions,
    filter_tgid: Option<u32>,
    finder: AllocatorFinder,
    probed: HashMap<u32, Probed>,
    /// Processes that could not be probed (no allocator, a kernel thread,
    /// attach refused): not tried again while they live.
    refused: HashSet<u32>,
    /// Processes found gone; their allocations leave `live` next drain.
    gone: HashSet<u32>,
    /// Stack hash -> (frames, flags, drain last used): the stacks of
    /// allocations still held outlive the map generation they came in.
    stacks: HashMap<u64, (Vec<u64>, u32, u32)>,
    drains: u32,
    own_pid: u32,
}

/// Drains a stack stays known without an allocation using it.
const STACK_DRAINS_KEPT: u32 = 3;

impl MemoryState {
    pub(crate) fn new(
        mean_bytes: u64,
        sessions: bool,
        options: MemoryOptions,
        filter_tgid: Option<u32>,
    ) -> Self {
        Self {
            mean_bytes: mean_bytes.max(1),
            sessions,
            options,
            filter_tgid,
            finder: AllocatorFinder::default(),
            probed: HashMap::new(),
            refused: HashSet::new(),
            gone: HashSet::new(),
            stacks: HashMap::new(),
            drains: 0,
            own_pid: std::process::id(),
        }
    }

    /// Whether allocation probes are session uprobes.
    pub(crate) fn sessions(&self) -> bool {
        self.sessions
    }

    /// Processes with probes attached.
    pub(crate) fn probed(&self) -> usize {
        self.probed.len()
    }

    /// Probes processes not probed yet (all of `/proc`, or `pids` only),
    /// and notes those that exited.
    pub(crate) fn refresh(&mut self, skel: &MemorySkel<'_>, pids: Option<&[u32]>) {
        let live: Vec<u32> = match pids {
            Some(pids) => pids.to_vec(),
            None => {
                let listed = list_pids();
                let alive: HashSet<u32> = listed.iter().copied().collect();
                let exited: Vec<u32> = self
                    .probed
                    .keys()
                    .copied()
                    .filter(|pid| !alive.contains(pid))
                    .collect();
                for pid in exited {
                    self.probed.remove(&pid);
                    self.gone.insert(pid);
                }
                self.refused.retain(|pid| alive.contains(pid));
                listed
            }
        };
        for pid in live {
            if pid == self.own_pid || self.probed.contains_key(&pid) || self.refused.contains(&pid)
            {
                continue;
            }
            if !self.wanted(pid) {
                self.refused.insert(pid);
                continue;
            }
            match self.probe(skel, pid) {
                Ok(probed) => {
                    tracing::debug!(pid, "allocator probed");
                    self.probed.insert(pid, probed);
                }
                Err(reason) => {
                    tracing::debug!(pid, reason, "allocator not probed");
                    self.refused.insert(pid);
                }
            }
        }
    }

    fn wanted(&self, pid: u32) -> bool {
        if let Some(root) = self.filter_tgid
            && !descends_from(pid, root)
        {
            return false;
        }
        match &self.options.processes {
            None => true,
            Some(pattern) => std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| pattern.is_match(comm.trim_end())),
        }
    }

    fn probe(&mut self, skel: &MemorySkel<'_>, pid: u32) -> Result<Probed, String> {
        let found = self.finder.find(pid)?;
        let progs = &skel.progs;
        let mut links = Vec::new();
        let mut offsets = Vec::new();
        let mut cookies = Vec::new();
        for site in &found.allocator.sites {
            let offset = site.file_offset as usize;
            let failed =
                |e: libbpf_rs::Error| format!("{} at {offset:#x}: {e}", site.function.symbol());
            let cookie = match site.function {
                AllocFn::Free => {
                    links.push(
                        progs
                            .free_entry
                            .attach_uprobe(false, pid as i32, &found.path, offset)
                            .map_err(failed)?,
                    );
                    continue;
                }
                AllocFn::Malloc => FN_MALLOC,
                AllocFn::Calloc => FN_CALLOC,
                AllocFn::Realloc => FN_REALLOC,
                AllocFn::AlignedAlloc | AllocFn::Memalign => FN_MEMALIGN,
                AllocFn::PosixMemalign => FN_POSIX_MEMALIGN,
            };
            if self.sessions {
                offsets.push(offset);
                cookies.push(cookie);
                continue;
            }
            for retprobe in [false, true] {
                let prog = if retprobe {
                    &progs.alloc_exit
                } else {
                    &progs.alloc_entry
                };
                let opts = UprobeOpts {
                    cookie,
                    retprobe,
                    ..Default::default()
                };
                links.push(
                    prog.attach_uprobe_with_opts(pid as i32, &found.path, offset, opts)
                        .map_err(failed)?,
                );
            }
        }
        if !offsets.is_empty() {
            let opts = UprobeMultiOpts {
                offsets,
                cookies,
                session: true,
                ..Default::default()
            };
            links.push(
                progs
                    .alloc_session
                    .attach_uprobe_multi_with_opts(pid as i32, &found.path, "", opts)
                    .map_err(|e| format!("allocation functions: {e}"))?,
            );
        }
        Ok(Probed {
            file: found.file,
            _links: links,
        })
    }

    /// The allocator files probed, for tests and logs.
    pub(crate) fn probed_files(&self) -> HashSet<(u64, u64)> {
        self.probed.values().map(|p| p.file).collect()
    }

    /// Reads one window: the old generation's allocations and stacks
    /// (deleted), and every tracked allocation (kept); returns a drain per
    /// memory type.
    pub(crate) fn collect(
        &mut self,
        allocs: &MapMut<'_>,
        stacks: &MapMut<'_>,
        live: &MapMut<'_>,
    ) -> Result<Vec<(ProfileType, Drained)>, SamplerError> {
        self.drains = self.drains.wrapping_add(1);
        let now = self.drains;
        take_all(stacks, "stacks", |hash, value| {
            if let (Some(hash), Ok(stack)) = (
                hash.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_ne_bytes),
                plain::from_bytes::<Stack>(value),
            ) {
                self.stacks
                    .insert(hash, (stack.frames().to_vec(), stack.flags, now));
            }
        })?;
        let mut sampled: Vec<(AllocKey, u64)> = Vec::new();
        take_all(allocs, "allocs", |key, value| {
            if let (Ok(key), Some(points)) = (
                plain::from_bytes::<AllocKey>(key),
                value
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_ne_bytes),
            ) {
                sampled.push((*key, points));
            }
        })?;
        // Allocations of processes gone since the last drain leave now:
        // they were reported once more as held at exit.
        let gone = std::mem::take(&mut self.gone);
        let mut held: Vec<LiveAlloc> = Vec::new();
        let mut stale: Vec<LiveKey> = Vec::new();
        read_all(live, "live", |key, value| {
            if let (Ok(key), Ok(alloc)) = (
                plain::from_bytes::<LiveKey>(key),
                plain::from_bytes::<LiveAlloc>(value),
            ) {
                if gone.contains(&key.tgid) {
                    stale.push(*key);
                } else {
                    held.push(*alloc);
                }
            }
        })?;
        for key in &stale {
            // SAFETY: LiveKey is repr(C) with explicit padding: every byte
            // is initialized.
            let bytes = unsafe { plain::as_bytes(key) };
            if let Err(error) = live.delete(bytes) {
                tracing::debug!(%error, pid = key.tgid, "forgetting an exited process's allocation");
            }
        }

        let r = self.mean_bytes as f64;
        let mut allocated: HashMap<SampleKey, (f64, f64)> = HashMap::new();
        for (key, points) in &sampled {
            let slot = allocated.entry(key.key).or_default();
            let bytes = r * *points as f64;
            slot.0 += bytes / key.size.max(1) as f64;
            slot.1 += bytes;
        }
        let mut in_use: HashMap<SampleKey, (f64, f64)> = HashMap::new();
        for alloc in &held {
            let slot = in_use.entry(alloc.key).or_default();
            let bytes = r * alloc.points as f64;
            slot.0 += bytes / alloc.size.max(1) as f64;
            slot.1 += bytes;
        }
        let mut out = Vec::with_capacity(MEMORY_TYPES.len());
        for (i, (name, unit)) in MEMORY_TYPES.iter().enumerate() {
            let source = if i < 2 { &allocated } else { &in_use };
            let counts: Vec<(SampleKey, u64)> = source
                .iter()
                .map(|(key, (objects, bytes))| {
                    let value = if i % 2 == 0 { *objects } else { *bytes };
                    (*key, value.round() as u64)
                })
                .filter(|(_, v)| *v > 0)
                .collect();
            let drained = self.with_stacks(counts, now);
            out.push((
                ProfileType {
                    name: (*name).to_owned(),
                    unit: (*unit).to_owned(),
                },
                drained,
            ));
        }
        self.stacks
            .retain(|_, (_, _, used)| now.wrapping_sub(*used) < STACK_DRAINS_KEPT);
        Ok(out)
    }

    /// A drain of `counts` with the frames of every stack they name.
    fn with_stacks(&mut self, counts: Vec<(SampleKey, u64)>, now: u32) -> Drained {
        let mut drained = Drained::default();
        for (key, _) in &counts {
            for hash in [key.user_stack, key.kernel_stack, key.runtime_stack] {
                let Some((frames, flags, used)) = self.stacks.get_mut(&hash) else {
                    continue;
                };
                *used = now;
                if *flags & augur_bpf::STACK_TRUNCATED != 0 {
                    drained.truncated.insert(hash);
                }
                if *flags & augur_bpf::PY_STACK_GIL_HELD != 0 {
                    drained.gil_held.insert(hash);
                }
                if *flags & augur_bpf::RUNTIME_JAVA != 0 {
                    drained.java.insert(hash);
                }
                drained.stacks.insert(hash, frames.clone());
            }
        }
        drained.counts = counts;
        drained
    }
}

/// Sums a per-CPU counter array of `MemStat`s.
pub(crate) fn stats(map: &MapMut<'_>) -> MemoryStats {
    augur_bpf::MemStat::ALL
        .iter()
        .map(|&stat| {
            let total = crate::unwind::kernel::percpu_sum(map, stat as u32).unwrap_or(0);
            (stat, total)
        })
        .collect()
}

/// Every process id in `/proc`.
fn list_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` is `root` or descends from it (up to 64 generations).
fn descends_from(pid: u32, root: u32) -> bool {
    let mut current = pid;
    for _ in 0..64 {
        if current == root {
            return true;
        }
        match parent_of(current) {
            Some(parent) if parent != 0 && parent != current => current = parent,
            _ => return false,
        }
    }
    false
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_table_is_an_exponential_with_the_mean_asked() {
        let table = interval_quantiles(512 * 1024);
        let mean = table.iter().sum::<u64>() as f64 / table.len() as f64;
        assert!((mean / (512.0 * 1024.0) - 1.0).abs() < 1e-3, "mean {mean}");
        // Increasing: slice i of U is a larger -ln U than slice i + 1.
        assert!(table.windows(2).all(|w| w[0] >= w[1]));
        // The median of an exponential is ln 2 of its mean.
        let median = (table[127] + table[128]) as f64 / 2.0;
        assert!((median / (512.0 * 1024.0) - std::f64::consts::LN_2).abs() < 0.01);
        assert!(interval_quantiles(1).iter().all(|&v| v >= 1));
    }

    #[test]
    fn a_process_descends_from_itself_and_its_ancestors() {
        let me = std::process::id();
        assert!(descends_from(me, me));
        assert!(descends_from(me, 1) || parent_of(me).is_some());
        assert!(!descends_from(1, me));
    }
}
