//! Where CPython keeps what a profiler reads, per minor version (x86_64,
//! default GIL build): the frame chain from `_PyRuntime` down to each
//! frame's code object and instruction, the GIL, and the str, bytes and
//! code objects the name reader decodes.
//!
//! One table per minor version, used for every patch release of it. The
//! numbers come from, and a test checks them against, each version's own
//! headers (3.9.18, 3.10.13, 3.11.7, 3.12.1, 3.13.0 here, and Debian's
//! 3.11.2 when its -dev package is in); a live test walks them on those
//! interpreters. Public DWARF dumps of every patch release (3.9.0-3.9.18,
//! 3.10.0-3.10.13, 3.11.0-3.11.8, 3.12.0-3.12.2, 3.13.0) show no change
//! within a minor for the frame, code-name and str fields; the internal
//! structs (`_PyRuntimeState`, `PyInterpreterState`: the interpreter and
//! thread heads, the GIL) carry no ABI promise and were only checked on the
//! releases above. On 3.13+, [`check_debug_offsets`] checks the table
//! against the interpreter's own `_Py_DebugOffsets` at attach time.
//!
//! Free-threaded (`python3.13t`) and debug (`Py_TRACE_REFS`) builds lay
//! objects out differently: [`version_from_path`] does not recognise them
//! and [`check_debug_offsets`] refuses a free-threaded runtime.

use std::fmt;

/// A CPython minor version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PyVersion {
    pub major: u8,
    pub minor: u8,
}

impl PyVersion {
    pub const fn new(major: u8, minor: u8) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How frames are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameModel {
    /// 3.9, 3.10: PyFrameObject chain from tstate->frame; `frame_instr` is
    /// f_lasti (an int: bytes in 3.9, code units in 3.10); every frame is its
    /// own _PyEval_EvalFrameDefault call.
    FrameObject,
    /// 3.11: tstate->cframe->current_frame, _PyInterpreterFrame;
    /// `frame_instr` is prev_instr (pointer); `frame_owner` is the
    /// `is_entry` bool.
    Cframe311,
    /// 3.12: tstate->cframe->current_frame; `frame_owner` is the `owner`
    /// char (FRAME_OWNED_BY_CSTACK = 3 marks a C entry shim).
    Cframe312,
    /// 3.13: tstate->current_frame; `frame_code` is f_executable;
    /// `frame_instr` is instr_ptr; `frame_owner` is owner.
    Direct313,
}

/// Byte offsets of what the walker and the name reader read.
///
/// A field a version lacks is 0 and says so in its doc. Zero is also a real
/// offset for some fields (`frame_code` from 3.12, `cframe_current_frame`
/// in 3.12): `model` tells which fields apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PyOffsets {
    pub model: FrameModel,
    /// `_PyRuntimeState.interpreters.head`.
    pub runtime_interpreters_head: u16,
    /// `PyInterpreterState.tstate_head` (3.9, 3.10) / `.threads.head` (3.11+).
    pub interp_threads_head: u16,
    /// `PyThreadState.next`.
    pub tstate_next: u16,
    /// `PyThreadState.native_thread_id` (unsigned long, the kernel tid;
    /// 3.11+). 0 before 3.11, which does not record it: there only the
    /// pthread id (`thread_id`) exists.
    pub tstate_native_thread_id: u16,
    /// `PyThreadState.thread_id` (the pthread_t, which glibc and musl make
    /// the thread's fs base) where `native_thread_id` is missing (3.9,
    /// 3.10); 0 from 3.11, which find threads by kernel tid.
    pub tstate_thread_id: u16,
    /// `PyThreadState.frame` (3.9/3.10) / `.cframe` (3.11/3.12) /
    /// `.current_frame` (3.13).
    pub tstate_frame: u16,
    /// `_PyCFrame.current_frame` (3.11/3.12; 0 otherwise, and a real 0 in
    /// 3.12, where it is the first field).
    pub cframe_current_frame: u16,
    /// `PyFrameObject.f_back` / `_PyInterpreterFrame.previous`.
    pub frame_previous: u16,
    /// `f_code` / `f_executable` (3.13). In 3.12+ the C-stack entry shim
    /// (owner 3) holds a code object of its own or, in 3.13, possibly none:
    /// skip it by owner, not by type.
    pub frame_code: u16,
    /// `f_lasti` (3.9/3.10, an int) / `prev_instr` (3.11/3.12, the last
    /// instruction started: one unit before the code in a frame just
    /// pushed) / `instr_ptr` (3.13, the current instruction).
    pub frame_instr: u16,
    /// `is_entry` (3.11, a bool: the first frame of its
    /// _PyEval_EvalFrameDefault call) / `owner` (3.12+, a char); 0 for
    /// 3.9/3.10.
    pub frame_owner: u16,
    /// `PyCodeObject.co_code_adaptive` (3.11+; 0 otherwise): instruction
    /// offset in code units = (instr - (code + code_adaptive)) / 2, the
    /// convention of [`line_for`](super::linetable::line_for).
    pub code_adaptive: u16,
    /// `co_name`.
    pub code_name: u16,
    /// `co_qualname` (3.11+); 0 before 3.11.
    pub code_qualname: u16,
    /// `co_filename`.
    pub code_filename: u16,
    /// `co_firstlineno` (an int).
    pub code_firstlineno: u16,
    /// `co_lnotab` in 3.9, `co_linetable` 3.10+ (a bytes object).
    pub code_linetable: u16,
    /// `locked` inside `struct _gil_runtime_state` (an int, -1 before init).
    pub gil_locked: u16,
    /// `last_holder` inside `struct _gil_runtime_state` (a PyThreadState*).
    pub gil_last_holder: u16,
    /// Where the `struct _gil_runtime_state` is.
    pub gil_location: GilLocation,
    /// sizeof(PyASCIIObject): data of a compact ASCII str.
    pub unicode_ascii_data: u16,
    /// sizeof(PyCompactUnicodeObject): data of a compact non-ASCII str.
    pub unicode_compact_data: u16,
    /// Offset of the `state` bitfield word (kind in bits 2-4, compact bit 5,
    /// ascii bit 6 in every supported version).
    pub unicode_state: u16,
    /// `PyBytesObject.ob_base.ob_size`.
    pub bytes_size: u16,
    /// `PyBytesObject.ob_sval`.
    pub bytes_data: u16,
}

