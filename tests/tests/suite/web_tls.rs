//! HTTPS on the web port (`--http-tls-cert`, `--http-tls-key`): curl with
//! the test CA reads `/healthz` and a profile, plain HTTP gets no data, and
//! SIGHUP swaps the certificate and the read tokens for new connections
//! while a connection opened before keeps working.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use augur_tests::tls_front::TestCa;
use augur_tests::{AugurProcess, is_root, require, start_up, wait_until};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

const READ_OLD: &str = "read-token-before-the-reload";
const READ_NEW: &str = "read-token-after-the-reload";

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Writes a fresh server certificate of `ca` over `cert` and `key`.
fn write_server_pair(ca: &TestCa, cert: &Path, key: &Path) {
    let (cert_pem, key_pem) = ca.server_pem();
    write(cert, &cert_pem);
    write(key, &key_pem);
}

/// `curl` of `url` trusting `ca`, with an optional bearer token: curl's
/// exit code, the HTTP status and the body.
fn curl(url: &str, ca: Option<&Path>, token: Option<&str>) -> (i32, u16, String) {
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"]);
    if let Some(ca) = ca {
        command.arg("--cacert").arg(ca);
    }
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = command.arg(url).output().expect("running curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        status.trim().parse().unwrap_or(0),
        body.to_owned(),
    )
}

fn sighup(process: &AugurProcess) {
    let pid = process.pid().to_string();
    let sent = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(sent.success());
}

/// One HTTP/1.1 connection over rustls, kept alive between requests.
struct KeptConnection {
    stream: BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
}

impl KeptConnection {
    fn open(addr: &str, ca: &Path) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Self {
            stream: BufReader::new(rustls::StreamOwned::new(connection, tcp)),
        }
    }

    /// GET `path` on this connection: status and body (the server sends a
    /// content-length for these answers).
    fn get(&mut self, path: &str, token: &str) -> (u16, String) {
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n\r\n"
        );
        let inner = self.stream.get_mut();
        inner.write_all(request.as_bytes()).unwrap();
        inner.flush().unwrap();
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {status_line:?}"));
        let mut length = None;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
            assert!(
                !(name.eq_ignore_ascii_case("connection") && value.trim() == "close"),
                "the server closes the kept connection"
            );
        }
        let mut body = vec![0; length.expect("a content-length")];
        self.stream.read_exact(&mut body).unwrap();
        (status, String::from_utf8(body).unwrap())
    }
}

