//! Builders for frames, windows and batches, and a store in a temp dir.

use std::path::PathBuf;

use augur_profile::{FileId, Location, ProfileType, RawFrame, Runtime, Sample};
use augur_storage::{BatchWrite, ProfileQuery, Store, WindowWrite};
use tempfile::TempDir;

/// Nanoseconds per second, for readable window starts.
pub const SEC: i64 = 1_000_000_000;
/// Period of the cpu windows built here (100 Hz).
pub const PERIOD: u64 = 10_000_000;

/// A store in a fresh directory; keep the `TempDir` alive while using it.
pub fn temp_store() -> (TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let path = dir.path().join("augur.db");
    let store = Store::open(&path).expect("open a new store");
    (dir, path, store)
}

pub fn build_id(hex: &str) -> FileId {
    FileId::parse_hex(hex).expect("valid hex build-id")
}

pub fn user(hex: &str, file_offset: u64) -> RawFrame {
    RawFrame::User {
        build_id: build_id(hex),
        file_offset,
    }
}

pub fn kernel(function: &str, module: Option<&str>) -> RawFrame {
    RawFrame::Kernel {
        function: function.into(),
        module: module.map(Into::into),
    }
}

pub fn unknown(reason: &str) -> RawFrame {
    RawFrame::Unknown {
        reason: reason.into(),
    }
}

pub fn runtime(runtime: Runtime, function: &str, file: &str, line: u32, inlined: bool) -> RawFrame {
    RawFrame::Runtime {
        runtime,
        function: function.into(),
        file: file.into(),
        line,
        inlined,
    }
}

/// A cpu window of `service` starting at `start`.
pub fn window(service: &str, start: i64, stacks: Vec<(Vec<RawFrame>, u64)>) -> WindowWrite {
    WindowWrite {
        service: service.into(),
        labels: Default::default(),
        profile_type: ProfileType::cpu(),
        period: PERIOD,
        window_start_unix_nanos: start,
        stacks: stacks.into_iter().map(|(s, c)| (s.into(), c)).collect(),
    }
}

/// A batch naming the binaries `aa01` and `bb02` under fixed paths.
pub fn batch(batch_id: &str, windows: Vec<WindowWrite>) -> BatchWrite {
    BatchWrite {
        batch_id: batch_id.into(),
        received_unix_nanos: 1,
        binaries: vec![
            (build_id("aa01"), "/usr/bin/app".into()),
            (build_id("bb02"), "/usr/lib/libc.so.6".into()),
        ],
        windows,
    }
}

/// A cpu query for `service` over `[start, end)`.
pub fn cpu(service: &str, start: i64, end: i64) -> ProfileQuery {
    ProfileQuery {
        service: service.into(),
        labels: Default::default(),
        matchers: Vec::new(),
        profile_type: "cpu".into(),
        start_unix_nanos: start,
        end_unix_nanos: end,
    }
}

/// Everything, for queries that do not test the range.
pub fn cpu_all(service: &str) -> ProfileQuery {
    cpu(service, i64::MIN, i64::MAX)
}

/// The path the fixtures' batches report for a frame.
pub fn path_of(frame: &RawFrame) -> Option<String> {
    match frame {
        RawFrame::User { build_id, .. } if build_id.to_hex() == "aa01" => {
            Some("/usr/bin/app".into())
        }
        RawFrame::User { build_id, .. } if build_id.to_hex() == "bb02" => {
            Some("/usr/lib/libc.so.6".into())
        }
        _ => None,
    }
}

/// What a query should return for unsymbolized leaf-first stacks, in the
/// store's order: hottest first. Runtime frames come named, by themselves.
pub fn expected(stacks: &[(Vec<RawFrame>, u64)]) -> Vec<Sample> {
    let mut samples: Vec<Sample> = stacks
        .iter()
        .map(|(frames, count)| Sample {
            locations: frames
                .iter()
                .map(|frame| Location::new(frame.clone(), path_of(frame), vec![]))
                .collect(),
            count: *count,
        })
        .collect();
    samples.sort_by_key(|s| std::cmp::Reverse(s.count));
    samples
}

/// Samples sorted by their frames, for comparisons that ignore order.
pub fn by_frames(mut samples: Vec<Sample>) -> Vec<(Vec<RawFrame>, u64)> {
    let mut out: Vec<_> = samples
        .drain(..)
        .map(|s| (s.locations.into_iter().map(|l| l.frame).collect(), s.count))
        .collect();
    out.sort();
    out
}
