//! `runtime-bench`: what reading language runtimes' frames costs on a host.
//!
//! One run measures three things, each with an `augur server` for the agent
//! to ship to (not measured) and a fresh `augur agent` per measurement,
//! whose config file sets `[runtimes] python = true|false` (and `java`,
//! where this augur has a JVM walker):
//!
//! 1. *BPF cost per sample*: N busy Python processes (`hot.py`, then a
//!    variant that calls itself `--deep-frames` deep before it spins), and
//!    agents with Python frames on and off taking turns, `--alternations`
//!    rounds of `--phase` seconds each (on-off, then off-on, ...), so a
//!    change in the shared host's load falls on both. The cost is
//!    `run_time_ns / run_cnt` of the agent's perf-event program
//!    (`sample_stack`) from its fdinfo, with the kernel's BPF statistics on,
//!    between the end of a warm-up and the end of the phase; the agent's
//!    `augur_agent_runtime_*` series over the same span say how many of
//!    those samples the Python walker walked, and how far.
//! 2. *Agent CPU and RSS on a host of services*: 20 Python processes
//!    (mostly idle, a request's worth of work every second; a few busy),
//!    optionally 5 JVMs, and a 19-Hz agent with Python frames on, then off,
//!    each reaped with `wait4` (CPU and peak RSS), with its steady CPU over
//!    whole 10-s windows from 15 s in, as `agent-bench` measures it.
//! 3. *py-spy beside the agent*: one busy Python process, an agent at
//!    100 Hz with Python frames, and `py-spy record --rate 100` of that
//!    process, non-blocking then blocking, each reaped with `wait4`; the
//!    agent's CPU and BPF time over the same spans.
//!
//! In-kernel sampling work runs in the interrupted task and is charged to
//! the workload, not to the agent: the BPF columns are that cost, the CPU
//! columns the agent's own. A missed target is a result, not an error: the
//! exit code is non-zero only when the benchmark could not run (1), or on
//! bad usage or without root (2).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_tests::bench::{
    self, BpfStats, CpuReading, Parsed, ProgRuns, load_average, metric_series, reap_within,
    rusage_cpu, try_reap,
};
use augur_tests::{fixture_source, http_get, is_root};

/// Targets for a 19-Hz agent on a host of services: steady CPU at most
/// 0.2% of one core, peak RSS at most 64 MB.
const CPU_TARGET_PERCENT: f64 = 0.2;
const RSS_TARGET_BYTES: f64 = 64e6;

/// How often the agent drains and ships (its default).
const AGENT_WINDOW: Duration = Duration::from_secs(10);

/// The BPF phases' agents drain every second: their `/metrics` counters
/// move at drains, and a phase's span must see them move with it. The
/// drains' user-space work does not change the BPF program's.
const BPF_PHASE_WINDOW: Duration = Duration::from_secs(1);

/// Steady CPU is measured from this long after an agent starts: past
/// startup and its first drain, which loads the kernel's symbols.
const STEADY_FROM: Duration = Duration::from_secs(15);

/// Between an agent's start and the first BPF reading of a phase: the
/// processes are found and registered, and tables built (after 3 s).
const BPF_WARM_UP: Duration = Duration::from_secs(8);

/// The host-of-services agent's rate, and py-spy's and its agent's.
const FLEET_HZ: u32 = 19;
const PY_SPY_HZ: u32 = 100;

const USAGE: &str = "\
usage: runtime-bench [--parts LIST] [--phase SECS] [--alternations N]
                     [--busy N] [--deep-frames N] [--bpf-hz HZ]
                     [--services N] [--busy-services N] [--fleet-duration SECS]
                     [--jvm] [--jvms N] [--java-home DIR]
                     [--py-spy-duration SECS] [--no-py-spy-blocking]
                     [--augur PATH] [--python PATH] [--py-spy PATH]

Measures what Augur's runtime frame walkers cost and prints Markdown tables:
  bpf      BPF us per sample of agents with Python frames on and off (Java
           frames off), taking turns, on a host running N busy Python
           processes (hot.py, then a deep-recursion variant)
  fleet    a 19-Hz agent's CPU and peak RSS, runtime frames on and off, on a
           host of Python services (and JVMs with --jvm)
  py-spy   py-spy record at 100 Hz on one busy Python process, beside a
           100-Hz agent with runtime frames: CPU of each over the same span
Needs root (eBPF, BPF statistics, py-spy attaching to a process).

  --parts LIST          comma-separated parts to run (default bpf,fleet,py-spy)
  --phase SECS          BPF: measured seconds per agent (default 20)
  --alternations N      BPF: rounds of on and off per workload (default 4)
  --busy N              BPF: busy Python processes (default: one per CPU)
  --deep-frames N       BPF: recursion depth of the deep variant; 0 skips it
                        (default 100)
  --bpf-hz HZ           BPF: the agents' sample rate (default 99)
  --services N          fleet: Python processes (default 20)
  --busy-services N     fleet: how many of them are busy (default 2)
  --fleet-duration SECS fleet: seconds per agent (default 60, at least 26)
  --jvm                 fleet: also run 5 JVMs (a class compiled with javac at
                        run time); the agents' `java` frames go on and off with
                        `python` where this augur knows the key
  --jvms N              fleet: JVMs to run (implies --jvm)
  --java-home DIR       the JDK for --jvm (default /usr/lib/jvm/java-17-openjdk-amd64)
  --py-spy-duration SECS  py-spy: seconds per py-spy run (default 30)
  --no-py-spy-blocking  py-spy: only --nonblocking, not also blocking mode
  --augur PATH          the augur binary (default: `augur` next to this program)
  --python PATH         the Python interpreter (default: python3's sys.executable)
  --py-spy PATH         the py-spy binary (default: py-spy on PATH, past a pyenv shim)";

/// The parts of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Parts {
    bpf: bool,
    fleet: bool,
    py_spy: bool,
}

impl Parts {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let mut parts = Self {
            bpf: false,
            fleet: false,
            py_spy: false,
        };
        for part in text.split(',').map(str::trim) {
            match part {
                "bpf" => parts.bpf = true,
                "fleet" => parts.fleet = true,
                "py-spy" => parts.py_spy = true,
                other => bail!("--parts: {other:?} is not bpf, fleet or py-spy"),
            }
        }
        Ok(parts)
    }
}

