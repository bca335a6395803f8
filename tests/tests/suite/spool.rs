//! The agent's on-disk spool: while its server is away the agent keeps every
//! batch on disk, and when the server returns the backlog arrives complete
//! and counted once, even across an agent killed with SIGKILL.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use augur_agent::spool;
use augur_tests::*;

/// How long the server stays away in the outage test (the 2 minutes).
const OUTAGE: Duration = Duration::from_secs(120);

fn start_server_on(data: &Path, port: u16) -> AugurProcess {
    let ingest = format!("127.0.0.1:{port}");
    start_server(data, &ingest).unwrap()
}

/// Starts `augur agent` and returns it with its metrics URL.
fn start_agent(port: u16, spool_dir: &Path) -> (AugurProcess, String) {
    let server = format!("http://127.0.0.1:{port}");
    let (agent, metrics) = AugurProcess::start_and_wait_for(
        &[
            "agent",
            "--server",
            &server,
            "--window",
            "2s",
            "--frequency",
            "99",
            "--spool-dir",
            spool_dir.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
        ],
        "augur: agent metrics on ",
    )
    .unwrap();
    (agent, metrics.trim().to_owned())
}

/// (batches, samples) waiting in a spool directory.
fn spooled(dir: &Path) -> (usize, u64) {
    let entries = spool::list(dir).unwrap();
    (entries.len(), entries.iter().map(|e| e.samples).sum())
}

/// One value from a Prometheus text page.
/// The numbers of `augur: agent stopped: collected N samples, sent M
/// batches, K batches spooled, D samples dropped`.
#[derive(Debug)]
struct Summary {
    collected: u64,
    sent: u64,
    spooled: u64,
    dropped: u64,
}

fn stop_agent(agent: AugurProcess) -> Summary {
    let (status, output) = agent.terminate_with_output().unwrap();
    assert!(status.success(), "augur agent exited with {status}");
    let line = output
        .iter()
        .find_map(|l| l.strip_prefix("augur: agent stopped: "))
        .unwrap_or_else(|| panic!("no summary line in {output:?}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |i: usize, label: &str| -> u64 {
        assert_eq!(
            words.get(i + 1).map(|w| w.trim_end_matches(',')),
            Some(label),
            "unexpected summary {line:?}"
        );
        words[i].parse().unwrap()
    };
    Summary {
        collected: number(1, "samples"),
        sent: number(4, "batches"),
        spooled: number(6, "batches"),
        dropped: number(9, "samples"),
    }
}

#[test]
fn two_minutes_without_a_server_lose_nothing_and_count_nothing_twice() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_split_fixture(dir.path(), "augur-fixture-spool").unwrap();
    let data = dir.path().join("data");
    let spool_dir = dir.path().join("spool");
    let port = free_port();

    let server = start_server_on(&data, port);
    let base = server.http.clone().unwrap();
    let (agent, agent_metrics) = start_agent(port, &spool_dir);
    // Batches flow while the server is up.
    wait_until("first batches stored", Duration::from_secs(60), || {
        stored_samples(&base) > 0
    });

    let exit = server.terminate().unwrap();
    assert!(exit.success(), "augur server exited with {exit}");
    let outage = Instant::now();
    let status = Command::new(&fixture).arg("20").status().unwrap();
    assert!(status.success());
    let (early, _) = spooled(&spool_dir);
    assert!(early >= 5, "only {early} batches spooled after 20 s");
    assert!(metric(&agent_metrics, "augur_agent_spool_batches") >= 5.0);
    assert!(metric(&agent_metrics, "augur_agent_spool_bytes") > 0.0);
    assert!(metric(&agent_metrics, "augur_agent_send_failures_total") > 0.0);

    // The rest of the outage, and at least five more windows of the
    // host's samples (a starved fixture can outlast the two minutes).
    std::thread::sleep(
        OUTAGE
            .saturating_sub(outage.elapsed())
            .max(Duration::from_secs(10)),
    );
    let (late, late_samples) = spooled(&spool_dir);
    assert!(
        late > early,
        "the spool did not keep growing: {early} then {late} batches"
    );
    eprintln!("spooled during the outage: {late} batches, {late_samples} samples");

    let server = start_server_on(&data, port);
    let base = server.http.clone().unwrap();
    // The agent retries within its 30 s (+20%) backoff cap, then drains.
    wait_until("the spool drained", Duration::from_secs(120), || {
        spooled(&spool_dir).0 == 0
    });
    assert!(metric(&agent_metrics, "augur_agent_batches_sent_total") >= late as f64);

    let summary = stop_agent(agent);
    eprintln!("agent summary: {summary:?}");
    assert_eq!(summary.dropped, 0, "samples dropped: {summary:?}");
    assert_eq!(summary.spooled, 0, "batches left behind: {summary:?}");
    assert!(summary.sent as usize > late, "{summary:?}");
    // The agent is the server's only sender, and it stopped after its last
    // acknowledged batch: the server holds exactly what it collected.
    let mut stored = 0;
    wait_until("every sample stored", Duration::from_secs(30), || {
        stored = stored_samples(&base);
        stored >= summary.collected
    });
    assert_eq!(
        stored, summary.collected,
        "server stores {stored} samples, agent collected {}",
        summary.collected
    );

    // The fixture ran only while the server was away; its profile arrived
    // intact. Wait until symbolization stops changing the counts.
    let profile = wait_for_split_profile(&base, "augur-fixture-spool", "-30m", 150);
    assert_split(&json_stacks(&profile), "after the outage");

    let exit = server.terminate().unwrap();
    assert!(exit.success(), "augur server exited with {exit}");
}

