//! Finding HotSpot in a process: the `libjvm.so` mapping in
//! `/proc/PID/maps`, its exported `gHotSpot*` symbols from `.dynsym`, and
//! the load bias that turns their link-time addresses into process ones.

use std::collections::HashMap;
use std::fs::File;

use object::{Object, ObjectSegment, ObjectSymbol};

use super::JvmError;

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub start: u64,
    pub end: u64,
    /// `rwxp`-style permissions.
    pub perms: String,
    pub offset: u64,
    /// The mapped file, `None` for anonymous memory; pseudo-paths such as
    /// `[heap]` are kept.
    pub path: Option<String>,
}

impl MapEntry {
    pub fn executable(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x')
    }

    pub fn contains(&self, range: &std::ops::Range<u64>) -> bool {
        self.start <= range.start && range.end <= self.end
    }

    /// Parses one maps line; `None` for a line that is not one.
    pub fn parse(line: &str) -> Option<Self> {
        let mut parts = line.splitn(6, ' ');
        let (start, end) = parts.next()?.split_once('-')?;
        let perms = parts.next()?.to_owned();
        let offset = u64::from_str_radix(parts.next()?, 16).ok()?;
        let _dev = parts.next()?;
        let _inode = parts.next()?;
        let path = parts.next().map(str::trim).filter(|p| !p.is_empty());
        Some(Self {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            perms,
            offset,
            path: path.map(str::to_owned),
        })
    }
}

/// All mappings of `pid`.
pub fn read_maps(pid: u32) -> Result<Vec<MapEntry>, JvmError> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|source| JvmError::Proc {
            pid,
            what: "maps",
            source,
        })?;
    Ok(text.lines().filter_map(MapEntry::parse).collect())
}

/// The `gHotSpot*` symbols the VM exports for serviceability agents: the
/// four tables and the layout of their entries.
pub const HOTSPOT_SYMBOLS: &[&str] = &[
    "gHotSpotVMStructs",
    "gHotSpotVMStructEntryArrayStride",
    "gHotSpotVMStructEntryTypeNameOffset",
    "gHotSpotVMStructEntryFieldNameOffset",
    "gHotSpotVMStructEntryTypeStringOffset",
    "gHotSpotVMStructEntryIsStaticOffset",
    "gHotSpotVMStructEntryOffsetOffset",
    "gHotSpotVMStructEntryAddressOffset",
    "gHotSpotVMTypes",
    "gHotSpotVMTypeEntryArrayStride",
    "gHotSpotVMTypeEntryTypeNameOffset",
    "gHotSpotVMTypeEntrySizeOffset",
    "gHotSpotVMIntConstants",
    "gHotSpotVMIntConstantEntryArrayStride",
    "gHotSpotVMIntConstantEntryNameOffset",
    "gHotSpotVMIntConstantEntryValueOffset",
    "gHotSpotVMLongConstants",
    "gHotSpotVMLongConstantEntryArrayStride",
    "gHotSpotVMLongConstantEntryNameOffset",
    "gHotSpotVMLongConstantEntryValueOffset",
];

/// `libjvm.so` as mapped in one process.
#[derive(Debug, Clone)]
pub struct LibJvm {
    /// The path as `/proc/PID/maps` shows it (inside the process's mount
    /// namespace).
    pub path: String,
    /// Process address = link-time address + `bias`.
    pub bias: u64,
    /// Link-time addresses of the [`HOTSPOT_SYMBOLS`] found.
    symbols: HashMap<&'static str, u64>,
}

