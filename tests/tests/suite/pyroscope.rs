//! Pyroscope's clients push to Augur unchanged but for the address: the
//! real Python (`pyroscope-io`) and Node (`@pyroscope/nodejs`) SDKs through
//! a recording proxy, Go's `net/http/pprof` profiles through `/ingest`, and
//! hostile pushes on both endpoints.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use augur_tests::pyroscope::{RecordingProxy, pprof_share};
use augur_tests::*;
use augur_wire::pyroscope_proto as push;
use prost::Message;

/// Where the Node SDK is installed (by `scripts/test.sh`, or here).
const NODE_SDK_DIR: &str = "/var/cache/augur-tests/pyroscope-node";

const PYTHON_APP: &str = r#"
import sys, time, pyroscope
pyroscope.configure(application_name="pyapp", server_address=sys.argv[1], tags={"region": "eu"})
def hot():
    x = 0
    for i in range(100000): x += i
    return x
def cold():
    x = 0
    for i in range(30000): x += i
    return x
end = time.time() + float(sys.argv[2])
while time.time() < end:
    hot(); cold()
pyroscope.shutdown()
"#;

const NODE_APP: &str = r#"
const Pyroscope = require('@pyroscope/nodejs');
Pyroscope.init({ serverAddress: process.argv[2], appName: 'nodeapp', tags: { region: 'eu' } });
Pyroscope.start();
function hot() { let x = 0; for (let i = 0; i < 3e6; i++) x += i; return x; }
function cold() { let x = 0; for (let i = 0; i < 1e6; i++) x += i; return x; }
const end = Date.now() + Number(process.argv[3]) * 1000;
function loop() { hot(); cold(); if (Date.now() < end) setImmediate(loop); else Pyroscope.stop().then(() => process.exit(0)); }
loop();
"#;

