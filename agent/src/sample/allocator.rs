//! Where a process's allocator lives, and where on its functions the
//! memory profile's uprobes go.
//!
//! The allocator is the first object that defines `malloc` in the order the
//! dynamic linker would bind it: the executable (a static binary, or one
//! linking jemalloc, tcmalloc or mimalloc under the standard names), then a
//! mapped library other than libc (a preloaded or linked allocator), then
//! libc. Probes go on an instruction x86's uprobe code emulates (a `push`)
//! rather than one it must single-step out of line, which costs a second
//! trap (18 µs against 1 µs here; docs/design/memory.md), as long as
//! nothing before it moves the stack pointer or changes an argument.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol};

/// An allocator function the memory profile probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllocFn {
    /// `malloc(size)`.
    Malloc,
    /// `calloc(count, size)`.
    Calloc,
    /// `realloc(ptr, size)`.
    Realloc,
    /// `free(ptr)`.
    Free,
    /// `posix_memalign(&ptr, alignment, size)`.
    PosixMemalign,
    /// `aligned_alloc(alignment, size)`.
    AlignedAlloc,
    /// `memalign(alignment, size)`.
    Memalign,
}

impl AllocFn {
    /// Every function, in probe order.
    pub const ALL: [AllocFn; 7] = [
        AllocFn::Malloc,
        AllocFn::Calloc,
        AllocFn::Realloc,
        AllocFn::Free,
        AllocFn::PosixMemalign,
        AllocFn::AlignedAlloc,
        AllocFn::Memalign,
    ];

    /// The symbol's name.
    pub fn symbol(self) -> &'static str {
        match self {
            AllocFn::Malloc => "malloc",
            AllocFn::Calloc => "calloc",
            AllocFn::Realloc => "realloc",
            AllocFn::Free => "free",
            AllocFn::PosixMemalign => "posix_memalign",
            AllocFn::AlignedAlloc => "aligned_alloc",
            AllocFn::Memalign => "memalign",
        }
    }
}

/// One probe site: a function and the file offset of the instruction the
/// probe sits on (the stack pointer there is the one at entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSite {
    /// Which function.
    pub function: AllocFn,
    /// File offset of the probed instruction.
    pub file_offset: u64,
    /// Bytes past the function's entry (0: its first instruction).
    pub skipped: u8,
}

/// The allocator of one file: its probe sites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocator {
    /// Probe sites, one per distinct function address (aliases such as
    /// glibc's `aligned_alloc` and `memalign` once).
    pub sites: Vec<ProbeSite>,
}

/// The allocator a process uses: the file (through the process's root, so
/// containers work) and its probe sites.
#[derive(Clone, Debug)]
pub struct ProcessAllocator {
    /// Path to open, `/proc/PID/root/...`.
    pub path: PathBuf,
    /// (device, inode) of the file: a process that maps another one
    /// (after exec) is probed again.
    pub file: (u64, u64),
    /// Where the probes go.
    pub allocator: Allocator,
}

/// Reads allocators out of ELF files, once per file.
#[derive(Default)]
pub struct AllocatorFinder {
    /// (device, inode) -> the allocator that file defines, if any.
    files: HashMap<(u64, u64), Option<Allocator>>,
}

impl AllocatorFinder {
    /// The allocator `pid` uses, or why there is none.
    pub fn find(&mut self, pid: u32) -> Result<ProcessAllocator, String> {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .map_err(|e| format!("reading /proc/{pid}/maps: {e}"))?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let mut objects: Vec<String> = Vec::new();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let (Some(_), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            let path = fields.nth(3).unwrap_or("");
            if perms.contains('x') && path.starts_with('/') && !objects.iter().any(|o| o == path) {
                objects.push(path.to_owned());
            }
        }
        // The executable first, then libraries, libc last.
        let rank = |path: &str| {
            if exe.as_deref() == Some(Path::new(path)) {
                0
            } else if is_libc(path) {
                2
            } else {
                1
            }
        };
        objects.sort_by_key(|p| rank(p));
        for object in objects {
            let path = PathBuf::from(format!("/proc/{pid}/root{object}"));
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let file = (meta.dev(), meta.ino());
            let allocator = self
                .files
                .entry(file)
                .or_insert_with(|| read_allocator(&path))
                .clone();
            if let Some(allocator) = allocator {
                return Ok(ProcessAllocator {
                    path,
                    file,
                    allocator,
                });
            }
        }
        Err("no mapped object defines malloc".to_owned())
    }
}

fn is_libc(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("libc.so") || name.starts_with("libc-") || name.starts_with("ld-musl")
}

/// The probe sites of the allocator `path` defines; `None` when it defines
/// no `malloc` or cannot be read.
fn read_allocator(path: &Path) -> Option<Allocator> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: mapped read-only; a binary truncated while mapped is a
    // failure of the system, as for every reader of mapped executables.
    let data = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let elf = object::File::parse(&*data).ok()?;
    let mut addresses: HashMap<AllocFn, u64> = HashMap::new();
    for symbol in elf.dynamic_symbols().chain(elf.symbols()) {
        if !symbol.is_definition() || symbol.address() == 0 {
            continue;
        }
        // Versioned names (malloc@@GLIBC_2.2.5) come bare from `object`.
        let Ok(name) = symbol.name() else { continue };
        if let Some(&function) = AllocFn::ALL.iter().find(|f| f.symbol() == name) {
            addresses.entry(function).or_insert(symbol.address());
        }
    }
    addresses.get(&AllocFn::Malloc)?;
    let mut sites: Vec<ProbeSite> = Vec::new();
    for function in AllocFn::ALL {
        let Some(&address) = addresses.get(&function) else {
            continue;
        };
        let Some((file_offset, code)) = file_offset_and_code(&elf, &data, address) else {
            continue;
        };
        let skipped = probe_offset(code, function == AllocFn::Free);
        let file_offset = file_offset + u64::from(skipped);
        if sites.iter().any(|s| s.file_offset == file_offset) {
            continue;
        }
        sites.push(ProbeSite {
            function,
            file_offset,
            skipped,
        });
    }
    Some(Allocator { sites })
}

