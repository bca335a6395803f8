//! The `.gopclntab` format: header, function table, `_func` records and
//! pc-value tables, read straight from the section's bytes.
//!
//! Layouts follow the Go runtime's own reader (`runtime/symtab.go`) for the
//! three header generations that share today's split into name, CU, file,
//! pc-value and function tables: Go 1.16/1.17, 1.18/1.19 and 1.20+. Every
//! read is bounds-checked and returns `None` past the end, so a corrupt
//! table gives no answer rather than a panic; nothing allocates in
//! proportion to a size read from the file.

use super::GoTableError;

/// The header generations this reader knows, by magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Go 1.16 and 1.17 (`0xfffffffa`): absolute entry pcs, funcdata as pointers.
    Go116,
    /// Go 1.18 and 1.19 (`0xfffffff0`): entries relative to `textStart`,
    /// funcdata as offsets from `go.func.*`.
    Go118,
    /// Go 1.20 and later (`0xfffffff1`): as 1.18, plus `startLine` in
    /// `_func` and a smaller inline-tree record.
    Go120,
}

impl Version {
    fn from_magic(magic: u32) -> Option<Self> {
        match magic {
            0xffff_fffa => Some(Version::Go116),
            0xffff_fff0 => Some(Version::Go118),
            0xffff_fff1 => Some(Version::Go120),
            _ => None,
        }
    }

    /// Bytes of the fixed part of `_func`, before its pcdata offsets.
    fn func_size(self, ptr_size: usize) -> usize {
        match self {
            // entry uintptr, then eight 32-bit fields, then four bytes.
            Version::Go116 => ptr_size + 8 * 4 + 4,
            // entryOff and eight more 32-bit fields, then four bytes.
            Version::Go118 => 9 * 4 + 4,
            // The same with startLine.
            Version::Go120 => 10 * 4 + 4,
        }
    }
}

/// Index of the pc-value table that maps a pc to its inline-tree entry.
pub const PCDATA_INL_TREE_INDEX: usize = 2;
/// Index of the funcdata that points at the inline tree.
pub const FUNCDATA_INL_TREE: usize = 3;

/// A parsed `.gopclntab` header: where each sub-table lies in the section.
#[derive(Clone, Debug)]
pub struct Pclntab {
    pub version: Version,
    /// 4 or 8.
    pub ptr_size: usize,
    /// Instruction-size quantum: pc deltas are multiples of it.
    quantum: u64,
    nfunc: usize,
    /// Base of entry offsets (1.18+); 0 for 1.16, whose entries are absolute.
    pub text_start: u64,
    funcnames: (usize, usize),
    cutab: (usize, usize),
    filetab: (usize, usize),
    pctab: (usize, usize),
    /// The function table followed by the `_func` records.
    funcs: (usize, usize),
}

/// One function of the table, located by `Pclntab::find`.
#[derive(Clone, Copy, Debug)]
pub struct Func {
    pub entry: u64,
    /// First pc past the function (the next entry, or the table's end).
    pub end: u64,
    /// Offset of its `_func` record in the function area.
    record: usize,
}

