//! Turns a raw drain into a batch that may leave the host.
//!
//! User instruction pointers become `(build-id, file offset)` through
//! blazesym's normalizer; kernel ones are named here from kallsyms. A
//! return address points after its call, so every frame but the leaf is
//! looked up one byte earlier to land inside the calling instruction.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use augur_bpf::{STACK_LOST, STACK_NONE, SampleKey};
use augur_profile::{BuildId, ProfileType, RawFrame};
use augur_wire::batch::{ValidBatch, ValidSample};
use blazesym::normalize::{NormalizeOpts, Normalizer, UserMeta};
use blazesym::symbolize::{self, Symbolized};

use crate::identity::{self, IdentityConfig, ProcessIdentity};
use crate::perfmap::PerfMaps;
use crate::sampler::Drained;

/// Resolves drains into batches; keeps caches across drains.
///
/// Each sampled process gets its own normalizer holding a snapshot of its
/// memory maps, taken as soon as the BPF program first sees the process, so
/// a process that exits before the next drain is still normalized.
pub struct FrameResolver {
    identity: ProcessIdentity,
    processes: HashMap<u32, ProcessSnapshot>,
    kernel: symbolize::Symbolizer,
    kernel_names: HashMap<u64, RawFrame>,
    perf_maps: PerfMaps,
    /// Processes whose replaced mappings were read this window: every
    /// profile's resolve normalizes the same processes, once is enough.
    replaced_checked: std::collections::HashSet<u32>,
}

/// What one resolution produced besides the batch.
#[derive(Debug, Default)]
pub struct ResolveStats {
    /// Samples whose process was gone before its mappings could be read.
    pub process_exited: u64,
    /// Samples carrying a stack that the kernel could not record.
    pub stack_lost: u64,
    /// Samples of processes that relabel rules drop (deliberate, not a loss).
    pub filtered: u64,
}

impl FrameResolver {
    /// Kernel names cached at most; cleared when exceeded.
    const MAX_KERNEL_NAMES: usize = 200_000;

    /// A resolver labelling processes of `host` as `identity` says.
    pub fn new(host: String, identity: IdentityConfig) -> Self {
        Self {
            identity: ProcessIdentity::new(host, "/proc", identity),
            processes: HashMap::new(),
            kernel: symbolize::Symbolizer::new(),
            kernel_names: HashMap::new(),
            perf_maps: PerfMaps::default(),
            replaced_checked: Default::default(),
        }
    }

    /// Snapshots a newly sampled process: its labels and its memory maps.
    /// A recycled pid replaces the old snapshot.
    pub fn prepare(&mut self, pid: u32) {
        self.identity.forget(pid);
        let _ = self.identity.labels(pid, "");
        let snapshot = ProcessSnapshot::take(pid);
        if snapshot.complete {
            self.processes.insert(pid, snapshot);
        }
    }

    /// Drops snapshots of processes that have exited; call after every
    /// sampler of a window was resolved, since their last samples are in.
    pub fn forget_exited(&mut self) {
        self.processes
            .retain(|pid, _| Path::new(&format!("/proc/{pid}")).exists());
        self.identity.evict_exited();
        self.perf_maps.retain_alive();
        self.replaced_checked.clear();
    }

    /// Processes with a snapshot.
    pub fn tracked_processes(&self) -> usize {
        self.processes.len()
    }