/// The file offset of virtual address `address` and the code bytes there
/// (up to 32).
fn file_offset_and_code<'d>(
    elf: &object::File<'d>,
    data: &'d [u8],
    address: u64,
) -> Option<(u64, &'d [u8])> {
    elf.segments().find_map(|segment| {
        let (offset, size) = segment.file_range();
        let start = segment.address();
        if address < start || address >= start + size {
            return None;
        }
        let file_offset = address - start + offset;
        let begin = usize::try_from(file_offset).ok()?;
        let end = (begin + 32).min(data.len());
        Some((file_offset, data.get(begin..end)?))
    })
}

/// How many bytes past a function's entry its probe goes: to the first
/// `push` the kernel emulates, past only instructions that neither move
/// the stack pointer nor write a register (`endbr64`, compares and tests
/// against memory or registers), and for `free` past its NULL test and
/// the branch it takes for NULL (`free(NULL)` does nothing to track).
/// 0 when no such `push` comes first: the probe is then single-stepped.
pub fn probe_offset(code: &[u8], free: bool) -> u8 {
    let mut at = 0usize;
    let mut tested_rdi = false;
    for _ in 0..6 {
        let rest = code.get(at..).unwrap_or(&[]);
        let len = match rest {
            // push %reg, push %r8-15
            [0x50..=0x57, ..] | [0x41, 0x50..=0x57, ..] => return at as u8,
            // endbr64
            [0xf3, 0x0f, 0x1e, 0xfa, ..] => 4,
            // cmpb/cmpl $imm8, disp32(%rip)
            [0x80 | 0x83, 0x3d, ..] => 7,
            // cmpq $imm8, disp32(%rip)
            [0x48, 0x83, 0x3d, ..] => 8,
            // test %rdi,%rdi
            [0x48, 0x85, 0xff, ..] => {
                tested_rdi = true;
                3
            }
            // test of two registers (mod 11), 64- or 32-bit
            [0x48 | 0x4d | 0x49 | 0x4c, 0x85, modrm, ..] if modrm >> 6 == 3 => 3,
            [0x85, modrm, ..] if modrm >> 6 == 3 => 2,
            // je rel8 / je rel32, only free's branch for NULL.
            [0x74, ..] if free && tested_rdi => 2,
            [0x0f, 0x84, ..] if free && tested_rdi => 6,
            _ => return 0,
        };
        at += len;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_go_on_the_first_push_past_harmless_instructions() {
        // glibc 2.36's malloc: push %r12 first.
        assert_eq!(probe_offset(&[0x41, 0x54, 0x55, 0x53], false), 0);
        // free: test %rdi,%rdi; je; push %rbp.
        let free = [0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0, 0, 0, 0x55, 0x48];
        assert_eq!(probe_offset(&free, true), 9);
        // The same branch in anything but free is not skipped.
        assert_eq!(probe_offset(&free, false), 0);
        // posix_memalign: cmpb $0, disp32(%rip); push %r12.
        let pm = [0x80, 0x3d, 1, 2, 3, 4, 0, 0x41, 0x54];
        assert_eq!(probe_offset(&pm, false), 7);
        // memalign: cmpb; je: a branch, so the entry.
        let ma = [0x80, 0x3d, 1, 2, 3, 4, 0, 0x74, 0x07, 0xe9];
        assert_eq!(probe_offset(&ma, false), 0);
        // endbr64 then push.
        assert_eq!(probe_offset(&[0xf3, 0x0f, 0x1e, 0xfa, 0x55], false), 4);
        // sub $0x18,%rsp moves the stack: never skipped.
        assert_eq!(probe_offset(&[0x48, 0x83, 0xec, 0x18, 0x55], false), 0);
        assert_eq!(probe_offset(&[], false), 0);
    }

    #[test]
    fn this_machines_libc_has_every_function_and_emulated_sites() {
        let mut finder = AllocatorFinder::default();
        let found = finder.find(std::process::id()).expect("our own allocator");
        let names: Vec<AllocFn> = found.allocator.sites.iter().map(|s| s.function).collect();
        for f in [
            AllocFn::Malloc,
            AllocFn::Calloc,
            AllocFn::Realloc,
            AllocFn::Free,
        ] {
            assert!(names.contains(&f), "{f:?} missing from {names:?}");
        }
        let malloc = found.allocator.sites[0];
        assert_eq!(malloc.function, AllocFn::Malloc);
        // Offsets are distinct, aliases dropped.
        let mut offsets: Vec<u64> = found
            .allocator
            .sites
            .iter()
            .map(|s| s.file_offset)
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), found.allocator.sites.len());
    }
}