/// Where the GIL's state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GilLocation {
    /// Embedded in _PyRuntime at this offset (3.9-3.11: _PyRuntime.ceval.gil).
    InRuntime(u16),
    /// Pointer at this offset in PyInterpreterState (3.12+: interp->ceval.gil).
    InterpPointer(u16),
}

/// 3.9 (checked: 3.9.18).
static PY39: PyOffsets = PyOffsets {
    model: FrameModel::FrameObject,
    runtime_interpreters_head: 32,
    interp_threads_head: 8,
    tstate_next: 8,
    tstate_native_thread_id: 0,
    tstate_thread_id: 176,
    tstate_frame: 24,
    cframe_current_frame: 0,
    frame_previous: 24,
    frame_code: 32,
    frame_instr: 104,
    frame_owner: 0,
    code_adaptive: 0,
    code_name: 112,
    code_qualname: 0,
    code_filename: 104,
    code_firstlineno: 40,
    code_linetable: 120,
    gil_locked: 16,
    gil_last_holder: 8,
    gil_location: GilLocation::InRuntime(352),
    unicode_ascii_data: 48,
    unicode_compact_data: 72,
    unicode_state: 32,
    bytes_size: 16,
    bytes_data: 32,
};

/// 3.10 (checked: 3.10.13): as 3.9 but for `f_lasti`.
static PY310: PyOffsets = PyOffsets {
    model: FrameModel::FrameObject,
    runtime_interpreters_head: 32,
    interp_threads_head: 8,
    tstate_next: 8,
    tstate_native_thread_id: 0,
    tstate_thread_id: 176,
    tstate_frame: 24,
    cframe_current_frame: 0,
    frame_previous: 24,
    frame_code: 32,
    frame_instr: 96,
    frame_owner: 0,
    code_adaptive: 0,
    code_name: 112,
    code_qualname: 0,
    code_filename: 104,
    code_firstlineno: 40,
    code_linetable: 120,
    gil_locked: 16,
    gil_last_holder: 8,
    gil_location: GilLocation::InRuntime(352),
    unicode_ascii_data: 48,
    unicode_compact_data: 72,
    unicode_state: 32,
    bytes_size: 16,
    bytes_data: 32,
};

/// 3.11 (checked: 3.11.7 and Debian's 3.11.2).
static PY311: PyOffsets = PyOffsets {
    model: FrameModel::Cframe311,
    runtime_interpreters_head: 40,
    interp_threads_head: 16,
    tstate_next: 8,
    tstate_native_thread_id: 160,
    tstate_thread_id: 0,
    tstate_frame: 56,
    cframe_current_frame: 8,
    frame_previous: 48,
    frame_code: 32,
    frame_instr: 56,
    frame_owner: 68,
    code_adaptive: 184,
    code_name: 120,
    code_qualname: 128,
    code_filename: 112,
    code_firstlineno: 72,
    code_linetable: 136,
    gil_locked: 16,
    gil_last_holder: 8,
    gil_location: GilLocation::InRuntime(360),
    unicode_ascii_data: 48,
    unicode_compact_data: 72,
    unicode_state: 32,
    bytes_size: 16,
    bytes_data: 32,
};

