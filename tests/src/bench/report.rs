//! What the benchmark reports share: the host's load and fork count,
//! medians, milliseconds, and the steady-state window over which an
//! agent's CPU is read.

use std::time::{Duration, Instant};

/// How often an agent drains and ships (its default).
pub const AGENT_WINDOW: Duration = Duration::from_secs(10);

/// Steady CPU is measured from this long after an agent starts: past
/// startup and its first drain, which loads the kernel's symbols.
pub const STEADY_FROM: Duration = Duration::from_secs(15);

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them,
/// for benchmark reports (`?` where unreadable).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median of `values` (sorted in place); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Processes and threads created since boot (`processes` in `/proc/stat`).
pub fn host_forks() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("processes "))?
        .trim()
        .parse()
        .ok()
}

/// The steady-state window of an agent started at `start` and run for
/// `duration`: from [`STEADY_FROM`] for whole agent windows, each spanning
/// one drain, ending a second or more before the run does; `None` if too
/// short for one.
pub fn steady_window(start: Instant, duration: Duration) -> Option<(Instant, Instant)> {
    let room = duration.checked_sub(STEADY_FROM + Duration::from_secs(1))?;
    let windows = (room.as_secs_f64() / AGENT_WINDOW.as_secs_f64()).floor() as u32;
    (windows > 0).then(|| {
        (
            start + STEADY_FROM,
            start + STEADY_FROM + AGENT_WINDOW * windows,
        )
    })
}
