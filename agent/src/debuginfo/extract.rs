//! Cutting a binary down to what a symbolizer needs.
//!
//! The result is an ELF file in the shape of `objcopy --only-keep-debug`:
//! every section header is kept, at its index, but only symbol tables, debug
//! sections and the build-id note keep their contents; the others become
//! `SHT_NOBITS` (address and size without bytes). A Go binary also keeps
//! what the server's Go symbolizer reads: `.gopclntab` (names, lines),
//! `.noptrdata` (where `runtime.firstmoduledata` says where `go:func.*`
//! is), `.rodata` (which holds `go:func.*`, the inline trees) and, in a
//! position-independent cgo build where the table has no section of its
//! own, `.data.rel.ro`; so even a stripped Go binary is worth cutting. Unlike objcopy's output the
//! program headers are copied unchanged, so the file maps the original
//! binary's file offsets to addresses on its own and the server never needs
//! the binary itself. Their `p_offset`s point into the original file, not
//! into this one; nothing reads segment contents from a debug file.
//!
//! Only 64-bit little-endian ELF executables and shared objects are cut
//! (what the agent's BPF side supports). Files are read with `pread`, a
//! section at a time through a fixed buffer, so a binary with a gigabyte of
//! DWARF costs the agent a megabyte of memory, not a gigabyte of mapped
//! pages.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use object::elf::{FileHeader64, ProgramHeader64, SectionHeader64};
use object::{LittleEndian, U32, U64, pod};

use LittleEndian as Le;

/// Bytes copied per read.
const COPY_CHUNK: usize = 1 << 20;
/// More section headers than any real binary has; bounds what a corrupt
/// header can make us allocate.
const MAX_SECTIONS: usize = 1 << 16;
/// Largest section-name table read.
const MAX_NAMES: u64 = 16 << 20;
/// Largest `.rodata` kept for a Go binary's inline trees; past this (a
/// binary full of embedded files, say) the server names Go frames without
/// their inlined calls rather than the agent uploading the assets.
const MAX_GO_RODATA: u64 = 64 << 20;
/// Names of the section holding a Go binary's pc-line table (the second in
/// position-independent builds).
const GO_PCLNTAB: [&[u8]; 2] = [b".gopclntab", b".data.rel.ro.gopclntab"];

