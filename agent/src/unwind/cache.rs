//! The cache of unwind tables: one per build-id, shared by every process
//! that maps the binary, bounded in memory.
//!
//! Each [`UnwindTableCache::acquire`] by a process that maps a binary is
//! paired with one [`UnwindTableCache::release`] when the process exits or
//! unmaps it, whatever `acquire` returned. A table no process holds is
//! *idle*: it stays only within `max_idle_bytes` (least recently released
//! evicted first), so a binary that short-lived processes run again and
//! again (a shell loop's `grep`) is not parsed once per process, while
//! binaries no one runs any more do not pile up. All tables together stay
//! within `max_bytes`; a table that does not fit next to the ones in use is
//! refused (the unwinder falls back to frame pointers for that binary) and
//! counted. Failures are remembered like tables, so a binary without
//! `.eh_frame` is not re-read for every process that maps it; except a
//! file that could not be opened or turned out to be another build: that
//! is about one process's path (it exited, or the file was replaced), not
//! about the binary, and the next process that maps it may reach it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use augur_profile::FileId;

use super::{UnwindError, UnwindTable, build};

/// Bookkeeping charged per entry on top of the rows.
const ENTRY_OVERHEAD: usize = 128;

/// Memory bounds of the cache.
#[derive(Clone, Copy, Debug)]
pub struct CacheLimits {
    /// All tables, in use or idle.
    pub max_bytes: usize,
    /// Tables no process holds.
    pub max_idle_bytes: usize,
    /// Idle entries (tables and remembered failures).
    pub max_idle_entries: usize,
    /// `.eh_frame` plus `.debug_frame` bytes of one binary (its table has
    /// about twice as many bytes); a binary with more is refused unparsed.
    pub max_unwind_info: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_bytes: 32 << 20,
            max_idle_bytes: 8 << 20,
            max_idle_entries: 1024,
            max_unwind_info: 2 << 20,
        }
    }
}

/// Why [`UnwindTableCache::acquire`] gave no table.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CacheError {
    /// The table could not be built (remembered until the entry is evicted).
    #[error("no unwind table")]
    Build(#[source] Arc<UnwindError>),
    /// The table does not fit next to the tables in use.
    #[error("unwind table of {bytes} bytes does not fit: {available} of {max} bytes free")]
    OverBudget {
        /// Size of the table.
        bytes: usize,
        /// Room left after evicting every idle table.
        available: usize,
        /// `CacheLimits::max_bytes`.
        max: usize,
    },
}

impl CacheError {
    /// False for a failure the cache did not remember (see the module
    /// docs): no user was counted, so there is nothing to release.
    pub fn is_held(&self) -> bool {
        match self {
            CacheError::Build(error) => !matches!(
                **error,
                UnwindError::Read { .. } | UnwindError::BuildIdMismatch { .. }
            ),
            CacheError::OverBudget { .. } => true,
        }
    }

    /// A short stable name for counting by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            CacheError::Build(error) => error.reason(),
            CacheError::OverBudget { .. } => "over_budget",
        }
    }
}

/// Counters and gauges of the cache, for the agent's metrics.
#[derive(Clone, Debug, Default)]
pub struct CacheStats {
    /// Tables held (in use or idle).
    pub tables: usize,
    /// Tables at least one process holds.
    pub tables_in_use: usize,
    /// Remembered failures.
    pub failed_entries: usize,
    /// Rows in the tables held.
    pub rows: u64,
    /// Bytes charged for everything held.
    pub bytes: u64,
    /// Tables built.
    pub builds: u64,
    /// Seconds spent building tables, failures included.
    pub build_seconds: f64,
    /// Rows of the tables built.
    pub rows_built: u64,
    /// Builds that failed, by `UnwindError::reason` or `over_budget`.
    pub failures: BTreeMap<&'static str, u64>,
    /// Acquires answered from the cache.
    pub hits: u64,
    /// Entries evicted.
    pub evictions: u64,
    /// Releases without a matching acquire (a caller bug; ignored).
    pub unmatched_releases: u64,
}

enum Outcome {
    Table(Arc<UnwindTable>),
    Failed(CacheError),
}

