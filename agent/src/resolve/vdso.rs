//! The vDSO's functions, named from the agent's own copy: the kernel maps
//! the same image into every process, and only this host can name it.

use super::maps_line::MapsLine;

/// The functions of the vDSO, which is the same image in every process of
/// this kernel: read from the agent's own copy.
pub(super) struct Vdso {
    /// (file offset, size, virtual address) of each loaded segment.
    pub(super) segments: Vec<(u64, u64, u64)>,
    /// (start, end, name) by virtual address.
    pub(super) functions: Vec<(u64, u64, String)>,
}

impl Vdso {
    pub(super) fn of_this_process() -> Option<Self> {
        use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let vdso = maps
            .lines()
            .filter_map(MapsLine::parse)
            .find(|line| line.path == "[vdso]")?;
        // SAFETY: the kernel maps the vDSO readable at this range for the
        // whole life of the process.
        let image = unsafe {
            std::slice::from_raw_parts(vdso.start as *const u8, (vdso.end - vdso.start) as usize)
        };
        let elf = object::File::parse(image).ok()?;
        let segments = elf
            .segments()
            .map(|s| {
                let (offset, size) = s.file_range();
                (offset, size, s.address())
            })
            .collect();
        let mut functions: Vec<(u64, u64, String)> = elf
            .dynamic_symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
            .filter_map(|s| {
                Some((
                    s.address(),
                    s.address() + s.size(),
                    s.name().ok()?.to_owned(),
                ))
            })
            .collect();
        functions.sort();
        functions.dedup_by_key(|(start, _, _)| *start);
        Some(Self {
            segments,
            functions,
        })
    }

    /// The function at `file_offset` in the vDSO image.
    pub(super) fn function(&self, file_offset: u64) -> Option<&str> {
        let &(offset, _, address) = self
            .segments
            .iter()
            .find(|(offset, size, _)| (*offset..offset + size).contains(&file_offset))?;
        let addr = file_offset - offset + address;
        let i = self
            .functions
            .partition_point(|(start, _, _)| *start <= addr);
        let (_, end, name) = self.functions.get(i.checked_sub(1)?)?;
        (addr < *end).then_some(name.as_str())
    }
}
