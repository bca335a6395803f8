//! Unwind rows for Go code, from the runtime's own line table.
//!
//! Go emits no `.eh_frame`, its `.debug_frame` is compressed and absent
//! from stripped binaries, and a leaf function with no stack frame saves
//! no frame pointer, so a frame-pointer walk loses the caller of every hot
//! leaf. But every Go binary, stripped or not, keeps `.gopclntab`, which
//! the Go runtime unwinds with: per function, a `pcsp` table gives the
//! stack pointer's distance from its value at entry for every pc. That is
//! exactly a CFA rule: CFA = rsp + delta + 8, the return address just below
//! it. Once a function has moved rsp, Go's prologue has saved the caller's
//! rbp just below the return address (all Go functions with a frame keep a
//! frame pointer on amd64), so rbp is at CFA - 16 there and unchanged
//! elsewhere. Functions the runtime marks as the top of a stack
//! (`runtime.goexit`, `runtime.mstart`, `runtime.rt0_go`) end a walk
//! cleanly; those that switch stacks (`SPWRITE`: `systemstack`, `mcall`,
//! `morestack`) are marked unsupported, so a walk through them is marked
//! truncated rather than followed into the wrong stack.
//!
//! The layout read is that of Go 1.18 and later (`pcHeader` magic
//! `0xfffffff0`, and `0xfffffff1` from 1.20, whose `_func` gained a
//! `startLine` before its flags). Anything else, or any offset out of
//! bounds, gives no rows: the binary is then walked by frame pointers, as
//! before.

use super::row::{CfaRule, RaRule, RbpRule, Rules};

/// `pcHeader.magic` of Go 1.18 and 1.19.
const MAGIC_118: u32 = 0xffff_fff0;
/// `pcHeader.magic` from Go 1.20 on.
const MAGIC_120: u32 = 0xffff_fff1;
/// `funcFlag_TOPFRAME`: the function is the outermost frame of a stack.
const FLAG_TOPFRAME: u8 = 1;
/// `funcFlag_SPWRITE`: the function writes rsp in ways pcsp cannot say.
const FLAG_SPWRITE: u8 = 2;

/// The rules of one pc range of a Go function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct GoRange {
    /// ELF virtual addresses `[start, end)`.
    pub start: u64,
    pub end: u64,
    pub rules: Rules,
}

/// Why a `.gopclntab` gave no rows.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum GoTableError {
    /// A Go version whose table layout this code does not read.
    #[error("unsupported .gopclntab (magic {0:#x}, Go before 1.18 or not amd64)")]
    Unsupported(u32),
    /// An offset or length points outside the section.
    #[error("malformed .gopclntab: {0}")]
    Malformed(&'static str),
}

/// Reads little-endian words of a byte slice, bounds-checked.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u32(&self, at: usize) -> Result<u32, GoTableError> {
        let bytes = self
            .0
            .get(at..at.checked_add(4).ok_or(GoTableError::Malformed("offset"))?)
            .ok_or(GoTableError::Malformed("u32 past the end"))?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn u64(&self, at: usize) -> Result<u64, GoTableError> {
        let bytes = self
            .0
            .get(at..at.checked_add(8).ok_or(GoTableError::Malformed("offset"))?)
            .ok_or(GoTableError::Malformed("u64 past the end"))?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    fn u8(&self, at: usize) -> Result<u8, GoTableError> {
        self.0
            .get(at)
            .copied()
            .ok_or(GoTableError::Malformed("u8 past the end"))
    }

    fn from(&self, at: usize) -> Result<&[u8], GoTableError> {
        self.0
            .get(at..)
            .ok_or(GoTableError::Malformed("table past the end"))
    }
}

