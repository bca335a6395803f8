//! `soak`: `augur server` held at about twice its sustained capacity for a
//! long stretch (10 minutes by default), to show that memory stays bounded,
//! the excess is refused with backpressure, and every acknowledged sample
//! is stored.
//!
//! It starts `augur server` (SQLite, a temporary data directory), measures
//! the capacity with a short `augur loadgen` run that offers far more than
//! any server takes (unless `--capacity` gives it), then runs `augur
//! loadgen` offering twice that for `--duration`, sampling the server's RSS
//! (and, from its `/metrics`, the heap in use and SQLite's share)
//! every second. It prints Markdown: batches per second sustained and
//! refused (`RESOURCE_EXHAUSTED`), latency, peak and final RSS, and
//! acknowledged against stored samples. It exits 1 when they differ.
//!
//! ```sh
//! cargo build --release -p augur -p augur-tests --bin soak
//! target/release/soak [--duration 10m] [--capacity BATCHES_PER_S]
//! ```

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_tests::bench::{self, load_average};
use augur_tests::{AugurProcess, http_json, start_server_with, try_metric};
use clap::{CommandFactory, Parser};

/// Runs `augur server` and `augur loadgen` at --overload times the server's
/// sustained capacity (batches/s; measured by a --calibrate run that offers
/// far more than it takes, unless --capacity gives it) for --duration,
/// sampling the server's RSS every second.
///
/// Prints batches/s sustained and refused, latency, peak and final RSS, and
/// acknowledged vs stored samples; exits 1 when a sample was lost. Loadgen
/// spreads its hosts over --connections HTTP/2 connections, as a fleet
/// would: the server takes at most 32 streams on one.
///
/// The augur binary is $AUGUR_BIN, else the one beside this command.
#[derive(Debug, Parser)]
#[command(name = "soak")]
struct Options {
    /// How long the overload runs (90s, 10m, 1h)
    #[arg(long, value_name = "DUR", default_value = "10m", value_parser = parse_duration)]
    duration: Duration,
    /// The server's sustained capacity in batches/s [default: measured]
    #[arg(long, value_name = "N", value_parser = positive_number)]
    capacity: Option<f64>,
    /// How long the capacity is measured for
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    calibrate: Duration,
    /// Offered load, as a multiple of the capacity
    #[arg(long, value_name = "X", default_value_t = 2.0, value_parser = positive_number)]
    overload: f64,
    /// Simulated hosts
    #[arg(long, value_name = "N", default_value_t = 4000, value_parser = positive_whole)]
    hosts: u32,
    /// HTTP/2 connections loadgen spreads its hosts over
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = positive_whole)]
    connections: u32,
    /// Batches loadgen keeps in flight
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = positive_whole)]
    concurrency: u32,
    /// The server's --max-in-flight
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = positive_whole)]
    max_in_flight: u32,
}

/// A positive, finite number.
fn positive_number(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0)
        .ok_or_else(|| format!("{text:?} is not a positive number"))
}

/// A positive number, its whole part.
fn positive_whole(text: &str) -> Result<u32, String> {
    positive_number(text).map(|n| n as u32)
}

fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 90s or 10m"))?;
    Ok(match unit {
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => bail!("{text:?} is not a duration like 90s or 10m"),
    })
}

fn main() -> ExitCode {
    if std::env::var_os("AUGUR_BIN").is_none()
        && let Some(beside) = std::env::current_exe()
            .ok()
            .map(|exe| exe.with_file_name("augur"))
            .filter(|path| path.exists())
    {
        // SAFETY: no other thread runs yet to read the environment.
        unsafe { std::env::set_var("AUGUR_BIN", beside) };
    }
    let parsed = bench::parse_args::<Options>(std::env::args().skip(1));
    bench::main(Options::command(), parsed, run)
}

/// A `FIELD: N kB` line of a /proc file, in bytes.
fn proc_kib_field(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A resident-set-size figure of `pid` from /proc/PID/status, in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    proc_kib_field(&format!("/proc/{pid}/status"), field)
}

/// What the sampler saw of the server's memory.
#[derive(Debug, Default)]
struct MemorySamples {
    /// RSS every second.
    rss: Vec<u64>,
    /// Heap in use (`augur_heap_in_use_bytes`) every 10 s.
    heap: Vec<u64>,
    /// SQLite's allocations (`augur_sqlite_memory_bytes`) every 10 s.
    sqlite: Vec<u64>,
}

