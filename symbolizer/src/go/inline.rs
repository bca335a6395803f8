//! A function's inline tree (`FUNCDATA_InlTree`): one record per inlined
//! call, naming the callee and the pc (`parentPc`) of an instruction that
//! stands at the call site in the caller.
//!
//! The record shrank in Go 1.20 (no parent index, file or line: the caller
//! and its line are found by looking `parentPc` up again), so this reader
//! uses only the fields both layouts share: the callee's name offset and
//! `parentPc`.

use super::pclntab::Version;

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

#[cfg(test)]
mod tests {
    use super::*;

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
