//! Inlined frames of compiled code: an nmethod's `PcDesc` table maps code
//! offsets to scope records in its scopes data; each record names a
//! `Method*` (through the nmethod's metadata array) and a bci, and links to
//! its caller's record. One pc thus expands to the chain of Java frames C2
//! or C1 folded into one native frame.
//!
//! Where the tables live changed over JDK 23-25. Up to JDK 22 they sit in
//! the nmethod's own block: metadata, scopes data, `PcDesc`s, dependencies,
//! in that order. In JDK 25 the `PcDesc`s and scopes data are in a C-heap
//! "immutable data" block, at offsets from `nmethod::_immutable_data`
//! (JDK-8331087, 24), and the metadata in the "mutable data" block right
//! after the relocations, `CodeBlob::_mutable_data` + `_relocation_size`
//! (JDK-8343789, 25), as HotSpot's own serviceability agent reads them.
//! JDK 23 and 24, each half way, are not read: the missing field is named.

use std::ops::Range;

use super::codecache::{Blob, BlobKind};
use super::stream::{StreamEncoding, decode_scope};
use super::vmstructs::{Scalar, VmStructs};
use super::{JvmError, Memory, field_u32, field_u64, read_bytes};

/// One Java frame of an inline chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineFrame {
    /// The `Method*`.
    pub method: u64,
    /// Bytecode index; -1 before the method's first bytecode.
    pub bci: i32,
}

/// Where an nmethod's debug tables are.
#[derive(Debug, Clone, Copy)]
enum Tables {
    /// JDK 9-22: in the nmethod's block, at offsets from its start, except
    /// the scopes data, which has a pointer.
    InBlob {
        scopes_data_begin: u64,
        scopes_pcs: Scalar,
        dependencies: Scalar,
        metadata: Scalar,
    },
    /// JDK 25+: `PcDesc`s and scopes data in the immutable data block,
    /// metadata after the relocations in the mutable data block.
    Separate {
        immutable: u64,
        immutable_size: Scalar,
        scopes_data: Scalar,
        scopes_pcs: Scalar,
        mutable: u64,
        mutable_size: Scalar,
        relocation_size: Scalar,
    },
}

/// Offsets of an nmethod's debug information, resolved once per VM.
#[derive(Debug, Clone)]
pub struct ScopeLayout {
    tables: Tables,
    nmethod_size: u64,
    pc_desc_size: u64,
    pc_offset: u64,
    scope_decode_offset: u64,
    encoding: StreamEncoding,
}

/// A table or chain larger than this is garbage, not debug info.
const MAX_TABLE: u64 = 4 << 20;
const MAX_DEPTH: usize = 128;

impl ScopeLayout {
    pub fn new(vm: &VmStructs, encoding: StreamEncoding) -> Result<Self, JvmError> {
        let tables = if vm.field("nmethod", "_immutable_data").is_some() {
            Tables::Separate {
                immutable: vm.offset("nmethod", "_immutable_data")?,
                immutable_size: vm.scalar("nmethod", "_immutable_data_size")?,
                scopes_data: vm.scalar("nmethod", "_scopes_data_offset")?,
                scopes_pcs: vm.scalar("nmethod", "_scopes_pcs_offset")?,
                mutable: vm.offset("CodeBlob", "_mutable_data")?,
                mutable_size: vm.scalar("CodeBlob", "_mutable_data_size")?,
                relocation_size: vm.scalar("CodeBlob", "_relocation_size")?,
            }
        } else {
            Tables::InBlob {
                scopes_data_begin: vm.offset_any(&[
                    ("CompiledMethod", "_scopes_data_begin"),
                    ("nmethod", "_scopes_data_begin"),
                ])?,
                scopes_pcs: vm.scalar("nmethod", "_scopes_pcs_offset")?,
                dependencies: vm.scalar("nmethod", "_dependencies_offset")?,
                metadata: vm.scalar("nmethod", "_metadata_offset")?,
            }
        };
        Ok(Self {
            tables,
            nmethod_size: vm.type_size("nmethod")?,
            pc_desc_size: vm.type_size("PcDesc")?,
            pc_offset: vm.offset("PcDesc", "_pc_offset")?,
            scope_decode_offset: vm.offset("PcDesc", "_scope_decode_offset")?,
            encoding,
        })
    }

