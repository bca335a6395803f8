//! A running `augur agent` as the profiler benchmarks drive it: started
//! with a config, watched while it runs, reaped with `wait4` for its CPU
//! time and peak RSS.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::process::{ProgRuns, reap_within, rusage_cpu, try_reap};
use super::server::{drain_lines, log_tail};
use crate::http_get;

/// A running `augur agent`, reaped with `wait4` (never through `Child`),
/// killed on drop unless stopped.
pub struct Agent {
    /// Its process id.
    pub pid: libc::pid_t,
    metrics_url: String,
    log: PathBuf,
    /// When it was started.
    pub started: Instant,
    reaped: bool,
}

/// How an agent ended: its exit status and resource usage.
pub struct Stopped {
    /// From its start to its reaping.
    pub wall: Duration,
    /// User + system CPU.
    pub cpu: Duration,
    /// Peak RSS.
    pub peak_rss_kib: u64,
}

impl Agent {
    /// Starts an agent and waits for it to serve its metrics.
    /// `augur` is the binary, `ingest` the server's ingest URL, `config`
    /// the agent's config file text; files are named after `name` in `dir`.
    pub fn start(
        augur: &Path,
        ingest: &str,
        dir: &Path,
        name: &str,
        hz: u32,
        window: Duration,
        config: &str,
    ) -> anyhow::Result<Self> {
        let config_text = config;
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, config_text).context("writing the agent config")?;
        let log = dir.join(format!("{name}.log"));
        let spool = dir.join(format!("{name}-spool"));
        let started = Instant::now();
        let mut child = Command::new(augur)
            .args(["agent", "--server", ingest, "--frequency"])
            .arg(hz.to_string())
            .args(["--window", &format!("{}ms", window.as_millis())])
            .args(["--metrics", "127.0.0.1:0", "--spool-dir"])
            .arg(&spool)
            .arg("--config")
            .arg(&config)
            .env("AUGUR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).context("creating the agent log")?)
            .spawn()
            .with_context(|| format!("starting {} agent", augur.display()))?;
        let lines = drain_lines(child.stdout.take().expect("piped stdout"));
        let mut agent = Self {
            pid: child.id() as libc::pid_t,
            metrics_url: String::new(),
            log,
            started,
            reaped: false,
        };
        drop(child);
        let deadline = started + Duration::from_secs(60);
        loop {
            match lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("augur: agent metrics on ") {
                        agent.metrics_url = url.trim().to_owned();
                        return Ok(agent);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Some((status, _)) = try_reap(agent.pid)? {
                agent.reaped = true;
                bail!(
                    "augur agent ({name}) exited at startup ({status}); its log:\n{}",
                    log_tail(&agent.log)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "augur agent ({name}) did not serve metrics within 60 s; its log:\n{}",
                    log_tail(&agent.log)
                );
            }
        }
    }

    /// The agent's `/metrics` text (empty if unreachable).
    pub fn metrics(&self) -> String {
        match http_get(&self.metrics_url) {
            Ok((200, body)) => String::from_utf8_lossy(&body).into_owned(),
            _ => String::new(),
        }
    }

    /// Its sampler program's statistics so far.
    pub fn sampler(&self) -> Option<ProgRuns> {
        ProgRuns::sampler(&ProgRuns::of_process(self.pid))
    }

    /// Fails if the agent has exited.
    pub fn check(&mut self) -> anyhow::Result<()> {
        if let Some((status, _)) = try_reap(self.pid)? {
            self.reaped = true;
            bail!(
                "augur agent exited early ({status}); its log:\n{}",
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// Sleeps until `until`, failing if the agent exits meanwhile.
    pub fn run_until(&mut self, until: Instant) -> anyhow::Result<()> {
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(Duration::from_millis(250)));
        }
    }

    /// Stops it with SIGINT and reaps it.
    pub fn stop(mut self) -> anyhow::Result<Stopped> {
        // SAFETY: kill with a pid we spawned and have not reaped.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
        let reaped = reap_within(self.pid, Duration::from_secs(60));
        self.reaped = true;
        let (status, usage): (ExitStatus, libc::rusage) = reaped.context("stopping augur agent")?;
        if !status.success() {
            bail!(
                "augur agent failed ({status}); its log:\n{}",
                log_tail(&self.log)
            );
        }
        Ok(Stopped {
            wall: self.started.elapsed(),
            cpu: rusage_cpu(&usage),
            peak_rss_kib: usage.ru_maxrss as u64,
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: kill and reap a pid we spawned and have not reaped.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}
