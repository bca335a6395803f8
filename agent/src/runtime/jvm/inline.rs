//! Inlined frames of compiled code: an nmethod's `PcDesc` table maps code
//! offsets to scope records in its scopes data; each record names a
//! `Method*` (through the nmethod's metadata array) and a bci, and links to
//! its caller's record. One pc thus expands to the chain of Java frames C2
//! or C1 folded into one native frame.

use std::ops::Range;

use super::codecache::{Blob, BlobKind};
use super::stream::{StreamEncoding, decode_scope};
use super::vmstructs::VmStructs;
use super::{JvmError, Memory, field_u32, field_u64, read_bytes};

/// One Java frame of an inline chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineFrame {
    /// The `Method*`.
    pub method: u64,
    /// Bytecode index; -1 before the method's first bytecode.
    pub bci: i32,
}

/// Offsets of an nmethod's debug information, resolved once per VM.
#[derive(Debug, Clone)]
pub struct ScopeLayout {
    scopes_data_begin: u64,
    scopes_pcs_offset: u64,
    dependencies_offset: u64,
    metadata_offset: u64,
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
        Ok(Self {
            scopes_data_begin: vm.offset_any(&[
                ("CompiledMethod", "_scopes_data_begin"),
                ("nmethod", "_scopes_data_begin"),
            ])?,
            scopes_pcs_offset: vm.offset("nmethod", "_scopes_pcs_offset")?,
            dependencies_offset: vm.offset("nmethod", "_dependencies_offset")?,
            metadata_offset: vm.offset("nmethod", "_metadata_offset")?,
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
        let int = |o| field_u32(&header, o).map(u64::from).ok_or_else(bad);
        let pcs = nm + int(self.scopes_pcs_offset)?..nm + int(self.dependencies_offset)?;
        let data_begin = field_u64(&header, self.scopes_data_begin).ok_or_else(bad)?;
        let data = data_begin..pcs.start;
        let metadata = nm + int(self.metadata_offset)?..data_begin;
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

        let mut pcs_out = Vec::new();
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
}
