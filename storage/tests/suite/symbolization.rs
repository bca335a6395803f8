//! Pending frames, failures, retries and late naming.

use std::time::Duration;

use augur_profile::Symbol;
use augur_storage::{FrameSymbols, PendingFrame, Shard};

use super::fixtures::*;

const HOUR: Duration = Duration::from_secs(3600);

fn symbol(function: &str) -> Symbol {
    Symbol {
        function: function.into(),
        file: Some("src/main.rs".into()),
        line: Some(42),
    }
}

#[test]
fn failed_frames_wait_for_the_retry_and_late_symbols_name_old_samples() {
    let (_dir, _path, store) = temp_store();
    let hot = user("aa01", 0x1010);
    let main = user("aa01", 0x1000);
    let stack = vec![hot.clone(), kernel("irq", None), main.clone()];
    store
        .write_batch(&batch(
            "b1",
            vec![window("api", 0, vec![(stack.clone(), 5)])],
        ))
        .unwrap();

    // Only user frames need symbols; kernel frames come named.
    let pending = store.pending_frames(HOUR, 100, Shard::ALL).unwrap();
    let mut offsets: Vec<u64> = pending.iter().map(|p| p.file_offset).collect();
    offsets.sort();
    assert_eq!(offsets, vec![0x1000, 0x1010]);
    for p in &pending {
        assert_eq!(p.build_id, build_id("aa01"));
        assert_eq!(p.paths, vec!["/usr/bin/app".to_string()]);
    }
    let id_of = |offset: u64| {
        pending
            .iter()
            .find(|p| p.file_offset == offset)
            .map(|p| p.frame_id)
            .unwrap()
    };
    let (hot_id, main_id) = (id_of(0x1010), id_of(0x1000));

    // Both fail (no debug info yet): not pending until the retry interval.
    store
        .record_symbols(&[
            FrameSymbols {
                frame_id: hot_id,
                outcome: Err("no debug info".into()),
            },
            FrameSymbols {
                frame_id: main_id,
                outcome: Ok(vec![]),
            },
        ])
        .unwrap();
    assert!(
        store
            .pending_frames(HOUR, 100, Shard::ALL)
            .unwrap()
            .is_empty()
    );
    let stats = store.stats().unwrap();
    assert_eq!(
        (
            stats.frames_failed,
            stats.frames_symbolized,
            stats.frames_pending
        ),
        (2, 0, 0)
    );
    // A zero interval retries at once.
    assert_eq!(
        store
            .pending_frames(Duration::ZERO, 100, Shard::ALL)
            .unwrap()
            .len(),
        2
    );

    // Debug info arrives: the old samples get names without re-ingesting.
    store
        .record_symbols(&[FrameSymbols {
            frame_id: hot_id,
            outcome: Ok(vec![symbol("inlined_leaf"), symbol("hot")]),
        }])
        .unwrap();
    let profile = store.query_profile(&cpu_all("api")).unwrap();
    let leaf = &profile.samples[0].locations[0];
    assert_eq!(leaf.frame, hot);
    assert_eq!(leaf.symbols, vec![symbol("inlined_leaf"), symbol("hot")]);
    assert!(profile.samples[0].locations[2].symbols.is_empty());
    assert_eq!(
        profile.folded_stacks(),
        vec![(
            vec![
                "[app+0x1000]".to_string(),
                "irq".into(),
                "hot".into(),
                "inlined_leaf".into()
            ],
            5
        )]
    );

    let retry: Vec<PendingFrame> = store
        .pending_frames(Duration::ZERO, 100, Shard::ALL)
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].frame_id, main_id);
    let stats = store.stats().unwrap();
    assert_eq!((stats.frames_failed, stats.frames_symbolized), (1, 1));
}

#[test]
fn a_later_failure_keeps_known_symbols_and_new_symbols_replace_old() {
    let (_dir, _path, store) = temp_store();
    store
        .write_batch(&batch(
            "b1",
            vec![window("api", 0, vec![(vec![user("aa01", 1)], 1)])],
        ))
        .unwrap();
    let frame_id = store.pending_frames(HOUR, 1, Shard::ALL).unwrap()[0].frame_id;
    let record = |outcome| {
        store
            .record_symbols(&[FrameSymbols { frame_id, outcome }])
            .unwrap()
    };
    let names = || -> Vec<String> {
        store.query_profile(&cpu_all("api")).unwrap().samples[0].locations[0]
            .symbols
            .iter()
            .map(|s| s.function.clone())
            .collect()
    };

    record(Ok(vec![symbol("a"), symbol("b"), symbol("c")]));
    record(Err("debuginfod timed out".into()));
    assert_eq!(names(), vec!["a", "b", "c"]);
    record(Ok(vec![symbol("d")]));
    assert_eq!(names(), vec!["d"]);
    assert!(
        store
            .pending_frames(Duration::ZERO, 10, Shard::ALL)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn results_for_unknown_frames_are_skipped_not_fatal() {
    let (_dir, _path, store) = temp_store();
    store
        .write_batch(&batch(
            "b1",
            vec![window(
                "api",
                0,
                vec![(vec![user("aa01", 1), kernel("k", None)], 1)],
            )],
        ))
        .unwrap();
    let frame_id = store.pending_frames(HOUR, 10, Shard::ALL).unwrap()[0].frame_id;
    store
        .record_symbols(&[
            FrameSymbols {
                frame_id: 999_999,
                outcome: Ok(vec![symbol("ghost")]),
            },
            FrameSymbols {
                frame_id,
                outcome: Ok(vec![symbol("real")]),
            },
        ])
        .unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.frames, stats.frames_symbolized), (2, 1));
}

#[test]
fn pending_respects_the_limit_and_prefers_untried_frames() {
    let (_dir, _path, store) = temp_store();
    let stacks = (0..10).map(|i| (vec![user("bb02", i)], 1)).collect();
    store
        .write_batch(&batch("b1", vec![window("api", 0, stacks)]))
        .unwrap();
    let first = store.pending_frames(HOUR, 3, Shard::ALL).unwrap();
    assert_eq!(first.len(), 3);
    store
        .record_symbols(
            &first
                .iter()
                .map(|p| FrameSymbols {
                    frame_id: p.frame_id,
                    outcome: Err("nope".into()),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap();
    // Seven untried frames come before the three failed ones.
    let next = store.pending_frames(Duration::ZERO, 8, Shard::ALL).unwrap();
    assert_eq!(next.len(), 8);
    let failed: Vec<i64> = first.iter().map(|p| p.frame_id).collect();
    assert!(next[..7].iter().all(|p| !failed.contains(&p.frame_id)));
    assert!(failed.contains(&next[7].frame_id));
    assert!(
        store
            .pending_frames(HOUR, 0, Shard::ALL)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .pending_frames(Duration::ZERO, usize::MAX, Shard::ALL)
            .unwrap()
            .len(),
        10
    );
}