#[derive(Debug)]
struct Options {
    parts: Parts,
    phase: Duration,
    alternations: u32,
    busy: usize,
    deep_frames: u32,
    bpf_hz: u32,
    services: usize,
    busy_services: usize,
    fleet_duration: Duration,
    jvms: usize,
    java_home: PathBuf,
    py_spy_duration: Duration,
    py_spy_blocking: bool,
    augur: Option<PathBuf>,
    python: Option<PathBuf>,
    py_spy: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Parsed<Options>> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut options = Options {
        parts: Parts {
            bpf: true,
            fleet: true,
            py_spy: true,
        },
        phase: Duration::from_secs(20),
        alternations: 4,
        busy: cpus,
        deep_frames: 100,
        bpf_hz: 99,
        services: 20,
        busy_services: 2,
        fleet_duration: Duration::from_secs(60),
        jvms: 0,
        java_home: PathBuf::from("/usr/lib/jvm/java-17-openjdk-amd64"),
        py_spy_duration: Duration::from_secs(30),
        py_spy_blocking: true,
        augur: None,
        python: None,
        py_spy: None,
    };
    fn seconds(flag: &str, text: &str) -> anyhow::Result<Duration> {
        text.parse()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .filter(|d| !d.is_zero())
            .with_context(|| format!("{flag} {text:?} is not a positive number of seconds"))
    }
    fn count<T: std::str::FromStr>(flag: &str, text: &str) -> anyhow::Result<T> {
        text.parse()
            .ok()
            .with_context(|| format!("{flag} {text:?} is not a count"))
    }
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--parts" => options.parts = Parts::parse(&value()?)?,
            "--phase" => options.phase = seconds(&flag, &value()?)?,
            "--alternations" => options.alternations = count(&flag, &value()?)?,
            "--busy" => options.busy = count(&flag, &value()?)?,
            "--deep-frames" => options.deep_frames = count(&flag, &value()?)?,
            "--bpf-hz" => options.bpf_hz = count(&flag, &value()?)?,
            "--services" => options.services = count(&flag, &value()?)?,
            "--busy-services" => options.busy_services = count(&flag, &value()?)?,
            "--fleet-duration" => options.fleet_duration = seconds(&flag, &value()?)?,
            "--jvm" => options.jvms = options.jvms.max(5),
            "--jvms" => options.jvms = count(&flag, &value()?)?,
            "--java-home" => options.java_home = PathBuf::from(value()?),
            "--py-spy-duration" => options.py_spy_duration = seconds(&flag, &value()?)?,
            "--no-py-spy-blocking" => options.py_spy_blocking = false,
            "--augur" => options.augur = Some(PathBuf::from(value()?)),
            "--python" => options.python = Some(PathBuf::from(value()?)),
            "--py-spy" => options.py_spy = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Ok(Parsed::Help),
            other => bail!("unknown argument {other:?}"),
        }
    }
    if options.alternations == 0 {
        bail!("--alternations must be at least 1");
    }
    if options.busy == 0 {
        bail!("--busy must be at least 1");
    }
    if !(1..=10_000).contains(&options.bpf_hz) {
        bail!("--bpf-hz {} is not in 1..=10000", options.bpf_hz);
    }
    if options.busy_services > options.services {
        bail!(
            "--busy-services {} is more than --services {}",
            options.busy_services,
            options.services
        );
    }
    if steady_window(Instant::now(), options.fleet_duration).is_none() {
        bail!(
            "--fleet-duration must be at least {} s, for one steady window",
            (STEADY_FROM + AGENT_WINDOW).as_secs() + 1
        );
    }
    Ok(Parsed::Run(options))
}

fn main() -> ExitCode {
    let parsed = parse_args(std::env::args().skip(1));
    if matches!(parsed, Ok(Parsed::Run(_))) && !is_root() {
        eprintln!(
            "runtime-bench: needs root: the agent samples with eBPF, the kernel's BPF \
             statistics need CAP_SYS_ADMIN, and py-spy attaches to a process (run it with sudo)"
        );
        return ExitCode::from(2);
    }
    bench::main("runtime-bench", USAGE, parsed, run)
}

/// The programs a run uses, found once.
struct Tools {
    augur: PathBuf,
    python: PathBuf,
    py_spy: Option<PathBuf>,
    /// The agent knows `[runtimes] java` (probed once the server runs).
    java_key: bool,
}

impl Tools {
    fn find(options: &Options) -> anyhow::Result<Self> {
        let augur = match &options.augur {
            Some(path) => path.clone(),
            // target/<profile>/runtime-bench -> target/<profile>/augur
            None => std::env::current_exe()
                .context("finding this program's path")?
                .with_file_name("augur"),
        };
        if !augur.exists() {
            bail!(
                "{} is missing: build it with `cargo build --release -p augur` or pass --augur",
                augur.display()
            );
        }
        // The interpreter itself, not a pyenv shim: 20 shims would each run
        // bash and pyenv first, and py-spy's shim would count them.
        let python = match &options.python {
            Some(path) => path.clone(),
            None => PathBuf::from(
                command_line(
                    Command::new("python3").args(["-c", "import sys; print(sys.executable)"]),
                )
                .context("finding python3 (pass --python)")?,
            ),
        };
        let py_spy = if options.parts.py_spy {
            Some(match &options.py_spy {
                Some(path) => path.clone(),
                None => PathBuf::from(
                    command_line(Command::new("pyenv").args(["which", "py-spy"]))
                        .or_else(|_| command_line(Command::new("which").arg("py-spy")))
                        .context("finding py-spy (pip install py-spy, or pass --py-spy)")?,
                ),
            })
        } else {
            None
        };
        Ok(Self {
            augur,
            python,
            py_spy,
            java_key: false,
        })
    }
}

/// The first line a command prints, which must succeed.
fn command_line(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!("{:?} failed ({})", command.get_program(), output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        bail!("{:?} printed nothing", command.get_program());
    }
    Ok(line.to_owned())
}

