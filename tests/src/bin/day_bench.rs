//! `day-bench`: a simulated day of a 1,000-host fleet on each storage
//! backend, then its size on disk and the latency of the queries people run.
//!
//! For each backend (SQLite in a temporary data directory; ClickHouse: a
//! `clickhouse-server` this command starts on loopback with temporary
//! directories), it starts `augur server`, loads one simulated day with
//! `augur loadgen --simulate` (see `docs/benchmarks.md`, "A simulated day"),
//! waits until the server stored every acknowledged sample, stops it, applies
//! the retention policy as of the simulated day's end (the same
//! `Store::compact` the server runs every 10 minutes), measures bytes on disk
//! against the stored sample count, starts the server again and times, over
//! its HTTP API, a flame graph of one service over the last hour and over the
//! day (as JSON, and as the web UI fetches it, `format=tree`), and the
//! fleet's top functions over the last hour. On ClickHouse it
//! settles the minute windows left into per-service rows after retention
//! and times the queries three times: reading every host's rows
//! (`--clickhouse-no-settled-reads`, as before per-service rows), reading
//! the settled rows without the query node's cache of stacks and frames
//! (`--clickhouse-no-read-cache`), and with it. Each server is fresh, so
//! its first request is the cold one. Prints Markdown; asserts nothing.
//!
//! The simulated day ends `--full-resolution` after a UTC midnight, so both
//! backends keep the same windows after retention: SQLite rolls up whole
//! hours, ClickHouse whole days, and both roll up exactly the day before that
//! midnight.
//!
//! ```sh
//! cargo build --release -p augur -p augur-tests
//! target/release/day-bench [--backend both] [--hosts 1000] [--repeat 9]
//! ```

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use augur_storage::{ClickHouseConfig, RetentionPolicy, Store};
use augur_tests::bench::load_average;
use augur_tests::clickhouse::ClickHouseNode;
use augur_tests::{http_get, http_json, start_server_with};
use clap::{CommandFactory, Parser, ValueEnum};

const HOUR_NANOS: i64 = 3_600_000_000_000;
const DAY_NANOS: i64 = 24 * HOUR_NANOS;
/// The ClickHouse database the benchmark writes.
const CH_DATABASE: &str = "augur_day";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    ClickHouse,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::ClickHouse => "ClickHouse",
        }
    }
}

/// Which backends a run loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backends {
    Sqlite,
    Clickhouse,
    Both,
}

impl Backends {
    fn each(self) -> Vec<Backend> {
        match self {
            Backends::Sqlite => vec![Backend::Sqlite],
            Backends::Clickhouse => vec![Backend::ClickHouse],
            Backends::Both => vec![Backend::Sqlite, Backend::ClickHouse],
        }
    }
}

/// Loads a simulated day of a fleet with `augur loadgen --simulate` into
/// each backend, applies retention (minute windows for the last H hours,
/// hour windows before), and prints bytes on disk per stored sample and the
/// latency of flame graphs (1 h, 24 h) and fleet top functions (1 h)
/// through the HTTP API.
///
/// --keep DIR keeps each backend's data under DIR; a later run with the
/// same DIR skips the load and retention and times the queries again on it.
#[derive(Debug, Parser)]
#[command(name = "day-bench")]
struct Options {
    /// The backends to load and query
    #[arg(
        long = "backend",
        value_name = "BACKEND",
        value_enum,
        default_value = "both"
    )]
    backends: Backends,
    /// Hosts of the simulated fleet
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = positive::<u32>)]
    hosts: u32,
    /// Hosts of the ClickHouse run, when it cannot take the full fleet in
    /// time [default: --hosts]
    #[arg(long, value_name = "N", value_parser = positive::<u32>)]
    clickhouse_hosts: Option<u32>,
    /// Services per host
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = positive::<u32>)]
    services: u32,
    /// Distinct stacks per service
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = positive::<u32>)]
    stacks: u32,
    /// Hours at the end of the day kept as minute windows (at most 23)
    #[arg(long, value_name = "H", default_value_t = 1, value_parser = full_resolution_hours)]
    full_resolution_hours: i64,
    /// Concurrent loadgen streams
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = positive::<usize>)]
    concurrency: usize,
    /// Warm requests per query, after the first (cold) one
    #[arg(long, value_name = "N", default_value_t = 9, value_parser = positive::<usize>)]
    repeat: usize,
    /// Keep each backend's data under DIR, to time queries again later
    /// without loading again [default: a temporary directory]
    #[arg(long, value_name = "DIR")]
    keep: Option<std::path::PathBuf>,
}

