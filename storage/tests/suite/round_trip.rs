//! What goes in comes out: stacks, counts, frame kinds, order and ranges.

use augur_profile::{ProfileType, RawFrame};
use augur_storage::{ServiceSummary, Shard, StorageError, WriteOutcome};

use super::fixtures::*;

fn mixed_stacks() -> Vec<(Vec<RawFrame>, u64)> {
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
        (vec![user("cc03", u64::MAX)], 2),
    ]
}

#[test]
fn a_batch_round_trips_leaf_first_with_every_frame_kind() {
    let (_dir, _path, store) = temp_store();
    let stacks = mixed_stacks();
    let outcome = store
        .write_batch(&batch("b1", vec![window("api", 10 * SEC, stacks.clone())]))
        .unwrap();
    assert_eq!(outcome, WriteOutcome::Stored { samples: 13 });

    let profile = store.query_profile(&cpu("api", 0, 60 * SEC)).unwrap();
    assert_eq!(profile.service, "api");
    assert_eq!(profile.profile_type, ProfileType::cpu());
    assert_eq!(profile.period, PERIOD);
    assert_eq!(
        (profile.start_unix_nanos, profile.end_unix_nanos),
        (0, 60 * SEC)
    );
    assert_eq!(profile.samples, expected(&stacks));
    assert_eq!(profile.total(), 13);
}

#[test]
fn counts_of_one_stack_add_up_across_batches_in_a_window() {
    let (_dir, _path, store) = temp_store();
    let stack = vec![user("aa01", 0x10), user("aa01", 0x20)];
    let other = vec![user("aa01", 0x30)];
    store
        .write_batch(&batch(
            "b1",
            vec![window(
                "api",
                0,
                vec![(stack.clone(), 2), (other.clone(), 1)],
            )],
        ))
        .unwrap();
    store
        .write_batch(&batch(
            "b2",
            vec![window("api", 0, vec![(stack.clone(), 5)])],
        ))
        .unwrap();

    let profile = store.query_profile(&cpu_all("api")).unwrap();
    assert_eq!(profile.samples, expected(&[(stack, 7), (other, 1)]));
    assert_eq!(store.stats().unwrap().sample_rows, 2);
}

#[test]
fn the_same_stack_in_one_window_of_one_batch_adds_up_too() {
    let (_dir, _path, store) = temp_store();
    let stack = vec![kernel("schedule", None)];
    let outcome = store
        .write_batch(&batch(
            "b1",
            vec![window(
                "api",
                0,
                vec![(stack.clone(), 2), (stack.clone(), 3)],
            )],
        ))
        .unwrap();
    assert_eq!(outcome, WriteOutcome::Stored { samples: 5 });
    let profile = store.query_profile(&cpu_all("api")).unwrap();
    assert_eq!(profile.samples, expected(&[(stack, 5)]));
}

#[test]
fn windows_outside_the_half_open_range_are_excluded() {
    let (_dir, _path, store) = temp_store();
    let stack = vec![user("aa01", 0x10)];
    let windows = [0, 10, 20, 30]
        .into_iter()
        .map(|s| window("api", s * SEC, vec![(stack.clone(), s as u64 + 1)]))
        .collect();
    store.write_batch(&batch("b1", windows)).unwrap();

    // [10, 30) holds the windows starting at 10 and 20, not 30.
    let profile = store
        .query_profile(&cpu("api", 10 * SEC, 30 * SEC))
        .unwrap();
    assert_eq!(profile.total(), 11 + 21);
    let profile = store
        .query_profile(&cpu("api", 10 * SEC, 10 * SEC))
        .unwrap();
    assert!(profile.samples.is_empty());
    let profile = store
        .query_profile(&cpu("api", 31 * SEC, 40 * SEC))
        .unwrap();
    assert!(profile.samples.is_empty());
    assert_eq!(profile.period, 0);
}

#[test]
fn services_and_profile_types_do_not_mix() {
    let (_dir, _path, store) = temp_store();
    let stack = vec![user("aa01", 0x10)];
    let mut alloc = window("api", 0, vec![(stack.clone(), 100)]);
    alloc.profile_type = ProfileType {
        name: "alloc".into(),
        unit: "bytes".into(),
    };
    alloc.period = 1;
    store
        .write_batch(&batch(
            "b1",
            vec![
                window("api", 0, vec![(stack.clone(), 1)]),
                window("db", 0, vec![(stack.clone(), 2)]),
                alloc,
            ],
        ))
        .unwrap();

    assert_eq!(store.query_profile(&cpu_all("api")).unwrap().total(), 1);
    assert_eq!(store.query_profile(&cpu_all("db")).unwrap().total(), 2);
    let mut query = cpu_all("api");
    query.profile_type = "alloc".into();
    let alloc = store.query_profile(&query).unwrap();
    assert_eq!(alloc.total(), 100);
    assert_eq!(alloc.profile_type.unit, "bytes");
    assert_eq!(alloc.period, 1);
}

