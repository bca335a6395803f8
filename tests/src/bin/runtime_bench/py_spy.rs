//! Part 3 of `runtime-bench`: `py-spy record` on one busy Python process,
//! non-blocking then blocking, beside an agent with runtime frames; the
//! CPU of each over the same span.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_tests::bench::workload::Workload;
use augur_tests::bench::{CpuReading, ProgRuns, load_average, reap_within, rusage_cpu};

use super::{AGENT_WINDOW, BPF_WARM_UP, Frames, Options, PY_SPY_HZ, Server, Tools};

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

pub(crate) fn py_spy_part(
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
    let mut agent = tools.agent(server, dir, "py-spy-agent", PY_SPY_HZ, AGENT_WINDOW, frames)?;
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
pub(crate) fn py_spy_samples(text: &str) -> Option<u64> {
    let (_, rest) = text.rsplit_once("Samples: ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Samples in py-spy's raw (folded) output: the count ending each line.
pub(crate) fn raw_sample_count(raw: &str) -> u64 {
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
