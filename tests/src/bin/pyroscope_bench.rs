//! `pyroscope-bench`: ingest throughput per server core of Pyroscope pushes
//! (`POST /push.v1.PusherService/Push` with a gzipped Go CPU profile of
//! about 200 KiB) beside Augur's own gRPC batches of the same samples, in
//! one run against one `augur server`.
//!
//! The profile is synthetic and seeded: a Go service's call tree over a few
//! thousand functions with long package-qualified names and source files,
//! some locations with inlined lines, stacks 15-45 deep, sampled at 100 Hz
//! (`samples/count` and `cpu/nanoseconds`). Each push must be new content,
//! or the server would answer it as a retried duplicate: each carries the
//! big gzip member once compressed plus a tiny second member that sets the
//! profile's `time_nanos`, which pprof readers (ours too) concatenate.
//!
//! Augur's own path pushes, over gRPC, the very batch the server translates
//! that profile into, each with a new batch id. For each path, `--clients`
//! clients push back to back for `--duration`; the server's CPU time over
//! the phase and the second after it (its flusher storing what it held) is
//! the cost. Prints a Markdown table: pushes and samples per second, and
//! per CPU-second of the server.
//!
//! Usage: `cargo build --release -p augur -p augur-tests --bin pyroscope-bench &&
//! target/release/pyroscope-bench [--duration S] [--clients N] [--stacks N]`

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_profile::rng::SplitMix64;
use augur_tests::bench::process::CpuReading;
use augur_tests::bench::server::Server;
use augur_tests::bench::{self, cli::at_least_one};
use augur_wire::pprof_proto as pb;
use augur_wire::pyroscope::{PushOrigin, TranslateLimits, Translator};
use augur_wire::pyroscope_proto as push;
use clap::{CommandFactory, Parser};
use prost::Message;

/// Pushes the same Go CPU profile as Pyroscope pushes and as Augur batches
/// to one `augur server`, and prints the throughput of each per server core.
#[derive(Debug, Parser)]
#[command(name = "pyroscope-bench")]
struct Options {
    /// Seconds each path pushes for.
    #[arg(long, default_value = "10", value_parser = bench::cli::positive_seconds)]
    duration: Duration,
    /// Concurrent clients per path.
    #[arg(long, default_value = "4", value_parser = at_least_one::<usize>)]
    clients: usize,
    /// Distinct stacks in the profile (about 200 KiB gzipped at the default).
    #[arg(long, default_value = "2000", value_parser = at_least_one::<usize>)]
    stacks: usize,
    /// The augur binary (default: next to this one).
    #[arg(long)]
    augur: Option<std::path::PathBuf>,
}

const FUNCTIONS: usize = 2500;
const LOCATIONS: usize = 6000;
const PERIOD: i64 = 10_000_000;

fn main() -> ExitCode {
    let parsed = bench::parse_args::<Options>(std::env::args().skip(1));
    bench::main(Options::command(), parsed, run)
}