/// A positive whole number.
fn positive<T: std::str::FromStr + Default + PartialOrd>(text: &str) -> Result<T, String> {
    text.parse::<T>()
        .ok()
        .filter(|n| *n > T::default())
        .ok_or_else(|| format!("{text:?} is not a positive number"))
}

fn full_resolution_hours(text: &str) -> Result<i64, String> {
    positive::<u64>(text).map(|hours| hours.min(23) as i64)
}

fn main() -> ExitCode {
    let parsed = augur_tests::bench::parse_args::<Options>(std::env::args().skip(1));
    augur_tests::bench::main(Options::command(), parsed, run)
}

/// The simulated day: `[end - 24 h, end)`, `end` a whole number of hours
/// after the latest UTC midnight that leaves it in the past.
#[derive(Clone, Copy, Debug)]
struct Day {
    end: i64,
    full_resolution_hours: i64,
}

impl Day {
    fn new(full_resolution_hours: i64) -> Self {
        let now = now_nanos();
        let full = full_resolution_hours * HOUR_NANOS;
        let midnight = (now - full).div_euclid(DAY_NANOS) * DAY_NANOS;
        Self {
            end: midnight + full,
            full_resolution_hours,
        }
    }

    fn start(&self) -> i64 {
        self.end - DAY_NANOS
    }

    /// Retention as the benchmark configures it: minutes for the
    /// full-resolution hours, hours for 30 days.
    fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            minute_windows: Duration::from_secs(self.full_resolution_hours as u64 * 3600),
            hour_windows: Duration::from_secs(30 * 86_400),
            max_bytes: None,
        }
    }
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Median and max of some timings, in milliseconds.
#[derive(Clone, Debug, Default)]
struct Timing {
    first_ms: f64,
    median_ms: f64,
    max_ms: f64,
    /// The answer of a request that failed, which ends the series.
    error: Option<String>,
}

/// What one backend measured, with one way of reading it.
#[derive(Clone, Debug, Default)]
struct Outcome {
    backend: &'static str,
    hosts: u32,
    load_seconds: f64,
    load_avg_load: (String, String),
    batches: u64,
    retried: u64,
    failed: u64,
    samples_acknowledged: u64,
    samples_stored: u64,
    compaction_seconds: f64,
    minute_rows_rolled_up: u64,
    /// ClickHouse: windows summed per service after retention, and how long
    /// it took.
    windows_settled: usize,
    settle_seconds: f64,
    bytes_on_disk: u64,
    /// What the bytes are: files, or parts per table.
    bytes_detail: Vec<(String, u64)>,
    flame_1h: Timing,
    flame_24h: Timing,
    /// The same profiles as the web UI fetches them (`format=tree`).
    tree_1h: Timing,
    tree_24h: Timing,
    top_1h: Timing,
    flame_1h_stacks: u64,
    flame_24h_stacks: u64,
    load_avg_queries: (String, String),
}

fn run(options: &Options) -> anyhow::Result<()> {
    if std::env::var_os("AUGUR_BIN").is_none() {
        // target/release/day-bench -> target/release/augur
        let sibling = std::env::current_exe()?.with_file_name("augur");
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("AUGUR_BIN", sibling) };
    }
    let mut day = Day::new(options.full_resolution_hours);
    if let Some(keep) = &options.keep {
        // A kept load is timed over the day it simulated.
        std::fs::create_dir_all(keep)?;
        let path = keep.join("day.json");
        match std::fs::read(&path) {
            Ok(text) => {
                let kept: serde_json::Value = serde_json::from_slice(&text)?;
                day.end = kept["end"].as_i64().context("day.json without an end")?;
                day.full_resolution_hours = kept["full_resolution_hours"]
                    .as_i64()
                    .context("day.json without full_resolution_hours")?;
            }
            Err(_) => std::fs::write(
                &path,
                serde_json::json!({
                    "end": day.end,
                    "full_resolution_hours": day.full_resolution_hours,
                })
                .to_string(),
            )?,
        }
    }
    println!(
        "simulated day {} to {}; minute windows kept for the last {} h; {} hosts, {} services, {} stacks a service\n",
        rfc3339(day.start()),
        rfc3339(day.end),
        day.full_resolution_hours,
        options.hosts,
        options.services,
        options.stacks
    );
    let mut outcomes = Vec::new();
    for backend in options.backends.each() {
        eprintln!("day-bench: {} ...", backend.name());
        let measured = run_backend(options, backend, &day)
            .with_context(|| format!("the {} run", backend.name()))?;
        eprintln!("{}", table(&measured));
        outcomes.extend(measured);
    }
    print!("{}", table(&outcomes));
    Ok(())
}

