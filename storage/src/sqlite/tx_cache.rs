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

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use augur_profile::RawFrame;

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
}
