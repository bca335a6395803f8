//! The unwind tables as the BPF unwinder reads them (`bpf/src/bpf/unwind.h`):
//! every loaded binary's rows one after another in the `unwind_rows` array
//! (each binary from the start of a chunk of rows), and per process its executable mappings with the
//! slice of rows of each (`unwind_procs`).
//!
//! A process's tables are acquired when its mapping snapshot is taken or
//! refreshed (a `dlopen` shows as a sampled address outside the snapshot,
//! and the resolver reads the maps again), and released when it exits; all
//! of that runs on the worker thread of [`super::worker`], never on the
//! sampling thread. A binary's rows are copied into the array once, however
//! many processes map it, and their room is freed when the last of them is
//! gone. The array is the only copy of a table in use: once the rows are
//! in, the [`UnwindTableCache`] keeps the table only as an idle one, within
//! its idle budget, for the next process that runs the binary after the
//! last one exited. What a process holds of each binary is a `Hold`. A
//! process none of whose binaries has a table gets no entry: the BPF
//! program then takes its stack by frame pointers.
//!
//! Chunks are allocated first-fit from free ranges ([`RowAllocator`]), so the
//! room of binaries no process maps any more is reused. When a table does
//! not fit even so, the binary is walked by frame pointers (counted as
//! `kernel_rows_full`, logged once per binary, and a gauge of the binaries
//! waiting); the processes that map it are remembered and given its rows as
//! soon as enough are freed.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use augur_bpf::{
    MAX_UNWIND_MAPPINGS, UNWIND_PROC_COMPLETE, UNWIND_ROW_SIZE, UnwindFile, UnwindFileKey,
    UnwindMapping, UnwindProcess, UnwindStat,
};
use augur_profile::FileId;
use libbpf_rs::libbpf_sys;

use super::{CacheLimits, CacheStats, UnwindTable, UnwindTableCache};

/// Rows the kernel array holds (12 bytes each: 24 MiB).
pub const ROW_CAPACITY: u32 = 1 << 21;
/// Processes the unwinder knows at once (4 KiB each).
pub const MAX_PROCESSES: u32 = 2048;

/// File descriptors of the unwinder's maps, shared by every perf-event
/// sampler of the agent (the first one creates them, the others reuse them).
#[derive(Debug)]
pub struct UnwindMapFds {
    /// `unwind_rows`.
    pub rows: OwnedFd,
    /// `unwind_procs`.
    pub procs: OwnedFd,
    /// `unwind_stats`.
    pub stats: OwnedFd,
    /// `unwind_files`.
    pub files: OwnedFd,
    /// Rows `unwind_rows` holds.
    pub row_capacity: u32,
}

/// One executable mapping of a process, from its snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecMapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// File offset mapped at `start`.
    pub offset: u64,
    /// Build-id of the mapped file, if it is a file with one.
    pub build_id: Option<FileId>,
    /// Its path as `/proc/PID/maps` shows it, for a file.
    pub path: Option<Arc<str>>,
}

/// First-fit allocation of slices of the kernel array, in units of
/// whatever the caller counts (the agent: chunks of rows).
#[derive(Debug)]
pub struct RowAllocator {
    /// Free ranges (start, length), sorted, never adjacent.
    free: Vec<(u32, u32)>,
}

impl RowAllocator {
    /// All of `capacity` units free.
    pub fn new(capacity: u32) -> Self {
        Self {
            free: if capacity > 0 {
                vec![(0, capacity)]
            } else {
                Vec::new()
            },
        }
    }

    /// The first of `rows` consecutive free units, now taken.
    pub fn alloc(&mut self, rows: u32) -> Option<u32> {
        if rows == 0 {
            return None;
        }
        let i = self.free.iter().position(|&(_, len)| len >= rows)?;
        let (start, len) = self.free[i];
        if len == rows {
            self.free.remove(i);
        } else {
            self.free[i] = (start + rows, len - rows);
        }
        Some(start)
    }