/// Samples `pid`'s RSS every second, and the heap and SQLite gauges of
/// its `/metrics` every ten, until `running` clears.
fn sample_memory(
    pid: u32,
    metrics: String,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<MemorySamples> {
    std::thread::spawn(move || {
        let mut samples = MemorySamples::default();
        let started = Instant::now();
        let mut ticks = 0u64;
        while running.load(Ordering::Relaxed) {
            if let Some(rss) = status_bytes(pid, "VmRSS:") {
                samples.rss.push(rss);
            }
            if ticks % 10 == 0 {
                let gauge = |name| try_metric(&metrics, name).map(|v| v as u64);
                if let Some(heap) = gauge("augur_heap_in_use_bytes") {
                    samples.heap.push(heap);
                }
                if let Some(sqlite) = gauge("augur_sqlite_memory_bytes") {
                    samples.sqlite.push(sqlite);
                }
            }
            if ticks % 30 == 29 {
                eprintln!(
                    "soak: {:>4} s, server RSS {} MiB, heap in use {} MiB, SQLite {} MiB",
                    started.elapsed().as_secs(),
                    samples.rss.last().copied().unwrap_or(0) >> 20,
                    samples.heap.last().copied().unwrap_or(0) >> 20,
                    samples.sqlite.last().copied().unwrap_or(0) >> 20,
                );
            }
            ticks += 1;
            std::thread::sleep(Duration::from_secs(1));
        }
        samples
    })
}

/// Runs `augur loadgen --report json` against `ingest` over `connections`
/// connections; its report.
fn loadgen(ingest: &str, connections: u32, extra: &[String]) -> anyhow::Result<serde_json::Value> {
    let mut command = Command::new(augur_tests::augur_bin());
    command.args(["loadgen", "--report", "json"]);
    for _ in 0..connections {
        command.args(["--server", ingest]);
    }
    let output = command
        .args(extra)
        .output()
        .context("running augur loadgen")?;
    if !output.status.success() {
        bail!(
            "augur loadgen failed: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("parsing loadgen's report")?;
    eprintln!("soak: loadgen {report}");
    Ok(report)
}

/// Sum of `samples` over every service the server stores.
fn stored_samples(base: &str) -> anyhow::Result<u64> {
    let services = http_json(&format!("{base}api/v1/services"))?;
    Ok(services["services"]
        .as_array()
        .context("no services array")?
        .iter()
        .filter_map(|s| s["samples"].as_u64())
        .sum())
}

/// A short description of this machine.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let memory = proc_kib_field("/proc/meminfo", "MemTotal:")
        .map_or("?".into(), |b| format!("{} GiB", b >> 30));
    format!("{cpus} CPUs ({model}), {memory}")
}

fn number(report: &serde_json::Value, key: &str) -> u64 {
    report[key].as_u64().unwrap_or(0)
}

fn run(options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data: PathBuf = dir.path().join("data");
    let in_flight = options.max_in_flight.to_string();
    let server = start_server_with(&data, "127.0.0.1:0", &["--max-in-flight", &in_flight])?;
    let base = server.http.clone().context("no HTTP address")?;
    let ingest = server.ingest.clone().context("no ingest address")?;
    let concurrency = options.concurrency.to_string();
    let hosts = options.hosts.to_string();
    let load_before = load_average();

    // Capacity: what the server acknowledges when offered far more.
    let (capacity, calibration) = match options.capacity {
        Some(capacity) => (capacity, None),
        None => {
            let report = loadgen(
                &ingest,
                options.connections,
                &[
                    "--hosts".into(),
                    hosts.clone(),
                    "--interval".into(),
                    "1s".into(),
                    "--duration".into(),
                    format!("{}s", options.calibrate.as_secs()),
                    "--concurrency".into(),
                    concurrency.clone(),
                    "--seed".into(),
                    "1".into(),
                ],
            )?;
            let capacity = report["batches_per_second"].as_f64().unwrap_or(0.0);
            if capacity <= 0.0 {
                bail!("the calibration run acknowledged nothing: {report}");
            }
            (capacity, Some(report))
        }
    };
    let offered = capacity * options.overload;
    // Enough hosts at one batch a second each, held to the offered rate.
    let soak_hosts = (offered.ceil() as u64).max(1).to_string();
    eprintln!(
        "soak: capacity {capacity:.1} batches/s; offering {offered:.1} for {} s",
        options.duration.as_secs()
    );

    let running = Arc::new(AtomicBool::new(true));
    let memory = sample_memory(server.pid(), format!("{base}metrics"), running.clone());
    let started = Instant::now();
    let report = loadgen(
        &ingest,
        options.connections,
        &[
            "--hosts".into(),
            soak_hosts.clone(),
            "--interval".into(),
            "1s".into(),
            "--rate".into(),
            format!("{offered:.3}"),
            "--duration".into(),
            format!("{}s", options.duration.as_secs()),
            "--concurrency".into(),
            concurrency,
            "--seed".into(),
            "2".into(),
        ],
    );
    let elapsed = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let memory = memory.join().expect("memory sampler");
    let report = report?;

    let acknowledged = number(&report, "samples_acknowledged")
        + calibration
            .as_ref()
            .map_or(0, |r| number(r, "samples_acknowledged"));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stored = stored_samples(&base)?;
    while stored != acknowledged && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        stored = stored_samples(&base)?;
    }
    let final_rss = status_bytes(server.pid(), "VmRSS:").unwrap_or(0);
    let hwm = status_bytes(server.pid(), "VmHWM:").unwrap_or(0);
    let load_after = load_average();
    stop(server);

    print_report(&Summary {
        options,
        capacity,
        calibrated: calibration.is_some(),
        offered,
        soak_hosts: &soak_hosts,
        report: &report,
        elapsed,
        hwm,
        final_rss,
        memory: &memory,
        acknowledged,
        stored,
        load: (load_before, load_after),
    });
    if stored != acknowledged {
        bail!("{acknowledged} samples acknowledged but {stored} stored");
    }
    Ok(())
}

fn stop(server: AugurProcess) {
    if let Err(error) = server.terminate() {
        eprintln!("soak: stopping the server: {error:#}");
    }
}

struct Summary<'a> {
    options: &'a Options,
    capacity: f64,
    calibrated: bool,
    offered: f64,
    soak_hosts: &'a str,
    report: &'a serde_json::Value,
    elapsed: Duration,
    hwm: u64,
    final_rss: u64,
    memory: &'a MemorySamples,
    acknowledged: u64,
    stored: u64,
    load: (String, String),
}

