//! The Python processes of a host: each process whose mappings hold a
//! CPython interpreter of a known version is registered in the BPF map
//! `py_procs` with its `_PyRuntime` address and its version's offsets, and
//! the frames BPF records for it are named here, from process memory, with
//! a cache of code objects per process.
//!
//! An interpreter of a version without offsets is reported once and left
//! to native profiling; a code object that cannot be read (the process
//! exited, or the memory holds no code object any more) becomes a
//! placeholder frame, never a wrong name.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use augur_bpf::{PyFrameWord, PyOffsetsAbi, PyProc, py_model};
use augur_profile::{FileId, RawFrame, Runtime, placeholder};
use libbpf_rs::libbpf_sys;

use super::binary::PyBinary;
use super::code::{CodeInfo, read_code};
use super::linetable::line_for;
use super::offsets::{
    FrameModel, GilLocation, PyOffsets, PyVersion, check_debug_offsets, offsets_for,
};
use crate::runtime::mem::ProcessMemory;
use crate::unwind::kernel::ExecMapping;

/// Bytes of `_Py_DebugOffsets` read from a 3.13+ `_PyRuntime`.
const DEBUG_OFFSETS_LEN: usize = super::offsets::debug_field::LEN;

/// Code objects named per process at most; the cache starts over beyond.
const MAX_CODE_OBJECTS: usize = 100_000;

/// What the Python support did, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PythonStats {
    /// Processes registered with BPF.
    pub processes: u64,
    /// Interpreters found whose version has no offsets (profiled natively).
    pub unknown_version: u64,
    /// Processes that could not be registered (BPF map full, unreadable).
    pub register_failed: u64,
    /// Code objects read and named.
    pub code_objects: u64,
    /// Frames left unnamed because their process had exited.
    pub unnamed_exited: u64,
    /// Frames left unnamed because the memory held no readable code object.
    pub unnamed_unreadable: u64,
}

/// One registered Python process.
struct PyProcess {
    version: PyVersion,
    offsets: &'static PyOffsets,
    mem: Option<ProcessMemory>,
    /// `PyCode_Type`'s address in the process.
    code_type: Option<u64>,
    /// Code object address -> what it names (`None`: unreadable).
    codes: HashMap<u64, Option<Arc<CodeInfo>>>,
}

/// The host's Python processes and their names.
pub struct PythonProcesses {
    /// `py_procs`, when BPF walks Python stacks.
    procs_map: Option<OwnedFd>,
    /// Interpreter files by file id (`None`: no interpreter).
    binaries: HashMap<FileId, Option<Arc<PyBinary>>>,
    processes: HashMap<u32, PyProcess>,
    /// Versions reported as unknown already.
    reported: HashSet<PyVersion>,
    /// `_PyEval_EvalFrameDefault` of every interpreter seen, by file id.
    eval: HashMap<FileId, Range<u64>>,
    stats: PythonStats,
}

impl PythonProcesses {
    /// Python support writing to the BPF map `py_procs` (its fd), or
    /// naming nothing when `procs_map` is `None` (disabled).
    pub fn new(procs_map: Option<OwnedFd>) -> Self {
        Self {
            procs_map,
            binaries: HashMap::new(),
            processes: HashMap::new(),
            reported: HashSet::new(),
            eval: HashMap::new(),
            stats: PythonStats::default(),
        }
    }

    /// Whether Python stacks are walked at all.
    pub fn enabled(&self) -> bool {
        self.procs_map.is_some()
    }

    /// Counters so far.
    pub fn stats(&self) -> &PythonStats {
        &self.stats
    }

    /// Processes registered now.
    pub fn registered(&self) -> usize {
        self.processes.len()
    }

