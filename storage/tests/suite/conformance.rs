//! The storage conformance suite: the same cases, unchanged, against every
//! backend behind [`Store`]: SQLite, one ClickHouse server, and ClickHouse
//! sharded over two servers (the harness starts real `clickhouse-server`
//! processes; see `clickhouse_server.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use augur_profile::{ProfileType, RawFrame, Runtime, Symbol};
use std::sync::atomic::{AtomicU32, Ordering};

use augur_storage::{ClickHouseConfig, FrameSymbols, Shard, StorageError, Store, WriteOutcome};

use super::clickhouse_server;
use super::fixtures::*;

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A fresh database on one ClickHouse server.
fn clickhouse_single() -> Option<Store> {
    let urls = clickhouse_server::urls()?;
    let mut config = ClickHouseConfig::single(&urls[0]);
    config.database = format!("augur_t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    Some(Store::clickhouse(config).expect("open the ClickHouse store"))
}

/// A fresh database sharded over both servers, entered through the second.
fn clickhouse_cluster() -> Option<Store> {
    let urls = clickhouse_server::urls()?;
    let mut config = ClickHouseConfig::single(&urls[1]);
    config.database = format!("augur_c{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    config.cluster = Some(clickhouse_server::CLUSTER.into());
    config.shard_urls = urls.to_vec();
    Some(Store::clickhouse(config).expect("open the sharded ClickHouse store"))
}

/// Runs `case` on every backend that can run here.
fn on_every_backend(case: impl Fn(&str, &Store)) {
    let (_dir, _path, sqlite) = temp_store();
    case("sqlite", &sqlite);
    if let Some(store) = clickhouse_single() {
        case("clickhouse", &store);
    }
    if let Some(store) = clickhouse_cluster() {
        case("clickhouse-2-shards", &store);
    }
}

fn stacks() -> Vec<(Vec<RawFrame>, u64)> {
    vec![
        (
            vec![
                user("aa01", 0x1010),
                user("bb02", 0x2f00),
                user("aa01", 0x1000),
            ],
            7,
        ),
        (
            vec![
                kernel("nvme_irq", Some("nvme")),
                kernel("do_syscall_64", None),
                user("bb02", 0x2f00),
                user("aa01", 0x1000),
            ],
            3,
        ),
        (vec![unknown("anonymous memory"), user("aa01", 0x1000)], 1),
        (
            vec![
                RawFrame::Named {
                    function: "LazyCompile:*fib app.js:3".into(),
                    origin: "jit".into(),
                },
                user("cc03", u64::MAX),
            ],
            2,
        ),
    ]
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_batch_round_trips_with_every_frame_kind_and_its_paths() {
    on_every_backend(|backend, store| {
        let outcome = store
            .write_batch(&batch("b1", vec![window("api", 10 * SEC, stacks())]))
            .unwrap();
        assert_eq!(outcome, WriteOutcome::Stored { samples: 13 }, "{backend}");
        let profile = store.query_profile(&cpu("api", 0, 60 * SEC)).unwrap();
        assert_eq!(profile.profile_type, ProfileType::cpu(), "{backend}");
        assert_eq!(profile.period, PERIOD, "{backend}");
        assert_eq!(profile.samples, expected(&stacks()), "{backend}");
        // Outside the range: nothing; unknown service: empty, not an error.
        assert!(
            store
                .query_profile(&cpu("api", 60 * SEC, 120 * SEC))
                .unwrap()
                .samples
                .is_empty()
        );
        assert!(
            store
                .query_profile(&cpu_all("nope"))
                .unwrap()
                .samples
                .is_empty()
        );
    });
}

#[test]
fn a_batch_id_counts_once_and_windows_add_up() {
    on_every_backend(|backend, store| {
        let stack = vec![user("aa01", 0x10), user("aa01", 0x20)];
        let first = batch("b1", vec![window("api", 0, vec![(stack.clone(), 4)])]);
        assert_eq!(
            store.write_batch(&first).unwrap(),
            WriteOutcome::Stored { samples: 4 }
        );
        assert_eq!(
            store.write_batch(&first).unwrap(),
            WriteOutcome::Duplicate,
            "{backend}"
        );
        let second = batch("b2", vec![window("api", 0, vec![(stack.clone(), 6)])]);
        store.write_batch(&second).unwrap();
        let profile = store.query_profile(&cpu_all("api")).unwrap();
        assert_eq!(by_frames(profile.samples), vec![(stack, 10)], "{backend}");
        let stats = store.stats().unwrap();
        assert_eq!(stats.batches, 2, "{backend}");
    });
}

#[test]
fn services_labels_and_matchers_agree() {
    on_every_backend(|backend, store| {
        let hot = vec![kernel("hot", None)];
        let mut a = window("api", 0, vec![(hot.clone(), 30)]);
        a.labels = labels(&[("host", "web-1"), ("version", "1.0")]);
        let mut b = window("api", 60 * SEC, vec![(hot.clone(), 12)]);
        b.labels = labels(&[("host", "web-2"), ("version", "1.1")]);
        let web = window("web", 0, vec![(hot.clone(), 5)]);
        store.write_batch(&batch("b1", vec![a, b, web])).unwrap();

        let services = store.services().unwrap();
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["api", "web"], "{backend}");
        assert_eq!(services[0].total_samples, 42, "{backend}");
        assert_eq!(services[0].totals["cpu"], 42 * PERIOD, "{backend}");
        assert_eq!(services[0].profile_types, ["cpu"], "{backend}");
        assert_eq!(
            (
                services[0].first_window_unix_nanos,
                services[0].last_window_unix_nanos
            ),
            (0, 60 * SEC),
            "{backend}"
        );
        let values = store.label_values("api").unwrap();
        assert_eq!(values["host"], ["web-1", "web-2"], "{backend}");
        let mut query = cpu_all("api");
        query.labels = labels(&[("version", "1.1")]);
        assert_eq!(
            store.query_profile(&query).unwrap().total(),
            12,
            "{backend}"
        );
        query.labels = labels(&[("version", "9")]);
        assert_eq!(store.query_profile(&query).unwrap().total(), 0, "{backend}");
        // The timeline: one point per window, label matchers apply.
        assert_eq!(
            store.timeline(&cpu_all("api")).unwrap(),
            [(0, 30), (60 * SEC, 12)],
            "{backend}"
        );
        query.labels = labels(&[("host", "web-2")]);
        assert_eq!(
            store.timeline(&query).unwrap(),
            [(60 * SEC, 12)],
            "{backend}"
        );
    });
}

#[test]
fn regex_and_negated_matchers_select_alike_and_series_lists_label_sets() {
    use augur_storage::{LabelMatcher, MatchOp};
    on_every_backend(|backend, store| {
        let hot = vec![kernel("hot", None)];
        let mut a = window("api", 0, vec![(hot.clone(), 30)]);
        a.labels = labels(&[("host", "web-1"), ("version", "1.0")]);
        let mut b = window("api", 60 * SEC, vec![(hot.clone(), 12)]);
        b.labels = labels(&[("host", "web-2"), ("version", "1.1")]);
        let mut c = window("api", 60 * SEC, vec![(hot.clone(), 7)]);
        c.labels = labels(&[("host", "db-1")]);
        store.write_batch(&batch("m1", vec![a, b, c])).unwrap();

        let mut sets = store.series("api").unwrap();
        sets.sort();
        assert_eq!(
            sets,
            [
                labels(&[("host", "db-1")]),
                labels(&[("host", "web-1"), ("version", "1.0")]),
                labels(&[("host", "web-2"), ("version", "1.1")]),
            ],
            "{backend}"
        );
        let total = |matchers: &[(&str, MatchOp, &str)]| {
            let mut query = cpu_all("api");
            query.matchers = matchers
                .iter()
                .map(|(k, op, v)| LabelMatcher::new(*k, *op, *v).unwrap())
                .collect();
            store.query_profile(&query).unwrap().total()
        };
        assert_eq!(total(&[]), 49, "{backend}");
        assert_eq!(total(&[("host", MatchOp::Re, "web-.*")]), 42, "{backend}");
        assert_eq!(total(&[("host", MatchOp::Re, "web")]), 0, "{backend}");
        assert_eq!(total(&[("host", MatchOp::Neq, "web-1")]), 19, "{backend}");
        assert_eq!(
            total(&[("version", MatchOp::Nre, "1\\.0")]),
            19,
            "{backend}"
        );
        // A missing label reads as empty.
        assert_eq!(total(&[("version", MatchOp::Eq, "")]), 7, "{backend}");
        assert_eq!(
            total(&[
                ("host", MatchOp::Re, "web-.*"),
                ("version", MatchOp::Neq, "1.1")
            ]),
            30,
            "{backend}"
        );
        let mut query = cpu_all("api");
        query.matchers = vec![LabelMatcher::new("host", MatchOp::Nre, "web-.*").unwrap()];
        assert_eq!(
            store.timeline(&query).unwrap(),
            [(60 * SEC, 7)],
            "{backend}"
        );
    });
}

#[test]
fn a_unit_conflict_is_refused_and_stores_nothing() {
    on_every_backend(|backend, store| {
        store
            .write_batch(&batch(
                "b1",
                vec![window("api", 0, vec![(vec![kernel("f", None)], 1)])],
            ))
            .unwrap();
        let mut w = window("api", 0, vec![(vec![kernel("g", None)], 1)]);
        w.profile_type = ProfileType {
            name: "cpu".into(),
            unit: "samples".into(),
        };
        let err = store.write_batch(&batch("b2", vec![w])).unwrap_err();
        assert!(
            matches!(err, StorageError::UnitConflict { .. }),
            "{backend}: {err}"
        );
        assert_eq!(
            store.query_profile(&cpu_all("api")).unwrap().total(),
            1,
            "{backend}"
        );
    });
}

#[test]
fn symbols_arrive_late_failures_keep_names_and_requeue_brings_frames_back() {
    on_every_backend(|backend, store| {
        let hot = user("aa01", 0x1010);
        let main = user("aa01", 0x1000);
        let other = user("bb02", 0x2000);
        let stack = vec![
            hot.clone(),
            kernel("irq", None),
            main.clone(),
            other.clone(),
        ];
        store
            .write_batch(&batch("b1", vec![window("api", 0, vec![(stack, 5)])]))
            .unwrap();
        let hour = Duration::from_secs(3600);
        let pending = store.pending_frames(hour, 100, Shard::ALL).unwrap();
        assert_eq!(pending.len(), 3, "{backend}: only user frames are pending");
        let id_of = |offset: u64| {
            pending
                .iter()
                .find(|p| p.file_offset == offset)
                .map(|p| p.frame_id)
                .unwrap()
        };
        let app = pending.iter().find(|p| p.file_offset == 0x1010).unwrap();
        assert_eq!(app.build_id, build_id("aa01"), "{backend}");
        assert_eq!(app.paths, ["/usr/bin/app"], "{backend}");
        // Two shards split the frames by binary, and together have them all.
        let halves: Vec<usize> = (0..2)
            .map(|index| {
                store
                    .pending_frames(hour, 100, Shard { index, count: 2 })
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(halves.iter().sum::<usize>(), 3, "{backend}: {halves:?}");

        let name = |f: &str| Symbol {
            function: f.into(),
            file: Some("src/app.c".into()),
            line: Some(12),
        };
        store
            .record_symbols(&[
                FrameSymbols {
                    frame_id: id_of(0x1010),
                    outcome: Ok(vec![name("inlined"), name("hot")]),
                },
                FrameSymbols {
                    frame_id: id_of(0x1000),
                    outcome: Err("no debug info".into()),
                },
                FrameSymbols {
                    frame_id: id_of(0x2000),
                    outcome: Err("no debug info".into()),
                },
            ])
            .unwrap();
        assert!(
            store
                .pending_frames(hour, 100, Shard::ALL)
                .unwrap()
                .is_empty(),
            "{backend}"
        );
        let stats = store.stats().unwrap();
        assert_eq!(
            (stats.frames_symbolized, stats.frames_failed),
            (1, 2),
            "{backend}"
        );
        // Failures come back after the retry interval (zero: at once).
        assert_eq!(
            store
                .pending_frames(Duration::ZERO, 100, Shard::ALL)
                .unwrap()
                .len(),
            2
        );

        let profile = store.query_profile(&cpu_all("api")).unwrap();
        let leaf = &profile.samples[0].locations[0];
        assert_eq!(
            leaf.symbols,
            vec![name("inlined"), name("hot")],
            "{backend}"
        );

        // New debug info for aa01: its frames are queued again, the named
        // one keeps its name through a failed retry.
        assert_eq!(
            store.requeue_binary(&build_id("aa01")).unwrap(),
            2,
            "{backend}"
        );
        let again = store.pending_frames(hour, 100, Shard::ALL).unwrap();
        let mut offsets: Vec<u64> = again.iter().map(|p| p.file_offset).collect();
        offsets.sort();
        assert_eq!(offsets, [0x1000, 0x1010], "{backend}");
        store
            .record_symbols(&[FrameSymbols {
                frame_id: id_of(0x1010),
                outcome: Err("read error".into()),
            }])
            .unwrap();
        let profile = store.query_profile(&cpu_all("api")).unwrap();
        assert_eq!(
            profile.samples[0].locations[0].symbols,
            vec![name("inlined"), name("hot")],
            "{backend}"
        );
    });
}

/// The example queries of `docs/sql.md`, verbatim: its `sql` code blocks.
pub fn documented_examples() -> Vec<String> {
    let doc = include_str!("../../../docs/sql.md");
    doc.split("```sql\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().trim().to_owned())
        .collect()
}

#[test]
fn the_documented_sql_examples_answer_the_same_on_every_backend() {
    let examples = documented_examples();
    assert_eq!(examples.len(), 2, "docs/sql.md has two examples");
    let (services, top_functions) = (&examples[0], &examples[1]);
    on_every_backend(|backend, store| {
        let main = kernel("main", None);
        let hot = vec![kernel("hot", None), main.clone()];
        let warm = vec![kernel("warm", None), main.clone()];
        let mut api = window("api", 0, vec![(hot.clone(), 30), (warm.clone(), 10)]);
        api.labels = labels(&[("host", "web-1")]);
        let web = window("web", 60 * SEC, vec![(warm.clone(), 25)]);
        store.write_batch(&batch("b1", vec![api, web])).unwrap();

        let answer = store.sql(services, 100).unwrap();
        assert_eq!(answer.columns, ["service", "samples"], "{backend}");
        assert_eq!(
            answer.rows,
            vec![
                vec![serde_json::json!("api"), serde_json::json!(40)],
                vec![serde_json::json!("web"), serde_json::json!(25)],
            ],
            "{backend}"
        );
        assert!(!answer.truncated);

        let answer = store.sql(top_functions, 100).unwrap();
        assert_eq!(answer.columns, ["function", "samples"], "{backend}");
        assert_eq!(
            answer.rows,
            vec![
                vec![serde_json::json!("warm"), serde_json::json!(35)],
                vec![serde_json::json!("hot"), serde_json::json!(30)],
            ],
            "{backend}"
        );

        // Whole stacks, leaf first, through sql_stack_frames.
        let answer = store
            .sql(
                "SELECT sf.depth AS depth, f.function AS function
                 FROM sql_stack_frames AS sf JOIN sql_frames AS f ON f.frame_id = sf.frame_id
                 WHERE sf.stack_id IN (SELECT stack_id FROM sql_samples WHERE service = 'web')
                 ORDER BY depth",
                100,
            )
            .unwrap();
        assert_eq!(
            answer.rows,
            vec![
                vec![serde_json::json!(0), serde_json::json!("warm")],
                vec![serde_json::json!(1), serde_json::json!("main")],
            ],
            "{backend}"
        );

        // Row limits are honoured and said.
        let answer = store.sql(top_functions, 1).unwrap();
        assert_eq!(answer.rows.len(), 1, "{backend}");
        assert!(answer.truncated, "{backend}");
        // Writes and garbage are refused as queries, not storage failures.
        for bad in ["DELETE FROM sql_samples", "DROP TABLE samples", "SELEKT 1"] {
            let err = store.sql(bad, 10).unwrap_err();
            assert!(
                matches!(err, StorageError::Query { .. }),
                "{backend}: {bad}: {err:?}"
            );
        }
        assert_eq!(store.query_profile(&cpu_all("api")).unwrap().total(), 40);
    });
}

#[test]
fn rollups_sum_exactly_the_minutes_they_replace_and_retention_deletes() {
    use augur_storage::{HOUR_NANOS, RetentionPolicy};

    const DAY: i64 = 24 * HOUR_NANOS;
    on_every_backend(|backend, store| {
        // Day 0: minutes in two hours, two stacks, two label sets; day 3:
        // one minute, newer than the cutoff (whole hours on SQLite, whole
        // days on ClickHouse), that stays a minute.
        let hot = vec![kernel("hot", None), kernel("main", None)];
        let cold = vec![kernel("cold", None), kernel("main", None)];
        let minute = 60 * SEC;
        let mut windows = Vec::new();
        for (i, start) in [0, minute, 2 * minute, HOUR_NANOS, HOUR_NANOS + 5 * minute]
            .into_iter()
            .enumerate()
        {
            let mut w = window(
                "api",
                start,
                vec![(hot.clone(), 10 + i as u64), (cold.clone(), 3)],
            );
            w.labels = labels(&[("host", if i % 2 == 0 { "a" } else { "b" })]);
            windows.push(w);
        }
        windows.push(window(
            "api",
            3 * DAY + 2 * HOUR_NANOS,
            vec![(hot.clone(), 7)],
        ));
        store.write_batch(&batch("b1", windows)).unwrap();

        let range = |from: i64, to: i64| {
            let profile = store.query_profile(&cpu("api", from, to)).unwrap();
            by_frames(profile.samples)
        };
        let before_all = range(0, 4 * DAY);
        let before_day0 = range(0, DAY);
        let before_host_a = {
            let mut q = cpu("api", 0, DAY);
            q.labels = labels(&[("host", "a")]);
            store.query_profile(&q).unwrap().total()
        };
        let services_before = store.services().unwrap();

        // Day 4: minutes older than 1 day roll up; hours are kept 30 days.
        let policy = RetentionPolicy {
            minute_windows: Duration::from_secs(86_400),
            hour_windows: Duration::from_secs(30 * 86_400),
            max_bytes: None,
        };
        let report = store.compact(&policy, 4 * DAY + HOUR_NANOS).unwrap();
        assert!(report.minute_rows_rolled_up >= 10, "{backend}: {report:?}");
        assert_eq!(range(0, 4 * DAY), before_all, "{backend}: totals changed");
        assert_eq!(range(0, DAY), before_day0, "{backend}");
        let mut q = cpu("api", 0, DAY);
        q.labels = labels(&[("host", "a")]);
        assert_eq!(
            store.query_profile(&q).unwrap().total(),
            before_host_a,
            "{backend}"
        );
        assert_eq!(
            store.services().unwrap()[0].total_samples,
            services_before[0].total_samples
        );
        // Day 0 is now two hour windows; day 3's minute stayed a minute.
        let resolutions = store
            .sql(
                "SELECT resolution, window_start, SUM(count) AS samples FROM sql_samples
                 GROUP BY resolution, window_start ORDER BY window_start",
                100,
            )
            .unwrap();
        assert_eq!(
            resolutions.rows,
            vec![
                vec![
                    serde_json::json!("hour"),
                    serde_json::json!(0),
                    serde_json::json!(42)
                ],
                vec![
                    serde_json::json!("hour"),
                    serde_json::json!(HOUR_NANOS),
                    serde_json::json!(33)
                ],
                vec![
                    serde_json::json!("minute"),
                    serde_json::json!(3 * DAY + 2 * HOUR_NANOS),
                    serde_json::json!(7)
                ],
            ],
            "{backend}"
        );
        // Running it again changes nothing.
        store.compact(&policy, 4 * DAY + HOUR_NANOS).unwrap();
        assert_eq!(
            range(0, 4 * DAY),
            before_all,
            "{backend}: a second compaction changed totals"
        );

        // Day 40: day 0's hours are past 30 days and go; day 3 is rolled
        // up too and, at 37 days old, goes as well.
        store.compact(&policy, 40 * DAY).unwrap();
        assert!(
            range(0, 4 * DAY).is_empty(),
            "{backend}: expired data is still there"
        );
        assert_eq!(store.query_profile(&cpu_all("api")).unwrap().total(), 0);
        let later = window("api", 40 * DAY, vec![(hot.clone(), 5)]);
        store.write_batch(&batch("b2", vec![later])).unwrap();
        assert_eq!(
            store.query_profile(&cpu_all("api")).unwrap().total(),
            5,
            "{backend}"
        );
    });
}

#[test]
fn fleet_reports_rank_services_functions_and_binaries() {
    use augur_storage::FleetReport;

    on_every_backend(|backend, store| {
        let main = user("aa01", 0x1000);
        let in_libc = vec![user("bb02", 0x2f00), main.clone()];
        let in_app = vec![user("aa01", 0x1010), main.clone()];
        let in_kernel = vec![kernel("schedule", None), main.clone()];
        store
            .write_batch(&batch(
                "b1",
                vec![
                    window(
                        "api",
                        0,
                        vec![(in_libc.clone(), 50), (in_kernel.clone(), 10)],
                    ),
                    window("web", 0, vec![(in_app.clone(), 30)]),
                    // Outside the range asked below.
                    window("batch", 3600 * SEC, vec![(in_app.clone(), 99)]),
                ],
            ))
            .unwrap();
        let pending = store
            .pending_frames(Duration::ZERO, 10, Shard::ALL)
            .unwrap();
        let named: Vec<FrameSymbols> = pending
            .iter()
            .map(|p| FrameSymbols {
                frame_id: p.frame_id,
                outcome: Ok(vec![Symbol {
                    function: match p.file_offset {
                        0x2f00 => "memcpy",
                        0x1010 => "render",
                        _ => "main",
                    }
                    .into(),
                    file: None,
                    line: None,
                }]),
            })
            .collect();
        store.record_symbols(&named).unwrap();

        let report = |kind| {
            store
                .fleet_report(kind, 0, 600 * SEC, 10)
                .unwrap()
                .into_iter()
                .map(|r| (r.name, r.samples, (r.share * 90.0).round() as u64))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            report(FleetReport::Services),
            [("api".to_owned(), 60, 60), ("web".to_owned(), 30, 30)],
            "{backend}"
        );
        assert_eq!(
            report(FleetReport::Functions),
            [
                ("memcpy".to_owned(), 50, 50),
                ("render".to_owned(), 30, 30),
                ("schedule".to_owned(), 10, 10)
            ],
            "{backend}"
        );
        assert_eq!(
            report(FleetReport::Binaries),
            [
                ("/usr/lib/libc.so.6".to_owned(), 50, 50),
                ("/usr/bin/app".to_owned(), 30, 30),
                ("[kernel]".to_owned(), 10, 10)
            ],
            "{backend}"
        );
        let top = store
            .fleet_report(FleetReport::Services, 0, 600 * SEC, 1)
            .unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].cpu_ns, 60 * PERIOD, "{backend}");
    });
}

#[test]
fn the_functions_report_names_unnamed_leaves_by_binary_and_placeholder() {
    use augur_storage::FleetReport;

    // A content id: the binary has no build-id, and no host sent its path.
    let no_path = "f11e1d0059217071570330d7e2de51ae2a435ac9";
    on_every_backend(|backend, store| {
        let main = user("aa01", 0x1000);
        let leaf = |frame: RawFrame| vec![frame, main.clone()];
        store
            .write_batch(&batch(
                "b1",
                vec![
                    window(
                        "api",
                        0,
                        vec![
                            // Two offsets of /usr/bin/app, neither named.
                            (leaf(user("aa01", 0x1010)), 30),
                            (vec![main.clone()], 20),
                            (leaf(user(no_path, 0x40)), 21),
                            (leaf(user("bb02", 0x2f00)), 15),
                        ],
                    ),
                    window(
                        "web",
                        0,
                        vec![
                            // Two library strings older agents sent for
                            // one placeholder, each below memcpy alone.
                            (
                                leaf(unknown("address not found in symbolization source")),
                                9,
                            ),
                            (
                                leaf(unknown(
                                    "symbolization source has no or no relevant symbols",
                                )),
                                8,
                            ),
                            (leaf(unknown("proc maps entry has no component")), 4),
                            (leaf(unknown("anonymous code in node")), 3),
                        ],
                    ),
                ],
            ))
            .unwrap();
        let memcpy: Vec<FrameSymbols> = store
            .pending_frames(Duration::ZERO, 10, Shard::ALL)
            .unwrap()
            .iter()
            .filter(|p| p.file_offset == 0x2f00)
            .map(|p| FrameSymbols {
                frame_id: p.frame_id,
                outcome: Ok(vec![Symbol {
                    function: "memcpy".into(),
                    file: None,
                    line: None,
                }]),
            })
            .collect();
        assert_eq!(memcpy.len(), 1, "{backend}");
        store.record_symbols(&memcpy).unwrap();

        let report = |limit| {
            store
                .fleet_report(FleetReport::Functions, 0, 600 * SEC, limit)
                .unwrap()
                .into_iter()
                .map(|r| (r.name, r.samples, (r.share * 110.0).round() as u64))
                .collect::<Vec<_>>()
        };
        let row = |name: &str, samples| (name.to_owned(), samples, samples);
        let all = report(10);
        assert_eq!(
            all,
            [
                row("[unsymbolized] /usr/bin/app", 50),
                row(&format!("[unsymbolized] {no_path}"), 21),
                row("[unknown address]", 17),
                row("memcpy", 15),
                row("[anonymous code]", 4),
                row("[anonymous code in node]", 3),
            ],
            "{backend}"
        );
        for (name, ..) in &all {
            assert!(!name.contains("symbolization source"), "{backend}: {name}");
            assert!(!name.contains("proc maps"), "{backend}: {name}");
        }
        // The merged row ranks, and is cut, by its sum.
        assert_eq!(report(3), all[..3], "{backend}");
    });
}

#[test]
fn shared_debug_info_comes_back_byte_for_byte_where_the_backend_shares() {
    on_every_backend(|backend, store| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.debug");
        // Every byte value, and more than one chunk's worth.
        let bytes: Vec<u8> = (0..(1 << 20) + 4096).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(&file, &bytes).unwrap();
        let id = build_id("abcdef01");
        let out = dir.path().join("sub/out.debug");
        assert!(!store.fetch_debuginfo(&id, &out).unwrap(), "{backend}");
        let shared = store.share_debuginfo(&id, &file).unwrap();
        if backend == "sqlite" {
            // One node: nothing to share with.
            assert!(!shared);
            return;
        }
        assert!(shared, "{backend}");
        assert!(store.fetch_debuginfo(&id, &out).unwrap(), "{backend}");
        assert_eq!(std::fs::read(&out).unwrap(), bytes, "{backend}");
        assert!(!store.fetch_debuginfo(&build_id("abcdef02"), &out).unwrap());
    });
}

#[test]
fn deploys_are_the_versions_of_a_service_with_their_hosts_and_times() {
    on_every_backend(|backend, store| {
        let stack = vec![kernel("work", None)];
        let version = |v: &str, host: &str, build: &str| {
            labels(&[("version", v), ("host", host), ("build_id", build)])
        };
        let mut w1 = window("api", 0, vec![(stack.clone(), 10)]);
        w1.labels = version("1.0", "web-1", "aa01");
        let mut w2 = window("api", 60 * SEC, vec![(stack.clone(), 5)]);
        w2.labels = version("1.0", "web-2", "aa01");
        let mut w3 = window("api", 120 * SEC, vec![(stack.clone(), 7)]);
        w3.labels = version("1.1", "web-1", "bb02");
        let mut other = window("web", 0, vec![(stack.clone(), 1)]);
        other.labels = version("9", "web-9", "cc03");
        store
            .write_batch(&batch("b1", vec![w1, w2, w3, other]))
            .unwrap();
        let deploys = store.deploys("api").unwrap();
        let summary: Vec<_> = deploys
            .iter()
            .map(|d| {
                (
                    d.version.as_str(),
                    d.hosts.clone(),
                    d.build_ids.clone(),
                    d.first_seen_unix_nanos,
                    d.last_seen_unix_nanos,
                    d.cpu_samples,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "1.0",
                    vec!["web-1".to_owned(), "web-2".to_owned()],
                    vec!["aa01".to_owned()],
                    0,
                    60 * SEC,
                    15
                ),
                (
                    "1.1",
                    vec!["web-1".to_owned()],
                    vec!["bb02".to_owned()],
                    120 * SEC,
                    120 * SEC,
                    7
                ),
            ],
            "{backend}"
        );
        assert!(store.deploys("nope").unwrap().is_empty());
    });
}

/// The samples of `profile` as (stack, count), sorted.
fn sum_of(profiles: impl IntoIterator<Item = augur_profile::Profile>) -> Vec<(Vec<RawFrame>, u64)> {
    let mut sum: BTreeMap<Vec<RawFrame>, u64> = BTreeMap::new();
    for profile in profiles {
        for (frames, count) in by_frames(profile.samples) {
            *sum.entry(frames).or_default() += count;
        }
    }
    sum.into_iter().collect()
}

#[test]
fn a_profile_without_matchers_is_the_sum_of_every_series_through_retries_and_retention() {
    use augur_storage::{BatchWrite, HOUR_NANOS, RetentionPolicy, SharedStack, WindowWrite};
    use std::sync::Arc;

    const DAY: i64 = 24 * HOUR_NANOS;
    on_every_backend(|backend, store| {
        let hosts = ["a", "b", "c"];
        let shared: Vec<SharedStack> = stacks()
            .into_iter()
            .map(|(frames, _)| Arc::from(frames))
            .collect();
        let held = |batch_id: &str, host: &str, start: i64, scale: u64| BatchWrite {
            batch_id: batch_id.into(),
            received_unix_nanos: 1,
            binaries: vec![],
            windows: vec![WindowWrite {
                service: "api".into(),
                labels: labels(&[("host", host)]),
                profile_type: ProfileType {
                    name: "cpu".into(),
                    unit: "nanoseconds".into(),
                },
                period: 10_000_000,
                window_start_unix_nanos: start,
                stacks: shared
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Arc::clone(s), scale * (i as u64 + 1)))
                    .collect(),
            }],
        };
        // Three hosts over two days' minutes, in held groups and one by one,
        // each group sent twice (a retry after a lost answer).
        let mut group = Vec::new();
        for (h, host) in hosts.iter().enumerate() {
            for (m, start) in [0, 60 * SEC, HOUR_NANOS, DAY + 120 * SEC]
                .into_iter()
                .enumerate()
            {
                group.push(held(&format!("{host}-{m}"), host, start, h as u64 + 1));
            }
        }
        for _ in 0..2 {
            store.write_batches(&group).unwrap();
        }
        let mut single = window("api", 2 * 60 * SEC, stacks());
        single.labels = labels(&[("host", "d")]);
        for _ in 0..2 {
            store
                .write_batch(&batch("single", vec![single.clone()]))
                .unwrap();
        }

        let check = |when: &str, from: i64, to: i64| {
            let merged = sum_of([store.query_profile(&cpu("api", from, to)).unwrap()]);
            let per_series = sum_of(["a", "b", "c", "d"].map(|host| {
                let mut q = cpu("api", from, to);
                q.labels = labels(&[("host", host)]);
                store.query_profile(&q).unwrap()
            }));
            assert_eq!(merged, per_series, "{backend} {when} [{from}, {to})");
            let total = |view: &str| {
                store
                    .sql(
                        &format!(
                            "SELECT SUM(count) AS n FROM {view} WHERE window_start >= {from}
                               AND window_start < {to}"
                        ),
                        1,
                    )
                    .unwrap()
                    .rows[0][0]
                    .as_u64()
                    .unwrap_or(0)
            };
            assert_eq!(
                total("sql_service_samples"),
                total("sql_samples"),
                "{backend} {when}: the SQL views disagree"
            );
            merged.iter().map(|(_, n)| n).sum::<u64>()
        };
        // 1+2+3+4 per host and window times the host's scale (1, 2, 3), four
        // windows each, plus host d's one window of 7+3+1+2.
        assert_eq!(check("stored", 0, 3 * DAY), 10 * 6 * 4 + 13, "{backend}");
        check("first hour", 0, HOUR_NANOS);

        // Day 2: day 0's minutes roll up into hours; day 1's stay minutes
        // on SQLite (whole hours) and roll up on ClickHouse only past a day.
        let policy = RetentionPolicy {
            minute_windows: Duration::from_secs(86_400),
            hour_windows: Duration::from_secs(30 * 86_400),
            max_bytes: None,
        };
        store.compact(&policy, DAY + 2 * HOUR_NANOS).unwrap();
        assert_eq!(check("rolled up", 0, 3 * DAY), 10 * 6 * 4 + 13, "{backend}");
        check("rolled-up first hour", 0, HOUR_NANOS);
        store.compact(&policy, 40 * DAY).unwrap();
        assert_eq!(check("expired", 0, 3 * DAY), 0, "{backend}");
    });
}

