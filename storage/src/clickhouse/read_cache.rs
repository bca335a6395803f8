//! Stacks and frames a query node read before, kept in memory so that the
//! next profile of the same service asks ClickHouse only for what changes:
//! the sample counts and the symbols.
//!
//! Both are immutable by construction. A stack's id is the hash of its
//! frame ids and a frame's id the hash of its columns (`mod.rs`), every
//! node computes the same ids, and nothing rewrites or reuses a `stacks` or
//! `frames` row (retention drops sample partitions only). So an entry read
//! once is true on every node, on every shard, forever; nodes need not
//! tell each other anything. Symbols are not immutable (late naming,
//! requeues) and binary paths can change with the rows that arrive, so
//! neither is kept here: each query reads them.
//!
//! Memory is bounded by counts, without bookkeeping per entry: a map that
//! would pass its bound is emptied first (the next queries fill it again).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use augur_profile::RawFrame;

use crate::query::IdHasher;

/// A map keyed by a content address (already a good hash: one multiply).
pub(super) type AddressMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A frame as stored: what it is and, for user frames, its binary's
/// build-id in hex (how `binary_paths` names it).
#[derive(Debug, PartialEq)]
pub(super) struct StoredFrame {
    pub(super) frame: RawFrame,
    pub(super) build_id: String,
}

/// How much a [`ReadCache`] may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadCacheBounds {
    /// Frame ids over every cached stack (8 bytes each, plus about 40
    /// per stack).
    pub stack_frame_ids: usize,
    /// Frames (about 150 bytes each).
    pub frames: usize,
}

impl ReadCacheBounds {
    /// About 80 MB at most: 4 M frame ids (200 k stacks 20 deep) and
    /// 256 k frames, several services' profiles.
    pub const DEFAULT: Self = Self {
        stack_frame_ids: 1 << 22,
        frames: 1 << 18,
    };

    /// Nothing kept: every query reads stacks and frames.
    pub const NONE: Self = Self {
        stack_frame_ids: 0,
        frames: 0,
    };
}

/// Stacks (their leaf-first frame ids) and frames by content address.
pub(super) struct ReadCache {
    stacks: Mutex<Stacks>,
    frames: Mutex<AddressMap<Arc<StoredFrame>>>,
    bounds: ReadCacheBounds,
}

#[derive(Default)]
struct Stacks {
    map: AddressMap<Arc<[u64]>>,
    /// Frame ids over every entry of `map`.
    frame_ids: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReadCache {
    pub(super) fn new(bounds: ReadCacheBounds) -> Self {
        Self {
            stacks: Mutex::default(),
            frames: Mutex::default(),
            bounds,
        }
    }

    /// The cached stacks of `ids`; the ids not cached go to `missing`.
    pub(super) fn stacks(
        &self,
        ids: impl IntoIterator<Item = u64>,
        missing: &mut Vec<u64>,
    ) -> AddressMap<Arc<[u64]>> {
        let cache = lock(&self.stacks);
        let mut found = AddressMap::default();
        for id in ids {
            match cache.map.get(&id) {
                Some(frames) => {
                    found.insert(id, frames.clone());
                }
                None => missing.push(id),
            }
        }
        found
    }

    /// Remembers stacks read from ClickHouse.
    pub(super) fn add_stacks<'a>(&self, read: impl IntoIterator<Item = (u64, &'a Arc<[u64]>)>) {
        let max = self.bounds.stack_frame_ids;
        if max == 0 {
            return;
        }
        let mut cache = lock(&self.stacks);
        for (id, frames) in read {
            if frames.len() > max {
                continue;
            }
            if cache.frame_ids + frames.len() > max {
                cache.map.clear();
                cache.frame_ids = 0;
            }
            if cache.map.insert(id, frames.clone()).is_none() {
                cache.frame_ids += frames.len();
            }
        }
    }

    /// The cached frames of `ids`; the ids not cached go to `missing`.
    pub(super) fn frames(
        &self,
        ids: impl IntoIterator<Item = u64>,
        missing: &mut Vec<u64>,
    ) -> AddressMap<Arc<StoredFrame>> {
        let cache = lock(&self.frames);
        let mut found = AddressMap::default();
        for id in ids {
            match cache.get(&id) {
                Some(frame) => {
                    found.insert(id, frame.clone());
                }
                None => missing.push(id),
            }
        }
        found
    }

    /// Remembers frames read from ClickHouse.
    pub(super) fn add_frames<'a>(
        &self,
        read: impl ExactSizeIterator<Item = (u64, &'a Arc<StoredFrame>)>,
    ) {
        let max = self.bounds.frames;
        if read.len() > max {
            return;
        }
        let mut cache = lock(&self.frames);
        if cache.len() + read.len() > max {
            cache.clear();
        }
        cache.extend(read.map(|(id, frame)| (id, frame.clone())));
    }

    /// Entries held: `(stacks, frame ids in them, frames)`.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        let stacks = lock(&self.stacks);
        (stacks.map.len(), stacks.frame_ids, lock(&self.frames).len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(offset: u64) -> Arc<StoredFrame> {
        Arc::new(StoredFrame {
            frame: RawFrame::Kernel {
                function: format!("f{offset}"),
                module: None,
            },
            build_id: String::new(),
        })
    }

    #[test]
    fn hits_and_misses_are_told_apart() {
        let cache = ReadCache::new(ReadCacheBounds::DEFAULT);
        let stack: Arc<[u64]> = Arc::from(vec![1, 2, 3]);
        cache.add_stacks([(7, &stack)]);
        let mut missing = Vec::new();
        let found = cache.stacks([7, 8], &mut missing);
        assert_eq!(found.get(&7).map(|s| &s[..]), Some(&[1, 2, 3][..]));
        assert_eq!(missing, [8]);
        let f = frame(1);
        cache.add_frames([(1, &f)].into_iter());
        let mut missing = Vec::new();
        let found = cache.frames([1, 2], &mut missing);
        assert_eq!(found.get(&1), Some(&f));
        assert_eq!(missing, [2]);
    }

    #[test]
    fn memory_stays_under_the_bounds() {
        let cache = ReadCache::new(ReadCacheBounds {
            stack_frame_ids: 10,
            frames: 3,
        });
        let stack: Arc<[u64]> = Arc::from(vec![1, 2, 3, 4]);
        for id in 0..100 {
            cache.add_stacks([(id, &stack)]);
            let (_, ids, _) = cache.sizes();
            assert!(ids <= 10, "{ids} frame ids held");
        }
        // The same stack twice counts once.
        let again = ReadCache::new(ReadCacheBounds::DEFAULT);
        again.add_stacks([(1, &stack), (1, &stack)]);
        assert_eq!(again.sizes(), (1, 4, 0));
        // Too big to hold at all: not held, nothing else dropped.
        let big: Arc<[u64]> = Arc::from(vec![0; 11]);
        cache.add_stacks([(500, &big)]);
        let mut missing = Vec::new();
        cache.stacks([500], &mut missing);
        assert_eq!(missing, [500]);
        for id in 0..10 {
            let f = frame(id);
            cache.add_frames([(id, &f)].into_iter());
            assert!(cache.sizes().2 <= 3);
        }
        // Disabled: nothing is kept.
        let none = ReadCache::new(ReadCacheBounds::NONE);
        none.add_stacks([(1, &stack)]);
        none.add_frames([(1, &frame(1))].into_iter());
        assert_eq!(none.sizes(), (0, 0, 0));
    }
}