#[test]
fn unknown_services_and_types_give_empty_profiles() {
    let (_dir, _path, store) = temp_store();
    store
        .write_batch(&batch("b1", vec![window("api", 0, vec![(vec![], 1)])]))
        .unwrap();
    assert!(
        store
            .query_profile(&cpu_all("nope"))
            .unwrap()
            .samples
            .is_empty()
    );
    let mut query = cpu_all("api");
    query.profile_type = "wall".into();
    let profile = store.query_profile(&query).unwrap();
    assert!(profile.samples.is_empty());
    assert_eq!(profile.profile_type.unit, "");
}

#[test]
fn an_empty_stack_is_the_root() {
    let (_dir, _path, store) = temp_store();
    store
        .write_batch(&batch("b1", vec![window("api", 0, vec![(vec![], 4)])]))
        .unwrap();
    let profile = store.query_profile(&cpu_all("api")).unwrap();
    assert_eq!(profile.samples, expected(&[(vec![], 4)]));
}

#[test]
fn services_report_totals_and_window_bounds() {
    let (_dir, _path, store) = temp_store();
    let stack = vec![user("aa01", 0x10)];
    store
        .write_batch(&batch(
            "b1",
            vec![
                window("web", 20 * SEC, vec![(stack.clone(), 4)]),
                window("api", 10 * SEC, vec![(stack.clone(), 1)]),
                window("api", 50 * SEC, vec![(stack.clone(), 2), (vec![], 3)]),
                // Only zero counts: the service has no data to report.
                window("idle", 0, vec![(stack.clone(), 0)]),
            ],
        ))
        .unwrap();
    assert_eq!(
        store.services().unwrap(),
        vec![
            ServiceSummary {
                name: "api".into(),
                total_samples: 6,
                first_window_unix_nanos: 10 * SEC,
                last_window_unix_nanos: 50 * SEC,
                profile_types: vec!["cpu".into()],
                totals: [("cpu".to_owned(), 6 * PERIOD)].into(),
            },
            ServiceSummary {
                name: "web".into(),
                total_samples: 4,
                first_window_unix_nanos: 20 * SEC,
                last_window_unix_nanos: 20 * SEC,
                profile_types: vec!["cpu".into()],
                totals: [("cpu".to_owned(), 4 * PERIOD)].into(),
            },
        ]
    );
}

#[test]
fn the_first_reported_path_names_a_binary() {
    let (_dir, _path, store) = temp_store();
    let stack = vec![user("aa01", 0x10)];
    store
        .write_batch(&batch(
            "b1",
            vec![window("api", 0, vec![(stack.clone(), 1)])],
        ))
        .unwrap();
    let mut later = batch("b2", vec![window("api", 0, vec![(stack.clone(), 1)])]);
    later.binaries = vec![(build_id("aa01"), "/proc/42/root/usr/bin/app".into())];
    store.write_batch(&later).unwrap();

    let profile = store.query_profile(&cpu_all("api")).unwrap();
    assert_eq!(
        profile.samples[0].locations[0].path.as_deref(),
        Some("/usr/bin/app")
    );
    let pending = store
        .pending_frames(std::time::Duration::ZERO, 10, Shard::ALL)
        .unwrap();
    assert_eq!(
        pending[0].paths,
        vec![
            "/usr/bin/app".to_string(),
            "/proc/42/root/usr/bin/app".into()
        ]
    );
}

#[test]
fn windows_sampled_at_another_period_keep_their_value() {
    let (_dir, _path, store) = temp_store();
    let stack = vec![user("aa01", 0x10)];
    let mut coarse = window("api", 0, vec![(stack.clone(), 2)]);
    coarse.period = 2 * PERIOD;
    store
        .write_batch(&batch(
            "b1",
            vec![window("api", 0, vec![(stack.clone(), 10)]), coarse],
        ))
        .unwrap();
    let profile = store.query_profile(&cpu_all("api")).unwrap();
    assert_eq!(profile.period, PERIOD);
    assert_eq!(profile.total(), 14);
}

#[test]
fn invalid_batches_are_refused_whole() {
    let (_dir, _path, store) = temp_store();
    let mut bad = window("api", 0, vec![(vec![], u64::MAX)]);
    bad.period = 1;
    let err = store
        .write_batch(&batch(
            "b1",
            vec![window("api", 0, vec![(vec![user("aa01", 1)], 1)]), bad],
        ))
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidBatch { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(store.stats().unwrap().batches, 0);
    assert_eq!(store.stats().unwrap().frames, 0);
}

#[test]
fn service_totals_count_on_cpu_samples_and_list_every_profile_type() {
    let (_dir, _path, store) = temp_store();
    let stack = vec![user("aa01", 0x10)];
    let mut off_cpu = window("api", 10 * SEC, vec![(stack.clone(), 5_000_000_000)]);
    off_cpu.profile_type = augur_profile::ProfileType {
        name: "off-cpu".into(),
        unit: "nanoseconds".into(),
    };
    off_cpu.period = 1;
    store
        .write_batch(&batch(
            "b1",
            vec![window("api", 10 * SEC, vec![(stack, 7)]), off_cpu],
        ))
        .unwrap();
    let services = store.services().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(
        services[0].total_samples, 7,
        "off-CPU nanoseconds are not samples"
    );
    assert_eq!(
        services[0].profile_types,
        vec!["cpu".to_string(), "off-cpu".to_string()]
    );
}