/// A raw plain-HTTP request to `addr`: everything the server answers.
fn plain_http(addr: &str, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {READ_OLD}\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn https_on_the_web_port_and_sighup_swaps_certificate_and_tokens() {
    if !require(is_root(), "root (eBPF) for augur up") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("web.crt"), dir.path().join("web.key"));
    let old_ca = TestCa::new("augur web test CA 1");
    let old_ca_pem = old_ca.write_pem(dir.path(), "ca1.pem").unwrap();
    write_server_pair(&old_ca, &cert, &key);
    let read_tokens = dir.path().join("read.tokens");
    write(&read_tokens, &format!("{READ_OLD}\n"));
    let mut up = start_up(
        &dir.path().join("data"),
        &[
            "--http-tls-cert",
            cert.to_str().unwrap(),
            "--http-tls-key",
            key.to_str().unwrap(),
            "--read-token-file",
            read_tokens.to_str().unwrap(),
        ],
    )
    .unwrap();
    let base = up.http.clone().unwrap();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let addr = base
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();

    // HTTPS with the CA: health, then a profile of the embedded agent.
    let (code, status, body) = curl(&format!("{base}healthz"), Some(&old_ca_pem), None);
    assert_eq!((code, status, body.as_str()), (0, 200, "ok"));
    let mut service = String::new();
    wait_until("a service over HTTPS", Duration::from_secs(60), || {
        let (code, status, body) = curl(
            &format!("{base}api/v1/services"),
            Some(&old_ca_pem),
            Some(READ_OLD),
        );
        assert_eq!((code, status), (0, 200), "{body}");
        let services: serde_json::Value = serde_json::from_str(&body).unwrap();
        match services["services"].as_array().unwrap().first() {
            Some(first) => {
                service = first["name"].as_str().unwrap().to_owned();
                true
            }
            None => false,
        }
    });
    let profile_path = format!("api/v1/profile?service={service}&format=folded");
    let (code, status, profile) = curl(
        &format!("{base}{profile_path}"),
        Some(&old_ca_pem),
        Some(READ_OLD),
    );
    assert_eq!((code, status), (0, 200), "{profile}");
    let first_stack = profile
        .lines()
        .find(|line| line.rsplit_once(' ').is_some())
        .unwrap_or_else(|| panic!("an empty profile over HTTPS: {profile:?}"))
        .to_owned();
    // Without the CA, curl refuses the certificate.
    let (code, _, _) = curl(&format!("{base}healthz"), None, None);
    assert_ne!(code, 0, "curl trusted the test CA without being told to");

    // Plain HTTP to the same port: a 400 naming HTTPS, never the profile.
    let answer = plain_http(&addr, &format!("/{profile_path}"));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("https://"), "{answer:?}");
    assert!(!answer.contains(&first_stack), "plain HTTP got data");
    let (_, status, plain) = curl(
        &format!("http://{addr}/{profile_path}"),
        None,
        Some(READ_OLD),
    );
    assert_eq!(status, 400, "{plain}");
    assert!(
        !plain.contains(&first_stack),
        "plain HTTP got data: {plain}"
    );

    // A connection opened before the reload.
    let mut kept = KeptConnection::open(&addr, &old_ca_pem);
    assert_eq!(kept.get("/healthz", READ_OLD), (200, "ok".to_owned()));

    // A new certificate from a new CA and a new read token; SIGHUP.
    let new_ca = TestCa::new("augur web test CA 2");
    let new_ca_pem = new_ca.write_pem(dir.path(), "ca2.pem").unwrap();
    write_server_pair(&new_ca, &cert, &key);
    write(&read_tokens, &format!("{READ_NEW}\n"));
    sighup(&up);
    up.wait_for_line("augur: reloaded", Duration::from_secs(20))
        .unwrap();
    assert!(up.is_running(), "SIGHUP stopped the server");

    // New connections: the new CA works, the old one no longer does.
    let (code, status, body) = curl(&format!("{base}healthz"), Some(&new_ca_pem), None);
    assert_eq!((code, status, body.as_str()), (0, 200, "ok"));
    let (code, _, _) = curl(&format!("{base}healthz"), Some(&old_ca_pem), None);
    assert_ne!(code, 0, "a new connection still got the old certificate");
    // The new token reads, the old one is refused.
    let services = format!("{base}api/v1/services");
    let (code, status, body) = curl(&services, Some(&new_ca_pem), Some(READ_NEW));
    assert_eq!((code, status), (0, 200), "{body}");
    let (code, status, body) = curl(&services, Some(&new_ca_pem), Some(READ_OLD));
    assert_eq!((code, status), (0, 401), "{body}");

    // The connection from before the reload still serves, under the new
    // tokens.
    let (status, body) = kept.get("/api/v1/services", READ_NEW);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&service), "{body}");
    let (status, _) = kept.get("/api/v1/services", READ_OLD);
    assert_eq!(status, 401);

    // A broken certificate file on the next SIGHUP keeps the one in use.
    write(&cert, "not a certificate\n");
    sighup(&up);
    up.wait_for_line("augur: reload failed", Duration::from_secs(20))
        .unwrap();
    let (code, status, _) = curl(&format!("{base}healthz"), Some(&new_ca_pem), None);
    assert_eq!((code, status), (0, 200));
    assert!(up.terminate().unwrap().success());
}
