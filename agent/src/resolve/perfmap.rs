//! Perf-map files: how JIT runtimes (`node --perf-basic-prof`, JVM agents,
//! the .NET runtime, LuaJIT...) name the code they generate. Each line of
//! `/tmp/perf-PID.map` is `START SIZE NAME`, with hex START and SIZE.
//!
//! Maps are read through the process's root (`/proc/PID/root/tmp/...`), so
//! containerized runtimes work too, and re-read when the file grows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Largest perf map read; JITs that write more are cut off (and counted by
/// the caller as unnamed frames).
const MAX_PERF_MAP_BYTES: u64 = 64 << 20;

/// One process's perf map, sorted by start address.
#[derive(Debug, Default)]
pub struct PerfMap {
    entries: Vec<(u64, u64, String)>,
    modified: Option<SystemTime>,
    len: u64,
}

impl PerfMap {
    /// Parses perf-map text; malformed lines are skipped.
    pub fn parse(text: &str) -> Self {
        let mut entries: Vec<(u64, u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                let start = u64::from_str_radix(parts.next()?.trim_start_matches("0x"), 16).ok()?;
                let size = u64::from_str_radix(parts.next()?.trim_start_matches("0x"), 16).ok()?;
                let name = parts.next()?.trim();
                (!name.is_empty() && size > 0).then(|| (start, size, name.to_owned()))
            })
            .collect();
        // Later lines win when a JIT reuses an address range.
        entries.reverse();
        entries.sort_by_key(|(start, _, _)| *start);
        entries.dedup_by_key(|(start, _, _)| *start);
        Self {
            entries,
            modified: None,
            len: 0,
        }
    }

    /// The name of the code containing `addr`.
    pub fn lookup(&self, addr: u64) -> Option<&str> {
        let i = self.entries.partition_point(|(start, _, _)| *start <= addr);
        let (start, size, name) = self.entries.get(i.checked_sub(1)?)?;
        (addr < start.saturating_add(*size)).then_some(name.as_str())
    }
}

/// Perf maps of the processes being resolved, refreshed when their files change.
#[derive(Debug, Default)]
pub struct PerfMaps {
    maps: HashMap<u32, PerfMap>,
}

impl PerfMaps {
    fn path(pid: u32) -> PathBuf {
        PathBuf::from(format!("/proc/{pid}/root/tmp/perf-{pid}.map"))
    }

    /// The current perf map of `pid`, if it has one. Once the process has
    /// exited, the map last read stands in for it.
    pub fn get(&mut self, pid: u32) -> Option<&PerfMap> {
        let path = Self::path(pid);
        let Ok(meta) = std::fs::metadata(&path) else {
            return self.maps.get(&pid);
        };
        let stale = self
            .maps
            .get(&pid)
            .is_none_or(|m| m.len != meta.len() || m.modified != meta.modified().ok());
        if stale {
            let mut map = read_limited(&path)
                .map(|t| PerfMap::parse(&t))
                .unwrap_or_default();
            map.len = meta.len();
            map.modified = meta.modified().ok();
            self.maps.insert(pid, map);
        }
        self.maps.get(&pid)
    }

    /// Pids with a perf map read.
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.maps.keys().copied()
    }

    /// Keeps only the processes `keep` accepts (the live ones).
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.maps.retain(|&pid, _| keep(pid));
    }
}

fn read_limited(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_PERF_MAP_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_containing_range_only() {
        let map = PerfMap::parse(
            "7f0000001000 100 LazyCompile:*fib /app.js:3\n\
             7f0000002000 40 Builtin:ArgumentsAdaptorTrampoline\n\
             garbage line\n\
             7f0000003000 0 empty\n",
        );
        assert_eq!(
            map.lookup(0x7f00_0000_1000),
            Some("LazyCompile:*fib /app.js:3")
        );
        assert_eq!(
            map.lookup(0x7f00_0000_10ff),
            Some("LazyCompile:*fib /app.js:3")
        );
        assert_eq!(map.lookup(0x7f00_0000_1100), None);
        assert_eq!(
            map.lookup(0x7f00_0000_2010),
            Some("Builtin:ArgumentsAdaptorTrampoline")
        );
        assert_eq!(map.lookup(0x7f00_0000_3000), None);
        assert_eq!(map.lookup(0x10), None);
    }

    #[test]
    fn later_entries_replace_earlier_ones_at_the_same_address() {
        let map = PerfMap::parse("1000 10 old\n1000 10 new\n");
        assert_eq!(map.lookup(0x1005), Some("new"));
    }
}
