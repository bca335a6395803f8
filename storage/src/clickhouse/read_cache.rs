//! Stacks and frames a query node read before, kept in memory so that the
//! next profile of the same service asks ClickHouse only for what changes:
//! the sample counts and the symbols.
//!
//! Stacks and frames are immutable by construction. A stack's id is the
//! hash of its frame ids and a frame's id the hash of its columns
//! (`mod.rs`), every node computes the same ids, and nothing rewrites or
//! reuses a `stacks` or `frames` row (retention drops sample partitions
//! only). So an entry read once is true on every node, on every shard,
//! forever; nodes need not tell each other anything.
//!
//! Symbols change (late naming, requeues), so the symbols a node keeps are
//! checked against `symbol_writes`, a row per symbols write listing the
//! frames it changes, written before the write's `symbols` rows
//! ([`SymbolCache`]). Binary paths can change with the rows that arrive
//! and are not kept: each query reads them.
//!
//! Memory is bounded by counts, without bookkeeping per entry: a map that
//! would pass its bound is emptied first (the next queries fill it again).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use augur_profile::{Location, RawFrame, Symbol};

use super::ids::{FNV_OFFSET, fnv1a};
use crate::api::IdHasher;

/// A map keyed by a content address (already a good hash: one multiply).
pub(super) type AddressMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A frame as stored: what it is and, for user frames, its binary's
/// build-id in hex (how `binary_paths` names it).
#[derive(Debug, PartialEq)]
pub(super) struct StoredFrame {
    pub(super) frame: RawFrame,
    pub(super) build_id: String,
    /// [`build_key`] of `build_id`, to find its path fast.
    pub(super) build_key: u64,
}

/// A build-id's hex as a map key (FNV-1a).
pub(super) fn build_key(hex: &str) -> u64 {
    fnv1a(hex.as_bytes(), FNV_OFFSET)
}

/// How much a [`ReadCache`] may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadCacheBounds {
    /// Frame ids over every cached stack (8 bytes each, plus about 40
    /// per stack).
    pub stack_frame_ids: usize,
    /// Frames (about 150 bytes each).
    pub frames: usize,
    /// Frames' symbols (about 100 bytes each, plus the names).
    pub symbols: usize,
    /// Rows of settled windows' sums per stack (24 bytes each).
    pub window_rows: usize,
}

impl ReadCacheBounds {
    /// About 120 MB at most: 2 M frame ids (100 k stacks 20 deep), 256 k
    /// frames and their symbols, and 1 M rows of settled windows (1,000
    /// minutes of a service with 1,000 stacks).
    pub const DEFAULT: Self = Self {
        stack_frame_ids: 1 << 21,
        frames: 1 << 18,
        symbols: 1 << 18,
        window_rows: 1 << 20,
    };

    /// Nothing kept: every query reads stacks, frames, symbols and sums.
    pub const NONE: Self = Self {
        stack_frame_ids: 0,
        frames: 0,
        symbols: 0,
        window_rows: 0,
    };
}

/// Stacks (their leaf-first frame ids) and frames by content address,
/// frames' symbols as of the `symbol_writes` rows seen, and settled
/// windows' sums.
pub(super) struct ReadCache {
    stacks: Mutex<Stacks>,
    frames: Mutex<AddressMap<Arc<StoredFrame>>>,
    /// Locations built for earlier answers (frame, path and symbols as
    /// they were then), handed out again while path and symbols are equal
    /// to a query's: bounded like `frames`.
    located: Mutex<AddressMap<Arc<Location>>>,
    symbols: Mutex<SymbolCache>,
    windows: Mutex<WindowSums>,
    bounds: ReadCacheBounds,
}

/// A clean minute window's per-service rows at one generation, summed per
/// `(stack id, period)`: `(stack id, period, count)`. Immutable: a
/// generation's rows are all written before its settle is marked done,
/// and nobody writes that generation again with other counts (a batch
/// arriving after the settle began marks the window, which is then not
/// clean at it). Rollups drop them with their day, and queries then read
/// that day's hours instead.
pub(super) type WindowCounts = Arc<[(u64, u64, u64)]>;