    /// Builds the batch for `drained`, which covers `[start, end)`.
    pub fn resolve(
        &mut self,
        host: &str,
        drained: &Drained,
        profile_type: ProfileType,
        period: u64,
        start_unix_nanos: i64,
        end_unix_nanos: i64,
    ) -> (ValidBatch, ResolveStats) {
        let mut stats = ResolveStats::default();
        if self.kernel_names.len() > Self::MAX_KERNEL_NAMES {
            self.kernel_names.clear();
        }
        let mut binaries: Vec<(BuildId, String)> = Vec::new();
        let mut binary_index: HashMap<BuildId, usize> = HashMap::new();

        // Normalize each process's user addresses in one call.
        let mut user_addrs: HashMap<u32, Vec<u64>> = HashMap::new();
        let mut kernel_addrs: Vec<u64> = Vec::new();
        debug_assert!(!drained.stacks.contains_key(&STACK_LOST));
        for (key, _) in &drained.counts {
            // Processes the rules drop cost nothing more, and their binaries
            // and paths never leave the host.
            if self.identity.labels(key.tgid, &comm_of(key)).is_none() {
                continue;
            }
            if let Some(ips) = drained.stacks.get(&key.user_stack) {
                user_addrs
                    .entry(key.tgid)
                    .or_default()
                    .extend(lookup_addrs(ips));
            }
            if let Some(ips) = drained.stacks.get(&key.kernel_stack) {
                kernel_addrs
                    .extend(lookup_addrs(ips).filter(|a| !self.kernel_names.contains_key(a)));
            }
        }
        self.name_kernel_addrs(kernel_addrs);

        let mut user_frames: HashMap<(u32, u64), RawFrame> = HashMap::new();
        let mut exited: std::collections::HashSet<u32> = Default::default();
        for (pid, mut addrs) in user_addrs {
            addrs.sort_unstable();
            addrs.dedup();
            match self.normalize(pid, &addrs) {
                Ok(frames) => {
                    for (addr, (mut frame, path)) in addrs.iter().zip(frames) {
                        // Code outside any file, such as a JIT's: its perf
                        // map, if it writes one, names it.
                        if matches!(frame, RawFrame::Unknown { .. }) {
                            if let Some(name) =
                                self.perf_maps.get(pid).and_then(|m| m.lookup(*addr))
                            {
                                frame = RawFrame::Named {
                                    function: name.to_owned(),
                                    origin: "jit".to_owned(),
                                };
                            }
                        }
                        if let (RawFrame::User { build_id, .. }, Some(path)) = (&frame, path) {
                            binary_index.entry(build_id.clone()).or_insert_with(|| {
                                binaries.push((build_id.clone(), path));
                                binaries.len() - 1
                            });
                        }
                        user_frames.insert((pid, *addr), frame);
                    }
                }
                Err(_) => {
                    exited.insert(pid);
                }
            }
        }

        let mut samples = Vec::with_capacity(drained.counts.len());
        for (key, count) in &drained.counts {
            let comm = comm_of(key);
            let Some(labels) = self.identity.labels(key.tgid, &comm) else {
                stats.filtered += count;
                continue;
            };
            let mut frames = Vec::new();
            match drained.stacks.get(&key.kernel_stack) {
                Some(ips) => frames.extend(
                    lookup_addrs(ips)
                        .map(|a| {
                            self.kernel_names
                                .get(&a)
                                .cloned()
                                .unwrap_or_else(|| unknown("kernel address not resolved"))
                        })
                        // A stack taken inside a tracepoint starts with the
                        // BPF program and its trampoline; they are ours.
                        .skip_while(is_bpf_frame),
                ),
                None if key.kernel_stack != STACK_NONE => {
                    stats.stack_lost += count;
                    frames.push(unknown("kernel stack lost"));
                }
                None => {}
            }
            match drained.stacks.get(&key.user_stack) {
                Some(_) if exited.contains(&key.tgid) => {
                    stats.process_exited += count;
                    frames.push(unknown("process exited"));
                }
                Some(ips) => frames.extend(lookup_addrs(ips).map(|a| {
                    user_frames
                        .get(&(key.tgid, a))
                        .cloned()
                        .unwrap_or_else(|| unknown("not normalized"))
                })),
                None if key.user_stack != STACK_NONE => {
                    stats.stack_lost += count;
                    frames.push(unknown("user stack lost"));
                }
                None => {}
            }
            if frames.is_empty() {
                frames.push(unknown("no stack"));
            }
            samples.push(ValidSample {
                labels,
                frames,
                count: *count,
            });
        }

        let mut dropped: BTreeMap<String, u64> = drained
            .drops
            .iter()
            .map(|(reason, n)| (reason.name().to_owned(), *n))
            .collect();
        if stats.process_exited > 0 {
            dropped.insert("process_exited".to_owned(), stats.process_exited);
        }
        let batch = ValidBatch {
            host: host.to_owned(),
            start_unix_nanos,
            end_unix_nanos,
            profile_type,
            period,
            binaries,
            samples,
            dropped,
        };
        (batch, stats)
    }