    /// Gives back `rows` units from `start`, merging with free neighbours.
    pub fn release(&mut self, start: u32, rows: u32) {
        if rows == 0 {
            return;
        }
        let i = self.free.partition_point(|&(s, _)| s < start);
        let mut range = (start, rows);
        if let Some(&(next, len)) = self.free.get(i)
            && start + rows == next
        {
            range.1 += len;
            self.free.remove(i);
        }
        if i > 0 {
            let (prev, len) = self.free[i - 1];
            if prev + len == start {
                self.free[i - 1].1 += range.1;
                return;
            }
        }
        self.free.insert(i, range);
    }

    /// Units free in all.
    pub fn free_units(&self) -> u64 {
        self.free.iter().map(|&(_, len)| u64::from(len)).sum()
    }

    /// The longest run of free units: the largest slice that fits now.
    pub fn largest_free(&self) -> u32 {
        self.free.iter().map(|&(_, len)| len).max().unwrap_or(0)
    }
}

/// The `unwind_procs` value for `mappings` (any order), each with its
/// binary's row slice `(first, rows)` or `None`; mappings beyond
/// [`MAX_UNWIND_MAPPINGS`] are left out (those without rows first), and
/// their number returned.
pub fn process_entry(mappings: &[(ExecMapping, Option<(u32, u32)>)]) -> (UnwindProcess, usize) {
    let mut kept: Vec<&(ExecMapping, Option<(u32, u32)>)> = mappings.iter().collect();
    let dropped = kept.len().saturating_sub(MAX_UNWIND_MAPPINGS);
    if dropped > 0 {
        // Keep the mappings with tables; the others unwind by frame
        // pointer either way.
        kept.sort_by_key(|(m, rows)| (rows.is_none(), m.start));
        kept.truncate(MAX_UNWIND_MAPPINGS);
    }
    kept.sort_by_key(|(m, _)| m.start);
    let mut entry = UnwindProcess {
        len: kept.len() as u32,
        flags: if dropped == 0 {
            UNWIND_PROC_COMPLETE
        } else {
            0
        },
        ..UnwindProcess::default()
    };
    for (slot, (m, rows)) in entry.mappings.iter_mut().zip(kept) {
        let (first_row, rows) = rows.unwrap_or((0, 0));
        *slot = UnwindMapping {
            start: m.start,
            end: m.end,
            file_offset: m.offset,
            first_row,
            rows,
        };
    }
    (entry, dropped)
}

/// Rows per element of `unwind_rows`: the unit the array is allocated in.
const CHUNK: u32 = augur_bpf::UNWIND_ROWS_PER_CHUNK as u32;

/// Writes a table's rows into `unwind_rows` from chunk `first` on, whole
/// chunks (the last one padded with zero rows, which no search reaches: a
/// binary's slice ends at its row count).
///
/// Through the `bpf()` system call rather than a shared mapping of the
/// array: a mapping of a BPF array maps every page of it at once, so the
/// agent's resident size would count the whole preallocated array (24 MiB)
/// from its first moment, whatever it holds. The array's memory is the
/// kernel's either way.
fn write_chunks(fd: &OwnedFd, first: u32, bytes: &[u8]) -> std::io::Result<()> {
    let chunk_bytes = UNWIND_ROW_SIZE * CHUNK as usize;
    let whole = bytes.len() / chunk_bytes;
    let mut keys: Vec<u32> = (first..).take(whole).collect();
    update_batch(fd, &keys, &bytes[..whole * chunk_bytes])?;
    let tail = &bytes[whole * chunk_bytes..];
    if !tail.is_empty() {
        let mut last = vec![0u8; chunk_bytes];
        last[..tail.len()].copy_from_slice(tail);
        keys.clear();
        keys.push(first + whole as u32);
        update_batch(fd, &keys, &last)?;
    }
    Ok(())
}