/// The fields of a `_func` record that symbolization reads.
#[derive(Clone, Copy, Debug)]
pub struct FuncRecord {
    pub name_off: u32,
    pcfile: u32,
    pcln: u32,
    npcdata: u32,
    cu_offset: u32,
    nfuncdata: u8,
    record: usize,
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    let bytes = data.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// A pointer-sized little-endian word.
pub fn word_at(data: &[u8], at: usize, ptr_size: usize) -> Option<u64> {
    match ptr_size {
        8 => u64_at(data, at),
        _ => u32_at(data, at).map(u64::from),
    }
}

/// The NUL-terminated string at `at`, without the NUL.
fn cstr_at(data: &[u8], at: usize) -> Option<&[u8]> {
    let rest = data.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}

/// A varint as the Go linker writes them (7 bits a byte, at most 5 bytes).
fn varint(data: &[u8], at: &mut usize) -> Option<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

impl Pclntab {
    /// Parses the header of the section bytes `data`.
    pub fn parse(data: &[u8]) -> Result<Self, GoTableError> {
        let malformed = GoTableError::Malformed;
        let magic = u32_at(data, 0).ok_or(malformed("shorter than a header"))?;
        let version = Version::from_magic(magic).ok_or(GoTableError::UnknownMagic { magic })?;
        if data.len() < 8 {
            return Err(malformed("shorter than a header"));
        }
        let (quantum, ptr_size) = (data[6], usize::from(data[7]));
        if data[4] != 0 || data[5] != 0 || !matches!(quantum, 1 | 2 | 4) {
            return Err(malformed("header padding or pc quantum"));
        }
        if ptr_size != 4 && ptr_size != 8 {
            return Err(malformed("pointer size"));
        }
        let word = |i: usize| {
            word_at(data, 8 + i * ptr_size, ptr_size).ok_or(malformed("shorter than a header"))
        };
        let nfunc = word(0)?;
        // 1.16 has no textStart: the offsets start one word earlier.
        let (text_start, first_offset) = match version {
            Version::Go116 => (0, 2),
            Version::Go118 | Version::Go120 => (word(2)?, 3),
        };
        let mut offsets = [0usize; 5];
        for (i, offset) in offsets.iter_mut().enumerate() {
            *offset =
                usize::try_from(word(first_offset + i)?).map_err(|_| malformed("table offset"))?;
        }
        // Each table runs to the start of the next; the last to the end.
        let ends = [offsets[1], offsets[2], offsets[3], offsets[4], data.len()];
        let header_end = 8 + (first_offset + 5) * ptr_size;
        let mut last = header_end;
        for (&start, &end) in offsets.iter().zip(&ends) {
            if start < last || end < start || end > data.len() {
                return Err(malformed("table offsets out of order or past the section"));
            }
            last = start;
        }
        let nfunc = usize::try_from(nfunc).map_err(|_| malformed("function count"))?;
        let table = Pclntab {
            version,
            ptr_size,
            quantum: u64::from(quantum),
            nfunc,
            text_start,
            funcnames: (offsets[0], ends[0]),
            cutab: (offsets[1], ends[1]),
            filetab: (offsets[2], ends[2]),
            pctab: (offsets[3], ends[3]),
            funcs: (offsets[4], ends[4]),
        };
        // The function table (nfunc + 1 entries) must fit: this caps nfunc
        // by the file's size before anything trusts it.
        let needed = nfunc
            .checked_add(1)
            .and_then(|n| n.checked_mul(table.ftab_entry_size()))
            .ok_or(malformed("function count"))?;
        if needed > table.funcs.1 - table.funcs.0 {
            return Err(malformed("function table past the section"));
        }
        Ok(table)
    }

    fn ftab_entry_size(&self) -> usize {
        match self.version {
            Version::Go116 => 2 * self.ptr_size,
            Version::Go118 | Version::Go120 => 8,
        }
    }

    /// Number of functions.
    pub fn len(&self) -> usize {
        self.nfunc
    }

    fn area(data: &[u8], range: (usize, usize)) -> &[u8] {
        data.get(range.0..range.1).unwrap_or(&[])
    }

    /// `(entry pc, _func offset)` of function table row `i` (`i == nfunc`
    /// is the end marker, whose entry is the end of the last function).
    fn row(&self, data: &[u8], i: usize) -> Option<(u64, usize)> {
        let funcs = Self::area(data, self.funcs);
        let at = i.checked_mul(self.ftab_entry_size())?;
        let (entry, record) = match self.version {
            Version::Go116 => (
                word_at(funcs, at, self.ptr_size)?,
                word_at(funcs, at + self.ptr_size, self.ptr_size)?,
            ),
            Version::Go118 | Version::Go120 => (
                self.text_start.checked_add(u64::from(u32_at(funcs, at)?))?,
                u64::from(u32_at(funcs, at + 4)?),
            ),
        };
        Some((entry, usize::try_from(record).ok()?))
    }

    /// The `i`th function (in address order).
    pub fn func(&self, data: &[u8], i: usize) -> Option<Func> {
        if i >= self.nfunc {
            return None;
        }
        let (entry, record) = self.row(data, i)?;
        let (end, _) = self.row(data, i + 1)?;
        Some(Func { entry, end, record })
    }