fn print_report(s: &Summary<'_>) {
    let r = s.report;
    let seconds = r["elapsed_seconds"]
        .as_f64()
        .unwrap_or(s.elapsed.as_secs_f64())
        .max(1e-9);
    let refused = r["attempt_errors_by_code"]["ResourceExhausted"]
        .as_u64()
        .unwrap_or(0);
    let other_refusals: u64 = r["attempt_errors_by_code"]
        .as_object()
        .map(|codes| {
            codes
                .iter()
                .filter(|(code, _)| *code != "ResourceExhausted")
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0);
    // RSS in the second half of the run: flat if memory is bounded.
    let half = &s.memory.rss[s.memory.rss.len() / 2..];
    let (half_min, half_max) = (
        half.iter().copied().min().unwrap_or(0),
        half.iter().copied().max().unwrap_or(0),
    );
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / f64::from(1 << 20));
    let latency = |q: &str| {
        format!(
            "{:.1} ms",
            r["latency_us"][q].as_u64().unwrap_or(0) as f64 / 1000.0
        )
    };
    println!("## Soak\n");
    println!("| | |\n| --- | --- |");
    println!("| machine | {} |", machine());
    println!(
        "| load average before / after | {} / {} |",
        s.load.0, s.load.1
    );
    println!(
        "| capacity | {:.1} batches/s ({}) |",
        s.capacity,
        if s.calibrated {
            format!("measured over {} s", s.options.calibrate.as_secs())
        } else {
            "given".into()
        }
    );
    println!(
        "| offered | {:.1} batches/s ({}x, {} hosts over {} connections, --concurrency {}, server --max-in-flight {}) |",
        s.offered,
        s.options.overload,
        s.soak_hosts,
        s.options.connections,
        s.options.concurrency,
        s.options.max_in_flight
    );
    println!("| duration | {:.0} s |", seconds);
    println!(
        "| batches sent / acknowledged | {} / {} |",
        number(r, "sent"),
        number(r, "acknowledged")
    );
    println!(
        "| sustained | {:.1} batches/s, {:.0} samples/s |",
        number(r, "acknowledged") as f64 / seconds,
        number(r, "samples_acknowledged") as f64 / seconds
    );
    println!(
        "| refused (RESOURCE_EXHAUSTED) | {refused} attempts, {:.1}/s, all retried |",
        refused as f64 / seconds
    );
    println!("| other failed attempts | {other_refusals} |");
    println!(
        "| never sent (loadgen's slots full) | {} batches |",
        number(r, "behind_schedule")
    );
    println!("| batches given up | {} |", number(r, "errors"));
    println!(
        "| push latency p50 / p99 / max | {} / {} / {} |",
        latency("p50"),
        latency("p99"),
        latency("max")
    );
    println!(
        "| server RSS peak / final | {} / {} (VmHWM {}) |",
        mib(s.memory.rss.iter().copied().max().unwrap_or(0)),
        mib(s.final_rss),
        mib(s.hwm)
    );
    println!(
        "| server RSS, second half of the run | {} to {} |",
        mib(half_min),
        mib(half_max)
    );
    let minutes: Vec<String> = s
        .memory
        .rss
        .iter()
        .skip(59)
        .step_by(60)
        .map(|&b| (b >> 20).to_string())
        .collect();
    println!(
        "| server RSS at each minute (MiB) | {} |",
        minutes.join(", ")
    );
    let peak_and_last = |v: &[u64]| {
        format!(
            "{} / {}",
            mib(v.iter().copied().max().unwrap_or(0)),
            mib(v.last().copied().unwrap_or(0))
        )
    };
    println!(
        "| server heap in use, peak / final (`augur_heap_in_use_bytes`) | {} |",
        peak_and_last(&s.memory.heap)
    );
    println!(
        "| of it SQLite, peak / final (`augur_sqlite_memory_bytes`) | {} |",
        peak_and_last(&s.memory.sqlite)
    );
    println!(
        "| samples acknowledged / stored | {} / {} |",
        s.acknowledged, s.stored
    );
    println!(
        "| samples lost | {} |",
        s.acknowledged as i128 - s.stored as i128
    );
}
