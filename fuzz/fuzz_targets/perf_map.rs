//! Perf-map files, which any process can write to its own
//! `/tmp/perf-PID.map` and the agent reads as root: `PerfMap::parse`, then
//! lookups.
//!
//! Beyond "no panic": every name a lookup returns is a non-empty, trimmed
//! piece of one line of the file.

#![no_main]

use augur_agent::perfmap::PerfMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let map = PerfMap::parse(text);
    // Addresses near the ends of the range, and ones taken from the input.
    let mut addresses = vec![0, 1, u64::MAX - 1, u64::MAX];
    addresses.extend(
        data.chunks_exact(8)
            .take(16)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
    );
    for line in text.lines().take(16) {
        if let Some(start) = line
            .split(' ')
            .next()
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        {
            addresses.extend([start.wrapping_sub(1), start, start.wrapping_add(1)]);
        }
    }
    for addr in addresses {
        if let Some(name) = map.lookup(addr) {
            assert!(!name.is_empty());
            assert_eq!(name, name.trim());
            assert!(text.lines().any(|l| l.contains(name)), "{name:?}");
        }
    }
});
