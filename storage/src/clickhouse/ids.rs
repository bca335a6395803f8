//! Content addresses: a frame's id is a hash of its columns and a stack's
//! a hash of its frame ids, so every node computes the same ids without
//! asking anyone.

use augur_profile::RawFrame;

use crate::columns::FrameColumns;

/// FNV-1a, 64 bits: stable across builds and machines, unlike std's hasher.
pub(super) fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

pub(super) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// A frame's content address.
pub(super) fn frame_id(frame: &RawFrame) -> u64 {
    let c = FrameColumns::of(frame);
    let mut h = fnv1a(&[c.kind as u8, 0xfe], FNV_OFFSET);
    if let Some(id) = c.build_id {
        h = fnv1a(id.as_bytes(), h);
    }
    h = fnv1a(&[0xfe], h);
    h = fnv1a(&c.file_offset.to_le_bytes(), h);
    h = fnv1a(c.name.as_bytes(), h);
    h = fnv1a(&[0xff], h);
    fnv1a(c.module.as_bytes(), h)
}

/// A stack's content address, from its leaf-first frame ids.
pub(super) fn stack_id(frames: &[u64]) -> u64 {
    let mut h = fnv1a(&(frames.len() as u64).to_le_bytes(), FNV_OFFSET);
    for f in frames {
        h = fnv1a(&f.to_le_bytes(), h);
    }
    h
}

#[cfg(test)]
mod tests {
    use augur_profile::FileId;

    use super::*;

    #[test]
    fn content_addresses_are_stable_and_tell_frames_apart() {
        let user = |offset| RawFrame::User {
            build_id: FileId::parse_hex("abcd").unwrap(),
            file_offset: offset,
        };
        assert_eq!(frame_id(&user(16)), frame_id(&user(16)));
        assert_ne!(frame_id(&user(16)), frame_id(&user(17)));
        let kernel = RawFrame::Kernel {
            function: "ab".into(),
            module: Some("c".into()),
        };
        let other = RawFrame::Kernel {
            function: "a".into(),
            module: Some("bc".into()),
        };
        assert_ne!(frame_id(&kernel), frame_id(&other));
        // Ids are shared by every node and stored: the hash must be FNV-1a
        // exactly (the published test vector), in every build.
        assert_eq!(fnv1a(b"a", FNV_OFFSET), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(stack_id(&[1, 2]), stack_id(&[2, 1]));
    }
}