#[test]
fn the_stack_tree_holds_the_profiles_stacks_each_location_once() {
    on_every_backend(|backend, store| {
        let mut all = stacks();
        // A stack that is a prefix of others, and an empty one.
        all.push((vec![user("aa01", 0x1000)], 4));
        all.push((vec![], 2));
        let mut w = window("api", 0, all);
        w.labels = labels(&[("host", "a")]);
        store.write_batch(&batch("t1", vec![w])).unwrap();
        let query = cpu("api", 0, 60 * SEC);
        let profile = store.query_profile(&query).unwrap();
        let tree = store.query_stack_tree(&query).unwrap();
        assert!(tree.is_well_formed(), "{backend}");
        assert_eq!(tree.total(), profile.total(), "{backend}");
        assert_eq!(tree.root_count, 2, "{backend}");
        assert_eq!(tree.period, profile.period, "{backend}");
        assert_eq!(tree.profile_type, profile.profile_type, "{backend}");
        let mut from_tree: Vec<(Vec<RawFrame>, u64)> = tree
            .stacks()
            .into_iter()
            .map(|(locations, count)| (locations.iter().map(|l| l.frame.clone()).collect(), count))
            .collect();
        from_tree.sort();
        assert_eq!(from_tree, by_frames(profile.samples.clone()), "{backend}");
        // Every distinct frame once, with the same symbols and paths.
        let mut distinct: Vec<&augur_profile::Location> =
            profile.samples.iter().flat_map(|s| &s.locations).collect();
        distinct.sort_by(|a, b| a.frame.cmp(&b.frame));
        distinct.dedup();
        assert_eq!(tree.locations.len(), distinct.len(), "{backend}");
        for location in &tree.locations {
            assert!(distinct.contains(&&**location), "{backend}: {location:?}");
        }
    });
}