/// `(service, profile type, window start, generation)`.
type WindowKey = (String, String, i64, u64);

#[derive(Default)]
struct WindowSums {
    map: HashMap<WindowKey, WindowCounts>,
    /// Rows over every entry.
    rows: usize,
}

/// A `symbol_writes` row: who wrote it and its number there.
pub(super) type WriteId = (u64, u64);

/// Frames' newest symbols, true as of `writes` rows of `symbol_writes`.
///
/// Every symbols write first adds a `symbol_writes` row naming its frames,
/// then its `symbols` rows. Each query counts `symbol_writes` first. The
/// same count as `writes` means no write began since the last sync, so
/// the cached symbols are the newest (a write that began during the query
/// may show or not, as without a cache). A new count makes the query read
/// the rows written since `synced` (less a margin for clocks), drop the
/// frames the new ones name, and count again: if the count is then the old
/// one plus the new rows, those were all of them; if not (a row older than
/// the margin, rows deleted), the whole cache is dropped. Either way
/// `generation` moves on, and a query that began under an older one does
/// not fill the cache. A frame a new row names is not cached for
/// [`SETTLING`], longer than its write's `symbols` insert may take.
#[derive(Default)]
pub(super) struct SymbolCache {
    map: AddressMap<Arc<Vec<Symbol>>>,
    /// Rows of `symbol_writes` accounted for.
    pub(super) writes: u64,
    /// Rows seen by the last syncs, with their `written` time; older ones
    /// cannot come back in a sync's read.
    recent: HashMap<WriteId, i64>,
    /// Reader's clock (Unix nanoseconds) when the last sync began.
    pub(super) synced: i64,
    /// Moved on by every change.
    pub(super) generation: u64,
    /// Frames not cached until then, and (after a dropped cache) no
    /// frame at all.
    settling: AddressMap<Instant>,
    settling_all: Option<Instant>,
}

/// How long a frame a write named is not cached: longer than the write's
/// `symbols` insert may take after its `symbol_writes` row (statements
/// time out after 30 s by default).
pub(super) const SETTLING: Duration = Duration::from_secs(120);

/// How far back in `written` time a sync reads `symbol_writes`: more than
/// the clocks of two nodes differ plus an insert's time.
pub(super) const SYNC_MARGIN_NANOS: i64 = 600_000_000_000;

impl SymbolCache {
    /// `written` time from which a sync that began at `began` (reader's
    /// clock, Unix nanoseconds) reads `symbol_writes`.
    pub(super) fn read_from(&self, began: i64) -> i64 {
        let since = if self.synced == 0 { began } else { self.synced };
        since.saturating_sub(SYNC_MARGIN_NANOS)
    }

    /// Applies the rows of a sync: `read` (rows written since
    /// [`Self::read_from`], with `written` and the frames named), and the
    /// count of all rows after that read. `began` is the reader's clock
    /// when the sync began. Returns whether the cache was kept. The first
    /// sync only takes the count (the cache is empty).
    pub(super) fn apply_sync(
        &mut self,
        read: Vec<(WriteId, i64, Vec<u64>)>,
        count_after: u64,
        began: i64,
    ) -> bool {
        let settle_until = Instant::now() + SETTLING;
        let first = self.synced == 0;
        let new: Vec<&(WriteId, i64, Vec<u64>)> = read
            .iter()
            .filter(|(id, _, _)| !self.recent.contains_key(id))
            .collect();
        let kept = first || count_after == self.writes + new.len() as u64;
        if kept {
            for (_, _, frames) in &new {
                for id in frames {
                    self.map.remove(id);
                    self.settling.insert(*id, settle_until);
                }
            }
        } else {
            self.map.clear();
            self.settling.clear();
            self.settling_all = Some(settle_until);
        }
        self.recent
            .extend(read.iter().map(|(id, written, _)| (*id, *written)));
        let oldest = began.saturating_sub(SYNC_MARGIN_NANOS);
        self.recent.retain(|_, written| *written >= oldest);
        self.writes = count_after;
        self.synced = began;
        self.generation += 1;
        kept
    }

