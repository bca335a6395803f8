//! Go symbolization from the runtime's own table, `.gopclntab`.
//!
//! Every Go binary carries the table the runtime uses for its tracebacks:
//! function names, pc-to-file and pc-to-line maps and, per function, an
//! inline tree. Stripping (`-ldflags="-s -w"`) removes `.symtab` and DWARF
//! but never this, so a [`GoTable`] names stripped Go code, inlined calls
//! included, exactly as `go tool addr2line` and panics do.
//!
//! The file is read through its section headers only (never its segments),
//! so the agents' cut debug files work: they keep every header but only
//! some sections' bytes. The table is its own section, except in
//! position-independent cgo builds, where it is found inside `.data.rel.ro`. Inline trees live in `go:func.*`, found through
//! `.symtab` or, stripped, through `runtime.firstmoduledata`; when those
//! bytes are missing the answer degrades to the outermost function with
//! its file and line.

mod inline;
mod pclntab;

use std::borrow::Cow;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use augur_profile::Symbol;
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags};

use inline::InlineTree;
use pclntab::{FUNCDATA_INL_TREE, FuncData, FuncRecord, Pclntab, Version};

/// Why a Go table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GoTableError {
    /// Opening or mapping the file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not an ELF file the `object` crate can parse.
    #[error("parsing ELF file {path}: {message}")]
    Elf {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An ELF file this reader does not handle.
    #[error("unsupported file: {0}")]
    Unsupported(&'static str),
    /// A `.gopclntab` of a Go version this reader does not know (before
    /// 1.16, or one newer than it).
    #[error("unknown .gopclntab magic {magic:#x}")]
    UnknownMagic {
        /// The magic number found.
        magic: u32,
    },
    /// The table contradicts itself or points outside the file.
    #[error("malformed .gopclntab: {0}")]
    Malformed(&'static str),
    /// The section header is there but its bytes are not (`SHT_NOBITS`, as
    /// in a debug file cut without it).
    #[error(".gopclntab has no contents in this file")]
    NoTableBytes,
}

/// An allocated section: where its bytes are, if the file has them.
#[derive(Clone, Debug)]
struct MappedSection {
    address: u64,
    size: u64,
    /// Its bytes in the mapping; `None` for `SHT_NOBITS`.
    bytes: Option<Range<usize>>,
    /// Where `runtime.firstmoduledata` may be: data, not code.
    is_data: bool,
    is_noptrdata: bool,
}

/// One function of a Go table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoFunction<'a> {
    /// Full Go name, e.g. `main.(*T).Method` or `main.main.func1`.
    pub name: Cow<'a, str>,
    /// ELF virtual address of its first instruction.
    pub entry: u64,
    /// First address past its code.
    pub end: u64,
}

/// The Go symbol table of one ELF file. Owns its mapping, so it can be
/// cached and shared without lifetimes.
pub struct GoTable {
    map: memmap2::Mmap,
    table: Pclntab,
    /// `.gopclntab`'s bytes in `map`.
    pclntab: Range<usize>,
    pclntab_address: u64,
    sections: Vec<MappedSection>,
    /// Address of `go:func.*` (1.18+), base of funcdata offsets.
    gofunc: Option<u64>,
}

impl std::fmt::Debug for GoTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoTable")
            .field("version", &self.table.version)
            .field("functions", &self.table.len())
            .field("gofunc", &self.gofunc)
            .finish_non_exhaustive()
    }
}

impl GoTable {
    /// Reads the Go table of the ELF file at `path`; `Ok(None)` when it is
    /// not a Go binary (no `.gopclntab` section, nor Go's build notes).
    pub fn open(path: &Path) -> Result<Option<GoTable>, GoTableError> {
        let io = |source| GoTableError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: a read-only map; a file truncated underneath us could
        // fault, the accepted risk of every mmap-based ELF reader here.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_map(map, path)
    }