/// One `BPF_MAP_UPDATE_BATCH` of `keys` with `values` (one element each).
fn update_batch(fd: &OwnedFd, keys: &[u32], values: &[u8]) -> std::io::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    debug_assert_eq!(values.len(), keys.len() * UNWIND_ROW_SIZE * CHUNK as usize);
    let mut count = keys.len() as u32;
    let opts = libbpf_sys::bpf_map_batch_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
        ..Default::default()
    };
    // SAFETY: `keys` holds `count` u32 keys and `values` `count` elements of
    // the map's value size (checked above); both outlive the call.
    let ret = unsafe {
        libbpf_sys::bpf_map_update_batch(
            fd.as_raw_fd(),
            keys.as_ptr().cast(),
            values.as_ptr().cast(),
            &mut count,
            &opts,
        )
    };
    if ret != 0 {
        return Err(std::io::Error::from_raw_os_error(-ret));
    }
    Ok(())
}

/// What a process holds of one of its binaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// A user of the binary's rows in the kernel array.
    Kernel,
    /// A user of a cache entry without rows in the array: a remembered
    /// failure, or a table refused as over budget.
    Cache,
    /// Nothing: the table did not fit in the array. The binary is walked
    /// by frame pointers in this process until rows are freed, then the
    /// process is given its tables again (see [`KernelUnwindTables`]).
    Nothing,
}

/// A binary's rows in the kernel array.
#[derive(Debug)]
struct Loaded {
    first: u32,
    rows: u32,
    /// Processes using these rows.
    users: u32,
    /// Its entry in `unwind_files`, if it got one.
    file: Option<UnwindFileKey>,
}

/// The `unwind_files` key of the file at `path`: its device in the
/// kernel's encoding (`MKDEV`: major << 20 | minor, as `s_dev` holds it)
/// and its inode. Through a `map_files` link or `/proc/PID/root` this is
/// the file the process mapped.
fn file_key(path: &std::path::Path) -> Option<UnwindFileKey> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let dev = meta.dev();
    let (major, minor) = (u64::from(libc::major(dev)), u64::from(libc::minor(dev)));
    Some(UnwindFileKey {
        dev: (major << 20) | minor,
        ino: meta.ino(),
    })
}

/// What the kernel tables hold and what they could not take.
#[derive(Clone, Debug, Default)]
pub struct KernelTableStats {
    /// The table cache's counters (tables built, rows, bytes, seconds).
    pub cache: CacheStats,
    /// Processes unwound with tables.
    pub processes: usize,
    /// Binaries whose rows are in the kernel array.
    pub binaries: usize,
    /// Rows of the kernel array in use.
    pub rows_used: u64,
    /// Tables that did not fit in the kernel array (frame pointers instead).
    pub rows_full: u64,
    /// Rows the kernel array holds.
    pub rows_capacity: u64,
    /// Binaries walked by frame pointers for want of room in the kernel
    /// array, now (each waits for rows to be freed).
    pub binaries_waiting: usize,
    /// Processes given a binary's rows after waiting for room.
    pub room_retries: u64,
    /// Processes refused by a full `unwind_procs` map.
    pub processes_full: u64,
    /// Mappings left out of processes with more than the unwinder knows.
    pub mappings_dropped: u64,
    /// Binaries a young process mapped that were never seen and too large
    /// to build at once: walked by frame pointers in it until its full
    /// update ([`KernelUnwindTables::update_young_process`]).
    pub builds_deferred: u64,
    /// The BPF program's counters, totals since load (by [`UnwindStat`]).
    pub kernel: [u64; UnwindStat::ALL.len()],
    /// Processes waiting for the worker thread.
    pub queued: usize,
    /// Process updates refused by a full queue (those processes stay on
    /// frame pointers until their mappings change again).
    pub queue_full: u64,
    /// Process updates and exits the worker handled.
    pub requests_done: u64,
}