impl LibJvm {
    /// Finds `libjvm.so` in `pid`'s mappings and resolves its `gHotSpot*`
    /// symbols. The file is read through `/proc/PID/root`, so a JVM in a
    /// container is read from its own filesystem.
    pub fn find(pid: u32) -> Result<Self, JvmError> {
        let maps = read_maps(pid)?;
        let path = maps
            .iter()
            .filter_map(|m| m.path.as_deref())
            .find(|p| p.rsplit('/').next() == Some("libjvm.so"))
            .ok_or(JvmError::NotJvm { pid })?
            .to_owned();
        let lowest = maps
            .iter()
            .filter(|m| m.path.as_deref() == Some(&path))
            .min_by_key(|m| m.offset)
            .ok_or(JvmError::NotJvm { pid })?;
        let on_disk = format!("/proc/{pid}/root{path}");
        let file = File::open(&on_disk).map_err(|source| JvmError::Proc {
            pid,
            what: "root/<libjvm.so>",
            source,
        })?;
        // SAFETY: a read-only private mapping; a file truncated under us
        // would fault, which a package upgrade replacing (not truncating)
        // libjvm does not do.
        let image = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| JvmError::Proc {
            pid,
            what: "root/<libjvm.so>",
            source,
        })?;
        Self::from_image(&path, &image, lowest.start, lowest.offset)
    }

    /// Resolves the symbols of ELF `image`, mapped at `map_start` from file
    /// offset `map_offset`.
    pub fn from_image(
        path: &str,
        image: &[u8],
        map_start: u64,
        map_offset: u64,
    ) -> Result<Self, JvmError> {
        let elf = object::File::parse(image).map_err(|source| JvmError::Elf {
            path: path.to_owned(),
            source,
        })?;
        let segment = elf
            .segments()
            .find(|s| {
                let (off, size) = s.file_range();
                off & !0xfff <= map_offset && map_offset < off + size.max(1)
            })
            .ok_or_else(|| JvmError::Corrupt {
                what: "libjvm.so mapping",
                addr: map_start,
                detail: format!("no PT_LOAD covers file offset {map_offset:#x}"),
            })?;
        // The mapping's first byte is file offset `map_offset`, which links
        // at p_vaddr + (map_offset - p_offset).
        let linked = segment
            .address()
            .wrapping_add(map_offset)
            .wrapping_sub(segment.file_range().0);
        let bias = map_start.wrapping_sub(linked);
        let mut symbols = HashMap::new();
        for sym in elf.dynamic_symbols() {
            let Ok(name) = sym.name() else { continue };
            // Versioned names (`@@SUNWprivate_1.1`) arrive without the tail.
            let name = name.split('@').next().unwrap_or(name);
            if let Some(known) = HOTSPOT_SYMBOLS.iter().find(|k| **k == name) {
                symbols.insert(*known, sym.address());
            }
        }
        Ok(Self {
            path: path.to_owned(),
            bias,
            symbols,
        })
    }

    /// A library whose symbols sit at the given process addresses.
    #[cfg(test)]
    pub(crate) fn for_tests(symbols: &[(&'static str, u64)]) -> Self {
        Self {
            path: "libjvm.so".into(),
            bias: 0,
            symbols: symbols.iter().copied().collect(),
        }
    }

    /// The process address of exported symbol `name`.
    pub fn symbol(&self, name: &'static str) -> Result<u64, JvmError> {
        self.symbols
            .get(name)
            .map(|a| a.wrapping_add(self.bias))
            .ok_or_else(|| JvmError::MissingSymbol {
                path: self.path.clone(),
                symbol: name,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let m = MapEntry::parse(
            "7fd47fe51000-7fd480ba4000 r-xp 00251000 fe:00 315160                     /usr/lib/jvm/x/libjvm.so",
        )
        .unwrap();
        assert_eq!(
            (m.start, m.end, m.offset),
            (0x7fd47fe51000, 0x7fd480ba4000, 0x251000)
        );
        assert!(m.executable());
        assert_eq!(m.path.as_deref(), Some("/usr/lib/jvm/x/libjvm.so"));
        let anon = MapEntry::parse("7f00-8f00 rwxp 00000000 00:00 0 ").unwrap();
        assert_eq!(anon.path, None);
        assert!(MapEntry::parse("garbage").is_none());
    }
}