/// The synthetic Go CPU profile, without `time_nanos`.
fn go_profile(stacks: usize) -> pb::Profile {
    let mut rng = SplitMix64(0x005e_ed0f_9e37_79b9);
    let mut strings = vec![String::new()];
    let mut intern = |s: String| {
        strings.push(s);
        (strings.len() - 1) as i64
    };
    let samples_type = pb::ValueType {
        r#type: intern("samples".into()),
        unit: intern("count".into()),
    };
    let cpu_type = pb::ValueType {
        r#type: intern("cpu".into()),
        unit: intern("nanoseconds".into()),
    };
    let packages = [
        "cart",
        "checkout",
        "payments",
        "inventory",
        "search",
        "auth",
        "grpcx",
        "sqlx",
        "cache",
        "httpx",
    ];
    let verbs = [
        "Handle", "Process", "Encode", "Decode", "Lookup", "Validate", "Marshal", "Serve", "Flush",
        "Scan",
    ];
    let mut functions = Vec::with_capacity(FUNCTIONS);
    for i in 0..FUNCTIONS {
        let package = packages[i % packages.len()];
        let name = format!(
            "github.com/acme/shop/internal/{package}.(*{}{}).{}{}",
            package[..1].to_uppercase(),
            &package[1..],
            verbs[(i / 10) % verbs.len()],
            i
        );
        let file = format!(
            "/home/build/src/github.com/acme/shop/internal/{package}/{}_{}.go",
            verbs[i % verbs.len()].to_lowercase(),
            i % 37
        );
        functions.push(pb::Function {
            id: i as u64 + 1,
            name: intern(name.clone()),
            system_name: intern(name),
            filename: intern(file),
            start_line: 10,
        });
    }
    let mapping = pb::Mapping {
        id: 1,
        memory_start: 0x400000,
        memory_limit: 0x2000000,
        file_offset: 0,
        filename: intern("/usr/local/bin/shop".into()),
        build_id: intern("Xb1kPZ3ZqmJ1WqjH9bQ3/Ab12Cd34Ef56".into()),
        has_functions: true,
        ..Default::default()
    };
    let mut locations = Vec::with_capacity(LOCATIONS);
    for i in 0..LOCATIONS {
        let lines = match rng.next_u64() % 10 {
            0 => 3,
            1 | 2 => 2,
            _ => 1,
        };
        locations.push(pb::Location {
            id: i as u64 + 1,
            mapping_id: 1,
            address: 0x401000 + 16 * i as u64,
            line: (0..lines)
                .map(|_| pb::Line {
                    function_id: rng.next_u64() % FUNCTIONS as u64 + 1,
                    line: (rng.next_u64() % 900 + 1) as i64,
                    column: 0,
                })
                .collect(),
            is_folded: false,
        });
    }
    // Stacks walk a call tree: each frame's location depends on its caller,
    // so stacks share prefixes near the root.
    let samples = (0..stacks)
        .map(|_| {
            let depth = 15 + (rng.next_u64() % 31) as usize;
            let mut at = rng.next_u64() % 8;
            let mut ids = Vec::with_capacity(depth);
            for level in 0..depth {
                let fanout = if level < 4 { 3 } else { 12 };
                at = (at
                    .wrapping_mul(0x100_0000_01b3)
                    .wrapping_add(rng.next_u64() % fanout))
                    % LOCATIONS as u64;
                ids.push(at + 1);
            }
            ids.reverse();
            let count = 1 + (rng.next_u64() % 20) as i64;
            pb::Sample {
                location_id: ids,
                value: vec![count, count * PERIOD],
                label: Vec::new(),
            }
        })
        .collect();
    pb::Profile {
        sample_type: vec![samples_type, cpu_type],
        sample: samples,
        mapping: vec![mapping],
        location: locations,
        function: functions,
        string_table: strings,
        duration_nanos: 10_000_000_000,
        period_type: Some(cpu_type),
        period: PERIOD,
        ..Default::default()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// The profile with `time_nanos` set, as two gzip members.
fn variant(body: &[u8], time_nanos: i64) -> Vec<u8> {
    let tail = pb::Profile {
        time_nanos,
        ..Default::default()
    };
    let mut bytes = body.to_vec();
    bytes.extend_from_slice(&gzip(&tail.encode_to_vec()));
    bytes
}

fn labels() -> Vec<push::LabelPair> {
    [
        ("__name__", "process_cpu"),
        ("service_name", "bench-go"),
        ("env", "bench"),
    ]
    .into_iter()
    .map(|(name, value)| push::LabelPair {
        name: name.into(),
        value: value.into(),
    })
    .collect()
}

struct Phase {
    pushes: u64,
    failures: u64,
    elapsed: Duration,
    cpu: Duration,
}

/// Runs `push` from `clients` threads for `duration`, measuring the server.
fn phase(
    server_pid: libc::pid_t,
    clients: usize,
    duration: Duration,
    push: impl Fn(u64) -> bool + Send + Sync,
) -> anyhow::Result<Phase> {
    let before = CpuReading::take(server_pid).context("reading the server's CPU time")?;
    let started = Instant::now();
    let (sequence, failures, stop) = (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
    std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let n = sequence.fetch_add(1, Ordering::Relaxed);
                    if !push(n) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed();
    // The flusher stores what the phase left in memory.
    std::thread::sleep(Duration::from_secs(2));
    let after = CpuReading::take(server_pid).context("reading the server's CPU time")?;
    let failures = failures.into_inner();
    Ok(Phase {
        pushes: sequence.into_inner() - failures,
        failures,
        elapsed,
        cpu: after.since(&before),
    })
}

fn run(options: &Options) -> anyhow::Result<()> {
    let augur = options
        .augur
        .clone()
        .unwrap_or_else(|| bench::cli::sibling_binary("augur"));
    let profile = go_profile(options.stacks);
    let body = gzip(&profile.encode_to_vec());
    let samples = profile.sample.len() as u64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;

    // Augur's batch of the same profile, as the server translates it.
    let first = variant(&body, now);
    let origin = PushOrigin::from_labels(
        labels().iter().map(|l| (l.name.as_str(), l.value.as_str())),
        None,
    )?;
    let mut translator = Translator::new(TranslateLimits::default());
    translator.add_pprof(&origin, &first)?;
    let batches = translator.finish()?;
    let [batch] = &batches[..] else {
        bail!("the profile became {} batches, not one", batches.len());
    };
    let batch_payload = batch.payload.clone();

    let dir = tempfile::tempdir()?;
    let server = Server::start(&augur, dir.path())?;
    let pid = server.pid() as libc::pid_t;
    let push_url = format!("{}push.v1.PusherService/Push", server.http);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();

    let pyroscope = phase(pid, options.clients, options.duration, |n| {
        // A new minute-spread time per push: new content, a new batch id.
        let raw = variant(&body, now - (n as i64 % 600) * 1_000_000_000 - n as i64);
        let request = push::PushRequest {
            series: vec![push::RawProfileSeries {
                labels: labels(),
                samples: vec![push::RawSample {
                    raw_profile: raw,
                    id: String::new(),
                }],
            }],
        };
        agent
            .post(&push_url)
            .header("content-type", "application/proto")
            .send(&request.encode_to_vec()[..])
            .is_ok_and(|r| r.status() == 200)
    })?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let channel = runtime
        .block_on(tonic::transport::Endpoint::from_shared(server.ingest.clone())?.connect())?;
    let client = augur_wire::ingest::ingest_client::IngestClient::new(channel);
    let native = phase(pid, options.clients, options.duration, |n| {
        let mut client = client.clone();
        let request = augur_wire::ingest::PushRequest {
            batch_id: format!("bench-{n}"),
            payload: batch_payload.clone(),
        };
        runtime.block_on(client.push(request)).is_ok()
    })?;
    server.stop()?;

    println!(
        "Go CPU profile: {} stacks, {} KiB gzipped pprof; Augur batch of it: {} KiB (zstd); {} clients, {:?} per path; {} cores, load {}\n",
        samples,
        body.len() / 1024,
        batch_payload.len() / 1024,
        options.clients,
        options.duration,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench::report::load_average()
    );
    println!(
        "| path | pushes | failed | pushes/s | samples/s | server CPU s | pushes per CPU-s | samples per CPU-s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, phase) in [
        ("Pyroscope push (HTTP, pprof)", &pyroscope),
        ("Augur batch (gRPC)", &native),
    ] {
        let secs = phase.elapsed.as_secs_f64();
        let cpu = phase.cpu.as_secs_f64().max(1e-9);
        println!(
            "| {name} | {} | {} | {:.1} | {:.0} | {:.2} | {:.1} | {:.0} |",
            phase.pushes,
            phase.failures,
            phase.pushes as f64 / secs,
            (phase.pushes * samples) as f64 / secs,
            cpu,
            phase.pushes as f64 / cpu,
            (phase.pushes * samples) as f64 / cpu,
        );
    }
    if pyroscope.pushes == 0 || native.pushes == 0 {
        bail!("a path stored nothing");
    }
    Ok(())
}