#[test]
fn file_ids_of_both_kinds_are_stored_named_and_told_apart_in_sql() {
    // A Go binary's content id beside a C library's GNU build-id.
    let go = augur_profile::FileId::from_content(b"\x7fELF go", b"tail", 4096);
    let go_hex = go.to_hex();
    on_every_backend(|backend, store| {
        let stack = vec![
            RawFrame::User {
                build_id: go.clone(),
                file_offset: 0x1234,
            },
            user("aa01", 0x1000),
        ];
        let mut write = batch("b1", vec![window("api", 0, vec![(stack.clone(), 5)])]);
        write.binaries.push((go.clone(), "/usr/bin/goapp".into()));
        store.write_batch(&write).unwrap();
        let profile = store.query_profile(&cpu_all("api")).unwrap();
        assert_eq!(profile.samples[0].locations[0].frame, stack[0], "{backend}");
        assert_eq!(
            profile.samples[0].locations[0].path.as_deref(),
            Some("/usr/bin/goapp"),
            "{backend}"
        );
        let answer = store
            .sql(
                "SELECT build_id, path, kind FROM sql_binaries ORDER BY build_id",
                10,
            )
            .unwrap();
        let rows: Vec<Vec<String>> = answer
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .collect();
        assert!(
            rows.contains(&vec![
                go_hex.clone(),
                "/usr/bin/goapp".into(),
                "content".into()
            ]),
            "{backend}: {rows:?}"
        );
        assert!(
            rows.iter()
                .any(|r| r[0] == build_id("aa01").to_hex() && r[2] == "build-id"),
            "{backend}: {rows:?}"
        );
        // The frame waits for its symbols under the content id.
        let pending = store
            .pending_frames(std::time::Duration::ZERO, 10, Shard::ALL)
            .unwrap();
        assert!(
            pending
                .iter()
                .any(|p| p.build_id == go && p.file_offset == 0x1234),
            "{backend}: {pending:?}"
        );
    });
}