    /// Normalizes sorted, unique `addrs` of `pid`. A stale VMA cache (a
    /// mapping added since it was filled) is detected by unknown outputs and
    /// answered with a fresh snapshot of the process.
    fn normalize(
        &mut self,
        pid: u32,
        addrs: &[u64],
    ) -> Result<Vec<(RawFrame, Option<String>)>, blazesym::Error> {
        let opts = NormalizeOpts {
            sorted_addrs: true,
            ..Default::default()
        };
        let fresh = !self.processes.contains_key(&pid);
        let snapshot = self
            .processes
            .entry(pid)
            .or_insert_with(|| ProcessSnapshot::take(pid));
        // A deploy may have replaced a binary since the snapshot; while the
        // process lives, its maps say so (and its mapped files can be read).
        // Once per window: a fresh snapshot has just read them.
        if self.replaced_checked.insert(pid) && !fresh {
            let live = replaced_mappings(pid);
            if !live.is_empty() || Path::new(&format!("/proc/{pid}")).exists() {
                snapshot.replaced = live;
            }
        }
        let output = snapshot
            .normalizer
            .normalize_user_addrs_opts(pid.into(), addrs, &opts)?;
        let stale = output
            .outputs
            .iter()
            .any(|&(_, meta)| matches!(output.meta.get(meta), Some(UserMeta::Unknown(_))));
        if stale {
            // A mapping added since the snapshot (dlopen, JIT): take a fresh
            // snapshot and keep it if the process still exists.
            let fresh = ProcessSnapshot::take(pid);
            if let Ok(output) = fresh
                .normalizer
                .normalize_user_addrs_opts(pid.into(), addrs, &opts)
            {
                let frames = fresh.convert(addrs, &output);
                self.processes.insert(pid, fresh);
                return Ok(frames);
            }
        }
        Ok(snapshot.convert(addrs, &output))
    }

    fn name_kernel_addrs(&mut self, mut addrs: Vec<u64>) {
        if addrs.is_empty() {
            return;
        }
        addrs.sort_unstable();
        addrs.dedup();
        let source = symbolize::source::Source::Kernel(symbolize::source::Kernel::default());
        let named = self
            .kernel
            .symbolize(&source, symbolize::Input::AbsAddr(&addrs))
            .unwrap_or_else(|_| {
                addrs
                    .iter()
                    .map(|_| Symbolized::Unknown(symbolize::Reason::Unsupported))
                    .collect()
            });
        for (addr, sym) in addrs.into_iter().zip(named) {
            let frame = match sym {
                Symbolized::Sym(sym) => RawFrame::Kernel {
                    function: sym.name.into_owned(),
                    module: sym
                        .module
                        .map(|m| m.to_string_lossy().trim_matches(['[', ']']).to_owned())
                        .filter(|m| !m.is_empty() && m != "kernel" && !m.starts_with('/')),
                },
                Symbolized::Unknown(_) => RawFrame::Kernel {
                    function: "[unknown kernel]".to_owned(),
                    module: None,
                },
            };
            self.kernel_names.insert(addr, frame);
        }
    }
}

/// What the resolver keeps of one process: its memory maps (inside a
/// blazesym normalizer) and the true build-ids of mappings whose file was
/// deleted or replaced on disk since it was mapped (a deploy).
struct ProcessSnapshot {
    normalizer: Normalizer,
    replaced: Vec<ReplacedMapping>,
    /// False when the process was gone before its maps could be read.
    complete: bool,
}

/// A mapping whose path no longer names the mapped file.
struct ReplacedMapping {
    start: u64,
    end: u64,
    path: String,
    /// Build-id of the file actually mapped, when it could be read.
    build_id: Option<BuildId>,
}

impl ProcessSnapshot {
    fn take(pid: u32) -> Self {
        let normalizer = new_normalizer();
        // Normalizing one (unmapped) address fills the VMA cache.
        let complete = normalizer.normalize_user_addrs(pid.into(), &[0]).is_ok();
        Self {
            normalizer,
            replaced: replaced_mappings(pid),
            complete,
        }
    }