struct Entry {
    outcome: Outcome,
    /// Processes holding the entry.
    users: u32,
    /// When `users` last dropped to zero, in acquire/release steps.
    idle_since: u64,
    bytes: usize,
}

/// Unwind tables by build-id; see the module docs.
#[derive(Default)]
pub struct UnwindTableCache {
    limits: CacheLimits,
    entries: HashMap<FileId, Entry>,
    bytes: usize,
    idle_bytes: usize,
    idle_entries: usize,
    step: u64,
    stats: CacheStats,
}

impl std::fmt::Debug for UnwindTableCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnwindTableCache")
            .field("limits", &self.limits)
            .field("entries", &self.entries.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl UnwindTableCache {
    /// An empty cache with these bounds.
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The table of `build_id`, built from the file at `path` on first use.
    /// Counts one more user whatever the outcome, unless the error says it
    /// is not held ([`CacheError::is_held`]); pair each user with one
    /// [`UnwindTableCache::release`].
    pub fn acquire(
        &mut self,
        build_id: &FileId,
        path: &Path,
    ) -> Result<Arc<UnwindTable>, CacheError> {
        self.step += 1;
        if let Some(entry) = self.entries.get_mut(build_id) {
            if entry.users == 0 {
                self.idle_bytes -= entry.bytes;
                self.idle_entries -= 1;
            }
            entry.users += 1;
            self.stats.hits += 1;
            return match &entry.outcome {
                Outcome::Table(table) => Ok(table.clone()),
                Outcome::Failed(error) => Err(error.clone()),
            };
        }
        let started = Instant::now();
        let built = build::build_table_for(path, build_id, self.limits.max_unwind_info);
        self.stats.build_seconds += started.elapsed().as_secs_f64();
        let outcome = match built {
            Ok(table) => {
                self.stats.builds += 1;
                self.stats.rows_built += table.rows().len() as u64;
                let bytes = table.bytes() + ENTRY_OVERHEAD;
                self.evict_idle(|cache| cache.bytes + bytes > cache.limits.max_bytes);
                if self.bytes + bytes > self.limits.max_bytes {
                    Outcome::Failed(CacheError::OverBudget {
                        bytes,
                        available: self.limits.max_bytes.saturating_sub(self.bytes),
                        max: self.limits.max_bytes,
                    })
                } else {
                    Outcome::Table(Arc::new(table))
                }
            }
            Err(error) => Outcome::Failed(CacheError::Build(Arc::new(error))),
        };
        if let Outcome::Failed(error) = &outcome {
            *self.stats.failures.entry(error.reason()).or_default() += 1;
            tracing::debug!(build_id = %build_id, path = %path.display(), error = %error, "no unwind table");
            if !error.is_held() {
                return Err(error.clone());
            }
        }
        let bytes = match &outcome {
            Outcome::Table(table) => table.bytes() + ENTRY_OVERHEAD,
            Outcome::Failed(_) => ENTRY_OVERHEAD,
        };
        let result = match &outcome {
            Outcome::Table(table) => Ok(table.clone()),
            Outcome::Failed(error) => Err(error.clone()),
        };
        self.bytes += bytes;
        self.entries.insert(
            build_id.clone(),
            Entry {
                outcome,
                users: 1,
                idle_since: 0,
                bytes,
            },
        );
        result
    }

    /// One process holding `build_id` is gone. At zero users the entry is
    /// idle and kept only within the idle bounds.
    pub fn release(&mut self, build_id: &FileId) {
        self.step += 1;
        let Some(entry) = self.entries.get_mut(build_id) else {
            self.stats.unmatched_releases += 1;
            return;
        };
        if entry.users == 0 {
            self.stats.unmatched_releases += 1;
            return;
        }
        entry.users -= 1;
        if entry.users > 0 {
            return;
        }
        if matches!(
            entry.outcome,
            Outcome::Failed(CacheError::OverBudget { .. })
        ) {
            // Refused for want of room, not for what the binary is: the
            // next process that maps it tries again.
            let bytes = entry.bytes;
            self.entries.remove(build_id);
            self.bytes -= bytes;
            return;
        }
        entry.idle_since = self.step;
        self.idle_bytes += entry.bytes;
        self.idle_entries += 1;
        self.evict_idle(|cache| {
            cache.idle_bytes > cache.limits.max_idle_bytes
                || cache.idle_entries > cache.limits.max_idle_entries
        });
    }

    /// Drops every idle entry (tables and remembered failures).
    pub fn clear_idle(&mut self) {
        self.evict_idle(|_| true);
    }

    /// The table of `build_id` if cached, without counting a user.
    pub fn peek(&self, build_id: &FileId) -> Option<Arc<UnwindTable>> {
        match &self.entries.get(build_id)?.outcome {
            Outcome::Table(table) => Some(table.clone()),
            Outcome::Failed(_) => None,
        }
    }

    /// Whether `build_id` has an entry: a table, or a failure remembered.
    pub fn knows(&self, build_id: &FileId) -> bool {
        self.entries.contains_key(build_id)
    }

    /// Tables built so far.
    pub fn builds(&self) -> u64 {
        self.stats.builds
    }

    /// Counters, and gauges computed now.
    pub fn stats(&self) -> CacheStats {
        let mut stats = self.stats.clone();
        stats.bytes = self.bytes as u64;
        for entry in self.entries.values() {
            match &entry.outcome {
                Outcome::Table(table) => {
                    stats.tables += 1;
                    stats.tables_in_use += usize::from(entry.users > 0);
                    stats.rows += table.rows().len() as u64;
                }
                Outcome::Failed(_) => stats.failed_entries += 1,
            }
        }
        stats
    }

    /// Evicts idle entries, least recently released first, while `over`.
    fn evict_idle(&mut self, over: impl Fn(&Self) -> bool) {
        if self.idle_entries == 0 || !over(self) {
            return;
        }
        let mut idle: Vec<(u64, FileId)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.users == 0)
            .map(|(id, e)| (e.idle_since, id.clone()))
            .collect();
        idle.sort_unstable();
        for (_, id) in idle {
            if !over(self) {
                break;
            }
            if let Some(entry) = self.entries.remove(&id) {
                self.bytes -= entry.bytes;
                self.idle_bytes -= entry.bytes;
                self.idle_entries -= 1;
                self.stats.evictions += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unwind::tests::{build_id_of, compile_c};

    fn fixtures(dir: &Path) -> Vec<(FileId, std::path::PathBuf)> {
        (0..3)
            .map(|i| {
                let path = compile_c(
                    dir,
                    &format!("cache{i}"),
                    &["-O2", &format!("-DAUGUR_VARIANT={i}")],
                );
                (build_id_of(&path), path)
            })
            .collect()
    }

    #[test]
    fn shares_tables_and_evicts_idle_ones_in_release_order() {
        let dir = tempfile::tempdir().unwrap();
        let bins = fixtures(dir.path());
        let one =
            |cache: &mut UnwindTableCache, i: usize| cache.acquire(&bins[i].0, &bins[i].1).unwrap();
        // Room for any two idle tables, not three.
        let size = one(&mut UnwindTableCache::default(), 0).bytes() + ENTRY_OVERHEAD;
        let mut cache = UnwindTableCache::new(CacheLimits {
            max_bytes: 1 << 20,
            max_idle_bytes: 2 * size + size / 2,
            max_idle_entries: 10,
            ..CacheLimits::default()
        });
        let a = one(&mut cache, 0);
        let b = one(&mut cache, 0);
        assert!(Arc::ptr_eq(&a, &b), "two processes share one table");
        one(&mut cache, 1);
        one(&mut cache, 2);
        let stats = cache.stats();
        assert_eq!(
            (stats.builds, stats.hits, stats.tables, stats.tables_in_use),
            (3, 1, 3, 3)
        );
        assert_eq!(stats.rows_built, stats.rows);
        assert!(stats.build_seconds > 0.0);

        cache.release(&bins[0].0);
        assert_eq!(cache.stats().tables_in_use, 3, "one of two users left");
        cache.release(&bins[0].0);
        cache.release(&bins[2].0);
        assert_eq!(cache.stats().tables_in_use, 1);
        assert_eq!(cache.stats().tables, 3, "two idle tables fit");
        cache.release(&bins[1].0);
        // Three idle tables exceed the idle bound: the first released goes.
        assert!(cache.peek(&bins[0].0).is_none());
        assert!(cache.peek(&bins[1].0).is_some() && cache.peek(&bins[2].0).is_some());
        assert_eq!(cache.stats().evictions, 1);

        // A reused idle table is a hit, not a rebuild.
        one(&mut cache, 2);
        assert_eq!(cache.stats().builds, 3);
        cache.release(&bins[2].0);
        cache.clear_idle();
        let stats = cache.stats();
        assert_eq!((stats.tables, stats.bytes), (0, 0));

        cache.release(&bins[2].0);
        assert_eq!(cache.stats().unmatched_releases, 1);
    }

    #[test]
    fn refuses_tables_beyond_the_budget_but_evicts_idle_ones_first() {
        let dir = tempfile::tempdir().unwrap();
        let bins = fixtures(dir.path());
        let size = UnwindTableCache::default()
            .acquire(&bins[0].0, &bins[0].1)
            .unwrap()
            .bytes()
            + ENTRY_OVERHEAD;
        let mut cache = UnwindTableCache::new(CacheLimits {
            max_bytes: 2 * size + size / 2,
            max_idle_bytes: 1 << 20,
            max_idle_entries: 10,
            ..CacheLimits::default()
        });
        cache.acquire(&bins[0].0, &bins[0].1).unwrap();
        cache.acquire(&bins[1].0, &bins[1].1).unwrap();
        let refused = cache.acquire(&bins[2].0, &bins[2].1).unwrap_err();
        assert!(
            matches!(refused, CacheError::OverBudget { .. }),
            "{refused}"
        );
        assert_eq!(cache.stats().failures.get("over_budget"), Some(&1));
        // Remembered: no rebuild while a process holds the refusal.
        assert!(cache.acquire(&bins[2].0, &bins[2].1).is_err());
        assert_eq!(cache.stats().builds, 3);
        cache.release(&bins[2].0);
        cache.release(&bins[2].0);
        // Forgotten once no process holds it: it may fit later.
        assert_eq!(cache.stats().failed_entries, 0);
        cache.clear_idle();

        // An idle table makes room for a new one.
        cache.release(&bins[0].0);
        cache.acquire(&bins[2].0, &bins[2].1).unwrap();
        assert!(cache.peek(&bins[0].0).is_none());
        assert!(cache.stats().bytes as usize <= 2 * size + size / 2);
    }

    #[test]
    fn remembers_failures_and_checks_the_build_id() {
        let dir = tempfile::tempdir().unwrap();
        let bins = fixtures(dir.path());
        let mut cache = UnwindTableCache::default();
        // The file at the path is another build: not remembered, the next
        // process's path may be the right one.
        let error = cache.acquire(&bins[0].0, &bins[1].1).unwrap_err();
        assert_eq!(error.reason(), "build_id_mismatch", "{error:#}");
        assert!(!error.is_held());
        assert!(cache.acquire(&bins[0].0, &bins[0].1).is_ok());
        cache.release(&bins[0].0);
        cache.clear_idle();
        let gone = cache
            .acquire(&bins[1].0, &dir.path().join("exited"))
            .unwrap_err();
        assert_eq!(gone.reason(), "read_error");
        assert!(!gone.is_held());
        assert_eq!(cache.stats().tables + cache.stats().failed_entries, 0);
        let text = dir.path().join("not-elf");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        let fake = FileId::from_bytes(&[1, 2, 3, 4]).unwrap();
        assert_eq!(cache.acquire(&fake, &text).unwrap_err().reason(), "not_elf");
        assert_eq!(cache.acquire(&fake, &text).unwrap_err().reason(), "not_elf");
        let stats = cache.stats();
        assert_eq!((stats.failed_entries, stats.hits), (1, 1));
        assert_eq!(stats.failures.get("not_elf"), Some(&1));
        assert_eq!(stats.unmatched_releases, 0);

        // Too much unwind information: refused unparsed, and remembered.
        let mut small = UnwindTableCache::new(CacheLimits {
            max_unwind_info: 16,
            ..CacheLimits::default()
        });
        let refused = small.acquire(&bins[2].0, &bins[2].1).unwrap_err();
        assert_eq!(refused.reason(), "too_much_unwind_info", "{refused:#}");
        assert!(refused.is_held());
        assert_eq!(small.stats().builds, 0);
    }
}
