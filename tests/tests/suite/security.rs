//! Strangers are kept out: real `augur` processes with real TLS (a CA and
//! certificates made by rcgen in a temporary directory) and token files.
//!
//! - ingest tokens: a push without one, or with a wrong one, is
//!   `UNAUTHENTICATED`; with the right one it is stored (direct gRPC and
//!   `augur loadgen`);
//! - web tokens: 401 without, read tokens read but get 403 on SQL, admin
//!   tokens do both, Basic auth works for browsers, `/healthz` stays open,
//!   `augur services`/`sql` send `--token-file`;
//! - TLS: loadgen (and the agent, as root) over `https://` store data; a
//!   plain-text client gets nothing;
//! - mutual TLS: no client certificate, or one from another CA, is refused;
//! - SIGHUP: new ingest handshakes get the new certificate, an open
//!   connection keeps pushing;
//! - anonymous ingest beyond loopback refuses to start, naming the flag.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use augur_agent::transport::{ClientSecurity, ClientTls, connect};
use augur_tests::*;
use augur_wire::batch::compress;
use augur_wire::ingest::ingest_client::IngestClient;
use augur_wire::ingest::{Batch, Binary, Frame, Process, PushRequest, Sample, UserFrame, frame};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

const INGEST_TOKEN: &str = "ingest-token-7f3a9c1d2e4b";
const READ_TOKEN: &str = "read-token-0a1b2c3d4e5f";
const ADMIN_TOKEN: &str = "admin-token-9f8e7d6c5b4a";

