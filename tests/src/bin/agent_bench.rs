//! `agent-bench`: what always-on profiling costs on this host, next to
//! `perf record`.
//!
//! Keeps every CPU busy with the split fixture, starts an `augur server` for
//! the agent to ship to, then runs, one after the other for the same
//! duration: `augur agent` at 19 Hz, `augur agent` at 99 Hz, and
//! `perf record -F 99 -a -g`. Each is reaped with `wait4`, whose rusage gives
//! its CPU time (user + system) and peak RSS; perf's post-processing after
//! `sleep` ends is part of its cost and counted. Samples come from the
//! server's `/metrics` (agent) and perf's own summary line.
//!
//! In-kernel sampling work (the BPF program, perf's callchain walk) runs in
//! the interrupted task and is charged to the workload, not to the profiler,
//! for both tools alike. For the agent it is measured separately from its BPF
//! programs' run-time statistics and shown in its own column.
//!
//! Prints a Markdown table and a verdict for the target: the agent at 99 Hz
//! uses no more CPU than `perf record` and stays under 64 MiB RSS; then the
//! fleet target, at most a quarter of `perf record`'s CPU. A missed target is
//! a result, not an error: the exit code is non-zero only when the benchmark
//! could not run (1), or on bad usage or without root (2).
//!
//! With `--unwinder`, the agents walk user stacks that way (`auto`: unwind
//! tables, `frame-pointers`); the table builder's totals are read from the
//! agent's `/metrics` before it stops. With `--idle-wakes`, the idle
//! processes (python3 and bash, alternately) wake every 10 s for a few
//! milliseconds of CPU, so the agent sees them and gives them tables, as
//! a host's daemons would have.
//!
//! Usage: `agent-bench [--duration SECS] [--idle-processes N] [--idle-wakes]
//! [--unwinder auto|frame-pointers] [--augur PATH] [--perf PATH]`

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_tests::bench::cli::{count, positive_seconds, sibling_binary};
use augur_tests::bench::report::{AGENT_WINDOW, STEADY_FROM as WARM_UP, host_forks, steady_window};
use augur_tests::bench::server::{Server, log_tail};
use augur_tests::bench::{self, BpfStats, CpuReading, Parsed, reap_within, rusage_cpu, try_reap};
use augur_tests::{build_split_fixture, http_get, is_root};
use clap::{CommandFactory, Parser};

/// The agent's RSS must stay under this.
const RSS_TARGET_MIB: f64 = 64.0;

/// The fleet target: the agent at 99 Hz uses at most this share of the CPU
/// `perf record` uses over the same run.
const FLEET_CPU_SHARE: f64 = 0.25;

/// Measures CPU time and peak RSS of `augur agent` at 19 Hz and 99 Hz and
/// of `perf record -F 99 -a -g`, each for the same duration while every CPU
/// runs a busy workload beside idle processes, and prints a table. Needs
/// root.
#[derive(Debug, Parser)]
#[command(name = "agent-bench")]
struct Options {
    /// How long each profiler runs, in seconds
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = positive_seconds)]
    duration: Duration,
    /// Sleeping processes kept alive during the runs
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = count::<usize>)]
    idle_processes: usize,
    /// Idle processes are python3 and bash waking every 10 s for a moment of
    /// CPU (default: `sleep`, never running)
    #[arg(long)]
    idle_wakes: bool,
    /// The agents' [sampling] unwinder [default: the agent's default]
    #[arg(long, value_name = "U", value_parser = ["auto", "frame-pointers"])]
    unwinder: Option<String>,
    /// The augur binary [default: `augur` next to this program]
    #[arg(long, value_name = "PATH", default_value_os_t = sibling_binary("augur"), hide_default_value = true)]
    augur: PathBuf,
    /// The perf binary
    #[arg(long, value_name = "PATH", default_value = "/usr/bin/perf")]
    perf: PathBuf,
}

fn parse_args(args: impl Iterator<Item = String>) -> anyhow::Result<Parsed<Options>> {
    bench::parse_args(args)
}