    /// Reads and decodes every `PcDesc` of nmethod `blob`.
    pub fn read(&self, mem: &dyn Memory, blob: &Blob) -> Result<NmethodScopes, JvmError> {
        let BlobKind::Nmethod { method, .. } = blob.kind else {
            return Err(JvmError::Corrupt {
                what: "nmethod",
                addr: blob.address,
                detail: format!("blob is {:?}, not an nmethod", blob.kind),
            });
        };
        let nm = blob.address;
        let header = read_bytes(mem, nm, self.nmethod_size as usize, "nmethod")?;
        let bad = || JvmError::Corrupt {
            what: "nmethod",
            addr: nm,
            detail: "field outside sizeof(nmethod)".into(),
        };
        let int = |s: Scalar| s.unsigned(&header).ok_or_else(bad);
        let pointer = |o| field_u64(&header, o).ok_or_else(bad);
        let (pcs, data, metadata) = match self.tables {
            Tables::InBlob {
                scopes_data_begin,
                scopes_pcs,
                dependencies,
                metadata,
            } => {
                let pcs = nm + int(scopes_pcs)?..nm + int(dependencies)?;
                let data_begin = pointer(scopes_data_begin)?;
                let metadata = nm + int(metadata)?..data_begin;
                (pcs.clone(), data_begin..pcs.start, metadata)
            }
            Tables::Separate {
                immutable,
                immutable_size,
                scopes_data,
                scopes_pcs,
                mutable,
                mutable_size,
                relocation_size,
            } => {
                // A torn or freed nmethod may hold anything: saturate, and
                // let the range check below reject it.
                let base = pointer(immutable)?;
                let at = |s: Scalar| -> Result<u64, JvmError> { Ok(base.saturating_add(int(s)?)) };
                let (end, data_at, pcs_at) =
                    (at(immutable_size)?, at(scopes_data)?, at(scopes_pcs)?);
                // JDK 25 writes the scopes data first and the PcDescs last;
                // later releases swap them. The later of the two runs to
                // the block's end; what follows the PcDescs there (a JVMCI
                // speculation log, a reference count) is cut off by their
                // end sentinel.
                let (pcs, data) = if data_at <= pcs_at {
                    (pcs_at..end, data_at..pcs_at)
                } else {
                    (pcs_at..data_at, data_at..end)
                };
                let mutable = pointer(mutable)?;
                let metadata = mutable.saturating_add(int(relocation_size)?)
                    ..mutable.saturating_add(int(mutable_size)?);
                (pcs, data, metadata)
            }
        };
        let read = |r: &Range<u64>, what: &'static str| -> Result<Vec<u8>, JvmError> {
            if r.start > r.end || r.end - r.start > MAX_TABLE {
                return Err(JvmError::Corrupt {
                    what,
                    addr: nm,
                    detail: format!("range {:#x}..{:#x}", r.start, r.end),
                });
            }
            read_bytes(mem, r.start, (r.end - r.start) as usize, what)
        };
        let pc_bytes = read(&pcs, "nmethod PcDescs")?;
        let data_bytes = read(&data, "nmethod scopes data")?;
        let metadata_bytes = read(&metadata, "nmethod metadata")?;
        let metadata_at = |index: u32| -> Option<u64> {
            match index {
                0 => Some(0),
                i => field_u64(&metadata_bytes, 8 * (u64::from(i) - 1)),
            }
        };

        let mut pcs_out: Vec<(u64, Vec<InlineFrame>)> = Vec::new();
        for desc in pc_bytes.chunks_exact(self.pc_desc_size as usize) {
            let (Some(pc_offset), Some(scope)) = (
                field_u32(desc, self.pc_offset),
                field_u32(desc, self.scope_decode_offset),
            ) else {
                continue;
            };
            // The first PcDesc is a sentinel at offset -1.
            let Ok(pc_offset) = u64::try_from(pc_offset as i32) else {
                continue;
            };
            // The table is sorted and ends in a sentinel at i32::MAX; what
            // follows out of order is not a PcDesc.
            if pcs_out
                .last()
                .is_some_and(|(pc, _)| *pc > blob.code.start + pc_offset)
            {
                break;
            }
            let last = pc_offset == i32::MAX as u64;
            let mut chain = Vec::new();
            if scope == 0 {
                // serialized_null: the method itself, at its entry.
                chain.push(InlineFrame { method, bci: -1 });
            }
            let mut at = scope as usize;
            while at != 0 && chain.len() < MAX_DEPTH {
                let Some(h) = decode_scope(&data_bytes, at, self.encoding) else {
                    break;
                };
                let Some(m) = metadata_at(h.method_index) else {
                    break;
                };
                chain.push(InlineFrame {
                    method: m,
                    bci: h.bci,
                });
                at = h.sender_offset as usize;
            }
            pcs_out.push((blob.code.start + pc_offset, chain));
            if last {
                break;
            }
        }
        Ok(NmethodScopes { pcs: pcs_out })
    }
}