/// A SQL answer's rows as text, numbers included: ClickHouse quotes 64-bit
/// integers in JSON, SQLite does not.
fn text_rows(answer: &augur_storage::SqlAnswer) -> Vec<Vec<String>> {
    answer
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn runtime_frames_round_trip_named_unqueued_and_spelled_out_in_sql() {
    use augur_storage::FleetReport;

    let main = user("aa01", 0x1000);
    let handle = runtime(
        Runtime::Python,
        "Server.handle",
        "/srv/server.py",
        42,
        false,
    );
    let module = runtime(Runtime::Python, "<module>", "", 0, false);
    let hash = runtime(
        Runtime::Java,
        "java.util.HashMap.hash",
        "HashMap.java",
        339,
        true,
    );
    let get = runtime(Runtime::Java, "com.shop.Cache.get", "Cache.java", 88, false);
    // Differs from `get` only in being inlined: another frame.
    let get_inlined = runtime(Runtime::Java, "com.shop.Cache.get", "Cache.java", 88, true);
    let stacks = vec![
        (vec![handle.clone(), module.clone(), main.clone()], 5),
        (vec![hash.clone(), get.clone(), main.clone()], 3),
        (vec![get_inlined.clone(), get.clone(), main.clone()], 1),
    ];
    on_every_backend(|backend, store| {
        store
            .write_batch(&batch("b1", vec![window("api", 0, stacks.clone())]))
            .unwrap();
        let profile = store.query_profile(&cpu_all("api")).unwrap();
        let mut got = profile.samples.clone();
        got.sort_by_key(|s| std::cmp::Reverse(s.count));
        assert_eq!(got, expected(&stacks), "{backend}");
        // Named by themselves: function, file and line.
        assert_eq!(
            got[0].locations[0].symbols,
            [Symbol {
                function: "Server.handle".into(),
                file: Some("/srv/server.py".into()),
                line: Some(42),
            }],
            "{backend}"
        );
        assert_eq!(got[0].locations[1].symbols[0].file, None, "{backend}");
        // A second read (from the read caches where a backend has them)
        // gives the same frames.
        let again = store.query_profile(&cpu_all("api")).unwrap();
        assert_eq!(
            by_frames(again.samples),
            by_frames(profile.samples),
            "{backend}"
        );

        // Only the user frame waits for the symbolizer.
        let pending = store
            .pending_frames(Duration::ZERO, 100, Shard::ALL)
            .unwrap();
        assert_eq!(pending.len(), 1, "{backend}: {pending:?}");
        assert_eq!(pending[0].build_id, build_id("aa01"), "{backend}");

        let answer = store
            .sql(
                "SELECT kind, function, file, line, module, file_offset, build_id, inlined
                 FROM sql_frames WHERE kind IN ('python', 'java')
                 ORDER BY kind, function, inlined",
                10,
            )
            .unwrap();
        let row = |kind: &str, function: &str, file: &str, line: &str, inlined: &str| {
            [kind, function, file, line, "", "0", "", inlined]
                .map(String::from)
                .to_vec()
        };
        assert_eq!(
            text_rows(&answer),
            [
                row("java", "com.shop.Cache.get", "Cache.java", "88", "0"),
                row("java", "com.shop.Cache.get", "Cache.java", "88", "1"),
                row("java", "java.util.HashMap.hash", "HashMap.java", "339", "1"),
                row("python", "<module>", "", "0", "0"),
                row("python", "Server.handle", "/srv/server.py", "42", "0"),
            ],
            "{backend}"
        );
        let answer = store
            .sql(
                "SELECT kind, inlined FROM sql_frames WHERE kind = 'user'",
                10,
            )
            .unwrap();
        assert_eq!(text_rows(&answer), [["user", "0"]], "{backend}");

        let report = |kind| {
            store
                .fleet_report(kind, 0, 600 * SEC, 10)
                .unwrap()
                .into_iter()
                .map(|r| (r.name, r.samples))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            report(FleetReport::Functions),
            [
                ("Server.handle".to_owned(), 5),
                ("java.util.HashMap.hash".to_owned(), 3),
                ("com.shop.Cache.get".to_owned(), 1),
            ],
            "{backend}"
        );
        assert_eq!(
            report(FleetReport::Binaries),
            [("[python]".to_owned(), 5), ("[java]".to_owned(), 4)],
            "{backend}"
        );
    });
}

#[test]
fn an_older_clickhouse_sql_frames_view_is_made_again() {
    let Some(urls) = clickhouse_server::urls() else {
        eprintln!("\n*** SKIPPED: no clickhouse-server; view upgrade not checked ***\n");
        return;
    };
    let mut config = ClickHouseConfig::single(&urls[0]);
    config.database = format!("augur_v{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    let db = config.database.clone();
    let store = Store::clickhouse(config.clone()).unwrap();
    let python = runtime(Runtime::Python, "Server.handle", "server.py", 42, false);
    store
        .write_batch(&batch(
            "b1",
            vec![window("api", 0, vec![(vec![python, user("aa01", 1)], 1)])],
        ))
        .unwrap();
    drop(store);
    // The view as servers before runtime frames made it.
    let execute = |sql: String| {
        ureq::post(&urls[0])
            .send(sql.as_bytes())
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    execute(format!("DROP TABLE {db}.sql_frames"));
    execute(format!(
        "CREATE VIEW {db}.sql_frames AS
         SELECT frame_id,
                multiIf(k = 0, 'user', k = 1, 'kernel', k = 2, 'unknown', 'named') AS kind,
                bid AS build_id, off AS file_offset,
                if(length(fns) > 0, fns[1], if(k = 0, '', nm)) AS function,
                if(length(fis) > 0, fis[1], '') AS file,
                if(length(lis) > 0, lis[1], 0) AS line,
                md AS module
         FROM (SELECT frame_id, any(kind) AS k, any(build_id) AS bid,
                      any(file_offset) AS off, any(name) AS nm, any(module) AS md
               FROM {db}.frames GROUP BY frame_id)
         ANY LEFT JOIN (SELECT frame_id, argMax(functions, version) AS fns,
                               argMax(files, version) AS fis, argMax(lines, version) AS lis
                        FROM {db}.symbols GROUP BY frame_id)
         USING frame_id"
    ));
    let query = "SELECT kind, file, line FROM sql_frames WHERE function = 'Server.handle'";
    let reopened = Store::clickhouse(config).unwrap();
    // Opening the store made the view again, `inlined` and all.
    let answer = reopened.sql(
        "SELECT inlined FROM sql_frames WHERE function = 'Server.handle'",
        10,
    );
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        text_rows(&reopened.sql(query, 10).unwrap()),
        [["python", "server.py", "42"]]
    );
}

/// A window of `inuse_space` (bytes, a gauge) for `service` on `host`.
fn heap(
    service: &str,
    host: &str,
    start: i64,
    stacks: Vec<(Vec<RawFrame>, u64)>,
) -> augur_storage::WindowWrite {
    let mut w = window(service, start, stacks);
    w.profile_type = ProfileType {
        name: "inuse_space".into(),
        unit: "bytes".into(),
    };
    w.period = 1;
    w.labels = labels(&[("host", host)]);
    w
}

#[test]
fn a_gauge_is_the_mean_of_its_snapshots_per_series_never_their_sum() {
    use augur_storage::{HOUR_NANOS, ProfileQuery, RetentionPolicy};

    const DAY: i64 = 24 * HOUR_NANOS;
    on_every_backend(|backend, store| {
        let leak = vec![kernel("leak", None), kernel("main", None)];
        let cache = vec![kernel("cache", None), kernel("main", None)];
        let minute = 60 * SEC;
        // Host a pushes the same heap twice into window 0 (two uploads of
        // one heap), then a bigger one into window 1; host b once.
        let pushes = [
            ("p1", "a", 0, 1000, 400),
            ("p2", "a", 0, 1000, 400),
            ("p3", "a", minute, 3000, 400),
            ("p4", "b", 0, 500, 100),
        ];
        for (id, host, start, leaked, cached) in pushes {
            let w = heap(
                "shop",
                host,
                start,
                vec![(cache.clone(), cached), (leak.clone(), leaked)],
            );
            store.write_batch(&batch(id, vec![w])).unwrap();
        }
        // A retried push changes nothing.
        let retry = heap(
            "shop",
            "a",
            0,
            vec![(cache.clone(), 400), (leak.clone(), 1000)],
        );
        assert_eq!(
            store.write_batch(&batch("p1", vec![retry])).unwrap(),
            WriteOutcome::Duplicate,
            "{backend}"
        );
        let query = |start: i64, end: i64, host: Option<&str>| ProfileQuery {
            service: "shop".into(),
            labels: host.map(|h| labels(&[("host", h)])).unwrap_or_default(),
            profile_type: "inuse_space".into(),
            start_unix_nanos: start,
            end_unix_nanos: end,
            matchers: Vec::new(),
        };
        let read = |q: &ProfileQuery| by_frames(store.query_profile(q).unwrap().samples);
        // Window 0: host a's two identical snapshots read as one heap;
        // host b adds its own.
        assert_eq!(
            read(&query(0, minute, None)),
            vec![(cache.clone(), 500), (leak.clone(), 1500)],
            "{backend}: window 0"
        );
        // Both windows: host a's mean over its three snapshots
        // (1000, 1000, 3000 -> 1667; 400), plus host b's one.
        assert_eq!(
            read(&query(0, 2 * minute, None)),
            vec![(cache.clone(), 500), (leak.clone(), 1667 + 500)],
            "{backend}: both windows"
        );
        assert_eq!(
            read(&query(0, 2 * minute, Some("b"))),
            vec![(cache.clone(), 100), (leak.clone(), 500)],
            "{backend}: host b"
        );
        // Matchers select series of a gauge as labels do.
        let mut matched = query(0, 2 * minute, None);
        matched.matchers = vec![
            augur_storage::LabelMatcher::new("host", augur_storage::MatchOp::Re, "b|c").unwrap(),
        ];
        assert_eq!(
            read(&matched),
            vec![(cache.clone(), 100), (leak.clone(), 500)],
            "{backend}: host =~ b|c"
        );
        // The timeline is each window's mean, series added.
        let timeline = store.timeline(&query(0, 2 * minute, None)).unwrap();
        assert_eq!(
            timeline,
            vec![(0, 1400 + 600), (minute, 3400)],
            "{backend}: timeline"
        );
        let summary = store.services().unwrap();
        let shop = summary.iter().find(|s| s.name == "shop").unwrap();
        assert!(
            shop.profile_types.contains(&"inuse_space".to_owned()),
            "{backend}: {shop:?}"
        );
        assert_eq!(
            shop.totals["inuse_space"],
            2067 + 600, // (1000 + 1000 + 3000 + 3 * 400) / 3, rounded, plus host b
            "{backend}: {shop:?}"
        );
        // After the minutes roll up into their hour, the hour is the mean
        // of its snapshots: host a's 1667 and 400, host b's 500 and 100.
        let policy = RetentionPolicy {
            minute_windows: Duration::from_secs(86_400),
            hour_windows: Duration::from_secs(30 * 86_400),
            max_bytes: None,
        };
        store.compact(&policy, 4 * DAY + HOUR_NANOS).unwrap();
        assert_eq!(
            read(&query(0, DAY, None)),
            vec![(cache.clone(), 500), (leak.clone(), 1667 + 500)],
            "{backend}: after the rollup"
        );
    });
}
