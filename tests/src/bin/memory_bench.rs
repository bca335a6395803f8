//! `memory-bench`: what the memory profile costs the programs it watches,
//! and the agent that watches them, in one run.
//!
//! Slowdown: an allocation-heavy C loop (`tests/fixtures/alloc_loop.c`:
//! free one of 64 blocks, allocate 16 B-4 KiB, per operation) and CPython
//! JSON round trips (`tests/fixtures/python/json_loop.py`), each run alone,
//! under `augur record --profile memory` (the default rate: 512 KiB) and
//! under bcc's `memleak-bpfcc -p PID`, the modes alternating round by round
//! so that machine load weighs on each alike. Each workload prints its time
//! per operation every second; the first seconds (start-up, and memleak
//! compiling its program before it attaches) are left out, and the median
//! of the rest is the round's figure.
//!
//! Agent cost: `--processes` light processes (the C loop at 1,000
//! operations a second each) run while `augur agent` takes on-CPU samples
//! only, then on-CPU and memory, for `--agent-seconds` each; its CPU time
//! and peak RSS come from `wait4`.
//!
//! Usage: `cargo build --release -p augur -p augur-tests --bin memory-bench
//! && target/release/memory-bench [--rounds N] [--seconds S]`

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_tests::bench::agent::Agent;
use augur_tests::bench::report::{load_average, median};
use augur_tests::bench::server::Server;
use clap::Parser;

/// The memory profile's cost to programs and to the agent.
#[derive(Parser)]
struct Args {
    /// Rounds of the three modes (0 skips the slowdown half).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds each workload runs per mode, after its start-up.
    #[arg(long, default_value_t = 8)]
    seconds: u32,
    /// Light processes for the agent-cost half (0 skips it).
    #[arg(long, default_value_t = 50)]
    processes: u32,
    /// Seconds the agent runs with each configuration.
    #[arg(long, default_value_t = 30)]
    agent_seconds: u64,
    /// The `augur` binary.
    #[arg(long)]
    augur: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Off,
    Augur,
    Memleak,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Augur => "augur memory (512 KiB)",
            Mode::Memleak => "memleak-bpfcc",
        }
    }
}

/// Seconds left out at a workload's start; memleak's are counted from
/// when it says it attached.
const SKIP_SECONDS: usize = 2;

/// Lines of a child's stdout, each with when it arrived.
fn timed_lines(child: &mut Child) -> mpsc::Receiver<(Instant, String)> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs `workload ARGS` in `mode`; returns the median time per operation
/// over its steady seconds.
fn run(mode: Mode, augur: &Path, workload: &[String], seconds: u32) -> anyhow::Result<f64> {
    let total = seconds as usize + SKIP_SECONDS + if mode == Mode::Memleak { 12 } else { 0 };
    let mut args: Vec<String> = workload.to_vec();
    args.push(total.to_string());
    let mut child = match mode {
        Mode::Augur => Command::new(augur)
            .args(["record", "--profile", "memory", "-o", "/dev/null", "--"])
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
        _ => Command::new(&args[0])
            .args(&args[1..])
            .stdout(Stdio::piped())
            .spawn()?,
    };
    let lines = timed_lines(&mut child);
    let mut attached: Option<Instant> = None;
    let mut memleak = None;
    if mode == Mode::Memleak {
        let mut tool = Command::new("memleak-bpfcc")
            .args(["-p", &child.id().to_string(), "--top", "1", "600"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting memleak-bpfcc")?;
        let said = timed_lines(&mut tool);
        let deadline = Instant::now() + Duration::from_secs(30);
        while attached.is_none() && Instant::now() < deadline {
            if let Ok((at, line)) = said.recv_timeout(Duration::from_millis(200))
                && line.starts_with("Attaching to pid")
            {
                attached = Some(at);
            }
        }
        memleak = Some(tool);
    }
    let mut values: Vec<f64> = Vec::new();
    let mut seen = 0usize;
    while let Ok((at, line)) = lines.recv() {
        let Ok(value) = line.trim().parse::<f64>() else {
            continue;
        };
        seen += 1;
        let steady = match attached {
            Some(since) => at > since + Duration::from_secs(2),
            None => mode != Mode::Memleak && seen > SKIP_SECONDS,
        };
        if steady {
            values.push(value);
        }
    }
    let status = child.wait()?;
    if let Some(mut tool) = memleak {
        // SAFETY: a pid we spawned and have not reaped.
        unsafe { libc::kill(tool.id() as libc::pid_t, libc::SIGINT) };
        let _ = tool.wait();
    }
    if !status.success() {
        bail!("{} in mode {:?} failed: {status}", workload.join(" "), mode);
    }
    if mode == Mode::Memleak && attached.is_none() {
        bail!("memleak-bpfcc never attached (kernel headers?)");
    }
    median(&mut values).context("no steady seconds")
}

fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let out = dir.join("alloc_loop");
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(augur_tests::fixture_source("alloc_loop.c"))
        .status()?;
    if !status.success() {
        bail!("cc failed: {status}");
    }
    Ok(out)
}

fn slowdown(args: &Args, augur: &Path, dir: &Path) -> anyhow::Result<()> {
    let c_loop = build(dir)?;
    let workloads: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "C malloc/free loop",
            vec![c_loop.display().to_string()],
            "ns per free + malloc",
        ),
        (
            "CPython json round trips",
            vec![
                "python3".into(),
                augur_tests::fixture_source("python/json_loop.py")
                    .display()
                    .to_string(),
            ],
            "ns per round trip",
        ),
    ];
    let modes = [Mode::Off, Mode::Augur, Mode::Memleak];
    println!(
        "## Memory profile: slowdown of the watched program\n\n{} rounds of {} s per mode, alternating; load before: {}\n",
        args.rounds,
        args.seconds,
        load_average()
    );
    println!("| workload | mode | median per round | median | slowdown |");
    println!("|---|---|---|---|---|");
    for (name, command, unit) in &workloads {
        let mut results: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for _ in 0..args.rounds {
            for (i, mode) in modes.iter().enumerate() {
                results[i].push(run(*mode, augur, command, args.seconds)?);
            }
        }
        let base = median(&mut results[0].clone()).unwrap_or(f64::NAN);
        for (i, mode) in modes.iter().enumerate() {
            let rounds: Vec<String> = results[i].iter().map(|v| format!("{v:.0}")).collect();
            let m = median(&mut results[i].clone()).unwrap_or(f64::NAN);
            println!(
                "| {name} | {} | {} | {m:.0} {unit} | {:.2}x |",
                mode.name(),
                rounds.join(", "),
                m / base
            );
        }
    }
    Ok(())
}

