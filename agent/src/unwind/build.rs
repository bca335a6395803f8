//! Building an [`UnwindTable`] from an ELF file's `.eh_frame` and
//! `.debug_frame` with `gimli`, and for Go code from `.gopclntab`
//! (`super::go`).
//!
//! Every FDE is evaluated row by row; each row's CFA, rbp and return-address
//! rules are reduced to the [`Rules`] the compact format encodes (anything
//! else becomes `Unsupported`, counted), its addresses are translated from
//! ELF virtual addresses to file offsets through the executable `PT_LOAD`
//! that holds the FDE, and the rows of all FDEs are sorted, merged when
//! their rules are equal, and closed with an end marker where an FDE ends
//! and no other begins. `.eh_frame` wins where both sections describe an
//! address. One malformed FDE is skipped and counted; it never fails the
//! table.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use augur_profile::FileId;
use gimli::{
    BaseAddresses, CfaRule as GimliCfa, CieOrFde, CommonInformationEntry, DebugFrame, EhFrame,
    EndianSlice, LittleEndian, Operation, Register, RegisterRule, UnwindContext, UnwindSection,
    X86_64,
};
use object::{Object, ObjectSection, ObjectSegment, ReadCache, ReadRef, SegmentFlags};

use super::row::{CfaRule, RaRule, RbpRule, Rules, UnwindRow};
use super::{TableStats, UnwindError, UnwindTable};

type Slice<'a> = EndianSlice<'a, LittleEndian>;

/// Builds the table of the ELF file at `path`, reading only its headers and
/// the sections it needs.
pub fn build_table_from_path(path: &Path) -> Result<UnwindTable, UnwindError> {
    let file = std::fs::File::open(path).map_err(|source| UnwindError::Read {
        path: path.to_owned(),
        source,
    })?;
    let cache = ReadCache::new(file);
    build_table(&cache)
}

/// Builds the table of the ELF file at `path` if its GNU build-id is
/// `build_id` (a binary replaced on disk must not lend its table to the
/// build that is running) and its `.eh_frame` and `.debug_frame` together
/// hold at most `max_unwind_info` bytes (checked before any is parsed).
pub fn build_table_for(
    path: &Path,
    build_id: &FileId,
    max_unwind_info: u64,
) -> Result<UnwindTable, UnwindError> {
    let started = Instant::now();
    let file = std::fs::File::open(path).map_err(|source| UnwindError::Read {
        path: path.to_owned(),
        source,
    })?;
    // The file's own id (build-id, else content id) must be the one asked
    // for: the path may name a newer build since the process mapped it.
    let found = crate::identity::file_id(&file).map_err(|source| UnwindError::Read {
        path: path.to_owned(),
        source,
    })?;
    let cache = ReadCache::new(file);
    let elf = object::File::parse(&cache).map_err(|e| UnwindError::NotElf(e.to_string()))?;
    if found != *build_id {
        return Err(UnwindError::BuildIdMismatch {
            path: path.to_owned(),
            wanted: build_id.to_hex(),
            found: found.to_hex(),
        });
    }
    let bytes: u64 = [".eh_frame", ".debug_frame"]
        .iter()
        .filter_map(|name| elf.section_by_name(name))
        .map(|s| s.size())
        .sum();
    if bytes > max_unwind_info {
        return Err(UnwindError::TooMuchUnwindInfo {
            bytes,
            max: max_unwind_info,
        });
    }
    build_from_elf(&elf, started)
}

/// How many bytes of unwind information a build of the file at `path`
/// would parse (`.eh_frame`, `.debug_frame` and Go's `.gopclntab`): what
/// its build time follows. Reads the section headers only.
pub fn unwind_info_bytes(path: &Path) -> Result<u64, UnwindError> {
    let file = std::fs::File::open(path).map_err(|source| UnwindError::Read {
        path: path.to_owned(),
        source,
    })?;
    let cache = ReadCache::new(file);
    let elf = object::File::parse(&cache).map_err(|e| UnwindError::NotElf(e.to_string()))?;
    Ok([".eh_frame", ".debug_frame", ".gopclntab"]
        .iter()
        .filter_map(|name| elf.section_by_name(name))
        .map(|s| s.size())
        .sum())
}

