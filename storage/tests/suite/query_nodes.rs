//! Query nodes and what they keep in memory between queries: a node that
//! read a profile before must answer the next query exactly as a node that
//! never did, whoever wrote since (symbols named late, a binary queued
//! again, late batches, settles, rollups, retention).
//!
//! On SQLite the second node is a second handle on the same file; on
//! ClickHouse, other `Store`s on the same database (one server, and the
//! two-shard cluster entered through either server), with the read cache
//! of stacks and frames at its default size, off, and so small that every
//! query overflows it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use augur_profile::{Profile, RawFrame, StackTree, Symbol};
use augur_storage::{
    ClickHouseConfig, FrameSymbols, HOUR_NANOS, ProfileQuery, ReadCacheBounds, RetentionPolicy,
    Shard, Store, WindowWrite,
};

use super::clickhouse_server;
use super::fixtures::*;

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

const DAY: i64 = 24 * HOUR_NANOS;

/// One storage, the node that writes to it, and nodes that only query.
struct Nodes {
    name: &'static str,
    writer: Store,
    /// `(what it keeps, the node)`.
    readers: Vec<(&'static str, Store)>,
    /// Opens one more query node, with nothing read yet.
    fresh: Box<dyn Fn() -> Store>,
    clickhouse: bool,
}

fn clickhouse_node(url: &str, db: &str, cluster: bool, cache: ReadCacheBounds) -> Store {
    let mut config = ClickHouseConfig::single(url);
    config.database = db.into();
    config.read_cache = cache;
    if cluster {
        let urls = clickhouse_server::urls().expect("servers started");
        config.cluster = Some(clickhouse_server::CLUSTER.into());
        config.shard_urls = urls.to_vec();
    }
    Store::clickhouse(config).expect("open a ClickHouse query node")
}

/// So small that one profile overflows it: the cache is emptied in the
/// middle of queries and hits are partial.
const TINY: ReadCacheBounds = ReadCacheBounds {
    stack_frame_ids: 8,
    frames: 5,
    symbols: 5,
    window_rows: 30,
};

fn every_storage() -> Vec<Nodes> {
    let (dir, path, sqlite) = temp_store();
    // The directory lives as long as the test binary: fine for a test.
    std::mem::forget(dir);
    let reopen = path.clone();
    let mut out = vec![Nodes {
        name: "sqlite",
        writer: sqlite,
        readers: vec![("a second handle", Store::open(&path).unwrap())],
        fresh: Box::new(move || Store::open(&reopen).unwrap()),
        clickhouse: false,
    }];
    let Some(urls) = clickhouse_server::urls() else {
        return out;
    };
    for (name, cluster) in [("clickhouse", false), ("clickhouse-2-shards", true)] {
        let db = format!("augur_q{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        // On the cluster, queries enter through the other server.
        let (write_url, read_url) = if cluster {
            (urls[0].clone(), urls[1].clone())
        } else {
            (urls[0].clone(), urls[0].clone())
        };
        let node = |url: &str, cache| clickhouse_node(url, &db, cluster, cache);
        let writer = node(&write_url, ReadCacheBounds::DEFAULT);
        let readers = vec![
            (
                "the default cache",
                node(&read_url, ReadCacheBounds::DEFAULT),
            ),
            ("no cache", node(&read_url, ReadCacheBounds::NONE)),
            ("a tiny cache", node(&read_url, TINY)),
        ];
        let fresh_db = db.clone();
        out.push(Nodes {
            name,
            writer,
            readers,
            fresh: Box::new(move || {
                clickhouse_node(&read_url, &fresh_db, cluster, ReadCacheBounds::NONE)
            }),
            clickhouse: true,
        });
    }
    out
}

/// A profile as comparable across backends: every stack with its
/// locations' frames, paths and symbols, sorted.
type Shape = Vec<(Vec<(RawFrame, Option<String>, Vec<SymbolText>)>, u64)>;

/// A symbol as sortable fields: function, file, line.
type SymbolText = (String, Option<String>, Option<u32>);

fn shape(profile: &Profile) -> Shape {
    let mut out: Shape = profile
        .samples
        .iter()
        .map(|s| {
            (
                s.locations
                    .iter()
                    .map(|l| {
                        let symbols = l
                            .symbols
                            .iter()
                            .map(|s| (s.function.clone(), s.file.clone(), s.line))
                            .collect();
                        (l.frame.clone(), l.path.clone(), symbols)
                    })
                    .collect(),
                s.count,
            )
        })
        .collect();
    out.sort();
    out
}

/// Checks every query node against a fresh one (and, on ClickHouse, the
/// stack tree against the profile's own), twice each: cold, then warm.
fn check_nodes(nodes: &Nodes, queries: &[ProfileQuery], step: &str) -> Vec<Shape> {
    let fresh = (nodes.fresh)();
    let mut shapes = Vec::new();
    for query in queries {
        let expected = fresh.query_profile(query).unwrap();
        let expected_tree = fresh.query_stack_tree(query).unwrap();
        if nodes.clickhouse {
            assert_eq!(
                expected_tree,
                StackTree::from_profile(&expected),
                "{}: {step}: the tree is not the profile's",
                nodes.name
            );
        }
        for (what, node) in &nodes.readers {
            for pass in ["cold", "warm"] {
                let profile = node.query_profile(query).unwrap();
                let tree = node.query_stack_tree(query).unwrap();
                let context = format!("{}, {what}, {step}, {pass}: {query:?}", nodes.name);
                if nodes.clickhouse {
                    assert_eq!(profile, expected, "{context}: the profile differs");
                    assert_eq!(tree, expected_tree, "{context}: the tree differs");
                } else {
                    assert_eq!(shape(&profile), shape(&expected), "{context}");
                    assert_eq!(tree.stacks().len(), expected_tree.stacks().len());
                }
            }
        }
        shapes.push(shape(&expected));
    }
    shapes
}

/// Leaf-first stacks of `service`, sharing roots like a call tree: 24 of
/// them, 3 to 6 frames, some through the kernel.
fn call_tree(service: u64, salt: u64) -> Vec<(Vec<RawFrame>, u64)> {
    (0..24u64)
        .map(|i| {
            let depth = 3 + (i % 4) as usize;
            let mut frames: Vec<RawFrame> = (0..depth)
                .map(|level| {
                    let node = i * (level as u64 + 1) / depth as u64;
                    let hex = if level + 1 == depth && i % 3 == 1 {
                        "bb02"
                    } else {
                        "aa01"
                    };
                    user(hex, 0x1000 * (service + 1) + 0x10 * (level as u64) + node)
                })
                .collect();
            frames.reverse();
            if i % 5 == 0 {
                frames.insert(0, kernel("do_syscall_64", None));
            }
            if salt > 0 && i % 7 == 0 {
                // A new leaf: a stack no node has read yet.
                frames.insert(0, user("aa01", 0x9_0000 + salt * 0x100 + i));
            }
            (frames, 1 + (i * 7 + service + salt) % 13)
        })
        .collect()
}

fn host_windows(hosts: &[&str], starts: &[i64], salt: u64) -> Vec<WindowWrite> {
    let mut out = Vec::new();
    for (s, service) in ["api", "db", "web"].iter().enumerate() {
        for host in hosts {
            for &start in starts {
                let mut w = window(service, start, call_tree(s as u64, salt));
                w.labels = [("host".to_string(), host.to_string())].into();
                out.push(w);
            }
        }
    }
    out
}

/// Both days and part of one, every host and one, and a service with
/// nothing stored.
fn queries() -> Vec<ProfileQuery> {
    let mut one_host = cpu("api", 0, 2 * DAY);
    one_host.labels = [("host".to_string(), "b".to_string())].into();
    vec![
        cpu("api", 0, 2 * DAY),
        cpu("web", 0, 2 * DAY),
        cpu("db", DAY, DAY + 120 * SEC),
        one_host,
        cpu("none", 0, 2 * DAY),
    ]
}

#[test]
fn a_query_nodes_cache_never_changes_an_answer() {
    let storages = every_storage();
    let mut reference: BTreeMap<String, Vec<Shape>> = BTreeMap::new();
    for nodes in &storages {
        let w = &nodes.writer;
        let starts = [0, 60 * SEC, DAY, DAY + 60 * SEC];
        w.write_batch(&batch("q1", host_windows(&["a", "b"], &starts, 0)))
            .unwrap();
        let mut steps: Vec<(&str, Vec<Shape>)> = Vec::new();
        steps.push(("stored", check_nodes(nodes, &queries(), "stored")));
        w.settle(i64::MAX / 2).unwrap();
        steps.push(("settled", check_nodes(nodes, &queries(), "settled")));

        // A late batch with new stacks, into settled windows.
        w.write_batch(&batch("q2", host_windows(&["c"], &[60 * SEC, DAY], 1)))
            .unwrap();
        steps.push(("late", check_nodes(nodes, &queries(), "late")));
        w.settle(i64::MAX / 2).unwrap();
        steps.push(("resettled", check_nodes(nodes, &queries(), "resettled")));

        // Names for some frames, a failure for others.
        let pending = w
            .pending_frames(Duration::from_secs(3600), 1000, Shard::ALL)
            .unwrap();
        let named: Vec<FrameSymbols> = pending
            .iter()
            .map(|p| FrameSymbols {
                frame_id: p.frame_id,
                outcome: if p.file_offset % 3 == 0 {
                    Err("no debug info".into())
                } else {
                    Ok(vec![Symbol {
                        function: format!("fn_{:x}", p.file_offset),
                        file: Some("src/lib.rs".into()),
                        line: Some((p.file_offset % 500) as u32 + 1),
                    }])
                },
            })
            .collect();
        w.record_symbols(&named).unwrap();
        steps.push(("named", check_nodes(nodes, &queries(), "named")));

        // Day 0 rolls up into hours, then expires.
        let policy = RetentionPolicy {
            minute_windows: Duration::from_secs(86_400),
            hour_windows: Duration::from_secs(30 * 86_400),
            max_bytes: None,
        };
        w.compact(&policy, 2 * DAY + 2 * HOUR_NANOS).unwrap();
        steps.push(("rolled up", check_nodes(nodes, &queries(), "rolled up")));
        w.compact(&policy, 31 * DAY + 2 * HOUR_NANOS).unwrap();
        steps.push(("expired", check_nodes(nodes, &queries(), "expired")));

        // Every backend gives the same answers at every step.
        for (step, shapes) in steps {
            match reference.get(step) {
                None => {
                    reference.insert(step.to_owned(), shapes);
                }
                Some(first) => assert_eq!(&shapes, first, "{}: {step}", nodes.name),
            }
        }
    }
    // The data was there to compare: not every answer empty.
    assert!(reference["named"].iter().any(|s| !s.is_empty()));
}

#[test]
fn names_given_on_another_node_show_at_once_on_a_node_that_read_before() {
    for nodes in every_storage() {
        let w = &nodes.writer;
        let hot = user("aa01", 0x1010);
        let stack = vec![hot.clone(), kernel("irq", None), user("aa01", 0x1000)];
        w.write_batch(&batch("n1", vec![window("api", 0, vec![(stack, 5)])]))
            .unwrap();
        let query = cpu("api", 0, 60 * SEC);
        let leaf_names = |node: &Store| -> (Vec<Symbol>, Vec<Symbol>) {
            let profile = node.query_profile(&query).unwrap();
            let tree = node.query_stack_tree(&query).unwrap();
            let in_tree = tree
                .locations
                .iter()
                .find(|l| l.frame == hot)
                .map(|l| l.symbols.clone())
                .unwrap_or_default();
            (profile.samples[0].locations[0].symbols.clone(), in_tree)
        };
        for (_, node) in &nodes.readers {
            assert_eq!(leaf_names(node), (vec![], vec![]), "{}", nodes.name);
        }
        let name = |f: &str| Symbol {
            function: f.into(),
            file: Some("src/app.c".into()),
            line: Some(12),
        };
        let id = w
            .pending_frames(Duration::from_secs(3600), 10, Shard::ALL)
            .unwrap()
            .iter()
            .find(|p| p.file_offset == 0x1010)
            .unwrap()
            .frame_id;
        w.record_symbols(&[FrameSymbols {
            frame_id: id,
            outcome: Ok(vec![name("hot")]),
        }])
        .unwrap();
        for (what, node) in &nodes.readers {
            assert_eq!(
                leaf_names(node),
                (vec![name("hot")], vec![name("hot")]),
                "{}, {what}: a late name",
                nodes.name
            );
        }
        // New debug info: the binary is queued again and renamed.
        w.requeue_binary(&build_id("aa01")).unwrap();
        w.record_symbols(&[FrameSymbols {
            frame_id: id,
            outcome: Ok(vec![name("inlined"), name("hot_v2")]),
        }])
        .unwrap();
        for (what, node) in &nodes.readers {
            assert_eq!(
                leaf_names(node),
                (
                    vec![name("inlined"), name("hot_v2")],
                    vec![name("inlined"), name("hot_v2")]
                ),
                "{}, {what}: a renamed frame",
                nodes.name
            );
        }
        check_nodes(&nodes, std::slice::from_ref(&query), "renamed");
    }
}
