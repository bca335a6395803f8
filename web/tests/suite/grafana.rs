//! Grafana's Pyroscope data source reading Augur: the Connect calls exactly
//! as its backend (`pkg/tsdb/grafana-pyroscope-datasource`, a connect-go
//! client) makes them, in the protobuf codec it uses and in protojson,
//! against agent-like `cpu` data and SDK-like `alloc_space` and
//! `inuse_space` windows.

use std::collections::{BTreeMap, BTreeSet};

use augur_profile::{ProfileType, RawFrame};
use augur_storage::{BatchWrite, WindowWrite};
use augur_wire::auth::{TokenSet, parse_tokens};
use augur_wire::connect::{Codec, ConnectMessage, decode, encode};
use augur_wire::pyroscope::google::v1 as google;
use augur_wire::pyroscope::querier::v1 as q;
use augur_wire::pyroscope::types::v1 as t;
use serde_json::Value;

use super::client::{Response, get, post};
use super::fixture::{MINUTE, PERIOD, Server, T0};

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const ALLOC: &str = "memory:alloc_space:bytes:space:bytes";
const INUSE: &str = "memory:inuse_space:bytes:space:bytes";
const T0_MS: i64 = T0 / 1_000_000;
/// Both fixture minutes.
const END_MS: i64 = T0_MS + 2 * 60_000;
const READ_TOKEN: &str = "grafana-read-token-0123456789";

/// What connect-go sends with every unary call in the protobuf codec.
const GRAFANA_PROTO: &[(&str, &str)] = &[
    ("Content-Type", "application/proto"),
    ("Connect-Protocol-Version", "1"),
    ("Accept-Encoding", "gzip"),
    ("User-Agent", "connect-go/1.18.1 (go1.24.4)"),
];

/// The same client configured for protojson.
const GRAFANA_JSON: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Connect-Protocol-Version", "1"),
    ("Accept-Encoding", "gzip"),
    ("User-Agent", "connect-go/1.18.1 (go1.24.4)"),
];

fn frames(leaf_first: &[&str]) -> Vec<RawFrame> {
    leaf_first
        .iter()
        .map(|name| RawFrame::Kernel {
            function: (*name).to_owned(),
            module: None,
        })
        .collect()
}

fn window(
    service: &str,
    labels: &[(&str, &str)],
    profile_type: ProfileType,
    period: u64,
    start: i64,
    stacks: &[(&[&str], u64)],
) -> WindowWrite {
    WindowWrite {
        service: service.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        profile_type,
        period,
        window_start_unix_nanos: start,
        stacks: stacks.iter().map(|(s, c)| (frames(s).into(), *c)).collect(),
    }
}

fn bytes_type(name: &str) -> ProfileType {
    ProfileType {
        name: name.to_owned(),
        unit: "bytes".to_owned(),
    }
}

