//! In-memory intern tables that follow the writer's transactions.
//!
//! The writer remembers the row id of every frame, stack node, service and
//! binary it has seen, so a hot stack costs hash lookups instead of SQL. An id
//! learned inside a transaction is only true once that transaction commits:
//! after a rollback SQLite hands the same ids to other rows. So new entries
//! wait in `pending` and move to `committed` on commit, or vanish on rollback.
//!
//! A whole stack is remembered under a [`StackDigest`] of its frames, so a
//! stack seen before costs one lookup instead of one per frame and per node.
//!
//! [`StackInterner`] is the aggregator's side of the same idea: batches held
//! in memory before a flush share one copy of each stack.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::OnceLock;

use augur_profile::{FrameRef, RawFrame};
use hashbrown::HashTable;

use crate::ingest::SharedStack;

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

/// A map from a key to the value the database assigned it, aware of the
/// current transaction.
#[derive(Debug)]
pub(crate) struct TxCache<K, V> {
    committed: HashMap<K, V>,
    pending: HashMap<K, V>,
    /// Most committed entries kept; beyond it the map starts over, which
    /// bounds memory and only costs lookups in SQLite until it warms up.
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> TxCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            committed: HashMap::new(),
            pending: HashMap::new(),
            capacity,
        }
    }

    /// The value for `key`, whether learned in this transaction or before.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pending
            .get(key)
            .or_else(|| self.committed.get(key))
            .cloned()
    }

    /// Remembers a value learned in the current transaction.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        self.pending.insert(key, value);
    }

    /// The transaction committed: its entries are now true.
    pub(crate) fn commit(&mut self) {
        if self.committed.len() + self.pending.len() > self.capacity {
            self.committed.clear();
        }
        self.committed.extend(self.pending.drain());
    }

    /// The transaction rolled back: forget what it taught.
    pub(crate) fn rollback(&mut self) {
        self.pending.clear();
    }

    /// Forgets everything, e.g. when the state of the last transaction is
    /// unknown.
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
        self.committed.clear();
    }

    /// Number of committed entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.committed.len()
    }
}

/// A 128-bit digest of a leaf-first stack, keyed with secrets drawn when the
/// writer starts.
///
/// Two stacks share a digest only by a SipHash collision on both halves:
/// about 2^-128 per pair, and no sender can aim for one without the keys.
/// The digest lives only in memory, so the keys can change every restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StackDigest(u64, u64);

/// Computes [`StackDigest`]s with this process's keys.
#[derive(Debug, Default)]
pub(crate) struct StackDigester {
    /// Two independently keyed SipHash instances, one per half.
    keys: [std::hash::RandomState; 2],
    /// The stack being digested, encoded; kept between stacks.
    scratch: Vec<u8>,
}

/// Largest encoding buffer kept for the next stack.
const KEPT_SCRATCH: usize = 1 << 20;

impl StackDigester {
    pub(crate) fn digest(&mut self, leaf_first: &[RawFrame]) -> StackDigest {
        // Hashing one encoded buffer costs half of hashing the frames field
        // by field, which feeds SipHash many tiny writes.
        self.scratch.clear();
        for frame in leaf_first {
            encode(frame, &mut self.scratch);
        }
        let bytes = self.scratch.as_slice();
        let digest = StackDigest(self.keys[0].hash_one(bytes), self.keys[1].hash_one(bytes));
        if self.scratch.capacity() > KEPT_SCRATCH {
            self.scratch = Vec::new();
        }
        digest
    }
}

/// Appends a self-delimiting encoding of `frame`, so that the encoding of a
/// stack, frame after frame, belongs to that stack alone.
fn encode(frame: &RawFrame, out: &mut Vec<u8>) {
    fn text(s: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    match frame {
        RawFrame::User {
            build_id,
            file_offset,
        } => {
            let id = build_id.as_bytes();
            out.push(0);
            out.extend_from_slice(&(id.len() as u64).to_le_bytes());
            out.extend_from_slice(id);
            out.extend_from_slice(&file_offset.to_le_bytes());
        }
        RawFrame::Kernel { function, module } => {
            out.push(1);
            text(function, out);
            match module {
                Some(module) => {
                    out.push(1);
                    text(module, out);
                }
                None => out.push(0),
            }
        }
        RawFrame::Named { function, origin } => {
            out.push(2);
            text(function, out);
            text(origin, out);
        }
        RawFrame::Unknown { reason } => {
            out.push(3);
            text(reason, out);
        }
        RawFrame::Runtime {
            runtime,
            function,
            file,
            line,
            inlined,
        } => {
            out.push(4);
            out.push(*runtime as u8);
            text(function, out);
            text(file, out);
            out.extend_from_slice(&line.to_le_bytes());
            out.push(u8::from(*inlined));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use augur_profile::FileId;

    use super::*;

    #[test]
    fn digests_tell_stacks_apart_by_content_order_and_boundaries() {
        let mut digester = StackDigester::default();
        let user = |offset| RawFrame::User {
            build_id: FileId::parse_hex("aa").unwrap(),
            file_offset: offset,
        };
        let stack = vec![user(1), user(2)];
        assert_eq!(digester.digest(&stack), digester.digest(&stack.clone()));
        assert_ne!(
            digester.digest(&stack),
            digester.digest(&[user(2), user(1)])
        );
        assert_ne!(digester.digest(&stack), digester.digest(&stack[..1]));
        assert_ne!(digester.digest(&[]), digester.digest(&stack[..1]));
        let kernel = |function: &str, module: Option<&str>| RawFrame::Kernel {
            function: function.into(),
            module: module.map(Into::into),
        };
        assert_ne!(
            digester.digest(&[kernel("ab", None), kernel("c", None)]),
            digester.digest(&[kernel("a", None), kernel("bc", None)])
        );
        assert_ne!(
            digester.digest(&[kernel("a", Some("b"))]),
            digester.digest(&[kernel("a", None), kernel("b", None)])
        );
        let unknown = RawFrame::Unknown { reason: "x".into() };
        let named = RawFrame::Named {
            function: "x".into(),
            origin: String::new(),
        };
        assert_ne!(digester.digest(&[unknown]), digester.digest(&[named]));
        let runtime = |runtime, line, inlined| RawFrame::Runtime {
            runtime,
            function: "f".into(),
            file: "a.py".into(),
            line,
            inlined,
        };
        let python = runtime(augur_profile::Runtime::Python, 1, false);
        for other in [
            runtime(augur_profile::Runtime::Java, 1, false),
            runtime(augur_profile::Runtime::Python, 2, false),
            runtime(augur_profile::Runtime::Python, 1, true),
        ] {
            assert_ne!(
                digester.digest(std::slice::from_ref(&python)),
                digester.digest(&[other])
            );
        }
    }

    #[test]
    fn rollback_forgets_only_the_transaction() {
        let mut cache = TxCache::new(10);
        cache.insert("a", 1);
        cache.commit();
        cache.insert("b", 2);
        assert_eq!(cache.get("b"), Some(2));
        cache.rollback();
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("b"), None);
    }

    #[test]
    fn capacity_bounds_committed_entries() {
        let mut cache = TxCache::new(2);
        cache.insert(1, 1);
        cache.insert(2, 2);
        cache.commit();
        assert_eq!(cache.len(), 2);
        cache.insert(3, 3);
        cache.commit();
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&3), Some(3));
        assert_eq!(cache.get(&1), None);
    }

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
