//! Per-service rows on ClickHouse, settled from `samples FINAL`: every case
//! runs on SQLite too (where settling has nothing to do), and on one
//! ClickHouse server and the two-shard cluster with a second node on the
//! same database, which settles as well.
//!
//! What is checked is what a settled window must never do: differ from the
//! per-series rows it replaces, count a retried batch twice, miss or double
//! a late batch before or after it is settled again, or show a window twice
//! or half to a query that runs while windows are being settled.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use augur_profile::RawFrame;
use augur_storage::{
    ClickHouseConfig, FleetReport, HOUR_NANOS, RetentionPolicy, Store, WindowWrite, WriteOutcome,
};

use super::clickhouse_server;
use super::fixtures::*;

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// Settles every window written so far, whatever the settle delay.
const LATER: i64 = i64::MAX / 2;

/// A backend, and a second node on the same storage (ClickHouse only).
struct Backend {
    name: &'static str,
    store: Store,
    other_node: Option<Store>,
    /// ClickHouse: `(server URL, the batches table on it)` of every server
    /// holding batch ids.
    batch_tables: Vec<(String, String)>,
}

impl Backend {
    fn clickhouse(&self) -> bool {
        self.other_node.is_some()
    }

    /// Forgets every stored batch id, as if each batch's writer had died
    /// after its sample rows and before its batch row: a retry is then
    /// stored again, and its sample rows are in `samples` twice.
    fn forget_batch_ids(&self) {
        for (url, table) in &self.batch_tables {
            let response = ureq::post(&format!("{url}/"))
                .send(format!("ALTER TABLE {table} DROP PARTITION tuple()"))
                .expect("drop the batch ids");
            assert_eq!(response.status(), 200, "{}", self.name);
        }
    }

    /// Rows of an internal ClickHouse table, through the SQL interface.
    fn rows(&self, table: &str) -> u64 {
        self.store
            .sql(&format!("SELECT count() AS n FROM {table}"), 1)
            .unwrap()
            .rows[0][0]
            .as_u64()
            .unwrap()
    }
}

fn backends() -> Vec<Backend> {
    let (dir, _path, sqlite) = temp_store();
    // The directory lives as long as the test binary: fine for a test.
    std::mem::forget(dir);
    let mut out = vec![Backend {
        name: "sqlite",
        store: sqlite,
        other_node: None,
        batch_tables: Vec::new(),
    }];
    let Some(urls) = clickhouse_server::urls() else {
        return out;
    };
    let single = |url: &str, db: &str| {
        let mut config = ClickHouseConfig::single(url);
        config.database = db.into();
        Store::clickhouse(config).expect("open the ClickHouse store")
    };
    let db = format!("augur_s{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    out.push(Backend {
        name: "clickhouse",
        store: single(&urls[0], &db),
        other_node: Some(single(&urls[0], &db)),
        batch_tables: vec![(urls[0].clone(), format!("{db}.batches"))],
    });
    let clustered = |url: &str, db: &str| {
        let mut config = ClickHouseConfig::single(url);
        config.database = db.into();
        config.cluster = Some(clickhouse_server::CLUSTER.into());
        config.shard_urls = urls.to_vec();
        Store::clickhouse(config).expect("open the sharded ClickHouse store")
    };
    let db = format!("augur_sc{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    out.push(Backend {
        name: "clickhouse-2-shards",
        store: clustered(&urls[1], &db),
        other_node: Some(clustered(&urls[0], &db)),
        batch_tables: urls
            .iter()
            .map(|url| (url.clone(), format!("{db}.batches_local")))
            .collect(),
    });
    out
}

fn stacks() -> Vec<(Vec<RawFrame>, u64)> {
    vec![
        (vec![user("aa01", 0x1010), user("aa01", 0x1000)], 7),
        (vec![kernel("do_syscall_64", None), user("bb02", 0x2f00)], 3),
        (vec![user("bb02", 0x2f00), user("aa01", 0x1000)], 1),
    ]
}

/// A window of host `host`, its counts times `scale`.
fn host_window(host: &str, start: i64, scale: u64) -> WindowWrite {
    let mut w = window(
        "api",
        start,
        stacks()
            .into_iter()
            .map(|(frames, n)| (frames, n * scale))
            .collect(),
    );
    w.labels = [("host".to_string(), host.to_string())].into();
    w
}

/// The profile without matchers, as (frames, count) sorted by frames.
fn merged(store: &Store, from: i64, to: i64) -> Vec<(Vec<RawFrame>, u64)> {
    by_frames(store.query_profile(&cpu("api", from, to)).unwrap().samples)
}