/// The pc ranges of every function in `pclntab` (the section's bytes) with
/// their unwind rules, in ftab order.
pub(super) fn go_ranges(pclntab: &[u8]) -> Result<Vec<GoRange>, GoTableError> {
    let table = Bytes(pclntab);
    let magic = table.u32(0)?;
    let start_line = match magic {
        MAGIC_118 => false,
        MAGIC_120 => true,
        other => return Err(GoTableError::Unsupported(other)),
    };
    // pad1, pad2, minLC, ptrSize.
    let (min_lc, ptr_size) = (table.u8(6)?, table.u8(7)?);
    if ptr_size != 8 || min_lc != 1 {
        return Err(GoTableError::Unsupported(magic));
    }
    let nfunc = usize::try_from(table.u64(8)?).map_err(|_| GoTableError::Malformed("nfunc"))?;
    let text_start = table.u64(24)?;
    let offset = |at| {
        table
            .u64(at)
            .and_then(|v| usize::try_from(v).map_err(|_| GoTableError::Malformed("offset")))
    };
    let (pctab, funcs) = (offset(56)?, offset(64)?);
    // ftab: nfunc + 1 (entryoff, funcoff) pairs, the last closing the text.
    if nfunc
        .checked_add(1)
        .and_then(|n| n.checked_mul(8))
        .is_none_or(|len| len > pclntab.len())
    {
        return Err(GoTableError::Malformed("nfunc larger than the table"));
    }
    let ftab = |i: usize| -> Result<(u32, u32), GoTableError> {
        let at = funcs + i * 8;
        Ok((table.u32(at)?, table.u32(at + 4)?))
    };
    let (flag_at, _) = if start_line { (41, 40) } else { (37, 36) };
    let mut ranges = Vec::with_capacity(nfunc * 3);
    for i in 0..nfunc {
        let (entry_off, func_off) = ftab(i)?;
        let (next_entry, _) = ftab(i + 1)?;
        let entry = text_start + u64::from(entry_off);
        let end = text_start + u64::from(next_entry);
        if end <= entry {
            continue;
        }
        let func = funcs + func_off as usize;
        if table.u32(func)? != entry_off {
            return Err(GoTableError::Malformed("a _func names another entry"));
        }
        let pcsp = table.u32(func + 16)? as usize;
        let flag = table.u8(func + flag_at)?;
        if flag & FLAG_TOPFRAME != 0 {
            ranges.push(GoRange {
                start: entry,
                end,
                rules: Rules {
                    cfa: CfaRule::Rsp(8),
                    rbp: RbpRule::Unchanged,
                    ra: RaRule::Undefined,
                },
            });
            continue;
        }
        if flag & FLAG_SPWRITE != 0 || pcsp == 0 {
            ranges.push(GoRange {
                start: entry,
                end,
                rules: Rules {
                    cfa: CfaRule::Unsupported,
                    rbp: RbpRule::Unchanged,
                    ra: RaRule::AtCfa(-8),
                },
            });
            continue;
        }
        let values = table.from(
            pctab
                .checked_add(pcsp)
                .ok_or(GoTableError::Malformed("pcsp"))?,
        )?;
        for (start, stop, delta) in PcValues::new(values, entry, end) {
            let Ok(cfa) = i32::try_from(i64::from(delta) + 8) else {
                continue;
            };
            ranges.push(GoRange {
                start,
                end: stop,
                rules: Rules {
                    cfa: if delta < 0 {
                        CfaRule::Unsupported
                    } else {
                        CfaRule::Rsp(cfa)
                    },
                    rbp: if delta > 0 {
                        RbpRule::AtCfa(-16)
                    } else {
                        RbpRule::Unchanged
                    },
                    ra: RaRule::AtCfa(-8),
                },
            });
        }
    }
    Ok(ranges)
}

/// The runs of one pc-value table: `(start, end, value)` in pc order,
/// clipped to the function's `[entry, end)`. The encoding is Go's: pairs of
/// a zig-zag varint value delta and a varint pc delta, the value starting
/// at -1, ended by a zero value delta after the first pair.
struct PcValues<'a> {
    bytes: &'a [u8],
    pc: u64,
    end: u64,
    value: i32,
    first: bool,
}

impl<'a> PcValues<'a> {
    fn new(bytes: &'a [u8], entry: u64, end: u64) -> Self {
        Self {
            bytes,
            pc: entry,
            end,
            value: -1,
            first: true,
        }
    }

    fn varint(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let (&byte, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            value |= u32::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

impl Iterator for PcValues<'_> {
    type Item = (u64, u64, i32);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pc >= self.end {
            return None;
        }
        let raw = self.varint()?;
        if raw == 0 && !self.first {
            return None;
        }
        self.first = false;
        let delta = (raw >> 1) as i32 ^ -((raw & 1) as i32);
        self.value = self.value.wrapping_add(delta);
        let length = u64::from(self.varint()?);
        let start = self.pc;
        self.pc = self.pc.saturating_add(length).min(self.end);
        (self.pc > start).then_some((start, self.pc, self.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pc_values_decode_gos_encoding() {
        // value -1 -> 0 over 4 bytes, then +8 over 10, then -8 over 2.
        let bytes = [0x02, 0x04, 0x10, 0x0a, 0x0f, 0x02, 0x00];
        let runs: Vec<_> = PcValues::new(&bytes, 0x1000, 0x2000).collect();
        assert_eq!(
            runs,
            vec![
                (0x1000, 0x1004, 0),
                (0x1004, 0x100e, 8),
                (0x100e, 0x1010, 0)
            ]
        );
        // Clipped at the function's end, and a truncated table just stops.
        let runs: Vec<_> = PcValues::new(&bytes, 0x1000, 0x1006).collect();
        assert_eq!(runs, vec![(0x1000, 0x1004, 0), (0x1004, 0x1006, 8)]);
        assert_eq!(PcValues::new(&bytes[..3], 0x1000, 0x2000).count(), 1);
    }

    #[test]
    fn other_tables_are_refused_not_misread() {
        assert_eq!(
            go_ranges(&[0xfa, 0xff, 0xff, 0xff, 0, 0, 1, 8]),
            Err(GoTableError::Unsupported(0xffff_fffa))
        );
        assert!(matches!(
            go_ranges(&[0xf0, 0xff, 0xff, 0xff, 0, 0, 1, 8, 0xff]),
            Err(GoTableError::Malformed(_))
        ));
        // A huge nfunc is refused before anything is allocated for it.
        let mut header = vec![0xf0, 0xff, 0xff, 0xff, 0, 0, 1, 8];
        header.extend_from_slice(&u64::MAX.to_le_bytes());
        header.resize(72, 0);
        assert!(matches!(
            go_ranges(&header),
            Err(GoTableError::Malformed(_))
        ));
    }
}
