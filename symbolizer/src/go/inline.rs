//! A function's inline tree (`FUNCDATA_InlTree`): one record per inlined
//! call, naming the callee and the pc (`parentPc`) of an instruction that
//! stands at the call site in the caller.
//!
//! The record shrank in Go 1.20 (no parent index, file or line: the caller
//! and its line are found by looking `parentPc` up again), so this reader
//! uses only the fields both layouts share: the callee's name offset and
//! `parentPc`. [`chain`] walks the tree the way the runtime's tracebacks do.

use augur_profile::Symbol;

use super::GoTableError;
use super::pclntab::{Func, FuncRecord, PCDATA_INL_TREE_INDEX, Pclntab, Version};

/// Deepest inline chain followed; a corrupt tree could otherwise loop.
const MAX_INLINE_DEPTH: usize = 64;

/// One inlined call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InlinedCall {
    /// Offset of the callee's name in the function-name table.
    pub name_off: u32,
    /// Offset from the function's entry of an instruction at the call site.
    pub parent_pc: u32,
}

/// The inline tree of one function: its bytes, from its start to the end
/// of the section holding it (the tree's own length is not recorded).
pub struct InlineTree<'d> {
    bytes: &'d [u8],
    version: Version,
}

impl<'d> InlineTree<'d> {
    pub fn new(bytes: &'d [u8], version: Version) -> Self {
        Self { bytes, version }
    }

    /// Record `index` of the tree, if it lies within the bytes.
    pub fn call(&self, index: i32) -> Option<InlinedCall> {
        // 1.16-1.19: parent i16, funcID u8, pad, file i32, line i32,
        // func_ i32, parentPc i32. 1.20+: funcID u8, pad [3], nameOff i32,
        // parentPc i32, startLine i32.
        let (size, name_at, parent_pc_at) = match self.version {
            Version::Go116 | Version::Go118 => (20, 12, 16),
            Version::Go120 => (16, 4, 8),
        };
        let start = usize::try_from(index).ok()?.checked_mul(size)?;
        let record = self.bytes.get(start..start.checked_add(size)?)?;
        let field = |at: usize| u32::from_le_bytes(record[at..at + 4].try_into().unwrap_or([0; 4]));
        Some(InlinedCall {
            name_off: field(name_at),
            parent_pc: field(parent_pc_at),
        })
    }
}