/// Writes `text` to `dir/name` and returns the path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A test PKI: one CA, a server certificate for 127.0.0.1 and localhost,
/// a client certificate from the same CA, and one from another CA.
struct Pki {
    ca: PathBuf,
    server_cert: String,
    server_key: String,
    client_cert: PathBuf,
    client_key: PathBuf,
    rogue_cert: PathBuf,
    rogue_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate signed by `issuer`, PEM certificate and key.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("augur"),
    );
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn new(dir: &Path) -> Self {
        let authority = ca("augur test CA");
        let rogue_authority = ca("someone else's CA");
        let (server_cert, server_key) = leaf(
            &authority,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = leaf(
            &authority,
            &["agent-1"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let (rogue_cert, rogue_key) = leaf(
            &rogue_authority,
            &["agent-1"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Self {
            ca: write(dir, "ca.pem", &authority.pem()).into(),
            server_cert: write(dir, "server.pem", &server_cert),
            server_key: write(dir, "server.key", &server_key),
            client_cert: write(dir, "client.pem", &client_cert).into(),
            client_key: write(dir, "client.key", &client_key).into(),
            rogue_cert: write(dir, "rogue.pem", &rogue_cert).into(),
            rogue_key: write(dir, "rogue.key", &rogue_key).into(),
        }
    }

    /// TLS settings of a client that trusts our CA and presents the given
    /// certificate, if any.
    fn client(&self, cert: Option<(&Path, &Path)>) -> ClientTls {
        ClientTls {
            ca: Some(self.ca.clone()),
            cert: cert.map(|c| c.0.to_owned()),
            key: cert.map(|c| c.1.to_owned()),
            server_name: None,
        }
    }
}

/// A small valid batch of `count` samples for `service`.
fn batch(service: &str, count: u64) -> Batch {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    Batch {
        host: "secure-host".into(),
        start_unix_nanos: now - 10_000_000_000,
        end_unix_nanos: now,
        profile_type: "cpu".into(),
        unit: "nanoseconds".into(),
        period: 10_000_000,
        binaries: vec![Binary {
            build_id: vec![0x7e; 20],
            path: "/nonexistent/secure".into(),
        }],
        processes: vec![Process {
            pid: 7,
            labels: [("service".to_string(), service.to_string())].into(),
        }],
        samples: vec![Sample {
            process: 0,
            frames: vec![Frame {
                kind: Some(frame::Kind::User(UserFrame {
                    binary: 0,
                    file_offset: 0x1000,
                })),
            }],
            count,
        }],
        dropped: Default::default(),
    }
}

/// Pushes one batch to `url` with `security`; the gRPC answer.
fn push(
    url: &str,
    security: &ClientSecurity,
    id: &str,
    service: &str,
) -> Result<(), tonic::Status> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel = connect(url, security, Some(Duration::from_secs(10))).unwrap();
        IngestClient::new(channel)
            .push(PushRequest {
                batch_id: id.into(),
                payload: compress(&batch(service, 25), 1).unwrap(),
            })
            .await
            .map(|_| ())
    })
}

fn token(text: &str) -> Option<augur_wire::auth::Token> {
    Some(text.parse().unwrap())
}

/// GET `url` with an optional `authorization` header; status, body and the
/// `www-authenticate` header.
fn get(url: &str, authorization: Option<&str>) -> (u16, String, Option<String>) {
    let mut request = ureq::get(url);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let mut response = request
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, body, challenge)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Samples stored for `service`, read with `authorization`.
fn stored(base: &str, service: &str, authorization: Option<&str>) -> u64 {
    let (status, body, _) = get(
        &format!("{base}api/v1/profile?service={service}&from=-1h&to=now"),
        authorization,
    );
    if status == 404 {
        return 0;
    }
    assert_eq!(status, 200, "{body}");
    let profile: serde_json::Value = serde_json::from_str(&body).unwrap();
    profile["total_samples"].as_u64().unwrap_or(0)
}

/// Waits up to 10 s for `service` to hold `expected` samples.
fn settle(base: &str, service: &str, authorization: Option<&str>, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = stored(base, service, authorization);
        if now == expected || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Runs `augur ARGS` to completion with extra environment; exit status,
/// stdout, stderr.
fn run_augur(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(augur_bin())
        .args(args)
        .env_remove("AUGUR_TOKEN")
        .env_remove("AUGUR_INGEST_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Stops a server that just announced itself. The signal handler is
/// installed right after the announcement: one request first makes sure a
/// SIGTERM finds it.
fn stop(server: AugurProcess) {
    let base = server.http.clone().unwrap();
    assert_eq!(get(&format!("{base}healthz"), None).0, 200);
    assert!(server.terminate().unwrap().success());
}

#[test]
fn tokens_guard_ingest_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let ingest_tokens = write(
        dir.path(),
        "ingest.tokens",
        &format!("# agents\n{INGEST_TOKEN}\n"),
    );
    let read_tokens = write(dir.path(), "read.tokens", &format!("{READ_TOKEN}\n"));
    let admin_tokens = write(dir.path(), "admin.tokens", &format!("{ADMIN_TOKEN}\n"));
    let server = start_server_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[
            "--ingest-token-file",
            &ingest_tokens,
            "--read-token-file",
            &read_tokens,
            "--admin-token-file",
            &admin_tokens,
        ],
    )
    .unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let read = bearer(READ_TOKEN);
    let admin = bearer(ADMIN_TOKEN);

    // gRPC: no token, a wrong token, a web token: all refused.
    for (what, sent) in [
        ("no token", None),
        ("a wrong token", token("ingest-token-7f3a9c1d2e4c")),
        ("a read token", token(READ_TOKEN)),
    ] {
        let security = ClientSecurity {
            token: sent,
            ..ClientSecurity::default()
        };
        let err = push(&ingest, &security, "refused-1", "guarded")
            .expect_err(&format!("a push with {what} was accepted"));
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{what}: {err:?}");
    }
    // The right token is stored.
    let good = ClientSecurity {
        token: token(INGEST_TOKEN),
        ..ClientSecurity::default()
    };
    push(&ingest, &good, "accepted-1", "guarded").unwrap();
    // Each refusal is counted.
    let (_, metrics, _) = get(&format!("{base}metrics"), Some(&read));
    assert!(
        metrics
            .lines()
            .any(|l| l == "augur_aggregator_batches_rejected_total{reason=\"unauthenticated\"} 3"),
        "{metrics}"
    );
    assert_eq!(settle(&base, "guarded", Some(&read), 25), 25);

    // loadgen: refused without the token, stored with it.
    let loadgen_args = |seed: &'static str| {
        vec![
            "loadgen",
            "--report",
            "json",
            "--server",
            &ingest,
            "--hosts",
            "2",
            "--services",
            "1",
            "--interval",
            "200ms",
            "--duration",
            "1s",
            "--seed",
            seed,
        ]
    };
    let (_, stdout, stderr) = run_augur(&loadgen_args("3"), &[]);
    let report: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(report["acknowledged"].as_u64(), Some(0), "{report}");
    assert!(report["errors"].as_u64().unwrap() > 0, "{report}");
    let mut with_token = loadgen_args("4");
    with_token.extend(["--ingest-token-file", &ingest_tokens]);
    let (ok, stdout, stderr) = run_augur(&with_token, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(report["acknowledged"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
    // The environment works as well as a file.
    let (ok, stdout, stderr) =
        run_augur(&loadgen_args("5"), &[("AUGUR_INGEST_TOKEN", INGEST_TOKEN)]);
    assert!(ok, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["errors"].as_u64(), Some(0), "{report}");

    // HTTP: nothing without a token but /healthz.
    let services = format!("{base}api/v1/services");
    let (status, body, challenge) = get(&services, None);
    assert_eq!(status, 401, "{body}");
    assert!(
        challenge.unwrap().starts_with("Basic"),
        "browsers get a login prompt"
    );
    assert_eq!(get(&services, Some("Bearer not-a-token-at-all")).0, 401);
    assert_eq!(get(&format!("{base}healthz"), None).0, 200);
    assert_eq!(get(&format!("{base}metrics"), None).0, 401);
    assert_eq!(get(&format!("{base}metrics"), Some(&read)).0, 200);
    assert_eq!(get(&base, None).0, 401, "the page needs a token too");
    // Read and admin tokens read; Basic with the token as password too.
    assert_eq!(get(&services, Some(&read)).0, 200);
    assert_eq!(get(&services, Some(&admin)).0, 200);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("me:{READ_TOKEN}"));
    assert_eq!(get(&services, Some(&format!("Basic {basic}"))).0, 200);
    // Only admin tokens run SQL.
    let sql = format!("{base}api/v1/sql?q=SELECT%201");
    let (status, body, _) = get(&sql, Some(&read));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("admin"), "{body}");
    assert_eq!(get(&sql, None).0, 401);
    let (status, body, _) = get(&sql, Some(&admin));
    assert_eq!(status, 200, "{body}");

    // The CLI sends --token-file or AUGUR_TOKEN.
    let (ok, _, stderr) = run_augur(&["services", "--server", &base], &[]);
    assert!(!ok && stderr.contains("401"), "{stderr}");
    let (ok, stdout, stderr) = run_augur(
        &["services", "--server", &base, "--token-file", &read_tokens],
        &[],
    );
    assert!(ok && stdout.contains("guarded"), "{stdout}\n{stderr}");
    let (ok, stdout, stderr) = run_augur(
        &["services", "--server", &base],
        &[("AUGUR_TOKEN", READ_TOKEN)],
    );
    assert!(ok && stdout.contains("guarded"), "{stdout}\n{stderr}");
    let (ok, _, stderr) = run_augur(
        &[
            "sql",
            "SELECT 1",
            "--server",
            &base,
            "--token-file",
            &read_tokens,
        ],
        &[],
    );
    assert!(!ok && stderr.contains("403"), "{stderr}");
    let (ok, stdout, stderr) = run_augur(
        &[
            "sql",
            "SELECT 1",
            "--server",
            &base,
            "--token-file",
            &admin_tokens,
        ],
        &[],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(server.terminate().unwrap().success());
}

#[test]
fn tls_and_mutual_tls_keep_out_clients_without_the_right_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());

    // TLS without client certificates.
    let server = start_server_with(
        &dir.path().join("tls"),
        "127.0.0.1:0",
        &["--tls-cert", &pki.server_cert, "--tls-key", &pki.server_key],
    )
    .unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    assert!(ingest.starts_with("https://"), "{ingest}");
    let trusting = ClientSecurity {
        tls: pki.client(None),
        token: None,
    };
    push(&ingest, &trusting, "tls-1", "over-tls").unwrap();
    assert_eq!(settle(&base, "over-tls", None, 25), 25);
    // Plain text to a TLS port gets nowhere, and neither does a client
    // that does not trust our CA.
    let plain = ingest.replacen("https://", "http://", 1);
    assert!(push(&plain, &ClientSecurity::default(), "tls-2", "over-tls").is_err());
    assert!(push(&ingest, &ClientSecurity::default(), "tls-3", "over-tls").is_err());
    // The name checked can differ from the URL's host.
    let named = ClientSecurity {
        tls: ClientTls {
            server_name: Some("localhost".into()),
            ..pki.client(None)
        },
        token: None,
    };
    push(&ingest, &named, "tls-4", "over-tls").unwrap();
    // loadgen over TLS: everything it acknowledged is stored.
    let ca = pki.ca.to_str().unwrap();
    let (ok, stdout, stderr) = run_augur(
        &[
            "loadgen",
            "--report",
            "json",
            "--server",
            &ingest,
            "--tls-ca",
            ca,
            "--hosts",
            "3",
            "--services",
            "1",
            "--interval",
            "200ms",
            "--duration",
            "2s",
            "--seed",
            "11",
        ],
        &[],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let acknowledged = report["samples_acknowledged"].as_u64().unwrap();
    assert!(
        acknowledged > 0 && report["errors"].as_u64() == Some(0),
        "{report}"
    );
    let total: u64 = http_json(&format!("{base}api/v1/services")).unwrap()["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["samples"].as_u64().unwrap())
        .sum();
    assert_eq!(total, acknowledged + 50, "{report}");
    assert!(server.terminate().unwrap().success());

    // Mutual TLS, beyond loopback: the client CA alone is authentication
    // enough to start.
    let port = free_port();
    let server = start_server_with(
        &dir.path().join("mtls"),
        &format!("0.0.0.0:{port}"),
        &[
            "--tls-cert",
            &pki.server_cert,
            "--tls-key",
            &pki.server_key,
            "--tls-client-ca",
            pki.ca.to_str().unwrap(),
        ],
    )
    .unwrap();
    let base = server.http.clone().unwrap();
    let ingest = format!("https://127.0.0.1:{port}");
    let no_cert = ClientSecurity {
        tls: pki.client(None),
        token: None,
    };
    let err = push(&ingest, &no_cert, "mtls-1", "mutual").unwrap_err();
    assert_ne!(err.code(), tonic::Code::Ok, "{err:?}");
    let rogue = ClientSecurity {
        tls: pki.client(Some((&pki.rogue_cert, &pki.rogue_key))),
        token: None,
    };
    assert!(push(&ingest, &rogue, "mtls-2", "mutual").is_err());
    let member = ClientSecurity {
        tls: pki.client(Some((&pki.client_cert, &pki.client_key))),
        token: None,
    };
    push(&ingest, &member, "mtls-3", "mutual").unwrap();
    assert_eq!(
        settle(&base, "mutual", None, 25),
        25,
        "only the member's batch"
    );

    // The agent itself over mutual TLS (needs root for eBPF).
    if require(is_root(), "root (eBPF) for the agent over TLS") {
        let (agent, metrics) = AugurProcess::start_and_wait_for(
            &[
                "agent",
                "--server",
                &ingest,
                "--tls-ca",
                ca,
                "--tls-cert",
                pki.client_cert.to_str().unwrap(),
                "--tls-key",
                pki.client_key.to_str().unwrap(),
                "--window",
                "1s",
                "--spool-dir",
                dir.path().join("spool").to_str().unwrap(),
                "--metrics",
                "127.0.0.1:0",
            ],
            "augur: agent metrics on ",
        )
        .unwrap();
        let metrics = metrics.trim().to_owned();
        wait_until(
            "the agent's first acknowledged batch",
            Duration::from_secs(30),
            || try_metric(&metrics, "augur_agent_batches_sent_total").unwrap_or(0.0) >= 1.0,
        );
        assert!(agent.terminate().unwrap().success());
        let services = http_json(&format!("{base}api/v1/services")).unwrap();
        assert!(
            services["services"].as_array().unwrap().len() > 1,
            "the agent's processes are stored: {services}"
        );
    }
    assert!(server.terminate().unwrap().success());
}

#[test]
fn sighup_gives_new_ingest_handshakes_a_new_certificate_and_keeps_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let mut server = start_server_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--tls-cert", &pki.server_cert, "--tls-key", &pki.server_key],
    )
    .unwrap();
    let ingest = server.ingest.clone().unwrap();
    let old_ca = ClientSecurity {
        tls: pki.client(None),
        token: None,
    };
    push(&ingest, &old_ca, "reload-1", "reloaded").unwrap();
    // One HTTP/2 connection, opened before the reload and used after it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut kept = runtime.block_on(async {
        let channel = connect(&ingest, &old_ca, Some(Duration::from_secs(10))).unwrap();
        let mut client = IngestClient::new(channel);
        client
            .push(PushRequest {
                batch_id: "reload-2".into(),
                payload: compress(&batch("reloaded", 25), 1).unwrap(),
            })
            .await
            .unwrap();
        client
    });

    // A certificate from another CA over the same files; SIGHUP.
    let new_ca = augur_tests::tls_front::TestCa::new("augur ingest reload CA");
    let new_ca_pem = new_ca.write_pem(dir.path(), "new-ca.pem").unwrap();
    let (cert, key) = new_ca.server_pem();
    write(dir.path(), "server.pem", &cert);
    write(dir.path(), "server.key", &key);
    let pid = server.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    server
        .wait_for_line("augur: reloaded", Duration::from_secs(20))
        .unwrap();

    let new_client = ClientSecurity {
        tls: ClientTls {
            ca: Some(new_ca_pem),
            ..pki.client(None)
        },
        token: None,
    };
    push(&ingest, &new_client, "reload-3", "reloaded").unwrap();
    assert!(
        push(&ingest, &old_ca, "reload-4", "reloaded").is_err(),
        "a new handshake still got the old certificate"
    );
    // The connection from before still pushes: it would fail to connect
    // again trusting only the old CA.
    runtime
        .block_on(kept.push(PushRequest {
            batch_id: "reload-5".into(),
            payload: compress(&batch("reloaded", 25), 1).unwrap(),
        }))
        .unwrap();
    let base = server.http.clone().unwrap();
    assert_eq!(settle(&base, "reloaded", None, 100), 100);
    assert!(server.terminate().unwrap().success());
}

