//! `augur loadgen`: many simulated agents pushing realistic batches to one or
//! more aggregators over real gRPC, in the spirit of rpc-perf.
//!
//! Each simulated host belongs to one service, pushes one batch per interval
//! with ids `loadgen-<seed>-<host>-<seq>`, and retries a batch the server
//! could not take right now with the same id, as a real agent would. The
//! report at the end says what was sent, acknowledged and lost, and how long
//! acknowledged pushes took.
//!
//! With `--simulate`, the hosts live on a simulated clock instead: every
//! host's batches carry sample timestamps from `--start` on, advancing by
//! `--interval` per batch, and are pushed as fast as the servers take them
//! (bounded by `--concurrency`), so a day of a fleet loads in minutes. Each
//! host then draws `--samples-per-minute` samples one by one from its
//! service's stacks. Before the last `--full-resolution` of the span a host
//! sends one batch per hour carrying the whole hour's samples instead of one
//! per interval: once the server rolls minutes up into hours (retention),
//! that hour is stored exactly as the hour's minute batches would have left
//! it, at a sixtieth of the pushes. `docs/benchmarks.md` ("A simulated day")
//! says how this differs from a real day.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use augur_agent::transport::AuthChannel;
use augur_profile::rng::SplitMix64;
use augur_wire::batch::compress;
use augur_wire::ingest::ingest_client::IngestClient;
use augur_wire::ingest::{
    Batch, Binary, Frame, KernelFrame, Process, PushRequest, Sample, UserFrame, frame,
};
use clap::{Args, ValueEnum};
use tokio::sync::Semaphore;

use crate::parse_duration;
use crate::security::GrpcClientArgs;

/// Arguments of `augur loadgen`.
#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// Ingest URL to push to, e.g. http://127.0.0.1:7070; repeat to spread
    /// the simulated hosts over several aggregators.
    #[arg(long = "server", default_value = "http://127.0.0.1:7070")]
    servers: Vec<String>,
    /// Simulated agents.
    #[arg(long, default_value_t = 100)]
    hosts: u32,
    /// Services the hosts are spread over.
    #[arg(long, default_value_t = 10)]
    services: u32,
    /// Frames per stack.
    #[arg(long, default_value_t = 20)]
    stack_depth: u32,
    /// Distinct stacks per service.
    #[arg(long, default_value_t = 200)]
    stacks: u32,
    /// Stacks drawn per batch (at most --stacks), skewed towards a few hot
    /// ones; repeats add up, so a batch holds fewer distinct stacks (the
    /// report says how many).
    #[arg(long, default_value_t = 64)]
    rows_per_batch: u32,
    /// Distinct build-ids per service over the run (rolling deploys).
    #[arg(long, default_value_t = 1)]
    deploys: u32,
    /// Each agent's batch interval.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    interval: Duration,
    /// Cap on batches per second over all agents.
    #[arg(long)]
    rate: Option<f64>,
    /// How long to generate new batches; retries may run a little longer.
    /// Ignored with --simulate.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Simulate this span of time on a simulated clock, pushing as fast as
    /// the servers accept, instead of pushing in real time.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    simulate: Option<Duration>,
    /// Start of the simulated span: RFC 3339, `now` or `-DUR` before now
    /// [default: the span before now]. Only with --simulate.
    #[arg(long, value_name = "TIME", requires = "simulate")]
    start: Option<String>,
    /// The last part of the simulated span sent as one batch per host per
    /// --interval; before it, one batch per host per hour holding the
    /// hour's samples. Start and the end of the hour batches must fall on
    /// whole hours [default: the whole span]. Only with --simulate.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "simulate")]
    full_resolution: Option<Duration>,
    /// Samples per host per simulated minute, drawn one by one (19 Hz on 2
    /// CPUs half busy: 1,140). Only with --simulate.
    #[arg(long, default_value_t = 1140, requires = "simulate")]
    samples_per_minute: u32,
    /// Pushes in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seed of the synthetic stacks and build-ids; also part of batch ids.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    report: ReportFormat,
    #[command(flatten)]
    transport: GrpcClientArgs,
}

