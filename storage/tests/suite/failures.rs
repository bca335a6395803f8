//! A write that fails midway leaves no trace: not in the file, and not in the
//! writer's intern caches, whose ids SQLite would otherwise hand to other rows.

use augur_profile::{ProfileType, RawFrame};
use augur_storage::{StorageError, WriteOutcome};

use super::fixtures::*;

const FAILING_COUNT: u64 = 666;

/// Makes every sample insert with `FAILING_COUNT` abort, from outside the
/// store, the way a full disk or an I/O error would hit mid-transaction.
fn inject_failure(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TRIGGER inject_failure BEFORE INSERT ON samples
         WHEN NEW.count = {FAILING_COUNT}
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
    ))
    .unwrap();
}

fn remove_failure(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("DROP TRIGGER inject_failure").unwrap();
}

#[test]
fn a_failed_write_leaves_the_file_and_the_caches_consistent() {
    let (_dir, path, store) = temp_store();
    let shared = user("aa01", 0x1);
    let warm = vec![(vec![shared.clone()], 1)];
    store
        .write_batch(&batch("b0", vec![window("api", 0, warm.clone())]))
        .unwrap();
    let stats = store.stats().unwrap();

    // New frames and nodes are interned, then the second stack's row fails.
    inject_failure(&path);
    let x: Vec<RawFrame> = (0x10..0x13).map(|o| user("aa01", o)).collect();
    let failing = |count| {
        batch(
            "b1",
            vec![window(
                "api",
                0,
                vec![
                    (vec![x[0].clone(), x[1].clone(), shared.clone()], 1),
                    (vec![x[2].clone()], count),
                ],
            )],
        )
    };
    let err = store.write_batch(&failing(FAILING_COUNT)).unwrap_err();
    assert!(matches!(err, StorageError::Sqlite { .. }), "{err}");
    assert_eq!(store.stats().unwrap(), stats);
    remove_failure(&path);

    // Other new frames now take the row ids the failed batch had used; a
    // stale cache would make x[..] resolve to them.
    let z: Vec<RawFrame> = (0x20..0x23).map(|o| user("bb02", o)).collect();
    store
        .write_batch(&batch("b2", vec![window("api", 0, vec![(z.clone(), 5)])]))
        .unwrap();
    // The failed batch id was rolled back too, so the retry is stored.
    assert_eq!(
        store.write_batch(&failing(7)).unwrap(),
        WriteOutcome::Stored { samples: 8 }
    );

    let profile = store.query_profile(&cpu_all("api")).unwrap();
    assert_eq!(
        by_frames(profile.samples),
        by_frames(expected(&[
            (vec![shared.clone()], 1),
            (z, 5),
            (vec![x[0].clone(), x[1].clone(), shared], 1),
            (vec![x[2].clone()], 7),
        ]))
    );
    let stats = store.stats().unwrap();
    assert_eq!((stats.frames, stats.frames_pending), (7, 7));
}

#[test]
fn a_unit_conflict_rolls_back_the_whole_batch() {
    let (_dir, _path, store) = temp_store();
    store
        .write_batch(&batch("b0", vec![window("api", 0, vec![(vec![], 1)])]))
        .unwrap();
    let stats = store.stats().unwrap();

    let mut millis = window("api", 0, vec![(vec![user("aa01", 2)], 1)]);
    millis.profile_type = ProfileType {
        name: "cpu".into(),
        unit: "milliseconds".into(),
    };
    let new_frame = user("aa01", 1);
    let err = store
        .write_batch(&batch(
            "b1",
            vec![window("api", 0, vec![(vec![new_frame.clone()], 1)]), millis],
        ))
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::UnitConflict { stored, .. } if stored == "nanoseconds"),
        "{err}"
    );
    assert_eq!(store.stats().unwrap(), stats);

    // The frame interned by the rolled-back window is written again for real.
    store
        .write_batch(&batch(
            "b2",
            vec![window("db", 0, vec![(vec![unknown("u")], 1)])],
        ))
        .unwrap();
    store
        .write_batch(&batch(
            "b1",
            vec![window("api", 0, vec![(vec![new_frame.clone()], 1)])],
        ))
        .unwrap();
    assert_eq!(
        by_frames(store.query_profile(&cpu_all("api")).unwrap().samples),
        vec![(vec![], 1), (vec![new_frame], 1)]
    );
}
