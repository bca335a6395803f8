//! Turns a raw drain into a batch that may leave the host.
//!
//! User instruction pointers become `(file id, file offset)` through a
//! snapshot of the process's executable mappings, taken when the process is
//! first sampled; kernel ones arrive named by the sampler, or are named here
//! from kallsyms where the kernel could not. A return address points after
//! its call, so every frame but the leaf is looked up one byte earlier.
//!
//! File ids ([`FileId`]: the GNU build-id, else an id of the file's
//! content) are those of the files actually mapped, so that a process in
//! another mount namespace (a container) never gets the id of the host's
//! file at the same path, and a binary replaced on disk keeps the id of the
//! file that ran. On Linux 6.11+ the `PROCMAP_QUERY` ioctl lists the
//! executable mappings and the kernel reads each build-id from the mapped
//! file itself. Files without one, and all files before 6.11, are read
//! through the process: `/proc/PID/map_files/RANGE` (needs
//! CAP_SYS_ADMIN), else the path as is for a process in the agent's mount
//! namespace and under `/proc/PID/root` for one in another; those reads are
//! cached by file identity, so a library mapped by a thousand processes is
//! parsed once.
//!
//! By job: this file turns drains into batches and names kernel frames;
//! `maps` takes the mapping snapshots and reads file ids; `vdso` names the
//! vDSO; [`perfmap`] names JIT code from `/tmp/perf-PID.map`.

mod maps;
mod maps_line;
pub mod perfmap;
mod vdso;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use augur_bpf::{STACK_LOST, STACK_NONE, SampleKey};
use augur_profile::{FileId, ProfileType, RawFrame, Truncation};
use augur_wire::batch::{ValidBatch, ValidSample};
use blazesym::symbolize::{self, Symbolized};

use maps::{Code, ProcessSnapshot};
use vdso::Vdso;

use crate::identity::{FileIds, IdentityConfig, ProcessIdentity};
use crate::resolve::perfmap::PerfMaps;
use crate::runtime::jvm::JvmProcesses;
use crate::runtime::python::{self, PythonProcesses};
use crate::sample::sampler::{Drained, KernelSymbol, lookup_addrs};

/// Resolves drains into batches; keeps caches across drains.
///
/// Each sampled process gets a snapshot of its memory maps, taken as soon
/// as the BPF program first sees the process, so a process that exits
/// before the next drain is still normalized.
pub struct FrameResolver {
    identity: ProcessIdentity,
    processes: HashMap<u32, ProcessSnapshot>,
    file_ids: FileIds,
    /// Whether the `PROCMAP_QUERY` ioctl is worth trying: false once the
    /// kernel did not know it.
    procmap_query: bool,
    /// Whether `/proc/PID/map_files` is worth trying: false once it was
    /// refused (the agent lacks CAP_SYS_ADMIN).
    map_files: bool,
    /// This process's mount namespace, to tell whose paths `/proc/PID/maps`
    /// prints as they are.
    own_mount_ns: Option<PathBuf>,
    /// The vDSO's functions, read on first use.
    vdso: Option<Option<Vdso>>,
    kernel: symbolize::Symbolizer,
    kernel_names: HashMap<u64, RawFrame>,
    perf_maps: PerfMaps,
    /// Processes whose maps were read this window: one whose sampled
    /// addresses fall outside its snapshot is read again at most once per
    /// window.
    refreshed: HashSet<u32>,
    /// Processes whose snapshot was taken or replaced since
    /// [`FrameResolver::take_changed`] was last called.
    changed: Vec<u32>,
    /// Files held open so that the exact file that ran can still be read
    /// (an upload, `augur record`'s symbolization) once its path names
    /// another file and its process is gone.
    held: Vec<HeldFile>,
    /// Python processes: registered with BPF, and their frames named.
    python: PythonProcesses,
    /// JVMs: registered with BPF, and their frames named.
    jvm: JvmProcesses,
}

/// A mapped file held open: every file without a build-id from its first
/// snapshot (its content id cannot be checked again once a deploy replaces
/// it, and nothing else names it), and a file with one once a drain finds
/// its path replaced.
struct HeldFile {
    id: FileId,
    file: std::fs::File,
    /// Consecutive [`FrameResolver::forget_exited`] calls that found no
    /// process mapping it; closed at [`HELD_UNUSED_DRAINS`], so it outlives
    /// its last process by one drain and the uploads that drain offers.
    unused_drains: u8,
}

