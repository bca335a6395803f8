//! `GET /api/v1/profile` in every format, over exact and relative ranges.

use serde_json::{Value, json};
use std::collections::BTreeSet;

use super::client::{encode, get};
use super::fixture::{BUILD_ID, PERIOD, Server, T0_TEXT};

/// Both fixture windows of `checkout`.
const RANGE: &str = "from=2026-11-24T14:00:00Z&to=2026-11-24T14:02:00Z";
const UNSYMBOLIZED: &str = "[shop+0x1234]";

fn stacks(body: &Value) -> BTreeSet<(Vec<String>, u64)> {
    body["stacks"]
        .as_array()
        .expect("stacks array")
        .iter()
        .map(|s| {
            let frames = s["frames"]
                .as_array()
                .expect("frames array")
                .iter()
                .map(|f| f.as_str().expect("frame name").to_owned())
                .collect();
            (frames, s["count"].as_u64().expect("count"))
        })
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn json_has_root_first_stacks_and_top_functions() {
    let server = Server::start().await;
    let response = get(
        server.address,
        &format!("/api/v1/profile?service=checkout&{RANGE}"),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.content_type().starts_with("application/json"));
    let body = response.json();
    assert_eq!(body["service"], "checkout");
    assert_eq!(
        body["profile_type"],
        json!({"name": "cpu", "unit": "nanoseconds"})
    );
    assert_eq!(body["period"], PERIOD);
    assert_eq!(body["from"], T0_TEXT);
    assert_eq!(body["to"], "2026-11-24T14:02:00Z");
    assert_eq!(body["total_samples"], 11);
    assert_eq!(
        stacks(&body),
        BTreeSet::from([
            (names(&["main", "caller", "hot"]), 8),
            (names(&["main", "cold"]), 2),
            (names(&["main", UNSYMBOLIZED]), 1),
        ])
    );
    let top = body["top_functions"].as_array().expect("top_functions");
    assert_eq!(top.len(), 5);
    let function = |name, self_count, total, language| json!({"name": name, "self": self_count, "total": total, "language": language});
    assert_eq!(top[0], function("hot", 8, 8, "kernel"));
    assert_eq!(top[1], function("cold", 2, 2, "kernel"));
    assert_eq!(top[2], function(UNSYMBOLIZED, 1, 1, "native"));
    let main = top.iter().find(|f| f["name"] == "main").expect("main");
    assert_eq!(main, &function("main", 0, 11, "kernel"));
}

#[tokio::test]
async fn range_selects_windows_by_start_and_accepts_offsets() {
    let server = Server::start().await;
    // Only the second window starts in [14:01, 14:02).
    let second = get(
        server.address,
        "/api/v1/profile?service=checkout&from=2026-11-24T14:01:00Z&to=2026-11-24T14:02:00Z",
    )
    .await
    .json();
    assert_eq!(second["total_samples"], 4);
    // The same instant as 14:00Z, written with an offset (percent-encoded `+`).
    let offset = get(
        server.address,
        &format!(
            "/api/v1/profile?service=checkout&from={}&to={}",
            encode("2026-11-24T15:00:00+01:00"),
            encode("2026-11-24 14:00:59.999Z"),
        ),
    )
    .await
    .json();
    assert_eq!(offset["from"], T0_TEXT);
    assert_eq!(offset["to"], "2026-11-24T14:00:59.999Z");
    assert_eq!(offset["total_samples"], 7);
}

#[tokio::test]
async fn defaults_cover_the_last_hour_of_cpu_as_json() {
    let server = Server::start().await;
    let body = get(server.address, "/api/v1/profile?service=search")
        .await
        .json();
    assert_eq!(body["total_samples"], 4);
    assert_eq!(body["profile_type"]["name"], "cpu");
    assert_eq!(
        stacks(&body),
        BTreeSet::from([(names(&["serve", "rank", "score"]), 4)])
    );
    let from = augur_web::parse_time(body["from"].as_str().unwrap(), std::time::SystemTime::now())
        .unwrap();
    let to =
        augur_web::parse_time(body["to"].as_str().unwrap(), std::time::SystemTime::now()).unwrap();
    assert_eq!(to - from, 3_600_000_000_000);
    // Relative times in explicit parameters too.
    let body = get(
        server.address,
        "/api/v1/profile?service=search&from=-2d&to=now&type=cpu&format=json",
    )
    .await
    .json();
    assert_eq!(body["total_samples"], 4);
    // An hour that ended before the window has nothing.
    let body = get(
        server.address,
        "/api/v1/profile?service=search&from=-3h&to=-2h",
    )
    .await
    .json();
    assert_eq!(body["total_samples"], 0);
}

#[tokio::test]
async fn unknown_service_is_an_empty_profile_not_an_error() {
    let server = Server::start().await;
    let response = get(
        server.address,
        &format!("/api/v1/profile?service=nobody&{RANGE}"),
    )
    .await;
    assert_eq!(response.status, 200);
    let body = response.json();
    assert_eq!(body["service"], "nobody");
    assert_eq!(body["total_samples"], 0);
    assert_eq!(body["stacks"], json!([]));
    assert_eq!(body["top_functions"], json!([]));

    for format in ["folded", "svg", "pprof"] {
        let response = get(
            server.address,
            &format!("/api/v1/profile?service=nobody&{RANGE}&format={format}"),
        )
        .await;
        assert_eq!(response.status, 200, "{format}");
    }
    let svg = get(
        server.address,
        &format!("/api/v1/profile?service=nobody&{RANGE}&format=svg"),
    )
    .await;
    assert!(svg.text().contains("no samples"));
}

#[tokio::test]
async fn folded_lines_are_root_first_with_counts() {
    let server = Server::start().await;
    let response = get(
        server.address,
        &format!("/api/v1/profile?service=checkout&{RANGE}&format=folded"),
    )
    .await;
    assert_eq!(response.status, 200);
    assert!(response.content_type().starts_with("text/plain"));
    let lines: BTreeSet<&str> = response.text().lines().collect();
    assert_eq!(
        lines,
        BTreeSet::from(["main;caller;hot 8", "main;cold 2", "main;[shop+0x1234] 1",])
    );
}

#[tokio::test]
async fn svg_is_an_inferno_flame_graph_of_the_profile() {
    let server = Server::start().await;
    let response = get(
        server.address,
        &format!("/api/v1/profile?service=checkout&{RANGE}&format=svg"),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type(), "image/svg+xml");
    let svg = response.text();
    assert!(svg.contains("<svg"));
    for name in ["main", "caller", "hot", "cold", "checkout"] {
        assert!(svg.contains(name), "svg lacks {name}");
    }
    // Its own JavaScript (zoom, search) is inside.
    assert!(svg.contains("function search"));
}

#[tokio::test]
async fn pprof_is_a_gzipped_profile_proto_download() {
    let server = Server::start().await;
    let response = get(
        server.address,
        &format!("/api/v1/profile?service=checkout&{RANGE}&format=pprof"),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type(), "application/octet-stream");
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"checkout.pb.gz\"")
    );
    assert_eq!(&response.body[..2], &[0x1f, 0x8b], "gzip magic");

    // What `go tool pprof` reads comes back as the same profile.
    let decoded = augur_wire::pprof::decode(&response.body, 16 << 20).expect("valid pprof");
    assert_eq!(decoded.service, "checkout");
    assert_eq!(decoded.total(), 11);
    assert_eq!(decoded.period, PERIOD);
    let stacks: BTreeSet<(Vec<String>, u64)> = decoded.folded_stacks().into_iter().collect();
    assert_eq!(
        stacks,
        BTreeSet::from([
            (names(&["main", "caller", "hot"]), 8),
            (names(&["main", "cold"]), 2),
            (names(&["main", UNSYMBOLIZED]), 1),
        ])
    );
    let user_frame = decoded
        .samples
        .iter()
        .flat_map(|s| &s.locations)
        .find(|l| matches!(l.frame, augur_profile::RawFrame::User { .. }))
        .expect("the unsymbolized frame stays a user frame");
    assert_eq!(
        user_frame.frame,
        augur_profile::RawFrame::User {
            build_id: augur_profile::FileId::parse_hex(BUILD_ID).unwrap(),
            file_offset: 0x1234,
        }
    );
}
