//! A `clickhouse-server` on loopback for tests and benchmarks: its own
//! configuration, data and log in one directory, free ports, killed with
//! SIGKILL on drop, and by a watcher shell if the process that started it
//! dies first. It can be killed and started again on the same ports and
//! data, as a crashed node coming back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{free_port, http_get};

/// Whether `clickhouse-server` is on the `PATH`.
pub fn clickhouse_installed() -> bool {
    Command::new("sh")
        .args(["-c", "command -v clickhouse-server"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What a test node has beyond the password-less `default` user on plain
/// HTTP.
#[derive(Debug, Default)]
pub struct NodeSetup<'a> {
    /// One more user and the password it must give.
    pub user: Option<(&'a str, &'a str)>,
    /// A PEM certificate and key to serve HTTPS with, on one more port.
    pub tls: Option<(&'a str, &'a str)>,
}

/// One server process and the directory that outlives it.
#[derive(Debug)]
pub struct ClickHouseNode {
    /// Configuration, data (`data/`), `server.log` and `server.pid`.
    pub dir: PathBuf,
    /// Its HTTP interface, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its HTTPS interface, `https://127.0.0.1:PORT`, when started with a
    /// certificate.
    pub https_url: Option<String>,
    /// The shell that runs the server and kills it once the starting
    /// process is gone.
    watcher: Option<Child>,
}

impl ClickHouseNode {
    /// Writes a configuration into `dir` (a mark cache of
    /// `mark_cache_bytes`), starts the server and waits until it answers.
    pub fn start(dir: &Path, mark_cache_bytes: u64) -> anyhow::Result<Self> {
        Self::start_with(dir, mark_cache_bytes, &NodeSetup::default())
    }

    /// [`ClickHouseNode::start`] with the extras of `setup`.
    pub fn start_with(
        dir: &Path,
        mark_cache_bytes: u64,
        setup: &NodeSetup<'_>,
    ) -> anyhow::Result<Self> {
        if !clickhouse_installed() {
            bail!("clickhouse-server is not installed (apt-get install clickhouse-server)");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let users = match setup.user {
            None => USERS.to_owned(),
            Some((user, password)) => USERS.replace(
                "</users>",
                &format!(
                    "<{user}><password>{password}</password>\n        \
                     <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>\n        \
                     <profile>default</profile><quota>default</quota></{user}></users>"
                ),
            ),
        };
        std::fs::write(dir.join("users.xml"), users)?;
        let (https, https_config) = match setup.tls {
            None => (None, String::new()),
            Some((cert, key)) => {
                std::fs::write(dir.join("server.crt"), cert)?;
                std::fs::write(dir.join("server.key"), key)?;
                let port = free_port();
                let config = format!(
                    "<https_port>{port}</https_port>\n    \
                     <openSSL><server>\
                     <certificateFile>{dir}/server.crt</certificateFile>\
                     <privateKeyFile>{dir}/server.key</privateKeyFile>\
                     <verificationMode>none</verificationMode>\
                     <loadDefaultCAFile>false</loadDefaultCAFile>\
                     <disableProtocols>sslv2,sslv3</disableProtocols>\
                     </server></openSSL>",
                    dir = dir.display()
                );
                (Some(format!("https://127.0.0.1:{port}")), config)
            }
        };
        let (http, tcp) = (free_port(), free_port());
        std::fs::write(
            dir.join("config.xml"),
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
    <mark_cache_size>{mark_cache_bytes}</mark_cache_size>
    {https_config}
</yandex>
"#,
                dir = dir.display()
            ),
        )?;
        let mut node = Self {
            dir: dir.to_owned(),
            url: format!("http://127.0.0.1:{http}"),
            https_url: https,
            watcher: None,
        };
        node.run()?;
        Ok(node)
    }

    /// Starts the server process (again) and waits up to 60 s until it
    /// answers `/ping`.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let me = std::process::id();
        let dir = self.dir.display();
        let script = format!(
            "clickhouse-server --config-file={dir}/config.xml >>{dir}/server.log 2>&1 & ch=$!; \
             echo $ch >{dir}/server.pid; \
             while kill -0 {me} 2>/dev/null && kill -0 $ch 2>/dev/null; do sleep 1; done; kill -9 $ch"
        );
        self.watcher = Some(
            Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting clickhouse-server")?,
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_get(&format!("{}/ping", self.url)).is_ok_and(|(s, _)| s == 200) {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                bail!("clickhouse-server did not answer within 60 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Kills the server with SIGKILL, as a crashed or unplugged node, and
    /// waits for its watcher.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let pid: i32 = std::fs::read_to_string(self.dir.join("server.pid"))
            .context("reading server.pid")?
            .trim()
            .parse()
            .context("parsing server.pid")?;
        // SAFETY: kill with the pid of the server this node started.
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            bail!(
                "killing clickhouse-server {pid}: {}",
                std::io::Error::last_os_error()
            );
        }
        if let Some(mut watcher) = self.watcher.take() {
            watcher.wait().context("waiting for the watcher")?;
        }
        Ok(())
    }
}

impl Drop for ClickHouseNode {
    fn drop(&mut self) {
        if self.watcher.is_some() {
            let _ = self.kill();
        }
    }
}

/// The default user, without a password, from loopback only.
const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users><default><password></password>
        <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
"#;