/// The sum of the per-host profiles: read from the sample rows themselves.
fn per_host(store: &Store, hosts: &[&str], from: i64, to: i64) -> Vec<(Vec<RawFrame>, u64)> {
    let mut sum: BTreeMap<Vec<RawFrame>, u64> = BTreeMap::new();
    for host in hosts {
        let mut q = cpu("api", from, to);
        q.labels = [("host".to_string(), host.to_string())].into();
        for (frames, n) in by_frames(store.query_profile(&q).unwrap().samples) {
            *sum.entry(frames).or_default() += n;
        }
    }
    sum.into_iter().collect()
}

fn total(profile: &[(Vec<RawFrame>, u64)]) -> u64 {
    profile.iter().map(|(_, n)| n).sum()
}

/// On-CPU samples of `api` as the service list counts them (all time).
fn listed(store: &Store) -> u64 {
    store
        .services()
        .unwrap()
        .iter()
        .filter(|s| s.name == "api")
        .map(|s| s.total_samples)
        .sum()
}

fn fleet_samples(store: &Store, from: i64, to: i64) -> u64 {
    store
        .fleet_report(FleetReport::Services, from, to, 10)
        .unwrap()
        .iter()
        .map(|r| r.samples)
        .sum()
}

#[test]
fn a_settled_profile_equals_the_sum_of_its_series_through_rollup_and_retention() {
    const DAY: i64 = 24 * HOUR_NANOS;
    for b in backends() {
        let hosts = ["a", "b", "c"];
        let starts = [0, 60 * SEC, 120 * SEC, DAY + 60 * SEC];
        for (h, host) in hosts.iter().enumerate() {
            for (m, &start) in starts.iter().enumerate() {
                let batch = batch(
                    &format!("{host}-{m}"),
                    vec![host_window(host, start, h as u64 + 1)],
                );
                b.store.write_batch(&batch).unwrap();
            }
        }
        let before = merged(&b.store, 0, 2 * DAY);
        assert_eq!(listed(&b.store), 11 * 6 * 4, "{}: services", b.name);
        let settled = b.store.settle(LATER).unwrap();
        if b.clickhouse() {
            assert_eq!(settled, starts.len(), "{}: windows settled", b.name);
            assert!(b.rows("service_samples") > 0, "{}", b.name);
            // Nothing left to settle.
            assert_eq!(b.store.settle(LATER).unwrap(), 0, "{}", b.name);
        }
        let after = merged(&b.store, 0, 2 * DAY);
        assert_eq!(after, before, "{}: settled != samples FINAL", b.name);
        assert_eq!(after, per_host(&b.store, &hosts, 0, 2 * DAY), "{}", b.name);
        // 11 samples per host-window, times the host's scale (1+2+3), four
        // windows.
        assert_eq!(total(&after), 11 * 6 * 4, "{}", b.name);
        // Part of a range, and the fleet report, from the same rows.
        assert_eq!(
            total(&merged(&b.store, 60 * SEC, 180 * SEC)),
            11 * 6 * 2,
            "{}",
            b.name
        );
        assert_eq!(
            fleet_samples(&b.store, 0, 2 * DAY),
            11 * 6 * 4,
            "{}",
            b.name
        );
        assert_eq!(
            fleet_samples(&b.store, 0, 120 * SEC),
            11 * 6 * 2,
            "{}",
            b.name
        );
        assert_eq!(listed(&b.store), 11 * 6 * 4, "{}: services", b.name);

        // Day 0 rolls up into hours (ClickHouse rolls whole days): its
        // per-service rows go with it.
        let policy = RetentionPolicy {
            minute_windows: Duration::from_secs(86_400),
            hour_windows: Duration::from_secs(30 * 86_400),
            max_bytes: None,
        };
        b.store.compact(&policy, 2 * DAY + 2 * HOUR_NANOS).unwrap();
        let rolled = merged(&b.store, 0, 2 * DAY);
        assert_eq!(rolled, before, "{}: after the rollup", b.name);
        assert_eq!(rolled, per_host(&b.store, &hosts, 0, 2 * DAY), "{}", b.name);
        assert_eq!(listed(&b.store), 11 * 6 * 4, "{}: services", b.name);
        assert_eq!(
            fleet_samples(&b.store, 0, 2 * DAY),
            11 * 6 * 4,
            "{}",
            b.name
        );
        if b.clickhouse() {
            assert_eq!(
                b.store
                    .sql(
                        &format!("SELECT count() FROM service_samples WHERE window_start < {DAY}"),
                        1
                    )
                    .unwrap()
                    .rows[0][0]
                    .as_u64(),
                Some(0),
                "{}: day 0's settled rows are dropped with its minutes",
                b.name
            );
        }
        b.store.compact(&policy, 40 * DAY).unwrap();
        assert_eq!(total(&merged(&b.store, 0, 2 * DAY)), 0, "{}", b.name);
        assert_eq!(fleet_samples(&b.store, 0, 2 * DAY), 0, "{}", b.name);
        assert_eq!(listed(&b.store), 0, "{}: services", b.name);
    }
}