/// 3.12 (checked: 3.12.1).
static PY312: PyOffsets = PyOffsets {
    model: FrameModel::Cframe312,
    runtime_interpreters_head: 40,
    interp_threads_head: 72,
    tstate_next: 8,
    tstate_native_thread_id: 144,
    tstate_thread_id: 0,
    tstate_frame: 56,
    cframe_current_frame: 0,
    frame_previous: 8,
    frame_code: 0,
    frame_instr: 56,
    frame_owner: 70,
    code_adaptive: 192,
    code_name: 120,
    code_qualname: 128,
    code_filename: 112,
    code_firstlineno: 68,
    code_linetable: 136,
    gil_locked: 16,
    gil_last_holder: 8,
    gil_location: GilLocation::InterpPointer(384),
    unicode_ascii_data: 40,
    unicode_compact_data: 56,
    unicode_state: 32,
    bytes_size: 16,
    bytes_data: 32,
};

/// 3.13 (checked: 3.13.0, and its `_Py_DebugOffsets`).
static PY313: PyOffsets = PyOffsets {
    model: FrameModel::Direct313,
    runtime_interpreters_head: 632,
    interp_threads_head: 7344,
    tstate_next: 8,
    tstate_native_thread_id: 160,
    tstate_thread_id: 0,
    tstate_frame: 72,
    cframe_current_frame: 0,
    frame_previous: 8,
    frame_code: 0,
    frame_instr: 56,
    frame_owner: 70,
    code_adaptive: 200,
    code_name: 120,
    code_qualname: 128,
    code_filename: 112,
    code_firstlineno: 68,
    code_linetable: 136,
    gil_locked: 16,
    gil_last_holder: 8,
    gil_location: GilLocation::InterpPointer(16),
    unicode_ascii_data: 40,
    unicode_compact_data: 56,
    unicode_state: 32,
    bytes_size: 16,
    bytes_data: 32,
};

/// The offsets of a minor version; `None` for versions not in the table
/// (before 3.9, 3.14 and later).
pub fn offsets_for(version: PyVersion) -> Option<&'static PyOffsets> {
    match (version.major, version.minor) {
        (3, 9) => Some(&PY39),
        (3, 10) => Some(&PY310),
        (3, 11) => Some(&PY311),
        (3, 12) => Some(&PY312),
        (3, 13) => Some(&PY313),
        _ => None,
    }
}

/// The version named by an interpreter or libpython path:
/// `…/libpython3.11.so.1.0`, `…/libpython3.11.so`, `…/python3.9`,
/// `/usr/bin/python3.11`. `None` for anything else, including names with an
/// ABI suffix (`python3.13t`, `libpython3.12d.so`): their layouts differ.
pub fn version_from_path(path: &str) -> Option<PyVersion> {
    let name = path.rsplit('/').next()?;
    let rest = name.strip_prefix("lib").unwrap_or(name);
    let rest = rest.strip_prefix("python")?;
    let (major, rest) = split_number(rest)?;
    let rest = rest.strip_prefix('.')?;
    let (minor, rest) = split_number(rest)?;
    let is_library = name.starts_with("lib");
    let tail_ok = if is_library {
        rest == ".so" || rest.starts_with(".so.")
    } else {
        rest.is_empty()
    };
    (tail_ok && major == 3).then_some(PyVersion::new(major, minor))
}

/// A leading decimal number (at most 3 digits) and what follows it.
fn split_number(s: &str) -> Option<(u8, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    Some((s[..digits].parse().ok()?, &s[digits..]))
}

/// The version in a PY_VERSION_HEX value, as the `Py_Version` symbol (3.11+)
/// holds it: 0xMMmmppRS.
pub fn version_from_py_version_hex(hex: u32) -> PyVersion {
    PyVersion::new((hex >> 24) as u8, (hex >> 16) as u8)
}

/// Byte positions of the fields of 3.13's `_Py_DebugOffsets` (every field
/// after the 8-byte cookie is a u64), checked against the header by a test.
pub(crate) mod debug_field {
    pub const COOKIE: usize = 0;
    pub const VERSION: usize = 8;
    pub const FREE_THREADED: usize = 16;
    pub const RUNTIME_INTERPRETERS_HEAD: usize = 40;
    pub const INTERP_THREADS_HEAD: usize = 72;
    pub const INTERP_CEVAL_GIL: usize = 112;
    pub const INTERP_GIL_RUNTIME_STATE: usize = 120;
    pub const INTERP_GIL_LOCKED: usize = 136;
    pub const INTERP_GIL_HOLDER: usize = 144;
    pub const TSTATE_NEXT: usize = 168;
    pub const TSTATE_CURRENT_FRAME: usize = 184;
    pub const TSTATE_NATIVE_THREAD_ID: usize = 200;
    pub const FRAME_PREVIOUS: usize = 232;
    pub const FRAME_EXECUTABLE: usize = 240;
    pub const FRAME_INSTR_PTR: usize = 248;
    pub const FRAME_OWNER: usize = 264;
    pub const CODE_FILENAME: usize = 280;
    pub const CODE_NAME: usize = 288;
    pub const CODE_QUALNAME: usize = 296;
    pub const CODE_LINETABLE: usize = 304;
    pub const CODE_FIRSTLINENO: usize = 312;
    pub const CODE_ADAPTIVE: usize = 344;
    pub const BYTES_OB_SIZE: usize = 520;
    pub const BYTES_OB_SVAL: usize = 528;
    pub const UNICODE_STATE: usize = 544;
    pub const UNICODE_ASCII_SIZE: usize = 560;
    /// sizeof(_Py_DebugOffsets) in 3.13.
    pub const LEN: usize = 584;
}

