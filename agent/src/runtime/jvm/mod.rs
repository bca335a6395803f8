//! HotSpot (OpenJDK 11 to 22, and 25) seen from outside the process: find
//! `libjvm.so`, read the VM's own description of its structures
//! (`gHotSpotVMStructs` and friends), snapshot the code cache and name the
//! `Method*`s that compiled and interpreted frames point at.
//!
//! Nothing here hard-codes a HotSpot field offset: every offset comes from
//! the VM's tables, read from the live process, and a missing entry is a
//! typed error that names it; a field whose C++ type changed between
//! releases is read at the width the VM declares for it. The few layout
//! facts HotSpot does not export (the interpreter frame slots, the
//! `ConstantPool` entries following the header, the `ConstMethod` bytecodes
//! following the header, the compressed stream encoding) are named where
//! they are used. JDK 23 and 24, each half way through moving nmethod data
//! out of the code cache, are not read ([`inline`]).
//!
//! The files follow the data: [`process`] finds the VM, [`vmstructs`] reads
//! its tables, [`codecache`] lists the code blobs, [`method`] names methods,
//! [`inline`] expands inlined frames, [`walk`] models the BPF stack walk,
//! [`stream`] holds HotSpot's compressed encodings as pure functions.

pub mod codecache;
pub mod inline;
pub mod method;
pub mod process;
pub mod registry;
pub mod stream;
pub mod vmstructs;
pub mod walk;

#[cfg(test)]
mod live_tests;

use std::io;
use std::sync::Arc;

use thiserror::Error;

pub use codecache::{
    Blob, BlobKind, BlobOffsets, CodeCacheLayout, CodeCacheSnapshot, CodeHeap, CodeStart,
};
pub use inline::{InlineFrame, NmethodScopes, ScopeLayout};
pub use method::{JavaMethod, MethodResolver};
pub use process::{LibJvm, MapEntry};
pub use registry::{JavaStats, JvmProcesses};
pub use stream::StreamEncoding;
pub use vmstructs::VmStructs;
pub use walk::{FrameLayout, RawFrame, Registers, WalkEnd};

use super::mem::ProcessMemory;