/// Why a file was not cut.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not an ELF file this code handles.
    #[error("unsupported file: {0}")]
    Unsupported(&'static str),
    /// The headers do not hold together.
    #[error("malformed ELF: {0}")]
    Malformed(&'static str),
}

/// The section layout of an ELF file, read from its headers only.
pub struct ElfSections {
    header: FileHeader64<Le>,
    program_headers: Vec<ProgramHeader64<Le>>,
    sections: Vec<SectionHeader64<Le>>,
    names: Vec<u8>,
    shstrndx: usize,
    /// What the file is for Go, worked out once: `keeps` asks per section.
    go: GoLayout,
}

/// Whether a file is a Go binary and where its pc-line table is.
#[derive(Clone, Copy, Debug, Default)]
struct GoLayout {
    /// A `.gopclntab` with contents, or Go's build notes.
    is_go: bool,
    /// The table has a section of its own (else it is inside
    /// `.data.rel.ro`, as in position-independent cgo builds).
    has_pclntab_section: bool,
}

impl ElfSections {
    /// Reads the ELF header, program headers, section headers and section
    /// names of `file`.
    pub fn read(file: &File) -> Result<Self, ExtractError> {
        let mut raw = [0u8; size_of::<FileHeader64<Le>>()];
        file.read_exact_at(&mut raw, 0)
            .map_err(|_| ExtractError::Unsupported("shorter than an ELF header"))?;
        let (header, _) = pod::from_bytes::<FileHeader64<Le>>(&raw)
            .map_err(|()| ExtractError::Malformed("header"))?;
        let header = *header;
        let ident = &header.e_ident;
        if ident.magic != object::elf::ELFMAG {
            return Err(ExtractError::Unsupported("not an ELF file"));
        }
        if ident.class != object::elf::ELFCLASS64 || ident.data != object::elf::ELFDATA2LSB {
            return Err(ExtractError::Unsupported("not 64-bit little-endian ELF"));
        }
        let e = Le;
        let kind = header.e_type.get(e);
        if kind != object::elf::ET_EXEC && kind != object::elf::ET_DYN {
            return Err(ExtractError::Unsupported(
                "neither an executable nor a shared object",
            ));
        }
        if usize::from(header.e_shentsize.get(e)) != size_of::<SectionHeader64<Le>>()
            || (header.e_phnum.get(e) > 0
                && usize::from(header.e_phentsize.get(e)) != size_of::<ProgramHeader64<Le>>())
        {
            return Err(ExtractError::Malformed("header entry sizes"));
        }
        let shoff = header.e_shoff.get(e);
        if shoff == 0 {
            return Err(ExtractError::Unsupported("no section headers"));
        }
        let first: SectionHeader64<Le> = read_pod(file, shoff)?;
        // Extended numbering: counts that do not fit live in section 0.
        let count = match header.e_shnum.get(e) {
            0 => usize::try_from(first.sh_size.get(e)).unwrap_or(usize::MAX),
            n => usize::from(n),
        };
        if count == 0 || count > MAX_SECTIONS {
            return Err(ExtractError::Malformed("section count"));
        }
        let sections: Vec<SectionHeader64<Le>> = read_pods(file, shoff, count)?;
        let shstrndx = match header.e_shstrndx.get(e) {
            object::elf::SHN_XINDEX => first.sh_link.get(e) as usize,
            n => usize::from(n),
        };
        let names_header = sections
            .get(shstrndx)
            .filter(|s| shstrndx != 0 && s.sh_type.get(e) == object::elf::SHT_STRTAB)
            .ok_or(ExtractError::Malformed("section name table index"))?;
        let names_len = names_header.sh_size.get(e);
        if names_len > MAX_NAMES {
            return Err(ExtractError::Malformed("section name table size"));
        }
        let mut names = vec![0u8; names_len as usize];
        file.read_exact_at(&mut names, names_header.sh_offset.get(e))
            .map_err(|_| ExtractError::Malformed("section name table beyond the file"))?;
        let phnum = usize::from(header.e_phnum.get(e));
        let program_headers = if phnum == 0 {
            Vec::new()
        } else {
            read_pods(file, header.e_phoff.get(e), phnum)?
        };
        let mut layout = Self {
            header,
            program_headers,
            sections,
            names,
            shstrndx,
            go: GoLayout::default(),
        };
        layout.go = layout.go_layout();
        Ok(layout)
    }

    fn name(&self, section: &SectionHeader64<Le>) -> &[u8] {
        let start = section.sh_name.get(Le) as usize;
        let rest = self.names.get(start..).unwrap_or(&[]);
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        &rest[..end]
    }

    /// Whether the file has a full symbol table, DWARF or a Go pc-line
    /// table: something a stripped copy on the server could not offer.
    pub fn has_symbols(&self) -> bool {
        self.go.is_go
            || self.sections.iter().any(|s| {
                let ty = s.sh_type.get(Le);
                let name = self.name(s);
                (ty == object::elf::SHT_SYMTAB && s.sh_size.get(Le) > 0)
                    || ((name == b".debug_info" || name == b".zdebug_info")
                        && ty != object::elf::SHT_NOBITS
                        && s.sh_size.get(Le) > 0)
            })
    }

    /// Whether this is a Go binary: a `.gopclntab` with contents, or Go's
    /// build notes (a position-independent cgo build keeps its table inside
    /// `.data.rel.ro`, without a section of its own).
    fn go_layout(&self) -> GoLayout {
        let mut go = GoLayout::default();
        for s in &self.sections {
            let name = self.name(s);
            if GO_PCLNTAB.contains(&name) {
                go.has_pclntab_section = true;
                go.is_go |= s.sh_type.get(Le) != object::elf::SHT_NOBITS && s.sh_size.get(Le) > 0;
            }
            go.is_go |= name == b".go.buildinfo" || name == b".note.go.buildid";
        }
        go
    }

    /// Whether section `index` keeps its contents in the cut file.
    fn keeps(&self, index: usize) -> bool {
        let section = &self.sections[index];
        let ty = section.sh_type.get(Le);
        if index == 0 || ty == object::elf::SHT_NOBITS {
            return false;
        }
        if index == self.shstrndx || ty == object::elf::SHT_SYMTAB || ty == object::elf::SHT_DYNSYM
        {
            return true;
        }
        // String tables of the symbol tables kept.
        let is_symbols_strings = self.sections.iter().any(|s| {
            let t = s.sh_type.get(Le);
            (t == object::elf::SHT_SYMTAB || t == object::elf::SHT_DYNSYM)
                && s.sh_link.get(Le) as usize == index
        });
        let name = self.name(section);
        let go_keeps = || {
            GO_PCLNTAB.contains(&name)
                || name == b".noptrdata"
                || name == b".go.buildinfo"
                || name == b".note.go.buildid"
                || (name == b".rodata" && section.sh_size.get(Le) <= MAX_GO_RODATA)
                || (name == b".data.rel.ro"
                    && !self.go.has_pclntab_section
                    && section.sh_size.get(Le) <= MAX_GO_RODATA)
        };
        is_symbols_strings
            || name.starts_with(b".debug_")
            || name.starts_with(b".zdebug_")
            || name == b".note.gnu.build-id"
            || (self.go.is_go && go_keeps())
    }

    /// The GNU build-id from the `.note.gnu.build-id` section, if any.
    pub fn build_id(&self, file: &File) -> Option<Vec<u8>> {
        let section = self.sections.iter().find(|s| {
            s.sh_type.get(Le) == object::elf::SHT_NOTE && self.name(s) == b".note.gnu.build-id"
        })?;
        let size = section.sh_size.get(Le);
        if size > 4096 {
            return None;
        }
        let mut notes = vec![0u8; size as usize];
        file.read_exact_at(&mut notes, section.sh_offset.get(Le))
            .ok()?;
        // Notes: namesz, descsz, type, name (padded to 4), desc (padded to 4).
        let mut rest = &notes[..];
        while rest.len() >= 12 {
            let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().unwrap()) as usize;
            let (namesz, descsz, kind) = (word(0), word(4), word(8));
            let name_end = 12 + namesz.next_multiple_of(4);
            let desc_end = name_end.checked_add(descsz.next_multiple_of(4))?;
            if desc_end > rest.len() {
                return None;
            }
            if kind == object::elf::NT_GNU_BUILD_ID as usize && &rest[12..12 + namesz] == b"GNU\0" {
                return Some(rest[name_end..name_end + descsz].to_vec());
            }
            rest = &rest[desc_end..];
        }
        None
    }

    /// Bytes the cut file will hold, roughly (kept sections plus headers).
    pub fn kept_bytes(&self) -> u64 {
        let headers = (size_of::<FileHeader64<Le>>()
            + self.program_headers.len() * size_of::<ProgramHeader64<Le>>()
            + self.sections.len() * size_of::<SectionHeader64<Le>>()) as u64;
        (0..self.sections.len())
            .filter(|&i| self.keeps(i))
            .map(|i| self.sections[i].sh_size.get(Le))
            .sum::<u64>()
            + headers
    }

    /// Writes the cut file for `source` (the file these headers came from)
    /// to `out`; returns the bytes written.
    pub fn write_debug_file(&self, source: &File, out: &mut File) -> Result<u64, ExtractError> {
        let e = Le;
        let mut w = Counted {
            inner: BufWriter::with_capacity(COPY_CHUNK, out),
            position: 0,
        };
        // The header is written last, once the section table's place is
        // known; reserve its bytes.
        w.emit(&[0u8; size_of::<FileHeader64<Le>>()])?;
        let phoff = w.position;
        w.emit(pod::bytes_of_slice(&self.program_headers))?;

        let mut sections = self.sections.clone();
        let mut buffer = vec![0u8; COPY_CHUNK];
        for (index, section) in sections.iter_mut().enumerate() {
            if !self.keeps(index) {
                if index != 0 && section.sh_type.get(e) != object::elf::SHT_NOBITS {
                    section.sh_type = U32::new(e, object::elf::SHT_NOBITS);
                    section.sh_offset = U64::new(e, w.position);
                }
                continue;
            }
            w.align(section.sh_addralign.get(e).clamp(1, 4096))?;
            let (start, size) = (section.sh_offset.get(e), section.sh_size.get(e));
            section.sh_offset = U64::new(e, w.position);
            let mut copied = 0u64;
            while copied < size {
                let n = (size - copied).min(COPY_CHUNK as u64) as usize;
                let chunk = &mut buffer[..n];
                source
                    .read_exact_at(chunk, start + copied)
                    .map_err(|_| ExtractError::Malformed("section beyond the end of the file"))?;
                w.emit(chunk)?;
                copied += n as u64;
            }
        }
        w.align(8)?;
        let shoff = w.position;
        w.emit(pod::bytes_of_slice(&sections))?;
        let written = w.position;
        let out = w.inner.into_inner().map_err(|e| e.into_error())?;

        let mut header = self.header;
        header.e_phoff = U64::new(
            e,
            if self.program_headers.is_empty() {
                0
            } else {
                phoff
            },
        );
        header.e_shoff = U64::new(e, shoff);
        out.write_all_at(pod::bytes_of(&header), 0)?;
        Ok(written)
    }
}