/// Checks `table` against the `_Py_DebugOffsets` that CPython 3.13 puts at
/// the start of `_PyRuntime`. `bytes` are the first bytes of `_PyRuntime`,
/// from the live process or from the initial data in the ELF file (the
/// struct is statically initialised). Only the 3.13 layout of the struct is
/// known: other versions, a free-threaded build, a wrong cookie or any
/// field that disagrees are errors naming the field.
pub fn check_debug_offsets(bytes: &[u8], table: &PyOffsets) -> Result<(), String> {
    use debug_field as f;
    if bytes.len() < f::LEN {
        return Err(format!(
            "need {} bytes of _PyRuntime, got {}",
            f::LEN,
            bytes.len()
        ));
    }
    if &bytes[f::COOKIE..f::COOKIE + 8] != b"xdebugpy" {
        return Err("no xdebugpy cookie at the start of _PyRuntime".into());
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let hex = word(f::VERSION);
    let version = version_from_py_version_hex(hex as u32);
    if hex >> 32 != 0 || version != PyVersion::new(3, 13) {
        return Err(format!(
            "_Py_DebugOffsets of version {hex:#x}: only the 3.13 layout is known"
        ));
    }
    if word(f::FREE_THREADED) != 0 {
        return Err("free-threaded build: its objects are laid out differently".into());
    }
    let GilLocation::InterpPointer(gil_pointer) = table.gil_location else {
        return Err(
            "the table keeps the GIL in _PyRuntime; 3.13 points to it from the interpreter".into(),
        );
    };
    // The GIL fields are offsets inside the interpreter's own _gil; ours
    // are inside struct _gil_runtime_state.
    let gil = word(f::INTERP_GIL_RUNTIME_STATE);
    #[rustfmt::skip]
    let checks: [(&str, u64, u16); 22] = [
        ("runtime_state.interpreters_head",             word(f::RUNTIME_INTERPRETERS_HEAD),            table.runtime_interpreters_head),
        ("interpreter_state.threads_head",              word(f::INTERP_THREADS_HEAD),                  table.interp_threads_head),
        ("interpreter_state.ceval_gil",                 word(f::INTERP_CEVAL_GIL),                     gil_pointer),
        ("interpreter_state.gil_runtime_state_locked",  word(f::INTERP_GIL_LOCKED).wrapping_sub(gil),  table.gil_locked),
        ("interpreter_state.gil_runtime_state_holder",  word(f::INTERP_GIL_HOLDER).wrapping_sub(gil),  table.gil_last_holder),
        ("thread_state.next",                           word(f::TSTATE_NEXT),                          table.tstate_next),
        ("thread_state.current_frame",                  word(f::TSTATE_CURRENT_FRAME),                 table.tstate_frame),
        ("thread_state.native_thread_id",               word(f::TSTATE_NATIVE_THREAD_ID),              table.tstate_native_thread_id),
        ("interpreter_frame.previous",                  word(f::FRAME_PREVIOUS),                       table.frame_previous),
        ("interpreter_frame.executable",                word(f::FRAME_EXECUTABLE),                     table.frame_code),
        ("interpreter_frame.instr_ptr",                 word(f::FRAME_INSTR_PTR),                      table.frame_instr),
        ("interpreter_frame.owner",                     word(f::FRAME_OWNER),                          table.frame_owner),
        ("code_object.filename",                        word(f::CODE_FILENAME),                        table.code_filename),
        ("code_object.name",                            word(f::CODE_NAME),                            table.code_name),
        ("code_object.qualname",                        word(f::CODE_QUALNAME),                        table.code_qualname),
        ("code_object.linetable",                       word(f::CODE_LINETABLE),                       table.code_linetable),
        ("code_object.firstlineno",                     word(f::CODE_FIRSTLINENO),                     table.code_firstlineno),
        ("code_object.co_code_adaptive",                word(f::CODE_ADAPTIVE),                        table.code_adaptive),
        ("bytes_object.ob_size",                        word(f::BYTES_OB_SIZE),                        table.bytes_size),
        ("bytes_object.ob_sval",                        word(f::BYTES_OB_SVAL),                        table.bytes_data),
        ("unicode_object.state",                        word(f::UNICODE_STATE),                        table.unicode_state),
        ("unicode_object.asciiobject_size",             word(f::UNICODE_ASCII_SIZE),                   table.unicode_ascii_data),
    ];
    let wrong: Vec<String> = checks
        .iter()
        .filter(|&&(_, runtime, ours)| runtime != u64::from(ours))
        .map(|(name, runtime, ours)| format!("{name}: runtime says {runtime}, table {ours}"))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

/// Test support shared by the python modules' tests: which interpreters
/// this machine has.
#[cfg(test)]
pub(crate) mod installed {
    use super::PyVersion;
    use std::path::PathBuf;

    /// One pyenv interpreter build.
    #[derive(Debug, Clone)]
    pub(crate) struct Pyenv {
        pub version: PyVersion,
        pub root: PathBuf,
    }

    impl Pyenv {
        pub fn python(&self) -> PathBuf {
            self.root.join(format!("bin/python{}", self.version))
        }
        pub fn include(&self) -> PathBuf {
            self.root.join(format!("include/python{}", self.version))
        }
        pub fn libpython(&self) -> PathBuf {
            self.root
                .join(format!("lib/libpython{}.so.1.0", self.version))
        }
    }

    fn pyenv_versions() -> PathBuf {
        let root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")))
            .unwrap_or_else(|| PathBuf::from("/root/.pyenv"));
        root.join("versions")
    }

    /// The newest installed pyenv patch release of each minor version in
    /// 3.9..=3.13 that has headers, interpreter and libpython; prints a loud
    /// SKIP line for each minor that is absent.
    pub(crate) fn pyenv_builds() -> Vec<Pyenv> {
        let dir = pyenv_versions();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        let mut found = Vec::new();
        for minor in 9..=13u8 {
            let version = PyVersion::new(3, minor);
            let prefix = format!("3.{minor}.");
            let newest = names
                .iter()
                .filter_map(|name| {
                    let patch: u32 = name.strip_prefix(&prefix)?.parse().ok()?;
                    Some((patch, name))
                })
                .max();
            let build = newest.map(|(_, name)| Pyenv {
                version,
                root: dir.join(name),
            });
            match build {
                Some(b)
                    if b.python().exists() && b.include().exists() && b.libpython().exists() =>
                {
                    found.push(b)
                }
                _ => eprintln!(
                    "SKIP: no complete pyenv build of Python {version} under {}",
                    dir.display()
                ),
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::installed::pyenv_builds;
    use super::*;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Prints every offset of the table, and for 3.13 the positions of the
    /// `_Py_DebugOffsets` fields, from the version's own headers.
    const OFFSETS_C: &str = r#"
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_code.h"
#include "internal/pycore_gil.h"
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#else
#include "frameobject.h"
#endif

#define P(name, value) printf("%s %lu\n", name, (unsigned long)(value))

int main(void) {
    P("major", PY_MAJOR_VERSION);
    P("minor", PY_MINOR_VERSION);
    P("runtime_interpreters_head", offsetof(_PyRuntimeState, interpreters.head));
#if PY_VERSION_HEX >= 0x030B0000
    P("interp_threads_head", offsetof(PyInterpreterState, threads.head));
    P("tstate_native_thread_id", offsetof(PyThreadState, native_thread_id));
    P("tstate_thread_id", 0);
    P("code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
    P("code_qualname", offsetof(PyCodeObject, co_qualname));
#else
    P("interp_threads_head", offsetof(PyInterpreterState, tstate_head));
    P("tstate_native_thread_id", 0);
    P("tstate_thread_id", offsetof(PyThreadState, thread_id));
    P("code_adaptive", 0);
    P("code_qualname", 0);
#endif
    P("tstate_next", offsetof(PyThreadState, next));
#if PY_VERSION_HEX >= 0x030D0000
    P("tstate_frame", offsetof(PyThreadState, current_frame));
    P("cframe_current_frame", 0);
    P("frame_previous", offsetof(_PyInterpreterFrame, previous));
    P("frame_code", offsetof(_PyInterpreterFrame, f_executable));
    P("frame_instr", offsetof(_PyInterpreterFrame, instr_ptr));
    P("frame_owner", offsetof(_PyInterpreterFrame, owner));
#elif PY_VERSION_HEX >= 0x030B0000
    P("tstate_frame", offsetof(PyThreadState, cframe));
    P("cframe_current_frame", offsetof(_PyCFrame, current_frame));
    P("frame_previous", offsetof(_PyInterpreterFrame, previous));
    P("frame_code", offsetof(_PyInterpreterFrame, f_code));
    P("frame_instr", offsetof(_PyInterpreterFrame, prev_instr));
#if PY_VERSION_HEX >= 0x030C0000
    P("frame_owner", offsetof(_PyInterpreterFrame, owner));
#else
    P("frame_owner", offsetof(_PyInterpreterFrame, is_entry));
#endif
#else
    P("tstate_frame", offsetof(PyThreadState, frame));
    P("cframe_current_frame", 0);
    P("frame_previous", offsetof(PyFrameObject, f_back));
    P("frame_code", offsetof(PyFrameObject, f_code));
    P("frame_instr", offsetof(PyFrameObject, f_lasti));
    P("frame_owner", 0);
#endif
    P("code_name", offsetof(PyCodeObject, co_name));
    P("code_filename", offsetof(PyCodeObject, co_filename));
    P("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
#if PY_VERSION_HEX >= 0x030A0000
    P("code_linetable", offsetof(PyCodeObject, co_linetable));
#else
    P("code_linetable", offsetof(PyCodeObject, co_lnotab));
#endif
    P("gil_locked", offsetof(struct _gil_runtime_state, locked));
    P("gil_last_holder", offsetof(struct _gil_runtime_state, last_holder));
#if PY_VERSION_HEX >= 0x030C0000
    P("gil_interp_pointer", offsetof(PyInterpreterState, ceval.gil));
#else
    P("gil_in_runtime", offsetof(_PyRuntimeState, ceval.gil));
#endif
    P("unicode_ascii_data", sizeof(PyASCIIObject));
    P("unicode_compact_data", sizeof(PyCompactUnicodeObject));
    P("unicode_state", offsetof(PyASCIIObject, state));
    P("bytes_size", offsetof(PyBytesObject, ob_base.ob_size));
    P("bytes_data", offsetof(PyBytesObject, ob_sval));
#if PY_VERSION_HEX >= 0x030D0000
    P("dbg.cookie", offsetof(_Py_DebugOffsets, cookie));
    P("dbg.version", offsetof(_Py_DebugOffsets, version));
    P("dbg.free_threaded", offsetof(_Py_DebugOffsets, free_threaded));
    P("dbg.interpreters_head", offsetof(_Py_DebugOffsets, runtime_state.interpreters_head));
    P("dbg.threads_head", offsetof(_Py_DebugOffsets, interpreter_state.threads_head));
    P("dbg.ceval_gil", offsetof(_Py_DebugOffsets, interpreter_state.ceval_gil));
    P("dbg.gil_runtime_state", offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state));
    P("dbg.gil_locked", offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state_locked));
    P("dbg.gil_holder", offsetof(_Py_DebugOffsets, interpreter_state.gil_runtime_state_holder));
    P("dbg.tstate_next", offsetof(_Py_DebugOffsets, thread_state.next));
    P("dbg.current_frame", offsetof(_Py_DebugOffsets, thread_state.current_frame));
    P("dbg.native_thread_id", offsetof(_Py_DebugOffsets, thread_state.native_thread_id));
    P("dbg.previous", offsetof(_Py_DebugOffsets, interpreter_frame.previous));
    P("dbg.executable", offsetof(_Py_DebugOffsets, interpreter_frame.executable));
    P("dbg.instr_ptr", offsetof(_Py_DebugOffsets, interpreter_frame.instr_ptr));
    P("dbg.owner", offsetof(_Py_DebugOffsets, interpreter_frame.owner));
    P("dbg.filename", offsetof(_Py_DebugOffsets, code_object.filename));
    P("dbg.name", offsetof(_Py_DebugOffsets, code_object.name));
    P("dbg.qualname", offsetof(_Py_DebugOffsets, code_object.qualname));
    P("dbg.linetable", offsetof(_Py_DebugOffsets, code_object.linetable));
    P("dbg.firstlineno", offsetof(_Py_DebugOffsets, code_object.firstlineno));
    P("dbg.co_code_adaptive", offsetof(_Py_DebugOffsets, code_object.co_code_adaptive));
    P("dbg.bytes_ob_size", offsetof(_Py_DebugOffsets, bytes_object.ob_size));
    P("dbg.bytes_ob_sval", offsetof(_Py_DebugOffsets, bytes_object.ob_sval));
    P("dbg.unicode_state", offsetof(_Py_DebugOffsets, unicode_object.state));
    P("dbg.asciiobject_size", offsetof(_Py_DebugOffsets, unicode_object.asciiobject_size));
    P("dbg.size", sizeof(_Py_DebugOffsets));
#endif
    return 0;
}
"#;

    /// Compiles and runs OFFSETS_C against `include`, returning its numbers.
    fn header_offsets(include: &Path, scratch: &Path) -> HashMap<String, u64> {
        let source = scratch.join("offsets.c");
        let exe = scratch.join("offsets");
        std::fs::write(&source, OFFSETS_C).unwrap();
        let out = Command::new("gcc")
            .arg("-w")
            .arg("-I")
            .arg(include)
            .arg("-o")
            .arg(&exe)
            .arg(&source)
            .output()
            .expect("gcc must be installed to check the offsets table");
        assert!(
            out.status.success(),
            "gcc failed for {}:\n{}",
            include.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(&exe).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let (name, value) = line.split_once(' ').unwrap();
                (name.to_string(), value.parse().unwrap())
            })
            .collect()
    }

    /// A table built from the header's numbers; every field must be there.
    fn table_from_headers(numbers: &HashMap<String, u64>, model: FrameModel) -> PyOffsets {
        let get = |name: &str| -> u16 {
            let value = *numbers
                .get(name)
                .unwrap_or_else(|| panic!("{name} not printed"));
            u16::try_from(value).unwrap_or_else(|_| panic!("{name} = {value} does not fit u16"))
        };
        let gil_location = if numbers.contains_key("gil_interp_pointer") {
            GilLocation::InterpPointer(get("gil_interp_pointer"))
        } else {
            GilLocation::InRuntime(get("gil_in_runtime"))
        };
        PyOffsets {
            model,
            runtime_interpreters_head: get("runtime_interpreters_head"),
            interp_threads_head: get("interp_threads_head"),
            tstate_next: get("tstate_next"),
            tstate_native_thread_id: get("tstate_native_thread_id"),
            tstate_thread_id: get("tstate_thread_id"),
            tstate_frame: get("tstate_frame"),
            cframe_current_frame: get("cframe_current_frame"),
            frame_previous: get("frame_previous"),
            frame_code: get("frame_code"),
            frame_instr: get("frame_instr"),
            frame_owner: get("frame_owner"),
            code_adaptive: get("code_adaptive"),
            code_name: get("code_name"),
            code_qualname: get("code_qualname"),
            code_filename: get("code_filename"),
            code_firstlineno: get("code_firstlineno"),
            code_linetable: get("code_linetable"),
            gil_locked: get("gil_locked"),
            gil_last_holder: get("gil_last_holder"),
            gil_location,
            unicode_ascii_data: get("unicode_ascii_data"),
            unicode_compact_data: get("unicode_compact_data"),
            unicode_state: get("unicode_state"),
            bytes_size: get("bytes_size"),
            bytes_data: get("bytes_data"),
        }
    }

    fn expected_model(version: PyVersion) -> FrameModel {
        match version.minor {
            9 | 10 => FrameModel::FrameObject,
            11 => FrameModel::Cframe311,
            12 => FrameModel::Cframe312,
            _ => FrameModel::Direct313,
        }
    }

    /// The key check: every field of the table equals what the version's own
    /// headers say, for every installed pyenv version, and for the
    /// system's headers (Debian's libpython3.11-dev, another patch release)
    /// when present.
    #[test]
    fn table_matches_each_installed_versions_headers() {
        let builds = pyenv_builds();
        assert!(
            !builds.is_empty(),
            "no pyenv CPython 3.9-3.13 found: the offsets table would go unchecked"
        );
        let scratch = tempfile::tempdir().unwrap();
        for build in &builds {
            check_headers(&build.include(), build.version, scratch.path());
        }
        for minor in 9..=13 {
            let system = PathBuf::from(format!("/usr/include/python3.{minor}"));
            if system.join("internal/pycore_runtime.h").exists() {
                check_headers(&system, PyVersion::new(3, minor), scratch.path());
            }
        }
    }

    fn check_headers(include: &Path, expected: PyVersion, scratch: &Path) {
        let numbers = header_offsets(include, scratch);
        let version = PyVersion::new(numbers["major"] as u8, numbers["minor"] as u8);
        assert_eq!(version, expected, "headers in {}", include.display());
        let table = offsets_for(version).expect("a table entry for every supported version");
        assert_eq!(
            *table,
            table_from_headers(&numbers, expected_model(version)),
            "Python {version}: table (left) vs {} (right)",
            include.display()
        );
        if version >= PyVersion::new(3, 13) {
            use debug_field as f;
            let positions = [
                ("dbg.cookie", f::COOKIE),
                ("dbg.version", f::VERSION),
                ("dbg.free_threaded", f::FREE_THREADED),
                ("dbg.interpreters_head", f::RUNTIME_INTERPRETERS_HEAD),
                ("dbg.threads_head", f::INTERP_THREADS_HEAD),
                ("dbg.ceval_gil", f::INTERP_CEVAL_GIL),
                ("dbg.gil_runtime_state", f::INTERP_GIL_RUNTIME_STATE),
                ("dbg.gil_locked", f::INTERP_GIL_LOCKED),
                ("dbg.gil_holder", f::INTERP_GIL_HOLDER),
                ("dbg.tstate_next", f::TSTATE_NEXT),
                ("dbg.current_frame", f::TSTATE_CURRENT_FRAME),
                ("dbg.native_thread_id", f::TSTATE_NATIVE_THREAD_ID),
                ("dbg.previous", f::FRAME_PREVIOUS),
                ("dbg.executable", f::FRAME_EXECUTABLE),
                ("dbg.instr_ptr", f::FRAME_INSTR_PTR),
                ("dbg.owner", f::FRAME_OWNER),
                ("dbg.filename", f::CODE_FILENAME),
                ("dbg.name", f::CODE_NAME),
                ("dbg.qualname", f::CODE_QUALNAME),
                ("dbg.linetable", f::CODE_LINETABLE),
                ("dbg.firstlineno", f::CODE_FIRSTLINENO),
                ("dbg.co_code_adaptive", f::CODE_ADAPTIVE),
                ("dbg.bytes_ob_size", f::BYTES_OB_SIZE),
                ("dbg.bytes_ob_sval", f::BYTES_OB_SVAL),
                ("dbg.unicode_state", f::UNICODE_STATE),
                ("dbg.asciiobject_size", f::UNICODE_ASCII_SIZE),
                ("dbg.size", f::LEN),
            ];
            for (name, ours) in positions {
                assert_eq!(numbers[name], ours as u64, "_Py_DebugOffsets {name}");
            }
        }
        eprintln!(
            "checked offsets of Python {version} against {}",
            include.display()
        );
    }

    /// The initial bytes of `_PyRuntime` in an ELF file.
    fn runtime_initial_bytes(path: &Path) -> Vec<u8> {
        use object::{Object, ObjectSection, ObjectSymbol};
        let data = std::fs::read(path).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let symbol = file
            .symbols()
            .chain(file.dynamic_symbols())
            .find(|s| s.name() == Ok("_PyRuntime"))
            .expect("_PyRuntime symbol");
        let section = file
            .section_by_index(symbol.section_index().expect("_PyRuntime is defined"))
            .unwrap();
        let start = (symbol.address() - section.address()) as usize;
        section.data().unwrap()[start..start + debug_field::LEN].to_vec()
    }

    #[test]
    fn debug_offsets_of_313_agree_with_the_table() {
        let builds = pyenv_builds();
        let Some(build) = builds.iter().find(|b| b.version == PyVersion::new(3, 13)) else {
            eprintln!("SKIP: no Python 3.13 to check _Py_DebugOffsets against");
            return;
        };
        let bytes = runtime_initial_bytes(&build.libpython());
        let table = offsets_for(build.version).unwrap();
        assert_eq!(check_debug_offsets(&bytes, table), Ok(()));

        // A wrong table is caught and the field named.
        let wrong = PyOffsets {
            frame_instr: table.frame_instr + 8,
            ..*table
        };
        let err = check_debug_offsets(&bytes, &wrong).unwrap_err();
        assert!(err.contains("instr_ptr"), "{err}");
        let mut bad_cookie = bytes.clone();
        bad_cookie[0] = b'X';
        assert!(check_debug_offsets(&bad_cookie, table).is_err());
        let mut free_threaded = bytes.clone();
        free_threaded[debug_field::FREE_THREADED] = 1;
        assert!(check_debug_offsets(&free_threaded, table).is_err());
        let mut newer = bytes.clone();
        newer[debug_field::VERSION + 2] = 14;
        assert!(
            check_debug_offsets(&newer, table)
                .unwrap_err()
                .contains("0x30e")
        );
        assert!(check_debug_offsets(&bytes[..100], table).is_err());
        assert!(check_debug_offsets(&bytes, offsets_for(PyVersion::new(3, 11)).unwrap()).is_err());
    }

    #[test]
    fn versions_from_paths() {
        let v = |minor| Some(PyVersion::new(3, minor));
        assert_eq!(
            version_from_path("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"),
            v(11)
        );
        assert_eq!(version_from_path("/x/lib/libpython3.9.so"), v(9));
        assert_eq!(
            version_from_path("/root/.pyenv/versions/3.9.18/bin/python3.9"),
            v(9)
        );
        assert_eq!(version_from_path("/usr/bin/python3.11"), v(11));
        assert_eq!(version_from_path("python3.13"), v(13));
        assert_eq!(version_from_path("/usr/bin/python3.13t"), None);
        assert_eq!(version_from_path("/usr/lib/libpython3.12d.so.1.0"), None);
        assert_eq!(version_from_path("/usr/bin/python3"), None);
        assert_eq!(version_from_path("/usr/bin/python2.7"), None);
        assert_eq!(version_from_path("/usr/bin/python3.11-config"), None);
        assert_eq!(version_from_path("/usr/lib/python3.11/os.py"), None);
        assert_eq!(version_from_path("/usr/bin/python3.11.so"), None);
        assert_eq!(version_from_path(""), None);
    }

    #[test]
    fn version_hex_and_table_coverage() {
        assert_eq!(
            version_from_py_version_hex(0x030B07F0),
            PyVersion::new(3, 11)
        );
        assert_eq!(
            version_from_py_version_hex(0x030D00F0),
            PyVersion::new(3, 13)
        );
        assert!(offsets_for(PyVersion::new(3, 8)).is_none());
        assert!(offsets_for(PyVersion::new(3, 14)).is_none());
        assert!(offsets_for(PyVersion::new(2, 7)).is_none());
        assert_eq!(PyVersion::new(3, 9).to_string(), "3.9");
        assert!(PyVersion::new(3, 9) < PyVersion::new(3, 10));
    }
}