/// The decoded `PcDesc`s of one nmethod.
#[derive(Debug, Clone, Default)]
pub struct NmethodScopes {
    /// (pc, inline chain innermost first), in pc order as HotSpot writes
    /// them.
    pub pcs: Vec<(u64, Vec<InlineFrame>)>,
}

impl NmethodScopes {
    /// The chain at `pc`, as HotSpot's approximate lookup picks it: the
    /// first `PcDesc` at or after `pc`. A return address matches its call's
    /// `PcDesc` exactly; a sampled pc between safepoints takes the next
    /// one, which may name a neighbouring bci.
    pub fn chain_at(&self, pc: u64) -> Option<&[InlineFrame]> {
        let i = self.pcs.partition_point(|(p, _)| *p < pc);
        self.pcs.get(i).map(|(_, c)| c.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeMemory;
    use super::super::stream::encode;
    use super::super::vmstructs::FieldLocation::Offset;
    use super::*;

    #[test]
    fn decodes_inline_chains_from_pc_descs() {
        let vm = VmStructs::from_parts(
            [
                ("CompiledMethod", "_scopes_data_begin", Offset(120)),
                ("nmethod", "_scopes_pcs_offset", Offset(268)),
                ("nmethod", "_dependencies_offset", Offset(272)),
                ("nmethod", "_metadata_offset", Offset(260)),
                ("PcDesc", "_pc_offset", Offset(0)),
                ("PcDesc", "_scope_decode_offset", Offset(4)),
            ],
            [("nmethod", 352), ("PcDesc", 16)],
            [],
        );
        let e = StreamEncoding::JDK_11_TO_19;
        let layout = ScopeLayout::new(&vm, e).unwrap();
        let nm = 0x10000u64;
        let mut m = FakeMemory::default();
        m.put(nm, &[0u8; 352]);
        // Metadata at +0x200: [outer, inner]; scopes data at +0x210.
        m.put_u64(nm + 0x200, 0xA000);
        m.put_u64(nm + 0x208, 0xB000);
        let mut data = vec![0u8];
        let outer = data.len();
        for v in [0, 1, 12 + 1] {
            encode::u32(&mut data, v, e);
        }
        let inner = data.len();
        for v in [outer as u32, 2, 3 + 1] {
            encode::u32(&mut data, v, e);
        }
        data.resize(16, 0);
        m.put(nm + 0x210, &data);
        // PcDescs at +0x220: sentinel, entry (null scope), inlined call.
        let mut pcs = Vec::new();
        for (pc, scope) in [
            (-1i32, 0u32),
            (0, 0),
            (0x40, inner as u32),
            (0x60, outer as u32),
        ] {
            pcs.extend(pc.to_le_bytes());
            pcs.extend(scope.to_le_bytes());
            pcs.extend([0u8; 8]);
        }
        m.put(nm + 0x220, &pcs);
        m.put_u32(nm + 260, 0x200);
        m.put_u64(nm + 120, nm + 0x210);
        m.put_u32(nm + 268, 0x220);
        m.put_u32(nm + 272, 0x220 + pcs.len() as u32);
        let blob = Blob {
            address: nm,
            code: nm + 0x400..nm + 0x500,
            kind: BlobKind::Nmethod {
                method: 0xA000,
                compile_id: 1,
                level: 4,
            },
            frame_size_words: 4,
            frame_complete_offset: 8,
            name_address: 0,
        };
        let scopes = layout.read(&m, &blob).unwrap();
        assert_eq!(scopes.pcs.len(), 3);
        let f = |method, bci| InlineFrame { method, bci };
        assert_eq!(scopes.chain_at(nm + 0x400).unwrap(), &[f(0xA000, -1)]);
        assert_eq!(
            scopes.chain_at(nm + 0x430).unwrap(),
            &[f(0xB000, 3), f(0xA000, 12)]
        );
        assert_eq!(scopes.chain_at(nm + 0x460).unwrap(), &[f(0xA000, 12)]);
        assert_eq!(scopes.chain_at(nm + 0x461), None);
    }

    /// JDK 25: PcDescs and scopes data in the immutable block (data
    /// first), metadata after the relocations in the mutable block.
    #[test]
    fn decodes_inline_chains_from_separate_data_blocks() {
        let vm = VmStructs::from_parts(
            [
                ("nmethod", "_immutable_data", Offset(96)),
                ("nmethod", "_immutable_data_size", Offset(160)),
                ("nmethod", "_scopes_data_offset", Offset(200)),
                ("nmethod", "_scopes_pcs_offset", Offset(196)),
                ("CodeBlob", "_mutable_data", Offset(16)),
                ("CodeBlob", "_mutable_data_size", Offset(48)),
                ("CodeBlob", "_relocation_size", Offset(28)),
                ("PcDesc", "_pc_offset", Offset(0)),
                ("PcDesc", "_scope_decode_offset", Offset(4)),
            ],
            [("nmethod", 224), ("PcDesc", 16)],
            [],
        );
        let e = StreamEncoding::JDK_20_ON;
        let layout = ScopeLayout::new(&vm, e).unwrap();
        let (nm, immutable, mutable) = (0x10000u64, 0x20000u64, 0x30000u64);
        let mut m = FakeMemory::default();
        m.put(nm, &[0u8; 224]);
        // Mutable: 0x18 bytes of relocations, then [outer, inner].
        m.put(mutable, &[0x55u8; 0x18]);
        m.put_u64(mutable + 0x18, 0xA000);
        m.put_u64(mutable + 0x20, 0xB000);
        m.put_u64(nm + 16, mutable);
        m.put_u32(nm + 28, 0x18);
        m.put_u32(nm + 48, 0x28);
        // Immutable: 8 bytes of dependencies, scopes data, PcDescs.
        let mut block = vec![0xAAu8; 8];
        let data_at = block.len();
        block.push(0);
        let outer = block.len() - data_at;
        for v in [0, 1, 12 + 1] {
            encode::u32(&mut block, v, e);
        }
        let inner = block.len() - data_at;
        for v in [outer as u32, 2, 3 + 1] {
            encode::u32(&mut block, v, e);
        }
        block.resize(32, 0);
        let pcs_at = block.len();
        for (pc, scope) in [
            (-1i32, 0u32),
            (0, 0),
            (0x40, inner as u32),
            (0x60, outer as u32),
            (i32::MAX, 0),
        ] {
            block.extend(pc.to_le_bytes());
            block.extend(scope.to_le_bytes());
            block.extend([0u8; 8]);
        }
        // Whatever trails the table (a speculation log) is not a PcDesc.
        block.extend([0x10u8; 16]);
        m.put(immutable, &block);
        m.put_u64(nm + 96, immutable);
        m.put_u32(nm + 160, block.len() as u32);
        m.put_u32(nm + 200, data_at as u32);
        m.put_u32(nm + 196, pcs_at as u32);
        let blob = Blob {
            address: nm,
            code: nm + 0x400..nm + 0x500,
            kind: BlobKind::Nmethod {
                method: 0xA000,
                compile_id: 1,
                level: 4,
            },
            frame_size_words: 4,
            frame_complete_offset: 8,
            name_address: 0,
        };
        let scopes = layout.read(&m, &blob).unwrap();
        assert_eq!(scopes.pcs.len(), 4);
        let f = |method, bci| InlineFrame { method, bci };
        assert_eq!(scopes.chain_at(nm + 0x400).unwrap(), &[f(0xA000, -1)]);
        assert_eq!(
            scopes.chain_at(nm + 0x430).unwrap(),
            &[f(0xB000, 3), f(0xA000, 12)]
        );
        assert_eq!(scopes.chain_at(nm + 0x460).unwrap(), &[f(0xA000, 12)]);
    }
}