/// Builds the table of an ELF image (`&[u8]` or a `ReadCache`).
pub fn build_table<'data, R: ReadRef<'data>>(data: R) -> Result<UnwindTable, UnwindError> {
    let started = Instant::now();
    let elf = object::File::parse(data).map_err(|e| UnwindError::NotElf(e.to_string()))?;
    build_from_elf(&elf, started)
}

fn build_from_elf<'data, R: ReadRef<'data>>(
    elf: &object::File<'data, R>,
    started: Instant,
) -> Result<UnwindTable, UnwindError> {
    if elf.architecture() != object::Architecture::X86_64 {
        return Err(UnwindError::Architecture(format!(
            "{:?}",
            elf.architecture()
        )));
    }
    let segments = executable_segments(elf);
    let mut stats = TableStats::default();
    let mut collector = Collector {
        segments: &segments,
        spans: Vec::new(),
        rows: Vec::new(),
        too_large: None,
        stats: &mut stats,
    };

    let mut found = false;
    let eh_frame = elf.section_by_name(".eh_frame");
    if let Some((section, data)) = eh_frame.as_ref().and_then(|s| Some((s, section_bytes(s)?))) {
        found = true;
        let mut eh = EhFrame::new(data, LittleEndian);
        eh.set_address_size(8);
        let mut bases = BaseAddresses::default().set_eh_frame(section.address());
        if let Some(text) = elf.section_by_name(".text") {
            bases = bases.set_text(text.address());
        }
        if let Some(got) = elf.section_by_name(".got") {
            bases = bases.set_got(got.address());
        }
        collector.section(&eh, &bases, Source::EhFrame);
    }
    // Go code, which `.eh_frame` never describes: from the runtime's own
    // table, preferred to a `.debug_frame` (compressed, and gone when
    // stripped).
    if let Some(data) = elf
        .section_by_name(".gopclntab")
        .as_ref()
        .and_then(section_bytes)
    {
        match super::go::go_ranges(data) {
            Ok(ranges) => {
                found |= !ranges.is_empty();
                collector.go(&ranges);
            }
            Err(error) => tracing::debug!(%error, "no unwind rows from .gopclntab"),
        }
    }
    let eh_spans = collector.spans.len();
    if let Some(section) = elf.section_by_name(".debug_frame") {
        match section_bytes(&section) {
            Some(data) => {
                found = true;
                let mut debug = DebugFrame::new(data, LittleEndian);
                debug.set_address_size(8);
                // FDEs `.eh_frame` already describes are not read twice.
                collector.spans.sort_unstable();
                collector.section(
                    &debug,
                    &BaseAddresses::default(),
                    Source::DebugFrame { eh_spans },
                );
            }
            None => collector.stats.debug_frame_unreadable = true,
        }
    }
    if !found {
        return Err(UnwindError::NoUnwindInfo);
    }

    if let Some(offset) = collector.too_large {
        return Err(UnwindError::TooLarge { offset });
    }
    let rows = finish(std::mem::take(&mut collector.rows), &mut stats);
    let text = elf.section_by_name(".text");
    if let Some(range) =
        text.and_then(|t| file_range(&segments, t.address(), t.address() + t.size()))
    {
        stats.text_bytes = range.1 - range.0;
        (stats.text_covered_bytes, stats.text_supported_bytes) = coverage(&rows, range);
    }
    stats.rows = rows.len();
    stats.bytes = std::mem::size_of_val(&rows[..]);
    stats.build_time = started.elapsed();
    Ok(UnwindTable { rows, stats })
}

/// An executable `PT_LOAD`: virtual address range and file offset.
#[derive(Clone, Copy, Debug)]
struct Segment {
    vaddr: u64,
    filesz: u64,
    offset: u64,
}

fn executable_segments<'data, R: ReadRef<'data>>(elf: &object::File<'data, R>) -> Vec<Segment> {
    elf.segments()
        .filter(|s| matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0))
        .map(|s| {
            let (offset, filesz) = s.file_range();
            Segment {
                vaddr: s.address(),
                filesz,
                offset,
            }
        })
        .collect()
}