/// How the final report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One JSON object on stdout.
    Json,
    /// A readable table.
    Table,
}

/// Attempts per batch before it is given up and counted as an error.
const MAX_ATTEMPTS: u32 = 12;
/// First retry delay; doubles per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Per-attempt deadline, so a hung connection becomes a retry.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Sampling period the synthetic batches claim (19 Hz, the agent default).
const PERIOD_NANOS: u64 = 1_000_000_000 / 19;
/// One minute and one hour in nanoseconds.
const MINUTE_NANOS: i64 = 60_000_000_000;
const HOUR_NANOS: i64 = 3_600_000_000_000;

/// Kernel frames put at the leaf of some stacks, leaf first.
const KERNEL_STACKS: &[&[&str]] = &[
    &[
        "copy_user_enhanced_fast_string",
        "tcp_recvmsg",
        "sock_recvmsg",
        "__sys_recvfrom",
        "do_syscall_64",
        "entry_SYSCALL_64_after_hwframe",
    ],
    &[
        "clear_page_erms",
        "handle_mm_fault",
        "do_user_addr_fault",
        "exc_page_fault",
        "asm_exc_page_fault",
    ],
    &[
        "_raw_spin_unlock_irqrestore",
        "try_to_wake_up",
        "futex_wake",
        "do_futex",
        "__x64_sys_futex",
        "do_syscall_64",
        "entry_SYSCALL_64_after_hwframe",
    ],
    &[
        "ext4_file_write_iter",
        "vfs_write",
        "ksys_write",
        "do_syscall_64",
        "entry_SYSCALL_64_after_hwframe",
    ],
];

/// The synthetic fleet: what every host runs, derived from the seed alone.
#[derive(Clone, Debug)]
struct Fleet {
    seed: u64,
    hosts: u32,
    services: u32,
    stack_depth: u32,
    stacks: u32,
    rows_per_batch: u32,
    deploys: u32,
    /// With `Some(n)`, batches hold `n` samples per minute they cover, drawn
    /// one at a time, instead of `rows_per_batch` draws of 1-20 samples.
    samples_per_minute: Option<u32>,
}

impl Fleet {
    fn service_of(&self, host: u32) -> u32 {
        host % self.services
    }

    /// The service's executable build-id in one deploy.
    fn build_id(&self, service: u32, deploy: u32) -> Vec<u8> {
        let mut rng =
            SplitMix64::from_parts(&[self.seed, 1, u64::from(service), u64::from(deploy)]);
        (0..20).map(|_| rng.next_u64() as u8).collect()
    }

    /// A libc shared by every service.
    fn libc_build_id(&self) -> Vec<u8> {
        let mut rng = SplitMix64::from_parts(&[self.seed, 2]);
        (0..20).map(|_| rng.next_u64() as u8).collect()
    }

    /// Stack `index` of `service`, leaf first. Stacks share their roots and
    /// part ways towards the leaf, like a real call tree; binary 0 is the
    /// executable, binary 1 libc.
    fn stack(&self, service: u32, index: u32) -> Vec<Frame> {
        let depth = self.stack_depth.max(1);
        let kernel: &[&str] = if index % 4 == 0 {
            KERNEL_STACKS[(index / 4) as usize % KERNEL_STACKS.len()]
        } else {
            &[]
        };
        let kernel_len = (kernel.len() as u32).min(depth.saturating_sub(1));
        let user_len = depth - kernel_len;
        let mut frames: Vec<Frame> = kernel[..kernel_len as usize]
            .iter()
            .map(|f| Frame {
                kind: Some(frame::Kind::Kernel(KernelFrame {
                    function: (*f).to_owned(),
                    module: String::new(),
                })),
            })
            .collect();
        // Root first: level l's node depends on the prefix of the stack.
        let mut user: Vec<Frame> = (0..user_len)
            .map(|level| {
                let node = u64::from(index) * u64::from(level + 1) / u64::from(user_len);
                let mut rng = SplitMix64::from_parts(&[
                    self.seed,
                    3,
                    u64::from(service),
                    u64::from(level),
                    node,
                ]);
                let libc_leaf = level + 1 == user_len && index % 3 == 1;
                UserFrame {
                    binary: u32::from(libc_leaf),
                    file_offset: (0x1000 + rng.below(0x40_0000)) & !0xf,
                }
            })
            .map(|u| Frame {
                kind: Some(frame::Kind::User(u)),
            })
            .collect();
        user.reverse();
        frames.extend(user);
        frames
    }

