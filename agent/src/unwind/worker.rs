//! The thread that builds unwind tables and fills the BPF unwinder's maps,
//! so that the sampling thread never waits on `.eh_frame` parsing.
//!
//! The sampling thread hands over each process whose mapping snapshot was
//! taken or refreshed, and each process that exited, and goes on: a handoff
//! is a short lock on a queue. The queue holds at most one request per
//! process (a newer one replaces the older, and an exit replaces a pending
//! update, so a process that came and went costs nothing) and at most
//! [`MAX_QUEUED`] processes; an update beyond that is refused and counted,
//! and the process stays on frame pointers. The worker takes processes in
//! arrival order and gives each its tables through [`KernelUnwindTables`]:
//! a binary is parsed once per build-id, whatever the number of processes
//! waiting for it, and its rows leave the kernel array when the last
//! process mapping it is gone. Until a process's entry is written, the BPF
//! program walks its stacks by frame pointers, as it does for a process
//! none of whose binaries has a table.
//!
//! The worker publishes its counters after every request; [`stats`] reads
//! them with the queue's depth and the BPF program's own counters.
//!
//! [`stats`]: UnwindTableWorker::stats

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::CacheLimits;
use super::kernel::{ExecMapping, KernelTableStats, KernelUnwindTables, UnwindMapFds};

/// Processes waiting for the worker at most.
pub const MAX_QUEUED: usize = 4096;

/// Most unwind information (`.eh_frame`, `.debug_frame`, `.gopclntab`
/// bytes) of a binary never seen before that is built for a process the
/// moment it is first seen; larger ones wait for the process's full update.
/// Measured (`docs/benchmarks.md`): libc's 150 KiB build in 2-10 ms in a
/// release build here, so this bounds one build at about 15 ms (about
/// 100 ms in a debug build).
pub const SYNC_BUILD_MAX_BYTES: u64 = 256 << 10;

/// What the worker is asked to do for one process.
#[derive(Debug)]
enum Request {
    /// Give the process tables for these executable mappings.
    Update(Vec<ExecMapping>),
    /// The same for a process just seen: binaries never seen before are
    /// built only if small ([`SYNC_BUILD_MAX_BYTES`]).
    UpdateYoung(Vec<ExecMapping>),
    /// The process is gone: drop its entry and its hold on its tables.
    Forget,
}

#[derive(Debug, Default)]
struct Queue {
    /// The latest request per process.
    pending: HashMap<u32, Request>,
    /// Processes of `pending`, in arrival order, each once.
    order: VecDeque<u32>,
    /// The worker is handling a request taken from the queue.
    busy: bool,
    closed: bool,
    refused: u64,
    done: u64,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a request arrives or the worker should stop.
    work: Condvar,
    /// Signalled when the worker finished a request.
    progress: Condvar,
    stats: Mutex<KernelTableStats>,
}

impl Queue {
    /// Queues `request` for `pid`, replacing a pending one; false if it
    /// was refused.
    fn push(&mut self, pid: u32, request: Request) -> bool {
        if let Some(pending) = self.pending.get_mut(&pid) {
            *pending = request;
        } else if !matches!(request, Request::Forget) && self.order.len() >= MAX_QUEUED {
            // An exit is always taken: a refused one would leak the
            // process's hold on its tables.
            self.refused += 1;
            return false;
        } else {
            self.pending.insert(pid, request);
            self.order.push_back(pid);
        }
        true
    }