    /// Looks for an interpreter in `pid`'s executable `mappings` (a new or
    /// changed snapshot) and registers the process with BPF if it has one
    /// of a known version.
    pub fn update(&mut self, pid: u32, mappings: &[ExecMapping]) {
        if self.procs_map.is_none() {
            return;
        }
        let Some((binary, mapping)) = self.interpreter_of(pid, mappings) else {
            self.forget(pid);
            return;
        };
        if self
            .processes
            .get(&pid)
            .is_some_and(|p| p.version == binary.version)
        {
            return;
        }
        let Some(offsets) = offsets_for(binary.version) else {
            self.stats.unknown_version += 1;
            if self.reported.insert(binary.version) {
                tracing::warn!(
                    pid,
                    version = %format!("{}.{}", binary.version.major, binary.version.minor),
                    "CPython version without known offsets: its processes are profiled natively, without Python frames"
                );
            }
            return;
        };
        let runtime = binary.address_in(binary.runtime_vaddr, mapping.start, mapping.offset);
        // 3.13+ describes its own layout at the start of _PyRuntime: a
        // table that disagrees with it is never used.
        if binary.version >= PyVersion::new(3, 13)
            && let Err(why) = ProcessMemory::open(pid)
                .and_then(|mem| mem.read_vec(runtime, DEBUG_OFFSETS_LEN))
                .map_err(|e| e.to_string())
                .and_then(|bytes| check_debug_offsets(&bytes, offsets))
        {
            self.stats.unknown_version += 1;
            if self.reported.insert(binary.version) {
                tracing::warn!(pid, version = %binary.version, %why, "CPython's own debug offsets disagree with Augur's table: its processes are profiled natively, without Python frames");
            }
            return;
        }
        let entry = PyProc {
            runtime,
            model: model_of(binary.version, offsets),
            pad: 0,
            offsets: abi_offsets(offsets),
        };
        if !self.write(pid, &entry) {
            self.stats.register_failed += 1;
            return;
        }
        self.stats.processes += 1;
        self.processes.insert(
            pid,
            PyProcess {
                version: binary.version,
                offsets,
                mem: ProcessMemory::open(pid).ok(),
                code_type: binary
                    .code_type_vaddr
                    .map(|vaddr| binary.address_in(vaddr, mapping.start, mapping.offset)),
                codes: HashMap::new(),
            },
        );
    }

    /// Forgets a process (exited, or no Python any more).
    pub fn forget(&mut self, pid: u32) {
        if self.processes.remove(&pid).is_some()
            && let Some(map) = &self.procs_map
        {
            // SAFETY: the key is a live u32, the map's key type.
            unsafe {
                libbpf_sys::bpf_map_delete_elem(map.as_raw_fd(), (&raw const pid).cast());
            }
        }
    }

    /// Whether `frame` is a native frame of an interpreter's evaluation
    /// loop, whose place Python frames take.
    pub fn is_eval_frame(&self, frame: &RawFrame) -> bool {
        match frame {
            RawFrame::User {
                build_id,
                file_offset,
            } => self
                .eval
                .get(build_id)
                .is_some_and(|range| range.contains(file_offset)),
            _ => false,
        }
    }

    /// The frames of a Python stack of `pid` as BPF recorded it (words,
    /// leaf first), each with whether it is the outermost frame of one
    /// call of the evaluation loop.
    pub fn frames(&mut self, pid: u32, words: &[u64]) -> Vec<(RawFrame, bool)> {
        let Some(process) = self.processes.get_mut(&pid) else {
            // Registered, then gone before this drain named its frames.
            self.stats.unnamed_exited += words.len() as u64;
            return words
                .iter()
                .map(|&w| {
                    let word = PyFrameWord(w);
                    (unknown(placeholder::PYTHON_PROCESS_EXITED), word.entry())
                })
                .collect();
        };
        if process.codes.len() > MAX_CODE_OBJECTS {
            process.codes.clear();
        }
        words
            .iter()
            .map(|&w| {
                let word = PyFrameWord(w);
                let frame = match process.code(word.code(), &mut self.stats) {
                    Some(code) => RawFrame::Runtime {
                        runtime: Runtime::Python,
                        function: code.function.clone(),
                        file: code.file.clone(),
                        line: line_for(
                            process.version,
                            code.firstlineno,
                            &code.linetable,
                            word.instr(),
                        )
                        .unwrap_or(0),
                        inlined: false,
                    },
                    None if process.mem.is_none() => {
                        self.stats.unnamed_exited += 1;
                        unknown(placeholder::PYTHON_PROCESS_EXITED)
                    }
                    None => {
                        self.stats.unnamed_unreadable += 1;
                        unknown(placeholder::PYTHON_CODE_UNREADABLE)
                    }
                };
                (frame, word.entry())
            })
            .collect()
    }

