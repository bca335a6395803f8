//! Reading a CPython code object out of another process: the function's
//! name, its file, first line and line table, so a frame the BPF walker
//! recorded as (code object address, instruction offset) can be named.
//!
//! Everything read is untrusted: the address may be stale by the time it is
//! read, and a freed code object's memory may hold anything. Given the
//! process address of `PyCode_Type`, the object's type is checked first so a
//! stale pointer is refused rather than misread; every length is capped and
//! every failure is a [`CodeError`], never a panic.

use std::io;

use thiserror::Error;

use super::offsets::{PyOffsets, PyVersion};
use crate::runtime::mem::ProcessMemory;

/// Longest function name read, in characters.
pub const MAX_NAME_CHARS: usize = 1024;
/// Longest file name read, in characters.
pub const MAX_FILE_CHARS: usize = 4096;
/// Largest line table read, in bytes.
pub const MAX_LINETABLE_BYTES: usize = 1 << 20;

/// `PyObject.ob_type`, the same in every supported (GIL, non-trace-refs)
/// build.
const OB_TYPE: u64 = 8;
/// `PyASCIIObject.length`, right after the object header.
const STR_LENGTH: u64 = 16;

/// What a code object says about its function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// `co_qualname` (3.11+, e.g. `Outer.method`), else `co_name`.
    pub function: String,
    /// `co_filename`.
    pub file: String,
    /// `co_firstlineno`.
    pub firstlineno: u32,
    /// `co_lnotab` (3.9) or `co_linetable` (3.10+), for
    /// [`line_for`](super::linetable::line_for).
    pub linetable: Vec<u8>,
}

/// Why a code object could not be read.
#[derive(Debug, Error)]
pub enum CodeError {
    #[error("cannot read {what} at {addr:#x}")]
    Read {
        what: &'static str,
        addr: u64,
        #[source]
        source: io::Error,
    },
    #[error(
        "object at {addr:#x} has type {found:#x}, not PyCode_Type ({expected:#x}): a stale pointer?"
    )]
    NotCode {
        addr: u64,
        found: u64,
        expected: u64,
    },
    #[error("{what} of the code object is NULL")]
    Null { what: &'static str },
    #[error("{what} at {addr:#x} is a str this reader does not decode: {reason}")]
    UnsupportedStr {
        what: &'static str,
        addr: u64,
        reason: &'static str,
    },
    #[error("{what} at {addr:#x} has length {len}, over the cap of {cap}")]
    TooLong {
        what: &'static str,
        addr: u64,
        len: i64,
        cap: usize,
    },
    #[error("{what} at {addr:#x} is corrupt: {reason}")]
    Corrupt {
        what: &'static str,
        addr: u64,
        reason: &'static str,
    },
}

/// Reads the code object at `code_addr` in `mem`'s process, laid out as
/// `offsets` says for `version`. With `code_type` (the process address of
/// `PyCode_Type`), an object of any other type is refused.
pub fn read_code(
    mem: &ProcessMemory,
    offsets: &PyOffsets,
    version: PyVersion,
    code_addr: u64,
    code_type: Option<u64>,
) -> Result<CodeInfo, CodeError> {
    let has_qualname = version >= PyVersion::new(3, 11) && offsets.code_qualname != 0;
    let name_field = if has_qualname {
        offsets.code_qualname
    } else {
        offsets.code_name
    };
    // One read for the whole head of the object, up to its last field used.
    let fields = [
        OB_TYPE as u16,
        name_field,
        offsets.code_filename,
        offsets.code_firstlineno,
        offsets.code_linetable,
    ];
    let head_len = usize::from(*fields.iter().max().expect("fields")) + 8;
    let head = mem
        .read_vec(code_addr, head_len)
        .map_err(|source| CodeError::Read {
            what: "code object",
            addr: code_addr,
            source,
        })?;
    let word = |at: u16| {
        let at = usize::from(at);
        u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"))
    };

    if let Some(expected) = code_type {
        let found = word(OB_TYPE as u16);
        if found != expected {
            return Err(CodeError::NotCode {
                addr: code_addr,
                found,
                expected,
            });
        }
    }

    let at = usize::from(offsets.code_firstlineno);
    let firstlineno = i32::from_le_bytes(head[at..at + 4].try_into().expect("4 bytes"));
    let firstlineno = u32::try_from(firstlineno).map_err(|_| CodeError::Corrupt {
        what: "co_firstlineno",
        addr: code_addr,
        reason: "negative",
    })?;

    let name_what = if has_qualname {
        "co_qualname"
    } else {
        "co_name"
    };
    let function = read_str(mem, offsets, name_what, word(name_field), MAX_NAME_CHARS)?;
    let file = read_str(
        mem,
        offsets,
        "co_filename",
        word(offsets.code_filename),
        MAX_FILE_CHARS,
    )?;
    let linetable = read_bytes(
        mem,
        offsets,
        "line table",
        word(offsets.code_linetable),
        MAX_LINETABLE_BYTES,
    )?;
    Ok(CodeInfo {
        function,
        file,
        firstlineno,
        linetable,
    })
}

