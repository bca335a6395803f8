//! `/metrics` as Prometheus reads it. A running `augur up`, and an `augur
//! agent` beside an `augur server`, are scraped as Prometheus scrapes
//! (OpenMetrics) and as curl does (text 0.0.4); Python's `prometheus_client`
//! parses each (its OpenMetrics parser is strict), and every process shows
//! each family once, counters whose samples all end in `_total`, and the
//! families of every stage it runs.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use augur_tests::*;

/// What Prometheus 2.x sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

fn python_has_prometheus_client() -> bool {
    Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// GETs `url` with `accept`; returns the content type and the body.
fn scrape(url: &str, accept: Option<&str>) -> (String, String) {
    let mut request = ureq::get(url);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.body_mut().read_to_string().unwrap();
    (content_type, body)
}

/// A family as the Python parser saw it.
#[derive(Debug)]
struct Family {
    kind: String,
    samples: Vec<String>,
}

/// Parses `text` with `prometheus_client`'s `format` parser (`openmetrics`
/// or `prometheus`); panics with the parser's message if it refuses, or if
/// a family comes twice.
fn parse(format: &str, text: &str) -> BTreeMap<String, Family> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/metrics_families.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut families = BTreeMap::new();
    for family in parsed.as_array().unwrap() {
        let name = family["name"].as_str().unwrap().to_owned();
        let samples = family["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        let kind = family["type"].as_str().unwrap().to_owned();
        let old = families.insert(name.clone(), Family { kind, samples });
        assert!(old.is_none(), "{format}: family {name} twice:\n{text}");
    }
    families
}

/// Scrapes `url` both ways and checks each parse; returns the OpenMetrics
/// families.
fn check_endpoint(url: &str, expected: &[(&str, &str)]) -> BTreeMap<String, Family> {
    let (om_type, om_text) = scrape(url, Some(PROMETHEUS_ACCEPT));
    assert_eq!(
        om_type, "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "{url}"
    );
    let (text_type, text) = scrape(url, None);
    assert_eq!(
        text_type, "text/plain; version=0.0.4; charset=utf-8",
        "{url}"
    );
    for raw in [&om_text, &text] {
        // Each `# TYPE` line once, whatever the parser makes of names.
        let mut seen = HashSet::new();
        for name in raw
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
        {
            assert!(seen.insert(name), "# TYPE {name} twice at {url}:\n{raw}");
        }
    }
    assert_eq!(om_text.matches("# EOF").count(), 1, "{om_text}");
    assert!(!text.contains("# EOF"), "{text}");

    let openmetrics = parse("openmetrics", &om_text);
    let prometheus = parse("prometheus", &text);
    for (format, families) in [("openmetrics", &openmetrics), ("prometheus", &prometheus)] {
        for (name, kind) in expected {
            let family = families.get(*name).unwrap_or_else(|| {
                panic!("{format}: {name} missing at {url}: {:?}", families.keys())
            });
            assert_eq!(family.kind, *kind, "{format}: the type of {name}");
        }
        for (name, family) in families.iter().filter(|(_, f)| f.kind == "counter") {
            for sample in &family.samples {
                assert!(
                    *sample == format!("{name}_total") || *sample == format!("{name}_created"),
                    "{format}: counter {name} has a sample {sample}"
                );
            }
        }
    }
    // A monotonic value exposed as a gauge would show here.
    for (name, family) in &openmetrics {
        if family.kind == "gauge" {
            assert!(
                !name.ends_with("_total") && !name.ends_with("_seconds_sum"),
                "gauge {name} looks monotonic"
            );
        }
    }
    openmetrics
}

/// Families every process shows: its own CPU and memory.
const PROCESS: [(&str, &str); 2] = [
    ("process_cpu_seconds", "counter"),
    ("process_resident_memory_bytes", "gauge"),
];
const AGENT: [(&str, &str); 4] = [
    ("augur_agent_samples", "counter"),
    ("augur_agent_batches_sent", "counter"),
    ("augur_agent_cpu_seconds", "counter"),
    ("augur_agent_spool_bytes", "gauge"),
];
const SERVER: [(&str, &str); 6] = [
    ("augur_aggregator_batches_accepted", "counter"),
    ("augur_aggregator_samples_accepted", "counter"),
    ("augur_aggregator_ingest_seconds", "histogram"),
    ("augur_aggregator_batches_in_flight", "gauge"),
    ("augur_web_requests", "counter"),
    ("augur_heap_in_use_bytes", "gauge"),
];

#[test]
fn up_metrics_parse_strictly_with_one_family_each() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(
            python_has_prometheus_client(),
            "Python's prometheus_client (pip install prometheus-client)",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let url = format!("{}metrics", up.http.clone().unwrap());
    // Samples have gone from the agent through the aggregator.
    wait_until("a batch accepted", Duration::from_secs(60), || {
        try_metric(&url, "augur_aggregator_batches_accepted_total").is_some_and(|n| n > 0.0)
    });
    let expected: Vec<_> = [
        &PROCESS[..],
        &AGENT,
        &SERVER,
        &[("augur_web_deploy_comparisons", "counter")],
    ]
    .concat();
    let families = check_endpoint(&url, &expected);
    assert!(families.len() >= 40, "{families:?}");
    assert!(up.terminate().unwrap().success());
}

#[test]
fn agent_and_ingest_server_metrics_parse_strictly() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(
            python_has_prometheus_client(),
            "Python's prometheus_client (pip install prometheus-client)",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(&dir.path().join("data"), "127.0.0.1:0", &[]).unwrap();
    let server_url = format!("{}metrics", server.http.clone().unwrap());
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "").unwrap();
    let (agent, agent_url) = start_agent_with_config(
        server.ingest.as_deref().unwrap(),
        &dir.path().join("spool"),
        &config,
    );
    wait_until("a batch sent", Duration::from_secs(60), || {
        try_metric(&agent_url, "augur_agent_batches_sent_total").is_some_and(|n| n > 0.0)
    });
    let agent_families = check_endpoint(&agent_url, &[&PROCESS[..], &AGENT].concat());
    assert!(
        !agent_families
            .keys()
            .any(|n| n.starts_with("augur_aggregator_")),
        "the agent shows another stage's families: {agent_families:?}"
    );
    let server_families = check_endpoint(&server_url, &[&PROCESS[..], &SERVER].concat());
    assert!(
        !server_families
            .keys()
            .any(|n| n.starts_with("augur_agent_")),
        "the server shows the agent's families: {server_families:?}"
    );
    assert!(agent.terminate().unwrap().success());
    assert!(server.terminate().unwrap().success());
}
