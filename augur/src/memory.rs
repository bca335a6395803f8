//! The process's own resources, for `/metrics`: CPU time, resident set,
//! the heap as the allocator sees it (in use and free but kept), and
//! SQLite's share, read at each scrape ([`ProcessCollector`]).
//!
//! It also keeps glibc's malloc from hoarding freed memory in the server
//! ([`tame_allocator`]).
//!
//! The gap between resident memory and the heap in use is memory the allocator keeps
//! for reuse; it tells fragmentation apart from data that grows, which is
//! what a soak needs to know to call memory bounded.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the process's CPU time and memory when the registry is encoded:
/// `process_cpu_seconds_total` (a counter), `process_resident_memory_bytes`
/// and the `augur_heap_*` and `augur_sqlite_memory_bytes` gauges.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some(seconds) = cpu_seconds() {
            ConstCounter::new(seconds).encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                MetricType::Counter,
            )?)?;
        }
        let mut gauge = |name: &str, help: &str, value: i64| {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)
        };
        if let Some(bytes) = resident_bytes() {
            gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                bytes,
            )?;
        }
        let (in_use, free) = heap_bytes();
        gauge(
            "augur_heap_in_use_bytes",
            "Bytes the allocator has handed out and not got back.",
            in_use,
        )?;
        gauge(
            "augur_heap_free_bytes",
            "Bytes the allocator holds free for reuse (not returned to the system).",
            free,
        )?;
        gauge(
            "augur_sqlite_memory_bytes",
            "Bytes SQLite has allocated (page caches, statements), part of the heap in use.",
            augur_storage::sqlite_memory_used(),
        )
    }
}

/// Keeps glibc's malloc from holding on to freed memory, for `server` and
/// `up`; call it before threads start.
///
/// - Arenas are capped at the number of CPUs (2 to 8), unless
///   `MALLOC_ARENA_MAX` says otherwise. glibc gives threads up to eight
///   arenas per CPU, each keeping what is freed into it at its own
///   high-water mark, and the server decodes on a pool of blocking threads
///   that come and go.
/// - Blocks of 512 KiB and more (decoded batches, query answers) are
///   always mapped and unmapped on their own, unless
///   `MALLOC_MMAP_THRESHOLD_` is set: glibc otherwise raises that
///   threshold to the largest block freed, after which big blocks come
///   from the heap and leave holes.
/// - A thread gives free pages inside the heap back every 10 s
///   (`malloc_trim`), which glibc never does on its own.
///
/// Without these, the server's resident memory kept growing under a long
/// overload while the heap in use stayed flat (`docs/reliability.md`).
pub fn tame_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            let cpus = std::thread::available_parallelism().map_or(2, usize::from);
            let arenas = cpus.clamp(2, 8) as libc::c_int;
            // SAFETY: mallopt only sets a malloc parameter, under malloc's
            // own lock; arenas made before it stay, which is why it runs
            // first.
            unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 10) };
        }
        let trimmer = std::thread::Builder::new()
            .name("augur-malloc-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(10));
                    // SAFETY: malloc_trim only releases free memory, under
                    // the arenas' locks.
                    unsafe { libc::malloc_trim(0) };
                }
            });
        if let Err(error) = trimmer {
            tracing::warn!(%error, "could not start the malloc trim thread");
        }
    }
}

/// User plus system CPU time from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the parenthesised command, utime and stime are the 12th and 13th.
    let mut fields = stat.rsplit(')').next()?.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

/// Resident set size from `/proc/self/statm`.
fn resident_bytes() -> Option<i64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page as i64)
}

/// `(in use, free)` heap bytes from glibc's `mallinfo2`, over all arenas.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_bytes() -> (i64, i64) {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    let in_use = info.uordblks.saturating_add(info.hblkhd);
    (
        i64::try_from(in_use).unwrap_or(i64::MAX),
        i64::try_from(info.fordblks).unwrap_or(i64::MAX),
    )
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_bytes() -> (i64, i64) {
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_cpu_resident_and_heap() {
        // Hold a known amount so the heap cannot read as empty, and spend
        // some CPU so the counter cannot read as zero.
        let held = vec![1u8; 8 << 20];
        let started = std::time::Instant::now();
        let mut spin = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(50) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        };
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
        assert!(text.contains("# TYPE process_resident_memory_bytes gauge\n"));
        assert!(value("process_cpu_seconds_total") > 0.0);
        assert!(value("process_resident_memory_bytes") >= f64::from(8 << 20));
        assert!(value("augur_heap_in_use_bytes") >= f64::from(8 << 20));
        assert!(value("augur_heap_free_bytes") >= 0.0);
        assert!(value("augur_sqlite_memory_bytes") >= 0.0);
        drop(held);
    }
}
