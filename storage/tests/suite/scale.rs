//! A quick look at how 50k distinct stacks write and query. It prints the
//! times and asserts only the results: timings are never asserted.

use std::time::Instant;

use augur_profile::RawFrame;

use super::fixtures::*;

const STACKS: usize = 50_000;
const DEPTH: usize = 24;

/// Stack `i`: a shared root, five levels of fan-out that make it unique,
/// then frames from a pool of 1000, like library code under hot functions.
fn stack(i: usize) -> Vec<RawFrame> {
    let mut root_first = vec![user("aa01", 0)];
    let mut rest = i;
    for level in 0..5 {
        root_first.push(user(
            "aa01",
            0x1000 * (level + 1) as u64 + (rest % 10) as u64,
        ));
        rest /= 10;
    }
    for d in 0..DEPTH - root_first.len() {
        root_first.push(user("bb02", ((i * 7 + d * 13) % 1000) as u64));
    }
    root_first.reverse();
    root_first
}

#[test]
fn fifty_thousand_distinct_stacks_query_in_one_go() {
    let (_dir, _path, store) = temp_store();
    let started = Instant::now();
    for (b, chunk) in (0..STACKS).collect::<Vec<_>>().chunks(5_000).enumerate() {
        let stacks = chunk
            .iter()
            .map(|&i| (stack(i), 1 + (i % 3) as u64))
            .collect();
        store
            .write_batch(&batch(&format!("b{b}"), vec![window("api", 0, stacks)]))
            .unwrap();
    }
    let written = started.elapsed();

    let started = Instant::now();
    let profile = store.query_profile(&cpu_all("api")).unwrap();
    let queried = started.elapsed();
    let stats = store.stats().unwrap();
    println!(
        "{STACKS} stacks x {DEPTH} frames ({} nodes, {} frames): write {written:.2?}, query {queried:.2?}",
        stats.stacks, stats.frames
    );

    assert_eq!(profile.samples.len(), STACKS);
    assert!(profile.samples.iter().all(|s| s.locations.len() == DEPTH));
    let expected_total: u64 = (0..STACKS).map(|i| 1 + (i % 3) as u64).sum();
    assert_eq!(profile.total(), expected_total);
    // Hottest first.
    assert!(profile.samples.windows(2).all(|w| w[0].count >= w[1].count));
    let probe = stack(12_345);
    let found = profile
        .samples
        .iter()
        .find(|s| s.locations.iter().map(|l| &l.frame).eq(probe.iter()))
        .expect("a known stack comes back leaf first");
    assert_eq!(found.count, 1 + (12_345 % 3) as u64);
}