/// The unwinder's maps and the tables behind them; see the module docs.
pub struct KernelUnwindTables {
    fds: Arc<UnwindMapFds>,
    /// Free chunks of `unwind_rows`.
    allocator: RowAllocator,
    cache: UnwindTableCache,
    loaded: HashMap<FileId, Loaded>,
    /// Per process: what it holds of each of its binaries.
    processes: HashMap<u32, HashMap<FileId, Hold>>,
    /// Processes with an `unwind_procs` entry.
    in_kernel: std::collections::HashSet<u32>,
    /// Binaries whose table did not fit in the array, with its rows.
    waiting: HashMap<FileId, u32>,
    /// Processes holding [`Hold::Nothing`] of some binary, with their
    /// mappings: given their tables again when enough rows are freed.
    starved: HashMap<u32, Vec<ExecMapping>>,
    /// Unwind information bytes of binaries young processes mapped, so a
    /// large binary run again and again (a compiler) is not reopened for
    /// each; forgotten wholesale past [`MAX_SIZES_KNOWN`].
    sizes: HashMap<FileId, u64>,
    stats: KernelTableStats,
}

/// Binaries whose unwind information size is remembered at most.
const MAX_SIZES_KNOWN: usize = 4096;

impl std::fmt::Debug for KernelUnwindTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelUnwindTables")
            .field("processes", &self.processes.len())
            .field("binaries", &self.loaded.len())
            .finish()
    }
}

impl KernelUnwindTables {
    /// Tables for the maps behind `fds`, built within `limits`.
    pub fn new(fds: Arc<UnwindMapFds>, limits: CacheLimits) -> std::io::Result<Self> {
        Ok(Self {
            allocator: RowAllocator::new(fds.row_capacity / CHUNK),
            fds,
            cache: UnwindTableCache::new(limits),
            loaded: HashMap::new(),
            processes: HashMap::new(),
            in_kernel: Default::default(),
            waiting: HashMap::new(),
            starved: HashMap::new(),
            sizes: HashMap::new(),
            stats: KernelTableStats::default(),
        })
    }

    /// Sets `pid`'s tables from its executable `mappings` (a new process,
    /// or new mappings of a known one): acquires the binaries it did not
    /// hold, writes its entry, releases those it no longer maps.
    pub fn update_process(&mut self, pid: u32, mappings: &[ExecMapping]) {
        let freed = self.set_process(pid, mappings, None);
        if freed {
            self.feed_starved();
        }
    }

    /// [`update_process`](Self::update_process) for a process just seen:
    /// every binary whose table is built (or known to fail) is used at
    /// once, and a binary never seen before is built now only if it has
    /// at most `max_sync_bytes` of unwind information (a build of that
    /// size takes a few milliseconds; see `docs/benchmarks.md`). A larger
    /// one is left out, its mapping walked by frame pointers, until the
    /// process's next full update: most short-lived processes never need
    /// it.
    pub fn update_young_process(
        &mut self,
        pid: u32,
        mappings: &[ExecMapping],
        max_sync_bytes: u64,
    ) {
        let freed = self.set_process(pid, mappings, Some(max_sync_bytes));
        if freed {
            self.feed_starved();
        }
    }

    /// Whether the binary behind `m` may be built for a young process:
    /// known already, or small enough to build at once.
    fn buildable_now(
        &mut self,
        pid: u32,
        m: &ExecMapping,
        build_id: &FileId,
        max_bytes: u64,
    ) -> bool {
        if self.loaded.contains_key(build_id) || self.cache.knows(build_id) {
            return true;
        }
        if let Some(&bytes) = self.sizes.get(build_id) {
            return bytes <= max_bytes;
        }
        let Ok(bytes) = super::build::unwind_info_bytes(&mapped_file(pid, m)) else {
            return false;
        };
        if self.sizes.len() >= MAX_SIZES_KNOWN {
            self.sizes.clear();
        }
        self.sizes.insert(build_id.clone(), bytes);
        bytes <= max_bytes
    }