fn python_sdk_available() -> bool {
    Command::new("python3")
        .args(["-c", "import pyroscope"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn node_sdk_available() -> bool {
    if !Path::new(NODE_SDK_DIR)
        .join("node_modules/@pyroscope/nodejs")
        .exists()
    {
        let _ = std::fs::create_dir_all(NODE_SDK_DIR);
        let _ = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "@pyroscope/nodejs"])
            .current_dir(NODE_SDK_DIR)
            .status();
    }
    Path::new(NODE_SDK_DIR)
        .join("node_modules/@pyroscope/nodejs")
        .exists()
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// RFC 3339 of Unix seconds, UTC.
fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Share (percent) of `stacks` whose frames include one `hot` accepts.
fn stored_share(stacks: &[(Vec<String>, u64)], hot: impl Fn(&str) -> bool) -> f64 {
    let total: u64 = stacks.iter().map(|(_, c)| c).sum();
    let hot: u64 = stacks
        .iter()
        .filter(|(frames, _)| frames.iter().any(|f| hot(f)))
        .map(|(_, c)| c)
        .sum();
    assert!(total > 0, "nothing stored");
    100.0 * hot as f64 / total as f64
}

fn is_hot(function: &str) -> bool {
    function == "hot" || function.contains(":hot:")
}

#[test]
fn python_and_node_sdks_push_to_augur_up() {
    let python = python_sdk_available();
    let node = node_sdk_available();
    if !require(
        python && node,
        "pyroscope-io (pip) and @pyroscope/nodejs (npm)",
    ) {
        return;
    }
    let _lock = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    let proxy = RecordingProxy::start(base.trim_end_matches('/'));
    std::fs::write(dir.path().join("app.py"), PYTHON_APP).unwrap();
    std::fs::write(dir.path().join("app.js"), NODE_APP).unwrap();

    // Run across a minute boundary, so that pushes (one per 10 s, each
    // stored in the window where its profile starts) fill two one-minute
    // windows and the diff compares two ranges.
    while !(38..46).contains(&(unix_seconds() % 60)) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let minute = unix_seconds() / 60 * 60;
    let seconds = "36";
    let mut py = Command::new("python3")
        .arg(dir.path().join("app.py"))
        .args([&proxy.url(), seconds])
        .spawn()
        .unwrap();
    let mut js = Command::new("node")
        .arg(dir.path().join("app.js"))
        .args([&proxy.url(), seconds])
        .env("NODE_PATH", Path::new(NODE_SDK_DIR).join("node_modules"))
        .spawn()
        .unwrap();
    assert!(py.wait().unwrap().success(), "the Python app failed");
    assert!(js.wait().unwrap().success(), "the Node app failed");

    let captured = proxy.captured();
    for request in &captured {
        assert_eq!(
            request.status, 200,
            "Augur refused {}: {:?}",
            request.path, request.headers
        );
    }
    let python_pushes: Vec<_> = captured
        .iter()
        .filter(|c| c.path.starts_with("/push.v1.PusherService/Push"))
        .collect();
    let node_pushes: Vec<_> = captured
        .iter()
        .filter(|c| c.path.starts_with("/ingest"))
        .collect();
    assert!(
        python_pushes.len() >= 2,
        "Python pushes: {}",
        python_pushes.len()
    );
    assert!(!node_pushes.is_empty(), "no Node upload");

    for (service, type_name, sent_type, pushes) in [
        ("pyapp", "cpu", "cpu", &python_pushes),
        ("nodeapp", "wall", "wall", &node_pushes),
    ] {
        let profiles: Vec<_> = pushes.iter().flat_map(|c| c.profiles()).collect();
        let (hot, total) = pprof_share(&profiles, sent_type, is_hot);
        assert!(
            total > 0 && hot > 0,
            "{service}: the SDK sent no hot samples"
        );
        let sent = 100.0 * hot as f64 / total as f64;
        let url = format!("{base}api/v1/profile?service={service}&type={type_name}&from=-1h");
        let mut stored = 0.0;
        wait_until(
            &format!("{service}'s pushes stored"),
            Duration::from_secs(30),
            || {
                let Ok(profile) = http_json(&url) else {
                    return false;
                };
                let stacks = json_stacks(&profile);
                if stacks.is_empty() {
                    return false;
                }
                stored = stored_share(&stacks, is_hot);
                (stored - sent).abs() <= 2.0
            },
        );
        println!("{service}: hot share sent {sent:.1}%, stored {stored:.1}%");
        let profile = http_json(&url).unwrap();
        let stacks = json_stacks(&profile);
        assert!(
            stacks.iter().any(|(f, _)| f.iter().any(|f| is_hot(f)))
                && stacks
                    .iter()
                    .any(|(f, _)| f.iter().any(|f| f == "cold" || f.contains(":cold:"))),
            "{service}: function names missing: {:?}",
            busiest(&stacks, 5)
        );
        let labels = http_json(&format!("{base}api/v1/labels?service={service}")).unwrap();
        assert_eq!(
            labels["labels"]["region"],
            serde_json::json!(["eu"]),
            "{service}: {labels}"
        );
    }

    // A diff of the Python app's first and second minute.
    let output = Command::new(augur_bin())
        .args(["diff", "--server", base.trim_end_matches('/')])
        .args(["--service", "pyapp", "--type", "cpu", "--format", "json"])
        .args(["--base-from", &rfc3339(minute)])
        .args(["--base-to", &rfc3339(minute + 60)])
        .args(["--target-from", &rfc3339(minute + 60)])
        .args(["--target-to", &rfc3339(minute + 120)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "augur diff: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let diff: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    println!("[diff] {}", &stdout[..stdout.len().min(600)]);
    let base_total = diff["base_total"].as_f64().unwrap_or(0.0);
    let target_total = diff["target_total"].as_f64().unwrap_or(0.0);
    assert!(
        base_total > 0.0 && target_total > 0.0,
        "both ranges hold samples: {stdout}"
    );
    up.terminate().unwrap();
}

const GO_APP: &str = r#"
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
)

var kept [][]byte

//go:noinline
func burn(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x += i ^ (x >> 3)
	}
	return x
}

func main() {
	for i := 0; i < 64; i++ {
		kept = append(kept, make([]byte, 256<<10))
	}
	go func() {
		for {
			burn(1 << 24)
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Addr().String())
	http.Serve(l, nil)
}
"#;

fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    http_post(url, headers, body)
}

/// Sum of the positive values of sample type `name` in a pprof profile.
fn pprof_total(bytes: &[u8], name: &str) -> i64 {
    let profile = augur_tests::pyroscope::decode_pprof(bytes);
    let (_, total) = pprof_share(&[profile], name, |_| false);
    total
}

#[test]
fn go_net_http_pprof_uploads_through_ingest() {
    if !require(have("go", "version"), "go (golang-go)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("main.go");
    std::fs::write(&source, GO_APP).unwrap();
    let binary = dir.path().join("goapp");
    let built = offline_go(&["build", "-o"], dir.path())
        .arg(&binary)
        .arg(&source)
        .status()
        .unwrap();
    assert!(built.success(), "go build failed");
    let mut app = Command::new(&binary)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(app.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let app_url = format!("http://{}", line.trim());

    let up = start_up(&dir.path().join("data"), &[]).unwrap();
    let base = up.http.clone().unwrap();
    let (status, cpu) = http_get(&format!("{app_url}/debug/pprof/profile?seconds=3")).unwrap();
    assert_eq!(status, 200);
    let (status, heap) = http_get(&format!("{app_url}/debug/pprof/heap?gc=1")).unwrap();
    assert_eq!(status, 200);
    let _ = app.kill();
    let _ = app.wait();

    // Both uploads in one minute, a few seconds apart.
    let minute = unix_seconds() / 60 * 60;
    let upload = |name: &str, from: u64, body: &[u8]| {
        let url = format!(
            "{base}ingest?name={name}&from={from}&until={}&format=pprof&spyName=gospy",
            from + 10
        );
        post(&url, &[("content-type", "application/octet-stream")], body)
    };
    assert_eq!(upload("goapp.cpu%7Benv%3Dtest%7D", minute + 5, &cpu).0, 200);
    let (status, text) = upload("goapp%7Benv%3Dtest%7D", minute + 5, &heap);
    assert_eq!(status, 200, "{text}");

    let services = format!("{base}api/v1/services");
    wait_until("goapp's types", Duration::from_secs(30), || {
        let listed = http_json(&services).unwrap();
        listed["services"].as_array().unwrap().iter().any(|s| {
            s["name"] == "goapp"
                && ["cpu", "inuse_space", "alloc_space"]
                    .iter()
                    .all(|t| s["profile_types"].to_string().contains(&format!("\"{t}\"")))
        })
    });
    let cpu_profile = http_json(&format!(
        "{base}api/v1/profile?service=goapp&type=cpu&from=-1h"
    ))
    .unwrap();
    let stacks = json_stacks(&cpu_profile);
    assert!(
        count_with(&stacks, "main.burn") > 0,
        "main.burn missing: {}",
        busiest(&stacks, 5)
    );

    let inuse_url = format!("{base}api/v1/profile?service=goapp&type=inuse_space&from=-1h");
    let stored_inuse = || -> i64 {
        let profile = http_json(&inuse_url).unwrap();
        let period = profile["period"].as_i64().unwrap_or(1);
        json_stacks(&profile)
            .iter()
            .map(|(_, c)| *c as i64 * period)
            .sum()
    };
    let sent = pprof_total(&heap, "inuse_space");
    assert!(
        sent >= 4 << 20,
        "the heap holds most of the app's 16 MiB: {sent}"
    );
    assert_eq!(stored_inuse(), sent, "inuse_space stored as sent");

    // The same heap again, ten seconds later in the same window: a gauge,
    // so the window holds one snapshot's worth, not two.
    let (status, text) = upload("goapp%7Benv%3Dtest%7D", minute + 15, &heap);
    assert_eq!(status, 200, "{text}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        stored_inuse(),
        sent,
        "two uploads of one heap in one window are not doubled (gauge aggregation)"
    );
    up.terminate().unwrap();
}

/// VmRSS of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

fn push_bytes(labels: &[(&str, &str)], raw: Vec<u8>) -> Vec<u8> {
    push::PushRequest {
        series: vec![push::RawProfileSeries {
            labels: labels
                .iter()
                .map(|(n, v)| push::LabelPair {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: vec![push::RawSample {
                raw_profile: raw,
                id: String::new(),
            }],
        }],
    }
    .encode_to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn hostile_pushes_get_a_clear_4xx_and_keep_what_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let token = "pyroscope-test-token-0123456789";
    let token_file = dir.path().join("tokens");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    // A server without an agent, so its memory is the pushes' alone.
    let up = start_server_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--ingest-token-file", token_file.to_str().unwrap()],
    )
    .unwrap();
    let base = up.http.clone().unwrap();
    let push_url = format!("{base}push.v1.PusherService/Push");
    let bearer = format!("Bearer {token}");
    let basic = {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("12345:{token}"))
        )
    };
    fn proto(auth: &str) -> Vec<(&'static str, &str)> {
        vec![
            ("content-type", "application/proto"),
            ("authorization", auth),
        ]
    }

    // Something stored first, through Basic as Grafana Cloud clients send it.
    let now = unix_seconds();
    let folded = format!(
        "{base}ingest?name=keep.cpu%7Benv%3Dprod%7D&from={}&until={now}&format=folded&spyName=pyspy",
        now - 10
    );
    // The web port may answer before the ingest behind it runs: 503, retry
    // later, as SDKs do.
    let (mut status, mut text) = (0, String::new());
    wait_until("ingest running", Duration::from_secs(30), || {
        (status, text) = post(
            &folded,
            &[("authorization", &basic)],
            b"main;work 40\nmain;idle 10\n",
        );
        status != 503
    });
    assert_eq!(status, 200, "{text}");
    let keep_url = format!("{base}api/v1/profile?service=keep&type=cpu&from=-1h");
    let stored = || -> u64 {
        json_stacks(&http_json(&keep_url).unwrap())
            .iter()
            .map(|(_, c)| c)
            .sum()
    };
    wait_until("the good push stored", Duration::from_secs(20), || {
        stored() == 50
    });
    // A retried push (same content) is recognised and stored once.
    let (status, _) = post(
        &folded,
        &[("authorization", &bearer)],
        b"main;work 40\nmain;idle 10\n",
    );
    assert_eq!(status, 200);
    let rss_before = rss(up.pid());

    let mut cases: Vec<(&str, u16, String)> = Vec::new();
    // A wrong token, on each endpoint.
    let good = push_bytes(
        &[("service_name", "x"), ("__name__", "process_cpu")],
        Vec::new(),
    );
    let (status, text) = post(&push_url, &proto("Bearer wrong-token-0123456789"), &good);
    cases.push(("wrong token, push", status, text));
    let (status, text) = post(
        &folded,
        &[("authorization", "Bearer nope-0123456789abc")],
        b"a 1\n",
    );
    cases.push(("wrong token, ingest", status, text));
    // Corrupt protobuf.
    let (status, text) = post(&push_url, &proto(&bearer), &[0x0a, 0xff, 0xff, 0x01, 0x02]);
    cases.push(("corrupt push protobuf", status, text));
    let corrupt_pprof = push_bytes(&[("service_name", "x")], vec![0x12, 0xff, 0x7f, 0x00]);
    let (status, text) = post(&push_url, &proto(&bearer), &corrupt_pprof);
    cases.push(("corrupt pprof in a push", status, text));
    let (status, text) = post(
        &push_url,
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer),
        ],
        b"{\"series\": [{\"labels\": 7}]}",
    );
    cases.push(("corrupt JSON push", status, text));
    // A gzip bomb inside a pprof: 512 MiB of zeros in half a megabyte.
    let bomb = gzip(&vec![0u8; 512 << 20]);
    let (status, text) = post(
        &push_url,
        &proto(&bearer),
        &push_bytes(&[("service_name", "x")], bomb.clone()),
    );
    cases.push(("gzip bomb in a push", status, text));
    let (status, text) = post(
        &format!("{base}ingest?name=x.cpu&from={now}&until={now}&format=pprof"),
        &[("authorization", &bearer)],
        &bomb,
    );
    cases.push(("gzip bomb on /ingest", status, text));
    // A million tag values, in a body just under the 16 MiB limit, so the
    // label limit refuses it (a larger one is refused unread, 413).
    let many: Vec<(String, String)> = (0..1_000_000)
        .map(|i| (format!("k{i}"), "v".to_owned()))
        .collect();
    let many_refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut labels = vec![("service_name", "x")];
    labels.extend(many_refs);
    let (status, text) = post(&push_url, &proto(&bearer), &push_bytes(&labels, Vec::new()));
    cases.push(("a million labels in a push", status, text));
    let tags: String = (0..2_000).map(|i| format!("k{i}%3Dv{i}%2C")).collect();
    let (status, text) = post(
        &format!("{base}ingest?name=x.cpu%7B{tags}%7D&from={now}&until={now}&format=folded"),
        &[("authorization", &bearer)],
        b"a 1\n",
    );
    cases.push(("many tags on /ingest", status, text));
    // JFR is named as unsupported.
    let (status, text) = post(
        &format!("{base}ingest?name=x.cpu&from={now}&until={now}&format=jfr"),
        &[("authorization", &bearer)],
        b"FLR\0",
    );
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("pprof"), "{text}");

    for (what, status, text) in &cases {
        println!("[{what}] {status} {text}");
        assert!(
            (400..500).contains(status),
            "{what}: HTTP {status}, not a 4xx: {text}"
        );
        assert!(!text.is_empty(), "{what}: no message");
    }
    assert_eq!(cases[0].1, 401, "wrong token on push: {:?}", cases[0]);
    assert!(
        cases[0].2.contains("\"code\":\"unauthenticated\""),
        "{:?}",
        cases[0]
    );
    assert_eq!(cases[1].1, 401, "wrong token on ingest: {:?}", cases[1]);
    assert!(cases[2].2.contains("invalid_argument"), "{:?}", cases[2]);

    let growth = rss(up.pid()).saturating_sub(rss_before);
    assert!(
        growth < 400 << 20,
        "the server grew by {} MiB on hostile pushes",
        growth >> 20
    );
    assert_eq!(
        stored(),
        50,
        "the stored profile is intact, the retry not added"
    );
    up.terminate().unwrap();
}