/// Why a JVM could not be read; each variant names what was missing.
#[derive(Debug, Error)]
pub enum JvmError {
    #[error("process {pid} maps no libjvm.so")]
    NotJvm { pid: u32 },
    #[error("reading /proc/{pid}/{what}")]
    Proc {
        pid: u32,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("parsing ELF file {path}")]
    Elf {
        path: String,
        #[source]
        source: object::Error,
    },
    #[error("{path} exports no symbol {symbol}")]
    MissingSymbol { path: String, symbol: &'static str },
    #[error("reading {what} at {addr:#x}")]
    Read {
        what: &'static str,
        addr: u64,
        #[source]
        source: io::Error,
    },
    #[error("vmStructs has no field {type_name}::{field}")]
    MissingField { type_name: String, field: String },
    #[error("vmStructs field {type_name}::{field} is {found}, expected {expected}")]
    FieldKind {
        type_name: String,
        field: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("vmStructs has no type {name}")]
    MissingType { name: String },
    #[error("vmStructs has no constant {name}")]
    MissingConstant { name: String },
    #[error("{what} at {addr:#x} is implausible: {detail}")]
    Corrupt {
        what: &'static str,
        addr: u64,
        detail: String,
    },
}

/// Where HotSpot structures are read from: a live process, or a fake
/// address space in tests.
pub trait Memory {
    /// Fills `buf` from `addr`, or fails; never a short read.
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl Memory for ProcessMemory {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> io::Result<()> {
        ProcessMemory::read_exact(self, addr, buf)
    }
}

fn read_into(
    mem: &dyn Memory,
    addr: u64,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), JvmError> {
    mem.read_exact(addr, buf)
        .map_err(|source| JvmError::Read { what, addr, source })
}

fn read_bytes(
    mem: &dyn Memory,
    addr: u64,
    len: usize,
    what: &'static str,
) -> Result<Vec<u8>, JvmError> {
    let mut buf = vec![0; len];
    read_into(mem, addr, &mut buf, what)?;
    Ok(buf)
}

fn read_u64(mem: &dyn Memory, addr: u64, what: &'static str) -> Result<u64, JvmError> {
    let mut buf = [0; 8];
    read_into(mem, addr, &mut buf, what)?;
    Ok(u64::from_le_bytes(buf))
}

fn read_u32(mem: &dyn Memory, addr: u64, what: &'static str) -> Result<u32, JvmError> {
    let mut buf = [0; 4];
    read_into(mem, addr, &mut buf, what)?;
    Ok(u32::from_le_bytes(buf))
}

fn read_u16(mem: &dyn Memory, addr: u64, what: &'static str) -> Result<u16, JvmError> {
    let mut buf = [0; 2];
    read_into(mem, addr, &mut buf, what)?;
    Ok(u16::from_le_bytes(buf))
}

/// The NUL-terminated string at `addr`, at most `max` bytes, read in steps
/// that never cross a page so a string ending near an unmapped page reads.
fn read_c_string(
    mem: &dyn Memory,
    addr: u64,
    max: usize,
    what: &'static str,
) -> Result<String, JvmError> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 64];
    while out.len() < max {
        let at = addr + out.len() as u64;
        let to_page_end = (4096 - (at % 4096)) as usize;
        let n = chunk.len().min(to_page_end).min(max - out.len());
        read_into(mem, at, &mut chunk[..n], what)?;
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Err(JvmError::Corrupt {
        what,
        addr,
        detail: format!("no NUL within {max} bytes"),
    })
}

/// Little-endian fields out of a structure read in one go.
fn field_u64(buf: &[u8], offset: u64) -> Option<u64> {
    let at = usize::try_from(offset).ok()?;
    Some(u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

fn field_u32(buf: &[u8], offset: u64) -> Option<u32> {
    let at = usize::try_from(offset).ok()?;
    Some(u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn field_u16(buf: &[u8], offset: u64) -> Option<u16> {
    let at = usize::try_from(offset).ok()?;
    Some(u16::from_le_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

/// One HotSpot process, attached: its VM tables read once, the layouts
/// the code cache and method readers need resolved from them, and the
/// process's method names cached by `Method*`.
#[derive(Debug)]
pub struct Jvm {
    mem: ProcessMemory,
    libjvm: LibJvm,
    vm: VmStructs,
    major_version: u32,
    code_cache: CodeCacheLayout,
    scopes: ScopeLayout,
    methods: MethodResolver,
}

impl Jvm {
    /// Finds `libjvm.so` in `pid`, reads its VM tables and resolves every
    /// offset this module uses; fails naming the first one missing.
    pub fn attach(pid: u32) -> Result<Self, JvmError> {
        let libjvm = LibJvm::find(pid)?;
        let mem = ProcessMemory::open(pid).map_err(|source| JvmError::Proc {
            pid,
            what: "mem",
            source,
        })?;
        let vm = VmStructs::read(&mem, &libjvm)?;
        let major_version = vm.major_version(&mem)?;
        let encoding = StreamEncoding::for_major_version(major_version);
        let code_cache = CodeCacheLayout::new(&vm)?;
        let scopes = ScopeLayout::new(&vm, encoding)?;
        let methods = MethodResolver::new(&vm, encoding)?;
        Ok(Self {
            mem,
            libjvm,
            vm,
            major_version,
            code_cache,
            scopes,
            methods,
        })
    }

    pub fn pid(&self) -> u32 {
        self.mem.pid()
    }

    /// The VM's feature release, e.g. 17.
    pub fn major_version(&self) -> u32 {
        self.major_version
    }

    pub fn libjvm(&self) -> &LibJvm {
        &self.libjvm
    }

    pub fn vm_structs(&self) -> &VmStructs {
        &self.vm
    }

    pub fn memory(&self) -> &ProcessMemory {
        &self.mem
    }

    /// The code heaps, the interpreter's code and every code blob, now.
    pub fn code_cache(&self) -> Result<CodeCacheSnapshot, JvmError> {
        self.code_cache.snapshot(&self.mem)
    }

    /// The class, name, signature and line table of `Method*` `method`,
    /// cached for the life of this handle.
    pub fn method(&mut self, method: u64) -> Result<Arc<JavaMethod>, JvmError> {
        self.methods.resolve(&self.mem, method)
    }

    /// The bci of an interpreted frame's `bcp` in `method`.
    pub fn bci_of(&mut self, method: u64, bcp: u64) -> Option<i32> {
        self.methods.bci_of(&self.mem, method, bcp)
    }

    /// The code cache's layout.
    pub fn code_cache_layout(&self) -> &CodeCacheLayout {
        &self.code_cache
    }

    /// See [`MethodResolver::bytecode_base`].
    pub fn bytecode_base(&self) -> (u64, u64) {
        self.methods.bytecode_base()
    }

    /// The frame layout the stack walk uses.
    pub fn frame_layout(&self) -> Result<FrameLayout, JvmError> {
        FrameLayout::new(&self.vm, &self.mem)
    }

    /// The inlining scopes recorded for compiled method `blob` (an nmethod).
    pub fn nmethod_scopes(&self, blob: &Blob) -> Result<NmethodScopes, JvmError> {
        self.scopes.read(&self.mem, blob)
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A sparse address space for unit tests: regions of bytes at chosen
    //! addresses; anything else is unmapped.

    use super::Memory;
    use std::io;

    #[derive(Default)]
    pub struct FakeMemory {
        regions: Vec<(u64, Vec<u8>)>,
    }

    impl FakeMemory {
        pub fn put(&mut self, addr: u64, bytes: &[u8]) {
            self.regions.push((addr, bytes.to_vec()));
        }

        pub fn put_u64(&mut self, addr: u64, v: u64) {
            self.put(addr, &v.to_le_bytes());
        }

        pub fn put_u32(&mut self, addr: u64, v: u32) {
            self.put(addr, &v.to_le_bytes());
        }

        pub fn put_str(&mut self, addr: u64, s: &str) {
            let mut b = s.as_bytes().to_vec();
            b.push(0);
            self.put(addr, &b);
        }
    }

    impl Memory for FakeMemory {
        fn read_exact(&self, addr: u64, buf: &mut [u8]) -> io::Result<()> {
            // Byte by byte, newest region first, so later puts overwrite.
            for (i, out) in buf.iter_mut().enumerate() {
                let at = addr + i as u64;
                let byte = self.regions.iter().rev().find_map(|(start, bytes)| {
                    let off = at.checked_sub(*start)?;
                    bytes.get(off as usize).copied()
                });
                *out = byte.ok_or_else(|| io::Error::from_raw_os_error(libc::EIO))?;
            }
            Ok(())
        }
    }
}