    /// `update_process` without the retry of starved processes; true if
    /// rows were freed. With `max_sync_bytes`, binaries never seen that
    /// hold more unwind information are not acquired.
    fn set_process(
        &mut self,
        pid: u32,
        mappings: &[ExecMapping],
        max_sync_bytes: Option<u64>,
    ) -> bool {
        let mut previous = self.processes.remove(&pid).unwrap_or_default();
        let mut held: HashMap<FileId, Hold> = HashMap::new();
        for m in mappings {
            let Some(build_id) = &m.build_id else {
                continue;
            };
            if held.contains_key(build_id) {
                continue;
            }
            let loaded = match previous.remove(build_id) {
                // Held before, and not for want of room: kept as it is.
                Some(hold) if hold != Hold::Nothing => hold,
                _ if max_sync_bytes
                    .is_some_and(|max| !self.buildable_now(pid, m, build_id, max)) =>
                {
                    self.stats.builds_deferred += 1;
                    continue;
                }
                _ => match self.acquire(pid, m, build_id) {
                    Some(loaded) => loaded,
                    // Not held: nothing to release later.
                    None => continue,
                },
            };
            held.insert(build_id.clone(), loaded);
        }
        let with_rows: Vec<(ExecMapping, Option<(u32, u32)>)> = mappings
            .iter()
            .map(|m| {
                let rows = m
                    .build_id
                    .as_ref()
                    .filter(|id| held.get(*id) == Some(&Hold::Kernel))
                    .and_then(|id| self.loaded.get(id))
                    .map(|l| (l.first, l.rows));
                (m.clone(), rows)
            })
            .collect();
        if with_rows.iter().any(|(_, rows)| rows.is_some()) {
            let (entry, dropped) = process_entry(&with_rows);
            self.stats.mappings_dropped += dropped as u64;
            self.write_entry(pid, &entry);
        } else {
            self.delete_entry(pid);
        }
        if held.values().any(|hold| *hold == Hold::Nothing) {
            self.starved.insert(pid, mappings.to_vec());
        } else {
            self.starved.remove(&pid);
        }
        self.processes.insert(pid, held);
        let mut freed = false;
        for (build_id, loaded) in previous {
            freed |= self.release(&build_id, loaded);
        }
        freed
    }

    /// `pid` is gone: its entry and its hold on its binaries' tables.
    pub fn forget_process(&mut self, pid: u32) {
        self.delete_entry(pid);
        let was_starved = self.starved.remove(&pid).is_some();
        let mut freed = false;
        for (build_id, loaded) in self.processes.remove(&pid).unwrap_or_default() {
            freed |= self.release(&build_id, loaded);
        }
        if freed {
            self.feed_starved();
        } else if was_starved {
            self.prune_waiting();
        }
    }