    /// The oldest pending request.
    fn pop(&mut self) -> Option<(u32, Request)> {
        while let Some(pid) = self.order.pop_front() {
            if let Some(request) = self.pending.remove(&pid) {
                return Some((pid, request));
            }
        }
        None
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic on the worker poisons nothing worth refusing: the queue
        // is consistent between statements.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The unwind tables' worker thread; see the module docs. Dropping it
/// stops the thread after the request it is handling, without waiting.
#[derive(Debug)]
pub struct UnwindTableWorker {
    shared: Arc<Shared>,
    fds: Arc<UnwindMapFds>,
}

impl UnwindTableWorker {
    /// Starts the thread filling the maps behind `fds`.
    pub fn start(fds: Arc<UnwindMapFds>, limits: CacheLimits) -> std::io::Result<Self> {
        let tables = KernelUnwindTables::new(fds.clone(), limits)?;
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("augur-unwind".to_owned())
            .spawn(move || run(&worker, tables))?;
        Ok(Self { shared, fds })
    }

    /// `pid`'s executable mappings are new or changed.
    pub fn update_process(&self, pid: u32, mappings: Vec<ExecMapping>) {
        self.enqueue(pid, Request::Update(mappings));
    }

    /// `pid` was just seen with these executable mappings: it gets the
    /// tables already built, and those of small binaries never seen
    /// before, at once; see [`KernelUnwindTables::update_young_process`].
    pub fn update_young_process(&self, pid: u32, mappings: Vec<ExecMapping>) {
        self.enqueue(pid, Request::UpdateYoung(mappings));
    }

    /// `pid` exited.
    pub fn forget_process(&self, pid: u32) {
        self.enqueue(pid, Request::Forget);
    }

    fn enqueue(&self, pid: u32, request: Request) {
        let mut queue = self.shared.queue();
        if !queue.closed && queue.push(pid, request) {
            drop(queue);
            self.shared.work.notify_one();
        }
    }

    /// Waits until the worker has nothing left to do, at most `timeout`;
    /// false if it still had.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.queue();
        while queue.busy || !queue.order.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = self
                .shared
                .progress
                .wait_timeout(queue, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The tables' counters as of the worker's last request, the queue's,
    /// and the BPF program's.
    pub fn stats(&self) -> KernelTableStats {
        let mut stats = self
            .shared
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        {
            let queue = self.shared.queue();
            stats.queued = queue.order.len() + usize::from(queue.busy);
            stats.queue_full = queue.refused;
            stats.requests_done = queue.done;
        }
        stats.kernel = super::kernel::kernel_counters(&self.fds);
        stats
    }
}

impl Drop for UnwindTableWorker {
    fn drop(&mut self) {
        self.shared.queue().closed = true;
        self.shared.work.notify_all();
    }
}

/// The worker thread: one request at a time, in arrival order.
fn run(shared: &Shared, mut tables: KernelUnwindTables) {
    loop {
        let (pid, request) = {
            let mut queue = shared.queue();
            queue.busy = false;
            let next = loop {
                if queue.closed {
                    return;
                }
                if let Some(next) = queue.pop() {
                    break next;
                }
                shared.progress.notify_all();
                queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
            };
            queue.busy = true;
            next
        };
        let builds = tables.builds();
        match request {
            Request::Update(mappings) => tables.update_process(pid, &mappings),
            Request::UpdateYoung(mappings) => {
                tables.update_young_process(pid, &mappings, SYNC_BUILD_MAX_BYTES)
            }
            Request::Forget => tables.forget_process(pid),
        }
        if tables.builds() != builds {
            give_back_heap();
        }
        *shared.stats.lock().unwrap_or_else(|e| e.into_inner()) = tables.stats();
        shared.queue().done += 1;
        shared.progress.notify_all();
    }
}

/// Returns the free heap a table build leaves behind to the system. A
/// build's transient memory (the section, the unsorted rows) is a few times
/// the table; glibc keeps freed memory of this thread's arena mapped, so
/// without this the agent's resident size stays at the high-water mark of
/// the largest build.
fn give_back_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions; it only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::process::{Child, Command};

    use augur_bpf::{UNWIND_ROW_SIZE, UNWIND_ROWS_PER_CHUNK, UnwindProcess, UnwindStat};
    use libbpf_rs::libbpf_sys;

    use super::*;
    use crate::unwind::tests::build_id_of;

    #[test]
    fn the_queue_keeps_one_request_per_process_and_always_takes_exits() {
        let mut queue = Queue::default();
        assert!(queue.push(1, Request::Update(Vec::new())));
        assert!(queue.push(2, Request::Update(Vec::new())));
        // A process that exits before the worker got to it costs nothing.
        assert!(queue.push(1, Request::Forget));
        assert!(matches!(queue.pop(), Some((1, Request::Forget))));
        assert!(matches!(queue.pop(), Some((2, Request::Update(_)))));
        assert!(queue.pop().is_none());

        for pid in 0..MAX_QUEUED as u32 {
            assert!(queue.push(pid, Request::Update(Vec::new())));
        }
        assert!(!queue.push(u32::MAX, Request::Update(Vec::new())));
        assert_eq!(queue.refused, 1);
        // Replacing and exiting still work on a full queue.
        assert!(queue.push(7, Request::Update(Vec::new())));
        assert!(queue.push(u32::MAX, Request::Forget));
        assert_eq!(queue.order.len(), MAX_QUEUED + 1);
        assert_eq!(queue.pop().map(|(pid, _)| pid), Some(0));
    }

    fn create_map(kind: u32, key: u32, value: u32, entries: u32, flags: u32) -> Option<OwnedFd> {
        let opts = libbpf_sys::bpf_map_create_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
            map_flags: flags,
            ..Default::default()
        };
        // SAFETY: a null name is allowed and `opts` is a live, sized struct.
        let fd = unsafe {
            libbpf_sys::bpf_map_create(kind, std::ptr::null(), key, value, entries, &opts)
        };
        // SAFETY: a non-negative return is a new file descriptor we own.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// The unwinder's maps as the BPF object declares them, or `None`
    /// without the privileges to create maps.
    fn unwind_maps(row_capacity: u32) -> Option<Arc<UnwindMapFds>> {
        let chunk = (UNWIND_ROW_SIZE * UNWIND_ROWS_PER_CHUNK) as u32;
        Some(Arc::new(UnwindMapFds {
            rows: create_map(
                libbpf_sys::BPF_MAP_TYPE_ARRAY,
                4,
                chunk,
                row_capacity / UNWIND_ROWS_PER_CHUNK as u32,
                0,
            )?,
            procs: create_map(
                libbpf_sys::BPF_MAP_TYPE_HASH,
                4,
                std::mem::size_of::<UnwindProcess>() as u32,
                16,
                0,
            )?,
            stats: create_map(
                libbpf_sys::BPF_MAP_TYPE_PERCPU_ARRAY,
                4,
                8,
                UnwindStat::ALL.len() as u32,
                0,
            )?,
            files: create_map(libbpf_sys::BPF_MAP_TYPE_HASH, 16, 8, 64, 0)?,
            row_capacity,
        }))
    }

    /// The file-backed executable mappings of `pid`, from `/proc/PID/maps`.
    fn exec_mappings(pid: u32) -> Vec<ExecMapping> {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        maps.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let path = *fields.get(5)?;
                if !fields[1].contains('x') || !path.starts_with('/') {
                    return None;
                }
                let (start, end) = fields[0].split_once('-')?;
                Some(ExecMapping {
                    start: u64::from_str_radix(start, 16).ok()?,
                    end: u64::from_str_radix(end, 16).ok()?,
                    offset: u64::from_str_radix(fields[2], 16).ok()?,
                    build_id: Some(build_id_of(std::path::Path::new(path))),
                    path: Some(path.into()),
                })
            })
            .collect()
    }