    /// Batch `seq` of `host`, covering `[start, end)`.
    fn batch(&self, host: u32, seq: u64, deploy: u32, start: i64, end: i64) -> Batch {
        let service = self.service_of(host);
        let mut rng = SplitMix64::from_parts(&[self.seed, 4, u64::from(host), seq]);
        // Skewed towards low indices: a few hot stacks, a long tail.
        let draw = |rng: &mut SplitMix64| {
            let u = rng.below(1 << 20) as f64 / f64::from(1 << 20);
            ((u * u * u) * f64::from(self.stacks.max(1))) as u32
        };
        let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
        match self.samples_per_minute {
            Some(per_minute) => {
                let minutes = (end - start).max(0) as f64 / MINUTE_NANOS as f64;
                let samples = (f64::from(per_minute) * minutes).round() as u64;
                for _ in 0..samples {
                    *counts.entry(draw(&mut rng)).or_default() += 1;
                }
            }
            None => {
                for _ in 0..self.rows_per_batch.min(self.stacks).max(1) {
                    let index = draw(&mut rng);
                    *counts.entry(index).or_default() += 1 + rng.below(20);
                }
            }
        }
        Batch {
            host: format!("loadgen-host-{host}"),
            start_unix_nanos: start,
            end_unix_nanos: end,
            profile_type: "cpu".into(),
            unit: "nanoseconds".into(),
            period: PERIOD_NANOS,
            binaries: vec![
                Binary {
                    build_id: self.build_id(service, deploy),
                    path: format!("/usr/bin/loadgen-svc-{service}"),
                },
                Binary {
                    build_id: self.libc_build_id(),
                    path: "/usr/lib/x86_64-linux-gnu/libc.so.6".into(),
                },
            ],
            processes: vec![Process {
                pid: 1000 + host,
                labels: [
                    ("service".to_owned(), format!("loadgen-svc-{service}")),
                    ("host".to_owned(), format!("loadgen-host-{host}")),
                ]
                .into(),
            }],
            samples: counts
                .into_iter()
                .map(|(index, count)| Sample {
                    process: 0,
                    frames: self.stack(service, index),
                    count,
                })
                .collect(),
            dropped: Default::default(),
        }
    }
}

/// What happened to every push, for the report.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    acknowledged: u64,
    duplicates: u64,
    retried: u64,
    samples_sent: u64,
    samples_acknowledged: u64,
    /// Distinct stacks over all batches sent.
    stacks_sent: u64,
    /// Batches given up, by the code of their last attempt.
    errors: BTreeMap<String, u64>,
    /// Every failed attempt, retried or not, by code.
    attempt_errors: BTreeMap<String, u64>,
    /// Batches due before the end that were never sent.
    behind_schedule: u64,
    /// Latency of each acknowledged push's successful attempt, in µs.
    latencies_us: Vec<u64>,
}

/// Codes that mean "not now": the batch is kept and retried with its id.
fn retryable(code: tonic::Code) -> bool {
    use tonic::Code;
    // Unknown and Cancelled are what a connection torn down mid-call looks
    // like to the client; the server never answers with them itself.
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
    )
}