    /// Rows were freed: gives the processes that waited for room the
    /// tables that now fit (in pid order, first come first served), and
    /// forgets waiting binaries no process maps any more.
    fn feed_starved(&mut self) {
        let mut pids: Vec<u32> = self.starved.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            let largest = self.allocator.largest_free().saturating_mul(CHUNK);
            let Some(mappings) = self.starved.get(&pid) else {
                continue;
            };
            // A binary it waits for fits now, or another process's retry
            // loaded it already.
            let fits = mappings.iter().any(|m| {
                m.build_id.as_ref().is_some_and(|id| {
                    self.processes.get(&pid).and_then(|held| held.get(id)) == Some(&Hold::Nothing)
                        && (self.loaded.contains_key(id)
                            || self.waiting.get(id).is_some_and(|&rows| rows <= largest))
                })
            });
            if fits {
                let mappings = mappings.clone();
                self.stats.room_retries += 1;
                // Rows freed by this update (none: the mappings are the
                // same) would start another pass; the next release does.
                self.set_process(pid, &mappings, None);
            }
        }
        self.prune_waiting();
    }

    /// Forgets waiting binaries no starved process maps any more.
    fn prune_waiting(&mut self) {
        let wanted: std::collections::HashSet<&FileId> = self
            .starved
            .values()
            .flatten()
            .filter_map(|m| m.build_id.as_ref())
            .collect();
        self.waiting.retain(|id, _| wanted.contains(id));
    }

    /// Tables built so far (cheaper than [`KernelUnwindTables::stats`]).
    pub fn builds(&self) -> u64 {
        self.cache.builds()
    }

    /// Counters and gauges, without the BPF program's ([`kernel_counters`]).
    pub fn stats(&self) -> KernelTableStats {
        let mut stats = self.stats.clone();
        stats.cache = self.cache.stats();
        stats.processes = self.in_kernel.len();
        stats.binaries = self.loaded.len();
        stats.rows_capacity = u64::from(self.fds.row_capacity);
        stats.rows_used = stats.rows_capacity - self.allocator.free_units() * u64::from(CHUNK);
        stats.binaries_waiting = self.waiting.len();
        stats
    }

    /// Acquires the table of the binary behind `m` for `pid`; `None` when
    /// nothing is held (a file that could not be read).
    fn acquire(&mut self, pid: u32, m: &ExecMapping, build_id: &FileId) -> Option<Hold> {
        if let Some(loaded) = self.loaded.get_mut(build_id) {
            loaded.users += 1;
            return Some(Hold::Kernel);
        }
        let path = mapped_file(pid, m);
        let table = match self.cache.acquire(build_id, &path) {
            Ok(table) => table,
            Err(error) => return error.is_held().then_some(Hold::Cache),
        };
        let loaded = self.load(build_id, &table);
        if loaded {
            self.add_file(build_id, &path);
        }
        // The array holds the rows now; the cache keeps the table only as
        // an idle one.
        drop(table);
        self.cache.release(build_id);
        Some(if loaded { Hold::Kernel } else { Hold::Nothing })
    }

    /// Copies a table's rows into the kernel array.
    fn load(&mut self, build_id: &FileId, table: &UnwindTable) -> bool {
        let Ok(rows) = u32::try_from(table.rows().len()) else {
            self.stats.rows_full += 1;
            return false;
        };
        if rows == 0 {
            // Nothing describes this binary's code (every FDE skipped): it
            // is walked by frame pointers, and no room is missing for it.
            return false;
        }
        let chunks = rows.div_ceil(CHUNK);
        let Some(first_chunk) = self.allocator.alloc(chunks) else {
            self.stats.rows_full += 1;
            if self.waiting.insert(build_id.clone(), rows).is_none() {
                tracing::warn!(
                    %build_id,
                    rows,
                    free_rows = self.allocator.free_units() * u64::from(CHUNK),
                    largest_free = self.allocator.largest_free() * CHUNK,
                    "the kernel unwind array is full: this binary is walked by frame \
                     pointers until rows are freed"
                );
            }
            return false;
        };
        if let Err(error) = write_chunks(&self.fds.rows, first_chunk, table.as_bytes()) {
            self.allocator.release(first_chunk, chunks);
            self.stats.rows_full += 1;
            tracing::warn!(%build_id, %error, "cannot write unwind rows into the kernel array");
            return false;
        }
        self.waiting.remove(build_id);
        self.loaded.insert(
            build_id.clone(),
            Loaded {
                first: first_chunk * CHUNK,
                rows,
                users: 1,
                file: None,
            },
        );
        true
    }

    /// Drops one process's hold; true if the binary's rows were freed.
    fn release(&mut self, build_id: &FileId, hold: Hold) -> bool {
        match hold {
            Hold::Kernel => {}
            Hold::Cache => {
                self.cache.release(build_id);
                return false;
            }
            Hold::Nothing => return false,
        }
        let Some(entry) = self.loaded.get_mut(build_id) else {
            return false;
        };
        entry.users -= 1;
        if entry.users > 0 {
            return false;
        }
        let (first, rows, file) = (entry.first, entry.rows, entry.file);
        self.loaded.remove(build_id);
        if let Some(key) = file {
            // SAFETY: the key is a live `UnwindFileKey`, the map's key type.
            unsafe {
                libbpf_sys::bpf_map_delete_elem(self.fds.files.as_raw_fd(), (&raw const key).cast())
            };
        }
        self.allocator.release(first / CHUNK, rows.div_ceil(CHUNK));
        true
    }

    /// Lists the binary just loaded in `unwind_files`, so that processes
    /// without an entry yet are walked with its rows where their
    /// frame-pointer chains end in it. A binary replaced at the same inode
    /// keeps the newer one's entry.
    fn add_file(&mut self, build_id: &FileId, path: &std::path::Path) {
        let Some(loaded) = self.loaded.get_mut(build_id) else {
            return;
        };
        let Some(key) = file_key(path) else {
            return;
        };
        let value = UnwindFile {
            first_row: loaded.first,
            rows: loaded.rows,
        };
        // SAFETY: key and value are live and of the map's sizes
        // (`struct unwind_file_key`, `struct unwind_file`).
        let ret = unsafe {
            libbpf_sys::bpf_map_update_elem(
                self.fds.files.as_raw_fd(),
                (&raw const key).cast(),
                (&raw const value).cast(),
                u64::from(libbpf_sys::BPF_ANY),
            )
        };
        if ret == 0 {
            loaded.file = Some(key);
        } else {
            tracing::debug!(%build_id, ret, "no room for the binary in unwind_files");
        }
    }

    fn write_entry(&mut self, pid: u32, entry: &UnwindProcess) {
        // SAFETY: key and value are live and of the sizes the map was
        // created with (`u32`, `struct unwind_process`).
        let ret = unsafe {
            libbpf_sys::bpf_map_update_elem(
                self.fds.procs.as_raw_fd(),
                (&raw const pid).cast(),
                (entry as *const UnwindProcess).cast(),
                u64::from(libbpf_sys::BPF_ANY),
            )
        };
        if ret == 0 {
            self.in_kernel.insert(pid);
        } else {
            self.stats.processes_full += 1;
            tracing::debug!(pid, ret, "no room for the process in unwind_procs");
        }
    }

    fn delete_entry(&mut self, pid: u32) {
        if self.in_kernel.remove(&pid) {
            // SAFETY: the key is a live `u32`, the map's key type. A
            // missing entry (the BPF exit hook deleted it) is fine.
            unsafe {
                libbpf_sys::bpf_map_delete_elem(self.fds.procs.as_raw_fd(), (&raw const pid).cast())
            };
        }
    }
}

