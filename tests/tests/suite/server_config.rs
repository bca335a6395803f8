//! `augur server --config FILE`: the file's settings take effect (addresses,
//! a read token file, HTTPS on the web port), a flag on the command line
//! overrides the file, and a bad value stops the start naming file and key;
//! `augur up --server-config FILE` takes the same file.

use std::path::Path;
use std::process::Command;

use augur_tests::tls_front::TestCa;
use augur_tests::{AugurProcess, augur_bin, free_port};

const READ_TOKEN: &str = "read-token-from-the-config-file";

/// `curl` of `url` trusting `ca`: the HTTP status and body.
fn curl(url: &str, ca: &Path, token: Option<&str>) -> (u16, String) {
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"]);
    command.arg("--cacert").arg(ca);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = command.arg(url).output().expect("running curl");
    assert!(out.status.success(), "curl {url}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_owned())
}

#[test]
fn a_server_starts_from_its_config_file_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("augur config test CA");
    let ca_pem = ca.write_pem(dir.path(), "ca.pem").unwrap();
    let (cert_pem, key_pem) = ca.server_pem();
    let (cert, key) = (dir.path().join("web.crt"), dir.path().join("web.key"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    let tokens = dir.path().join("read.tokens");
    std::fs::write(&tokens, format!("{READ_TOKEN}\n")).unwrap();
    let (http, ingest) = (free_port(), free_port());
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            r#"
data_dir = "{data}"
http = "127.0.0.1:{http}"
ingest = "127.0.0.1:{ingest}"

[retention]
keep_hours = "30d"

[security]
read_token_file = "{tokens}"
http_tls_cert = "{cert}"
http_tls_key = "{key}"
"#,
            data = dir.path().join("data").display(),
            tokens = tokens.display(),
            cert = cert.display(),
            key = key.display(),
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();

    let server = AugurProcess::start(&["server", "--config", config_arg]).unwrap();
    let base = format!("https://127.0.0.1:{http}/");
    assert_eq!(server.http.as_deref(), Some(base.as_str()));
    assert_eq!(
        server.ingest.as_deref(),
        Some(format!("http://127.0.0.1:{ingest}").as_str())
    );
    // The file's read token file guards the API.
    let services = format!("{base}api/v1/services");
    assert_eq!(curl(&services, &ca_pem, None).0, 401);
    let (status, body) = curl(&services, &ca_pem, Some(READ_TOKEN));
    assert_eq!(status, 200, "{body}");
    assert!(server.terminate().unwrap().success());

    // A flag overrides the file's setting; the rest of the file holds.
    let other = free_port();
    let other_addr = format!("127.0.0.1:{other}");
    let server =
        AugurProcess::start(&["server", "--http", &other_addr, "--config", config_arg]).unwrap();
    let base = format!("https://{other_addr}/");
    assert_eq!(server.http.as_deref(), Some(base.as_str()));
    assert_eq!(
        server.ingest.as_deref(),
        Some(format!("http://127.0.0.1:{ingest}").as_str())
    );
    assert_eq!(
        curl(&format!("{base}api/v1/services"), &ca_pem, None).0,
        401
    );
    assert!(server.terminate().unwrap().success());

    // Bad settings stop the start at once, naming the file and the key.
    for (text, key) in [
        (
            "[retention]\nkeep_hours = \"three weeks\"\n",
            "retention.keep_hours",
        ),
        ("[retention]\nkeep_hour = \"3d\"\n", "keep_hour"),
        ("[limits]\nmax_labels = \"many\"\n", "max_labels"),
    ] {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        // `timeout`: a server that starts anyway fails the test, not hangs it.
        let out = Command::new("timeout")
            .arg("20")
            .arg(augur_bin())
            .args(["server", "--config", bad.to_str().unwrap()])
            .args(["--data-dir", dir.path().join("bad-data").to_str().unwrap()])
            .args(["--http", "127.0.0.1:0", "--ingest", "127.0.0.1:0"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}: started anyway");
        assert!(stderr.contains("bad.toml"), "{text}: {stderr}");
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
}

#[test]
fn augur_up_takes_the_server_keys_of_a_config_file() {
    if !augur_tests::require(augur_tests::is_root(), "root (eBPF) for augur up") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("read.tokens");
    std::fs::write(&tokens, format!("{READ_TOKEN}\n")).unwrap();
    let (http, ingest) = (free_port(), free_port());
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nhttp = \"127.0.0.1:{http}\"\ningest = \"127.0.0.1:{ingest}\"\n\
             [security]\nread_token_file = \"{}\"\n",
            dir.path().join("data").display(),
            tokens.display(),
        ),
    )
    .unwrap();
    let up = AugurProcess::start(&[
        "up",
        "--server-config",
        config.to_str().unwrap(),
        "--window",
        "2s",
    ])
    .unwrap();
    let base = format!("http://127.0.0.1:{http}/");
    assert_eq!(up.http.as_deref(), Some(base.as_str()));
    let (status, _) = augur_tests::http_get(&format!("{base}api/v1/services")).unwrap();
    assert_eq!(status, 401, "the file's read token file is in force");
    assert!(up.terminate().unwrap().success());
}
