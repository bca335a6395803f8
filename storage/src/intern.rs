//! In-memory intern tables that follow the writer's transactions.
//!
//! The writer remembers the row id of every frame, stack node, service and
//! binary it has seen, so a hot stack costs hash lookups instead of SQL. An id
//! learned inside a transaction is only true once that transaction commits:
//! after a rollback SQLite hands the same ids to other rows. So new entries
//! wait in `pending` and move to `committed` on commit, or vanish on rollback.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

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

#[cfg(test)]
mod tests {
    use super::*;

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