    fn entry(fds: &UnwindMapFds, pid: u32) -> Option<UnwindProcess> {
        use std::os::fd::AsRawFd;

        let mut value = UnwindProcess::default();
        // SAFETY: key and value are live and of the map's sizes.
        let ret = unsafe {
            libbpf_sys::bpf_map_lookup_elem(
                fds.procs.as_raw_fd(),
                (&raw const pid).cast(),
                (&raw mut value).cast(),
            )
        };
        (ret == 0).then_some(value)
    }

    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn fills_entries_on_its_own_thread_shares_binaries_and_frees_them_on_exit() {
        let Some(fds) = unwind_maps(1 << 20) else {
            eprintln!("SKIPPED: cannot create BPF maps here (needs root or CAP_BPF)");
            return;
        };
        assert!(
            crate::unwind::kernel::kernel_can_unwind(),
            "this kernel has bpf_loop, bpf_find_vma and bpf_task_pt_regs"
        );
        let worker = UnwindTableWorker::start(fds.clone(), CacheLimits::default()).unwrap();
        let child = Reaped(Command::new("sleep").arg("60").spawn().unwrap());
        let me = std::process::id();
        let other = child.0.id();
        // The child maps `sleep` and libc once exec is done.
        wait_for(|| {
            exec_mappings(other)
                .iter()
                .any(|m| m.path.as_deref().is_some_and(|p| p.contains("libc")))
        });
        let mine = exec_mappings(me);
        let theirs = exec_mappings(other);
        worker.update_process(me, mine.clone());
        worker.update_process(other, theirs.clone());
        assert!(
            worker.wait_idle(Duration::from_secs(120)),
            "tables built in time"
        );

        let stats = worker.stats();
        let binaries: std::collections::HashSet<_> = mine
            .iter()
            .chain(&theirs)
            .filter_map(|m| m.build_id.clone())
            .collect();
        assert_eq!(stats.requests_done, 2);
        assert_eq!(stats.queued, 0);
        assert_eq!(stats.processes, 2);
        assert!(
            stats.binaries >= 2 && stats.binaries <= binaries.len(),
            "{stats:?}"
        );
        // libc is parsed once for the two processes.
        assert_eq!(
            stats.cache.builds as usize + stats.cache.failures.values().sum::<u64>() as usize,
            binaries.len(),
            "{stats:?}"
        );
        // The kernel array is the only copy of a table in use.
        assert_eq!(stats.cache.tables_in_use, 0, "{stats:?}");
        assert!(stats.rows_used > 0 && stats.cache.build_seconds > 0.0);
        let entry = entry(&fds, other).expect("the child has an entry");
        let used = &entry.mappings[..entry.len as usize];
        assert_eq!(used.len(), theirs.len());
        assert!(used.windows(2).all(|w| w[0].start < w[1].start));
        assert!(
            used.iter().all(|m| m.rows > 0),
            "every mapping has rows: {used:?}"
        );

        // Exits free the entries and the rows; the tables stay idle in
        // the cache for the next process that runs them.
        worker.forget_process(other);
        worker.forget_process(me);
        assert!(worker.wait_idle(Duration::from_secs(30)));
        let stats = worker.stats();
        assert!(entry_gone(&fds, other) && entry_gone(&fds, me));
        assert_eq!(
            (stats.processes, stats.binaries, stats.rows_used),
            (0, 0, 0)
        );
        assert_eq!(
            stats.cache.tables, stats.cache.builds as usize,
            "all idle now"
        );

        // The next process running the same binaries reuses the idle tables.
        worker.update_process(other, theirs.clone());
        assert!(worker.wait_idle(Duration::from_secs(30)));
        let again = worker.stats();
        assert_eq!(again.cache.builds, stats.cache.builds);
        assert!(again.cache.hits > stats.cache.hits);
        assert!(!entry_gone(&fds, other));
    }

