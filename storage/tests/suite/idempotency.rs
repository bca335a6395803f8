//! Retried batches count once, and data outlives the process.

use augur_storage::{Store, WriteOutcome};

use super::fixtures::*;

#[test]
fn a_duplicate_batch_id_changes_nothing_even_after_reopening() {
    let (_dir, path, store) = temp_store();
    let stack = vec![user("aa01", 0x10), kernel("schedule", None)];
    let first = batch(
        "agent-1/7",
        vec![window("api", 0, vec![(stack.clone(), 3)])],
    );
    assert_eq!(
        store.write_batch(&first).unwrap(),
        WriteOutcome::Stored { samples: 3 }
    );
    let stats = store.stats().unwrap();

    // Same id, different content: still a duplicate, nothing is added.
    let retry = batch(
        "agent-1/7",
        vec![window(
            "api",
            0,
            vec![(stack.clone(), 3), (vec![unknown("x")], 9)],
        )],
    );
    assert_eq!(store.write_batch(&retry).unwrap(), WriteOutcome::Duplicate);
    assert_eq!(store.stats().unwrap(), stats);
    assert_eq!(store.query_profile(&cpu_all("api")).unwrap().total(), 3);

    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.write_batch(&first).unwrap(), WriteOutcome::Duplicate);
    assert_eq!(store.stats().unwrap(), stats);
    assert_eq!(store.query_profile(&cpu_all("api")).unwrap().total(), 3);
}

#[test]
fn reopening_an_existing_file_keeps_data_and_interning() {
    let (_dir, path, store) = temp_store();
    let stacks = vec![
        (vec![user("aa01", 0x10), user("bb02", 0x20)], 4),
        (
            vec![kernel("nvme_irq", Some("nvme")), user("bb02", 0x20)],
            1,
        ),
    ];
    store
        .write_batch(&batch("b1", vec![window("api", 0, stacks.clone())]))
        .unwrap();
    let before = store.stats().unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.stats().unwrap(), before);
    assert_eq!(
        store.query_profile(&cpu_all("api")).unwrap().samples,
        expected(&stacks)
    );

    // A fresh writer finds the stored frames and nodes instead of copying them.
    store
        .write_batch(&batch("b2", vec![window("api", 0, stacks.clone())]))
        .unwrap();
    let after = store.stats().unwrap();
    assert_eq!(after.frames, before.frames);
    assert_eq!(after.stacks, before.stacks);
    assert_eq!(after.sample_rows, before.sample_rows);
    assert_eq!(after.batches, 2);
    let doubled: Vec<_> = stacks.iter().map(|(s, c)| (s.clone(), c * 2)).collect();
    assert_eq!(
        store.query_profile(&cpu_all("api")).unwrap().samples,
        expected(&doubled)
    );
}

#[test]
fn two_handles_on_one_file_share_the_data() {
    let (_dir, path, store) = temp_store();
    let clone = store.clone();
    store
        .write_batch(&batch("b1", vec![window("api", 0, vec![(vec![], 1)])]))
        .unwrap();
    assert_eq!(clone.query_profile(&cpu_all("api")).unwrap().total(), 1);

    // A second Store on the same file (another process, say) waits for the
    // lock instead of failing, and sees the first one's commits.
    let other = Store::open(&path).unwrap();
    other
        .write_batch(&batch("b2", vec![window("api", 0, vec![(vec![], 1)])]))
        .unwrap();
    assert_eq!(store.query_profile(&cpu_all("api")).unwrap().total(), 2);
    assert_eq!(
        other.write_batch(&batch("b1", vec![])).unwrap(),
        WriteOutcome::Duplicate
    );
}
