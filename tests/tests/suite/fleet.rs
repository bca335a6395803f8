//! A fleet deployment on one machine: two `augur server --role ingest`
//! nodes write into ClickHouse sharded over two real `clickhouse-server`
//! processes, a `--role query` node reads it, and the profiles it serves
//! equal those of one SQLite node that received the same batches.

use std::process::Command;
use std::time::{Duration, Instant};

use augur_tests::*;

#[path = "../../../storage/tests/suite/clickhouse_server.rs"]
mod clickhouse_server;

/// `augur server` on ClickHouse with the two-shard cluster.
fn clickhouse_node(
    role: &str,
    entry: &str,
    urls: &[String; 2],
    data: &std::path::Path,
) -> AugurProcess {
    clickhouse_node_with(role, entry, urls, data, "fleet", &[])
}

/// [`clickhouse_node`] in database `db`, with more arguments.
fn clickhouse_node_with(
    role: &str,
    entry: &str,
    urls: &[String; 2],
    data: &std::path::Path,
    db: &str,
    extra: &[&str],
) -> AugurProcess {
    let mut args = vec![
        "--role",
        role,
        "--clickhouse",
        entry,
        "--clickhouse-database",
        db,
        "--clickhouse-cluster",
        clickhouse_server::CLUSTER,
        "--clickhouse-shard",
        &urls[0],
        "--clickhouse-shard",
        &urls[1],
    ];
    args.extend_from_slice(extra);
    start_server_with(data, "127.0.0.1:0", &args).unwrap()
}