/// The file behind a mapping, readable whatever the process's mount
/// namespace: `/proc/PID/map_files` (which also reaches a file deleted or
/// replaced since), else the path the snapshot's build-id came from.
fn mapped_file(pid: u32, m: &ExecMapping) -> PathBuf {
    let link = PathBuf::from(format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end));
    match &m.path {
        // map_files needs CAP_SYS_ADMIN; the cache checks the build-id of
        // whatever file the path reaches.
        Some(path) if std::fs::metadata(&link).is_err() => {
            PathBuf::from(format!("/proc/{pid}/root{path}"))
        }
        _ => link,
    }
}

/// True when perf-event BPF programs may call the helpers the BPF stack
/// walks need (`bpf_loop`, `bpf_task_pt_regs`, `bpf_find_vma`,
/// `bpf_get_current_task_btf`: Linux 5.17 or later); without them neither
/// would load, and the agent has stacks walked by `bpf_get_stack` instead,
/// frame pointers only and a stack cut short not marked.
pub fn kernel_can_unwind() -> bool {
    [
        libbpf_sys::BPF_FUNC_loop,
        libbpf_sys::BPF_FUNC_task_pt_regs,
        libbpf_sys::BPF_FUNC_find_vma,
        libbpf_sys::BPF_FUNC_get_current_task_btf,
    ]
    .into_iter()
    .all(|helper| {
        // SAFETY: no pointers but the documented optional null opts.
        let ret = unsafe {
            libbpf_sys::libbpf_probe_bpf_helper(
                libbpf_sys::BPF_PROG_TYPE_PERF_EVENT,
                helper,
                std::ptr::null(),
            )
        };
        ret == 1
    })
}

/// The BPF unwinder's counters, totals since load (by [`UnwindStat`]).
pub fn kernel_counters(fds: &UnwindMapFds) -> [u64; UnwindStat::ALL.len()] {
    let mut counters = [0; UnwindStat::ALL.len()];
    for stat in UnwindStat::ALL {
        counters[stat as usize] = percpu_sum(&fds.stats, stat as u32).unwrap_or(0);
    }
    counters
}