/// The inline chain at `address` in `func`, innermost first: the
/// innermost frame has the instruction's own file and line, each caller the
/// line of its call site. Without a tree (or its bytes) the chain is the
/// function alone, at the instruction's file and line.
pub fn chain(
    table: &Pclntab,
    data: &[u8],
    func: &Func,
    record: &FuncRecord,
    tree: Option<&InlineTree<'_>>,
    address: u64,
) -> Result<Vec<Symbol>, GoTableError> {
    let name = table
        .name(data, record.name_off)
        .ok_or(GoTableError::Malformed("function name past the section"))?;
    let symbol = |name: &[u8], pc: u64| {
        // A file without a line would mislead (as in `inline_chain`).
        let line = table.line(data, func, record, pc);
        let file = line.and(table.file(data, func, record, pc));
        Symbol {
            function: String::from_utf8_lossy(name).into_owned(),
            file: file.map(|f| String::from_utf8_lossy(f).into_owned()),
            line: line.filter(|_| file.is_some()),
        }
    };
    let mut chain = Vec::new();
    let mut pc = address;
    // Whether `pc` is a call site of the outermost function, which the
    // walk can lose on a broken tree.
    let mut outer_line_known = true;
    if let Some(tree) = tree {
        let index_table = table
            .pcdata(data, record, PCDATA_INL_TREE_INDEX)
            .unwrap_or(0);
        let mut seen = Vec::new();
        // The pc's tree index names the innermost inlined callee; its
        // parentPc is an instruction of the caller at the call site, whose
        // index (if any) names the next one out.
        while let Some(index) = table
            .pcvalue(data, index_table, func.entry, pc)
            .filter(|&i| i >= 0)
        {
            // Real tables have cycles too: Go 1.23 marks the entry of some
            // statically initialized `init`s with an inlined call whose
            // parentPc is the entry itself. The runtime would loop there;
            // stop, and claim no call-site line for the outer frame.
            if seen.contains(&index) || seen.len() == MAX_INLINE_DEPTH {
                outer_line_known = false;
                break;
            }
            seen.push(index);
            let Some(call) = tree.call(index) else { break };
            let Some(callee) = table.name(data, call.name_off) else {
                break;
            };
            chain.push(symbol(callee, pc));
            match func.entry.checked_add(u64::from(call.parent_pc)) {
                Some(caller_pc) if caller_pc < func.end => pc = caller_pc,
                _ => {
                    outer_line_known = false;
                    break;
                }
            }
        }
    }
    let mut outer = symbol(name, pc);
    if !outer_line_known {
        (outer.file, outer.line) = (None, None);
    }
    chain.push(outer);
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::go::pclntab::FuncData;

    /// A pc-value table: `(value, pcs it holds for)` from a start of -1.
    fn pc_table(runs: &[(i32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut value = -1i32;
        for &(next, pcs) in runs {
            let delta = next - value;
            let zigzag = ((delta << 1) ^ (delta >> 31)) as u32;
            for mut v in [zigzag, pcs] {
                while v >= 0x80 {
                    out.push((v as u8) | 0x80);
                    v >>= 7;
                }
                out.push(v as u8);
            }
            value = next;
        }
        out.push(0);
        out
    }

    /// A one-function `.gopclntab` of `version` at `section_address`:
    /// `main.outer` at 0x1000..0x1040 in `a.go`, line 10, 20, 30 and 40
    /// over its four 16-byte quarters; inline index -1, 0, 1, -1.
    fn synthetic(version: Version, section_address: u64) -> Vec<u8> {
        let magic: u32 = match version {
            Version::Go116 => 0xffff_fffa,
            Version::Go118 => 0xffff_fff0,
            Version::Go120 => 0xffff_fff1,
        };
        let names = b"main.outer\0main.inner\0".to_vec();
        let cutab = 0u32.to_le_bytes().to_vec();
        let filetab = b"a.go\0".to_vec();
        let mut pctab = vec![0u8]; // offset 0 means "no table"
        let pcfile = pctab.len() as u32;
        pctab.extend(pc_table(&[(0, 0x40)]));
        let pcln = pctab.len() as u32;
        pctab.extend(pc_table(&[(10, 0x10), (20, 0x10), (30, 0x10), (40, 0x10)]));
        let inl = pctab.len() as u32;
        pctab.extend(pc_table(&[(-1, 0x10), (0, 0x10), (1, 0x10), (-1, 0x10)]));

        let words = if version == Version::Go116 { 7 } else { 8 };
        let mut out = magic.to_le_bytes().to_vec();
        out.extend([0, 0, 1, 8]);
        let header_end = 8 + 8 * words;
        let funcnames = header_end;
        let cu = funcnames + names.len();
        let files = cu + cutab.len();
        let pcs = files + filetab.len();
        let funcs = (pcs + pctab.len()).next_multiple_of(8);
        let mut header = vec![1u64, 1];
        if version != Version::Go116 {
            header.push(0x1000); // textStart
        }
        header.extend([funcnames, cu, files, pcs, funcs].map(|o| o as u64));
        for word in header {
            out.extend(word.to_le_bytes());
        }
        for part in [&names, &cutab, &filetab, &pctab] {
            out.extend(part.iter());
        }
        out.resize(funcs, 0);

        let mut area = Vec::new();
        let record = 32u64;
        match version {
            Version::Go116 => {
                for (entry, off) in [(0x1000u64, record), (0x1040, 0)] {
                    area.extend(entry.to_le_bytes());
                    area.extend(off.to_le_bytes());
                }
                area.extend(0x1000u64.to_le_bytes());
            }
            Version::Go118 | Version::Go120 => {
                for (entry, off) in [(0u32, record as u32), (0x40, 0)] {
                    area.extend(entry.to_le_bytes());
                    area.extend(off.to_le_bytes());
                }
                area.resize(record as usize, 0);
                area.extend(0u32.to_le_bytes());
            }
        }
        if version == Version::Go116 {
            area.resize(record as usize + 8, 0);
        }
        // nameOff, args, deferreturn, pcsp, pcfile, pcln, npcdata, cuOffset.
        for field in [0, 0, 0, 0, pcfile, pcln, 3, 0] {
            area.extend(field.to_le_bytes());
        }
        if version == Version::Go120 {
            area.extend(1u32.to_le_bytes()); // startLine
        }
        area.extend([0, 0, 0, 4]); // funcID, flag, pad, nfuncdata
        for pcdata in [0, 0, inl] {
            area.extend(pcdata.to_le_bytes());
        }
        match version {
            Version::Go116 => {
                // Pointers, 8-aligned by address.
                let address = section_address + (funcs + area.len()) as u64;
                if address % 8 != 0 {
                    area.extend([0; 4]);
                }
                for pointer in [0u64, 0, 0, 0x9000] {
                    area.extend(pointer.to_le_bytes());
                }
            }
            Version::Go118 | Version::Go120 => {
                for offset in [u32::MAX, u32::MAX, u32::MAX, 0x40] {
                    area.extend(offset.to_le_bytes());
                }
            }
        }
        out.extend(area);
        out
    }

    /// Tree entries 0 and 1, both `main.inner` (name offset 11); 0 is
    /// called from 0x1008, 1 claims to be called from its own pc 0x1020.
    fn synthetic_tree(version: Version) -> Vec<u8> {
        let mut tree = Vec::new();
        for parent_pc in [0x08u32, 0x20] {
            match version {
                Version::Go116 | Version::Go118 => {
                    tree.extend((-1i16).to_le_bytes());
                    tree.extend([0, 0]);
                    tree.extend(
                        [0u32, 0, 11, parent_pc]
                            .iter()
                            .flat_map(|v| v.to_le_bytes()),
                    );
                }
                Version::Go120 => {
                    tree.extend([0, 0, 0, 0]);
                    tree.extend([11u32, parent_pc, 1].iter().flat_map(|v| v.to_le_bytes()));
                }
            }
        }
        tree
    }

    fn frames(chain: &[Symbol]) -> Vec<(&str, Option<u32>)> {
        chain
            .iter()
            .map(|s| (s.function.as_str(), s.line))
            .collect()
    }

    #[test]
    fn every_version_walks_inline_trees_and_stops_on_a_cycle() {
        for version in [Version::Go116, Version::Go118, Version::Go120] {
            // An address ending in 4 makes 1.16's pointer array need padding.
            let section_address = 0x5004;
            let data = synthetic(version, section_address);
            let table = Pclntab::parse(&data).unwrap();
            assert_eq!(table.version, version);
            assert_eq!(table.len(), 1);
            let record_of = |address| {
                let func = table.find(&data, address).unwrap();
                (func, table.record(&data, &func).unwrap())
            };
            let (func, record) = record_of(0x1000);
            assert_eq!((func.entry, func.end), (0x1000, 0x1040));
            assert!(table.find(&data, 0xfff).is_none());
            assert!(table.find(&data, 0x1040).is_none());
            let expected_funcdata = match version {
                Version::Go116 => FuncData::Address(0x9000),
                _ => FuncData::GoFuncOffset(0x40),
            };
            assert_eq!(
                table.funcdata(&data, &record, 3, section_address),
                Some(expected_funcdata),
                "{version:?}"
            );
            assert_eq!(table.funcdata(&data, &record, 0, section_address), None);

            let tree_bytes = synthetic_tree(version);
            let tree = InlineTree::new(&tree_bytes, version);
            let at = |address| {
                let chain = chain(&table, &data, &func, &record, Some(&tree), address).unwrap();
                frames(&chain)
                    .into_iter()
                    .map(|(f, l)| (f.to_owned(), l))
                    .collect::<Vec<_>>()
            };
            let f = |name: &str, line| (name.to_owned(), line);
            assert_eq!(at(0x1004), vec![f("main.outer", Some(10))], "{version:?}");
            assert_eq!(
                at(0x1018),
                vec![f("main.inner", Some(20)), f("main.outer", Some(10))],
                "{version:?}"
            );
            // Entry 1 is its own parent: one frame for it, then the outer
            // function without a call-site line.
            assert_eq!(
                at(0x1028),
                vec![f("main.inner", Some(30)), f("main.outer", None)],
                "{version:?}"
            );
            // Without the tree, the function at the instruction's line.
            let alone = chain(&table, &data, &func, &record, None, 0x1018).unwrap();
            assert_eq!(frames(&alone), vec![("main.outer", Some(20))]);
            assert_eq!(alone[0].file.as_deref(), Some("a.go"));
            // A truncated tree ends the walk early instead of failing.
            let short = InlineTree::new(&tree_bytes[..4], version);
            let cut = chain(&table, &data, &func, &record, Some(&short), 0x1018).unwrap();
            assert_eq!(frames(&cut), vec![("main.outer", Some(20))]);
        }
    }

    #[test]
    fn both_record_layouts_read_name_and_parent_pc() {
        let mut old = vec![0u8; 40];
        old[20 + 12..20 + 16].copy_from_slice(&77u32.to_le_bytes());
        old[20 + 16..20 + 20].copy_from_slice(&9u32.to_le_bytes());
        let tree = InlineTree::new(&old, Version::Go118);
        assert_eq!(
            tree.call(1),
            Some(InlinedCall {
                name_off: 77,
                parent_pc: 9
            })
        );
        assert_eq!(tree.call(2), None);
        assert_eq!(tree.call(-1), None);

        let mut new = vec![0u8; 32];
        new[16 + 4..16 + 8].copy_from_slice(&5u32.to_le_bytes());
        new[16 + 8..16 + 12].copy_from_slice(&3u32.to_le_bytes());
        let tree = InlineTree::new(&new, Version::Go120);
        assert_eq!(
            tree.call(1),
            Some(InlinedCall {
                name_off: 5,
                parent_pc: 3
            })
        );
        assert_eq!(tree.call(i32::MAX), None);
    }
}