/// Files held open at most; the oldest is closed first. Each may keep a
/// replaced binary's blocks on disk until it is closed.
const MAX_HELD_FILES: usize = 256;
/// Drains a held file outlives the last process that mapped it.
const HELD_UNUSED_DRAINS: u8 = 2;

/// What one resolution produced besides the batch.
#[derive(Debug, Default)]
pub struct ResolveStats {
    /// Samples whose process was gone before its mappings could be read.
    pub process_exited: u64,
    /// Samples carrying a stack that the kernel could not record.
    pub stack_lost: u64,
    /// Samples of processes that relabel rules drop (deliberate, not a loss).
    pub filtered: u64,
    /// Samples whose user stack the unwinder cut short.
    pub truncated: u64,
}

/// The label a Python thread's samples carry: whether it held the GIL.
pub const GIL_LABEL: &str = "python_gil";

/// `labels` with [`GIL_LABEL`] added, shared per (process, state) in one
/// resolution.
fn gil_labels(
    cache: &mut HashMap<(u32, bool), crate::identity::Labels>,
    pid: u32,
    labels: &crate::identity::Labels,
    held: bool,
) -> crate::identity::Labels {
    cache
        .entry((pid, held))
        .or_insert_with(|| {
            let mut with = (**labels).clone();
            with.insert(
                GIL_LABEL.to_owned(),
                if held { "held" } else { "released" }.to_owned(),
            );
            Arc::new(with)
        })
        .clone()
}

impl FrameResolver {
    /// Kernel names cached at most; cleared when exceeded.
    const MAX_KERNEL_NAMES: usize = 200_000;

    /// A resolver labelling processes of `host` as `identity` says.
    pub fn new(host: String, identity: IdentityConfig) -> Self {
        Self {
            identity: ProcessIdentity::new(host, "/proc", identity),
            processes: HashMap::new(),
            file_ids: FileIds::default(),
            procmap_query: true,
            map_files: true,
            own_mount_ns: std::fs::read_link("/proc/self/ns/mnt").ok(),
            vdso: None,
            kernel: symbolize::Symbolizer::new(),
            kernel_names: HashMap::new(),
            perf_maps: PerfMaps::default(),
            refreshed: HashSet::new(),
            changed: Vec::new(),
            held: Vec::new(),
            python: PythonProcesses::new(None),
            jvm: JvmProcesses::new(None),
        }
    }

    /// Names Java frames with `jvm` (and registers JVMs in it).
    pub fn set_jvm(&mut self, jvm: JvmProcesses) {
        self.jvm = jvm;
    }

    /// The JVMs.
    pub fn jvm(&self) -> &JvmProcesses {
        &self.jvm
    }

    /// Names Python frames with `python` (and registers processes in it).
    pub fn set_python(&mut self, python: PythonProcesses) {
        self.python = python;
    }

    /// The Python processes.
    pub fn python(&self) -> &PythonProcesses {
        &self.python
    }

    /// Looks for language runtimes in the processes whose snapshot
    /// changed (`pids`, from [`FrameResolver::take_changed`]).
    pub fn update_runtimes(&mut self, pids: &[u32]) {
        if !self.python.enabled() && !self.jvm.enabled() {
            return;
        }
        for &pid in pids {
            let mappings = self.exec_mappings(pid);
            match &mappings {
                Some(mappings) if self.identity.python_frames(pid) => {
                    self.python.update(pid, mappings)
                }
                _ => self.python.forget(pid),
            }
            match &mappings {
                Some(mappings) if self.identity.java_frames(pid) => self.jvm.update(pid, mappings),
                _ => self.jvm.forget(pid),
            }
        }
    }

    /// A path through which this process reads exactly the file with id
    /// `id`, whatever its own path names now: `/proc/self/fd/N` of a
    /// descriptor held open (see `HeldFile`).
    pub fn readable_path(&self, id: &FileId) -> Option<PathBuf> {
        use std::os::fd::AsRawFd;

        let held = self.held.iter().find(|held| held.id == *id)?;
        Some(PathBuf::from(format!(
            "/proc/self/fd/{}",
            held.file.as_raw_fd()
        )))
    }