    /// A file-backed executable mapping of `path` at `start` (not really
    /// mapped: the tables are read through `/proc/PID/root`).
    fn fake_mapping(path: &str, start: u64) -> ExecMapping {
        let path = std::fs::canonicalize(path).unwrap();
        ExecMapping {
            start,
            end: start + 0x10_0000,
            offset: 0,
            build_id: Some(build_id_of(&path)),
            path: Some(path.to_str().unwrap().into()),
        }
    }

    #[test]
    fn a_full_array_falls_back_then_rows_freed_by_the_last_exit_are_reused() {
        let big = fake_mapping("/usr/bin/python3", 0x5000_0000);
        let small = fake_mapping("/lib/x86_64-linux-gnu/libc.so.6", 0x7000_0000);
        let table_of = |m: &ExecMapping| {
            let path = std::path::Path::new(&**m.path.as_ref().unwrap());
            crate::unwind::build_table_from_path(path).unwrap()
        };
        let (big_table, small_table) = (table_of(&big), table_of(&small));
        let (big_rows, small_rows) = (
            big_table.rows().len() as u32,
            small_table.rows().len() as u32,
        );
        // Room for python3's table, not for libc's beside it.
        let chunk = UNWIND_ROWS_PER_CHUNK as u32;
        let capacity = big_rows.div_ceil(chunk) * chunk;
        assert!(small_rows <= capacity && capacity - big_rows < small_rows);
        let Some(fds) = unwind_maps(capacity) else {
            eprintln!("SKIPPED: cannot create BPF maps here (needs root or CAP_BPF)");
            return;
        };
        let worker = UnwindTableWorker::start(fds.clone(), CacheLimits::default()).unwrap();
        let children: Vec<Reaped> = (0..3)
            .map(|_| Reaped(Command::new("sleep").arg("60").spawn().unwrap()))
            .collect();
        let [a, b, c] = [0, 1, 2].map(|i| children[i].0.id());
        let settle = || assert!(worker.wait_idle(Duration::from_secs(60)), "worker idle");
        // Tables take whole chunks of the array.
        let whole = |rows: u32| u64::from(rows.div_ceil(chunk) * chunk);

        worker.update_process(a, vec![big.clone()]);
        settle();
        let stats = worker.stats();
        assert_eq!(stats.rows_used, whole(big_rows), "{stats:?}");
        assert_eq!(stats.rows_capacity, u64::from(capacity));
        assert_eq!(entry(&fds, a).unwrap().mappings[0].rows, big_rows);

        // libc does not fit: b is walked by frame pointers (no entry), and
        // that is counted.
        worker.update_process(b, vec![small.clone()]);
        settle();
        let stats = worker.stats();
        assert_eq!(stats.rows_full, 1, "{stats:?}");
        assert_eq!(stats.binaries_waiting, 1, "{stats:?}");
        assert!(entry_gone(&fds, b), "no table, no entry");
        assert_eq!(stats.rows_used, whole(big_rows));

        // The last process mapping python3 exits: its rows are freed, and
        // b, which waited for room, gets libc's table in their place.
        worker.forget_process(a);
        settle();
        let stats = worker.stats();
        assert!(entry_gone(&fds, a));
        assert_eq!(stats.rows_used, whole(small_rows), "{stats:?}");
        assert_eq!(
            (stats.binaries, stats.binaries_waiting),
            (1, 0),
            "{stats:?}"
        );
        assert_eq!(stats.room_retries, 1, "{stats:?}");
        let b_entry = entry(&fds, b).expect("b has its table now");
        assert_eq!(b_entry.mappings[0].rows, small_rows);
        assert_eq!(b_entry.mappings[0].start, small.start);
        // The rows the BPF program reads are libc's, to the last one; the
        // last chunk is padded with zero rows.
        let first = b_entry.mappings[0].first_row;
        assert_eq!(first % chunk, 0);
        let mut written = Vec::new();
        for i in 0..small_rows.div_ceil(chunk) {
            written.extend(row_chunk(&fds, first / chunk + i));
        }
        let bytes = small_table.as_bytes();
        assert_eq!(&written[..bytes.len()], bytes);
        assert!(written[bytes.len()..].iter().all(|&b| b == 0));
        drop(big_table);

        // A new process sharing libc reuses its rows; once b and c are gone
        // the array is empty again and python3 fits once more.
        worker.update_process(c, vec![small.clone()]);
        settle();
        assert_eq!(
            entry(&fds, c).unwrap().mappings[0].first_row,
            b_entry.mappings[0].first_row
        );
        assert_eq!(worker.stats().rows_used, whole(small_rows));
        worker.forget_process(b);
        worker.forget_process(c);
        settle();
        assert_eq!(worker.stats().rows_used, 0);
        worker.update_process(c, vec![big.clone()]);
        settle();
        let stats = worker.stats();
        assert_eq!(stats.rows_used, whole(big_rows), "{stats:?}");
        assert_eq!(stats.rows_full, 1, "nothing else was refused: {stats:?}");
        assert_eq!(entry(&fds, c).unwrap().mappings[0].rows, big_rows);
    }

