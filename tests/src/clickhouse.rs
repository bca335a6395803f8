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

/// One server process and the directory that outlives it.
#[derive(Debug)]
pub struct ClickHouseNode {
    /// Configuration, data (`data/`), `server.log` and `server.pid`.
    pub dir: PathBuf,
    /// Its HTTP interface, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The shell that runs the server and kills it once the starting
    /// process is gone.
    watcher: Option<Child>,
}

impl ClickHouseNode {
    /// Writes a configuration into `dir` (a mark cache of
    /// `mark_cache_bytes`), starts the server and waits until it answers.
    pub fn start(dir: &Path, mark_cache_bytes: u64) -> anyhow::Result<Self> {
        Self::start_with_users(dir, mark_cache_bytes, USERS)
    }

    /// [`ClickHouseNode::start`] with one more user, `user`, who must give
    /// `password` (plain text in the test's own configuration).
    pub fn start_with_user(
        dir: &Path,
        mark_cache_bytes: u64,
        user: &str,
        password: &str,
    ) -> anyhow::Result<Self> {
        let extra = format!(
            "<{user}><password>{password}</password>\n        \
             <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>\n        \
             <profile>default</profile><quota>default</quota></{user}></users>"
        );
        Self::start_with_users(dir, mark_cache_bytes, &USERS.replace("</users>", &extra))
    }

    fn start_with_users(dir: &Path, mark_cache_bytes: u64, users: &str) -> anyhow::Result<Self> {
        if !clickhouse_installed() {
            bail!("clickhouse-server is not installed (apt-get install clickhouse-server)");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (http, tcp) = (free_port(), free_port());
        std::fs::write(dir.join("users.xml"), users)?;
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
</yandex>
"#,
                dir = dir.display()
            ),
        )?;
        let mut node = Self {
            dir: dir.to_owned(),
            url: format!("http://127.0.0.1:{http}"),
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