    /// Holds `file` open as `id` if it is that file.
    fn hold(&mut self, id: &FileId, file: std::io::Result<std::fs::File>) {
        let Ok(file) = file else {
            return;
        };
        // Only the file that ran, not whatever a link reaches now.
        if crate::identity::file_id(&file).ok().as_ref() != Some(id) {
            return;
        }
        if self.held.len() >= MAX_HELD_FILES {
            self.held.remove(0);
        }
        self.held.push(HeldFile {
            id: id.clone(),
            file,
            unused_drains: 0,
        });
    }

    /// Keeps open, as `id`, the file `pid` maps at `[start, end)` from
    /// `path` if that path now names another file (a deploy renamed a new
    /// build over it): through `/proc/PID/map_files`, or `/proc/PID/exe`
    /// for the executable. One stat when the path is unchanged.
    fn keep_if_replaced(&mut self, pid: u32, (start, end): (u64, u64), path: &str, id: &FileId) {
        if self.held.iter().any(|held| held.id == *id) {
            return;
        }
        // The path as the process sees it: in its own mount namespace.
        let in_process = format!("/proc/{pid}/root{path}");
        if self.file_ids.get(Path::new(&in_process)).ok().as_ref() == Some(id) {
            return;
        }
        let file = std::fs::File::open(format!("/proc/{pid}/map_files/{start:x}-{end:x}")).or_else(
            |error| {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|_| error)?;
                let exe = exe.to_string_lossy();
                if exe.trim_end_matches(" (deleted)") != path {
                    return Err(std::io::Error::other("not the executable"));
                }
                std::fs::File::open(format!("/proc/{pid}/exe"))
            },
        );
        self.hold(id, file);
    }

    /// Snapshots a newly sampled process: its labels and its memory maps.
    /// A recycled pid replaces the old snapshot.
    pub fn prepare(&mut self, pid: u32) {
        self.identity.forget(pid);
        match self.snapshot(pid) {
            Some(snapshot) => {
                self.processes.insert(pid, snapshot);
                self.changed.push(pid);
                // The labels are cached from here on, so relabel rules on
                // `__comm` need the process's name now.
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let _ = self.labels(pid, comm.trim_end_matches('\n'));
            }
            // Gone already: nothing left to read.
            None => {
                self.processes.remove(&pid);
            }
        }
    }

    /// Pids whose snapshot was taken or replaced since the last call, each
    /// once.
    pub fn take_changed(&mut self) -> Vec<u32> {
        let mut pids = std::mem::take(&mut self.changed);
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// The executable mappings of `pid`'s snapshot, if it has one.
    pub fn exec_mappings(&self, pid: u32) -> Option<Vec<crate::unwind::kernel::ExecMapping>> {
        let snapshot = self.processes.get(&pid)?;
        Some(
            snapshot
                .mappings
                .iter()
                .map(|m| {
                    let (build_id, path) = match &m.code {
                        Code::File { file_id, path } => (file_id.clone(), Some(path.clone())),
                        _ => (None, None),
                    };
                    crate::unwind::kernel::ExecMapping {
                        start: m.start,
                        end: m.end,
                        offset: m.offset,
                        build_id,
                        path,
                    }
                })
                .collect(),
        )
    }

    /// Drops what is kept of processes that have exited, and returns their
    /// pids; call after every sampler of a window was resolved, since their
    /// last samples are in.
    pub fn forget_exited(&mut self) -> Vec<u32> {
        let known: HashSet<u32> = self
            .processes
            .keys()
            .copied()
            .chain(self.identity.pids())
            .chain(self.perf_maps.pids())
            .collect();
        let gone: HashSet<u32> = known
            .into_iter()
            .filter(|pid| !Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        self.processes.retain(|pid, _| !gone.contains(pid));
        for &pid in &gone {
            self.python.forget(pid);
            self.jvm.forget(pid);
        }
        let mapped: HashSet<&FileId> = self
            .processes
            .values()
            .flat_map(|snapshot| &snapshot.mappings)
            .filter_map(|m| match &m.code {
                Code::File {
                    file_id: Some(id), ..
                } => Some(id),
                _ => None,
            })
            .collect();
        for held in &mut self.held {
            held.unused_drains = match mapped.contains(&held.id) {
                true => 0,
                false => held.unused_drains.saturating_add(1),
            };
        }
        self.held
            .retain(|held| held.unused_drains < HELD_UNUSED_DRAINS);
        self.identity.retain(|pid| !gone.contains(&pid));
        self.perf_maps.retain(|pid| !gone.contains(&pid));
        self.refreshed.clear();
        gone.into_iter().collect()
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
        self.jvm.begin_drain();
        if self.kernel_names.len() > Self::MAX_KERNEL_NAMES {
            self.kernel_names.clear();
        }
        let mut binaries: Vec<(FileId, String)> = Vec::new();
        let mut binary_index: HashMap<FileId, usize> = HashMap::new();

        // Normalize each process's user addresses together.
        let mut user_addrs: HashMap<u32, Vec<u64>> = HashMap::new();
        let mut kernel_addrs: Vec<u64> = Vec::new();
        debug_assert!(!drained.stacks.contains_key(&STACK_LOST));
        for (key, _) in &drained.counts {
            // Processes the rules drop cost nothing more, and their binaries
            // and paths never leave the host.
            if self.labels(key.tgid, &comm_of(key)).is_none() {
                continue;
            }
            if let Some(ips) = drained.stacks.get(&key.user_stack) {
                user_addrs
                    .entry(key.tgid)
                    .or_default()
                    .extend(lookup_addrs(ips));
            }
            if let Some(ips) = drained.stacks.get(&key.kernel_stack) {
                kernel_addrs.extend(lookup_addrs(ips).filter(|a| {
                    !drained.kernel_names.contains_key(a) && !self.kernel_names.contains_key(a)
                }));
            }
        }
        self.name_kernel_addrs(kernel_addrs);

        let mut user_frames: HashMap<(u32, u64), RawFrame> = HashMap::new();
        // One mapping per binary (pid, its range, path, id), to notice a
        // binary replaced on disk.
        type MappedBinary = (u32, (u64, u64), Arc<str>, FileId);
        let mut replace_checks: Vec<MappedBinary> = Vec::new();
        let mut exited: HashSet<u32> = HashSet::new();
        for (pid, mut addrs) in user_addrs {
            addrs.sort_unstable();
            addrs.dedup();
            let Some(frames) = self.normalize(pid, &addrs) else {
                exited.insert(pid);
                continue;
            };
            // Code outside any file, such as a JIT's: its perf map, if it
            // writes one, names it.
            let perf_map = frames
                .iter()
                .any(|(frame, _)| matches!(frame, RawFrame::Unknown { .. }))
                .then(|| self.perf_maps.get(pid))
                .flatten();
            for (addr, (mut frame, path)) in addrs.iter().zip(frames) {
                if matches!(frame, RawFrame::Unknown { .. }) {
                    if let Some(name) = perf_map.and_then(|m| m.lookup(*addr)) {
                        frame = RawFrame::Named {
                            function: name.to_owned(),
                            origin: "jit".to_owned(),
                        };
                    }
                }
                if let (RawFrame::User { build_id, .. }, Some(path)) = (&frame, path) {
                    if !binary_index.contains_key(build_id) {
                        binary_index.insert(build_id.clone(), binaries.len());
                        binaries.push((build_id.clone(), path.to_string()));
                        let range = self.processes[&pid]
                            .mapping(*addr)
                            .map(|m| (m.start, m.end));
                        replace_checks.extend(range.map(|r| (pid, r, path, build_id.clone())));
                    }
                }
                user_frames.insert((pid, *addr), frame);
            }
        }

        for (pid, range, path, id) in replace_checks {
            self.keep_if_replaced(pid, range, &path, &id);
        }

        let mut samples = Vec::with_capacity(drained.counts.len());
        let mut gil_cache = HashMap::new();
        for (key, count) in &drained.counts {
            let comm = comm_of(key);
            let Some(mut labels) = self.labels(key.tgid, &comm) else {
                stats.filtered += count;
                continue;
            };
            let mut frames = Vec::new();
            match drained.stacks.get(&key.kernel_stack) {
                Some(ips) => frames.extend(
                    lookup_addrs(ips)
                        .map(|a| match drained.kernel_names.get(&a) {
                            Some(symbol) => kernel_frame(symbol.as_ref()),
                            None => self
                                .kernel_names
                                .get(&a)
                                .cloned()
                                .unwrap_or_else(|| unknown("kernel address not resolved")),
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
                Some(ips) => {
                    let user: Vec<RawFrame> = lookup_addrs(ips)
                        .map(|a| {
                            user_frames
                                .get(&(key.tgid, a))
                                .cloned()
                                .unwrap_or_else(|| unknown("not normalized"))
                        })
                        .collect();
                    match drained.stacks.get(&key.runtime_stack) {
                        Some(words) if drained.java.contains(&key.runtime_stack) => {
                            frames.extend(self.jvm.merge(key.tgid, ips, user, words));
                        }
                        Some(words) => {
                            let python = self.python.frames(key.tgid, words);
                            let python_ref = &self.python;
                            frames.extend(python::merge(user, python, |f| {
                                python_ref.is_eval_frame(f)
                            }));
                            if drained.truncated.contains(&key.runtime_stack) {
                                stats.truncated += count;
                                frames.push(RawFrame::truncated(Truncation::Unwinder));
                            }
                            labels = gil_labels(
                                &mut gil_cache,
                                key.tgid,
                                &labels,
                                drained.gil_held.contains(&key.runtime_stack),
                            );
                        }
                        None => frames.extend(user),
                    }
                    if drained.truncated.contains(&key.user_stack) {
                        stats.truncated += count;
                        frames.push(RawFrame::truncated(Truncation::Unwinder));
                    }
                }
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

    /// Labels of `pid` (see [`ProcessIdentity::labels`]): its executable's
    /// file id comes from its snapshot when the mapping is there, else is
    /// read through `/proc/PID/exe`.
    fn labels(&mut self, pid: u32, comm: &str) -> Option<crate::identity::Labels> {
        let (processes, file_ids) = (&self.processes, &mut self.file_ids);
        self.identity.labels(pid, comm, |exe| {
            let mapped = processes.get(&pid).and_then(|snapshot| {
                snapshot.mappings.iter().find_map(|m| match &m.code {
                    Code::File {
                        path,
                        file_id: Some(file_id),
                        ..
                    } if **path == *exe => Some(file_id.clone()),
                    _ => None,
                })
            });
            mapped.or_else(|| file_ids.get(Path::new(&format!("/proc/{pid}/exe"))).ok())
        })
    }

    /// Frames (and path hints) for the sorted, unique `addrs` of `pid`;
    /// `None` when the process was gone before its maps could be read.
    fn normalize(&mut self, pid: u32, addrs: &[u64]) -> Option<Vec<(RawFrame, Option<Arc<str>>)>> {
        if !self.processes.contains_key(&pid) {
            // Never announced (its announcement was lost): read it now.
            let snapshot = self.snapshot(pid)?;
            self.processes.insert(pid, snapshot);
            self.refreshed.insert(pid);
            self.changed.push(pid);
        }
        let unmapped = {
            let snapshot = &self.processes[&pid];
            addrs
                .iter()
                .any(|&a| USER_CODE.contains(&a) && snapshot.mapping(a).is_none())
        };
        if unmapped && self.refreshed.insert(pid) {
            // A mapping added since the snapshot (dlopen, JIT): read the
            // maps again, and keep them if the process still exists.
            if let Some(fresh) = self.snapshot(pid) {
                self.processes.insert(pid, fresh);
                self.changed.push(pid);
            }
        }
        if self.vdso.is_none() && self.processes[&pid].has_vdso_code(addrs) {
            self.vdso = Some(Vdso::of_this_process());
        }
        let snapshot = &self.processes[&pid];
        let vdso = self.vdso.as_ref().and_then(Option::as_ref);
        Some(addrs.iter().map(|&a| snapshot.frame(a, vdso)).collect())
    }

    /// Names kernel addresses the sampler did not name, from
    /// `/proc/kallsyms` (read once, on first use: ~60 ms of CPU).
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
                Symbolized::Sym(sym) => kernel_frame(Some(&KernelSymbol {
                    function: sym.name.into_owned(),
                    module: sym
                        .module
                        .map(|m| m.to_string_lossy().trim_matches(['[', ']']).to_owned()),
                })),
                Symbolized::Unknown(_) => kernel_frame(None),
            };
            self.kernel_names.insert(addr, frame);
        }
    }
}

/// Where user code can be: above `vm.mmap_min_addr`'s default, below the
/// end of a 57-bit user address space. Frame-pointer walks end in junk
/// such as 0 or 0xcccc...; it is no reason to read a process's maps again.
const USER_CODE: std::ops::Range<u64> = 0x1_0000..0x0100_0000_0000_0000;

/// The frame of a kernel function; `None` is an address nobody could name.
fn kernel_frame(symbol: Option<&KernelSymbol>) -> RawFrame {
    match symbol {
        Some(symbol) => RawFrame::Kernel {
            function: symbol.function.clone(),
            module: symbol
                .module
                .clone()
                .filter(|m| !m.is_empty() && m != "kernel" && !m.starts_with('/')),
        },
        None => RawFrame::Kernel {
            function: "[unknown kernel]".to_owned(),
            module: None,
        },
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

#[cfg(test)]
mod tests {
    use super::maps_line::MapsLine;
    use super::*;

    #[test]
    fn maps_lines_are_parsed() {
        let line = MapsLine::parse(
            "7f2321e37000-7f2321f6f000 r-xp 00037000 00:20 1808269                    /usr/lib64/libgnutls.so.30 (deleted)",
        );
        assert_eq!(
            line,
            Some(MapsLine {
                start: 0x7f23_21e3_7000,
                end: 0x7f23_21f6_f000,
                executable: true,
                offset: 0x37000,
                path: "/usr/lib64/libgnutls.so.30 (deleted)",
            })
        );
        let anonymous = MapsLine::parse("00400000-00452000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!((anonymous.start, anonymous.path), (0x40_0000, ""));
        assert!(!anonymous.executable);
        let spaced = MapsLine::parse("1000-2000 r-xp 00000000 08:01 42   /opt/my app/bin").unwrap();
        assert_eq!(spaced.path, "/opt/my app/bin");
        assert_eq!(MapsLine::parse("garbage"), None);
    }

    #[test]
    fn relabel_rules_see_the_name_of_an_announced_process() {
        let pid = std::process::id();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        let rule = |action: &str| crate::identity::relabel::RuleConfig {
            action: toml::Value::String(action.into()).try_into().unwrap(),
            source_labels: vec!["__comm".into()],
            separator: ";".into(),
            regex: regex::escape(comm.trim_end()),
            target_label: None,
            replacement: "$1".into(),
        };
        for (action, kept) in [("keep", true), ("drop", false)] {
            let identity = IdentityConfig {
                rules: crate::identity::relabel::compile(&[rule(action)]).unwrap(),
                ..Default::default()
            };
            let mut resolver = FrameResolver::new("h".into(), identity);
            resolver.prepare(pid);
            // Later lookups (a thread's comm may differ) use what prepare saw.
            assert_eq!(resolver.labels(pid, "").is_some(), kept, "{action}");
        }
    }

    #[test]
    fn own_code_is_normalized_to_this_binary() {
        for procmap_query in [true, false] {
            own_code_is_normalized(procmap_query);
        }
    }

    fn own_code_is_normalized(procmap_query: bool) {
        let mut resolver = FrameResolver::new("h".into(), IdentityConfig::default());
        resolver.procmap_query = procmap_query;
        let here = own_code_is_normalized_to_this_binary as fn() as usize as u64;
        let frames = resolver.normalize(std::process::id(), &[here]).unwrap();
        let exe = std::env::current_exe().unwrap();
        let expected = crate::identity::read_file_id(&exe).expect("test binaries have a build-id");
        match &frames[0] {
            (RawFrame::User { build_id, .. }, Some(path)) => {
                assert_eq!(build_id.to_hex(), expected);
                assert_eq!(Path::new(&**path), exe);
            }
            other => panic!("not a user frame: {other:?}"),
        }
        // Another snapshot stats the files again but parses none of them.
        let files = resolver.file_ids.len();
        assert!(resolver.snapshot(std::process::id()).is_some());
        assert_eq!(resolver.file_ids.len(), files);
    }

    /// A process in another mount namespace whose executable's path names
    /// a different file on the host (a container's `/usr/bin/app` is not
    /// the host's) gets the build-id of the file it runs: from the kernel
    /// (`PROCMAP_QUERY`), through `/proc/PID/map_files` and through
    /// `/proc/PID/root`.
    #[test]
    fn build_ids_are_read_in_the_process_mount_namespace() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!(
                "SKIPPED build_ids_are_read_in_the_process_mount_namespace: needs root for unshare -m and mount --bind"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (app, runs) = (dir.path().join("app"), dir.path().join("runs"));
        // The host has `true` at the path; the process runs `sleep` there.
        std::fs::copy("/usr/bin/true", &app).unwrap();
        std::fs::copy("/usr/bin/sleep", &runs).unwrap();
        let host_id = crate::identity::read_file_id(&app).unwrap();
        let running_id = crate::identity::read_file_id(&runs).unwrap();
        assert_ne!(host_id, running_id);
        let mut child = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$1" "$2" && exec "$2" 30"#)
            .arg("sh")
            .arg(&runs)
            .arg(&app)
            .spawn()
            .expect("running unshare");
        let pid = child.id();
        let comm = || std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while comm().trim() != "app" && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut outcomes = Vec::new();
        for (procmap_query, map_files) in [(true, false), (false, true), (false, false)] {
            let mut resolver = FrameResolver::new("h".into(), IdentityConfig::default());
            resolver.procmap_query = procmap_query;
            resolver.map_files = map_files;
            let snapshot = resolver.snapshot(pid).expect("the process is alive");
            let build_id = snapshot.mappings.iter().find_map(|m| match &m.code {
                Code::File {
                    path,
                    file_id: build_id,
                } if path.ends_with("/app") => Some(build_id.as_ref().map(FileId::to_hex)),
                _ => None,
            });
            let labels = resolver.labels(pid, "");
            let exe_id = labels.and_then(|l| l.get("build_id").cloned());
            let how = if procmap_query {
                "PROCMAP_QUERY"
            } else if map_files {
                "map_files"
            } else {
                "root"
            };
            outcomes.push((how, build_id, exe_id));
        }
        let _ = child.kill();
        let _ = child.wait();
        for (how, build_id, exe_id) in outcomes {
            assert_eq!(
                build_id,
                Some(Some(running_id.clone())),
                "mapping's build-id, read through {how}"
            );
            assert_eq!(
                exe_id.as_ref(),
                Some(&running_id),
                "executable's build-id label"
            );
        }
    }

    #[test]
    fn vdso_code_is_named() {
        let Some(vdso) = Vdso::of_this_process() else {
            eprintln!("no vDSO in this process; skipping");
            return;
        };
        let (start, _, name) = &vdso.functions[0];
        // The vDSO is linked at its file offsets' addresses or a fixed bias.
        let &(offset, _, address) = &vdso.segments[0];
        assert_eq!(vdso.function(start - address + offset), Some(name.as_str()));
    }

    /// A binary without a build-id, replaced on disk (renamed over) while
    /// it runs, keeps the content id of the file that ran, and stays
    /// readable through the resolver after the process is gone.
    #[test]
    fn a_replaced_binary_keeps_its_id_and_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("wait.c");
        std::fs::write(
            &source,
            "#include <unistd.h>\nint main(void) { pause(); }\n",
        )
        .unwrap();
        let build = |name: &str, extra: &str| {
            let out = dir.path().join(name);
            let status = std::process::Command::new("cc")
                .args(["-O1", "-Wl,--build-id=none", extra, "-o"])
                .arg(&out)
                .arg(&source)
                .status()
                .expect("cc");
            assert!(status.success());
            out
        };
        let app = build("app", "-DV1");
        let next = build("next", "-g");
        let ran = crate::identity::read_file_id(&app).unwrap();
        assert!(ran.starts_with("f11e1d00"), "a content id: {ran}");
        let mut child = std::process::Command::new(&app).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut resolver = FrameResolver::new("h".into(), IdentityConfig::default());
        // Snapshotted before the deploy, as a process usually is.
        resolver.prepare(child.id());
        let (range, path, id) = resolver.processes[&child.id()]
            .mappings
            .iter()
            .find_map(|m| match &m.code {
                Code::File {
                    path,
                    file_id: Some(id),
                } if path.ends_with("/app") => Some(((m.start, m.end), path.clone(), id.clone())),
                _ => None,
            })
            .expect("the executable's mapping");
        assert_eq!(id.to_hex(), ran);
        // Without a build-id it is held from its first snapshot.
        assert!(resolver.readable_path(&id).is_some());

        std::fs::rename(&next, &app).unwrap();
        assert_ne!(crate::identity::read_file_id(&app).unwrap(), ran);
        resolver.keep_if_replaced(child.id(), range, &path, &id);
        child.kill().unwrap();
        child.wait().unwrap();
        let readable = resolver.readable_path(&id).expect("held open");
        assert_eq!(crate::identity::read_file_id(&readable), Some(ran));
        // Released two drains after its last process, not before.
        resolver.forget_exited();
        assert!(resolver.readable_path(&id).is_some());
        resolver.forget_exited();
        assert_eq!(resolver.readable_path(&id), None);
    }
}
