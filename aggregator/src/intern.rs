//! Shares identical stacks among the batches the aggregator holds in memory
//! before a flush: [`StackInterner`] keeps one copy of each stack, so a hot
//! stack costs a pointer per batch instead of its frames.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use augur_profile::{FrameRef, RawFrame};
use augur_storage::SharedStack;
use hashbrown::HashTable;

/// Shares identical stacks: [`StackInterner::intern`] gives back the one
/// copy of each stack it keeps, so batches held in memory cost a pointer per
/// stack instead of its frames. It is handed borrowed frames, straight from
/// the decoder, and builds owned ones only for a stack it has not seen.
///
/// Callers hash the stacks ([`HashedStacks::new`]) before they take the
/// lock that usually guards the interner, so the lock is held for the
/// lookups alone.
#[derive(Debug)]
pub struct StackInterner {
    stacks: HashTable<SharedStack>,
    /// Approximate heap bytes of the kept stacks.
    bytes: u64,
    /// Most bytes kept; beyond it the interner starts over (stacks held
    /// elsewhere stay alive, only sharing with new copies is lost).
    max_bytes: u64,
}

/// A batch's stacks, leaf first, with the hashes [`StackInterner`] files
/// them under.
#[derive(Debug)]
pub struct HashedStacks<'s, 'f> {
    stacks: &'s [&'s [FrameRef<'f>]],
    hashes: Vec<u64>,
}

impl<'s, 'f> HashedStacks<'s, 'f> {
    /// Hashes each of `stacks`.
    pub fn new(stacks: &'s [&'s [FrameRef<'f>]]) -> Self {
        Self {
            stacks,
            hashes: stacks
                .iter()
                .map(|frames| stack_hash(frames.len(), frames.iter().copied()))
                .collect(),
        }
    }
}

impl StackInterner {
    /// An interner keeping at most about `max_bytes` of stacks.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            stacks: HashTable::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The shared copy of each of `stacks`, in order. Equal stacks of one
    /// call get the same copy: the interner starts over, when it must,
    /// only before a call, so it may hold one call's stacks beyond its
    /// bound.
    pub fn intern(&mut self, stacks: &HashedStacks<'_, '_>) -> Vec<SharedStack> {
        if self.bytes > self.max_bytes {
            self.stacks.clear();
            self.bytes = 0;
        }
        stacks
            .stacks
            .iter()
            .zip(&stacks.hashes)
            .map(|(frames, &hash)| self.intern_one(hash, frames))
            .collect()
    }

    fn intern_one(&mut self, hash: u64, frames: &[FrameRef<'_>]) -> SharedStack {
        let same = |kept: &SharedStack| {
            kept.len() == frames.len()
                && kept
                    .iter()
                    .zip(frames)
                    .all(|(kept, frame)| kept.as_frame_ref() == *frame)
        };
        if let Some(shared) = self.stacks.find(hash, same) {
            return shared.clone();
        }
        let shared: SharedStack = frames.iter().map(|frame| frame.to_raw()).collect();
        self.bytes += stack_bytes(&shared);
        self.stacks.insert_unique(hash, shared.clone(), |kept| {
            stack_hash(kept.len(), kept.iter().map(RawFrame::as_frame_ref))
        });
        shared
    }

    /// Approximate heap bytes of the stacks kept.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Stacks kept.
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    /// Whether no stack is kept.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }
}

/// Approximate heap bytes of one stack's frames.
pub fn stack_bytes(frames: &[RawFrame]) -> u64 {
    let heap: usize = frames.iter().map(RawFrame::heap_bytes).sum();
    (std::mem::size_of_val(frames) + heap + 16) as u64
}

/// The interner's hash of a leaf-first stack of `len` frames.
///
/// A user frame is hashed by the address of its build-id's shared bytes and
/// its offset, not by the build-id's bytes: equal stacks whose build-ids are
/// separate copies then hash apart and are merely not shared, which is
/// harmless, while a kept stack holds its build-ids alive, so no other
/// build-id can have the same address meanwhile. Build-ids decoded by the
/// server are shared ([`augur_profile::FileId::shared`]), so equal stacks
/// almost always meet. Lookups never trust the hash: equal hashes are
/// compared frame by frame.
fn stack_hash<'f>(len: usize, frames: impl Iterator<Item = FrameRef<'f>>) -> u64 {
    let mut hasher = FrameHasher::keyed();
    hasher.add(len as u64);
    for frame in frames {
        // Each kind adds its tag, and each string its length, so no two
        // different stacks feed the same words.
        match frame {
            FrameRef::User {
                build_id,
                file_offset,
            } => {
                hasher.add(build_id.as_bytes().as_ptr() as u64);
                hasher.add(file_offset);
            }
            FrameRef::Kernel { function, module } => {
                hasher.add(1);
                hasher.text(function);
                match module {
                    Some(module) => hasher.text(module),
                    None => hasher.add(u64::MAX),
                }
            }
            FrameRef::Named { function, origin } => {
                hasher.add(2);
                hasher.text(function);
                hasher.text(origin);
            }
            FrameRef::Unknown { reason } => {
                hasher.add(3);
                hasher.text(reason);
            }
            FrameRef::Runtime {
                runtime,
                function,
                file,
                line,
                inlined,
            } => {
                hasher.add(4);
                hasher.add(runtime as u64);
                hasher.text(function);
                hasher.text(file);
                hasher.add(u64::from(line) | u64::from(inlined) << 32);
            }
        }
    }
    hasher.finish()
}

/// A fast keyed hash for stacks: frames feed many small writes, which
/// SipHash makes slow. Each word is folded in with a multiply by a secret
/// per-process key (the folded multiply of foldhash and aHash), so inputs
/// that collide cannot be prepared without the key.
struct FrameHasher {
    state: u64,
    key: u64,
}

impl FrameHasher {
    /// A hasher with this process's keys.
    fn keyed() -> Self {
        static KEYS: OnceLock<(u64, u64)> = OnceLock::new();
        let &(seed, key) = KEYS.get_or_init(|| {
            let random = std::hash::RandomState::new();
            // The key is odd, so no product loses every bit of a word.
            (random.hash_one(1u64), random.hash_one(2u64) | 1)
        });
        Self { state: seed, key }
    }

    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(self.key);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }

    /// Adds a string: its length, then its bytes eight at a time.
    fn text(&mut self, text: &str) {
        self.add(text.len() as u64);
        let mut chunks = text.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use augur_profile::FileId;

    use super::*;

    /// The stacks `interner` keeps for `stacks`, handed to it in one call
    /// as the decoder hands them.
    fn intern(interner: &mut StackInterner, stacks: &[Vec<RawFrame>]) -> Vec<SharedStack> {
        let refs: Vec<Vec<FrameRef<'_>>> = stacks
            .iter()
            .map(|stack| stack.iter().map(RawFrame::as_frame_ref).collect())
            .collect();
        let slices: Vec<&[FrameRef<'_>]> = refs.iter().map(Vec::as_slice).collect();
        interner.intern(&HashedStacks::new(&slices))
    }

    fn intern_one(interner: &mut StackInterner, stack: Vec<RawFrame>) -> SharedStack {
        intern(interner, &[stack]).remove(0)
    }

    #[test]
    fn the_interner_shares_equal_stacks_and_stays_bounded() {
        let id = FileId::parse_hex("aabb").unwrap();
        let user = |offset| RawFrame::User {
            build_id: id.clone(),
            file_offset: offset,
        };
        let mut interner = StackInterner::new(1 << 20);
        let a = intern_one(&mut interner, vec![user(1), user(2)]);
        let b = intern_one(&mut interner, vec![user(1), user(2)]);
        let c = intern_one(&mut interner, vec![user(2), user(1)]);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(interner.len(), 2);
        let one = stack_bytes(&[user(1), user(2)]);
        assert_eq!(interner.bytes(), 2 * one);
        // A runtime frame's function and file are counted.
        let runtime = |function: &str| RawFrame::Runtime {
            runtime: augur_profile::Runtime::Java,
            function: function.into(),
            file: "Cache.java".into(),
            line: 1,
            inlined: false,
        };
        assert_eq!(
            stack_bytes(&[runtime(&"f".repeat(1000))]) - stack_bytes(&[runtime("f")]),
            999
        );
        // Past the bound it starts over, before a call; stacks handed out
        // stay valid.
        let mut small = StackInterner::new(one * 3 / 2);
        let first = intern_one(&mut small, vec![user(1), user(2)]);
        let second = intern_one(&mut small, vec![user(3), user(4)]);
        assert_eq!((small.len(), small.bytes()), (2, 2 * one));
        let third = intern_one(&mut small, vec![user(5), user(6)]);
        assert_eq!((small.len(), small.bytes()), (1, one));
        assert_eq!(first[0], user(1));
        assert_eq!(second[1], user(4));
        assert_eq!(third[1], user(6));
        // Within one call equal stacks always share, bound or not.
        let stacks = [vec![user(7)], vec![user(8)], vec![user(7)], vec![user(8)]];
        let kept = intern(&mut small, &stacks);
        assert!(Arc::ptr_eq(&kept[0], &kept[2]) && Arc::ptr_eq(&kept[1], &kept[3]));
        assert_eq!(small.len(), 3);
    }

    #[test]
    fn the_interner_never_merges_different_stacks() {
        // Separate copies of one build-id, shared ones, and other frames.
        let copy = |offset| RawFrame::User {
            build_id: FileId::parse_hex("aabb").unwrap(),
            file_offset: offset,
        };
        let shared = |offset| RawFrame::User {
            build_id: FileId::shared(&[0xaa, 0xbb]).unwrap(),
            file_offset: offset,
        };
        let kernel = |name: &str, module: Option<&str>| RawFrame::Kernel {
            function: name.into(),
            module: module.map(Into::into),
        };
        let named = |function: &str, origin: &str| RawFrame::Named {
            function: function.into(),
            origin: origin.into(),
        };
        let unknown = |reason: &str| RawFrame::Unknown {
            reason: reason.into(),
        };
        let mut interner = StackInterner::new(1 << 20);
        let stacks = [
            vec![copy(1), copy(2)],
            vec![shared(1), shared(2)],
            vec![shared(1), shared(3)],
            vec![kernel("a", None), shared(1)],
            vec![kernel("b", None), shared(1)],
            vec![kernel("ab", None), kernel("c", None)],
            vec![kernel("a", None), kernel("bc", None)],
            vec![kernel("a", Some("b"))],
            vec![kernel("a", Some(""))],
            vec![kernel("a", None)],
            vec![named("a", "b")],
            vec![named("ab", "")],
            vec![unknown("a")],
            vec![shared(1)],
        ];
        for _ in 0..3 {
            for (stack, kept) in stacks.iter().zip(intern(&mut interner, &stacks)) {
                assert_eq!(kept.as_ref(), stack.as_slice());
            }
        }
        // Equal stacks made of shared build-ids always meet.
        let a = intern_one(&mut interner, vec![shared(1), shared(3)]);
        let b = intern_one(&mut interner, vec![shared(1), shared(3)]);
        assert!(Arc::ptr_eq(&a, &b));
        // At most one extra copy per stack of separate build-ids.
        assert!(interner.len() <= stacks.len() + 3, "{}", interner.len());
    }
}