/// Unix nanoseconds as RFC 3339 in UTC, whole seconds.
fn rfc3339(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Loads and measures one backend; ClickHouse's queries are timed three
/// times (see the module's docs).
fn run_backend(options: &Options, backend: Backend, day: &Day) -> anyhow::Result<Vec<Outcome>> {
    let temp = tempfile::tempdir()?;
    let dir = match &options.keep {
        Some(keep) => keep.join(backend.name().to_lowercase()),
        None => temp.path().to_owned(),
    };
    let data = dir.join("data");
    let clickhouse = match backend {
        Backend::Sqlite => None,
        Backend::ClickHouse => Some(ClickHouseNode::start(&dir.join("clickhouse"), 536_870_912)?),
    };
    let mut server_args: Vec<String> = vec!["--max-in-flight".into(), "64".into()];
    if let Some(ch) = &clickhouse {
        server_args.extend([
            "--clickhouse".into(),
            ch.url.clone(),
            "--clickhouse-database".into(),
            CH_DATABASE.into(),
        ]);
    }
    let args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let mut outcome = Outcome {
        backend: backend.name(),
        ..Outcome::default()
    };

    let loaded = dir.join("loaded.json");
    if let Ok(text) = std::fs::read(&loaded) {
        eprintln!("day-bench: timing the load kept in {}", dir.display());
        kept_load(&mut outcome, &serde_json::from_slice(&text)?);
    } else {
        load_and_compact(
            options,
            backend,
            day,
            &data,
            clickhouse.as_ref(),
            &args,
            &mut outcome,
        )?;
        if options.keep.is_some() {
            std::fs::write(&loaded, kept_json(&outcome).to_string())?;
        }
    }

    // Queries, on a fresh server over what retention left: on ClickHouse
    // first without the settled rows, then with them but without the read
    // cache of stacks and frames, then with both.
    let modes: &[(&'static str, &[&str])] = match backend {
        Backend::Sqlite => &[("SQLite", &[])],
        Backend::ClickHouse => &[
            (
                "ClickHouse, samples FINAL",
                &["--clickhouse-no-settled-reads"],
            ),
            (
                "ClickHouse, settled rows, no read cache",
                &["--clickhouse-no-read-cache"],
            ),
            ("ClickHouse, settled rows and read cache", &[]),
        ],
    };
    let mut outcomes = Vec::new();
    for &(name, flags) in modes {
        let mut args = args.clone();
        args.extend(flags);
        let server = start_server_with(&data, "127.0.0.1:0", &args)?;
        let base = server.http.clone().context("no HTTP address")?;
        let mut outcome = Outcome {
            backend: name,
            ..outcome.clone()
        };
        let load_before = load_average();
        let (from_1h, from_24h, to) = (
            rfc3339(day.end - HOUR_NANOS),
            rfc3339(day.start()),
            rfc3339(day.end),
        );
        let flame =
            |from: &str| format!("{base}api/v1/profile?service=loadgen-svc-0&from={from}&to={to}");
        let (timing, stacks) = time_get(&flame(&from_1h), options.repeat)?;
        (outcome.flame_1h, outcome.flame_1h_stacks) = (timing, stacks);
        let (timing, stacks) = time_get(&flame(&from_24h), options.repeat)?;
        (outcome.flame_24h, outcome.flame_24h_stacks) = (timing, stacks);
        outcome.tree_1h = time_get(&format!("{}&format=tree", flame(&from_1h)), options.repeat)?.0;
        outcome.tree_24h =
            time_get(&format!("{}&format=tree", flame(&from_24h)), options.repeat)?.0;
        let top = format!("{base}api/v1/fleet/functions?from={from_1h}&to={to}&limit=20");
        outcome.top_1h = time_get(&top, options.repeat)?.0;
        outcome.load_avg_queries = (load_before, load_average());
        stop(server);
        outcomes.push(outcome);
    }
    drop(clickhouse);
    Ok(outcomes)
}

/// Loads the simulated day into a fresh server, stops it, applies
/// retention and settles what is left, and measures the bytes on disk.
fn load_and_compact(
    options: &Options,
    backend: Backend,
    day: &Day,
    data: &Path,
    clickhouse: Option<&ClickHouseNode>,
    args: &[&str],
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    // Load.
    let server = start_server_with(data, "127.0.0.1:0", args)?;
    let base = server.http.clone().context("no HTTP address")?;
    let ingest = server.ingest.clone().context("no ingest address")?;
    let load_before = load_average();
    let started = Instant::now();
    let hosts = match backend {
        Backend::ClickHouse => options.clickhouse_hosts.unwrap_or(options.hosts),
        Backend::Sqlite => options.hosts,
    };
    outcome.hosts = hosts;
    let report = loadgen(options, hosts, day, &ingest)?;
    outcome.load_seconds = started.elapsed().as_secs_f64();
    outcome.load_avg_load = (load_before, load_average());
    let number = |key: &str| report[key].as_u64().unwrap_or(0);
    outcome.batches = number("acknowledged");
    outcome.retried = number("retried");
    outcome.failed = number("errors");
    outcome.samples_acknowledged = number("samples_acknowledged");
    // Acknowledged is durable; wait until queries see all of it too.
    let deadline = Instant::now() + Duration::from_secs(600);
    while stored_samples(&base)? < outcome.samples_acknowledged {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} acknowledged samples are stored after 10 minutes",
                stored_samples(&base)?,
                outcome.samples_acknowledged
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    stop(server);

    // Retention as of the simulated day's end.
    let store = match &clickhouse {
        None => Store::open(&data.join("augur.db"))?,
        Some(ch) => Store::clickhouse(ClickHouseConfig {
            database: CH_DATABASE.into(),
            timeout: Duration::from_secs(600),
            ..ClickHouseConfig::single(&ch.url)
        })?,
    };
    let started = Instant::now();
    let compaction = store.compact(&day.policy(), day.end)?;
    outcome.compaction_seconds = started.elapsed().as_secs_f64();
    outcome.minute_rows_rolled_up = compaction.minute_rows_rolled_up;
    // Every minute window left, summed per service, as the server's settle
    // task would once they were quiet for its delay (SQLite: nothing to do).
    let started = Instant::now();
    outcome.windows_settled = store.settle(now_nanos() + DAY_NANOS)?;
    outcome.settle_seconds = started.elapsed().as_secs_f64();
    outcome.samples_stored = store
        .services()?
        .iter()
        .map(|s| s.total_samples)
        .sum::<u64>();
    drop(store);
    (outcome.bytes_on_disk, outcome.bytes_detail) = match &clickhouse {
        None => sqlite_bytes(data)?,
        Some(ch) => clickhouse_bytes(&ch.url, CH_DATABASE)?,
    };

    Ok(())
}

/// The measurements of a load, kept beside its data (`--keep`).
fn kept_json(o: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "hosts": o.hosts,
        "load_seconds": o.load_seconds,
        "load_avg_load": [o.load_avg_load.0, o.load_avg_load.1],
        "batches": o.batches,
        "retried": o.retried,
        "failed": o.failed,
        "samples_acknowledged": o.samples_acknowledged,
        "samples_stored": o.samples_stored,
        "compaction_seconds": o.compaction_seconds,
        "minute_rows_rolled_up": o.minute_rows_rolled_up,
        "windows_settled": o.windows_settled,
        "settle_seconds": o.settle_seconds,
        "bytes_on_disk": o.bytes_on_disk,
        "bytes_detail": o.bytes_detail,
    })
}

