//! HTTPS out: every HTTP client of `augur` speaks TLS, through a TLS front
//! (`augur_tests::tls_front`, a test CA made by rcgen) before real servers.
//!
//! - debuginfod: Debian's `debuginfod -F DIR` behind the front names a
//!   stripped fixture through `--debuginfod https://… --debuginfod-ca`, and
//!   through `DEBUGINFOD_URLS` with the CA in `SSL_CERT_FILE`;
//! - a wrong CA fails a fetch at once with an error saying the certificate
//!   is not trusted, and so does the CLI;
//! - the CLI (`augur services`) reaches a web API over `https://` with
//!   `--tls-ca`;
//! - ClickHouse over `https://` with a user and password: the server stores
//!   and reads through the front, the password travels in a header and is
//!   never in a request line, and a wrong password's error does not show
//!   it; then the same through ClickHouse's own `https_port`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use augur_http_client::Trust;
use augur_profile::FileId;
use augur_symbolizer::debuginfod::FetchMiss;
use augur_symbolizer::{DebuginfodClient, DebuginfodConfig};
use augur_tests::clickhouse::{ClickHouseNode, NodeSetup, clickhouse_installed};
use augur_tests::tls_front::{TestCa, TlsFront};
use augur_tests::*;

/// A debuginfod server on loopback, killed when dropped.
struct Debuginfod(Child);

impl Drop for Debuginfod {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed: {status}");
}

/// The loopback address of an `http://127.0.0.1:PORT[/]` URL.
fn address_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// How many requests for `/buildid/` went through `front`.
fn buildid_requests(front: &TlsFront) -> usize {
    front
        .request_lines()
        .iter()
        .filter(|l| l.starts_with("GET /buildid/"))
        .count()
}