fn code_name(code: tonic::Code) -> String {
    format!("{code:?}")
}

/// Pushes one batch until acknowledged, refused, or out of attempts.
async fn push_batch(
    mut client: IngestClient<AuthChannel>,
    batch_id: String,
    payload: Vec<u8>,
    samples: u64,
    tally: Arc<Mutex<Tally>>,
) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        let started = Instant::now();
        let mut request = tonic::Request::new(PushRequest {
            batch_id: batch_id.clone(),
            payload: payload.clone(),
        });
        request.set_timeout(PUSH_TIMEOUT);
        let result = client.push(request).await;
        let elapsed = started.elapsed();
        if !record_attempt(&tally, result, elapsed, samples, attempt, &batch_id) {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Counts one attempt; true when the batch should be tried again.
fn record_attempt(
    tally: &Mutex<Tally>,
    result: Result<tonic::Response<augur_wire::ingest::PushResponse>, tonic::Status>,
    elapsed: Duration,
    samples: u64,
    attempt: u32,
    batch_id: &str,
) -> bool {
    let mut tally = tally.lock().expect("tally lock");
    match result {
        Ok(response) => {
            let response = response.into_inner();
            tally.acknowledged += 1;
            tally.duplicates += u64::from(response.duplicate);
            tally.samples_acknowledged += samples;
            tally.latencies_us.push(elapsed.as_micros() as u64);
            false
        }
        Err(status) => {
            let code = status.code();
            *tally.attempt_errors.entry(code_name(code)).or_default() += 1;
            if !retryable(code) || attempt == MAX_ATTEMPTS {
                tracing::debug!(batch_id, %status, "batch given up");
                *tally.errors.entry(code_name(code)).or_default() += 1;
                return false;
            }
            tally.retried += 1;
            true
        }
    }
}

fn unix_nanos(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Runs the load and prints the report.
pub fn run(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    if args.hosts == 0 || args.services == 0 || args.stacks == 0 || args.deploys == 0 {
        bail!("--hosts, --services, --stacks and --deploys must be at least 1");
    }
    if args.rows_per_batch == 0 || args.rows_per_batch > 100_000 {
        bail!("--rows-per-batch must be 1..=100000");
    }
    if args.stack_depth == 0 || args.stack_depth > 1024 {
        bail!("--stack-depth must be 1..=1024");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args
        .rate
        .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
    {
        bail!("--rate must be a positive number of batches per second");
    }
    let simulation = args
        .simulate
        .map(|span| Simulation::new(&args, span))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (tally, elapsed) = match &simulation {
        Some(simulation) => runtime.block_on(simulate(&args, simulation))?,
        None => runtime.block_on(generate(&args))?,
    };
    let mut report = Report::new(&args, tally, elapsed);
    report.simulation = simulation;
    match args.report {
        ReportFormat::Json => println!("{}", report.json()),
        ReportFormat::Table => print!("{}", report.table()),
    }
    Ok(ExitCode::SUCCESS)
}

/// One lazily connected client per server URL.
fn clients(args: &LoadgenArgs) -> anyhow::Result<Vec<IngestClient<AuthChannel>>> {
    let security = args.transport.security()?;
    args.servers
        .iter()
        .map(|url| {
            // Lazy: a server that is down at the start is retried like later.
            let channel = augur_agent::transport::connect(url, &security, None)?;
            Ok(IngestClient::new(channel))
        })
        .collect()
}

fn fleet(args: &LoadgenArgs) -> Fleet {
    Fleet {
        seed: args.seed,
        hosts: args.hosts,
        services: args.services,
        stack_depth: args.stack_depth,
        stacks: args.stacks,
        rows_per_batch: args.rows_per_batch,
        deploys: args.deploys,
        samples_per_minute: args.simulate.map(|_| args.samples_per_minute),
    }
}

/// The simulated clock of `--simulate`: which span, and where hour batches
/// give way to batches of one interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Simulation {
    start: i64,
    end: i64,
    /// From here on, one batch per interval; before it, one per hour.
    full_from: i64,
    interval: i64,
}

impl Simulation {
    fn new(args: &LoadgenArgs, span: Duration) -> anyhow::Result<Self> {
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let (span, interval) = (nanos(span), nanos(args.interval));
        if span <= 0 || interval <= 0 || interval > HOUR_NANOS {
            bail!("--simulate must be positive and --interval within 1ns..=1h");
        }
        if args.samples_per_minute == 0 || args.samples_per_minute > 1_000_000 {
            bail!("--samples-per-minute must be 1..=1000000");
        }
        let start = match &args.start {
            Some(text) => augur_web::parse_time(text, SystemTime::now())
                .map_err(|e| anyhow::anyhow!("--start: {e}"))?,
            None => unix_nanos(SystemTime::now()).saturating_sub(span),
        };
        let end = start.saturating_add(span);
        let full = args.full_resolution.map_or(span, nanos).min(span);
        let full_from = end - full;
        if full_from > start && (start % HOUR_NANOS != 0 || full_from % HOUR_NANOS != 0) {
            bail!(
                "with --full-resolution shorter than --simulate, --start and the start of \
                 the full-resolution part must fall on whole hours"
            );
        }
        Ok(Self {
            start,
            end,
            full_from,
            interval,
        })
    }

    /// The span of the batch a host sends at simulated time `at`.
    fn batch_end(&self, at: i64) -> i64 {
        let step = if at < self.full_from {
            HOUR_NANOS
        } else {
            self.interval
        };
        (at + step).min(self.end)
    }

    /// Batches one host sends over the whole span.
    fn batches_per_host(&self) -> u64 {
        let hours = (self.full_from - self.start).max(0) / HOUR_NANOS;
        let rest = (self.end - self.full_from.max(self.start)) as u64;
        hours as u64 + rest.div_ceil(self.interval as u64)
    }
}

/// Pushes every host's batches of the simulated span, oldest simulated time
/// first across the fleet, as fast as the in-flight slots free up.
async fn simulate(args: &LoadgenArgs, sim: &Simulation) -> anyhow::Result<(Tally, Duration)> {
    let clients = clients(args)?;
    let fleet = Arc::new(fleet(args));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let slots = Arc::new(Semaphore::new(args.concurrency));
    let rate_gap = args.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let started = Instant::now();
    let mut next_allowed = started;
    let mut due: BinaryHeap<Reverse<(i64, u32, u64)>> = (0..fleet.hosts)
        .map(|h| Reverse((sim.start, h, 0)))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(Reverse((at, host, seq))) = due.pop() {
        if at >= sim.end {
            continue;
        }
        if let Some(gap) = rate_gap {
            tokio::time::sleep_until(next_allowed.into()).await;
            next_allowed = next_allowed.max(Instant::now()) + gap;
        }
        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
        let end = sim.batch_end(at);
        let progress = (at - sim.start) as f64 / (sim.end - sim.start) as f64;
        let deploy = ((progress * f64::from(fleet.deploys)) as u32).min(fleet.deploys - 1);
        let client = clients[host as usize % clients.len()].clone();
        let batch_id = format!("loadgen-{}-{host}-{seq}", args.seed);
        let (fleet, tally) = (fleet.clone(), tally.clone());
        // Drawing and compressing run on the runtime's threads, in parallel.
        tasks.spawn(async move {
            let batch = fleet.batch(host, seq, deploy, at, end);
            let samples: u64 = batch.samples.iter().map(|s| s.count).sum();
            match compress(&batch, 3) {
                Ok(payload) => {
                    {
                        let mut tally = tally.lock().expect("tally lock");
                        tally.sent += 1;
                        tally.samples_sent += samples;
                        tally.stacks_sent += batch.samples.len() as u64;
                    }
                    push_batch(client, batch_id, payload, samples, tally).await;
                }
                Err(error) => {
                    tracing::warn!(%error, batch_id, "compressing a batch failed");
                    let mut tally = tally.lock().expect("tally lock");
                    *tally.errors.entry("compress".into()).or_default() += 1;
                }
            }
            drop(permit);
        });
        due.push(Reverse((end, host, seq + 1)));
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let tally = std::mem::take(&mut *tally.lock().expect("tally lock"));
    Ok((tally, elapsed))
}

async fn generate(args: &LoadgenArgs) -> anyhow::Result<(Tally, Duration)> {
    let clients = clients(args)?;
    let fleet = Arc::new(fleet(args));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let slots = Arc::new(Semaphore::new(args.concurrency));
    let rate_gap = args.rate.map(|r| Duration::from_secs_f64(1.0 / r));

    let start = Instant::now();
    let end = start + args.duration;
    // Hosts start spread over one interval, so load is smooth, not bursty.
    let mut due: BinaryHeap<Reverse<(Instant, u32, u64)>> = (0..fleet.hosts)
        .map(|h| {
            let offset = args.interval.mul_f64(f64::from(h) / f64::from(fleet.hosts));
            Reverse((start + offset, h, 0))
        })
        .collect();
    let mut next_allowed = start;
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(Reverse((at, host, seq))) = due.pop() {
        if at.max(next_allowed) >= end {
            due.push(Reverse((at, host, seq)));
            break;
        }
        // The agent's schedule stays nominal; a late send does not shift it.
        let scheduled = at;
        let at = at.max(next_allowed);
        tokio::time::sleep_until(at.into()).await;
        if let Some(gap) = rate_gap {
            next_allowed = at + gap;
        }
        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
        if Instant::now() >= end {
            // Out of time while waiting for a slot: the servers fell behind.
            due.push(Reverse((at, host, seq)));
            break;
        }
        let now = SystemTime::now();
        let deploy = ((start.elapsed().as_secs_f64() / args.duration.as_secs_f64())
            * f64::from(fleet.deploys)) as u32;
        let batch = fleet.batch(
            host,
            seq,
            deploy.min(fleet.deploys - 1),
            unix_nanos(now - args.interval),
            unix_nanos(now),
        );
        let samples: u64 = batch.samples.iter().map(|s| s.count).sum();
        let payload = compress(&batch, 3).context("compressing a batch")?;
        {
            let mut tally = tally.lock().expect("tally lock");
            tally.sent += 1;
            tally.samples_sent += samples;
            tally.stacks_sent += batch.samples.len() as u64;
        }
        let client = clients[host as usize % clients.len()].clone();
        let batch_id = format!("loadgen-{}-{host}-{seq}", args.seed);
        let tally = tally.clone();
        tasks.spawn(async move {
            push_batch(client, batch_id, payload, samples, tally).await;
            drop(permit);
        });
        due.push(Reverse((scheduled + args.interval, host, seq + 1)));
        // Reap finished tasks so the set does not grow with the run.
        while tasks.try_join_next().is_some() {}
    }
    // What was scheduled before the end but never sent, since the servers
    // (or --rate, or --concurrency) could not keep up.
    let behind: u64 = due
        .iter()
        .filter(|Reverse((at, ..))| *at < end)
        .map(|Reverse((at, ..))| {
            (end - *at)
                .as_nanos()
                .div_ceil(args.interval.as_nanos().max(1)) as u64
        })
        .sum();
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let mut tally = std::mem::take(&mut *tally.lock().expect("tally lock"));
    tally.behind_schedule = behind;
    Ok((tally, elapsed))
}

/// The final numbers, computed once from the tally.
struct Report {
    tally: Tally,
    elapsed: Duration,
    servers: usize,
    hosts: u32,
    /// (name, µs) for p50, p90, p99, p99.9 and max.
    percentiles: Vec<(&'static str, u64)>,
    /// The simulated span, with `--simulate`.
    simulation: Option<Simulation>,
}

impl Report {
    fn new(args: &LoadgenArgs, mut tally: Tally, elapsed: Duration) -> Self {
        tally.latencies_us.sort_unstable();
        let percentiles = [
            ("p50", 0.5),
            ("p90", 0.9),
            ("p99", 0.99),
            ("p99.9", 0.999),
            ("max", 1.0),
        ]
        .into_iter()
        .map(|(name, q)| (name, percentile(&tally.latencies_us, q)))
        .collect();
        Self {
            tally,
            elapsed,
            servers: args.servers.len(),
            hosts: args.hosts,
            percentiles,
            simulation: None,
        }
    }

    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Mean distinct stacks in a batch sent.
    fn stacks_per_batch(&self) -> f64 {
        self.tally.stacks_sent as f64 / self.tally.sent.max(1) as f64
    }

    fn errors_total(&self) -> u64 {
        self.tally.errors.values().sum()
    }

    fn json(&self) -> serde_json::Value {
        let t = &self.tally;
        let latency: serde_json::Map<String, serde_json::Value> = self
            .percentiles
            .iter()
            .map(|(name, us)| ((*name).to_owned(), (*us).into()))
            .collect();
        let simulated = self.simulation.map(|sim| {
            serde_json::json!({
                "start_unix_nanos": sim.start,
                "end_unix_nanos": sim.end,
                "full_resolution_from_unix_nanos": sim.full_from,
                "interval_nanos": sim.interval,
                "batches_per_host": sim.batches_per_host(),
            })
        });
        serde_json::json!({
            "simulated": simulated,
            "servers": self.servers,
            "hosts": self.hosts,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "sent": t.sent,
            "behind_schedule": t.behind_schedule,
            "acknowledged": t.acknowledged,
            "duplicates": t.duplicates,
            "retried": t.retried,
            "errors": self.errors_total(),
            "errors_by_code": t.errors,
            "attempt_errors_by_code": t.attempt_errors,
            "samples_sent": t.samples_sent,
            "stacks_per_batch": self.stacks_per_batch(),
            "samples_acknowledged": t.samples_acknowledged,
            "batches_per_second": self.per_second(t.acknowledged),
            "samples_per_second": self.per_second(t.samples_acknowledged),
            "latency_us": latency,
        })
    }

    fn table(&self) -> String {
        use std::fmt::Write;
        let t = &self.tally;
        let mut out = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "{name:<24} {value:>14}");
        };
        row("servers", self.servers.to_string());
        row("hosts", self.hosts.to_string());
        if let Some(sim) = &self.simulation {
            row(
                "simulated",
                format!(
                    "{} to {}",
                    augur_web::format_rfc3339(sim.start),
                    augur_web::format_rfc3339(sim.end)
                ),
            );
            row(
                "  one batch an interval",
                format!("from {}", augur_web::format_rfc3339(sim.full_from)),
            );
            row("  batches per host", sim.batches_per_host().to_string());
        }
        row("elapsed", format!("{:.2} s", self.elapsed.as_secs_f64()));
        row("batches sent", t.sent.to_string());
        row("not sent, behind", t.behind_schedule.to_string());
        row("batches acknowledged", t.acknowledged.to_string());
        row("  of which duplicates", t.duplicates.to_string());
        row("retries", t.retried.to_string());
        row("batches failed", self.errors_total().to_string());
        for (code, n) in &t.errors {
            row(&format!("  {code}"), n.to_string());
        }
        for (code, n) in &t.attempt_errors {
            row(&format!("attempt errors {code}"), n.to_string());
        }
        row("samples sent", t.samples_sent.to_string());
        row(
            "stacks per batch",
            format!("{:.1} distinct", self.stacks_per_batch()),
        );
        row("samples acknowledged", t.samples_acknowledged.to_string());
        row(
            "throughput",
            format!("{:.1} batches/s", self.per_second(t.acknowledged)),
        );
        row(
            "",
            format!("{:.0} samples/s", self.per_second(t.samples_acknowledged)),
        );
        for (name, us) in &self.percentiles {
            row(
                &format!("latency {name}"),
                format!("{:.3} ms", *us as f64 / 1000.0),
            );
        }
        out
    }
}

/// Nearest-rank percentile of sorted values; 0 when there are none.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use augur_wire::batch::{Limits, decode, owned_frames};

    use super::*;

    fn fleet() -> Fleet {
        Fleet {
            seed: 7,
            hosts: 10,
            services: 3,
            stack_depth: 20,
            stacks: 200,
            rows_per_batch: 64,
            deploys: 2,
            samples_per_minute: None,
        }
    }

    #[test]
    fn batches_are_valid_deterministic_and_as_deep_as_asked() {
        let fleet = fleet();
        let limits = Limits::default();
        let batch = fleet.batch(4, 2, 1, 0, 10);
        assert_eq!(batch, fleet.batch(4, 2, 1, 0, 10));
        assert!(batch.samples.iter().all(|s| s.frames.len() == 20));
        let total: u64 = batch.samples.iter().map(|s| s.count).sum();
        let payload = compress(&batch, 3).unwrap();
        let (valid, _, _) = decode(&payload, &limits, owned_frames).unwrap();
        assert_eq!(valid.total_samples(), total);
        assert_eq!(valid.samples[0].labels["service"], "loadgen-svc-1");
    }

    #[test]
    fn deploys_change_the_build_id_and_services_differ() {
        let fleet = fleet();
        assert_ne!(fleet.build_id(0, 0), fleet.build_id(0, 1));
        assert_ne!(fleet.build_id(0, 0), fleet.build_id(1, 0));
        assert_eq!(fleet.build_id(2, 1), fleet.build_id(2, 1));
    }

    fn args(line: &[&str]) -> LoadgenArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: LoadgenArgs,
        }
        let mut argv = vec!["loadgen"];
        argv.extend_from_slice(line);
        Cli::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn simulated_batches_hold_the_samples_of_their_span() {
        let fleet = Fleet {
            samples_per_minute: Some(1140),
            ..fleet()
        };
        let minute = fleet.batch(1, 0, 0, 0, MINUTE_NANOS);
        let hour = fleet.batch(1, 1, 0, 0, HOUR_NANOS);
        let total = |b: &Batch| b.samples.iter().map(|s| s.count).sum::<u64>();
        assert_eq!(total(&minute), 1140);
        assert_eq!(total(&hour), 68_400);
        assert!(hour.samples.len() > minute.samples.len());
    }

    #[test]
    fn the_simulated_clock_sends_hours_then_intervals() {
        let a = args(&[
            "--simulate",
            "24h",
            "--start",
            "2026-11-23T03:00:00Z",
            "--full-resolution",
            "3h",
            "--interval",
            "60s",
        ]);
        let sim = Simulation::new(&a, a.simulate.unwrap()).unwrap();
        assert_eq!(sim.end - sim.start, 24 * HOUR_NANOS);
        assert_eq!(sim.end - sim.full_from, 3 * HOUR_NANOS);
        assert_eq!(sim.batch_end(sim.start), sim.start + HOUR_NANOS);
        assert_eq!(sim.batch_end(sim.full_from), sim.full_from + MINUTE_NANOS);
        assert_eq!(sim.batches_per_host(), 21 + 180);
        // Hour batches need whole hours.
        let odd = args(&[
            "--simulate",
            "24h",
            "--start",
            "2026-11-23T03:30:00Z",
            "--full-resolution",
            "3h",
        ]);
        assert!(Simulation::new(&odd, odd.simulate.unwrap()).is_err());
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&values, 0.5), 500);
        assert_eq!(percentile(&values, 0.999), 999);
        assert_eq!(percentile(&values, 1.0), 1000);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
