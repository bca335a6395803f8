//! Finding CPython in a file: the interpreter is the file that exports
//! `_PyRuntime` (libpythonX.Y.so, or an executable linked statically, like
//! Debian's `/usr/bin/python3.11`). Its version comes from `Py_Version`
//! (3.11+) or the file's name, and `_PyEval_EvalFrameDefault`'s extent
//! tells which native frames ran Python code. Read once per file id.

use std::ops::Range;

use object::{Object, ObjectSegment, ObjectSymbol};

use super::offsets::{PyVersion, version_from_path, version_from_py_version_hex};

/// What the agent needs of one interpreter binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyBinary {
    /// The interpreter's version.
    pub version: PyVersion,
    /// `_PyRuntime`'s address in the file (before relocation).
    pub runtime_vaddr: u64,
    /// `PyCode_Type`'s address in the file, to check code objects.
    pub code_type_vaddr: Option<u64>,
    /// File offsets of `_PyEval_EvalFrameDefault`: native frames here ran
    /// Python frames.
    pub eval_offsets: Range<u64>,
    /// `p_vaddr - p_offset` of the executable segment: an address in the
    /// file is at `vaddr - this` in the executable mapping's file offsets.
    pub text_bias: u64,
}

impl PyBinary {
    /// Reads `data` (a whole ELF file found at `path`); `None` when it is no
    /// CPython interpreter, or one whose version cannot be told. Only the
    /// dynamic symbols are read, where every interpreter exports what this
    /// needs (extension modules link against it), unless the file is named
    /// like an interpreter: then its full symbol table too.
    pub fn parse(data: &[u8], path: &str) -> Option<PyBinary> {
        let file = object::File::parse(data).ok()?;
        let name = path.rsplit('/').next().unwrap_or(path);
        let named_python = name.starts_with("libpython3") || name.starts_with("python3");
        let mut runtime = None;
        let mut code_type = None;
        let mut eval = None;
        let mut py_version = None;
        let symtab = named_python.then(|| file.symbols()).into_iter().flatten();
        for symbol in file.dynamic_symbols().chain(symtab) {
            match symbol.name() {
                Ok("_PyRuntime") => runtime = Some(symbol.address()),
                Ok("PyCode_Type") => code_type = Some(symbol.address()),
                Ok("_PyEval_EvalFrameDefault") if symbol.size() > 0 => {
                    eval = Some(symbol.address()..symbol.address() + symbol.size())
                }
                Ok("Py_Version") => py_version = Some(symbol.address()),
                _ => {}
            }
        }
        let (runtime_vaddr, eval) = (runtime?, eval?);
        let version = match py_version.and_then(|vaddr| read_u32_at(&file, vaddr)) {
            Some(hex) => version_from_py_version_hex(hex),
            None => version_from_path(path)?,
        };
        let text = file.segments().find(|segment| {
            let (offset, size) = segment.file_range();
            let vaddr = segment.address();
            eval.start >= vaddr && eval.start < vaddr + size.max(segment.size()) && offset <= vaddr
        })?;
        let text_bias = text.address() - text.file_range().0;
        Some(PyBinary {
            version,
            runtime_vaddr,
            code_type_vaddr: code_type,
            eval_offsets: eval.start - text_bias..eval.end - text_bias,
            text_bias,
        })
    }

    /// Where the file's `vaddr` is in a process that maps the file's
    /// executable segment at `start` from file offset `offset`.
    pub fn address_in(&self, vaddr: u64, start: u64, offset: u64) -> u64 {
        vaddr
            .wrapping_sub(self.text_bias)
            .wrapping_sub(offset)
            .wrapping_add(start)
    }
}

/// The u32 at `vaddr` in the file's loaded data.
fn read_u32_at(file: &object::File<'_>, vaddr: u64) -> Option<u32> {
    file.segments().find_map(|segment| {
        let data = segment.data_range(vaddr, 4).ok()??;
        Some(u32::from_le_bytes(data.try_into().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_interpreter_in_libpython_and_a_static_python() {
        let candidates = [
            "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0",
            "/usr/bin/python3.11",
            "/root/.pyenv/versions/3.9.18/lib/libpython3.9.so.1.0",
            "/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0",
        ];
        let mut found = 0;
        for path in candidates {
            let Ok(data) = std::fs::read(path) else {
                eprintln!("SKIP {path}: not on this machine");
                continue;
            };
            let binary = PyBinary::parse(&data, path).expect(path);
            found += 1;
            assert_eq!(binary.version, version_from_path(path).unwrap(), "{path}");
            assert!(binary.eval_offsets.end - binary.eval_offsets.start > 1000);
            assert!(binary.runtime_vaddr > 0 && binary.code_type_vaddr.is_some());
        }
        assert!(found > 0, "no CPython interpreter found at all");
        // Not an interpreter: this test binary.
        let me = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(PyBinary::parse(&me, "/proc/self/exe"), None);
    }
}