fn main() -> ExitCode {
    let parsed = parse_args(std::env::args().skip(1));
    if matches!(parsed, Ok(Parsed::Run(_))) && !is_root() {
        eprintln!(
            "agent-bench: needs root: the agent samples with eBPF and perf records \
             system-wide (run it with sudo)"
        );
        return ExitCode::from(2);
    }
    bench::main(Options::command(), parsed, run)
}

/// One profiler's cost over one run.
struct Measurement {
    tool: &'static str,
    frequency_hz: u32,
    wall: Duration,
    cpu: Duration,
    /// CPU rate once started, before stopping: CPU seconds per second.
    steady: Option<f64>,
    peak_rss_kib: u64,
    samples: u64,
    /// Samples the agent lost before sending, by reason; `None` for perf.
    lost: Option<BTreeMap<String, u64>>,
    /// Run time of the agent's BPF programs, charged to the sampled tasks.
    in_kernel: Option<Duration>,
    /// Mean run time of the perf-event program (`sample_stack`).
    bpf_per_run: Option<Duration>,
    /// The agent's unwind-table metrics at the end of the run.
    unwind: Vec<(String, f64)>,
    /// Processes and threads created on the host during the run: the
    /// agent's cost grows with process churn, so this says how quiet it was.
    host_forks: Option<u64>,
}

impl Measurement {
    fn cpu_percent(&self) -> f64 {
        100.0 * self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }
}