/// Agent data for `checkout` (two hosts, two versions) and `search`, and
/// an SDK's memory profiles for `shop-py`: allocations (summed) and memory
/// in use (a gauge), one minute apart.
fn batches() -> Vec<BatchWrite> {
    let cpu = ProfileType::cpu;
    let web1 = [("host", "web-1"), ("version", "v1")];
    let web2 = [("host", "web-2"), ("version", "v2")];
    let agent = BatchWrite {
        batch_id: "grafana-agent".into(),
        received_unix_nanos: T0 + 2 * MINUTE,
        binaries: Vec::new(),
        windows: vec![
            window(
                "checkout",
                &web1,
                cpu(),
                PERIOD,
                T0,
                &[(&["hot", "caller", "main"], 5), (&["cold", "main"], 2)],
            ),
            window(
                "checkout",
                &web1,
                cpu(),
                PERIOD,
                T0 + MINUTE,
                &[(&["hot", "caller", "main"], 3)],
            ),
            window(
                "checkout",
                &web2,
                cpu(),
                PERIOD,
                T0,
                &[(&["hot", "caller", "main"], 4)],
            ),
            window(
                "search",
                &[("host", "web-1")],
                cpu(),
                PERIOD,
                T0,
                &[(&["score", "rank", "serve"], 6)],
            ),
        ],
    };
    let eu = [("region", "eu")];
    let sdk = BatchWrite {
        batch_id: "grafana-sdk".into(),
        received_unix_nanos: T0 + 2 * MINUTE,
        binaries: Vec::new(),
        windows: vec![
            window(
                "shop-py",
                &eu,
                bytes_type("alloc_space"),
                1,
                T0,
                &[(&["alloc_a", "main"], 100)],
            ),
            window(
                "shop-py",
                &eu,
                bytes_type("alloc_space"),
                1,
                T0 + MINUTE,
                &[(&["alloc_b", "main"], 300)],
            ),
            window(
                "shop-py",
                &eu,
                bytes_type("inuse_space"),
                1,
                T0,
                &[(&["hold", "main"], 1000)],
            ),
            window(
                "shop-py",
                &eu,
                bytes_type("inuse_space"),
                1,
                T0 + MINUTE,
                &[(&["hold", "main"], 3000)],
            ),
        ],
    };
    vec![agent, sdk]
}

async fn start() -> Server {
    Server::start_with(&batches(), augur_web::WebOptions::default()).await
}