    fn from_map(map: memmap2::Mmap, path: &Path) -> Result<Option<GoTable>, GoTableError> {
        let elf = object::File::parse(&*map).map_err(|e| GoTableError::Elf {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if elf.format() != object::BinaryFormat::Elf {
            return Err(GoTableError::Unsupported("not an ELF file"));
        }
        if !elf.is_little_endian() {
            return Err(GoTableError::Unsupported("big-endian ELF"));
        }
        let Some((pclntab_address, pclntab, table)) = find_pclntab(&elf, &map)? else {
            return Ok(None);
        };
        let sections = elf
            .sections()
            .filter(|s| {
                s.address() != 0
                    && matches!(s.flags(), SectionFlags::Elf { sh_flags }
                        if sh_flags & u64::from(object::elf::SHF_ALLOC) != 0)
            })
            .map(|s| MappedSection {
                address: s.address(),
                size: s.size(),
                bytes: file_bytes(&s, map.len()),
                is_data: !is_code(&s),
                is_noptrdata: s.name() == Ok(".noptrdata"),
            })
            .collect();
        let gofunc_symbol = elf
            .symbols()
            .find(|s| matches!(s.name(), Ok("go:func.*" | "go.func.*")))
            .map(|s| s.address());
        drop(elf);
        let mut go = GoTable {
            map,
            table,
            pclntab,
            pclntab_address,
            sections,
            gofunc: None,
        };
        if go.table.version != Version::Go116 {
            go.gofunc = gofunc_symbol.or_else(|| go.find_gofunc_in_moduledata());
            if go.gofunc.is_none() {
                tracing::debug!(
                    path = %path.display(),
                    "no go:func.* found: Go frames get no inlined calls"
                );
            }
        }
        Ok(Some(go))
    }

    fn pclntab_bytes(&self) -> &[u8] {
        &self.map[self.pclntab.clone()]
    }

    /// Number of functions in the table.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table has no functions.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Address of `go:func.*`, where inline trees live (Go 1.18+), as read
    /// from `.symtab` or found in the module data; `None` when neither was
    /// found (then frames carry no inlined calls).
    pub fn gofunc(&self) -> Option<u64> {
        self.gofunc
    }

    /// Every function of the table, in address order.
    pub fn functions(&self) -> impl Iterator<Item = GoFunction<'_>> + '_ {
        let data = self.pclntab_bytes();
        (0..self.table.len()).filter_map(move |i| {
            let func = self.table.func(data, i)?;
            let record = self.table.record(data, &func)?;
            Some(GoFunction {
                name: String::from_utf8_lossy(self.table.name(data, record.name_off)?),
                entry: func.entry,
                end: func.end,
            })
        })
    }

    /// The inline chain at ELF virtual address `address`, innermost first:
    /// the innermost frame carries the instruction's own file and line,
    /// each caller the line of its call site. `Ok(None)` when no Go
    /// function covers the address (C code in a cgo binary, say).
    pub fn symbolize(&self, address: u64) -> Result<Option<Vec<Symbol>>, GoTableError> {
        let data = self.pclntab_bytes();
        let Some(func) = self.table.find(data, address) else {
            return Ok(None);
        };
        let record = self
            .table
            .record(data, &func)
            .ok_or(GoTableError::Malformed("function record past the section"))?;
        let tree = self.inline_tree(data, &record);
        inline::chain(&self.table, data, &func, &record, tree.as_ref(), address).map(Some)
    }

    /// The function's inline tree, if it has one and its bytes are here.
    fn inline_tree(&self, data: &[u8], record: &FuncRecord) -> Option<InlineTree<'_>> {
        let address =
            match self
                .table
                .funcdata(data, record, FUNCDATA_INL_TREE, self.pclntab_address)?
            {
                FuncData::Address(address) => address,
                FuncData::GoFuncOffset(offset) => self.gofunc?.checked_add(u64::from(offset))?,
            };
        Some(InlineTree::new(
            self.bytes_from(address)?,
            self.table.version,
        ))
    }

    /// The file's bytes from `address` to the end of the section holding it.
    fn bytes_from(&self, address: u64) -> Option<&[u8]> {
        let section = self
            .sections
            .iter()
            .find(|s| address >= s.address && address - s.address < s.size)?;
        let bytes = &self.map[section.bytes.clone()?];
        bytes.get(usize::try_from(address - section.address).ok()?..)
    }

    /// Finds `runtime.firstmoduledata` in a stripped binary: the module data
    /// starts with a pointer to `.gopclntab`, followed by slices into it
    /// and the text range, which must all agree with the table; its
    /// `gofunc` field is then the base of funcdata offsets.
    fn find_gofunc_in_moduledata(&self) -> Option<u64> {
        let ptr = self.table.ptr_size;
        // Module data is in `.noptrdata` for every link mode seen; other
        // data sections are searched after it, just in case.
        let mut candidates: Vec<&MappedSection> = self
            .sections
            .iter()
            .filter(|s| s.is_data && s.bytes.is_some())
            .collect();
        candidates.sort_by_key(|s| !s.is_noptrdata);
        // Word indices in moduledata: funcnametab's pointer, ftab's
        // pointer, minpc, text; gofunc moved when 1.20 added covctrs.
        let gofunc_index = match self.table.version {
            Version::Go116 => return None,
            Version::Go118 => 38,
            Version::Go120 => 40,
        };
        let data = self.pclntab_bytes();
        let (first_entry, _) = self.table.pc_range(data)?;
        let at_offset = |offset: usize| {
            self.pclntab_address
                .checked_add(u64::try_from(offset).ok()?)
        };
        let funcnames = at_offset(self.table.funcnames_offset())?;
        let ftab = at_offset(self.table.ftab_offset())?;
        let wanted = self.pclntab_address;
        for section in candidates {
            let bytes = &self.map[section.bytes.clone()?];
            let word = |i: usize| pclntab::word_at(bytes, i, ptr);
            // Module data is pointer-aligned; sections start aligned.
            for at in (0..bytes.len().saturating_sub(ptr)).step_by(ptr) {
                if word(at) != Some(wanted) {
                    continue;
                }
                let field = |i: usize| word(at + i * ptr);
                if field(1) == Some(funcnames)
                    && field(16) == Some(ftab)
                    && field(20) == Some(first_entry)
                    && field(22) == Some(self.table.text_start)
                {
                    let gofunc = field(gofunc_index)?;
                    let inside = self
                        .sections
                        .iter()
                        .any(|s| gofunc >= s.address && gofunc - s.address < s.size);
                    return inside.then_some(gofunc);
                }
            }
        }
        None
    }
}

/// Where the Go table is: its address, its bytes in the file and its
/// parsed header; `Ok(None)` for a file that is not Go.
///
/// Usually it is its own section, `.gopclntab` (`.data.rel.ro.gopclntab` in
/// position-independent builds of Go's own linker). A position-independent
/// cgo build, linked by the system linker, merges it into `.data.rel.ro`:
/// there `runtime.pclntab` marks it, or, stripped, a header that parses
/// does.
fn find_pclntab(
    elf: &object::File<'_>,
    data: &[u8],
) -> Result<Option<(u64, Range<usize>, Pclntab)>, GoTableError> {
    let file_len = data.len();
    if let Some(section) = elf
        .section_by_name(".gopclntab")
        .or_else(|| elf.section_by_name(".data.rel.ro.gopclntab"))
    {
        let bytes = file_bytes(&section, file_len).ok_or(GoTableError::NoTableBytes)?;
        let table = Pclntab::parse(&data[bytes.clone()])?;
        return Ok(Some((section.address(), bytes, table)));
    }
    // Only Go binaries are searched further: they carry Go's build notes.
    let is_go = [".go.buildinfo", ".note.go.buildid"]
        .iter()
        .any(|name| elf.section_by_name(name).is_some());
    let Some(relro) = elf.section_by_name(".data.rel.ro").filter(|_| is_go) else {
        return Ok(None);
    };
    let bytes = file_bytes(&relro, file_len).ok_or(GoTableError::NoTableBytes)?;
    let section = &data[bytes.clone()];
    let within = |address: u64| {
        let offset = usize::try_from(address.checked_sub(relro.address())?).ok()?;
        (offset < section.len()).then_some(offset)
    };
    let marked = elf
        .symbols()
        .find(|s| s.name() == Ok("runtime.pclntab"))
        .and_then(|s| within(s.address()));
    let offsets: Box<dyn Iterator<Item = usize>> = match marked {
        Some(offset) => Box::new(std::iter::once(offset)),
        // The table is pointer-aligned; its header must parse and its
        // functions must lie in the code.
        None => Box::new((0..section.len()).step_by(8)),
    };
    // Code by its flags: in a cut debug file it has no bytes, and no kind.
    let text = elf
        .sections()
        .filter(|s| is_code(s))
        .map(|s| (s.address(), s.address().saturating_add(s.size())))
        .collect::<Vec<_>>();
    for offset in offsets {
        let candidate = &section[offset..];
        if !matches!(
            candidate.get(..8),
            Some([0xf0 | 0xf1 | 0xfa, 0xff, 0xff, 0xff, 0, 0, _, 4 | 8])
        ) {
            continue;
        }
        let Ok(table) = Pclntab::parse(candidate) else {
            continue;
        };
        let in_text = table.pc_range(candidate).is_some_and(|(start, end)| {
            table.len() > 0 && text.iter().any(|&(lo, hi)| lo <= start && end <= hi)
        });
        if in_text {
            let address = relro.address() + offset as u64;
            return Ok(Some((address, bytes.start + offset..bytes.end, table)));
        }
    }
    Err(GoTableError::Malformed(
        "a Go binary without a recognizable pc-line table",
    ))
}

/// Whether `section` holds code (`SHF_EXECINSTR`), with bytes or not.
fn is_code<'data>(section: &object::Section<'data, '_, &'data [u8]>) -> bool {
    matches!(section.flags(), SectionFlags::Elf { sh_flags }
        if sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0)
}

/// The byte range of `section` in a file of `file_len` bytes; `None` for a
/// section without bytes or one that claims more than the file has.
fn file_bytes<'data>(
    section: &object::Section<'data, '_, &'data [u8]>,
    file_len: usize,
) -> Option<Range<usize>> {
    let (offset, size) = section.file_range()?;
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    (end <= file_len && size > 0).then_some(start..end)
}