#[test]
fn debuginfod_over_https_names_stripped_frames_by_flag_and_by_environment() {
    if !require(is_root(), "root (eBPF sampling)")
        || !require(have("debuginfod", "--version"), "debuginfod (elfutils)")
        || !require(have("objcopy", "--version"), "objcopy (binutils)")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = "augur-fixture-https";
    // A build-id of its own, so no other test's copy of the fixture can
    // offer symbols.
    let fixture = build_fixture_with(dir.path(), "split.c", name, &["-DAUGUR_VARIANT=32"]).unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let debug_file = served.join(format!("{name}.debug"));
    run(
        "objcopy",
        &[
            "--only-keep-debug",
            fixture.to_str().unwrap(),
            debug_file.to_str().unwrap(),
        ],
    );
    run("strip", &["--strip-all", fixture.to_str().unwrap()]);

    let port = free_port();
    let _server = Debuginfod(
        Command::new("debuginfod")
            .args([
                "-F",
                served.to_str().unwrap(),
                "-p",
                &port.to_string(),
                "-d",
            ])
            .arg(dir.path().join("debuginfod.sqlite"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ca = TestCa::new("augur debuginfod test CA");
    let ca_file = ca.write_pem(dir.path(), "ca.pem").unwrap();
    let front = TlsFront::start(&ca, SocketAddr::from(([127, 0, 0, 1], port))).unwrap();

    // 1. The flag, with the CA file flag.
    let up = start_up(
        &dir.path().join("data-flag"),
        &[
            "--debuginfod",
            &front.url,
            "--debuginfod-ca",
            ca_file.to_str().unwrap(),
            "--symbol-retry",
            "2s",
        ],
    )
    .unwrap();
    let base = up.http.clone().unwrap();
    assert!(Command::new(&fixture).arg("5").status().unwrap().success());
    let profile = wait_for_split_profile(&base, name, "-10m", 150);
    assert_split(
        &json_stacks(&profile),
        "named from debuginfod over https (flag)",
    );
    assert!(up.terminate().unwrap().success());
    let by_flag = buildid_requests(&front);
    assert!(by_flag > 0, "no debuginfod request went through the front");

    // 2. DEBUGINFOD_URLS (an unreachable server first, as a list may
    // hold), the CA in SSL_CERT_FILE, and a fresh cache.
    let urls = format!("http://127.0.0.1:1 {}", front.url);
    let up = start_up_with_env(
        &dir.path().join("data-env"),
        &["--symbol-retry", "2s"],
        &[
            ("DEBUGINFOD_URLS", &urls),
            ("SSL_CERT_FILE", ca_file.to_str().unwrap()),
        ],
    )
    .unwrap();
    let base = up.http.clone().unwrap();
    assert!(Command::new(&fixture).arg("5").status().unwrap().success());
    let profile = wait_for_split_profile(&base, name, "-10m", 150);
    assert_split(
        &json_stacks(&profile),
        "named from debuginfod over https (DEBUGINFOD_URLS)",
    );
    assert!(up.terminate().unwrap().success());
    assert!(
        buildid_requests(&front) > by_flag,
        "DEBUGINFOD_URLS did not lead to the front: {:?}",
        front.request_lines()
    );
}

#[test]
fn a_wrong_ca_fails_a_debuginfod_fetch_at_once_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("the front's CA");
    let other = TestCa::new("someone else's CA");
    let other_file = other.write_pem(dir.path(), "other.pem").unwrap();
    // A backend that is never reached: the handshake fails first.
    let front = TlsFront::start(&ca, SocketAddr::from(([127, 0, 0, 1], 1))).unwrap();

    let mut config = DebuginfodConfig::new(vec![front.url.clone()], dir.path().join("cache"));
    config.trust = Trust::from_ca_file(Some(&other_file)).unwrap();
    config.timeout = Duration::from_secs(30);
    let mut client = DebuginfodClient::new(config);
    let id = FileId::from_bytes(&[0x5a; 20]).unwrap();
    let started = Instant::now();
    let miss = client.fetch(&id);
    let took = started.elapsed();
    let Err(FetchMiss::NotFound(reason)) = miss else {
        panic!("a fetch from an untrusted server must fail: {miss:?}");
    };
    assert!(
        reason.contains("not trusted") && reason.contains(&front.url),
        "the error must name the server and the untrusted certificate: {reason}"
    );
    assert!(
        took < Duration::from_secs(10),
        "an untrusted certificate must fail at once, not wait for the timeout: {took:?}"
    );
    assert!(front.request_lines().is_empty(), "nothing may be sent");

    // The same for the system's roots, which do not hold a test CA.
    let mut config = DebuginfodConfig::new(vec![front.url.clone()], dir.path().join("cache"));
    config.timeout = Duration::from_secs(30);
    let mut client = DebuginfodClient::new(config);
    let Err(FetchMiss::NotFound(reason)) = client.fetch(&id) else {
        panic!("the system's roots must not trust a test CA");
    };
    assert!(reason.contains("not trusted"), "{reason}");
}

/// `augur services` against `server`, with `--tls-ca` if given; answers
/// whether it succeeded, its stdout and its stderr.
fn services(server: &str, ca: Option<&Path>) -> (bool, String, String) {
    let mut command = Command::new(augur_bin());
    command.args(["services", "--server", server]);
    if let Some(ca) = ca {
        command.arg("--tls-ca").arg(ca);
    }
    let output = command.env_remove("SSL_CERT_FILE").output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_cli_reaches_a_web_api_over_https_with_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let ingest = server.ingest.clone().unwrap();
    loadgen(&[
        "--server",
        &ingest,
        "--hosts",
        "2",
        "--services",
        "1",
        "--interval",
        "250ms",
        "--duration",
        "2s",
    ]);
    let base = server.http.clone().unwrap();
    wait_until("loadgen's samples stored", Duration::from_secs(30), || {
        stored_samples(&base) > 0
    });
    let ca = TestCa::new("augur web test CA");
    let ca_file = ca.write_pem(dir.path(), "ca.pem").unwrap();
    let other_file = TestCa::new("another CA")
        .write_pem(dir.path(), "other.pem")
        .unwrap();
    let front = TlsFront::start(&ca, address_of(&base)).unwrap();

    let (ok, plain, _) = services(&base, None);
    assert!(ok, "augur services over http failed");
    let (ok, over_tls, stderr) = services(&front.url, Some(&ca_file));
    assert!(ok, "augur services over https failed: {stderr}");
    assert!(!over_tls.is_empty(), "no service listed over https");
    assert_eq!(over_tls, plain, "https must list what http lists");

    for ca in [Some(other_file.as_path()), None] {
        let (ok, _, stderr) = services(&front.url, ca);
        assert!(!ok, "an untrusted server must fail (CA {ca:?})");
        assert!(
            stderr.contains("not trusted") && stderr.contains(&front.url),
            "the error must name the server and the untrusted certificate: {stderr}"
        );
    }
    assert!(server.terminate().unwrap().success());
}

#[test]
fn clickhouse_over_https_sends_the_password_in_a_header_only() {
    if !require(clickhouse_installed(), "clickhouse-server") {
        return;
    }
    const USER: &str = "augur_tls";
    const PASSWORD: &str = "pw-over-tls-6d1c9e";
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("augur clickhouse test CA");
    let ca_file = ca.write_pem(dir.path(), "ca.pem").unwrap();
    let (cert, key) = ca.server_pem();
    let node = ClickHouseNode::start_with(
        &dir.path().join("clickhouse"),
        5_368_709,
        &NodeSetup {
            user: Some((USER, PASSWORD)),
            tls: Some((&cert, &key)),
        },
    )
    .unwrap();
    let front = TlsFront::start(&ca, address_of(&node.url)).unwrap();
    let data = dir.path().join("data");
    let server_args = |url: &str| {
        vec![
            "server".to_owned(),
            "--data-dir".into(),
            data.to_str().unwrap().into(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--ingest".into(),
            "127.0.0.1:0".into(),
            "--clickhouse".into(),
            url.into(),
            "--clickhouse-ca".into(),
            ca_file.to_str().unwrap().into(),
            "--clickhouse-user".into(),
            USER.into(),
            "--clickhouse-database".into(),
            "over_tls".into(),
        ]
    };

    // A wrong password: the server refuses to start, saying why, and the
    // password is not in what it prints.
    let wrong = "wrong-pw-3b7f01";
    let output = Command::new(augur_bin())
        .args(server_args(&front.url))
        .env("AUGUR_CLICKHOUSE_PASSWORD", wrong)
        .env("AUGUR_LOG", "debug")
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "a wrong password must fail: {printed}"
    );
    assert!(
        printed.contains("ClickHouse") && printed.to_lowercase().contains("password"),
        "the error must say ClickHouse refused the password: {printed}"
    );
    assert!(
        !printed.contains(wrong),
        "the password was printed: {printed}"
    );

    // The right one: stored and read through the front.
    let args = server_args(&front.url);
    let server = AugurProcess::start_with_env(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("AUGUR_CLICKHOUSE_PASSWORD", PASSWORD)],
    )
    .unwrap();
    let ingest = server.ingest.clone().unwrap();
    loadgen(&[
        "--server",
        &ingest,
        "--hosts",
        "2",
        "--services",
        "1",
        "--interval",
        "250ms",
        "--duration",
        "2s",
    ]);
    let base = server.http.clone().unwrap();
    wait_until(
        "samples stored in ClickHouse over https",
        Duration::from_secs(60),
        || stored_samples(&base) > 0,
    );
    let stored = stored_samples(&base);
    let (status, output) = server.terminate_with_output().unwrap();
    assert!(status.success());
    assert!(
        !output.iter().any(|line| line.contains(PASSWORD)),
        "the password was printed"
    );

    let lines = front.request_lines();
    assert!(
        lines.iter().filter(|l| l.starts_with("POST /?")).count() >= 3,
        "the statements did not go through the TLS front: {lines:?}"
    );
    for line in &lines {
        assert!(!line.contains(PASSWORD), "the password is in a URL: {line}");
        assert!(
            !line.contains("password="),
            "a password is in a URL: {line}"
        );
    }
    let sent = String::from_utf8_lossy(&front.sent()).to_lowercase();
    assert!(
        sent.contains(&format!("x-clickhouse-key: {}", PASSWORD.to_lowercase())),
        "the password must travel in the X-ClickHouse-Key header"
    );
    assert!(
        sent.contains(&format!("x-clickhouse-user: {USER}")),
        "the user must travel in the X-ClickHouse-User header"
    );

    // ClickHouse's own HTTPS port (its OpenSSL, not our front): what was
    // stored is read back, and more is stored.
    let https_url = node.https_url.clone().unwrap();
    let args = server_args(&https_url);
    let server = AugurProcess::start_with_env(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("AUGUR_CLICKHOUSE_PASSWORD", PASSWORD)],
    )
    .unwrap();
    let base = server.http.clone().unwrap();
    assert_eq!(
        stored_samples(&base),
        stored,
        "the samples stored through the front must be read over ClickHouse's https"
    );
    let ingest = server.ingest.clone().unwrap();
    loadgen(&[
        "--server",
        &ingest,
        "--hosts",
        "2",
        "--services",
        "1",
        "--interval",
        "250ms",
        "--duration",
        "2s",
        // Other batch ids than the first run's, which are stored already.
        "--seed",
        "2",
    ]);
    wait_until(
        "samples stored over ClickHouse's https",
        Duration::from_secs(60),
        || stored_samples(&base) > stored,
    );
    assert!(server.terminate().unwrap().success());
}