fn run(options: &Options) -> anyhow::Result<()> {
    let mut tools = Tools::find(options)?;
    let scratch = tempfile::Builder::new()
        .prefix("runtime-bench-")
        .tempdir()
        .context("creating a scratch directory")?;
    let dir = scratch.path();
    // Workload processes end by themselves this long after the run was to
    // end, should this program die without killing them.
    let lifetime = planned(options) + Duration::from_secs(600);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "runtime-bench: {cpus} CPUs, kernel {}, augur {}, Python {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        tools.augur.display(),
        tools.python.display(),
    );
    println!("Load average at the start: {}", load_average());
    eprintln!(
        "runtime-bench: about {} s of measurements",
        planned(options).as_secs()
    );

    let server = Server::start(&tools.augur, dir)?;
    tools.java_key = accepts_java_key(&tools, &server, dir)?;
    println!(
        "JVM walker: {}",
        if tools.java_key {
            "yes (the agent takes `[runtimes] java`)"
        } else {
            "no (the agent refuses `[runtimes] java`)"
        }
    );
    let _stats = BpfStats::enable().context("enabling BPF run-time statistics")?;
    let mut python_sample_us = None;
    if options.parts.bpf {
        python_sample_us = bpf_part(options, &tools, &server, dir, lifetime)?;
    }
    if options.parts.fleet {
        fleet_part(options, &tools, &server, dir, lifetime)?;
    }
    if options.parts.py_spy {
        py_spy_part(options, &tools, &server, dir, lifetime, python_sample_us)?;
    }
    server.stop()?;
    println!("\nLoad average at the end: {}", load_average());
    Ok(())
}

/// Roughly how long the measurements take, agents' startup included.
fn planned(options: &Options) -> Duration {
    let mut total = Duration::ZERO;
    if options.parts.bpf {
        let workloads = if options.deep_frames > 0 { 2 } else { 1 };
        let phase = options.phase + BPF_WARM_UP + Duration::from_secs(3);
        total += phase * (2 * options.alternations * workloads);
    }
    if options.parts.fleet {
        total += (options.fleet_duration + Duration::from_secs(3)) * 2;
    }
    if options.parts.py_spy {
        let runs = if options.py_spy_blocking { 2 } else { 1 };
        total += BPF_WARM_UP + options.py_spy_duration * runs;
    }
    total
}

// ---------------------------------------------------------------------------
// Workloads

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
struct Workload {
    children: Vec<Child>,
}

impl Workload {
    fn new() -> Self {
        Self {
            children: Vec::new(),
        }
    }