    /// Element `index` of `unwind_rows`.
    fn row_chunk(fds: &UnwindMapFds, index: u32) -> Vec<u8> {
        use std::os::fd::AsRawFd;

        let mut value = vec![0u8; UNWIND_ROW_SIZE * UNWIND_ROWS_PER_CHUNK];
        // SAFETY: key and value are live and of the map's sizes.
        let ret = unsafe {
            libbpf_sys::bpf_map_lookup_elem(
                fds.rows.as_raw_fd(),
                (&raw const index).cast(),
                value.as_mut_ptr().cast(),
            )
        };
        assert_eq!(ret, 0, "chunk {index} of unwind_rows");
        value
    }

    /// Rows of the mapping of `entry` holding a file whose path contains
    /// `name` in `mappings`.
    fn rows_of(entry: &UnwindProcess, mappings: &[ExecMapping], name: &str) -> u32 {
        let m = mappings
            .iter()
            .find(|m| m.path.as_deref().is_some_and(|p| p.contains(name)))
            .unwrap_or_else(|| panic!("{name} mapped: {mappings:?}"));
        entry.mappings[..entry.len as usize]
            .iter()
            .find(|e| e.start == m.start)
            .map_or(0, |e| e.rows)
    }

    #[test]
    fn a_young_process_gets_known_and_small_tables_at_once_and_large_ones_later() {
        let Some(fds) = unwind_maps(1 << 20) else {
            eprintln!("SKIPPED: cannot create BPF maps here (needs root or CAP_BPF)");
            return;
        };
        let mut tables =
            crate::unwind::kernel::KernelUnwindTables::new(fds.clone(), CacheLimits::default())
                .unwrap();
        let first = Reaped(Command::new("sleep").arg("60").spawn().unwrap());
        let pid = first.0.id();
        wait_for(|| {
            exec_mappings(pid)
                .iter()
                .any(|m| m.path.as_deref().is_some_and(|p| p.contains("libc")))
        });
        let mappings = exec_mappings(pid);
        let size = |name: &str| {
            let m = mappings
                .iter()
                .find(|m| m.path.as_deref().is_some_and(|p| p.contains(name)))
                .unwrap();
            crate::unwind::build::unwind_info_bytes(std::path::Path::new(
                m.path.as_deref().unwrap(),
            ))
            .unwrap()
        };
        let (sleep, libc) = (size("sleep"), size("libc"));
        assert!(sleep < libc, "sleep {sleep} bytes, libc {libc}");

        // Never seen, libc above the limit: sleep's table is built at once,
        // libc is walked by frame pointers until the full update.
        tables.update_young_process(pid, &mappings, sleep);
        let young = entry(&fds, pid).expect("an entry at once");
        assert!(rows_of(&young, &mappings, "sleep") > 0);
        assert_eq!(rows_of(&young, &mappings, "libc"), 0);
        assert!(tables.stats().builds_deferred >= 1);
        tables.update_process(pid, &mappings);
        let full = entry(&fds, pid).unwrap();
        assert!(rows_of(&full, &mappings, "libc") > 0);

        // A second process of the same binaries gets every table at once,
        // whatever their size: all are known now.
        let second = Reaped(Command::new("sleep").arg("60").spawn().unwrap());
        let other = second.0.id();
        wait_for(|| {
            exec_mappings(other)
                .iter()
                .any(|m| m.path.as_deref().is_some_and(|p| p.contains("libc")))
        });
        let theirs = exec_mappings(other);
        let builds = tables.builds();
        let deferred = tables.stats().builds_deferred;
        tables.update_young_process(other, &theirs, 0);
        let entry = entry(&fds, other).unwrap();
        assert!(
            entry.mappings[..entry.len as usize]
                .iter()
                .all(|m| m.rows > 0)
        );
        assert_eq!(tables.builds(), builds);
        assert_eq!(tables.stats().builds_deferred, deferred);

        // Every loaded binary is listed by file for the walks of processes
        // without an entry, and leaves that list with its rows.
        assert!(files_listed(&fds) >= 2);
        tables.forget_process(pid);
        tables.forget_process(other);
        assert_eq!(files_listed(&fds), 0);
    }

    /// Entries of `unwind_files`.
    fn files_listed(fds: &UnwindMapFds) -> usize {
        use std::os::fd::AsRawFd;

        let mut count = 0;
        let mut key = augur_bpf::UnwindFileKey::default();
        let mut next = augur_bpf::UnwindFileKey::default();
        let mut first = true;
        loop {
            // SAFETY: keys are live and of the map's key size.
            let ret = unsafe {
                libbpf_sys::bpf_map_get_next_key(
                    fds.files.as_raw_fd(),
                    if first {
                        std::ptr::null()
                    } else {
                        (&raw const key).cast()
                    },
                    (&raw mut next).cast(),
                )
            };
            if ret != 0 {
                return count;
            }
            count += 1;
            first = false;
            key = next;
        }
    }

    fn entry_gone(fds: &UnwindMapFds, pid: u32) -> bool {
        entry(fds, pid).is_none()
    }

    fn wait_for(mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