/// [`kept_json`] read back.
fn kept_load(o: &mut Outcome, kept: &serde_json::Value) {
    let number = |key: &str| kept[key].as_u64().unwrap_or(0);
    let float = |key: &str| kept[key].as_f64().unwrap_or(0.0);
    let text = |i: usize| kept["load_avg_load"][i].as_str().unwrap_or("?").to_owned();
    o.hosts = number("hosts") as u32;
    o.load_seconds = float("load_seconds");
    o.load_avg_load = (text(0), text(1));
    o.batches = number("batches");
    o.retried = number("retried");
    o.failed = number("failed");
    o.samples_acknowledged = number("samples_acknowledged");
    o.samples_stored = number("samples_stored");
    o.compaction_seconds = float("compaction_seconds");
    o.minute_rows_rolled_up = number("minute_rows_rolled_up");
    o.windows_settled = number("windows_settled") as usize;
    o.settle_seconds = float("settle_seconds");
    o.bytes_on_disk = number("bytes_on_disk");
    o.bytes_detail = kept["bytes_detail"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| Some((pair[0].as_str()?.to_owned(), pair[1].as_u64()?)))
        .collect();
}

/// Stops a server; one that does not exit within 30 s of SIGTERM is killed,
/// which loses nothing here: everything acknowledged was stored before.
fn stop(server: augur_tests::AugurProcess) {
    if let Err(error) = server.terminate() {
        eprintln!("day-bench: {error:#}; killed");
    }
}

