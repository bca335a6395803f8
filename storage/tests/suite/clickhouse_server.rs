//! Real ClickHouse servers for the conformance suite: Debian's
//! `clickhouse-server`, started once per test binary in temporary
//! directories on loopback ports. Two of them form a two-shard cluster
//! (`augur_test`); each test gets its own database, so tests share the
//! servers without seeing each other's rows.
//!
//! A watcher shell kills the servers when the test process is gone, so no
//! server outlives its tests. Without `clickhouse-server` the ClickHouse
//! half of each test is skipped loudly, or fails under `AUGUR_REQUIRE_ALL=1`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The two servers' HTTP URLs, once started.
struct Servers {
    urls: [String; 2],
    /// The watcher shells; they end with this process.
    _watchers: Vec<std::process::Child>,
    _dir: tempfile::TempDir,
}

static SERVERS: OnceLock<Option<Servers>> = OnceLock::new();

/// Name of the two-shard cluster in both servers' configuration.
pub const CLUSTER: &str = "augur_test";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &Path, http: u16, tcp: u16, shards: [u16; 2]) -> String {
    let shard = |port: u16| {
        format!("<shard><replica><host>127.0.0.1</host><port>{port}</port></replica></shard>")
    };
    format!(
        r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>5368709</mark_cache_size>
    <remote_servers><{CLUSTER}>{a}{b}</{CLUSTER}></remote_servers>
</yandex>
"#,
        dir = dir.display(),
        a = shard(shards[0]),
        b = shard(shards[1]),
    )
}

const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users><default><password></password>
        <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
"#;

fn start() -> Option<Servers> {
    let found = Command::new("sh")
        .args(["-c", "command -v clickhouse-server"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var_os("AUGUR_REQUIRE_ALL").is_some_and(|v| v == "1") {
            panic!("clickhouse-server is required (AUGUR_REQUIRE_ALL=1) but not installed");
        }
        eprintln!("SKIPPED: clickhouse-server not installed; the ClickHouse backend is not tested");
        return None;
    }
    let root = tempfile::tempdir().expect("temp dir");
    let tcp = [free_port(), free_port()];
    let http = [free_port(), free_port()];
    let me = std::process::id();
    let mut watchers = Vec::new();
    for i in 0..2 {
        let dir: PathBuf = root.path().join(format!("shard{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users.xml"), USERS).unwrap();
        let config_path = dir.join("config.xml");
        std::fs::write(&config_path, config(&dir, http[i], tcp[i], tcp)).unwrap();
        // The watcher: kill the server once this test process is gone.
        let script = format!(
            "clickhouse-server --config-file={} >{}/server.log 2>&1 & ch=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $ch 2>/dev/null; do sleep 1; done; kill -9 $ch",
            config_path.display(),
            dir.display()
        );
        let watcher = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server");
        watchers.push(watcher);
    }
    let urls = http.map(|p| format!("http://127.0.0.1:{p}"));
    for (i, url) in urls.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = ureq::get(&format!("{url}/ping")).call().is_ok();
            if up {
                break;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(root.path().join(format!("shard{i}/server.log")))
                    .unwrap_or_default();
                panic!("clickhouse-server on {url} did not start within 60 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Some(Servers {
        urls,
        _watchers: watchers,
        _dir: root,
    })
}

/// The HTTP URLs of the two servers (started on first use), or `None`
/// when `clickhouse-server` is not installed (skipped loudly).
pub fn urls() -> Option<[String; 2]> {
    SERVERS.get_or_init(start).as_ref().map(|s| s.urls.clone())
}