    fn spawn(&mut self, command: &mut Command) -> anyhow::Result<u32> {
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
    fn hot(&mut self, python: &Path, lifetime: Duration) -> anyhow::Result<u32> {
        self.spawn(
            Command::new(python)
                .arg(fixture_source("python/hot.py"))
                .arg(lifetime.as_secs().to_string()),
        )
    }

    fn deep(&mut self, python: &Path, frames: u32, lifetime: Duration) -> anyhow::Result<u32> {
        self.spawn(Command::new(python).args([
            "-c",
            DEEP_PY,
            &frames.to_string(),
            &lifetime.as_secs().to_string(),
        ]))
    }

    fn service(
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

    fn jvm(&mut self, java_home: &Path, classes: &Path, lifetime: Duration) -> anyhow::Result<u32> {
        self.spawn(
            Command::new(java_home.join("bin/java"))
                .arg("-cp")
                .arg(classes)
                .arg("AugurBenchService")
                .arg(lifetime.as_secs().to_string()),
        )
    }

    /// Fails if a workload process has ended: the runs would not compare.
    fn check(&mut self) -> anyhow::Result<()> {
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
fn compile_jvm_workload(java_home: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
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

// ---------------------------------------------------------------------------
// Server and agent

/// The `augur server` the agents ship to; not measured.
struct Server {
    child: Child,
    /// Ingest URL, e.g. `http://127.0.0.1:1234`.
    ingest: String,
    log: PathBuf,
}

impl Server {
    fn start(augur: &Path, dir: &Path) -> anyhow::Result<Self> {
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
        let lines = drain_lines(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let ingest = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "augur server did not announce its ingest address within 30 s; its log:\n{}",
                    log_tail(&log)
                );
            };
            if let Some(url) = line.strip_prefix("augur: ingest listening on ") {
                break url.trim().to_owned();
            }
        };
        Ok(Self { child, ingest, log })
    }

    fn stop(mut self) -> anyhow::Result<()> {
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

/// Reads a child's stdout to the end on a thread, so it never blocks on a
/// full pipe, and hands over each line.
fn drain_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Which runtimes' frames an agent reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frames {
    python: bool,
    /// `None`: the config leaves `java` out (an augur without a JVM
    /// walker refuses the key).
    java: Option<bool>,
}

impl Frames {
    fn config(&self) -> String {
        let mut text = format!("[runtimes]\npython = {}\n", self.python);
        if let Some(java) = self.java {
            text.push_str(&format!("java = {java}\n"));
        }
        text
    }

    fn label(on: bool) -> &'static str {
        if on { "on" } else { "off" }
    }
}

/// A running `augur agent`, reaped with `wait4` (never through `Child`),
/// killed on drop unless stopped.
struct Agent {
    pid: libc::pid_t,
    metrics_url: String,
    log: PathBuf,
    started: Instant,
    reaped: bool,
}

/// How an agent ended: its exit status and resource usage.
struct Stopped {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
}

impl Agent {
    /// Starts an agent and waits for it to serve its metrics.
    fn start(
        tools: &Tools,
        server: &Server,
        dir: &Path,
        name: &str,
        hz: u32,
        window: Duration,
        frames: Frames,
    ) -> anyhow::Result<Self> {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, frames.config()).context("writing the agent config")?;
        let log = dir.join(format!("{name}.log"));
        let spool = dir.join(format!("{name}-spool"));
        let started = Instant::now();
        let mut child = Command::new(&tools.augur)
            .args(["agent", "--server", &server.ingest, "--frequency"])
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
            .with_context(|| format!("starting {} agent", tools.augur.display()))?;
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
    fn metrics(&self) -> String {
        match http_get(&self.metrics_url) {
            Ok((200, body)) => String::from_utf8_lossy(&body).into_owned(),
            _ => String::new(),
        }
    }

    /// Its sampler program's statistics so far.
    fn sampler(&self) -> Option<ProgRuns> {
        ProgRuns::sampler(&ProgRuns::of_process(self.pid))
    }

    /// Fails if the agent has exited.
    fn check(&mut self) -> anyhow::Result<()> {
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
    fn run_until(&mut self, until: Instant) -> anyhow::Result<()> {
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
    fn stop(mut self) -> anyhow::Result<Stopped> {
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

/// Whether this augur has a JVM walker, i.e. accepts `java` in
/// `[runtimes]`: an agent with it either starts or refuses its config at
/// once.
fn accepts_java_key(tools: &Tools, server: &Server, dir: &Path) -> anyhow::Result<bool> {
    let frames = Frames {
        python: true,
        java: Some(true),
    };
    match Agent::start(
        tools,
        server,
        dir,
        "java-probe",
        FLEET_HZ,
        AGENT_WINDOW,
        frames,
    ) {
        Ok(agent) => {
            agent.stop()?;
            Ok(true)
        }
        Err(error) if format!("{error:#}").contains("java") => Ok(false),
        Err(error) => Err(error),
    }
}

// ---------------------------------------------------------------------------
// The agent's runtime series

/// One runtime's `augur_agent_runtime_*` series at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
struct RuntimeCounts {
    stacks: f64,
    frames: f64,
    /// By reason.
    failures: BTreeMap<String, f64>,
    /// Processes registered with the walker (a gauge).
    processes: f64,
}

impl RuntimeCounts {
    /// `runtime`'s series in a `/metrics` text.
    fn parse(text: &str, runtime: &str) -> Self {
        let wanted = format!("runtime=\"{runtime}\"");
        let of = |name: &str| -> Vec<(String, f64)> {
            metric_series(text, name)
                .into_iter()
                .filter(|(labels, _)| labels.contains(&wanted))
                .collect()
        };
        // Not `Sum`, which starts at -0.0 and would print "-0" for nothing.
        let sum = |name: &str| of(name).iter().fold(0.0, |total, (_, v)| total + v);
        let failures = of("augur_agent_runtime_failures_total")
            .into_iter()
            .map(|(labels, v)| (label(&labels, "reason").unwrap_or_default(), v))
            .collect();
        Self {
            stacks: sum("augur_agent_runtime_stacks_total"),
            frames: sum("augur_agent_runtime_frames_total"),
            failures,
            processes: sum("augur_agent_runtime_processes"),
        }
    }

    /// Counters from `earlier` to `self`; the gauge as of `self`.
    fn since(&self, earlier: &Self) -> Self {
        let failures = self
            .failures
            .iter()
            .map(|(reason, n)| {
                let was = earlier.failures.get(reason).copied().unwrap_or(0.0);
                (reason.clone(), (n - was).max(0.0))
            })
            .filter(|(_, n)| *n > 0.0)
            .collect();
        Self {
            stacks: (self.stacks - earlier.stacks).max(0.0),
            frames: (self.frames - earlier.frames).max(0.0),
            failures,
            processes: self.processes,
        }
    }

    fn add(&mut self, other: &Self) {
        self.stacks += other.stacks;
        self.frames += other.frames;
        for (reason, n) in &other.failures {
            *self.failures.entry(reason.clone()).or_default() += n;
        }
        self.processes = self.processes.max(other.processes);
    }

    fn frames_per_stack(&self) -> Option<f64> {
        (self.stacks > 0.0).then(|| self.frames / self.stacks)
    }

    /// `reason n, ...`, or `none`.
    fn failures_text(&self) -> String {
        let failures: Vec<String> = self
            .failures
            .iter()
            .filter(|(_, n)| **n > 0.0)
            .map(|(reason, n)| format!("{reason} {n:.0}"))
            .collect();
        if failures.is_empty() {
            return "none".into();
        }
        failures.join(", ")
    }
}

/// The value of label `name` in `{a="x",name="y"}`.
fn label(labels: &str, name: &str) -> Option<String> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(rest[..rest.find('"')?].to_owned())
}

// ---------------------------------------------------------------------------
// Part 1: BPF cost per sample, Python frames on and off, alternating

/// One agent's phase.
struct BpfPhase {
    python: bool,
    runs: ProgRuns,
    secs: f64,
    python_counts: RuntimeCounts,
}

/// One workload's phases.
struct BpfWorkload {
    name: String,
    phases: Vec<BpfPhase>,
    load_before: String,
    load_after: String,
}

/// Runs the BPF part and prints its table; returns the median BPF us per
/// sample of `hot.py` with Python frames on (a host busy with it: nearly
/// every sample is one of its).
fn bpf_part(
    options: &Options,
    tools: &Tools,
    server: &Server,
    dir: &Path,
    lifetime: Duration,
) -> anyhow::Result<Option<f64>> {
    let mut results = Vec::new();
    let mut kinds = vec![None];
    if options.deep_frames > 0 {
        kinds.push(Some(options.deep_frames));
    }
    for deep in kinds {
        let mut workload = Workload::new();
        for _ in 0..options.busy {
            match deep {
                None => workload.hot(&tools.python, lifetime)?,
                Some(frames) => workload.deep(&tools.python, frames, lifetime)?,
            };
        }
        let name = match deep {
            None => "`hot.py`".to_owned(),
            Some(frames) => format!("deep, {frames} calls"),
        };
        std::thread::sleep(Duration::from_secs(2));
        let load_before = load_average();
        let mut phases = Vec::new();
        for round in 0..options.alternations {
            // on-off, off-on, ...: drift in the host's load falls on both.
            let order = if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for python in order {
                workload.check()?;
                eprintln!(
                    "runtime-bench: {name}, round {} of {}, Python frames {}",
                    round + 1,
                    options.alternations,
                    Frames::label(python)
                );
                phases.push(bpf_phase(options, tools, server, dir, python)?);
            }
        }
        workload.check()?;
        results.push(BpfWorkload {
            name,
            phases,
            load_before,
            load_after: load_average(),
        });
    }
    print_bpf(options, &results);
    let mut hot_on: Vec<f64> = results[0]
        .phases
        .iter()
        .filter(|p| p.python)
        .filter_map(|p| p.runs.us_per_run())
        .collect();
    Ok(median(&mut hot_on))
}

fn bpf_phase(
    options: &Options,
    tools: &Tools,
    server: &Server,
    dir: &Path,
    python: bool,
) -> anyhow::Result<BpfPhase> {
    // Only the Python walker differs; the JVM walker is off in both.
    let frames = Frames {
        python,
        java: tools.java_key.then_some(false),
    };
    let mut agent = Agent::start(
        tools,
        server,
        dir,
        &format!("bpf-python-{}", Frames::label(python)),
        options.bpf_hz,
        BPF_PHASE_WINDOW,
        frames,
    )?;
    agent.run_until(agent.started + BPF_WARM_UP)?;
    let (runs0, text0, t0) = (agent.sampler(), agent.metrics(), Instant::now());
    agent.run_until(t0 + options.phase)?;
    let (runs1, text1, t1) = (agent.sampler(), agent.metrics(), Instant::now());
    agent.stop()?;
    let (Some(runs0), Some(runs1)) = (runs0, runs1) else {
        bail!("the agent has no perf-event BPF program open (fdinfo)");
    };
    Ok(BpfPhase {
        python,
        runs: runs1.since(&runs0),
        secs: (t1 - t0).as_secs_f64(),
        python_counts: RuntimeCounts::parse(&text1, "python")
            .since(&RuntimeCounts::parse(&text0, "python")),
    })
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn print_bpf(options: &Options, results: &[BpfWorkload]) {
    println!(
        "\n### BPF cost per sample, Python frames on and off\n\n\
         {} busy Python processes; `augur agent` at {} Hz, a new one per phase, Python frames \
         on and off in turns ({} rounds, on-off then off-on); each phase measured for {} s \
         from {} s after the agent started. BPF us/run = run_time_ns / run_cnt of the agent's \
         `sample_stack` over the phase (every sample on the host, the other sessions' \
         processes included). Python stacks = `augur_agent_runtime_stacks_total` over the \
         same span, as a share of the program's runs.\n",
        options.busy,
        options.bpf_hz,
        options.alternations,
        options.phase.as_secs_f64(),
        BPF_WARM_UP.as_secs(),
    );
    println!(
        "| workload | Python frames | BPF us/run, each round | median | runs/s | Python stacks (share of runs) | frames per Python stack | walker failures | load average before, after |"
    );
    println!("| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |");
    let mut summaries = Vec::new();
    for workload in results {
        let mut medians = [None, None];
        for python in [true, false] {
            let phases: Vec<&BpfPhase> = workload
                .phases
                .iter()
                .filter(|p| p.python == python)
                .collect();
            let mut each: Vec<f64> = phases.iter().filter_map(|p| p.runs.us_per_run()).collect();
            let listed = each
                .iter()
                .map(|us| format!("{us:.2}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mid = median(&mut each);
            let runs: u64 = phases.iter().map(|p| p.runs.run_cnt).sum();
            let secs: f64 = phases.iter().map(|p| p.secs).sum();
            let mut counts = RuntimeCounts::default();
            for phase in &phases {
                counts.add(&phase.python_counts);
            }
            let share = counts.stacks / (runs.max(1) as f64);
            medians[usize::from(!python)] = mid.map(|m| (m, share));
            println!(
                "| {} | {} | {listed} | {} | {:.0} | {:.0} ({:.0}%) | {} | {} | {}; {} |",
                workload.name,
                Frames::label(python),
                mid.map_or("n/a".into(), |m| format!("{m:.2}")),
                runs as f64 / secs.max(f64::MIN_POSITIVE),
                counts.stacks,
                100.0 * share,
                counts
                    .frames_per_stack()
                    .map_or("n/a".into(), |f| format!("{f:.1}")),
                if python {
                    counts.failures_text()
                } else {
                    "n/a".into()
                },
                workload.load_before,
                workload.load_after,
            );
        }
        summaries.push((workload.name.clone(), medians));
    }
    println!();
    for (name, medians) in summaries {
        if let [Some((on, share)), Some((off, _))] = medians {
            let per_stack = (share > 0.0).then(|| (on - off) / share);
            println!(
                "{name}: median {on:.2} us/run with Python frames, {off:.2} without: {:+.2} us per run{}.",
                on - off,
                per_stack.map_or(String::new(), |us| format!(
                    ", {us:+.2} us per Python-walked sample"
                )),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Part 2: agent CPU and RSS on a host of services

struct FleetRun {
    frames: Frames,
    stopped: Stopped,
    /// CPU seconds per second over whole windows from [`STEADY_FROM`].
    steady: Option<f64>,
    bpf: Option<ProgRuns>,
    python: RuntimeCounts,
    java: RuntimeCounts,
    /// Processes and threads created on the host during the run: the
    /// agent's cost grows with process churn, so this says how quiet it was.
    host_forks: Option<u64>,
    load_after: String,
}

fn fleet_part(
    options: &Options,
    tools: &Tools,
    server: &Server,
    dir: &Path,
    lifetime: Duration,
) -> anyhow::Result<()> {
    let mut workload = Workload::new();
    let classes = if options.jvms > 0 {
        Some(compile_jvm_workload(&options.java_home, dir)?)
    } else {
        None
    };
    for i in 0..options.services {
        if i < options.busy_services {
            workload.hot(&tools.python, lifetime)?;
        } else {
            // Staggered over a second, so that they do not all wake at once.
            let first = Duration::from_secs_f64(i as f64 / options.services as f64);
            workload.service(&tools.python, first, lifetime)?;
        }
    }
    if let Some(classes) = &classes {
        for _ in 0..options.jvms {
            workload.jvm(&options.java_home, classes, lifetime)?;
        }
    }
    // Past the interpreters' and JVMs' startup.
    std::thread::sleep(Duration::from_secs(5));
    workload.check()?;
    let load_before = load_average();
    let mut runs = Vec::new();
    for python in [true, false] {
        let frames = Frames {
            python,
            java: tools.java_key.then_some(python),
        };
        workload.check()?;
        eprintln!(
            "runtime-bench: host of services, Python frames {}, {} s",
            Frames::label(python),
            options.fleet_duration.as_secs_f64()
        );
        runs.push(fleet_run(options, tools, server, dir, frames)?);
    }
    workload.check()?;
    print_fleet(options, tools.java_key, &load_before, &runs);
    Ok(())
}

fn fleet_run(
    options: &Options,
    tools: &Tools,
    server: &Server,
    dir: &Path,
    frames: Frames,
) -> anyhow::Result<FleetRun> {
    let name = format!("fleet-python-{}", Frames::label(frames.python));
    let forks_before = host_forks();
    let mut agent = Agent::start(tools, server, dir, &name, FLEET_HZ, AGENT_WINDOW, frames)?;
    let steady = match steady_window(agent.started, options.fleet_duration) {
        Some((from, to)) => {
            agent.run_until(from)?;
            let (t0, c0) = (Instant::now(), CpuReading::take(agent.pid));
            agent.run_until(to)?;
            let (t1, c1) = (Instant::now(), CpuReading::take(agent.pid));
            c0.zip(c1)
                .map(|(c0, c1)| c1.since(&c0).as_secs_f64() / (t1 - t0).as_secs_f64())
        }
        None => None,
    };
    agent.run_until(agent.started + options.fleet_duration)?;
    // The programs go away with the agent: read them while it runs.
    let bpf = agent.sampler();
    let text = agent.metrics();
    let stopped = agent.stop()?;
    Ok(FleetRun {
        frames,
        stopped,
        steady,
        bpf,
        python: RuntimeCounts::parse(&text, "python"),
        java: RuntimeCounts::parse(&text, "java"),
        host_forks: forks_before
            .zip(host_forks())
            .map(|(a, b)| b.saturating_sub(a)),
        load_after: load_average(),
    })
}

/// Processes and threads created since boot (`processes` in `/proc/stat`).
fn host_forks() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("processes "))?
        .trim()
        .parse()
        .ok()
}

/// The steady-state window of an agent started at `start` and run for
/// `duration`: from [`STEADY_FROM`] for whole agent windows, ending a
/// second or more before the run does; `None` if too short for one.
fn steady_window(start: Instant, duration: Duration) -> Option<(Instant, Instant)> {
    let room = duration.checked_sub(STEADY_FROM + Duration::from_secs(1))?;
    let windows = (room.as_secs_f64() / AGENT_WINDOW.as_secs_f64()).floor() as u32;
    (windows > 0).then(|| {
        (
            start + STEADY_FROM,
            start + STEADY_FROM + AGENT_WINDOW * windows,
        )
    })
}

fn print_fleet(options: &Options, java_key: bool, load_before: &str, runs: &[FleetRun]) {
    let jvms = match (options.jvms, java_key) {
        (0, _) => String::new(),
        (n, true) => format!(" and {n} JVMs"),
        (n, false) => format!(
            " and {n} JVMs (this augur has no JVM walker: they are sampled with native frames only)"
        ),
    };
    let turned = if java_key {
        "Python and Java frames on, then both off"
    } else {
        "Python frames on, then off"
    };
    println!(
        "\n### Agent CPU and RSS at {FLEET_HZ} Hz on a host of services\n\n\
         {} Python processes ({} busy with `hot.py`, the others a request's work every \
         second){jvms}; `augur agent` at {FLEET_HZ} Hz for {} s with {turned}. CPU and peak \
         RSS from wait4; steady CPU over whole {}-s windows from {} s in. Walker columns are \
         the agent's totals at its last drain. Host forks: processes and threads created on the \
         host during the run (the other sessions' activity). Load average before: {load_before}.\n",
        options.services,
        options.busy_services,
        options.fleet_duration.as_secs_f64(),
        AGENT_WINDOW.as_secs(),
        STEADY_FROM.as_secs(),
    );
    println!(
        "| Python frames | Java frames | wall s | CPU s | steady CPU ms/s | steady % of 1 core | peak RSS MiB | BPF us/run | Python processes | Python stacks | frames per stack | Java processes | Java stacks | frames per stack | host forks | load average after |"
    );
    println!(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    let per_stack = |counts: &RuntimeCounts| {
        counts
            .frames_per_stack()
            .map_or("n/a".to_owned(), |f| format!("{f:.1}"))
    };
    for run in runs {
        let (java, java_processes, java_stacks, java_per_stack) = match run.frames.java {
            Some(on) => (
                Frames::label(on),
                format!("{:.0}", run.java.processes),
                format!("{:.0}", run.java.stacks),
                per_stack(&run.java),
            ),
            None => ("n/a", "n/a".into(), "n/a".into(), "n/a".into()),
        };
        println!(
            "| {} | {java} | {:.1} | {:.2} | {} | {} | {:.1} | {} | {:.0} | {:.0} | {} | {java_processes} | {java_stacks} | {java_per_stack} | {} | {} |",
            Frames::label(run.frames.python),
            run.stopped.wall.as_secs_f64(),
            run.stopped.cpu.as_secs_f64(),
            run.steady
                .map_or("n/a".into(), |rate| format!("{:.2}", 1e3 * rate)),
            run.steady
                .map_or("n/a".into(), |rate| format!("{:.3}", 100.0 * rate)),
            run.stopped.peak_rss_kib as f64 / 1024.0,
            run.bpf
                .and_then(|b| b.us_per_run())
                .map_or("n/a".into(), |us| format!("{us:.2}")),
            run.python.processes,
            run.python.stacks,
            per_stack(&run.python),
            run.host_forks.map_or("n/a".into(), |n| n.to_string()),
            run.load_after,
        );
    }
    println!();
    for run in runs.iter().filter(|r| r.frames.python) {
        println!("Python walker failures: {}", run.python.failures_text());
        if run.frames.java == Some(true) {
            println!("Java walker failures: {}", run.java.failures_text());
        }
    }
    let mark = |ok: bool| if ok { "met" } else { "MISSED" };
    for run in runs {
        let frames = if run.frames.python { "on" } else { "off" };
        if let Some(rate) = run.steady {
            let percent = 100.0 * rate;
            println!(
                "Target (frames {frames}): steady CPU <= {CPU_TARGET_PERCENT}% of one core: \
                 {percent:.3}%: {}",
                mark(percent <= CPU_TARGET_PERCENT)
            );
        }
        let bytes = run.stopped.peak_rss_kib as f64 * 1024.0;
        println!(
            "Target (frames {frames}): peak RSS <= 64 MB: {:.1} MB: {}",
            bytes / 1e6,
            mark(bytes <= RSS_TARGET_BYTES)
        );
    }
}

// ---------------------------------------------------------------------------
// Part 3: py-spy beside the agent

struct PySpyRun {
    nonblocking: bool,
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
    samples: Option<u64>,
    agent_cpu: Option<Duration>,
    agent_bpf: Option<ProgRuns>,
    target_cpu: Option<Duration>,
}

fn py_spy_part(
    options: &Options,
    tools: &Tools,
    server: &Server,
    dir: &Path,
    lifetime: Duration,
    python_sample_us: Option<f64>,
) -> anyhow::Result<()> {
    let py_spy = tools.py_spy.as_deref().expect("found when the part runs");
    let mut workload = Workload::new();
    let target = workload.hot(&tools.python, lifetime)? as libc::pid_t;
    let load_before = load_average();
    // As deployed: every walker this augur has.
    let frames = Frames {
        python: true,
        java: tools.java_key.then_some(true),
    };
    let mut agent = Agent::start(
        tools,
        server,
        dir,
        "py-spy-agent",
        PY_SPY_HZ,
        AGENT_WINDOW,
        frames,
    )?;
    agent.run_until(agent.started + BPF_WARM_UP)?;
    let mut runs = Vec::new();
    let modes: &[bool] = if options.py_spy_blocking {
        &[true, false]
    } else {
        &[true]
    };
    for &nonblocking in modes {
        workload.check()?;
        agent.check()?;
        eprintln!(
            "runtime-bench: py-spy record --rate {PY_SPY_HZ}{} for {} s",
            if nonblocking { " --nonblocking" } else { "" },
            options.py_spy_duration.as_secs_f64()
        );
        let agent_cpu0 = CpuReading::take(agent.pid);
        let bpf0 = agent.sampler();
        let target0 = CpuReading::take(target);
        let run = run_py_spy(py_spy, target, nonblocking, options.py_spy_duration, dir)?;
        let agent_cpu1 = CpuReading::take(agent.pid);
        let bpf1 = agent.sampler();
        let target1 = CpuReading::take(target);
        runs.push(PySpyRun {
            agent_cpu: agent_cpu0.zip(agent_cpu1).map(|(a, b)| b.since(&a)),
            agent_bpf: bpf0.zip(bpf1).map(|(a, b)| b.since(&a)),
            target_cpu: target0.zip(target1).map(|(a, b)| b.since(&a)),
            ..run
        });
    }
    agent.stop()?;
    workload.check()?;
    print_py_spy(&load_before, python_sample_us, &runs);
    Ok(())
}

fn run_py_spy(
    py_spy: &Path,
    target: libc::pid_t,
    nonblocking: bool,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<PySpyRun> {
    let mode = if nonblocking {
        "nonblocking"
    } else {
        "blocking"
    };
    let log = dir.join(format!("py-spy-{mode}.log"));
    let output = dir.join(format!("py-spy-{mode}.txt"));
    let mut command = Command::new(py_spy);
    command
        .args(["record", "--rate", &PY_SPY_HZ.to_string(), "--pid"])
        .arg(target.to_string())
        .args(["--duration", &duration.as_secs().max(1).to_string()])
        .args(["--format", "raw", "--output"])
        .arg(&output);
    if nonblocking {
        command.arg("--nonblocking");
    }
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(File::create(&log).context("creating the py-spy log")?)
        .stderr(
            File::create(dir.join(format!("py-spy-{mode}.err")))
                .context("creating the py-spy log")?,
        )
        .spawn()
        .with_context(|| format!("starting {}", py_spy.display()))?;
    let pid = child.id() as libc::pid_t;
    // Reaped with wait4 below, never through `Child`.
    drop(child);
    let (status, usage) = reap_within(pid, duration + Duration::from_secs(120))
        .context("waiting for py-spy record")?;
    let wall = started.elapsed();
    let text = [log, dir.join(format!("py-spy-{mode}.err"))]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    if !status.success() {
        bail!("py-spy record ({mode}) failed ({status}):\n{text}");
    }
    let samples = py_spy_samples(&text).or_else(|| {
        std::fs::read_to_string(&output)
            .ok()
            .map(|raw| raw_sample_count(&raw))
    });
    Ok(PySpyRun {
        nonblocking,
        wall,
        cpu: rusage_cpu(&usage),
        peak_rss_kib: usage.ru_maxrss as u64,
        samples,
        agent_cpu: None,
        agent_bpf: None,
        target_cpu: None,
    })
}

/// N from py-spy's `Samples: N Errors: M` line.
fn py_spy_samples(text: &str) -> Option<u64> {
    let (_, rest) = text.rsplit_once("Samples: ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Samples in py-spy's raw (folded) output: the count ending each line.
fn raw_sample_count(raw: &str) -> u64 {
    raw.lines()
        .filter_map(|line| line.rsplit_once(' ')?.1.trim().parse::<u64>().ok())
        .sum()
}

fn print_py_spy(load_before: &str, python_sample_us: Option<f64>, runs: &[PySpyRun]) {
    let estimate = match python_sample_us {
        Some(us) => format!("{us:.2} us, the BPF part's median for `hot.py` with Python frames on"),
        None => "unknown without the BPF part".to_owned(),
    };
    println!(
        "\n### py-spy beside the agent on one busy Python process\n\n\
         One `hot.py`; `augur agent` at {PY_SPY_HZ} Hz with runtime frames (the whole host), \
         and `py-spy record --rate {PY_SPY_HZ} --pid PID` (that process only), one mode after \
         the other. py-spy's CPU and peak RSS from wait4; the agent's and the Python \
         process's CPU from schedstat over the same span. *Agent BPF, all* is the run time of \
         `sample_stack` over the span for every sample on the host (an upper bound on what \
         was charged to the Python process); *charged to it* estimates that: the process's CPU \
         s x {PY_SPY_HZ} Hz samples x the BPF cost of one of its samples ({estimate}). Load \
         average before: {load_before}.\n"
    );
    println!(
        "| py-spy mode | wall s | py-spy CPU s | py-spy % of 1 core | py-spy peak RSS MiB | py-spy samples | agent CPU s | agent % of 1 core | agent BPF ms, all | agent BPF ms charged to it (est.) | Python process CPU s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for run in runs {
        let secs = run.wall.as_secs_f64();
        println!(
            "| {} | {secs:.1} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} | {} |",
            if run.nonblocking {
                "--nonblocking"
            } else {
                "blocking"
            },
            run.cpu.as_secs_f64(),
            100.0 * run.cpu.as_secs_f64() / secs,
            run.peak_rss_kib as f64 / 1024.0,
            run.samples.map_or("n/a".into(), |n| n.to_string()),
            run.agent_cpu
                .map_or("n/a".into(), |d| format!("{:.2}", d.as_secs_f64())),
            run.agent_cpu.map_or("n/a".into(), |d| format!(
                "{:.2}",
                100.0 * d.as_secs_f64() / secs
            )),
            run.agent_bpf.map_or("n/a".into(), |b| format!(
                "{:.1}",
                b.run_time_ns as f64 / 1e6
            )),
            run.target_cpu
                .zip(python_sample_us)
                .map_or("n/a".into(), |(cpu, us)| format!(
                    "{:.1}",
                    cpu.as_secs_f64() * f64::from(PY_SPY_HZ) * us / 1e3
                )),
            run.target_cpu
                .map_or("n/a".into(), |d| format!("{:.2}", d.as_secs_f64())),
        );
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> anyhow::Result<Parsed<Options>> {
        parse_args(a.iter().map(|s| s.to_string()))
    }

    fn options(a: &[&str]) -> Options {
        match args(a) {
            Ok(Parsed::Run(options)) => options,
            Ok(Parsed::Help) => panic!("{a:?}: help, expected options"),
            Err(error) => panic!("{a:?}: {error:#}"),
        }
    }

    #[test]
    fn parses_arguments() {
        let o = options(&[]);
        assert_eq!(
            o.parts,
            Parts {
                bpf: true,
                fleet: true,
                py_spy: true
            }
        );
        assert_eq!((o.phase, o.alternations), (Duration::from_secs(20), 4));
        assert_eq!((o.services, o.busy_services, o.jvms), (20, 2, 0));
        assert!(o.py_spy_blocking && o.augur.is_none());

        let o = options(&[
            "--parts=bpf,py-spy",
            "--phase",
            "2.5",
            "--alternations",
            "2",
            "--deep-frames",
            "0",
            "--jvm",
            "--no-py-spy-blocking",
            "--augur",
            "/x/augur",
        ]);
        assert_eq!(
            o.parts,
            Parts {
                bpf: true,
                fleet: false,
                py_spy: true
            }
        );
        assert_eq!(o.phase, Duration::from_millis(2500));
        assert_eq!((o.alternations, o.deep_frames, o.jvms), (2, 0, 5));
        assert!(!o.py_spy_blocking);
        assert_eq!(o.augur, Some(PathBuf::from("/x/augur")));
        assert_eq!(options(&["--jvms", "3"]).jvms, 3);
        assert!(matches!(args(&["--help"]), Ok(Parsed::Help)));
        assert!(matches!(args(&["-h"]), Ok(Parsed::Help)));
    }

    #[test]
    fn refuses_bad_arguments() {
        let error = |a: &[&str]| match args(a) {
            Err(error) => format!("{error:#}"),
            Ok(_) => panic!("{a:?} was accepted"),
        };
        assert!(error(&["--bogus"]).contains("unknown argument"));
        assert!(error(&["--phase"]).contains("needs a value"));
        assert!(error(&["--phase", "0"]).contains("positive"));
        assert!(error(&["--phase", "soon"]).contains("positive"));
        assert!(error(&["--alternations", "-1"]).contains("count"));
        assert!(error(&["--alternations", "0"]).contains("at least 1"));
        assert!(error(&["--parts", "bpf,gpu"]).contains("\"gpu\""));
        assert!(error(&["--services", "3", "--busy-services", "4"]).contains("more than"));
        assert!(error(&["--fleet-duration", "20"]).contains("at least 26"));
        assert!(error(&["--bpf-hz", "0"]).contains("1..=10000"));
    }

    #[test]
    fn writes_agent_configs() {
        let python_only = Frames {
            python: false,
            java: None,
        };
        assert_eq!(python_only.config(), "[runtimes]\npython = false\n");
        let both = Frames {
            python: true,
            java: Some(true),
        };
        assert_eq!(both.config(), "[runtimes]\npython = true\njava = true\n");
    }

    #[test]
    fn reads_runtime_series() {
        let text = "\
# HELP augur_agent_runtime_stacks Stacks walked by a runtime's walker in BPF, by runtime.
# TYPE augur_agent_runtime_stacks counter
augur_agent_runtime_stacks_total{runtime=\"python\"} 200
augur_agent_runtime_stacks_total{runtime=\"java\"} 7
augur_agent_runtime_frames_total{runtime=\"java\",kind=\"interpreted\"} 20
augur_agent_runtime_frames_total{runtime=\"java\",kind=\"compiled\"} 50
augur_agent_runtime_frames_total{runtime=\"python\"} 1000
augur_agent_runtime_failures_total{runtime=\"python\",reason=\"read_failed\"} 3
augur_agent_runtime_failures_total{runtime=\"python\",reason=\"no_python_frame\"} 5
augur_agent_runtime_failures_total{runtime=\"java\",reason=\"read_failed\"} 9
augur_agent_runtime_processes{runtime=\"python\"} 4
";
        let python = RuntimeCounts::parse(text, "python");
        assert_eq!(python.stacks, 200.0);
        assert_eq!(python.frames, 1000.0);
        assert_eq!(python.processes, 4.0);
        assert_eq!(python.frames_per_stack(), Some(5.0));
        assert_eq!(python.failures_text(), "no_python_frame 5, read_failed 3");
        let java = RuntimeCounts::parse(text, "java");
        assert_eq!((java.stacks, java.frames), (7.0, 70.0));
        assert_eq!(java.failures_text(), "read_failed 9");
        assert_eq!(RuntimeCounts::parse("", "python"), RuntimeCounts::default());

        let earlier = RuntimeCounts::parse(
            "augur_agent_runtime_stacks_total{runtime=\"python\"} 50\n\
             augur_agent_runtime_frames_total{runtime=\"python\"} 250\n\
             augur_agent_runtime_failures_total{runtime=\"python\",reason=\"read_failed\"} 3\n",
            "python",
        );
        let span = python.since(&earlier);
        assert_eq!(
            (span.stacks, span.frames, span.processes),
            (150.0, 750.0, 4.0)
        );
        assert_eq!(span.failures_text(), "no_python_frame 5");
    }

    #[test]
    fn reads_labels() {
        assert_eq!(
            label("{runtime=\"python\",reason=\"read_failed\"}", "reason").as_deref(),
            Some("read_failed")
        );
        assert_eq!(label("{runtime=\"python\"}", "reason"), None);
    }

    #[test]
    fn counts_py_spy_samples() {
        let log = "py-spy> Sampling process 100 times a second for 30 seconds.\n\
                   py-spy> Wrote raw flamegraph data to 'x.txt'. Samples: 2987 Errors: 2\n";
        assert_eq!(py_spy_samples(log), Some(2987));
        assert_eq!(py_spy_samples("nothing"), None);
        let raw = "main (hot.py:30);alpha_work (hot.py:12) 2000\n\
                   main (hot.py:30);beta_work (hot.py:19) 987\n";
        assert_eq!(raw_sample_count(raw), 2987);
    }

    #[test]
    fn takes_medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn steady_window_spans_whole_agent_windows() {
        let start = Instant::now();
        let window = |secs| {
            steady_window(start, Duration::from_secs(secs))
                .map(|(from, to)| ((from - start).as_secs(), (to - start).as_secs()))
        };
        assert_eq!(window(60), Some((15, 55)));
        assert_eq!(window(26), Some((15, 25)));
        assert_eq!(window(25), None);
    }
}