    /// Frames for `addrs` from a normalization of them. blazesym reads a
    /// build-id from the file now at a mapping's path, which after a deploy
    /// is the new binary: such frames get the mapped file's own build-id, or
    /// stay unknown when it cannot be read; never the new binary's.
    fn convert(
        &self,
        addrs: &[u64],
        output: &blazesym::normalize::UserOutput<'_>,
    ) -> Vec<(RawFrame, Option<String>)> {
        addrs
            .iter()
            .zip(&output.outputs)
            .map(|(&addr, &(offset, meta))| {
                let meta = output.meta.get(meta);
                let replaced = self
                    .replaced
                    .iter()
                    .find(|m| (m.start..m.end).contains(&addr));
                match (replaced, meta) {
                    (Some(mapping), Some(UserMeta::Elf(_))) => match &mapping.build_id {
                        Some(build_id) => (
                            RawFrame::User {
                                build_id: build_id.clone(),
                                file_offset: offset,
                            },
                            Some(mapping.path.clone()),
                        ),
                        None => (unknown("binary replaced on disk"), None),
                    },
                    _ => user_frame(offset, meta),
                }
            })
            .collect()
    }
}

/// Mappings of `pid` whose file was deleted or replaced, with the build-id of
/// the mapped file read through `/proc/PID/map_files` (needs CAP_SYS_ADMIN)
/// or, for the main executable, `/proc/PID/exe`.
fn replaced_mappings(pid: u32) -> Vec<ReplacedMapping> {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return Vec::new();
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| {
            p.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_owned()
        });
    let mut by_path: HashMap<String, Option<BuildId>> = HashMap::new();
    let mut replaced = Vec::new();
    for line in maps.lines() {
        let Some(path) = line.strip_suffix(" (deleted)") else {
            continue;
        };
        let mut fields = path.split_whitespace();
        let (Some(range), Some(path)) = (fields.next(), path.split_whitespace().nth(5)) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-').and_then(|(s, e)| {
            Some((
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
            ))
        }) else {
            continue;
        };
        let build_id = by_path
            .entry(path.to_owned())
            .or_insert_with(|| {
                let via_map_files =
                    identity::read_build_id(Path::new(&format!("/proc/{pid}/map_files/{range}")));
                let via_exe = || {
                    (exe.as_deref() == Some(path))
                        .then(|| identity::read_build_id(Path::new(&format!("/proc/{pid}/exe"))))
                        .flatten()
                };
                via_map_files
                    .or_else(via_exe)
                    .and_then(|hex| BuildId::parse_hex(&hex).ok())
            })
            .clone();
        replaced.push(ReplacedMapping {
            start,
            end,
            path: path.to_owned(),
            build_id,
        });
    }
    replaced
}

fn new_normalizer() -> Normalizer {
    Normalizer::builder()
        .enable_vma_caching(true)
        .enable_build_ids(true)
        .enable_build_id_caching(true)
        .build()
}

/// Addresses to look up for a leaf-first stack: return addresses minus one.
fn lookup_addrs(ips: &[u64]) -> impl Iterator<Item = u64> + '_ {
    ips.iter()
        .enumerate()
        .map(|(i, &ip)| if i == 0 { ip } else { ip.saturating_sub(1) })
}

fn user_frame(offset: u64, meta: Option<&UserMeta<'_>>) -> (RawFrame, Option<String>) {
    match meta {
        Some(UserMeta::Elf(elf)) => match elf.build_id.as_deref().map(BuildId::from_bytes) {
            Some(Ok(build_id)) => (
                RawFrame::User {
                    build_id,
                    file_offset: offset,
                },
                Some(elf.path.to_string_lossy().into_owned()),
            ),
            _ => (unknown("no build-id"), None),
        },
        // blazesym names what only this host can: the vDSO.
        Some(UserMeta::Sym(sym)) => (
            RawFrame::Named {
                function: sym.name.to_string(),
                origin: "vdso".to_owned(),
            },
            None,
        ),
        Some(UserMeta::Unknown(u)) => (unknown(&u.reason.to_string()), None),
        _ => (unknown("unmapped"), None),
    }
}

fn is_bpf_frame(frame: &RawFrame) -> bool {
    matches!(frame, RawFrame::Kernel { function, .. }
        if function.starts_with("bpf_prog_") || function.starts_with("bpf_trace_run"))
}

fn unknown(reason: &str) -> RawFrame {
    RawFrame::Unknown {
        reason: reason.to_owned(),
    }
}

fn comm_of(key: &SampleKey) -> String {
    let end = key
        .comm
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(key.comm.len());
    String::from_utf8_lossy(&key.comm[..end]).into_owned()
}