#[test]
fn a_retried_batch_after_settling_counts_once_on_any_node() {
    for b in backends() {
        let first = batch("r1", vec![host_window("a", 0, 1), host_window("b", 0, 2)]);
        assert!(matches!(
            b.store.write_batch(&first).unwrap(),
            WriteOutcome::Stored { .. }
        ));
        b.store.settle(LATER).unwrap();
        let settled = merged(&b.store, 0, 60 * SEC);
        assert_eq!(total(&settled), 33, "{}", b.name);
        // The retry arrives at this node and at another one.
        assert_eq!(
            b.store.write_batch(&first).unwrap(),
            WriteOutcome::Duplicate,
            "{}",
            b.name
        );
        if let Some(other) = &b.other_node {
            assert_eq!(
                other.write_batch(&first).unwrap(),
                WriteOutcome::Duplicate,
                "{}",
                b.name
            );
        }
        assert_eq!(merged(&b.store, 0, 60 * SEC), settled, "{}", b.name);
        if b.clickhouse() {
            // A retry whose first writer died before recording the batch:
            // stored again, its rows twice in `samples`, once in a profile.
            b.forget_batch_ids();
            let writer = b.other_node.as_ref().unwrap();
            assert!(matches!(
                writer.write_batch(&first).unwrap(),
                WriteOutcome::Stored { .. }
            ));
            assert_eq!(merged(&b.store, 0, 60 * SEC), settled, "{}", b.name);
            assert_eq!(fleet_samples(&b.store, 0, 60 * SEC), 33, "{}", b.name);
            assert_eq!(listed(&b.store), 33, "{}: services", b.name);
        }
        // Both nodes settle again: nothing changes.
        b.store.settle(LATER).unwrap();
        if let Some(other) = &b.other_node {
            other.settle(LATER).unwrap();
            assert_eq!(merged(other, 0, 60 * SEC), settled, "{}", b.name);
        }
        assert_eq!(merged(&b.store, 0, 60 * SEC), settled, "{}", b.name);
        assert_eq!(fleet_samples(&b.store, 0, 60 * SEC), 33, "{}", b.name);
        assert_eq!(listed(&b.store), 33, "{}: services", b.name);
    }
}

#[test]
fn a_late_batch_shows_at_once_and_once_after_its_window_is_settled_again() {
    for b in backends() {
        b.store
            .write_batch(&batch("early", vec![host_window("a", 0, 1)]))
            .unwrap();
        b.store.settle(LATER).unwrap();
        assert_eq!(total(&merged(&b.store, 0, 60 * SEC)), 11, "{}", b.name);

        // A late batch for the settled window, through the other node.
        let writer = b.other_node.as_ref().unwrap_or(&b.store);
        writer
            .write_batch(&batch("late", vec![host_window("b", 0, 2)]))
            .unwrap();
        // Before the window is settled again: counted, from the samples.
        let expected = per_host(&b.store, &["a", "b"], 0, 60 * SEC);
        assert_eq!(total(&expected), 33, "{}", b.name);
        assert_eq!(merged(&b.store, 0, 60 * SEC), expected, "{}: dirty", b.name);
        assert_eq!(fleet_samples(&b.store, 0, 60 * SEC), 33, "{}", b.name);
        assert_eq!(listed(&b.store), 33, "{}: services, dirty", b.name);
        if b.clickhouse() {
            // Only the dirty window is settled again, once.
            assert_eq!(b.store.settle(LATER).unwrap(), 1, "{}", b.name);
            assert_eq!(b.store.settle(LATER).unwrap(), 0, "{}", b.name);
        }
        assert_eq!(
            merged(&b.store, 0, 60 * SEC),
            expected,
            "{}: settled again",
            b.name
        );
        assert_eq!(fleet_samples(&b.store, 0, 60 * SEC), 33, "{}", b.name);
        assert_eq!(listed(&b.store), 33, "{}: services, settled again", b.name);
        // A retry of the late batch changes nothing either.
        writer
            .write_batch(&batch("late", vec![host_window("b", 0, 2)]))
            .unwrap();
        b.store.settle(LATER).unwrap();
        assert_eq!(merged(&b.store, 0, 60 * SEC), expected, "{}", b.name);
    }
}

