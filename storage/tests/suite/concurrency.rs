//! Readers run beside the writer and always see whole batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use super::fixtures::*;

#[test]
fn readers_see_whole_batches_while_the_writer_commits() {
    let (_dir, _path, store) = temp_store();
    // Every batch adds 10 samples over two stacks, so a reader seeing part of
    // one would see a total that is not a multiple of 10.
    let stacks = vec![
        (vec![user("aa01", 1), kernel("k", None)], 4),
        (vec![user("aa01", 2)], 6),
    ];
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                let done = &done;
                scope.spawn(move || {
                    let mut reads = 0;
                    while !done.load(Ordering::Relaxed) {
                        let total = store.query_profile(&cpu_all("api")).unwrap().total();
                        assert_eq!(total % 10, 0, "a reader saw half a batch");
                        store.stats().unwrap();
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for i in 0..30 {
            store
                .write_batch(&batch(
                    &format!("b{i}"),
                    vec![window("api", 0, stacks.clone())],
                ))
                .unwrap();
        }
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
    });
    assert_eq!(store.query_profile(&cpu_all("api")).unwrap().total(), 300);
}