/// File offsets of `[start, end)`, clipped to the executable segment that
/// holds `start`.
fn file_range(segments: &[Segment], start: u64, end: u64) -> Option<(u64, u64)> {
    let seg = segments
        .iter()
        .find(|s| start >= s.vaddr && start < s.vaddr + s.filesz)?;
    let end = end.min(seg.vaddr + seg.filesz);
    Some((start - seg.vaddr + seg.offset, end - seg.vaddr + seg.offset))
}

fn section_bytes<'data, R: ReadRef<'data>>(
    section: &object::Section<'data, '_, R>,
) -> Option<&'data [u8]> {
    // Compressed `.debug_frame` would need a decompressor; it is rare for
    // the binaries that run, and `.eh_frame` is never compressed.
    let compressed = section.compressed_file_range().ok()?;
    if compressed.format != object::CompressionFormat::None {
        return None;
    }
    section.data().ok().filter(|d| !d.is_empty())
}

#[derive(Clone, Copy)]
enum Source {
    EhFrame,
    /// Skip FDEs overlapping the first `eh_spans` spans (sorted).
    DebugFrame {
        eh_spans: usize,
    },
}

/// One evaluated row before merging: the encoded row (its `pc` is the
/// start) and the file offset where it ends. 16 bytes: a large binary has
/// a million of these while its table is built.
struct RawRow {
    row: UnwindRow,
    end: u32,
}

struct Collector<'a> {
    segments: &'a [Segment],
    /// Virtual address ranges of the FDEs taken, for `.debug_frame`.
    spans: Vec<(u64, u64)>,
    rows: Vec<RawRow>,
    /// The first file offset found beyond `u32`.
    too_large: Option<u64>,
    stats: &'a mut TableStats,
}

