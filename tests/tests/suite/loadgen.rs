//! `augur loadgen` against real servers: what it reports acknowledged is
//! exactly what the server stores, even when the server is killed with
//! SIGKILL mid-run, holding acknowledged batches only in its ingest log, and
//! comes back on the same port and data directory, and when a full queue
//! pushes back (with the server's memory bounded).

use std::time::Duration;

use augur_tests::*;

/// Waits up to 10 s for the stored total to reach `expected`; returns the
/// last value seen.
fn settle(base: &str, expected: u64) -> u64 {
    settle_stored(base, expected, Duration::from_secs(10))
}

#[test]
fn acknowledged_samples_are_the_stored_samples() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let report = loadgen(&[
        "--server",
        &ingest,
        "--hosts",
        "20",
        "--services",
        "3",
        "--interval",
        "200ms",
        "--duration",
        "5s",
        "--seed",
        "7",
    ]);
    let acknowledged = report["acknowledged"].as_u64().unwrap();
    assert!(acknowledged > 0, "nothing acknowledged: {report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
    let samples = report["samples_acknowledged"].as_u64().unwrap();
    assert_eq!(settle(&base, samples), samples, "{report}");
    assert!(server.terminate().unwrap().success());
}

#[test]
fn a_server_killed_mid_run_stores_every_acknowledged_batch_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = format!("127.0.0.1:{}", free_port());
    // Nothing is flushed before the kill: every batch acknowledged by then
    // lives only in the ingest log and memory.
    let server = start_server_with(&data, &ingest, &["--flush-interval", "1h"]).unwrap();
    let url = format!("http://{ingest}");
    let load = std::thread::spawn(move || {
        loadgen(&[
            "--server",
            &url,
            "--hosts",
            "50",
            "--services",
            "5",
            "--interval",
            "100ms",
            "--duration",
            "12s",
            "--concurrency",
            "64",
            "--seed",
            "11",
        ])
    });
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: kill with a pid we own and a valid signal.
    assert_eq!(unsafe { libc::kill(server.pid() as i32, libc::SIGKILL) }, 0);
    drop(server);
    std::thread::sleep(Duration::from_secs(1));
    let server = start_server(&data, &ingest).unwrap();
    let report = load.join().unwrap();
    let base = server.http.clone().unwrap();
    let replayed = metric(
        &format!("{base}metrics"),
        "augur_aggregator_batches_replayed_total",
    );
    assert!(
        replayed > 0.0,
        "the restart replayed nothing from the ingest log"
    );
    assert!(
        report["retried"].as_u64().unwrap() > 0,
        "the outage caused no retries: {report}"
    );
    assert_eq!(
        report["errors"].as_u64(),
        Some(0),
        "batches were given up: {report}"
    );
    let samples = report["samples_acknowledged"].as_u64().unwrap();
    assert_eq!(
        settle(&base, samples),
        samples,
        "stored samples differ from acknowledged ones: {report}"
    );
    assert!(server.terminate().unwrap().success());
}

/// Peak resident memory of a process, from `VmHWM` in /proc/PID/status.
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"));
    kib * 1024
}

/// Far more load than one batch in flight can take: the excess is answered
/// RESOURCE_EXHAUSTED, loadgen retries it like an agent, every batch is
/// stored once in the end, and the server's memory stays bounded. A push
/// waits its turn behind every other pusher, so it is refused when they
/// take over 200 ms together: 256 pushers on 8 connections make that so at
/// any server speed below about 1,300 batches/s on one slot (one
/// connection carries at most 32 pushes, and at this VM's 300 batches/s
/// their waits stayed just under it).
#[test]
fn a_full_queue_pushes_back_and_memory_stays_bounded() {
    /// Generous for a debug build holding one decoded batch at a time; an
    /// unbounded queue of 256 pushers' batches would grow past it.
    const RSS_BOUND: u64 = 256 << 20;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_server_with(&data, "127.0.0.1:0", &["--max-in-flight", "1"]).unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    // Eight connections, as the server takes at most 32 streams on one.
    let mut args: Vec<&str> = Vec::new();
    for _ in 0..8 {
        args.extend(["--server", &ingest]);
    }
    args.extend([
        "--hosts",
        "400",
        "--services",
        "8",
        "--stacks",
        "400",
        "--stack-depth",
        "40",
        "--interval",
        "100ms",
        "--duration",
        "8s",
        "--concurrency",
        "256",
        "--seed",
        "13",
    ]);
    let report = loadgen(&args);
    let pushed_back = report["attempt_errors_by_code"]["ResourceExhausted"]
        .as_u64()
        .unwrap_or(0);
    assert!(pushed_back > 0, "the server never pushed back: {report}");
    let rejected = metric(
        &format!("{base}metrics"),
        "augur_aggregator_batches_rejected_total{reason=\"backpressure\"}",
    );
    assert!(rejected >= pushed_back as f64, "{rejected} < {pushed_back}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
    let samples = report["samples_acknowledged"].as_u64().unwrap();
    assert_eq!(settle(&base, samples), samples, "{report}");
    let peak = peak_rss_bytes(server.pid());
    println!("server peak RSS under backpressure: {} MiB", peak >> 20);
    assert!(
        peak < RSS_BOUND,
        "server peak RSS {} MiB over the {} MiB bound",
        peak >> 20,
        RSS_BOUND >> 20
    );
    assert!(server.terminate().unwrap().success());
}
