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

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_tests::bench::agent::{Agent, Stopped};
use augur_tests::bench::cli::{at_least_one, count, positive_seconds};
use augur_tests::bench::metrics::RuntimeCounts;
use augur_tests::bench::report::{
    AGENT_WINDOW, STEADY_FROM, host_forks, load_average, median, steady_window,
};
use augur_tests::bench::server::Server;
use augur_tests::bench::workload::{Workload, compile_jvm_workload};
use augur_tests::bench::{self, BpfStats, CpuReading, Parsed, ProgRuns};
use augur_tests::is_root;
use clap::{ArgAction, CommandFactory, Parser};

mod py_spy;

use py_spy::py_spy_part;

/// Targets for a 19-Hz agent on a host of services: steady CPU at most
/// 0.2% of one core, peak RSS at most 64 MB.
const CPU_TARGET_PERCENT: f64 = 0.2;
const RSS_TARGET_BYTES: f64 = 64e6;

/// The BPF phases' agents drain every second: their `/metrics` counters
/// move at drains, and a phase's span must see them move with it. The
/// drains' user-space work does not change the BPF program's.
const BPF_PHASE_WINDOW: Duration = Duration::from_secs(1);

/// Between an agent's start and the first BPF reading of a phase: the
/// processes are found and registered, and tables built (after 3 s).
const BPF_WARM_UP: Duration = Duration::from_secs(8);

/// The host-of-services agent's rate, and py-spy's and its agent's.
const FLEET_HZ: u32 = 19;
const PY_SPY_HZ: u32 = 100;

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
                other => bail!("{other:?} is not bpf, fleet or py-spy"),
            }
        }
        Ok(parts)
    }
}

/// Measures what Augur's runtime frame walkers cost and prints Markdown
/// tables. Needs root (eBPF, BPF statistics, py-spy attaching to a
/// process).
///
/// Parts: `bpf`, BPF us per sample of agents with Python frames on and off
/// (Java frames off), taking turns, on a host running N busy Python
/// processes (hot.py, then a deep-recursion variant); `fleet`, a 19-Hz
/// agent's CPU and peak RSS, runtime frames on and off, on a host of Python
/// services (and JVMs with --jvm); `py-spy`, py-spy record at 100 Hz on one
/// busy Python process, beside a 100-Hz agent with runtime frames: CPU of
/// each over the same span.
#[derive(Debug, Parser)]
#[command(name = "runtime-bench")]
struct Options {
    /// Comma-separated parts to run: bpf, fleet, py-spy
    #[arg(long, value_name = "LIST", default_value = "bpf,fleet,py-spy", value_parser = Parts::parse)]
    parts: Parts,
    /// BPF: measured seconds per agent
    #[arg(long, value_name = "SECS", default_value = "20", value_parser = positive_seconds)]
    phase: Duration,
    /// BPF: rounds of on and off per workload
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = at_least_one::<u32>, allow_negative_numbers = true)]
    alternations: u32,
    /// BPF: busy Python processes [default: one per CPU]
    #[arg(long, value_name = "N", default_value_t = cpus(), hide_default_value = true, value_parser = at_least_one::<usize>)]
    busy: usize,
    /// BPF: recursion depth of the deep variant; 0 skips it
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = count::<u32>)]
    deep_frames: u32,
    /// BPF: the agents' sample rate, 1..=10000
    #[arg(long, value_name = "HZ", default_value_t = 99, value_parser = sample_rate)]
    bpf_hz: u32,
    /// Fleet: Python processes
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = count::<usize>)]
    services: usize,
    /// Fleet: how many of them are busy
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = count::<usize>)]
    busy_services: usize,
    /// Fleet: seconds per agent, at least 26
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = positive_seconds)]
    fleet_duration: Duration,
    /// Fleet: also run 5 JVMs (a class compiled with javac at run time); the
    /// agents' `java` frames go on and off with `python` where this augur
    /// knows the key
    #[arg(long)]
    jvm: bool,
    /// Fleet: JVMs to run (at least 5 with --jvm)
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = count::<usize>)]
    jvms: usize,
    /// The JDK for --jvm
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/usr/lib/jvm/java-17-openjdk-amd64"
    )]
    java_home: PathBuf,
    /// py-spy: seconds per py-spy run
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = positive_seconds)]
    py_spy_duration: Duration,
    /// py-spy: only --nonblocking, not also blocking mode
    #[arg(long = "no-py-spy-blocking", action = ArgAction::SetFalse)]
    py_spy_blocking: bool,
    /// The augur binary [default: `augur` next to this program]
    #[arg(long, value_name = "PATH")]
    augur: Option<PathBuf>,
    /// The Python interpreter [default: python3's sys.executable]
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// The py-spy binary [default: py-spy on PATH, past a pyenv shim]
    #[arg(long, value_name = "PATH")]
    py_spy: Option<PathBuf>,
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn sample_rate(text: &str) -> Result<u32, String> {
    let hz: u32 = count(text)?;
    if !(1..=10_000).contains(&hz) {
        return Err(format!("{hz} is not in 1..=10000"));
    }
    Ok(hz)
}

fn parse_args(args: impl Iterator<Item = String>) -> anyhow::Result<Parsed<Options>> {
    let Parsed::Run(mut options) = bench::parse_args::<Options>(args)? else {
        return Ok(Parsed::Help);
    };
    if options.jvm {
        options.jvms = options.jvms.max(5);
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
    bench::main(Options::command(), parsed, run)
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

impl Tools {
    /// Starts an agent of this augur reading `frames`, shipping to `server`.
    fn agent(
        &self,
        server: &Server,
        dir: &Path,
        name: &str,
        hz: u32,
        window: Duration,
        frames: Frames,
    ) -> anyhow::Result<Agent> {
        let config = frames.config();
        Agent::start(&self.augur, &server.ingest, dir, name, hz, window, &config)
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

/// Whether this augur has a JVM walker, i.e. accepts `java` in
/// `[runtimes]`: an agent with it either starts or refuses its config at
/// once.
fn accepts_java_key(tools: &Tools, server: &Server, dir: &Path) -> anyhow::Result<bool> {
    let frames = Frames {
        python: true,
        java: Some(true),
    };
    match tools.agent(server, dir, "java-probe", FLEET_HZ, AGENT_WINDOW, frames) {
        Ok(agent) => {
            agent.stop()?;
            Ok(true)
        }
        Err(error) if format!("{error:#}").contains("java") => Ok(false),
        Err(error) => Err(error),
    }
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
    let mut agent = tools.agent(
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
    let mut agent = tools.agent(server, dir, &name, FLEET_HZ, AGENT_WINDOW, frames)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use augur_tests::bench::metrics::label;
    use py_spy::{py_spy_samples, raw_sample_count};

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
