//! `GET /api/v1/services`.

use serde_json::json;

use super::client::get;
use super::fixture::{MINUTE, Server, T0_TEXT, current_minute};

#[tokio::test]
async fn lists_every_service_sorted_by_name_with_totals_and_times() {
    let server = Server::start().await;
    let response = get(server.address, "/api/v1/services").await;
    assert_eq!(response.status, 200);
    assert!(response.content_type().starts_with("application/json"));
    let search_window = augur_web::format_rfc3339(current_minute() - MINUTE);
    let body = response.json();
    let services = body["services"].as_array().expect("services array");
    assert_eq!(services.len(), 2, "{body}");
    assert_eq!(
        services[0],
        json!({
            "name": "checkout",
            "samples": 11,
            "profile_types": ["cpu"],
            "totals": {"cpu": 11 * 10_000_000},
            "ipc": null,
            "first_seen": T0_TEXT,
            "last_seen": "2026-11-24T14:01:00Z",
        })
    );
    assert_eq!(services[1]["name"], "search");
    assert_eq!(services[1]["samples"], 4);
    // The window was written for the minute before the test started; the
    // clock may have ticked over a minute since.
    let first_seen = services[1]["first_seen"].as_str().expect("first_seen");
    assert!(
        first_seen == search_window
            || first_seen == augur_web::format_rfc3339(current_minute() - 2 * MINUTE),
        "{first_seen} vs {search_window}"
    );
    assert_eq!(services[1]["first_seen"], services[1]["last_seen"]);
}

/// Hardware counters are sampled every `period` events: a service with both
/// cycles and instructions gets instructions per cycle from their totals.
/// (No PMU on the test machines: the counts are written directly, through
/// the same storage path the aggregator uses.)
#[tokio::test]
async fn services_with_both_hardware_counters_report_instructions_per_cycle() {
    use augur_profile::{ProfileType, RawFrame};
    use augur_storage::{BatchWrite, WindowWrite};

    let server = Server::start().await;
    let counter = |name: &str, period: u64, count: u64| WindowWrite {
        service: "compute".into(),
        labels: Default::default(),
        profile_type: ProfileType {
            name: name.into(),
            unit: "events".into(),
        },
        period,
        window_start_unix_nanos: super::fixture::T0,
        stacks: vec![(
            vec![RawFrame::Kernel {
                function: "loop".into(),
                module: None,
            }]
            .into(),
            count,
        )],
    };
    server
        .store
        .write_batch(&BatchWrite {
            batch_id: "counters".into(),
            received_unix_nanos: 1,
            binaries: vec![],
            windows: vec![
                counter("cycles", 1_000_000, 40),
                counter("instructions", 2_000_000, 50),
            ],
        })
        .unwrap();
    let body = get(server.address, "/api/v1/services").await.json();
    let compute = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "compute")
        .unwrap_or_else(|| panic!("no compute service: {body}"));
    assert_eq!(compute["totals"]["cycles"], 40_000_000);
    assert_eq!(compute["totals"]["instructions"], 100_000_000);
    assert_eq!(compute["ipc"], 2.5);
    assert_eq!(compute["samples"], 0, "no cpu samples");
}