/// The `state` bits of a str, the same in 3.9-3.13.
struct StrState {
    kind: u32,
    compact: bool,
    ascii: bool,
}

impl StrState {
    fn from_word(state: u32) -> Self {
        Self {
            kind: (state >> 2) & 7,
            compact: state & (1 << 5) != 0,
            ascii: state & (1 << 6) != 0,
        }
    }
}

/// Reads a compact str object (every interned name and file name is one) of
/// at most `cap` characters.
fn read_str(
    mem: &ProcessMemory,
    offsets: &PyOffsets,
    what: &'static str,
    addr: u64,
    cap: usize,
) -> Result<String, CodeError> {
    if addr == 0 {
        return Err(CodeError::Null { what });
    }
    let read_err = |source| CodeError::Read { what, addr, source };
    let head = mem
        .read_vec(addr, usize::from(offsets.unicode_state) + 4)
        .map_err(read_err)?;
    let len = i64::from_le_bytes(
        head[STR_LENGTH as usize..][..8]
            .try_into()
            .expect("8 bytes"),
    );
    let at = usize::from(offsets.unicode_state);
    let state = StrState::from_word(u32::from_le_bytes(
        head[at..at + 4].try_into().expect("4 bytes"),
    ));
    let chars = usize::try_from(len).map_err(|_| CodeError::Corrupt {
        what,
        addr,
        reason: "negative length",
    })?;
    if chars > cap {
        return Err(CodeError::TooLong {
            what,
            addr,
            len,
            cap,
        });
    }
    if !state.compact {
        return Err(CodeError::UnsupportedStr {
            what,
            addr,
            reason: "not a compact str",
        });
    }
    let unsupported = |reason| CodeError::UnsupportedStr { what, addr, reason };
    let corrupt = |reason| CodeError::Corrupt { what, addr, reason };
    if state.ascii {
        if state.kind != 1 {
            return Err(corrupt("ASCII str of a kind other than 1 byte"));
        }
        let data = mem
            .read_vec(addr + u64::from(offsets.unicode_ascii_data), chars)
            .map_err(read_err)?;
        if !data.is_ascii() {
            return Err(corrupt("non-ASCII byte in an ASCII str"));
        }
        return Ok(data.into_iter().map(char::from).collect());
    }
    let width = match state.kind {
        1 | 2 | 4 => state.kind as usize,
        0 => return Err(unsupported("legacy wide-char str not made ready")),
        _ => return Err(corrupt("invalid kind")),
    };
    let data = mem
        .read_vec(
            addr + u64::from(offsets.unicode_compact_data),
            chars * width,
        )
        .map_err(read_err)?;
    match width {
        // Latin-1: each byte is its code point.
        1 => Ok(data.into_iter().map(char::from).collect()),
        // Lone surrogates are legal in a Python str, not in a Rust one.
        2 => Ok(data
            .chunks_exact(2)
            .map(|c| {
                let unit = u16::from_le_bytes([c[0], c[1]]);
                char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect()),
        _ => data
            .chunks_exact(4)
            .map(|c| {
                let point = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                match point {
                    0xD800..=0xDFFF => Ok(char::REPLACEMENT_CHARACTER),
                    _ => char::from_u32(point).ok_or_else(|| corrupt("code point past U+10FFFF")),
                }
            })
            .collect(),
    }
}

/// Reads a bytes object of at most `cap` bytes.
fn read_bytes(
    mem: &ProcessMemory,
    offsets: &PyOffsets,
    what: &'static str,
    addr: u64,
    cap: usize,
) -> Result<Vec<u8>, CodeError> {
    if addr == 0 {
        return Err(CodeError::Null { what });
    }
    let read_err = |source| CodeError::Read { what, addr, source };
    let size_at = addr + u64::from(offsets.bytes_size);
    let len = mem.read_u64(size_at).map_err(read_err)? as i64;
    let size = usize::try_from(len).map_err(|_| CodeError::Corrupt {
        what,
        addr,
        reason: "negative size",
    })?;
    if size > cap {
        return Err(CodeError::TooLong {
            what,
            addr,
            len,
            cap,
        });
    }
    mem.read_vec(addr + u64::from(offsets.bytes_data), size)
        .map_err(read_err)
}

#[cfg(test)]
mod tests {
    //! Against real interpreters: each installed pyenv version and Debian's
    //! static /usr/bin/python3.11 run a script that prints the addresses of
    //! its code objects and Python's own line of every instruction, then
    //! waits; the test reads the code objects from the live process.
    //! It also walks the frame chain and the GIL with the offsets table, so
    //! the walker's numbers are checked on a running interpreter too
    //! (including Debian's 3.11.2 build, a different patch release).

    use super::super::linetable::line_for;
    use super::super::offsets::{FrameModel, GilLocation, installed::pyenv_builds, offsets_for};
    use super::*;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, ChildStdin, Command, Stdio};

    const SCRIPT: &str = r#"import sys


class Outer:
    def method(self):
        x = 1
        for i in range(3):
            x += i
        return x


def outer():
    def inner(a,
              b):
        if a:
            return b
        return [
            a,
            b,
        ]
    return inner


def grüße():
    try:
        return 1 / 0
    except ZeroDivisionError:
        return None


def 関数(n):
    return [i * i for i in range(n) if i % 2]


def 𠀀():
    yield 1
    yield 2


def wait_here():
    return sys.stdin.readline()  # WAIT_LINE


def unit_lines(code):
    """Python's own line for every 2-byte code unit ('-' for none)."""
    units = len(code.co_code) // 2
    out = ["-"] * units
    if hasattr(code, "co_lines"):
        for start, end, line in code.co_lines():
            for unit in range(start // 2, min(end // 2, units)):
                out[unit] = "-" if line is None else str(line)
    else:
        import dis
        starts = list(dis.findlinestarts(code))
        for unit in range(units):
            out[unit] = str([line for start, line in starts if start <= 2 * unit][-1])
    return ",".join(out)


functions = {
    "method": Outer.method,
    "inner": outer(),
    "grüße": grüße,
    "関数": 関数,
    "𠀀": 𠀀,
    "wait_here": wait_here,
}
for key, f in functions.items():
    code = f.__code__
    print("CODE", key, id(code), code.co_firstlineno, unit_lines(code))
long_name = wait_here.__code__.replace(co_name="x" * 2000)
print("LONG", id(long_name))
print("NOT_CODE", id(wait_here))
print("MODULE", id(sys._getframe().f_code))
print("READY", flush=True)
wait_here()
"#;

    /// A started interpreter, killed when dropped (also on a failed assert).
    struct Interpreter {
        child: Child,
        stdin: Option<ChildStdin>,
    }

    impl Drop for Interpreter {
        fn drop(&mut self) {
            drop(self.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// What the script printed.
    struct Report {
        code: HashMap<String, (u64, u32, Vec<Option<u32>>)>,
        long_name: u64,
        not_code: u64,
        module: u64,
    }

    fn start(python: &Path, script: &Path) -> (Interpreter, Report) {
        let mut child = Command::new(python)
            .arg(script)
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let guard = Interpreter { child, stdin };
        let mut report = Report {
            code: HashMap::new(),
            long_name: 0,
            not_code: 0,
            module: 0,
        };
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let words: Vec<&str> = line.split(' ').collect();
            match words[0] {
                "CODE" => {
                    let lines = words[4]
                        .split(',')
                        .map(|l| (l != "-").then(|| l.parse().unwrap()))
                        .collect();
                    report.code.insert(
                        words[1].to_string(),
                        (words[2].parse().unwrap(), words[3].parse().unwrap(), lines),
                    );
                }
                "LONG" => report.long_name = words[1].parse().unwrap(),
                "NOT_CODE" => report.not_code = words[1].parse().unwrap(),
                "MODULE" => report.module = words[1].parse().unwrap(),
                "READY" => return (guard, report),
                _ => panic!("unexpected output: {line}"),
            }
        }
        panic!("{} exited before READY", python.display());
    }

    /// The process address of `symbol`, from the python ELF files mapped in
    /// `pid` (libpython, or a statically linked interpreter).
    fn symbol_address(pid: u32, symbol: &str) -> u64 {
        use object::{Object, ObjectSegment, ObjectSymbol};
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        for line in maps.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(range), Some(offset), Some(path)) =
                (fields.first(), fields.get(2), fields.get(5))
            else {
                continue;
            };
            let name = path.rsplit('/').next().unwrap_or("");
            if u64::from_str_radix(offset, 16) != Ok(0) || !name.contains("python") {
                continue;
            }
            let data = std::fs::read(path).unwrap();
            let file = object::File::parse(&*data).unwrap();
            let Some(sym) = file
                .symbols()
                .chain(file.dynamic_symbols())
                .find(|s| s.name() == Ok(symbol) && s.section_index().is_some())
            else {
                continue;
            };
            let start = u64::from_str_radix(range.split('-').next().unwrap(), 16).unwrap();
            let first_vaddr = file.segments().map(|s| s.address()).min().unwrap() & !0xfff;
            return start - first_vaddr + sym.address();
        }
        panic!("{symbol} not found in process {pid}");
    }

    /// The line of the script that says `marker`.
    fn line_of(marker: &str) -> u32 {
        SCRIPT.lines().position(|l| l.contains(marker)).unwrap() as u32 + 1
    }

    /// Checks one interpreter; `version` is what its path says.
    fn check_interpreter(python: &Path, version: PyVersion, scratch: &Path) {
        let offsets = offsets_for(version).unwrap();
        let script = scratch.join("prøve_code.py");
        std::fs::write(&script, SCRIPT).unwrap();
        let (mut interpreter, report) = start(python, &script);
        let pid = interpreter.child.id();
        let mem = ProcessMemory::open(pid).unwrap();
        let code_type = symbol_address(pid, "PyCode_Type");
        let qualnames = version >= PyVersion::new(3, 11);

        let expected_function = |key: &str| -> String {
            match (key, qualnames) {
                ("method", true) => "Outer.method".into(),
                ("inner", true) => "outer.<locals>.inner".into(),
                _ => key.into(),
            }
        };
        for (key, (addr, firstlineno, lines)) in &report.code {
            let info = read_code(&mem, offsets, version, *addr, Some(code_type))
                .unwrap_or_else(|e| panic!("{version} {key}: {e}"));
            assert_eq!(info.function, expected_function(key), "{version}");
            assert_eq!(Path::new(&info.file), script, "{version} {key}");
            assert_eq!(info.firstlineno, *firstlineno, "{version} {key}");
            assert!(!lines.is_empty());
            for (unit, want) in lines.iter().enumerate() {
                let got = line_for(version, info.firstlineno, &info.linetable, unit as u32);
                assert_eq!(got, *want, "{version} {key}: line of code unit {unit}");
            }
        }

        // A stale or wrong pointer is refused, not misread.
        let err = read_code(&mem, offsets, version, report.not_code, Some(code_type)).unwrap_err();
        assert!(matches!(err, CodeError::NotCode { .. }), "{err}");
        let err = read_code(&mem, offsets, version, 8, Some(code_type)).unwrap_err();
        assert!(matches!(err, CodeError::Read { .. }), "{err}");
        let long = read_code(&mem, offsets, version, report.long_name, Some(code_type));
        if !qualnames {
            let err = long.unwrap_err();
            assert!(matches!(err, CodeError::TooLong { len: 2000, .. }), "{err}");
        } else {
            assert_eq!(long.unwrap().function, "wait_here");
            // co_qualname stayed short; the long co_name is still capped.
            let pre311 = PyOffsets {
                code_qualname: 0,
                ..*offsets
            };
            let err = read_code(&mem, &pre311, version, report.long_name, None).unwrap_err();
            assert!(matches!(err, CodeError::TooLong { len: 2000, .. }), "{err}");
        }

        wait_blocked_in_read(pid);
        check_walk(&mem, offsets, version, pid, &report);
        interpreter.stdin.take().unwrap().write_all(b"\n").unwrap();
        eprintln!(
            "checked code objects and frame walk of {} ({version})",
            python.display()
        );
    }

    /// Waits until `pid` sleeps in read(2): READY is printed just before
    /// `wait_here` is called, so its frame may not be pushed yet.
    fn wait_blocked_in_read(pid: u32) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let syscall =
                std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            // x86_64's read is system call 0.
            if syscall.split_whitespace().next() == Some("0") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{pid} never blocked in read(2)");
    }

    /// Walks from `_PyRuntime` to the main thread's top frame with the
    /// table, as the BPF walker will: it must reach `wait_here`, at its
    /// waiting line, called from the module, with the GIL released.
    fn check_walk(
        mem: &ProcessMemory,
        o: &PyOffsets,
        version: PyVersion,
        pid: u32,
        report: &Report,
    ) {
        let at = |addr: u64, off: u16| mem.read_u64(addr + u64::from(off)).unwrap();
        let runtime = symbol_address(pid, "_PyRuntime");
        let interp = at(runtime, o.runtime_interpreters_head);
        let tstate = at(interp, o.interp_threads_head);
        assert_eq!(at(tstate, o.tstate_next), 0, "{version}: one thread");
        if o.tstate_native_thread_id != 0 {
            assert_eq!(
                at(tstate, o.tstate_native_thread_id),
                u64::from(pid),
                "{version}"
            );
        }
        let frame = match o.model {
            FrameModel::FrameObject | FrameModel::Direct313 => at(tstate, o.tstate_frame),
            FrameModel::Cframe311 | FrameModel::Cframe312 => {
                at(at(tstate, o.tstate_frame), o.cframe_current_frame)
            }
        };
        let code = at(frame, o.frame_code);
        assert_eq!(
            code, report.code["wait_here"].0,
            "{version}: top frame's code"
        );
        let caller = at(frame, o.frame_previous);
        assert_eq!(
            at(caller, o.frame_code),
            report.module,
            "{version}: caller's code"
        );

        // The instruction offset, in code units, by each version's rule.
        let instr = at(frame, o.frame_instr);
        let units = match version.minor {
            9 => (instr as u32) / 2,
            10 => instr as u32,
            _ => ((instr - (code + u64::from(o.code_adaptive))) / 2) as u32,
        };
        let info = read_code(mem, o, version, code, None).unwrap();
        let line = line_for(version, info.firstlineno, &info.linetable, units);
        assert_eq!(
            line,
            Some(line_of("WAIT_LINE")),
            "{version}: line of the top frame"
        );

        let owner = |f: u64| {
            let mut b = [0u8];
            mem.read_exact(f + u64::from(o.frame_owner), &mut b)
                .unwrap();
            b[0]
        };
        match o.model {
            FrameModel::FrameObject => {}
            FrameModel::Cframe311 => {
                assert_eq!((owner(frame), owner(caller)), (0, 1), "{version}: is_entry");
            }
            FrameModel::Cframe312 | FrameModel::Direct313 => {
                assert_eq!(owner(frame), 0, "{version}: owned by thread");
                let shim = at(caller, o.frame_previous);
                assert_eq!(owner(shim), 3, "{version}: C stack entry frame");
            }
        }

        let gil = match o.gil_location {
            GilLocation::InRuntime(off) => runtime + u64::from(off),
            GilLocation::InterpPointer(off) => at(interp, off),
        };
        assert_eq!(
            mem.read_u32(gil + u64::from(o.gil_locked)).unwrap(),
            0,
            "{version}: GIL released"
        );
        assert_eq!(
            at(gil, o.gil_last_holder),
            tstate,
            "{version}: last GIL holder"
        );
    }

    #[test]
    fn reads_code_objects_of_live_interpreters() {
        let scratch = tempfile::tempdir().unwrap();
        let mut interpreters: Vec<(PathBuf, PyVersion)> = pyenv_builds()
            .into_iter()
            .map(|b| (b.python(), b.version))
            .collect();
        let debian = PathBuf::from("/usr/bin/python3.11");
        if debian.exists() {
            interpreters.push((debian, PyVersion::new(3, 11)));
        } else {
            eprintln!("SKIP: no Debian /usr/bin/python3.11");
        }
        assert!(
            !interpreters.is_empty(),
            "no CPython 3.9-3.13 to test against"
        );
        for (python, version) in interpreters {
            assert_eq!(
                super::super::offsets::version_from_path(python.to_str().unwrap()),
                Some(version)
            );
            check_interpreter(&python, version, scratch.path());
        }
    }
}
