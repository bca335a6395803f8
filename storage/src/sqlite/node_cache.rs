//! Prefix-tree nodes and frames that earlier profile queries read, kept in
//! memory so that the next query asks SQLite only for sample counts and
//! what changed.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use augur_profile::Location;

use crate::api::IdMap;

/// Prefix-tree nodes and frames (with their symbols) read by earlier
/// queries, shared by every reader of one database.
///
/// Nodes and frames are immutable once committed (nothing updates or
/// deletes them, and readers only ever see committed rows), so a cached
/// node is never stale. Symbols do change, and the database counts every
/// transaction that changes them (`symbols_epoch`, schema version 7). The
/// cached frames are true for [`FrameCache::epoch`]: this process's own
/// symbol writes drop exactly the frames they changed and move the epoch
/// on ([`NodeFrameCache::symbols_changed`]); a query whose snapshot shows
/// another epoch (another process wrote symbols, or this one is between
/// its commit and that call) neither trusts nor fills the frame cache, and
/// one that shows a newer epoch nobody here accounted for empties it.
///
/// Each map is cleared when it would pass its bound, which keeps memory
/// bounded without bookkeeping per entry.
pub(super) struct NodeFrameCache {
    nodes: Mutex<IdMap<(i64, i64)>>,
    frames: Mutex<FrameCache>,
    pub(super) max_nodes: usize,
    pub(super) max_frames: usize,
}

/// Locations with their symbols as of `epoch`.
#[derive(Default)]
pub(super) struct FrameCache {
    pub(super) map: IdMap<Arc<Location>>,
    pub(super) epoch: i64,
}

impl NodeFrameCache {
    /// About 40 MB at most: enough for the nodes and frames of a few
    /// profiles of 100,000+ nodes.
    pub(super) fn new() -> Self {
        Self::with_bounds(1 << 20, 1 << 18)
    }

    pub(super) fn with_bounds(max_nodes: usize, max_frames: usize) -> Self {
        Self {
            nodes: Default::default(),
            frames: Default::default(),
            max_nodes,
            max_frames,
        }
    }

    pub(super) fn nodes(&self) -> MutexGuard<'_, IdMap<(i64, i64)>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn frames(&self) -> MutexGuard<'_, FrameCache> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(super) fn node_count(&self) -> usize {
        self.nodes().len()
    }

    /// The writer committed these stack nodes: remember them, as a query
    /// reading them would (nodes never change once committed).
    pub(super) fn nodes_added(&self, nodes: Vec<(i64, (i64, i64))>) {
        if !nodes.is_empty() {
            remember(&mut self.nodes(), self.max_nodes, nodes.into_iter());
        }
    }

    /// This process committed new symbols for `frames`, which moved the
    /// symbols epoch to `epoch`: forget those frames, keep the rest.
    pub(super) fn symbols_changed(&self, epoch: i64, frames: &[i64]) {
        let mut cache = self.frames();
        for id in frames {
            cache.map.remove(id);
        }
        if epoch == cache.epoch + 1 {
            cache.epoch = epoch;
        } else {
            // Another writer changed symbols too: nothing here is known true.
            cache.map.clear();
            cache.epoch = cache.epoch.max(epoch);
        }
    }
}

/// Adds `new` entries to a cache map, clearing it first if they would not
/// fit under `max`.
pub(super) fn remember<V>(
    map: &mut IdMap<V>,
    max: usize,
    new: impl ExactSizeIterator<Item = (i64, V)>,
) {
    if new.len() > max {
        return;
    }
    if map.len() + new.len() > max {
        map.clear();
    }
    map.extend(new);
}