fn run(options: &Options) -> anyhow::Result<()> {
    if !options.augur.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p augur` or pass --augur",
            options.augur.display()
        );
    }
    if !options.perf.exists() {
        bail!(
            "{} is missing: install perf (Debian: apt-get install linux-perf) or pass --perf",
            options.perf.display()
        );
    }
    let scratch = tempfile::Builder::new()
        .prefix("agent-bench-")
        .tempdir()
        .context("creating a scratch directory")?;
    let dir = scratch.path();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let secs = options.duration.as_secs_f64();

    eprintln!("agent-bench: building the workload and starting the server");
    // Long enough for all three runs; it is killed at the end, and ends by
    // itself should this program die first.
    let workload_secs = 3.0 * secs + 600.0;
    let mut workload = Workload::start(
        dir,
        cpus,
        options.idle_processes,
        options.idle_wakes,
        workload_secs,
    )?;
    let server = Server::start(&options.augur, dir)?;
    // Let the workload settle before the first measurement.
    std::thread::sleep(Duration::from_secs(2));

    let _stats = BpfStats::enable().context("enabling BPF run-time statistics")?;
    let mut results = Vec::new();
    for frequency_hz in [19, 99] {
        workload.check()?;
        eprintln!("agent-bench: augur agent at {frequency_hz} Hz for {secs} s");
        results.push(measure_agent(options, &server, frequency_hz, dir)?);
    }
    workload.check()?;
    eprintln!("agent-bench: perf record -F 99 -a -g for {secs} s");
    results.push(measure_perf(options, dir)?);
    workload.check()?;

    server.stop()?;
    drop(workload);

    print_table(&results, cpus, secs);
    print_unwind(&results);
    print_losses(&results);
    print_verdict(&results);
    Ok(())
}

/// An idle python3: sleeps `argv[1]` s, then every 10 s runs a moment,
/// until `argv[2]` s have passed.
const IDLE_PYTHON: &str = "\
import sys, time
end = time.time() + float(sys.argv[2])
time.sleep(float(sys.argv[1]))
while time.time() < end:
    sum(range(20000))
    time.sleep(10)
";

/// The same in bash.
const IDLE_BASH: &str = "\
end=$((SECONDS + $2)); sleep $1
while [ $SECONDS -lt $end ]; do
  for ((i = 0; i < 2000; i++)); do :; done
  sleep 10
done";

/// Busy processes, one per CPU, and idle ones, killed on drop.
struct Workload {
    children: Vec<Child>,
    idle: Vec<Child>,
}

impl Workload {
    fn start(dir: &Path, cpus: usize, idle: usize, wakes: bool, secs: f64) -> anyhow::Result<Self> {
        let binary = build_split_fixture(dir, "bench-split")?;
        let mut workload = Self {
            children: Vec::new(),
            idle: Vec::new(),
        };
        // Mostly idle processes, as on a real host: the agent must not pay
        // for processes that never run.
        for i in 0..idle {
            let lifetime = format!("{}", secs.ceil() as u64 + 60);
            // Staggered, so that they do not all wake at once.
            let first = format!("{}", i % 10);
            let mut command = match (wakes, i % 2) {
                (false, _) => {
                    let mut c = Command::new("sleep");
                    c.arg(&lifetime);
                    c
                }
                (true, 0) => {
                    let mut c = Command::new("python3");
                    c.args(["-c", IDLE_PYTHON, &first, &lifetime]);
                    c
                }
                (true, _) => {
                    let mut c = Command::new("bash");
                    c.args(["-c", IDLE_BASH, "idle", &first, &lifetime]);
                    c
                }
            };
            let child = command
                .stdin(Stdio::null())
                .spawn()
                .context("starting an idle process")?;
            workload.idle.push(child);
        }
        for _ in 0..cpus {
            let child = Command::new(&binary)
                .arg(format!("{secs}"))
                .stdin(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            workload.children.push(child);
        }
        Ok(workload)
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
        for child in self.children.iter_mut().chain(&mut self.idle) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn measure_agent(
    options: &Options,
    server: &Server,
    frequency_hz: u32,
    dir: &Path,
) -> anyhow::Result<Measurement> {
    let before = server.counts()?;
    let log = dir.join(format!("agent-{frequency_hz}hz.log"));
    let forks_before = host_forks();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let mut command = Command::new(&options.augur);
    command
        .args(["agent", "--server", &server.ingest, "--frequency"])
        .arg(frequency_hz.to_string())
        .args(["--window", &format!("{}s", AGENT_WINDOW.as_secs())])
        .args(["--metrics", &format!("127.0.0.1:{metrics_port}")]);
    if let Some(unwinder) = &options.unwinder {
        let config = dir.join(format!("agent-{unwinder}.toml"));
        std::fs::write(&config, format!("[sampling]\nunwinder = \"{unwinder}\"\n"))
            .context("writing the agent config")?;
        command.arg("--config").arg(config);
    }
    let start = Instant::now();
    let child = command
        .env("AUGUR_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).context("creating the agent log")?)
        .spawn()
        .with_context(|| format!("starting {} agent", options.augur.display()))?;
    let pid = child.id() as libc::pid_t;
    // The child is reaped with wait4 below, never through `Child`.
    drop(child);

    let steady = run_until(
        pid,
        start + options.duration,
        steady_window(start, options.duration),
    )
    .with_context(|| {
        format!(
            "augur agent at {frequency_hz} Hz; its log:\n{}",
            log_tail(&log)
        )
    })?;
    // The programs go away with the agent: read their totals while it runs.
    let bpf = bpf_run_time(pid);
    let unwind = unwind_metrics(&format!("http://127.0.0.1:{metrics_port}/metrics"));
    // SAFETY: kill with a pid we spawned and have not reaped.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let (status, usage) = reap_within(pid, Duration::from_secs(60))
        .with_context(|| format!("stopping augur agent at {frequency_hz} Hz"))?;
    let wall = start.elapsed();
    let host_forks = forks_before
        .zip(host_forks())
        .map(|(a, b)| b.saturating_sub(a));
    if !status.success() {
        bail!(
            "augur agent at {frequency_hz} Hz failed ({status}); its log:\n{}",
            log_tail(&log)
        );
    }
    let counts = server.counts()?.since(&before);
    Ok(Measurement {
        tool: "augur agent",
        frequency_hz,
        wall,
        cpu: rusage_cpu(&usage),
        steady,
        peak_rss_kib: usage.ru_maxrss as u64,
        samples: counts.accepted,
        lost: Some(counts.lost),
        in_kernel: bpf.map(|b| b.0),
        bpf_per_run: bpf.and_then(|b| b.1),
        unwind,
        host_forks,
    })
}

fn measure_perf(options: &Options, dir: &Path) -> anyhow::Result<Measurement> {
    const FREQUENCY_HZ: u32 = 99;
    let log = dir.join("perf.log");
    let data = dir.join("perf.data");
    let forks_before = host_forks();
    let start = Instant::now();
    let child = Command::new(&options.perf)
        .args(["record", "-F", &FREQUENCY_HZ.to_string(), "-a", "-g", "-o"])
        .arg(&data)
        .args([
            "--",
            "sleep",
            &format!("{}", options.duration.as_secs_f64()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).context("creating the perf log")?)
        .spawn()
        .with_context(|| format!("starting {} record", options.perf.display()))?;
    let pid = child.id() as libc::pid_t;
    drop(child);
    // Stop watching a little before `sleep` ends, while perf still samples.
    let sampling_end = start + options.duration.mul_f64(0.98);
    let steady = run_until(pid, sampling_end, steady_window(start, options.duration))
        .with_context(|| {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            format!("perf record:\n{output}")
        })?;
    // perf ends by itself once `sleep` does and it has written its build-ids.
    let (status, usage) = reap_within(pid, options.duration + Duration::from_secs(600))
        .context("waiting for perf record")?;
    let wall = start.elapsed();
    let host_forks = forks_before
        .zip(host_forks())
        .map(|(a, b)| b.saturating_sub(a));
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    if !status.success() {
        bail!("perf record failed ({status}):\n{output}");
    }
    let samples = perf_samples(&output)
        .with_context(|| format!("no sample count in perf record's output:\n{output}"))?;
    Ok(Measurement {
        tool: "perf record -g",
        frequency_hz: FREQUENCY_HZ,
        wall,
        cpu: rusage_cpu(&usage),
        steady,
        peak_rss_kib: usage.ru_maxrss as u64,
        samples,
        lost: None,
        in_kernel: None,
        bpf_per_run: None,
        unwind: Vec::new(),
        host_forks,
    })
}

/// Lets `pid` run until `end`, failing if it exits first, and returns its
/// steady CPU rate in CPU seconds per second, measured over `steady` if given.
fn run_until(
    pid: libc::pid_t,
    end: Instant,
    steady: Option<(Instant, Instant)>,
) -> anyhow::Result<Option<f64>> {
    let mut marks = steady.map(|(from, to)| [from, to]).into_iter().flatten();
    let mut next_mark = marks.next();
    let mut readings = Vec::new();
    loop {
        if let Some((status, _)) = try_reap(pid)? {
            bail!("exited early ({status})");
        }
        let now = Instant::now();
        if next_mark.is_some_and(|mark| now >= mark) {
            readings.push((now, CpuReading::take(pid)));
            next_mark = marks.next();
        }
        if now >= end && next_mark.is_none() {
            let rate = match readings.as_slice() {
                [(t0, Some(c0)), (t1, Some(c1))] => {
                    Some(c1.since(c0).as_secs_f64() / (*t1 - *t0).as_secs_f64())
                }
                _ => None,
            };
            return Ok(rate);
        }
        // The next reading or the end, whichever comes first and is still ahead.
        let wake = [next_mark, Some(end)]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
            .unwrap_or(now);
        std::thread::sleep(
            wake.saturating_duration_since(now)
                .min(Duration::from_millis(250)),
        );
    }
}

/// N from perf's `[ perf record: Captured and wrote X MB FILE (N samples) ]`.
fn perf_samples(output: &str) -> Option<u64> {
    let line = output
        .lines()
        .find(|l| l.contains("perf record: Captured and wrote"))?;
    let (_, tail) = line.rsplit_once('(')?;
    tail.split_whitespace().next()?.parse().ok()
}

/// The agent's unwind-table gauges and counters (`augur_agent_unwind_*`).
fn unwind_metrics(url: &str) -> Vec<(String, f64)> {
    let Ok((200, body)) = http_get(url) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with("augur_agent_unwind"))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((
                name.trim_start_matches("augur_agent_").to_owned(),
                value.parse().ok()?,
            ))
        })
        .collect()
}

/// Total run time of the BPF programs `pid` holds open, from their fdinfo,
/// and the mean run time of its perf-event program run most often.
fn bpf_run_time(pid: libc::pid_t) -> Option<(Duration, Option<Duration>)> {
    let mut seen = HashSet::new();
    let mut total_ns: u64 = 0;
    let mut busiest: (u64, u64) = (0, 0);
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).ok()? {
        let Ok(info) = std::fs::read_to_string(entry.ok()?.path()) else {
            continue;
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        // Only program fds carry `prog_id`; one program may be open twice.
        let (Some(id), Some(ns)) = (field("prog_id:"), field("run_time_ns:")) else {
            continue;
        };
        if seen.insert(id) {
            total_ns += ns;
            let runs = field("run_cnt:").unwrap_or(0);
            // BPF_PROG_TYPE_PERF_EVENT: sample_stack, not the exit hook a
            // busy host runs more often at 19 Hz.
            if field("prog_type:") == Some(7) && runs > busiest.1 {
                busiest = (ns, runs);
            }
        }
    }
    let per_run = (busiest.1 > 0).then(|| Duration::from_nanos(busiest.0 / busiest.1));
    (!seen.is_empty()).then(|| (Duration::from_nanos(total_ns), per_run))
}

fn print_table(results: &[Measurement], cpus: usize, secs: f64) {
    println!(
        "\nEach profiler ran for {secs} s while {cpus} busy processes kept all {cpus} CPUs busy."
    );
    println!(
        "CPU = user + system time of the profiler process (rusage); % is of one core over the wall time."
    );
    println!(
        "Steady CPU = CPU time per wall second over whole {}-s agent windows from {} s in, past startup.",
        AGENT_WINDOW.as_secs(),
        WARM_UP.as_secs()
    );
    println!(
        "In-kernel = run time of the agent's BPF programs, charged to the sampled tasks, not the agent."
    );
    println!(
        "Host forks = processes and threads created on the host during the run (other activity).\n"
    );
    println!(
        "| tool | Hz | wall s | CPU s | CPU % of 1 core | steady CPU ms/s | peak RSS MiB | samples | lost | in-kernel s | BPF us/run | host forks |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for m in results {
        let in_kernel = m
            .in_kernel
            .map_or_else(|| "n/a".to_owned(), |d| format!("{:.3}", d.as_secs_f64()));
        let lost = m.lost.as_ref().map_or_else(
            || "n/a".to_owned(),
            |lost| lost.values().sum::<u64>().to_string(),
        );
        let steady = m
            .steady
            .map_or_else(|| "n/a".to_owned(), |rate| format!("{:.2}", 1000.0 * rate));
        let per_run = m.bpf_per_run.map_or_else(
            || "n/a".to_owned(),
            |d| format!("{:.2}", d.as_secs_f64() * 1e6),
        );
        println!(
            "| {} | {} | {:.1} | {:.2} | {:.2} | {} | {:.1} | {} | {} | {} | {} | {} |",
            m.tool,
            m.frequency_hz,
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.cpu_percent(),
            steady,
            m.peak_rss_mib(),
            m.samples,
            lost,
            in_kernel,
            per_run,
            m.host_forks
                .map_or_else(|| "n/a".to_owned(), |n| n.to_string()),
        );
    }
}

fn print_unwind(results: &[Measurement]) {
    for m in results.iter().filter(|m| !m.unwind.is_empty()) {
        println!(
            "\n{} at {} Hz, unwind tables at the end:",
            m.tool, m.frequency_hz
        );
        for (name, value) in &m.unwind {
            println!("    {name} {value}");
        }
    }
}

fn print_losses(results: &[Measurement]) {
    for m in results {
        for (labels, n) in m.lost.iter().flatten() {
            println!(
                "\n{} at {} Hz lost {n} samples before sending: {labels}",
                m.tool, m.frequency_hz
            );
        }
    }
}

fn print_verdict(results: &[Measurement]) {
    let agent = results
        .iter()
        .find(|m| m.tool == "augur agent" && m.frequency_hz == 99);
    let perf = results.iter().find(|m| m.tool != "augur agent");
    let (Some(agent), Some(perf)) = (agent, perf) else {
        return;
    };
    let cpu_ok = agent.cpu <= perf.cpu;
    let rss_ok = agent.peak_rss_mib() < RSS_TARGET_MIB;
    let mark = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "\nTarget: agent at 99 Hz CPU <= perf record CPU: {:.2} s vs {:.2} s ({:.0}% of perf): {}",
        agent.cpu.as_secs_f64(),
        perf.cpu.as_secs_f64(),
        100.0 * agent.cpu.as_secs_f64() / perf.cpu.as_secs_f64().max(f64::MIN_POSITIVE),
        mark(cpu_ok),
    );
    println!(
        "Target: agent at 99 Hz peak RSS < {RSS_TARGET_MIB} MiB: {:.1} MiB: {}",
        agent.peak_rss_mib(),
        mark(rss_ok),
    );
    println!(
        "Verdict: {}",
        if cpu_ok && rss_ok {
            "target met"
        } else {
            "target missed"
        }
    );
    let share = agent.cpu.as_secs_f64() / perf.cpu.as_secs_f64().max(f64::MIN_POSITIVE);
    println!(
        "Fleet target: agent at 99 Hz CPU <= {FLEET_CPU_SHARE}x perf record CPU: {:.3} s vs {:.3} s ({share:.2}x): {}",
        agent.cpu.as_secs_f64(),
        perf.cpu.as_secs_f64(),
        mark(share <= FLEET_CPU_SHARE),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use augur_tests::bench::metric_series;

    #[test]
    fn parses_perf_summary() {
        let out = "[ perf record: Woken up 1 times to write data ]\n\
                   [ perf record: Captured and wrote 0.093 MB /tmp/x (399 samples) ]\n";
        assert_eq!(perf_samples(out), Some(399));
        assert_eq!(perf_samples("nothing"), None);
    }

    #[test]
    fn reads_metric_series() {
        let text = "# HELP x\n\
                    augur_aggregator_samples_accepted_total 12\n\
                    augur_aggregator_samples_accepted_total_extra 5\n\
                    augur_aggregator_agent_samples_lost_total{reason=\"a\"} 2\n\
                    augur_aggregator_agent_samples_lost_total{reason=\"b c\"} 3\n";
        assert_eq!(
            metric_series(text, "augur_aggregator_samples_accepted_total"),
            [(String::new(), 12.0)]
        );
        assert_eq!(
            metric_series(text, "augur_aggregator_agent_samples_lost_total"),
            [
                ("{reason=\"a\"}".to_owned(), 2.0),
                ("{reason=\"b c\"}".to_owned(), 3.0)
            ]
        );
        assert!(metric_series(text, "missing").is_empty());
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
        assert_eq!(window(8), None);
    }

    #[test]
    fn parses_arguments() {
        let args = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        let Ok(Parsed::Run(o)) = args(&["--duration", "5", "--augur=/x/augur"]) else {
            panic!("expected options");
        };
        assert_eq!(o.duration, Duration::from_secs(5));
        assert_eq!(o.augur, PathBuf::from("/x/augur"));
        assert!(!o.idle_wakes && o.unwinder.is_none());
        let Ok(Parsed::Run(o)) = args(&["--idle-wakes", "--unwinder", "frame-pointers"]) else {
            panic!("expected options");
        };
        assert!(o.idle_wakes);
        assert_eq!(o.unwinder.as_deref(), Some("frame-pointers"));
        assert!(args(&["--unwinder", "dwarf"]).is_err());
        assert!(args(&["--duration", "0"]).is_err());
        assert!(args(&["--duration"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert!(matches!(args(&["--help"]), Ok(Parsed::Help)));
    }
}
