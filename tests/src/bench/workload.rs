//! The processes a profiler benchmark profiles: busy and idle Python
//! programs, a small JVM service, each killed when the [`Workload`] is
//! dropped, so a failed run leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::fixture_source;

/// A mostly idle service: a request's worth of work (three calls deep)
/// every second, from `argv[1]` s in, until `argv[2]` s have passed.
const SERVICE_PY: &str = "\
import sys, time
def handle(n):
    return parse(n)
def parse(n):
    return compute(n)
def compute(n):
    total = 0
    for i in range(n):
        total += i * i
    return total
end = time.time() + float(sys.argv[2])
time.sleep(float(sys.argv[1]))
while time.time() < end:
    handle(20000)
    time.sleep(1)
";

/// Busy at the bottom of `argv[1]` nested Python calls, until `argv[2]` s
/// have passed.
const DEEP_PY: &str = "\
import sys, time
sys.setrecursionlimit(10000)
def descend(n):
    if n == 0:
        return spin()
    return descend(n - 1)
def spin():
    total = 0
    for i in range(2000000):
        total += i * i
    return total
depth = int(sys.argv[1])
end = time.time() + float(sys.argv[2])
while time.time() < end:
    descend(depth)
";

/// A JVM that works about 50 ms of every 500, until `args[0]` s have passed.
const JVM_SOURCE: &str = "\
public class AugurBenchService {
    static long work(int n) {
        long total = 0;
        for (int i = 0; i < n; i++) {
            total += (long) i * i % 7;
        }
        return total;
    }

    public static void main(String[] args) throws Exception {
        long end = System.currentTimeMillis() + Long.parseLong(args[0]) * 1000;
        long sink = 0;
        while (System.currentTimeMillis() < end) {
            long until = System.currentTimeMillis() + 50;
            while (System.currentTimeMillis() < until) {
                sink += work(100000);
            }
            Thread.sleep(450);
        }
        System.out.println(sink);
    }
}
";

/// Workload processes, killed on drop.
pub struct Workload {
    children: Vec<Child>,
}

impl Default for Workload {
    fn default() -> Self {
        Self::new()
    }
}

impl Workload {
    /// No processes yet.
    pub fn new() -> Self {
        Self {
            children: Vec::new(),
        }
    }

    /// Starts one workload process; returns its pid.
    pub fn spawn(&mut self, command: &mut Command) -> anyhow::Result<u32> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// `hot.py`: busy for about `lifetime` of CPU (longer on a loaded host;
    /// killed at the end of its part).
    pub fn hot(&mut self, python: &Path, lifetime: Duration) -> anyhow::Result<u32> {
        self.spawn(
            Command::new(python)
                .arg(fixture_source("python/hot.py"))
                .arg(lifetime.as_secs().to_string()),
        )
    }

    /// `DEEP_PY`: busy `frames` Python calls deep.
    pub fn deep(&mut self, python: &Path, frames: u32, lifetime: Duration) -> anyhow::Result<u32> {
        self.spawn(Command::new(python).args([
            "-c",
            DEEP_PY,
            &frames.to_string(),
            &lifetime.as_secs().to_string(),
        ]))
    }

    /// `SERVICE_PY`: mostly idle, first working `first` in.
    pub fn service(
        &mut self,
        python: &Path,
        first: Duration,
        lifetime: Duration,
    ) -> anyhow::Result<u32> {
        self.spawn(Command::new(python).args([
            "-c",
            SERVICE_PY,
            &format!("{:.2}", first.as_secs_f64()),
            &lifetime.as_secs().to_string(),
        ]))
    }

    /// The compiled JVM workload (see [`compile_jvm_workload`]).
    pub fn jvm(
        &mut self,
        java_home: &Path,
        classes: &Path,
        lifetime: Duration,
    ) -> anyhow::Result<u32> {
        self.spawn(
            Command::new(java_home.join("bin/java"))
                .arg("-cp")
                .arg(classes)
                .arg("AugurBenchService")
                .arg(lifetime.as_secs().to_string()),
        )
    }

    /// Fails if a workload process has ended: the runs would not compare.
    pub fn check(&mut self) -> anyhow::Result<()> {
        for child in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("workload process {} ended early ({status})", child.id());
            }
        }
        Ok(())
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Compiles the JVM workload's class into `dir/classes`.
pub fn compile_jvm_workload(java_home: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let source = dir.join("AugurBenchService.java");
    std::fs::write(&source, JVM_SOURCE).context("writing the JVM workload's source")?;
    let classes = dir.join("classes");
    let javac = java_home.join("bin/javac");
    let output = Command::new(&javac)
        .arg("-d")
        .arg(&classes)
        .arg(&source)
        .output()
        .with_context(|| format!("running {} (pass --java-home)", javac.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}):\n{}",
            javac.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(classes)
}