#[test]
fn queries_while_windows_settle_never_see_a_window_twice_or_half() {
    const WINDOWS: i64 = 4;
    for b in backends() {
        let Some(other) = b.other_node.clone() else {
            continue;
        };
        // Per window: samples acknowledged so far, and samples of new
        // batches whose write has begun (retries add nothing).
        let acked: Arc<Mutex<BTreeMap<i64, u64>>> = Arc::default();
        let begun: Arc<Mutex<BTreeMap<i64, u64>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let store = b.store.clone();
        let writer = {
            let (acked, begun, stop, store) =
                (acked.clone(), begun.clone(), stop.clone(), store.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let start = (i as i64 % WINDOWS) * 60 * SEC;
                    let w = host_window(&format!("h{i}"), start, 1);
                    // Every fourth batch is sent again, as a retry.
                    let retry = i % 4 == 3;
                    let id = format!("c{}", if retry { i - 1 } else { i });
                    if !retry {
                        *begun.lock().unwrap().entry(start).or_default() += 11;
                    }
                    let outcome = store.write_batch(&batch(&id, vec![w])).unwrap();
                    if let WriteOutcome::Stored { samples } = outcome {
                        *acked.lock().unwrap().entry(start).or_default() += samples;
                    }
                    i += 1;
                }
            })
        };
        // Two nodes settle at once, without any delay.
        let settlers: Vec<_> = [store.clone(), other]
            .into_iter()
            .map(|node| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut settled = 0;
                    while !stop.load(Ordering::Relaxed) {
                        settled += node.settle(LATER).unwrap();
                    }
                    settled
                })
            })
            .collect();
        // Six seconds and six queries at least (a busy machine is slow).
        let started = Instant::now();
        let mut queries = 0;
        while started.elapsed() < Duration::from_secs(6)
            || (queries < 6 && started.elapsed() < Duration::from_secs(120))
        {
            let before = acked.lock().unwrap().clone();
            let seen: BTreeMap<i64, u64> = store
                .timeline(&cpu("api", 0, WINDOWS * 60 * SEC))
                .unwrap()
                .into_iter()
                .collect();
            let listed_now = listed(&store);
            // The profile, through the node's cache of settled windows.
            let profiled = store
                .query_profile(&cpu("api", 0, WINDOWS * 60 * SEC))
                .unwrap()
                .total();
            let after = begun.lock().unwrap().clone();
            let (low, high) = (before.values().sum::<u64>(), after.values().sum::<u64>());
            for (what, got) in [("service list", listed_now), ("profile", profiled)] {
                assert!(
                    low <= got && got <= high && got % 11 == 0,
                    "{}: the {what} showed {got} samples, acknowledged {low} before and at \
                     most {high} begun",
                    b.name
                );
            }
            for w in 0..WINDOWS {
                let start = w * 60 * SEC;
                let got = seen.get(&start).copied().unwrap_or(0);
                let low = before.get(&start).copied().unwrap_or(0);
                let high = after.get(&start).copied().unwrap_or(0);
                assert!(
                    low <= got && got <= high && got % 11 == 0,
                    "{}: window {w} showed {got} samples, acknowledged {low} before the query \
                     and at most {high} begun by its end",
                    b.name
                );
            }
            queries += 1;
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        let settled: usize = settlers.into_iter().map(|s| s.join().unwrap()).sum();
        assert!(settled > WINDOWS as usize, "{}: settled {settled}", b.name);
        assert!(queries > 5, "{}: {queries} queries", b.name);
        // Quiet: once settled, every window shows exactly what was stored.
        store.settle(LATER).unwrap();
        let acked = acked.lock().unwrap().clone();
        let seen: BTreeMap<i64, u64> = store
            .timeline(&cpu("api", 0, WINDOWS * 60 * SEC))
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(seen, acked, "{}", b.name);
        assert_eq!(listed(&store), acked.values().sum::<u64>(), "{}", b.name);
        assert_eq!(
            store
                .query_profile(&cpu("api", 0, WINDOWS * 60 * SEC))
                .unwrap()
                .total(),
            acked.values().sum::<u64>(),
            "{}",
            b.name
        );
        assert_eq!(b.store.settle(LATER).unwrap(), 0, "{}", b.name);
    }
}