#[test]
fn anonymous_ingest_beyond_loopback_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let exposed = format!("0.0.0.0:{}", free_port());
    let args = |extra: &[&str]| -> Vec<String> {
        [
            "server",
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--ingest",
            &exposed,
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let refused: Vec<String> = args(&[]);
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    let (ok, _, stderr) = run_augur(&refused, &[]);
    assert!(!ok, "started with anonymous ingest on {exposed}");
    assert!(
        stderr.contains("--ingest-token-file") && stderr.contains("--allow-anonymous-ingest"),
        "the error names the flags: {stderr}"
    );
    // `augur up` refuses the same way.
    let (ok, _, stderr) = run_augur(
        &[
            "up",
            "--data-dir",
            data.to_str().unwrap(),
            "--ingest",
            &exposed,
            "--http",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert!(!ok && stderr.contains("--ingest-token-file"), "{stderr}");

    // A token makes it fine; so does saying so.
    let tokens = write(dir.path(), "ingest.tokens", INGEST_TOKEN);
    let with_token = args(&["--ingest-token-file", &tokens]);
    let with_token: Vec<&str> = with_token.iter().map(String::as_str).collect();
    let server = AugurProcess::start(&with_token).unwrap();
    stop(server);
    let allowed = args(&["--allow-anonymous-ingest"]);
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let server = AugurProcess::start(&allowed).unwrap();
    stop(server);

    // A web server beyond loopback without tokens serves reads but not SQL.
    let web_port = free_port();
    let web_data = dir.path().join("web");
    let server = AugurProcess::start(&[
        "server",
        "--data-dir",
        web_data.to_str().unwrap(),
        "--ingest",
        "127.0.0.1:0",
        "--http",
        &format!("0.0.0.0:{web_port}"),
    ])
    .unwrap();
    let base = format!("http://127.0.0.1:{web_port}/");
    assert_eq!(get(&format!("{base}api/v1/services"), None).0, 200);
    let (status, body, _) = get(&format!("{base}api/v1/sql?q=SELECT%201"), None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--admin-token-file"), "{body}");
    assert!(server.terminate().unwrap().success());
    // Bad secrets stop the start with the file's name.
    let short = write(dir.path(), "short.tokens", "tiny\n");
    let (ok, _, stderr) = run_augur(
        &[
            "server",
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--ingest",
            "127.0.0.1:0",
            "--ingest-token-file",
            &short,
        ],
        &[],
    );
    assert!(!ok && stderr.contains("short.tokens"), "{stderr}");
}

#[test]
fn up_with_an_ingest_token_feeds_its_own_agent() {
    if !require(is_root(), "root (eBPF) for augur up") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = write(dir.path(), "ingest.tokens", INGEST_TOKEN);
    let read_tokens = write(dir.path(), "read.tokens", READ_TOKEN);
    let up = start_up(
        &dir.path().join("data"),
        &[
            "--ingest-token-file",
            &tokens,
            "--read-token-file",
            &read_tokens,
        ],
    )
    .unwrap();
    let base = up.http.clone().unwrap();
    let read = bearer(READ_TOKEN);
    // The embedded agent shows the server's token: its batches are stored.
    wait_until(
        "the embedded agent's samples",
        Duration::from_secs(30),
        || {
            let (status, body, _) = get(&format!("{base}api/v1/services"), Some(&read));
            assert_eq!(status, 200, "{body}");
            let services: serde_json::Value = serde_json::from_str(&body).unwrap();
            !services["services"].as_array().unwrap().is_empty()
        },
    );
    // Other clients still need it.
    let ingest = up.ingest.clone().unwrap();
    let err = push(&ingest, &ClientSecurity::default(), "up-1", "stranger").unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(up.terminate().unwrap().success());
}