/// A writer that knows its position.
struct Counted<'a> {
    inner: BufWriter<&'a mut File>,
    position: u64,
}

impl Counted<'_> {
    fn emit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    fn align(&mut self, to: u64) -> std::io::Result<()> {
        let padding = self.position.next_multiple_of(to) - self.position;
        self.emit(&vec![0u8; padding as usize])
    }
}

fn read_pod<T: pod::Pod>(file: &File, offset: u64) -> Result<T, ExtractError> {
    Ok(read_pods::<T>(file, offset, 1)?.remove(0))
}

fn read_pods<T: pod::Pod>(file: &File, offset: u64, count: usize) -> Result<Vec<T>, ExtractError> {
    let mut raw = vec![0u8; count * size_of::<T>()];
    file.read_exact_at(&mut raw, offset)
        .map_err(|_| ExtractError::Malformed("header table beyond the end of the file"))?;
    let (items, _) =
        pod::slice_from_bytes::<T>(&raw, count).map_err(|()| ExtractError::Malformed("table"))?;
    Ok(items.to_vec())
}

/// Cuts `binary` into a debug file at `out`, if it has symbols worth
/// sending; `Ok(None)` when it has none (a stripped binary).
pub fn extract(binary: &Path, out: &Path) -> Result<Option<u64>, ExtractError> {
    let source = File::open(binary)?;
    let layout = ElfSections::read(&source)?;
    if !layout.has_symbols() {
        return Ok(None);
    }
    let mut file = File::create(out)?;
    let written = layout.write_debug_file(&source, &mut file)?;
    Ok(Some(written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::{Object, ObjectSection, ObjectSymbol};

    #[test]
    fn own_test_binary_keeps_symbols_build_id_and_layout_but_no_code() {
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cut.debug");
        let written = extract(&exe, &out)
            .unwrap()
            .expect("a test binary has a symbol table");
        let original = std::fs::read(&exe).unwrap();
        let cut = std::fs::read(&out).unwrap();
        assert_eq!(written, cut.len() as u64);
        let a = object::File::parse(&*original).unwrap();
        let b = object::File::parse(&*cut).expect("the cut file parses as ELF");

        assert_eq!(a.build_id().unwrap(), b.build_id().unwrap());
        let source = File::open(&exe).unwrap();
        assert_eq!(
            ElfSections::read(&source)
                .unwrap()
                .build_id(&source)
                .as_deref(),
            a.build_id().unwrap()
        );
        assert!(b.build_id().unwrap().is_some());
        // Same symbols at the same addresses.
        let symbols = |f: &object::File<'_>| {
            f.symbols()
                .filter_map(|s| Some((s.name().ok()?.to_owned(), s.address())))
                .collect::<Vec<_>>()
        };
        assert_eq!(symbols(&a), symbols(&b));
        assert!(symbols(&b).len() > 100);
        // Code is gone; sections keep their addresses and sizes.
        let text = b.section_by_name(".text").unwrap();
        assert_eq!(
            text.address(),
            a.section_by_name(".text").unwrap().address()
        );
        assert_eq!(text.size(), a.section_by_name(".text").unwrap().size());
        assert!(text.data().unwrap().is_empty(), ".text must have no bytes");
        // Debug sections are copied byte for byte.
        if let Some(info) = a.section_by_name(".debug_info") {
            assert_eq!(
                info.data().unwrap(),
                b.section_by_name(".debug_info").unwrap().data().unwrap()
            );
        }
        // Program headers unchanged: the offset-to-address map survives.
        let segments = |f: &object::File<'_>| {
            use object::ObjectSegment;
            f.segments()
                .map(|s| (s.address(), s.file_range()))
                .collect::<Vec<_>>()
        };
        assert_eq!(segments(&a), segments(&b));
        assert!(cut.len() < original.len());
    }

    /// A Go program whose hot loop inlines a small function.
    const GO_SOURCE: &str = "package main

import \"fmt\"

func mix(x uint64) uint64 { return x*6364136223846793005 + 1 }

//go:noinline
func work(n int) uint64 {
	var t uint64
	for i := 0; i < n; i++ {
		t ^= mix(uint64(i))
	}
	return t
}

func main() { fmt.Println(work(1000)) }
";

    /// Builds `GO_SOURCE` stripped (`-s -w`) into `dir` with `flags`
    /// (cgo on when `cgo`); `None` without `go`, skipped loudly unless
    /// `AUGUR_REQUIRE_ALL=1`.
    fn stripped_go_binary(dir: &Path, flags: &[&str], cgo: bool) -> Option<std::path::PathBuf> {
        use std::process::Command;
        let go = |args: &[&str]| {
            let mut command = Command::new("go");
            command
                .args(args)
                .current_dir(dir)
                .env("GOPROXY", "off")
                .env("GOTOOLCHAIN", "local")
                .env("GOFLAGS", "-mod=mod")
                .env("CGO_ENABLED", if cgo { "1" } else { "0" })
                .env("HOME", dir.join("home"))
                .env("GOCACHE", std::env::temp_dir().join("augur-go-tests/cache"));
            command
        };
        if !go(&["version"]).output().is_ok_and(|o| o.status.success()) {
            if std::env::var("AUGUR_REQUIRE_ALL").is_ok_and(|v| v == "1") {
                panic!("go is required (AUGUR_REQUIRE_ALL=1) but not available");
            }
            eprintln!("\n*** SKIPPED: the go toolchain is not available ***\n");
            return None;
        }
        std::fs::write(dir.join("main.go"), GO_SOURCE).unwrap();
        std::fs::write(dir.join("go.mod"), "module cut\n\ngo 1.19\n").unwrap();
        let out = dir.join("hot");
        let mut args = vec!["build", "-o", "hot"];
        args.extend(flags);
        args.push(".");
        let output = go(&args).output().unwrap();
        assert!(
            output.status.success(),
            "go build {flags:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(out)
    }

    /// Cuts a stripped Go binary built with `flags` and checks that the cut
    /// file names every sampled address as the binary does.
    fn go_binary_is_cut_and_symbolizes_as_the_original(flags: &[&str], cgo: bool) {
        use augur_symbolizer::GoTable;

        let dir = tempfile::tempdir().unwrap();
        let Some(binary) = stripped_go_binary(dir.path(), flags, cgo) else {
            return;
        };
        let source = File::open(&binary).unwrap();
        assert!(ElfSections::read(&source).unwrap().has_symbols());
        let out = dir.path().join("hot.debug");
        let written = extract(&binary, &out).unwrap().expect("a Go binary is cut");
        let size = std::fs::metadata(&binary).unwrap().len();
        eprintln!("stripped Go binary ({flags:?}) {size} bytes, cut file {written} bytes");
        assert!(written < size);

        let cut_data = std::fs::read(&out).unwrap();
        let cut_elf = object::File::parse(&*cut_data).unwrap();
        let text = cut_elf.section_by_name(".text").unwrap();
        assert!(text.data().unwrap().is_empty(), "no code in the cut file");

        let original = GoTable::open(&binary).unwrap().expect("a Go table");
        let cut = GoTable::open(&out).unwrap().expect("the cut file keeps it");
        assert!(original.gofunc().is_some());
        assert_eq!(cut.gofunc(), original.gofunc());
        let functions: Vec<_> = original.functions().collect();
        assert_eq!(cut.functions().collect::<Vec<_>>(), functions);
        let mut inlined = 0;
        for function in &functions {
            for address in (function.entry..function.end).step_by(3) {
                let chain = original.symbolize(address).unwrap();
                inlined += usize::from(chain.as_ref().is_some_and(|c| c.len() > 1));
                assert_eq!(cut.symbolize(address).unwrap(), chain, "{address:#x}");
            }
        }
        assert!(inlined > 0, "inlined calls survive the cut");

        // The server's path: the cut file alone, in a `.build-id` layout
        // under the binary's file id, asked by file offset.
        use augur_symbolizer::{DebugInfoLocator, FrameRequest, Symbolizer, read_file_id};
        use object::ObjectSegment;
        let id = read_file_id(&binary).unwrap();
        let hex = id.to_hex();
        let store = dir.path().join("debug");
        let slot = store.join(".build-id").join(&hex[..2]);
        std::fs::create_dir_all(&slot).unwrap();
        std::fs::copy(&out, slot.join(format!("{}.debug", &hex[2..]))).unwrap();
        let binary_data = std::fs::read(&binary).unwrap();
        let segments: Vec<(u64, u64, u64)> = object::File::parse(&*binary_data)
            .unwrap()
            .segments()
            .map(|s| (s.address(), s.file_range().0, s.file_range().1))
            .collect();
        let addresses: Vec<u64> = functions
            .iter()
            .flat_map(|f| [f.entry, (f.entry + f.end) / 2])
            .collect();
        let requests: Vec<FrameRequest<'_>> = addresses
            .iter()
            .map(|&a| {
                let (base, offset, _) = segments
                    .iter()
                    .find(|(base, _, size)| (*base..base + size).contains(&a))
                    .unwrap();
                FrameRequest {
                    build_id: &id,
                    file_offset: a - base + offset,
                    path_hints: &[],
                }
            })
            .collect();
        let mut symbolizer = Symbolizer::new(DebugInfoLocator::new(vec![store], false));
        for (result, &address) in symbolizer.symbolize(&requests).into_iter().zip(&addresses) {
            let expected = original.symbolize(address).unwrap().unwrap();
            assert_eq!(result, Ok(expected), "{address:#x}");
        }
    }

    #[test]
    fn stripped_go_binary_is_cut_and_symbolizes_as_the_original() {
        go_binary_is_cut_and_symbolizes_as_the_original(&["-ldflags=-s -w"], false);
    }

    #[test]
    fn stripped_externally_linked_pie_go_binary_is_cut_and_symbolizes_as_the_original() {
        // gcc's linker merges the Go table into `.data.rel.ro`.
        go_binary_is_cut_and_symbolizes_as_the_original(
            &["-buildmode=pie", "-ldflags=-linkmode=external -s -w"],
            true,
        );
    }

    #[test]
    fn stripped_binaries_and_non_elf_files_are_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.debug");
        // /bin/true on Debian is stripped: dynamic symbols only.
        let stripped = Path::new("/bin/true");
        if stripped.exists() {
            let source = File::open(stripped).unwrap();
            let layout = ElfSections::read(&source).unwrap();
            if !layout.has_symbols() {
                assert!(extract(stripped, &out).unwrap().is_none());
                assert!(!out.exists());
            }
        }
        let text = dir.path().join("script.sh");
        std::fs::write(&text, "#!/bin/sh\necho hi\n").unwrap();
        assert!(matches!(
            extract(&text, &out),
            Err(ExtractError::Unsupported(_))
        ));
        let mut truncated = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        truncated.truncate(200);
        let short = dir.path().join("short");
        std::fs::write(&short, &truncated).unwrap();
        assert!(matches!(
            extract(&short, &out),
            Err(ExtractError::Malformed(_))
        ));
    }
}
