//! The `augur server` a profiler benchmark's agents ship to (started on
//! loopback ports, not measured), and reading a child's output and log.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::metrics::metric_series;
use crate::http_get;

/// The `augur server` the agents ship to; not measured.
pub struct Server {
    child: Child,
    /// Ingest URL, e.g. `http://127.0.0.1:1234`.
    pub ingest: String,
    /// Web base URL, e.g. `http://127.0.0.1:1235/`.
    pub http: String,
    log: PathBuf,
}

impl Server {
    /// Starts `augur server --role both` on loopback ports, its data in
    /// `dir/data` and its log in `dir/server.log`, and waits for both of
    /// its addresses.
    pub fn start(augur: &Path, dir: &Path) -> anyhow::Result<Self> {
        let log = dir.join("server.log");
        let mut child = Command::new(augur)
            .args(["server", "--role", "both", "--data-dir"])
            .arg(dir.join("data"))
            .args(["--http", "127.0.0.1:0", "--ingest", "127.0.0.1:0"])
            .env("AUGUR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).context("creating the server log")?)
            .spawn()
            .with_context(|| format!("starting {} server", augur.display()))?;
        let rx = drain_lines(child.stdout.take().expect("piped stdout"));
        let (mut ingest, mut http) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while ingest.is_none() || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "augur server did not announce its addresses within 30 s; its log:\n{}",
                    log_tail(&log)
                );
            };
            if let Some(url) = line.strip_prefix("augur: ingest listening on ") {
                ingest = Some(url.trim().to_owned());
            } else if let Some(url) = line.strip_prefix("Augur is up: ") {
                http = Some(url.trim().to_owned());
            }
        }
        Ok(Self {
            child,
            ingest: ingest.expect("announced"),
            http: http.expect("announced"),
            log,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its `/metrics` text.
    pub fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("{}metrics", self.http);
        let (status, body) = http_get(&url)?;
        if status != 200 {
            bail!("GET {url}: HTTP {status}");
        }
        String::from_utf8(body).with_context(|| format!("GET {url}: not UTF-8"))
    }

    /// The server's sample counters so far.
    pub fn counts(&self) -> anyhow::Result<SampleCounts> {
        const ACCEPTED: &str = "augur_aggregator_samples_accepted_total";
        const LOST: &str = "augur_aggregator_agent_samples_lost_total";
        let text = self.metrics()?;
        let accepted = metric_series(&text, ACCEPTED);
        if accepted.is_empty() {
            bail!("the server's /metrics has no {ACCEPTED}");
        }
        Ok(SampleCounts {
            accepted: accepted.iter().map(|(_, v)| *v as u64).sum(),
            lost: metric_series(&text, LOST)
                .into_iter()
                .map(|(labels, v)| (labels, v as u64))
                .collect(),
        })
    }

    /// Stops it with SIGTERM and waits for it to exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: kill with a pid we own and a valid signal.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                bail!(
                    "augur server did not exit within 30 s of SIGTERM; its log:\n{}",
                    log_tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Samples stored by the server, and samples agents reported lost before
/// sending, by their labels (the reason).
pub struct SampleCounts {
    /// Samples accepted.
    pub accepted: u64,
    /// Samples lost, by labels.
    pub lost: BTreeMap<String, u64>,
}

impl SampleCounts {
    /// What changed from `before` to `self`.
    pub fn since(&self, before: &SampleCounts) -> SampleCounts {
        let lost = self
            .lost
            .iter()
            .map(|(labels, n)| {
                let was = before.lost.get(labels).copied().unwrap_or(0);
                (labels.clone(), n.saturating_sub(was))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        SampleCounts {
            accepted: self.accepted.saturating_sub(before.accepted),
            lost,
        }
    }
}

/// Reads a child's stdout to the end on a thread, so it never blocks on a
/// full pipe, and hands over each line.
pub fn drain_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The last 20 lines of a log file, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