/// One unary call in `codec`; the answer must be a 200 in the same codec.
async fn call<Req: ConnectMessage, Resp: ConnectMessage>(
    server: &Server,
    method: &str,
    codec: Codec,
    request: &Req,
) -> Resp {
    let headers = match codec {
        Codec::Proto => GRAFANA_PROTO,
        Codec::Json => GRAFANA_JSON,
    };
    let response = post(
        server.address,
        &format!("/querier.v1.QuerierService/{method}"),
        headers,
        &encode(codec, request),
    )
    .await;
    assert_eq!(
        response.status,
        200,
        "{method}: {}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.content_type(), codec.content_type(), "{method}");
    decode(codec, &response.body).unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// A call with a hand-written body, for errors and raw protojson.
async fn raw_call(
    server: &Server,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    post(
        server.address,
        &format!("/querier.v1.QuerierService/{method}"),
        headers,
        body,
    )
    .await
}

/// A Connect error: its status, then its code and message.
fn connect_error(response: &Response) -> (String, String) {
    assert!(
        response.content_type().starts_with("application/json"),
        "{}",
        response.content_type()
    );
    let body: Value = serde_json::from_slice(&response.body).expect("JSON error body");
    (
        body["code"].as_str().expect("code").to_owned(),
        body["message"].as_str().expect("message").to_owned(),
    )
}

fn stacktraces(type_id: &str, selector: &str) -> q::SelectMergeStacktracesRequest {
    // GetProfile in the data source: type, selector, range and max nodes.
    q::SelectMergeStacktracesRequest {
        profile_type_id: type_id.into(),
        label_selector: selector.into(),
        start: T0_MS,
        end: END_MS,
        max_nodes: Some(16384),
        ..Default::default()
    }
}

/// A bar read back: start, total, self and its path of names.
type DecodedBar = (i64, i64, i64, Vec<String>);

/// The flame graph's stacks (root first, without `total`) with their self
/// values, rebuilt as Grafana's `levelsToTree` does: a bar belongs under
/// the bar of the row above whose span holds it.
fn decode_levels(graph: &q::FlameGraph) -> BTreeMap<Vec<String>, i64> {
    let mut rows: Vec<Vec<DecodedBar>> = Vec::new();
    for (depth, level) in graph.levels.iter().enumerate() {
        assert_eq!(level.values.len() % 4, 0);
        let mut row = Vec::new();
        let mut end = 0;
        for bar in level.values.chunks(4) {
            let start = end + bar[0];
            end = start + bar[1];
            let name = graph.names[bar[3] as usize].clone();
            let path = if depth == 0 {
                Vec::new()
            } else {
                let parent = rows[depth - 1]
                    .iter()
                    .find(|(s, total, _, _)| *s <= start && end <= s + total)
                    .expect("every bar lies under a parent");
                let mut path = parent.3.clone();
                path.push(name);
                path
            };
            row.push((start, bar[1], bar[2], path));
        }
        rows.push(row);
    }
    rows.into_iter()
        .flatten()
        .filter(|(_, _, own, path)| *own > 0 && !path.is_empty())
        .map(|(_, _, own, path)| (path, own))
        .collect()
}

fn path(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn profile_types_list_every_stored_type_in_both_codecs() {
    let server = start().await;
    for codec in [Codec::Proto, Codec::Json] {
        // As the data source's resource handler asks: the last hour around now
        // finds nothing old; the fixture's range finds everything.
        let reply: q::ProfileTypesResponse = call(
            &server,
            "ProfileTypes",
            codec,
            &q::ProfileTypesRequest {
                start: T0_MS - 3_600_000,
                end: END_MS,
            },
        )
        .await;
        let ids: Vec<&str> = reply.profile_types.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, vec![ALLOC, INUSE, CPU], "{codec:?}");
        let cpu = reply.profile_types.iter().find(|p| p.id == CPU).unwrap();
        assert_eq!(
            (
                cpu.name.as_str(),
                cpu.sample_type.as_str(),
                cpu.sample_unit.as_str()
            ),
            ("process_cpu", "cpu", "nanoseconds")
        );
        // CheckHealth: a tiny range at the epoch, which must simply succeed.
        let health: q::ProfileTypesResponse = call(
            &server,
            "ProfileTypes",
            codec,
            &q::ProfileTypesRequest {
                start: 1000,
                end: 4000,
            },
        )
        .await;
        assert!(health.profile_types.is_empty());
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn flame_graph_levels_hold_the_same_totals_as_the_profile_api() {
    let server = start().await;
    let api = get(
        server.address,
        "/api/v1/profile?service=checkout&from=2026-11-24T14:00:00Z&to=2026-11-24T14:02:00Z",
    )
    .await;
    assert_eq!(api.status, 200);
    let api = api.json();
    let api_total = api["total_samples"].as_i64().unwrap() * api["period"].as_i64().unwrap();
    let api_stacks: BTreeMap<Vec<String>, i64> = api["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let frames: Vec<String> = s["frames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect();
            (frames, s["count"].as_i64().unwrap() * PERIOD as i64)
        })
        .collect();
    assert_eq!(api_total, 14 * PERIOD as i64);
    for codec in [Codec::Proto, Codec::Json] {
        let reply: q::SelectMergeStacktracesResponse = call(
            &server,
            "SelectMergeStacktraces",
            codec,
            &stacktraces(CPU, r#"{service_name="checkout"}"#),
        )
        .await;
        let graph = reply.flamegraph.expect("a flame graph");
        assert_eq!(graph.total, api_total, "{codec:?}");
        assert_eq!(graph.names[graph.levels[0].values[3] as usize], "total");
        assert_eq!(decode_levels(&graph), api_stacks, "{codec:?}");
        assert_eq!(graph.max_self, 12 * PERIOD as i64);
    }
    // SDK data of an open-ended type, in its own unit.
    let reply: q::SelectMergeStacktracesResponse = call(
        &server,
        "SelectMergeStacktraces",
        Codec::Proto,
        &stacktraces(ALLOC, r#"{service_name="shop-py"}"#),
    )
    .await;
    let graph = reply.flamegraph.unwrap();
    assert_eq!(graph.total, 400);
    assert_eq!(
        decode_levels(&graph),
        BTreeMap::from([
            (path(&["main", "alloc_a"]), 100),
            (path(&["main", "alloc_b"]), 300)
        ])
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn raw_protojson_as_a_json_client_writes_it() {
    let server = start().await;
    // int64 as strings, camelCase names, the `profileTypeID` spelling.
    let body = format!(
        r#"{{"profileTypeID":"{CPU}","labelSelector":"{{service_name=\"search\"}}","start":"{T0_MS}","end":"{END_MS}","maxNodes":"100"}}"#
    );
    let response = raw_call(
        &server,
        "SelectMergeStacktraces",
        GRAFANA_JSON,
        body.as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let json = response.json();
    assert_eq!(
        json["flamegraph"]["total"],
        Value::from((6 * PERIOD).to_string())
    );
    assert_eq!(json["flamegraph"]["names"][0], "total");
    assert_eq!(
        json["flamegraph"]["maxSelf"],
        Value::from((6 * PERIOD).to_string())
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn selectors_with_regex_and_negation_pick_the_right_series() {
    let server = start().await;
    let p = PERIOD as i64;
    for (selector, total) in [
        (r#"{service_name="checkout"}"#, 14 * p),
        (r#"{service_name="checkout", host!="web-2"}"#, 10 * p),
        (r#"{service_name="checkout", host=~"web-[0-9]+"}"#, 14 * p),
        (r#"{service_name="checkout", host=~"web"}"#, 0),
        (r#"{service_name="checkout", version!~"v1|v3"}"#, 4 * p),
        (r#"{service_name=~"check.*|search"}"#, 20 * p),
        (r#"{service_name!="checkout", host="web-1"}"#, 6 * p),
        (r#"{host="web-1"}"#, 16 * p),
        ("{}", 20 * p),
    ] {
        let reply: q::SelectMergeStacktracesResponse = call(
            &server,
            "SelectMergeStacktraces",
            Codec::Proto,
            &stacktraces(CPU, selector),
        )
        .await;
        assert_eq!(reply.flamegraph.unwrap().total, total, "{selector}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn label_names_and_values_follow_the_selector() {
    let server = start().await;
    for codec in [Codec::Proto, Codec::Json] {
        // LabelNames in the data source: one selector, the query's range.
        let names: t::LabelNamesResponse = call(
            &server,
            "LabelNames",
            codec,
            &t::LabelNamesRequest {
                matchers: vec!["{}".into()],
                start: T0_MS,
                end: END_MS,
            },
        )
        .await;
        assert_eq!(
            names.names,
            vec!["host", "region", "service_name", "version"]
        );
        let values: t::LabelValuesResponse = call(
            &server,
            "LabelValues",
            codec,
            &t::LabelValuesRequest {
                name: "service_name".into(),
                matchers: vec!["{}".into()],
                start: T0_MS,
                end: END_MS,
            },
        )
        .await;
        assert_eq!(values.names, vec!["checkout", "search", "shop-py"]);
        let hosts: t::LabelValuesResponse = call(
            &server,
            "LabelValues",
            codec,
            &t::LabelValuesRequest {
                name: "host".into(),
                matchers: vec![r#"{service_name="checkout", version!="v1"}"#.into()],
                start: T0_MS,
                end: END_MS,
            },
        )
        .await;
        assert_eq!(hosts.names, vec!["web-2"]);
    }
    let series: q::SeriesResponse = call(
        &server,
        "Series",
        Codec::Proto,
        &q::SeriesRequest {
            matchers: vec![r#"{host=~"web-.*"}"#.into()],
            label_names: vec!["service_name".into(), "host".into()],
            start: T0_MS,
            end: END_MS,
        },
    )
    .await;
    let sets: BTreeSet<Vec<(String, String)>> = series
        .labels_set
        .iter()
        .map(|l| {
            l.labels
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect()
        })
        .collect();
    let set = |host: &str, service: &str| {
        vec![
            ("host".to_owned(), host.to_owned()),
            ("service_name".to_owned(), service.to_owned()),
        ]
    };
    assert_eq!(
        sets,
        BTreeSet::from([
            set("web-1", "checkout"),
            set("web-2", "checkout"),
            set("web-1", "search")
        ])
    );
    server.stop().await.unwrap();
}

fn select_series(
    type_id: &str,
    selector: &str,
    step: f64,
    group_by: &[&str],
) -> q::SelectSeriesRequest {
    // GetSeries in the data source: step = max(interval, 15 s) in seconds.
    q::SelectSeriesRequest {
        profile_type_id: type_id.into(),
        label_selector: selector.into(),
        start: T0_MS,
        end: END_MS,
        group_by: group_by.iter().map(|g| (*g).to_owned()).collect(),
        step,
        limit: None,
        ..Default::default()
    }
}

fn points(series: &t::Series) -> Vec<(i64, f64)> {
    series
        .points
        .iter()
        .map(|p| (p.timestamp, p.value))
        .collect()
}

#[tokio::test]
async fn series_sum_counts_and_average_gauges_per_step() {
    let server = start().await;
    let p = PERIOD as f64;
    for codec in [Codec::Proto, Codec::Json] {
        let reply: q::SelectSeriesResponse = call(
            &server,
            "SelectSeries",
            codec,
            &select_series(CPU, r#"{service_name="checkout"}"#, 15.0, &[]),
        )
        .await;
        assert_eq!(reply.series.len(), 1);
        assert!(reply.series[0].labels.is_empty());
        assert_eq!(
            points(&reply.series[0]),
            vec![(T0_MS, 11.0 * p), (T0_MS + 60_000, 3.0 * p)]
        );
    }
    // Grouped by host, one series each.
    let reply: q::SelectSeriesResponse = call(
        &server,
        "SelectSeries",
        Codec::Proto,
        &select_series(CPU, r#"{service_name="checkout"}"#, 15.0, &["host"]),
    )
    .await;
    let by_host: BTreeMap<String, Vec<(i64, f64)>> = reply
        .series
        .iter()
        .map(|s| (s.labels[0].value.clone(), points(s)))
        .collect();
    assert_eq!(
        by_host,
        BTreeMap::from([
            (
                "web-1".into(),
                vec![(T0_MS, 7.0 * p), (T0_MS + 60_000, 3.0 * p)]
            ),
            ("web-2".into(), vec![(T0_MS, 4.0 * p)]),
        ])
    );
    // A two-minute step: allocations add up, memory in use averages.
    let alloc: q::SelectSeriesResponse = call(
        &server,
        "SelectSeries",
        Codec::Proto,
        &select_series(
            ALLOC,
            r#"{service_name="shop-py"}"#,
            120.0,
            &["service_name"],
        ),
    )
    .await;
    assert_eq!(points(&alloc.series[0]), vec![(T0_MS, 400.0)]);
    assert_eq!(alloc.series[0].labels[0].value, "shop-py");
    let inuse: q::SelectSeriesResponse = call(
        &server,
        "SelectSeries",
        Codec::Proto,
        &select_series(INUSE, r#"{service_name="shop-py"}"#, 120.0, &[]),
    )
    .await;
    assert_eq!(points(&inuse.series[0]), vec![(T0_MS, 2000.0)]);
    // Asked for explicitly, a sum.
    let mut summed = select_series(INUSE, r#"{service_name="shop-py"}"#, 120.0, &[]);
    summed.aggregation = Some(t::TimeSeriesAggregationType::Sum as i32);
    let inuse: q::SelectSeriesResponse = call(&server, "SelectSeries", Codec::Json, &summed).await;
    assert_eq!(points(&inuse.series[0]), vec![(T0_MS, 4000.0)]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn merge_profile_is_pprof_and_diff_has_both_sides() {
    let server = start().await;
    let profile: google::Profile = call(
        &server,
        "SelectMergeProfile",
        Codec::Proto,
        &q::SelectMergeProfileRequest {
            profile_type_id: CPU.into(),
            label_selector: r#"{service_name="checkout"}"#.into(),
            start: T0_MS,
            end: END_MS,
            ..Default::default()
        },
    )
    .await;
    let strings = &profile.string_table;
    let sample_types: Vec<(&str, &str)> = profile
        .sample_type
        .iter()
        .map(|v| {
            (
                strings[v.r#type as usize].as_str(),
                strings[v.unit as usize].as_str(),
            )
        })
        .collect();
    assert!(
        sample_types.contains(&("cpu", "nanoseconds")),
        "{sample_types:?}"
    );
    let cpu = sample_types
        .iter()
        .position(|t| *t == ("cpu", "nanoseconds"))
        .unwrap();
    let total: i64 = profile.sample.iter().map(|s| s.value[cpu]).sum();
    assert_eq!(total, 14 * PERIOD as i64);

    let left = stacktraces(CPU, r#"{service_name="checkout", version="v1"}"#);
    let right = stacktraces(CPU, r#"{service_name="checkout", version="v2"}"#);
    let diff: q::DiffResponse = call(
        &server,
        "Diff",
        Codec::Json,
        &q::DiffRequest {
            left: Some(left),
            right: Some(right),
        },
    )
    .await;
    let graph = diff.flamegraph.unwrap();
    assert_eq!(graph.left_ticks, 10 * PERIOD as i64);
    assert_eq!(graph.right_ticks, 4 * PERIOD as i64);
    assert!(graph.levels.iter().all(|l| l.values.len() % 7 == 0));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_selectors_types_and_bodies_get_connect_errors() {
    let server = start().await;
    for (type_id, selector, needle) in [
        (CPU, r#"{service_name="checkout""#, "label selector"),
        (CPU, r#"{host=~"("}"#, "regular expression"),
        (CPU, "service_name=checkout", "label selector"),
        ("cpu", "{}", "profile type id"),
        ("a:b:c", "{}", "profile type id"),
    ] {
        let response = raw_call(
            &server,
            "SelectMergeStacktraces",
            GRAFANA_PROTO,
            &encode(Codec::Proto, &stacktraces(type_id, selector)),
        )
        .await;
        assert_eq!(response.status, 400, "{selector}");
        let (code, message) = connect_error(&response);
        assert_eq!(code, "invalid_argument");
        assert!(message.contains(needle), "{message}");
    }
    // Not protobuf at all.
    let response = raw_call(
        &server,
        "SelectSeries",
        GRAFANA_PROTO,
        &[0xff, 0xff, 0xff, 0xff],
    )
    .await;
    assert_eq!(
        (response.status, connect_error(&response).0.as_str()),
        (400, "invalid_argument")
    );
    // Not a Connect codec.
    let response = raw_call(
        &server,
        "LabelNames",
        &[("Content-Type", "text/plain")],
        b"{}",
    )
    .await;
    assert_eq!(response.status, 415);
    // No such method.
    let response = raw_call(&server, "Explode", GRAFANA_JSON, b"{}").await;
    assert_eq!(
        (response.status, connect_error(&response).0.as_str()),
        (404, "not_found")
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn read_tokens_guard_the_querier_like_the_api() {
    let options = augur_web::WebOptions {
        auth: augur_web::WebAuth {
            read: TokenSet::new(parse_tokens(READ_TOKEN, "test").unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    let server = Server::start_with(&batches(), options).await;
    let body = encode(Codec::Proto, &q::ProfileTypesRequest::default());
    let refused = raw_call(&server, "ProfileTypes", GRAFANA_PROTO, &body).await;
    assert_eq!(refused.status, 401);
    assert_eq!(connect_error(&refused).0, "unauthenticated");
    // Grafana's data source sends the token as a bearer header (or Basic).
    let bearer = format!("Bearer {READ_TOKEN}");
    let mut headers = GRAFANA_PROTO.to_vec();
    headers.push(("Authorization", &bearer));
    let allowed = raw_call(&server, "ProfileTypes", &headers, &body).await;
    assert_eq!(allowed.status, 200);
    let reply: q::ProfileTypesResponse = decode(Codec::Proto, &allowed.body).unwrap();
    assert_eq!(reply.profile_types.len(), 3);
    server.stop().await.unwrap();
}