impl Collector<'_> {
    fn section<'d, S: UnwindSection<Slice<'d>>>(
        &mut self,
        section: &S,
        bases: &BaseAddresses,
        source: Source,
    ) where
        S::Offset: std::hash::Hash,
    {
        let mut ctx = UnwindContext::new();
        let mut cies: HashMap<S::Offset, CommonInformationEntry<Slice<'d>>> = HashMap::new();
        let mut entries = section.entries(bases);
        loop {
            let entry = match entries.next() {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(_) => {
                    // The next entry cannot be found: keep what was read.
                    self.stats.section_errors += 1;
                    break;
                }
            };
            let CieOrFde::Fde(partial) = entry else {
                continue;
            };
            let fde = partial.parse(|section, bases, offset| {
                if let Some(cie) = cies.get(&offset) {
                    return Ok(cie.clone());
                }
                let cie = section.cie_from_offset(bases, offset)?;
                cies.insert(offset, cie.clone());
                Ok(cie)
            });
            let Ok(fde) = fde else {
                self.stats.fdes_malformed += 1;
                continue;
            };
            let (start, end) = (fde.initial_address(), fde.end_address());
            if start == 0 || end <= start {
                // Discarded by the linker (`--gc-sections` leaves pc=0).
                self.stats.fdes_skipped += 1;
                continue;
            }
            if let Source::DebugFrame { eh_spans } = source {
                if overlaps(&self.spans[..eh_spans], start, end) {
                    continue;
                }
            }
            let Some(seg) = self
                .segments
                .iter()
                .find(|s| start >= s.vaddr && start < s.vaddr + s.filesz)
                .copied()
            else {
                self.stats.fdes_skipped += 1;
                continue;
            };
            let seg_end = seg.vaddr + seg.filesz;
            let signal = fde.is_signal_trampoline();
            let mark = self.rows.len();
            let Ok(mut table) = fde.rows(section, bases, &mut ctx) else {
                self.stats.fdes_malformed += 1;
                continue;
            };
            let mut failed = false;
            loop {
                match table.next_row() {
                    Ok(Some(row)) => {
                        let (row_start, row_end) =
                            (row.start_address(), row.end_address().min(seg_end));
                        if row_start >= row_end {
                            continue;
                        }
                        let rules = if signal {
                            Rules {
                                cfa: CfaRule::Signal,
                                ..Rules::END
                            }
                        } else {
                            rules_of(section, row)
                        };
                        self.count(rules);
                        let (start, end) = (
                            row_start - seg.vaddr + seg.offset,
                            row_end - seg.vaddr + seg.offset,
                        );
                        match (u32::try_from(start), u32::try_from(end)) {
                            (Ok(start), Ok(end)) => self.rows.push(RawRow {
                                row: rules.to_row(start),
                                end,
                            }),
                            _ => {
                                self.too_large.get_or_insert(start);
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                self.rows.truncate(mark);
                self.stats.fdes_malformed += 1;
                continue;
            }
            self.stats.fdes += 1;
            if matches!(source, Source::DebugFrame { .. }) {
                self.stats.fdes_debug_frame += 1;
            }
            self.spans.push((start, end));
        }
    }

    /// Takes the rows of Go functions ([`super::go::go_ranges`]).
    fn go(&mut self, ranges: &[super::go::GoRange]) {
        let mut function: Option<(u64, u64)> = None;
        for range in ranges {
            let Some((start, end)) = file_range(self.segments, range.start, range.end) else {
                self.stats.fdes_skipped += 1;
                continue;
            };
            self.count(range.rules);
            match (u32::try_from(start), u32::try_from(end)) {
                (Ok(start), Ok(end)) => self.rows.push(RawRow {
                    row: range.rules.to_row(start),
                    end,
                }),
                _ => {
                    self.too_large.get_or_insert(start);
                }
            }
            // One span per function (runs of one function are adjacent),
            // so `.debug_frame` does not describe it again.
            match &mut function {
                Some((_, end)) if *end == range.start => *end = range.end,
                _ => {
                    if let Some(span) = function.take() {
                        self.spans.push(span);
                    }
                    function = Some((range.start, range.end));
                }
            }
        }
        self.spans.extend(function);
    }

    fn count(&mut self, rules: Rules) {
        if rules.cfa == CfaRule::Unsupported {
            self.stats.rows_cfa_unsupported += 1;
        }
        if rules.rbp == RbpRule::Unsupported {
            self.stats.rows_rbp_unsupported += 1;
        }
        if rules.ra == RaRule::Unsupported {
            self.stats.rows_ra_unsupported += 1;
        }
    }
}

fn overlaps(sorted: &[(u64, u64)], start: u64, end: u64) -> bool {
    // The last span starting before `end` is the only candidate that can
    // reach into `[start, end)`, as long as spans do not nest; check a few
    // before it for the nested case.
    let i = sorted.partition_point(|&(s, _)| s < end);
    sorted[..i].iter().rev().take(4).any(|&(_, e)| e > start)
}

/// The compact rules of one gimli row.
fn rules_of<'d, S: UnwindSection<Slice<'d>>>(
    section: &S,
    row: &gimli::UnwindTableRow<usize>,
) -> Rules {
    let cfa = match row.cfa() {
        GimliCfa::RegisterAndOffset { register, offset } => match i32::try_from(*offset) {
            Ok(offset) if *register == X86_64::RSP => CfaRule::Rsp(offset),
            Ok(offset) if *register == X86_64::RBP => CfaRule::Rbp(offset),
            _ => CfaRule::Unsupported,
        },
        GimliCfa::Expression(expression) => match expression.get(section) {
            Ok(expression) => cfa_expression(expression.0),
            Err(_) => CfaRule::Unsupported,
        },
    };
    let rbp = match row.register(X86_64::RBP) {
        // gimli reads a register the FDE never mentions as `Undefined`, the
        // same as `DW_CFA_undefined`; for callee-saved rbp the former is
        // by far the common one and means "unchanged".
        RegisterRule::Undefined | RegisterRule::SameValue => RbpRule::Unchanged,
        RegisterRule::Offset(offset) => match i16::try_from(offset) {
            Ok(offset) => RbpRule::AtCfa(offset),
            Err(_) => RbpRule::Unsupported,
        },
        _ => RbpRule::Unsupported,
    };
    let ra = match row.register(X86_64::RA) {
        RegisterRule::Undefined => RaRule::Undefined,
        RegisterRule::Offset(offset) => match i8::try_from(offset) {
            Ok(offset) => RaRule::AtCfa(offset),
            Err(_) => RaRule::Unsupported,
        },
        _ => RaRule::Unsupported,
    };
    Rules { cfa, rbp, ra }
}

/// Recognizes the CFA expressions compilers and linkers emit on x86_64:
/// the PLT stub (`breg7 N; breg16 0; lit15; and; litT; ge; lit3; shl;
/// plus`) and the stack-realignment pattern (`breg6 N; deref`).
fn cfa_expression(bytes: Slice<'_>) -> CfaRule {
    let encoding = gimli::Encoding {
        format: gimli::Format::Dwarf32,
        version: 4,
        address_size: 8,
    };
    let mut ops = Vec::with_capacity(9);
    let mut input = bytes;
    while !input.is_empty() {
        match Operation::parse(&mut input, encoding) {
            Ok(op) if ops.len() < 9 => ops.push(op),
            _ => return CfaRule::Unsupported,
        }
    }
    let reg = |op: &Operation<Slice<'_>>, want: Register| match op {
        Operation::RegisterOffset {
            register, offset, ..
        } if *register == want => i32::try_from(*offset).ok(),
        _ => None,
    };
    let constant = |op: &Operation<Slice<'_>>| match op {
        Operation::UnsignedConstant { value } => Some(*value),
        _ => None,
    };
    match ops.as_slice() {
        [
            base,
            rip,
            mask,
            Operation::And,
            threshold,
            Operation::Ge,
            shift,
            Operation::Shl,
            Operation::Plus,
        ] => {
            let rsp_offset = reg(base, X86_64::RSP);
            let rip_ok = reg(rip, X86_64::RA) == Some(0);
            match (
                rsp_offset,
                rip_ok,
                constant(mask),
                constant(threshold),
                constant(shift),
            ) {
                (Some(rsp_offset), true, Some(15), Some(threshold @ 0..=15), Some(3)) => {
                    CfaRule::Plt {
                        rsp_offset,
                        threshold: threshold as u8,
                    }
                }
                _ => CfaRule::Unsupported,
            }
        }
        [
            base,
            Operation::Deref {
                size: 8,
                space: false,
                ..
            },
        ] => match reg(base, X86_64::RBP) {
            Some(offset) => CfaRule::DerefRbp(offset),
            None => CfaRule::Unsupported,
        },
        _ => CfaRule::Unsupported,
    }
}

/// Sorts, resolves overlaps (the later start wins from there on), inserts
/// end markers at gaps, and merges rows with equal rules.
fn finish(mut raw: Vec<RawRow>, stats: &mut TableStats) -> Box<[UnwindRow]> {
    // Stable: rows of one FDE keep their order when two FDEs share a start.
    raw.sort_by_key(|r| r.row.pc);
    let mut rows: Vec<UnwindRow> = Vec::with_capacity(raw.len() / 2 + 1);
    let mut covered_to: Option<u32> = None;
    for RawRow { row, end } in raw {
        match covered_to {
            Some(to) if row.pc > to => push(&mut rows, Rules::END.to_row(to)),
            Some(to) if row.pc < to => stats.overlapping_rows += 1,
            _ => {}
        }
        push(&mut rows, row);
        covered_to = Some(end);
    }
    if let Some(to) = covered_to {
        push(&mut rows, Rules::END.to_row(to));
    }
    rows.into_boxed_slice()
}

fn push(rows: &mut Vec<UnwindRow>, row: UnwindRow) {
    // A row at the same start replaces the previous one.
    while rows.last().is_some_and(|last| last.pc == row.pc) {
        rows.pop();
    }
    if rows.last().is_some_and(|last| last.same_rules(&row)) {
        return;
    }
    // Leading end markers say nothing: before the first row is no info too.
    if rows.is_empty() && row.is_end() {
        return;
    }
    rows.push(row);
}

/// Bytes of `[range.0, range.1)` covered by rows other than the end marker,
/// and by rows whose rules are all supported.
fn coverage(rows: &[UnwindRow], range: (u64, u64)) -> (u64, u64) {
    let (mut covered, mut supported) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let Some(next) = rows.get(i + 1) else { break };
        let start = u64::from(row.pc).max(range.0);
        let end = u64::from(next.pc).min(range.1);
        if row.is_end() || start >= end {
            continue;
        }
        covered += end - start;
        let rules = row.rules();
        if rules.cfa != CfaRule::Unsupported && rules.ra != RaRule::Unsupported {
            supported += end - start;
        }
    }
    (covered, supported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsp(offset: i32) -> Rules {
        Rules {
            cfa: CfaRule::Rsp(offset),
            rbp: RbpRule::Unchanged,
            ra: RaRule::AtCfa(-8),
        }
    }

    fn raw(start: u32, end: u32, rules: Rules) -> RawRow {
        RawRow {
            row: rules.to_row(start),
            end,
        }
    }

    #[test]
    fn merges_equal_rules_and_marks_gaps() {
        let mut stats = TableStats::default();
        let rows = finish(
            vec![
                raw(0x1000, 0x1001, rsp(8)),
                raw(0x1001, 0x1010, rsp(16)),
                raw(0x1010, 0x1020, rsp(8)),
                // The next function starts at once with the same rule: merged.
                raw(0x1020, 0x1030, rsp(8)),
                // A gap of 0x10 bytes without an FDE.
                raw(0x1040, 0x1050, rsp(8)),
            ],
            &mut stats,
        );
        let got: Vec<(u32, Rules)> = rows.iter().map(|r| (r.pc, r.rules())).collect();
        assert_eq!(
            got,
            vec![
                (0x1000, rsp(8)),
                (0x1001, rsp(16)),
                (0x1010, rsp(8)),
                (0x1030, Rules::END),
                (0x1040, rsp(8)),
                (0x1050, Rules::END),
            ]
        );
        assert_eq!(stats.overlapping_rows, 0);
        assert_eq!(coverage(&rows, (0x1000, 0x1050)), (0x40, 0x40));
    }

    #[test]
    fn later_start_wins_on_overlap() {
        let mut stats = TableStats::default();
        let rows = finish(
            vec![
                raw(0x10, 0x40, rsp(8)),
                raw(0x20, 0x30, rsp(32)),
                raw(0x20, 0x28, rsp(16)),
            ],
            &mut stats,
        );
        let got: Vec<(u32, Rules)> = rows.iter().map(|r| (r.pc, r.rules())).collect();
        assert_eq!(
            got,
            vec![(0x10, rsp(8)), (0x20, rsp(16)), (0x28, Rules::END)]
        );
        assert_eq!(stats.overlapping_rows, 2);
    }

    fn expression(bytes: &[u8]) -> CfaRule {
        cfa_expression(EndianSlice::new(bytes, LittleEndian))
    }

    #[test]
    fn recognizes_cfa_expressions() {
        // breg7 8; breg16 0; lit15; and; lit11; ge; lit3; shl; plus
        let plt = [
            0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22,
        ];
        assert_eq!(
            expression(&plt),
            CfaRule::Plt {
                rsp_offset: 8,
                threshold: 11
            }
        );
        // The IBT PLT compares with lit10.
        let mut ibt = plt;
        ibt[6] = 0x3a;
        assert_eq!(
            expression(&ibt),
            CfaRule::Plt {
                rsp_offset: 8,
                threshold: 10
            }
        );
        // breg6 -8; deref
        assert_eq!(expression(&[0x76, 0x78, 0x06]), CfaRule::DerefRbp(-8));
        // Signal frame CFA (breg7 160; deref) is only valid with the `S`
        // augmentation, which the FDE carries, not the expression.
        assert_eq!(expression(&[0x77, 0xa0, 0x01, 0x06]), CfaRule::Unsupported);
        // A PLT-like expression on another register, or with a mask of 7.
        let mut other = plt;
        other[0] = 0x76;
        assert_eq!(expression(&other), CfaRule::Unsupported);
        let mut mask = plt;
        mask[4] = 0x37;
        assert_eq!(expression(&mask), CfaRule::Unsupported);
        // Truncated input.
        assert_eq!(expression(&plt[..3]), CfaRule::Unsupported);
    }
}