    /// The cached symbols of `ids`; the ids not cached (or settling) go to
    /// `missing`.
    pub(super) fn get(
        &self,
        ids: impl IntoIterator<Item = u64>,
        missing: &mut Vec<u64>,
    ) -> AddressMap<Arc<Vec<Symbol>>> {
        let mut found = AddressMap::default();
        for id in ids {
            match self.map.get(&id) {
                Some(symbols) => {
                    found.insert(id, symbols.clone());
                }
                None => missing.push(id),
            }
        }
        found
    }

    /// Remembers symbols read under `generation`, unless a sync changed
    /// something since, or the frames are settling.
    pub(super) fn add(&mut self, generation: u64, read: &[(u64, Arc<Vec<Symbol>>)], max: usize) {
        if generation != self.generation || read.len() > max {
            return;
        }
        let now = Instant::now();
        if self.settling_all.is_some_and(|until| now < until) {
            return;
        }
        self.settling_all = None;
        self.settling.retain(|_, until| now < *until);
        if self.map.len() + read.len() > max {
            self.map.clear();
        }
        for (id, symbols) in read {
            if !self.settling.contains_key(id) {
                self.map.insert(*id, symbols.clone());
            }
        }
    }

    /// The frames whose symbols are held.
    #[cfg(test)]
    fn cached(&self) -> std::collections::HashSet<u64> {
        self.map.keys().copied().collect()
    }
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
            symbols: Mutex::default(),
            windows: Mutex::default(),
            located: Mutex::default(),
            bounds,
        }
    }

    /// Locations built before (compare their path and symbols before use).
    pub(super) fn located(&self) -> MutexGuard<'_, AddressMap<Arc<Location>>> {
        lock(&self.located)
    }

    /// Remembers locations built for an answer.
    pub(super) fn add_located(&self, built: Vec<(u64, Arc<Location>)>) {
        let max = self.bounds.frames;
        if built.is_empty() || built.len() > max {
            return;
        }
        let mut cache = lock(&self.located);
        if cache.len() + built.len() > max {
            cache.clear();
        }
        cache.extend(built);
    }

    /// The cached sums of `service`'s `profile_type` in the clean windows
    /// `pairs` (`(window start, generation)`); the pairs not cached go to
    /// `missing`.
    pub(super) fn window_counts(
        &self,
        service: &str,
        profile_type: &str,
        pairs: &[(i64, u64)],
        missing: &mut Vec<(i64, u64)>,
    ) -> Vec<WindowCounts> {
        let cache = lock(&self.windows);
        let mut found = Vec::new();
        for &(window, generation) in pairs {
            let key = (
                service.to_owned(),
                profile_type.to_owned(),
                window,
                generation,
            );
            match cache.map.get(&key) {
                Some(counts) => found.push(counts.clone()),
                None => missing.push((window, generation)),
            }
        }
        found
    }

    /// Remembers sums of clean windows read from ClickHouse.
    pub(super) fn add_window_counts(
        &self,
        service: &str,
        profile_type: &str,
        read: &[((i64, u64), WindowCounts)],
    ) {
        let max = self.bounds.window_rows;
        let mut cache = lock(&self.windows);
        for ((window, generation), counts) in read {
            if counts.len() > max {
                continue;
            }
            if cache.rows + counts.len() > max {
                cache.map.clear();
                cache.rows = 0;
            }
            let key = (
                service.to_owned(),
                profile_type.to_owned(),
                *window,
                *generation,
            );
            if cache.map.insert(key, counts.clone()).is_none() {
                cache.rows += counts.len();
            }
        }
    }

    pub(super) fn bounds(&self) -> ReadCacheBounds {
        self.bounds
    }

    pub(super) fn symbol_cache(&self) -> MutexGuard<'_, SymbolCache> {
        lock(&self.symbols)
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
    use std::collections::HashSet;

    use super::*;

    fn frame(offset: u64) -> Arc<StoredFrame> {
        Arc::new(StoredFrame {
            frame: RawFrame::Kernel {
                function: format!("f{offset}"),
                module: None,
            },
            build_id: String::new(),
            build_key: build_key(""),
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
            symbols: 3,
            window_rows: 4,
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
        let counts: WindowCounts = Arc::from(vec![(1, 10, 5), (2, 10, 7)]);
        for window in 0..10 {
            cache.add_window_counts("api", "cpu", &[((window, 1), counts.clone())]);
            assert!(lock(&cache.windows).rows <= 4);
        }
        let mut missing = Vec::new();
        let found = cache.window_counts("api", "cpu", &[(9, 1), (9, 2), (0, 1)], &mut missing);
        assert_eq!(found, vec![counts.clone()]);
        assert_eq!(missing, [(9, 2), (0, 1)]);
        // Disabled: nothing is kept.
        let none = ReadCache::new(ReadCacheBounds::NONE);
        none.add_window_counts("api", "cpu", &[((0, 1), counts)]);
        assert_eq!(lock(&none.windows).rows, 0);
        none.add_stacks([(1, &stack)]);
        none.add_frames([(1, &frame(1))].into_iter());
        assert_eq!(none.sizes(), (0, 0, 0));
    }

    fn named(f: &str) -> Arc<Vec<Symbol>> {
        Arc::new(vec![Symbol {
            function: f.into(),
            file: None,
            line: None,
        }])
    }

    #[test]
    fn symbols_are_kept_until_a_write_names_their_frame() {
        let mut cache = SymbolCache::default();
        let mut missing = Vec::new();
        assert!(cache.get([1, 2], &mut missing).is_empty());
        let g = cache.generation;
        cache.add(g, &[(1, named("a")), (2, named("b"))], 10);
        assert_eq!(cache.cached(), HashSet::from([1, 2]));
        // The first sync takes the count.
        assert!(cache.apply_sync(vec![], 0, 50));
        // A write naming frame 1: it goes, frame 2 stays; frame 1 is not
        // cached again while its write may still be arriving.
        assert!(cache.apply_sync(vec![((9, 1), 100, vec![1])], 1, 100));
        assert_eq!(cache.cached(), HashSet::from([2]));
        cache.add(cache.generation, &[(1, named("a2"))], 10);
        assert_eq!(cache.cached(), HashSet::from([2]));
        // The same row seen again by the next sync is nothing new.
        assert!(cache.apply_sync(vec![((9, 1), 100, vec![1])], 1, 200));
        assert_eq!(cache.cached(), HashSet::from([2]));
        // A query that began before a sync does not fill the cache.
        cache.add(g, &[(3, named("c"))], 10);
        assert!(!cache.cached().contains(&3));
    }

    #[test]
    fn a_count_that_does_not_add_up_drops_every_symbol() {
        let mut cache = SymbolCache::default();
        assert!(cache.apply_sync(vec![], 0, 50));
        cache.add(cache.generation, &[(1, named("a")), (2, named("b"))], 10);
        // Two new rows counted, one read (the other older than the
        // margin): nothing is known true any more.
        assert!(!cache.apply_sync(vec![((9, 1), 100, vec![1])], 2, 100));
        assert!(cache.cached().is_empty());
        assert_eq!(cache.writes, 2);
        // Nor is anything cached until every write seen has settled.
        cache.add(cache.generation, &[(2, named("b"))], 10);
        assert!(cache.cached().is_empty());
    }

    #[test]
    fn symbols_stay_under_their_bound() {
        let mut cache = SymbolCache::default();
        for id in 0..10 {
            cache.add(0, &[(id, named("f"))], 3);
            assert!(cache.cached().len() <= 3);
        }
        cache.add(
            0,
            &[
                (1, named("f")),
                (2, named("f")),
                (3, named("f")),
                (4, named("f")),
            ],
            3,
        );
        assert!(cache.cached().len() <= 3);
    }
}