/// Sum over CPUs of a per-CPU `u64` array's slot `index`.
pub fn percpu_sum(fd: &impl AsFd, index: u32) -> Option<u64> {
    // SAFETY: no preconditions.
    let cpus = usize::try_from(unsafe { libbpf_sys::libbpf_num_possible_cpus() }).ok()?;
    let mut values = vec![0u64; cpus];
    // SAFETY: the key is a live `u32`; a per-CPU lookup writes one 8-byte
    // value per possible CPU into `values`, which has room for exactly that.
    let ret = unsafe {
        libbpf_sys::bpf_map_lookup_elem(
            fd.as_fd().as_raw_fd(),
            (&raw const index).cast(),
            values.as_mut_ptr().cast(),
        )
    };
    (ret == 0).then(|| values.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_is_first_fit_and_merges_freed_neighbours() {
        let mut rows = RowAllocator::new(100);
        assert_eq!(rows.alloc(0), None);
        let a = rows.alloc(30).unwrap();
        let b = rows.alloc(30).unwrap();
        let c = rows.alloc(30).unwrap();
        assert_eq!((a, b, c), (0, 30, 60));
        assert_eq!(rows.alloc(11), None, "only 10 rows left");
        rows.release(a, 30);
        rows.release(c, 30);
        assert_eq!(rows.free_units(), 70);
        // Two holes of 30 and 40: no room for 50 until b is back.
        assert_eq!(rows.alloc(50), None);
        rows.release(b, 30);
        assert_eq!(rows.free, vec![(0, 100)]);
        assert_eq!(rows.alloc(100), Some(0));
        assert_eq!(rows.free_units(), 0);
    }

    #[test]
    fn allocator_reuses_the_first_hole_that_fits() {
        let mut rows = RowAllocator::new(10);
        let slices: Vec<u32> = (0..5).map(|_| rows.alloc(2).unwrap()).collect();
        rows.release(slices[1], 2);
        rows.release(slices[3], 2);
        assert_eq!(rows.alloc(2), Some(2));
        assert_eq!(rows.alloc(2), Some(6));
        assert_eq!(rows.alloc(1), None);
    }

    fn mapping(start: u64) -> ExecMapping {
        ExecMapping {
            start,
            end: start + 0x1000,
            offset: 0x2000,
            build_id: None,
            path: None,
        }
    }

    #[test]
    fn entry_is_sorted_and_keeps_mappings_with_tables_first() {
        let (entry, dropped) =
            process_entry(&[(mapping(0x3000), None), (mapping(0x1000), Some((5, 7)))]);
        assert_eq!(dropped, 0);
        assert_eq!(entry.flags, UNWIND_PROC_COMPLETE, "every mapping is in");
        assert_eq!(entry.len, 2);
        assert_eq!(entry.mappings[0].start, 0x1000);
        assert_eq!(
            (entry.mappings[0].first_row, entry.mappings[0].rows),
            (5, 7)
        );
        assert_eq!(entry.mappings[0].file_offset, 0x2000);
        assert_eq!(entry.mappings[1].rows, 0);

        let many: Vec<_> = (0..MAX_UNWIND_MAPPINGS as u64 + 3)
            .map(|i| {
                let rows = (i % 2 == 0).then_some((i as u32, 1));
                (mapping(0x10_0000 - i * 0x1000), rows)
            })
            .collect();
        let (entry, dropped) = process_entry(&many);
        assert_eq!(dropped, 3);
        assert_eq!(entry.flags, 0, "some mappings are left out");
        assert_eq!(entry.len as usize, MAX_UNWIND_MAPPINGS);
        let kept = &entry.mappings[..MAX_UNWIND_MAPPINGS];
        assert!(kept.windows(2).all(|w| w[0].start < w[1].start));
        assert_eq!(
            kept.iter().filter(|m| m.rows > 0).count(),
            many.iter().filter(|(_, r)| r.is_some()).count(),
            "every mapping with a table is kept"
        );
    }
}