fn agent_cost(args: &Args, augur: &Path, dir: &Path) -> anyhow::Result<()> {
    let c_loop = build(dir)?;
    let server_dir = dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    let server = Server::start(augur, &server_dir)?;
    let lifetime = (2 * args.agent_seconds + 60).to_string();
    let mut light: Vec<Child> = (0..args.processes)
        .map(|_| {
            Command::new(&c_loop)
                .args([lifetime.as_str(), "1000"])
                .stdout(Stdio::null())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    println!(
        "\n## Memory profile: agent cost\n\n{} processes at 1,000 allocations/s each, {} s per configuration\n",
        args.processes, args.agent_seconds
    );
    println!("| agent | CPU (ms/s) | peak RSS (MiB) | memory processes probed |");
    println!("|---|---|---|---|");
    for (name, config) in [
        ("on-CPU only", "profiles = []\n"),
        (
            "on-CPU + memory",
            "profiles = [\"memory\"]\n[memory]\nprocesses = \"^alloc_loop$\"\n",
        ),
    ] {
        let mut agent = Agent::start(
            augur,
            &server.ingest,
            dir,
            &name.replace([' ', '+'], "-"),
            19,
            Duration::from_secs(10),
            config,
        )?;
        let until = Instant::now() + Duration::from_secs(args.agent_seconds);
        agent.run_until(until)?;
        let probed = agent
            .metrics()
            .lines()
            .find_map(|l| l.strip_prefix("augur_agent_memory_processes "))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "-".into());
        let stopped = agent.stop()?;
        println!(
            "| {name} | {:.2} | {:.1} | {probed} |",
            stopped.cpu.as_secs_f64() * 1e3 / stopped.wall.as_secs_f64(),
            stopped.peak_rss_kib as f64 / 1024.0
        );
    }
    for child in &mut light {
        let _ = child.kill();
        let _ = child.wait();
    }
    server.stop()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = (|| -> anyhow::Result<()> {
        let augur = match &args.augur {
            Some(path) => path.clone(),
            None => std::env::current_exe()?
                .parent()
                .context("no directory")?
                .join("augur"),
        };
        let dir = tempfile::tempdir()?;
        if args.rounds > 0 {
            slowdown(&args, &augur, dir.path())?;
        }
        if args.processes > 0 {
            agent_cost(&args, &augur, dir.path())?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("memory-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
