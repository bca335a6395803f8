//! `augur up` on this host: a fixture's samples travel from the kernel to the
//! HTTP API, the pprof export and `go tool pprof`.

use std::process::Command;

use augur_tests::*;

#[test]
fn fixture_split_reaches_api_and_pprof() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_split_fixture(dir.path(), "augur-fixture-up").unwrap();
    let data = dir.path().join("data");
    let up = start_up(&data, &[]).unwrap();
    let base = up.http.clone().unwrap();

    let status = Command::new(&fixture).arg("8").status().unwrap();
    assert!(status.success());

    // Wait until the samples are stored and their frames symbolized.
    let profile = wait_for_split_profile(&base, "augur-fixture-up", "-10m", 150);
    assert_eq!(profile["service"], "augur-fixture-up");
    assert_eq!(profile["profile_type"]["name"], "cpu");
    assert_split(&json_stacks(&profile), "augur up API");

    let services = http_json(&format!("{base}api/v1/services")).unwrap();
    assert!(
        services["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "augur-fixture-up"),
        "service missing from {services}"
    );

    // The same profile through the CLI export, read by Go's pprof.
    let pprof = dir.path().join("profile.pb.gz");
    let export = Command::new(augur_bin())
        .args([
            "export",
            "--server",
            base.trim_end_matches('/'),
            "--service",
            "augur-fixture-up",
        ])
        .args(["--from", "-10m", "--format", "pprof", "-o"])
        .arg(&pprof)
        .status()
        .unwrap();
    assert!(export.success(), "augur export failed");
    let bytes = std::fs::read(&pprof).unwrap();
    let decoded = augur_wire::pprof::decode(&bytes, 256 << 20).unwrap();
    assert_eq!(decoded.service, "augur-fixture-up");
    assert_eq!(decoded.period, 1_000_000_000 / 99);
    let top = decoded.top_functions();
    assert_eq!(top[0].name, "hot_a", "pprof top function: {top:?}");

    let services_cli = Command::new(augur_bin())
        .args(["services", "--server", base.trim_end_matches('/')])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&services_cli.stdout).contains("augur-fixture-up"));

    if require(
        have("go", "version"),
        "go (Debian's golang-go) for `go tool pprof`",
    ) {
        let text = go_pprof_top(&pprof, dir.path()).unwrap();
        assert_eq!(
            pprof_top_function(&text).as_deref(),
            Some("hot_a"),
            "go tool pprof -top:\n{text}"
        );
    }

    // Every stage reports on /metrics, including what it lost and why.
    let metrics = String::from_utf8(http_get(&format!("{base}metrics")).unwrap().1).unwrap();
    for counter in [
        "augur_agent_samples_total",
        "augur_agent_batches_sent_total",
        "augur_aggregator_samples_accepted_total",
        "augur_aggregator_frames_symbolized_total",
    ] {
        let value: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(counter).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{counter} missing from /metrics:\n{metrics}"));
        assert!(value > 0.0, "{counter} is {value}");
    }

    let exit = up.terminate().unwrap();
    assert!(exit.success(), "augur up exited with {exit}");
}

/// Runs `augur ARGS` to its end, at most `limit`; its exit status, stderr
/// and how long it took.
fn run_briefly(
    args: &[&str],
    limit: std::time::Duration,
) -> (std::process::ExitStatus, String, std::time::Duration) {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut child = Command::new(augur_bin())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start augur");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status, stderr, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("augur {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_second_server_on_a_live_data_directory_is_refused_naming_the_lock() {
    if !require(is_root(), "root (eBPF sampling)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = start_up(&data, &[]).unwrap();
    let data_arg = data.to_str().unwrap();
    let free = ["--http", "127.0.0.1:0", "--ingest", "127.0.0.1:0"];
    let limit = std::time::Duration::from_secs(2);
    // A server, and a second `augur up`: both stop at once, naming the lock
    // and the process that holds it, not blaming capabilities.
    for command in ["server", "up"] {
        let mut args = vec![command, "--data-dir", data_arg];
        args.extend_from_slice(&free);
        let (status, stderr, took) = run_briefly(&args, std::time::Duration::from_secs(10));
        assert!(!status.success(), "{command}: {stderr}");
        assert!(took < limit, "{command}: refused only after {took:?}");
        assert!(stderr.contains("augur.lock"), "{command}: {stderr}");
        assert!(
            stderr.contains(&format!("pid {} (augur up", first.pid())),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("CAP_BPF"), "{command}: {stderr}");
    }
    // Once the first has stopped, the directory is free.
    first.terminate().unwrap();
    let second = start_server(&data, "127.0.0.1:0").unwrap();
    let base = second.http.as_deref().unwrap().trim_end_matches('/');
    let (status, body) = http_get(&format!("{base}/healthz")).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}
