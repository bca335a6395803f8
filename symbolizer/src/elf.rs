//! Reading ELF files: build-ids, file ids, whether a file has symbols or
//! is debug info only, and the program headers that turn file offsets into
//! addresses.
//!
//! Every reader maps the file read-only and answers `None`/`false` for what
//! is not a readable ELF file; deciding which file to trust is
//! [`locate`](crate::locate)'s job, not this module's.

use std::path::Path;

use augur_profile::FileId;

/// Maps `path` read-only.
fn map(path: &Path) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: the map is read-only; a file truncated underneath us could
    // fault, which is the accepted risk of every mmap-based ELF reader.
    unsafe { memmap2::Mmap::map(&file) }.ok()
}

/// Whether an ELF file is debug info only (`objcopy --only-keep-debug`): its
/// loadable segments hold no file contents.
pub(crate) fn is_debug_only(path: &Path) -> bool {
    use object::read::elf::{ElfFile64, ProgramHeader};

    let Some(data) = map(path) else {
        return false;
    };
    let Ok(elf) = ElfFile64::<object::Endianness>::parse(&*data) else {
        return false;
    };
    let endian = elf.endian();
    // The code segment has a size in memory but none in the file.
    elf.elf_program_headers().iter().any(|ph| {
        ph.p_type(endian) == object::elf::PT_LOAD
            && ph.p_flags(endian) & object::elf::PF_X != 0
            && ph.p_filesz(endian) == 0
            && ph.p_memsz(endian) > 0
    })
}

/// Translates file offsets into ELF virtual addresses with the program
/// headers of `binary`; `None` for offsets outside every loadable segment.
pub(crate) fn file_offsets_to_addresses(
    binary: &Path,
    offsets: &[u64],
) -> Result<Vec<Option<u64>>, String> {
    use object::read::elf::{ElfFile64, ProgramHeader};

    let file = std::fs::File::open(binary).map_err(|e| e.to_string())?;
    // SAFETY: read-only map, as in `map`.
    let data = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
    let elf = ElfFile64::<object::Endianness>::parse(&*data).map_err(|e| e.to_string())?;
    let endian = elf.endian();
    let loads: Vec<(u64, u64, u64)> = elf
        .elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == object::elf::PT_LOAD)
        .map(|ph| (ph.p_offset(endian), ph.p_filesz(endian), ph.p_vaddr(endian)))
        .collect();
    Ok(offsets
        .iter()
        .map(|&offset| {
            loads
                .iter()
                .find(|(start, size, _)| (*start..start + size).contains(&offset))
                .map(|(start, _, vaddr)| offset - start + vaddr)
        })
        .collect())
}

/// Whether an ELF file has a full symbol table, DWARF or a Go line table
/// (`.gopclntab`, which even a stripped Go binary keeps), not only the
/// dynamic symbols a stripped binary keeps.
pub fn has_symbols(path: &Path) -> bool {
    use object::{Object, ObjectSection};

    let Some(data) = map(path) else {
        return false;
    };
    let full = object::File::parse(&*data).is_ok_and(|elf| {
        [".symtab", ".debug_info"].iter().any(|name| {
            elf.section_by_name(name)
                .is_some_and(|s| s.kind() != object::SectionKind::UninitializedData)
        })
    });
    // Go's table may also sit in `.data.rel.ro` (PIE builds): ask the
    // reader that finds it.
    full || matches!(crate::go::GoTable::open(path), Ok(Some(_)))
}

/// The file id of the file at `path`: its GNU build-id if it is an ELF file
/// with one, else its content id ([`FileId::from_content`]).
pub fn read_file_id(path: &Path) -> Option<FileId> {
    use object::Object;

    let file = std::fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() == 0 {
        // Nothing to map.
        return Some(FileId::from_file_bytes(&[]));
    }
    // SAFETY: read-only map, as in `map`.
    let data = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let build_id = object::File::parse(&*data)
        .ok()
        .and_then(|elf| elf.build_id().ok().flatten())
        .and_then(|id| FileId::from_bytes(id).ok());
    Some(build_id.unwrap_or_else(|| FileId::from_file_bytes(&data)))
}

/// Reads the GNU build-id note of an ELF file.
pub fn read_build_id(path: &Path) -> Option<FileId> {
    use object::Object;

    let data = map(path)?;
    let elf = object::File::parse(&*data).ok()?;
    let id = elf.build_id().ok()??;
    FileId::from_bytes(id).ok()
}