    /// The interpreter mapped by `pid`, and its executable mapping.
    fn interpreter_of<'m>(
        &mut self,
        pid: u32,
        mappings: &'m [ExecMapping],
    ) -> Option<(Arc<PyBinary>, &'m ExecMapping)> {
        for mapping in mappings {
            let (Some(id), Some(path)) = (&mapping.build_id, &mapping.path) else {
                continue;
            };
            // Every file is read once per file id: an interpreter may be
            // linked into an executable of any name.
            let binary = self
                .binaries
                .entry(id.clone())
                .or_insert_with(|| read_binary(pid, mapping, path).map(Arc::new))
                .clone();
            if let Some(binary) = binary {
                self.eval
                    .entry(id.clone())
                    .or_insert_with(|| binary.eval_offsets.clone());
                return Some((binary, mapping));
            }
        }
        None
    }

    fn write(&self, pid: u32, entry: &PyProc) -> bool {
        let Some(map) = &self.procs_map else {
            return false;
        };
        // SAFETY: key and value are live and of the map's sizes (`u32`,
        // `struct py_proc`).
        let ret = unsafe {
            libbpf_sys::bpf_map_update_elem(
                map.as_raw_fd(),
                (&raw const pid).cast(),
                (entry as *const PyProc).cast(),
                u64::from(libbpf_sys::BPF_ANY),
            )
        };
        if ret != 0 {
            tracing::debug!(pid, ret, "no room for the process in py_procs");
        }
        ret == 0
    }
}

impl PyProcess {
    /// The code object at `addr`, read on first use.
    fn code(&mut self, addr: u64, stats: &mut PythonStats) -> Option<Arc<CodeInfo>> {
        if let Some(known) = self.codes.get(&addr) {
            return known.clone();
        }
        let mem = self.mem.as_ref()?;
        let read = read_code(mem, self.offsets, self.version, addr, self.code_type);
        let info = match read {
            Ok(info) => {
                stats.code_objects += 1;
                Some(Arc::new(info))
            }
            Err(error) => {
                tracing::debug!(pid = mem.pid(), addr, %error, "unreadable code object");
                if !std::path::Path::new(&format!("/proc/{}", mem.pid())).exists() {
                    // Gone: nothing more will be read; keep what was.
                    self.mem = None;
                    return None;
                }
                None
            }
        };
        self.codes.insert(addr, info.clone());
        info
    }
}

/// Reads the file behind `mapping` of `pid` as an interpreter.
fn read_binary(pid: u32, mapping: &ExecMapping, path: &str) -> Option<PyBinary> {
    let file = std::fs::File::open(format!(
        "/proc/{pid}/map_files/{:x}-{:x}",
        mapping.start, mapping.end
    ))
    .or_else(|_| std::fs::File::open(format!("/proc/{pid}/root{path}")))
    .ok()?;
    // SAFETY: the file is only read; a file truncated meanwhile can at
    // worst fault this parse, as with any mapped-file reader (the agent
    // reads binaries the same way for unwind tables).
    let data = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    PyBinary::parse(&data, path)
}

/// The BPF model of a version's frame layout.
fn model_of(version: PyVersion, offsets: &PyOffsets) -> u32 {
    match offsets.model {
        FrameModel::FrameObject if version.minor <= 9 => py_model::FRAME_OBJECT_BYTES,
        FrameModel::FrameObject => py_model::FRAME_OBJECT,
        FrameModel::Cframe311 => py_model::CFRAME_311,
        FrameModel::Cframe312 => py_model::CFRAME_312,
        FrameModel::Direct313 => py_model::DIRECT_313,
    }
}

/// The offsets as BPF reads them.
fn abi_offsets(o: &PyOffsets) -> PyOffsetsAbi {
    let (gil_offset, gil_in_interp) = match o.gil_location {
        GilLocation::InRuntime(offset) => (offset, 0),
        GilLocation::InterpPointer(offset) => (offset, 1),
    };
    PyOffsetsAbi {
        interpreters_head: o.runtime_interpreters_head,
        threads_head: o.interp_threads_head,
        tstate_next: o.tstate_next,
        tstate_native_thread_id: o.tstate_native_thread_id,
        tstate_frame: o.tstate_frame,
        cframe_current_frame: o.cframe_current_frame,
        frame_previous: o.frame_previous,
        frame_code: o.frame_code,
        frame_instr: o.frame_instr,
        frame_owner: o.frame_owner,
        code_adaptive: o.code_adaptive,
        gil_locked: o.gil_locked,
        gil_last_holder: o.gil_last_holder,
        gil_offset,
        gil_in_interp,
        tstate_thread_id: o.tstate_thread_id,
    }
}