    /// The function whose code contains `pc`: a binary search over the
    /// function table, which is sorted by entry.
    pub fn find(&self, data: &[u8], pc: u64) -> Option<Func> {
        let (first, _) = self.row(data, 0)?;
        let (end, _) = self.row(data, self.nfunc)?;
        if self.nfunc == 0 || pc < first || pc >= end {
            return None;
        }
        // Invariant: entry(lo) <= pc < entry(hi).
        let (mut lo, mut hi) = (0, self.nfunc);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.row(data, mid)?.0 <= pc {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let func = self.func(data, lo)?;
        (func.entry <= pc && pc < func.end).then_some(func)
    }

    /// Reads the `_func` record of `func`.
    pub fn record(&self, data: &[u8], func: &Func) -> Option<FuncRecord> {
        let funcs = Self::area(data, self.funcs);
        let at = func.record;
        let size = self.version.func_size(self.ptr_size);
        let fixed = funcs.get(at..at.checked_add(size)?)?;
        // Fields after the entry: nameOff, args, deferreturn, pcsp, pcfile,
        // pcln, npcdata, cuOffset.
        let base = match self.version {
            Version::Go116 => self.ptr_size,
            Version::Go118 | Version::Go120 => 4,
        };
        let field = |i: usize| u32_at(fixed, base + 4 * i);
        Some(FuncRecord {
            name_off: field(0)?,
            pcfile: field(4)?,
            pcln: field(5)?,
            npcdata: field(6)?,
            cu_offset: field(7)?,
            nfuncdata: fixed[size - 1],
            record: at,
        })
    }

    /// The function's name, from the name table.
    pub fn name<'d>(&self, data: &'d [u8], name_off: u32) -> Option<&'d [u8]> {
        cstr_at(
            Self::area(data, self.funcnames),
            usize::try_from(name_off).ok()?,
        )
    }

    /// The value of pc-value table `table` (an offset into the pc-value
    /// area; 0 means none) at `pc` of the function starting at `entry`.
    /// Values hold from one pc to the next; the table starts at -1.
    pub fn pcvalue(&self, data: &[u8], table: u32, entry: u64, pc: u64) -> Option<i32> {
        if table == 0 {
            return None;
        }
        let tables = Self::area(data, self.pctab);
        let mut at = usize::try_from(table).ok()?;
        let (mut value, mut current) = (-1i32, entry);
        let mut first = true;
        // Each step reads at least two bytes, so the area's size bounds the loop.
        loop {
            let delta = varint(tables, &mut at)?;
            if delta == 0 && !first {
                return None;
            }
            first = false;
            // Zig-zag: the low bit is the sign.
            let delta = ((delta >> 1) as i32) ^ -((delta & 1) as i32);
            value = value.wrapping_add(delta);
            let pc_delta = u64::from(varint(tables, &mut at)?) * self.quantum;
            current = current.checked_add(pc_delta)?;
            if pc < current {
                return Some(value);
            }
        }
    }

    /// The line of `pc` in the function.
    pub fn line(&self, data: &[u8], func: &Func, rec: &FuncRecord, pc: u64) -> Option<u32> {
        let line = self.pcvalue(data, rec.pcln, func.entry, pc)?;
        u32::try_from(line).ok().filter(|&l| l > 0)
    }