/// Runs `augur loadgen` for the simulated day; its JSON report.
fn loadgen(
    options: &Options,
    hosts: u32,
    day: &Day,
    ingest: &str,
) -> anyhow::Result<serde_json::Value> {
    let output = Command::new(augur_tests::augur_bin())
        .args(["loadgen", "--report", "json", "--server", ingest])
        .args(["--hosts", &hosts.to_string()])
        .args(["--services", &options.services.to_string()])
        .args(["--stacks", &options.stacks.to_string()])
        .args(["--simulate", "24h", "--start", &rfc3339(day.start())])
        .args([
            "--full-resolution",
            &format!("{}h", day.full_resolution_hours),
        ])
        .args(["--interval", "60s"])
        .args(["--concurrency", &options.concurrency.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .context("running augur loadgen")?;
    if !output.status.success() {
        bail!("augur loadgen failed: {}", output.status);
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("parsing loadgen's report")?;
    eprintln!("day-bench: loadgen {report}");
    Ok(report)
}

/// On-CPU samples the server's API lists over every service.
fn stored_samples(base: &str) -> anyhow::Result<u64> {
    let services = http_json(&format!("{base}api/v1/services"))?;
    Ok(services["services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["samples"].as_u64().unwrap_or(0))
        .sum())
}

/// GETs `url` once cold and `repeat` more times; the timings and, for a
/// JSON profile, its distinct stacks.
fn time_get(url: &str, repeat: usize) -> anyhow::Result<(Timing, u64)> {
    let mut times = Vec::with_capacity(repeat);
    let mut first_ms = 0.0;
    let mut stacks = 0;
    for i in 0..=repeat {
        let started = Instant::now();
        let (status, body) = http_get(url)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status != 200 {
            let text: String = String::from_utf8_lossy(&body).chars().take(160).collect();
            let error = format!("HTTP {status} after {ms:.0} ms: {text}");
            eprintln!("day-bench: GET {url}: {error}");
            return Ok((
                Timing {
                    error: Some(error),
                    ..Timing::default()
                },
                0,
            ));
        }
        // `format=tree` is binary: only JSON answers are counted.
        if i == 0 && body.first() == Some(&b'{') {
            let json: serde_json::Value = serde_json::from_slice(&body)?;
            stacks = json["stacks"].as_array().map_or(0, |s| s.len() as u64);
        }
        if i == 0 {
            first_ms = ms;
        } else {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((
        Timing {
            first_ms,
            median_ms: times[times.len() / 2],
            max_ms: *times.last().expect("repeat >= 1"),
            error: None,
        },
        stacks,
    ))
}

/// SQLite's files: the database, its WAL and shared memory.
fn sqlite_bytes(data: &Path) -> anyhow::Result<(u64, Vec<(String, u64)>)> {
    let mut detail = Vec::new();
    for name in ["augur.db", "augur.db-wal", "augur.db-shm"] {
        let bytes = std::fs::metadata(data.join(name)).map_or(0, |m| m.len());
        detail.push((name.to_owned(), bytes));
    }
    Ok((detail.iter().map(|(_, b)| b).sum(), detail))
}

/// Bytes on disk of `database`'s active parts on the server at `url`, in
/// total and by table.
fn clickhouse_bytes(url: &str, database: &str) -> anyhow::Result<(u64, Vec<(String, u64)>)> {
    let sql = format!(
        "SELECT table, toUInt64(sum(bytes_on_disk)) AS bytes, toUInt64(sum(rows)) AS rows,
                    toUInt64(count()) AS parts
             FROM system.parts WHERE active AND database = '{database}'
             GROUP BY table ORDER BY bytes DESC FORMAT JSONEachRow"
    );
    let mut response = ureq::post(&format!("{url}/?output_format_json_quote_64bit_integers=0"))
        .send(sql.as_bytes())?;
    let text = response.body_mut().read_to_string()?;
    let mut detail = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line)?;
        detail.push((
            format!(
                "{} ({} rows, {} parts)",
                row["table"].as_str().unwrap_or("?"),
                row["rows"],
                row["parts"]
            ),
            row["bytes"].as_u64().unwrap_or(0),
        ));
    }
    Ok((detail.iter().map(|(_, b)| b).sum(), detail))
}

fn table(outcomes: &[Outcome]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = write!(out, "| |");
    for o in outcomes {
        let _ = write!(out, " {} |", o.backend);
    }
    let _ = write!(out, "\n| --- |");
    for _ in outcomes {
        let _ = write!(out, " ---: |");
    }
    out.push('\n');
    let mut row = |name: &str, cell: &dyn Fn(&Outcome) -> String| {
        let _ = write!(out, "| {name} |");
        for o in outcomes {
            let _ = write!(out, " {} |", cell(o));
        }
        out.push('\n');
    };
    let timing = |t: &Timing| {
        if let Some(error) = &t.error {
            return format!("failed: {}", error.replace('|', "/"));
        }
        format!(
            "{:.1} / {:.1} ms (first {:.1})",
            t.median_ms, t.max_ms, t.first_ms
        )
    };
    row("hosts", &|o| o.hosts.to_string());
    row("load: wall time", &|o| format!("{:.0} s", o.load_seconds));
    row("load: batches acknowledged", &|o| o.batches.to_string());
    row("load: batches/s", &|o| {
        format!("{:.0}", o.batches as f64 / o.load_seconds.max(1e-9))
    });
    row("load: retried pushes / failed batches", &|o| {
        format!("{} / {}", o.retried, o.failed)
    });
    row("load average at start / end of load", &|o| {
        format!("{} / {}", o.load_avg_load.0, o.load_avg_load.1)
    });
    row("samples acknowledged", &|o| {
        o.samples_acknowledged.to_string()
    });
    row("samples stored after retention", &|o| {
        o.samples_stored.to_string()
    });
    row("retention: minute rows rolled up", &|o| {
        format!(
            "{} in {:.1} s",
            o.minute_rows_rolled_up, o.compaction_seconds
        )
    });
    row("settle after retention: windows in", &|o| {
        format!("{} in {:.1} s", o.windows_settled, o.settle_seconds)
    });
    row("bytes on disk", &|o| o.bytes_on_disk.to_string());
    row("**bytes per stored sample**", &|o| {
        format!(
            "**{:.3}**",
            o.bytes_on_disk as f64 / o.samples_stored.max(1) as f64
        )
    });
    row("bytes detail", &|o| {
        o.bytes_detail
            .iter()
            .map(|(name, bytes)| format!("{name}: {bytes}"))
            .collect::<Vec<_>>()
            .join("; ")
    });
    row("flame graph 1 h, JSON (median / max)", &|o| {
        timing(&o.flame_1h)
    });
    row("flame graph 24 h, JSON (median / max)", &|o| {
        timing(&o.flame_24h)
    });
    row(
        "flame graph 1 h as the UI fetches it, `format=tree`",
        &|o| timing(&o.tree_1h),
    );
    row(
        "flame graph 24 h as the UI fetches it, `format=tree`",
        &|o| timing(&o.tree_24h),
    );
    row("fleet top functions 1 h (median / max)", &|o| {
        timing(&o.top_1h)
    });
    row("stacks in the 1 h / 24 h flame graph", &|o| {
        format!("{} / {}", o.flame_1h_stacks, o.flame_24h_stacks)
    });
    row("load average at start / end of queries", &|o| {
        format!("{} / {}", o.load_avg_queries.0, o.load_avg_queries.1)
    });
    out
}