fn unknown(reason: &str) -> RawFrame {
    RawFrame::Unknown {
        reason: reason.to_owned(),
    }
}

/// Puts Python frames in place of the evaluation loop's native frames.
///
/// `native` is a user stack, leaf first; `python` the thread's Python
/// frames, leaf first, each with whether it is the outermost of one call
/// of the evaluation loop. The Python frames form runs, one per call; the
/// innermost run takes the place of the innermost evaluation-loop frame,
/// and so on outward. Runs left over (the native walk lost evaluation-loop
/// frames, or stopped early) go right after the last run placed, or at the
/// root end when none was: Python's own stack is whole even where the
/// native one is not.
pub fn merge(
    native: Vec<RawFrame>,
    python: Vec<(RawFrame, bool)>,
    is_eval: impl Fn(&RawFrame) -> bool,
) -> Vec<RawFrame> {
    let mut runs: Vec<Vec<RawFrame>> = Vec::new();
    let mut current = Vec::new();
    for (frame, entry) in python {
        current.push(frame);
        if entry {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    let mut runs = runs.into_iter();
    let mut out = Vec::with_capacity(native.len() + 16);
    let mut after_last_run = None;
    for frame in native {
        if is_eval(&frame)
            && let Some(run) = runs.next()
        {
            out.extend(run);
            after_last_run = Some(out.len());
            continue;
        }
        out.push(frame);
    }
    let rest: Vec<RawFrame> = runs.flatten().collect();
    if !rest.is_empty() {
        let at = after_last_run.unwrap_or(out.len());
        out.splice(at..at, rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(name: &str) -> RawFrame {
        RawFrame::Named {
            function: name.into(),
            origin: "test".into(),
        }
    }

    fn py(name: &str, entry: bool) -> (RawFrame, bool) {
        (
            RawFrame::Runtime {
                runtime: Runtime::Python,
                function: name.into(),
                file: "app.py".into(),
                line: 1,
                inlined: false,
            },
            entry,
        )
    }

    fn names(frames: &[RawFrame]) -> Vec<&str> {
        frames
            .iter()
            .map(|f| match f {
                RawFrame::Named { function, .. } | RawFrame::Runtime { function, .. } => {
                    function.as_str()
                }
                _ => "?",
            })
            .collect()
    }

    fn is_eval(frame: &RawFrame) -> bool {
        matches!(frame, RawFrame::Named { function, .. } if function == "eval")
    }

    #[test]
    fn python_runs_take_the_place_of_their_evaluation_loop_calls() {
        // sha256 called from Python, which was called through C from Python.
        let stack = [
            "SHA256",
            "_hashlib",
            "eval",
            "PyObject_Call",
            "eval",
            "main",
            "_start",
        ];
        let python = vec![
            py("digest", false),
            py("work", true),
            py("callback", false),
            py("<module>", true),
        ];
        let merged = merge(stack.iter().map(|n| native(n)).collect(), python, is_eval);
        assert_eq!(
            names(&merged),
            [
                "SHA256",
                "_hashlib",
                "digest",
                "work",
                "PyObject_Call",
                "callback",
                "<module>",
                "main",
                "_start"
            ]
        );
    }

    #[test]
    fn runs_left_over_follow_the_last_placed_or_end_a_broken_native_stack() {
        // The native walk lost the outer evaluation loop frames.
        let merged = merge(
            ["leaf", "eval", "lost"].iter().map(|n| native(n)).collect(),
            vec![py("inner", true), py("outer", true), py("<module>", true)],
            is_eval,
        );
        assert_eq!(
            names(&merged),
            ["leaf", "inner", "outer", "<module>", "lost"]
        );
        // No evaluation loop frame at all: Python goes at the root end.
        let merged = merge(
            ["leaf"].iter().map(|n| native(n)).collect(),
            vec![py("f", false), py("<module>", true)],
            is_eval,
        );
        assert_eq!(names(&merged), ["leaf", "f", "<module>"]);
        // More evaluation loop frames than runs: the rest stay native.
        let merged = merge(
            ["eval", "eval"].iter().map(|n| native(n)).collect(),
            vec![py("f", true)],
            is_eval,
        );
        assert_eq!(names(&merged), ["f", "eval"]);
    }
}