    /// The source file of `pc` in the function: a per-CU file number,
    /// mapped through the CU table to the file-name table.
    pub fn file<'d>(
        &self,
        data: &'d [u8],
        func: &Func,
        rec: &FuncRecord,
        pc: u64,
    ) -> Option<&'d [u8]> {
        let number = self.pcvalue(data, rec.pcfile, func.entry, pc)?;
        let index = rec.cu_offset.checked_add(u32::try_from(number).ok()?)?;
        let cutab = Self::area(data, self.cutab);
        let name_at = u32_at(cutab, usize::try_from(index).ok()?.checked_mul(4)?)?;
        if name_at == u32::MAX {
            return None;
        }
        cstr_at(
            Self::area(data, self.filetab),
            usize::try_from(name_at).ok()?,
        )
    }

    /// The `i`th pc-data table offset of the function (0: none).
    pub fn pcdata(&self, data: &[u8], rec: &FuncRecord, i: usize) -> Option<u32> {
        if i >= usize::try_from(rec.npcdata).ok()? {
            return None;
        }
        let at = rec
            .record
            .checked_add(self.version.func_size(self.ptr_size))?
            .checked_add(4 * i)?;
        u32_at(Self::area(data, self.funcs), at)
    }

    /// Where funcdata `i` of the function lies. `section_address` is the
    /// address of the section `data` was read from (1.16 aligns its pointer
    /// array by address).
    pub fn funcdata(
        &self,
        data: &[u8],
        rec: &FuncRecord,
        i: usize,
        section_address: u64,
    ) -> Option<FuncData> {
        if i >= usize::from(rec.nfuncdata) {
            return None;
        }
        let funcs = Self::area(data, self.funcs);
        let after_pcdata = rec
            .record
            .checked_add(self.version.func_size(self.ptr_size))?
            .checked_add(usize::try_from(rec.npcdata).ok()?.checked_mul(4)?)?;
        match self.version {
            Version::Go116 => {
                let mut at = after_pcdata;
                let address =
                    section_address.checked_add(u64::try_from(self.funcs.0 + at).ok()?)?;
                if self.ptr_size == 8 && address % 8 != 0 {
                    at += 4;
                }
                let pointer = word_at(funcs, at + i * self.ptr_size, self.ptr_size)?;
                (pointer != 0).then_some(FuncData::Address(pointer))
            }
            Version::Go118 | Version::Go120 => {
                let offset = u32_at(funcs, after_pcdata + 4 * i)?;
                (offset != u32::MAX).then_some(FuncData::GoFuncOffset(offset))
            }
        }
    }

    /// Offset of the function-name table in the section (the module data
    /// points there, which helps recognize it).
    pub fn funcnames_offset(&self) -> usize {
        self.funcnames.0
    }

    /// Offset of the function table in the section.
    pub fn ftab_offset(&self) -> usize {
        self.funcs.0
    }

    /// Entry of the first function and end of the last.
    pub fn pc_range(&self, data: &[u8]) -> Option<(u64, u64)> {
        Some((self.row(data, 0)?.0, self.row(data, self.nfunc)?.0))
    }
}

/// Where a function's funcdata lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuncData {
    /// An address (Go 1.16/1.17).
    Address(u64),
    /// An offset from `go:func.*` (Go 1.18+).
    GoFuncOffset(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_pcvalue_tables_decode_as_the_runtime_does() {
        let mut at = 0;
        assert_eq!(varint(&[0x96, 0x01], &mut at), Some(150));
        assert_eq!(at, 2);
        // Truncated and over-long varints are errors, not panics.
        assert_eq!(varint(&[0x80], &mut 0), None);
        assert_eq!(varint(&[0xff; 6], &mut 0), None);

        // A header-less table for pcvalue: the area is the whole slice.
        let table = Pclntab {
            version: Version::Go118,
            ptr_size: 8,
            quantum: 1,
            nfunc: 0,
            text_start: 0,
            funcnames: (0, 0),
            cutab: (0, 0),
            filetab: (0, 0),
            pctab: (0, 8),
            funcs: (0, 0),
        };
        // At offset 1: +11 (zig-zag 22) for 4 bytes, then -1 (1) for 6
        // bytes, then the end.
        let data = [0u8, 22, 4, 1, 6, 0, 0, 0];
        let at = |pc| table.pcvalue(&data, 1, 100, pc);
        assert_eq!(at(100), Some(10));
        assert_eq!(at(103), Some(10));
        assert_eq!(at(104), Some(9));
        assert_eq!(at(109), Some(9));
        assert_eq!(at(110), None);
        assert_eq!(table.pcvalue(&data, 0, 100, 100), None);
        assert_eq!(table.pcvalue(&data, 7, 100, 100), None);
        assert_eq!(table.pcvalue(&data, 1000, 100, 100), None);
    }

    #[test]
    fn unknown_magic_and_short_or_inconsistent_headers_are_errors() {
        assert!(matches!(
            Pclntab::parse(&[0xfb, 0xff, 0xff, 0xff, 0, 0, 1, 8]),
            Err(GoTableError::UnknownMagic { magic: 0xffff_fffb })
        ));
        assert!(Pclntab::parse(&[0xf0, 0xff]).is_err());
        let mut header = vec![0xf0, 0xff, 0xff, 0xff, 0, 0, 1, 8];
        header.resize(8 + 8 * 8, 0);
        // nfunc huge: the function table cannot fit.
        header[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Pclntab::parse(&header).is_err());
        // Offsets out of order.
        header[8..16].copy_from_slice(&0u64.to_le_bytes());
        header[8 + 3 * 8..8 + 4 * 8].copy_from_slice(&60u64.to_le_bytes());
        assert!(Pclntab::parse(&header).is_err());
    }
}