/// Exactly one batch per simulated host, the same ones on every run: each
/// host starts within the first interval and the run ends before any host's
/// second batch. Hosts alternate between the given servers.
fn push_fleet(servers: &[&str]) -> serde_json::Value {
    let mut command = Command::new(augur_bin());
    command.args(["loadgen", "--report", "json"]);
    for server in servers {
        command.args(["--server", server]);
    }
    let output = command
        .args([
            "--hosts",
            "20",
            "--services",
            "3",
            "--stacks",
            "50",
            "--interval",
            "4s",
            "--duration",
            "3900ms",
            "--seed",
            "21",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["acknowledged"], 20, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    report
}

/// Root-first stacks with their counts, sorted.
type Stacks = Vec<(Vec<String>, u64)>;

/// `(service, its stacks)` from a node's API, for every service.
fn profiles(base: &str) -> Vec<(String, Stacks)> {
    let services = http_json(&format!("{base}api/v1/services")).unwrap();
    let mut out = Vec::new();
    for service in services["services"].as_array().unwrap() {
        let name = service["name"].as_str().unwrap().to_owned();
        let profile = http_json(&format!(
            "{base}api/v1/profile?service={name}&from=-10m&to=now"
        ))
        .unwrap();
        let mut stacks = json_stacks(&profile);
        stacks.sort();
        out.push((name, stacks));
    }
    out
}

#[test]
fn two_ingest_nodes_on_sharded_clickhouse_serve_what_one_sqlite_node_serves() {
    let Some(urls) = clickhouse_server::urls() else {
        return;
    };
    let _alone = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    // The ingest nodes settle windows into per-service rows a second after
    // their last batch, both of them, while the test reads.
    let settling = ["--clickhouse-settle-after", "1s"];
    let ingest_a = clickhouse_node_with(
        "ingest",
        &urls[0],
        &urls,
        &dir.path().join("a"),
        "fleet",
        &settling,
    );
    let ingest_b = clickhouse_node_with(
        "ingest",
        &urls[1],
        &urls,
        &dir.path().join("b"),
        "fleet",
        &settling,
    );
    let query = clickhouse_node("query", &urls[0], &urls, &dir.path().join("q"));
    let single = start_server(&dir.path().join("single"), "127.0.0.1:0").unwrap();

    let (a, b) = (
        ingest_a.ingest.clone().unwrap(),
        ingest_b.ingest.clone().unwrap(),
    );
    let report = push_fleet(&[&a, &b]);
    let same = push_fleet(&[single.ingest.as_deref().unwrap()]);
    assert_eq!(report["samples_acknowledged"], same["samples_acknowledged"]);

    let fleet_base = query.http.clone().unwrap();
    let single_base = single.http.clone().unwrap();
    let expected = profiles(&single_base);
    assert_eq!(expected.len(), 3, "three services");
    assert!(expected.iter().all(|(_, stacks)| stacks.len() > 10));
    // Distributed inserts are synchronous; allow a moment for the query
    // node's first connection all the same.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = profiles(&fleet_base);
    while got != expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        got = profiles(&fleet_base);
    }
    assert_eq!(got, expected, "the sharded fleet differs from one node");

    // Both shards hold part of the samples: the data really is spread.
    for url in &urls {
        let (status, body) = http_get(&format!(
            "{url}/?query=SELECT%20count()%20FROM%20fleet.samples_local"
        ))
        .unwrap();
        assert_eq!(status, 200);
        let rows: u64 = String::from_utf8_lossy(&body).trim().parse().unwrap();
        assert!(rows > 0, "shard {url} holds no samples");
    }
    // `augur sql` answers the documented example the same on both backends.
    let doc = include_str!("../../../docs/sql.md");
    let example = doc
        .split("```sql\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let sql = |base: &str| {
        let output = Command::new(augur_bin())
            .args(["sql", "--format", "tsv", "--server", base, example])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let (on_clickhouse, on_sqlite) = (sql(&fleet_base), sql(&single_base));
    assert_eq!(on_clickhouse, on_sqlite);
    let lines: Vec<&str> = on_sqlite.lines().collect();
    assert_eq!(lines[0], "service\tsamples");
    assert_eq!(lines.len(), 4, "three services: {on_sqlite}");
    let total: u64 = lines[1..]
        .iter()
        .map(|l| l.split('\t').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(Some(total), same["samples_acknowledged"].as_u64());

    // Fleet reports agree too (the first line names the time range).
    let top = |base: &str, report: &str| {
        let output = Command::new(augur_bin())
            .args(["top", report, "--from", "-10m", "--server", base])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>()
    };
    for report in ["services", "functions", "binaries"] {
        let on_sqlite = top(&single_base, report);
        assert!(on_sqlite.len() >= 3, "{report}: {on_sqlite:?}");
        assert_eq!(top(&fleet_base, report), on_sqlite, "{report}");
    }

    // Once the ingest nodes settled the windows, the query node reads the
    // per-service rows: the same profiles and reports.
    let settled = || {
        let (status, body) = http_get(&format!(
            "{}/?query=SELECT%20count()%20FROM%20fleet.settles%20WHERE%20done%20%3D%201",
            urls[0]
        ))
        .unwrap();
        assert_eq!(status, 200);
        String::from_utf8_lossy(&body)
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while settled() == 0 {
        assert!(Instant::now() < deadline, "no window settled in 60 s");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(profiles(&fleet_base), expected, "settled rows differ");
    for report in ["services", "functions", "binaries"] {
        assert_eq!(
            top(&fleet_base, report),
            top(&single_base, report),
            "{report}, settled"
        );
    }

    for node in [ingest_a, ingest_b, query, single] {
        assert!(node.terminate().unwrap().success());
    }
}

/// Debug info an agent uploaded to one ingest node names frames on another:
/// node A only ingests (`--symbolizer-threads 0`), node B only symbolizes,
/// and neither can read the agent's files (`--no-path-hints`).
#[test]
fn debug_info_uploaded_to_one_ingest_node_is_used_by_another() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let Some(urls) = clickhouse_server::urls() else {
        return;
    };
    let _alone = heavy_test_lock();
    let dir = tempfile::tempdir().unwrap();
    let name = "augur-fixture-shared-debug";
    let fixture = build_fixture(dir.path(), "split.c", name).unwrap();
    let empty = dir.path().join("no-debug");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    let isolated = [
        "--no-path-hints",
        "--debug-dir",
        empty,
        "--symbol-retry",
        "2s",
    ];
    let mut only_ingest = isolated.to_vec();
    only_ingest.extend(["--symbolizer-threads", "0"]);
    let a = clickhouse_node_with(
        "ingest",
        &urls[0],
        &urls,
        &dir.path().join("a"),
        "shared",
        &only_ingest,
    );
    let data_b = dir.path().join("b");
    let b = clickhouse_node_with("ingest", &urls[1], &urls, &data_b, "shared", &isolated);
    let query = clickhouse_node_with(
        "query",
        &urls[0],
        &urls,
        &dir.path().join("q"),
        "shared",
        &[],
    );

    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[debuginfo]\nupload = true\n[[relabel]]\naction = \"keep\"\nsource_labels = [\"exe\"]\nregex = \".*/{name}\"\n"
        ),
    )
    .unwrap();
    let (agent, agent_metrics) = start_agent_with_config(
        a.ingest.as_deref().unwrap(),
        &dir.path().join("spool"),
        &config,
    );
    assert!(Command::new(&fixture).arg("4").status().unwrap().success());
    let uploaded = "augur_agent_debuginfo_uploads_total{outcome=\"uploaded\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    while try_metric(&agent_metrics, uploaded) != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "the agent did not upload to node A"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(agent.terminate().unwrap().success());

    // Node B names the frames with the file node A received.
    let base = query.http.clone().unwrap();
    let profile = wait_for_split_profile(&base, name, "-10m", 150);
    assert_split(&json_stacks(&profile), "named by another ingest node");
    let fetched = std::fs::read_dir(data_b.join("debuginfo/.build-id"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .any(|f| f.file_name().to_string_lossy().ends_with(".debug"));
    assert!(fetched, "node B holds no copy of the shared debug file");
    for node in [a, b, query] {
        assert!(node.terminate().unwrap().success());
    }
}
