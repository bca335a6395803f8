//! Grafana's Pyroscope data source against a real `augur up` holding agent
//! data: a fixture's samples, sampled with eBPF, read back through the
//! Connect calls the data source makes (`querier.v1.QuerierService`), in
//! both codecs, and compared with `/api/v1/profile`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use augur_tests::*;
use augur_wire::connect::{Codec, ConnectMessage, decode, encode};
use augur_wire::pyroscope::querier::v1 as q;
use augur_wire::pyroscope::types::v1 as t;

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const SERVICE: &str = "augur-fixture-grafana";

/// One unary call as connect-go makes it; the answer must be a 200.
fn call<Req: ConnectMessage, Resp: ConnectMessage>(
    base: &str,
    method: &str,
    codec: Codec,
    request: &Req,
) -> Resp {
    let mut response = ureq::post(&format!("{base}querier.v1.QuerierService/{method}"))
        .header("Content-Type", codec.content_type())
        .header("Connect-Protocol-Version", "1")
        .header("User-Agent", "connect-go/1.18.1 (go1.24.4)")
        .config()
        .http_status_as_error(false)
        .build()
        .send(&encode(codec, request)[..])
        .unwrap_or_else(|e| panic!("{method}: {e}"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().unwrap();
    assert_eq!(status, 200, "{method}: {}", String::from_utf8_lossy(&body));
    decode(codec, &body).unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn flame_total(
    base: &str,
    codec: Codec,
    selector: &str,
    start: i64,
    end: i64,
) -> (i64, Vec<String>) {
    let reply: q::SelectMergeStacktracesResponse = call(
        base,
        "SelectMergeStacktraces",
        codec,
        &q::SelectMergeStacktracesRequest {
            profile_type_id: CPU.into(),
            label_selector: selector.into(),
            start,
            end,
            max_nodes: Some(16384),
            ..Default::default()
        },
    );
    let graph = reply.flamegraph.expect("a flame graph");
    (graph.total, graph.names)
}

#[test]
fn grafana_reads_agent_profiles_from_augur_up() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_split_fixture(dir.path(), SERVICE).unwrap();
    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    let status = std::process::Command::new(&fixture)
        .arg("6")
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_split_profile(&base, SERVICE, "-10m", 100);

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = (now_ms - 600_000) / 60_000 * 60_000;
    let end = (now_ms / 60_000 + 2) * 60_000;

    let types: q::ProfileTypesResponse = call(
        &base,
        "ProfileTypes",
        Codec::Proto,
        &q::ProfileTypesRequest { start, end },
    );
    assert!(
        types.profile_types.iter().any(|p| p.id == CPU),
        "{:?}",
        types.profile_types
    );
    let services: t::LabelValuesResponse = call(
        &base,
        "LabelValues",
        Codec::Json,
        &t::LabelValuesRequest {
            name: "service_name".into(),
            matchers: vec!["{}".into()],
            start,
            end,
        },
    );
    assert!(
        services.names.iter().any(|n| n == SERVICE),
        "{:?}",
        services.names
    );
    let selector = format!("{{service_name=\"{SERVICE}\"}}");
    let hosts: t::LabelValuesResponse = call(
        &base,
        "LabelValues",
        Codec::Proto,
        &t::LabelValuesRequest {
            name: "host".into(),
            matchers: vec![selector.clone()],
            start,
            end,
        },
    );
    assert_eq!(hosts.names.len(), 1, "{:?}", hosts.names);
    let host = &hosts.names[0];

    // The same range through the JSON API; the fixture has exited, so the
    // totals settle (a late window may still arrive: retry until equal).
    let url = format!(
        "{base}api/v1/profile?service={SERVICE}&from={}&to={}",
        augur_web::format_rfc3339(start * 1_000_000),
        augur_web::format_rfc3339(end * 1_000_000)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let (api_total, names) = loop {
        let (proto, names) = flame_total(&base, Codec::Proto, &selector, start, end);
        let profile = http_json(&url).unwrap();
        let api = profile["total_samples"].as_i64().unwrap() * profile["period"].as_i64().unwrap();
        let (json, _) = flame_total(&base, Codec::Json, &selector, start, end);
        if proto == api && json == api {
            break (api, names);
        }
        assert!(
            Instant::now() < deadline,
            "flame graph totals {proto} (proto) and {json} (json) never matched the API's {api}"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(api_total > 0);
    for function in ["hot_a", "hot_b"] {
        assert!(
            names.iter().any(|n| n == function),
            "{function} missing: {names:?}"
        );
    }

    // Selectors on the agent's labels.
    let on_host = format!(
        "{{service_name=\"{SERVICE}\", host=~\"{}\"}}",
        regex_escape(host)
    );
    assert_eq!(
        flame_total(&base, Codec::Proto, &on_host, start, end).0,
        api_total
    );
    let elsewhere = format!("{{service_name=\"{SERVICE}\", host!=\"{host}\"}}");
    assert_eq!(
        flame_total(&base, Codec::Proto, &elsewhere, start, end).0,
        0
    );

    // The time series adds up to the same total.
    let series: q::SelectSeriesResponse = call(
        &base,
        "SelectSeries",
        Codec::Proto,
        &q::SelectSeriesRequest {
            profile_type_id: CPU.into(),
            label_selector: selector.clone(),
            start,
            end,
            step: 15.0,
            ..Default::default()
        },
    );
    assert_eq!(series.series.len(), 1);
    let sum: f64 = series.series[0].points.iter().map(|p| p.value).sum();
    assert_eq!(sum as i64, api_total);
    up.terminate().unwrap();
}

/// `text` as a regex matching only itself.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