#[test]
fn a_restarted_agent_sends_what_a_killed_one_spooled() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_split_fixture(dir.path(), "augur-fixture-respool").unwrap();
    let data = dir.path().join("data");
    let spool_dir = dir.path().join("spool");
    // Nothing listens here until the second agent runs.
    let port = free_port();

    let (first, _) = start_agent(port, &spool_dir);
    // Busy CPUs, so that every window has samples and makes a batch.
    let mut busy = Command::new(&fixture).arg("10").spawn().unwrap();
    wait_until("batches spooled", Duration::from_secs(60), || {
        spooled(&spool_dir).0 >= 3
    });
    first.kill().unwrap();
    assert!(busy.wait().unwrap().success());
    let left = spool::list(&spool_dir).unwrap();
    let left_samples: u64 = left.iter().map(|e| e.samples).sum();
    assert!(left_samples > 0);

    let (second, _) = start_agent(port, &spool_dir);
    let server = start_server_on(&data, port);
    let base = server.http.clone().unwrap();
    wait_until("the spool drained", Duration::from_secs(90), || {
        spooled(&spool_dir).0 == 0
    });
    let summary = stop_agent(second);
    eprintln!(
        "first agent left {} batches ({left_samples} samples); second agent: {summary:?}",
        left.len()
    );
    assert_eq!(summary.dropped, 0, "samples dropped: {summary:?}");
    assert_eq!(summary.spooled, 0, "batches left behind: {summary:?}");
    assert!(summary.sent as usize >= left.len(), "{summary:?}");
    // The server saw only these two agents: what the first left on disk and
    // what the second collected, each exactly once.
    let expected = left_samples + summary.collected;
    let mut stored = 0;
    wait_until("every sample stored", Duration::from_secs(30), || {
        stored = stored_samples(&base);
        stored >= expected
    });
    assert_eq!(
        stored, expected,
        "server stores {stored} samples; expected {left_samples} spooled by the killed agent + {} collected by the second",
        summary.collected
    );
    let exit = server.terminate().unwrap();
    assert!(exit.success(), "augur server exited with {exit}");
}
