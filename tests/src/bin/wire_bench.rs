//! `wire-bench`: bytes on the wire per sample, Augur's batch next to
//! gzipped pprof and zstd-compressed folded text.
//!
//! Builds, for each requested number of distinct stacks, one host's batch of
//! a synthetic Rust service: stacks of 20-40 user frames drawn from a call
//! tree (so they share prefixes, most of all near the root), some ending in
//! libc and some in kernel frames, over a few thousand functions with long,
//! Rust-like names; counts follow a Zipf-like curve, about
//! `--samples-per-stack` samples per distinct stack on average. Everything
//! is seeded and deterministic.
//!
//! The same stacks are then encoded three ways:
//! - Augur: `wire::batch::to_wire` and `wire::batch::compress` at the agent's
//!   zstd level, the `PushRequest.payload` the agent sends. User frames are
//!   `(binary index, file offset)`: no names, which the server adds later.
//! - pprof: the same stacks symbolized (function name, source file and line
//!   per location, as symbolized pprof files usually carry), written by
//!   `wire::pprof::encode` (gzip, default level); also with function names
//!   only, the smallest pprof that still names frames.
//! - folded: `root;...;leaf count` lines with the same names
//!   (`augur_profile::render::folded`), zstd at the agent's level.
//!
//! Prints a Markdown table of bytes per batch and per sample and the ratios,
//! and whether the targets are met: Augur's bytes per sample at most 0.5x
//! gzipped pprof's, and below folded + zstd. Locations carry no inline
//! chains here; real symbolized Rust profiles have many, which would only
//! make pprof and folded larger.
//!
//! Usage: `cargo build --release -p augur-tests --bin wire-bench &&
//! target/release/wire-bench [--stacks N,N,...] [--samples-per-stack X]`

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use augur_profile::rng::SplitMix64;
use augur_profile::{FileId, Location, Profile, ProfileType, RawFrame, Sample, Symbol};
use augur_tests::bench::{self, cli::at_least_one};
use augur_wire::batch::{ValidBatch, ValidSample, compress, to_wire};
use augur_wire::ingest::PushRequest;
use clap::{CommandFactory, Parser};
use prost::Message;

/// The zstd level the agent compresses batches with (`agent::start`).
const AGENT_ZSTD_LEVEL: i32 = 3;
/// Target: Augur bytes per sample at most this fraction of gzipped pprof's.
const PPROF_TARGET: f64 = 0.5;
/// The agent's default sampling period (19 Hz) and window (10 s).
const PERIOD_NANOS: u64 = 1_000_000_000 / 19;
const WINDOW_NANOS: i64 = 10_000_000_000;
/// Functions in the synthetic executable.
const EXE_FUNCTIONS: usize = 4000;

const EXE_PATH: &str = "/usr/local/bin/checkout-api";
const LIBC_PATH: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";

/// Encodes the same synthetic samples as Augur's zstd batch, gzipped pprof
/// and folded text + zstd, and prints bytes per batch and per sample.
#[derive(Debug, Parser)]
#[command(name = "wire-bench")]
struct Options {
    /// Distinct stacks per batch, comma-separated
    #[arg(long, value_name = "N,...", value_delimiter = ',', default_value = "200,2000,20000", value_parser = at_least_one::<usize>)]
    stacks: Vec<usize>,
    /// Average samples per distinct stack, at least 1
    #[arg(long, value_name = "X", default_value_t = 5.0, value_parser = samples_per_stack)]
    samples_per_stack: f64,
    /// Seed of the synthetic stacks
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
}

fn samples_per_stack(text: &str) -> Result<f64, String> {
    text.parse()
        .ok()
        .filter(|&x: &f64| x >= 1.0)
        .ok_or_else(|| format!("{text:?} is not >= 1"))
}

fn main() -> ExitCode {
    let parsed = bench::parse_args::<Options>(std::env::args().skip(1));
    bench::main(Options::command(), parsed, run)
}

/// One encoding of one batch.
struct Encoded {
    format: &'static str,
    raw: usize,
    sent: usize,
}

/// Everything measured for one batch size.
struct Row {
    stacks: usize,
    samples: u64,
    frames: usize,
    ours: Encoded,
    envelope: usize,
    pprof: Encoded,
    pprof_names: Encoded,
    folded: Encoded,
}

fn run(options: &Options) -> anyhow::Result<()> {
    let program = Program::new(options.seed);
    let mut rows = Vec::new();
    for &stacks in &options.stacks {
        let stacks = program.stacks(options.seed, stacks, options.samples_per_stack);
        rows.push(measure(&program, &stacks)?);
    }
    print_report(options, &program, &rows);
    Ok(())
}

fn measure(program: &Program, stacks: &[(Vec<Frame>, u64)]) -> anyhow::Result<Row> {
    let samples: u64 = stacks.iter().map(|(_, count)| count).sum();
    let frames = stacks.iter().map(|(frames, _)| frames.len()).sum();

    let batch = program.batch(stacks);
    let wire = to_wire(&batch);
    let payload = compress(&wire, AGENT_ZSTD_LEVEL).context("compressing the batch")?;
    let request = PushRequest {
        batch_id: "prod-host-0042-1700000000-000123".into(),
        payload: payload.clone(),
    };
    // gRPC adds a 5-byte frame header to each message.
    let envelope = request.encoded_len() + 5 - payload.len();
    let ours = Encoded {
        format: "Augur batch, zstd 3 (build-id + offset)",
        raw: wire.encoded_len(),
        sent: payload.len(),
    };

    let pprof_bytes = |with_source: bool| -> anyhow::Result<Encoded> {
        let profile = program.profile(stacks, with_source);
        let gz = augur_wire::pprof::encode(&profile).context("encoding pprof")?;
        // The uncompressed size, for the table: gzip's own length field.
        let raw = u32::from_le_bytes(gz[gz.len() - 4..].try_into().expect("4 bytes")) as usize;
        Ok(Encoded {
            format: if with_source {
                "pprof, gzip (names, files, lines)"
            } else {
                "pprof, gzip (names only)"
            },
            raw,
            sent: gz.len(),
        })
    };
    let pprof = pprof_bytes(true)?;
    let pprof_names = pprof_bytes(false)?;

    let text = augur_profile::render::folded(&program.profile(stacks, false));
    let folded = Encoded {
        format: "folded text, zstd 3",
        raw: text.len(),
        sent: zstd::bulk::compress(text.as_bytes(), AGENT_ZSTD_LEVEL)
            .context("compressing folded text")?
            .len(),
    };
    Ok(Row {
        stacks: stacks.len(),
        samples,
        frames,
        ours,
        envelope,
        pprof,
        pprof_names,
        folded,
    })
}

fn print_report(options: &Options, program: &Program, rows: &[Row]) {
    let names: Vec<&str> = program.exe.iter().map(|f| f.name.as_str()).collect();
    let mean_name = names.iter().map(|n| n.len()).sum::<usize>() as f64 / names.len() as f64;
    println!(
        "Synthetic service: {} functions in the executable (mean name {:.0} bytes), {} in libc; \
         about {} samples per distinct stack; seed {}.\n",
        program.exe.len(),
        mean_name,
        program.libc.len(),
        options.samples_per_stack,
        options.seed
    );
    println!(
        "| stacks | samples | mean depth | format | encoded bytes | sent bytes | bytes/sample | Augur / this |"
    );
    println!("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    for row in rows {
        let per_sample = |e: &Encoded| e.sent as f64 / row.samples as f64;
        for e in [&row.ours, &row.pprof, &row.pprof_names, &row.folded] {
            println!(
                "| {} | {} | {:.1} | {} | {} | {} | {:.2} | {:.2} |",
                row.stacks,
                row.samples,
                row.frames as f64 / row.stacks as f64,
                e.format,
                e.raw,
                e.sent,
                per_sample(e),
                row.ours.sent as f64 / e.sent as f64
            );
        }
    }
    println!(
        "\n\"encoded\" is before compression (protobuf or text), \"sent\" after. The \
         `PushRequest` around Augur's payload (batch id, field tags, gRPC frame header) \
         adds {} bytes per batch, not counted above.",
        rows.first().map_or(0, |r| r.envelope)
    );
    println!("\n### Targets\n");
    let verdict = |met: bool| if met { "met" } else { "**not met**" };
    for row in rows {
        let vs_pprof = row.ours.sent as f64 / row.pprof.sent as f64;
        let vs_names = row.ours.sent as f64 / row.pprof_names.sent as f64;
        let vs_folded = row.ours.sent as f64 / row.folded.sent as f64;
        println!("- {} stacks, {} samples:", row.stacks, row.samples);
        println!(
            "  - <= {PPROF_TARGET}x gzipped pprof: {vs_pprof:.2}x: {} (vs names-only pprof: {vs_names:.2}x: {})",
            verdict(vs_pprof <= PPROF_TARGET),
            verdict(vs_names <= PPROF_TARGET)
        );
        println!(
            "  - below folded + zstd: {vs_folded:.2}x: {}",
            verdict(vs_folded < 1.0)
        );
    }
}

/// One function of the synthetic program.
struct Function {
    start: u64,
    size: u64,
    name: String,
    file: String,
    line: u32,
}

/// Which object a call site is in.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Object {
    Exe,
    Libc,
}

/// One frame of a synthetic stack.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Frame {
    /// A call site: function index and offset into the function.
    User {
        object: Object,
        function: usize,
        offset: u64,
    },
    Kernel(&'static str),
}

/// The synthetic service: an executable and libc, with their functions.
struct Program {
    exe_id: FileId,
    libc_id: FileId,
    exe: Vec<Function>,
    libc: Vec<Function>,
}

/// Kernel frames put at the leaf of some stacks, leaf first.
const KERNEL_STACKS: &[&[&str]] = &[
    &[
        "copy_user_enhanced_fast_string",
        "tcp_recvmsg",
        "inet_recvmsg",
        "sock_recvmsg",
        "__sys_recvfrom",
        "do_syscall_64",
        "entry_SYSCALL_64_after_hwframe",
    ],
    &[
        "clear_page_erms",
        "get_page_from_freelist",
        "__alloc_pages",
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
        "tcp_sendmsg_locked",
        "tcp_sendmsg",
        "sock_sendmsg",
        "__sys_sendto",
        "do_syscall_64",
        "entry_SYSCALL_64_after_hwframe",
    ],
    &[
        "ep_poll",
        "do_epoll_wait",
        "__x64_sys_epoll_wait",
        "do_syscall_64",
        "entry_SYSCALL_64_after_hwframe",
    ],
];

/// libc functions seen at the leaf of stacks, with their source files.
const LIBC_FUNCTIONS: &[(&str, &str)] = &[
    (
        "__memmove_avx_unaligned_erms",
        "../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S",
    ),
    (
        "__memset_avx2_unaligned_erms",
        "../sysdeps/x86_64/multiarch/memset-vec-unaligned-erms.S",
    ),
    (
        "__memcmp_avx2_movbe",
        "../sysdeps/x86_64/multiarch/memcmp-avx2-movbe.S",
    ),
    ("__strlen_avx2", "../sysdeps/x86_64/multiarch/strlen-avx2.S"),
    ("malloc", "./malloc/malloc.c"),
    ("_int_malloc", "./malloc/malloc.c"),
    ("free", "./malloc/malloc.c"),
    ("_int_free", "./malloc/malloc.c"),
    ("realloc", "./malloc/malloc.c"),
    ("__libc_recv", "../sysdeps/unix/sysv/linux/recv.c"),
    ("__libc_send", "../sysdeps/unix/sysv/linux/send.c"),
    ("epoll_wait", "../sysdeps/unix/sysv/linux/epoll_wait.c"),
    ("__GI___pthread_mutex_lock", "./nptl/pthread_mutex_lock.c"),
    (
        "__GI___pthread_mutex_unlock",
        "./nptl/pthread_mutex_unlock.c",
    ),
    ("__lll_lock_wait", "./nptl/lowlevellock.c"),
    ("__futex_abstimed_wait_common", "./nptl/futex-internal.c"),
    (
        "__GI___clock_gettime",
        "../sysdeps/unix/sysv/linux/clock_gettime.c",
    ),
    ("__libc_write", "../sysdeps/unix/sysv/linux/write.c"),
    ("__libc_read", "../sysdeps/unix/sysv/linux/read.c"),
    ("syscall", "../sysdeps/unix/sysv/linux/x86_64/syscall.S"),
];

const CRATES: &[(&str, &str)] = &[
    ("tokio", "1.47.1"),
    ("hyper", "1.7.0"),
    ("h2", "0.4.12"),
    ("tonic", "0.14.2"),
    ("prost", "0.14.1"),
    ("tower", "0.5.2"),
    ("serde_json", "1.0.145"),
    ("bytes", "1.10.1"),
    ("futures_util", "0.3.31"),
    ("hashbrown", "0.15.5"),
    ("tracing", "0.1.41"),
    ("rusqlite", "0.37.0"),
    ("axum", "0.8.6"),
    ("http", "1.3.1"),
    ("regex_automata", "0.4.11"),
];
const STD_CRATES: &[&str] = &["core", "alloc", "std"];
const APP_CRATE: &str = "checkout_api";
const MODULES: &[&str] = &[
    "runtime",
    "task",
    "harness",
    "scheduler",
    "worker",
    "proto",
    "codec",
    "decode",
    "encode",
    "server",
    "conn",
    "client",
    "service",
    "handler",
    "io",
    "util",
    "buf",
    "raw",
    "map",
    "iter",
    "fmt",
    "sync",
    "mpsc",
    "stream",
    "frame",
    "body",
    "routing",
    "de",
    "ser",
    "read",
    "write",
    "pool",
    "cache",
    "store",
    "query",
    "hash",
    "vec",
    "slice",
    "str",
    "pricing",
    "cart",
    "inventory",
];
const TYPES: &[&str] = &[
    "Harness",
    "Core",
    "Connection",
    "Dispatcher",
    "Server",
    "Router",
    "Codec",
    "Decoder",
    "Encoder",
    "BytesMut",
    "RawTable",
    "Vec",
    "HashMap",
    "Sender",
    "Receiver",
    "Inner",
    "State",
    "Context",
    "Request",
    "Response",
    "Body",
    "Streaming",
    "Deserializer",
    "Serializer",
    "Statement",
    "Cache",
    "Pool",
    "Worker",
    "Handle",
    "Instrumented",
    "MapFuture",
    "Frame",
    "Recv",
    "Send",
    "Parser",
    "CartService",
    "PriceTable",
    "OrderLine",
];
const METHODS: &[&str] = &[
    "poll",
    "poll_inner",
    "poll_next",
    "poll_read",
    "poll_write",
    "poll_ready",
    "call",
    "call_once",
    "decode",
    "encode",
    "read_buf",
    "write_buf",
    "new",
    "handle",
    "process",
    "run",
    "next",
    "fold",
    "try_fold",
    "insert",
    "get",
    "with",
    "spawn",
    "block_on",
    "recv",
    "send",
    "flush",
    "parse",
    "deserialize_struct",
    "serialize_field",
    "reserve",
    "extend",
    "push",
    "clone",
    "drop",
    "from_iter",
    "execute",
    "query_row",
    "lookup",
    "resolve",
    "transition_to_running",
    "price_cart",
    "apply_discounts",
];
const TRAITS: &[&str] = &[
    "core::future::future::Future",
    "core::ops::function::FnOnce<()>",
    "core::iter::traits::iterator::Iterator",
    "tower_service::Service<http::request::Request<B>>",
    "core::ops::drop::Drop",
    "serde::de::Visitor",
    "core::clone::Clone",
    "std::io::Read",
    "futures_core::stream::Stream",
    "tokio::io::async_read::AsyncRead",
];
const RUSTC_COMMIT: &str = "1159e78c4747b02ef996e55082b704c09b970588";
const REGISTRY: &str = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";

impl Program {
    fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::from_parts(&[seed, 1]);
        let id = |rng: &mut SplitMix64| {
            let bytes: Vec<u8> = (0..20).map(|_| rng.next_u64() as u8).collect();
            FileId::from_bytes(&bytes).expect("20 bytes is a valid build-id")
        };
        let exe_id = id(&mut rng);
        let libc_id = id(&mut rng);
        let mut start = 0x0004_2000;
        let exe = (0..EXE_FUNCTIONS)
            .map(|_| {
                let (name, file) = rust_function(&mut rng);
                let size = 32 + rng.below(2000);
                let function = Function {
                    start,
                    size,
                    name,
                    file,
                    line: 1 + rng.below(900) as u32,
                };
                start += (size + 15) & !15;
                function
            })
            .collect();
        let mut start = 0x0002_8000;
        let libc = LIBC_FUNCTIONS
            .iter()
            .map(|(name, file)| {
                let size = 64 + rng.below(1500);
                let function = Function {
                    start,
                    size,
                    name: (*name).to_owned(),
                    file: (*file).to_owned(),
                    line: 1 + rng.below(400) as u32,
                };
                start += 0x1000 + ((size + 15) & !15);
                function
            })
            .collect();
        Self {
            exe_id,
            libc_id,
            exe,
            libc,
        }
    }

    /// `count` distinct stacks, leaf first, with their sample counts.
    fn stacks(&self, seed: u64, count: usize, samples_per_stack: f64) -> Vec<(Vec<Frame>, u64)> {
        let mut rng = SplitMix64::from_parts(&[seed, 2, count as u64]);
        // The call tree: a node is a call site, reached from its parent by
        // taking one of the parent's branches.
        let mut sites: Vec<Frame> = Vec::new();
        let mut children: HashMap<(usize, u64), usize> = HashMap::new();
        let mut seen: HashSet<Vec<Frame>> = HashSet::new();
        let mut stacks = Vec::with_capacity(count);
        while stacks.len() < count {
            let depth = 20 + rng.below(21) as usize;
            let mut parent = usize::MAX;
            let mut root_first = Vec::with_capacity(depth + 10);
            for level in 0..depth {
                // Few branches near the root, more further down; the first
                // branches are the likeliest (a geometric choice).
                let width = 1 + (level as u64 / 4).min(6);
                let mut branch = 0;
                while branch + 1 < width && rng.below(100) < 45 {
                    branch += 1;
                }
                let next = sites.len();
                let node = *children.entry((parent, branch)).or_insert(next);
                if node == next {
                    // Hot functions recur all over the tree (poll, call_once...).
                    let u = rng.below(1 << 20) as f64 / f64::from(1 << 20);
                    let function = (u * u * EXE_FUNCTIONS as f64) as usize;
                    sites.push(Frame::User {
                        object: Object::Exe,
                        function,
                        offset: rng.below(self.exe[function].size),
                    });
                }
                root_first.push(sites[node].clone());
                parent = node;
            }
            // A third of the stacks end in libc, a quarter in the kernel.
            if rng.below(3) == 0 {
                let function = rng.below(self.libc.len() as u64) as usize;
                root_first.push(Frame::User {
                    object: Object::Libc,
                    function,
                    offset: rng.below(self.libc[function].size),
                });
            }
            if rng.below(4) == 0 {
                let kernel = KERNEL_STACKS[rng.below(KERNEL_STACKS.len() as u64) as usize];
                root_first.extend(kernel.iter().rev().copied().map(Frame::Kernel));
            }
            root_first.reverse();
            if seen.insert(root_first.clone()) {
                stacks.push(root_first);
            }
        }
        // Zipf-like counts: every stack was seen at least once, a few often.
        let extra = ((samples_per_stack - 1.0) * count as f64).round();
        let weights: Vec<f64> = (1..=count).map(|rank| 1.0 / rank as f64).collect();
        let total: f64 = weights.iter().sum();
        let mut order: Vec<usize> = (0..count).collect();
        for i in (1..count).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut counts = vec![0; count];
        for (rank, &stack) in order.iter().enumerate() {
            counts[stack] = 1 + (extra * weights[rank] / total).round() as u64;
        }
        stacks.into_iter().zip(counts).collect()
    }

    fn function(&self, object: Object, index: usize) -> &Function {
        match object {
            Object::Exe => &self.exe[index],
            Object::Libc => &self.libc[index],
        }
    }

    fn raw_frame(&self, frame: &Frame) -> RawFrame {
        match *frame {
            Frame::User {
                object,
                function,
                offset,
            } => RawFrame::User {
                build_id: match object {
                    Object::Exe => self.exe_id.clone(),
                    Object::Libc => self.libc_id.clone(),
                },
                file_offset: self.function(object, function).start + offset,
            },
            Frame::Kernel(function) => RawFrame::Kernel {
                function: function.to_owned(),
                module: None,
            },
        }
    }

    /// The batch an agent would build for these stacks: one process.
    fn batch(&self, stacks: &[(Vec<Frame>, u64)]) -> ValidBatch {
        let labels: BTreeMap<String, String> = [
            ("service", "checkout-api"),
            ("host", "prod-host-0042"),
            ("exe", EXE_PATH),
            ("build_id", &self.exe_id.to_hex()),
            ("version", "v2.31.4"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let labels = Arc::new(labels);
        let start = 1_700_000_000 * 1_000_000_000;
        ValidBatch {
            host: "prod-host-0042".into(),
            start_unix_nanos: start,
            end_unix_nanos: start + WINDOW_NANOS,
            profile_type: ProfileType::cpu(),
            period: PERIOD_NANOS,
            binaries: vec![
                (self.exe_id.clone(), EXE_PATH.into()),
                (self.libc_id.clone(), LIBC_PATH.into()),
            ],
            samples: stacks
                .iter()
                .map(|(frames, count)| ValidSample {
                    labels: labels.clone(),
                    frames: frames.iter().map(|f| self.raw_frame(f)).collect(),
                    count: *count,
                })
                .collect(),
            dropped: BTreeMap::new(),
        }
    }

    /// The same stacks symbolized, as a profile; `with_source` adds each
    /// function's file and line.
    fn profile(&self, stacks: &[(Vec<Frame>, u64)], with_source: bool) -> Profile {
        let start = 1_700_000_000 * 1_000_000_000;
        let location = |frame: &Frame| {
            let symbols = match *frame {
                Frame::User {
                    object,
                    function,
                    offset,
                } => {
                    let f = self.function(object, function);
                    vec![Symbol {
                        function: f.name.clone(),
                        file: with_source.then(|| f.file.clone()),
                        // About one source line per 8 bytes of code.
                        line: with_source.then_some(f.line + (offset / 8) as u32),
                    }]
                }
                Frame::Kernel(_) => Vec::new(),
            };
            let path = match frame {
                Frame::User {
                    object: Object::Exe,
                    ..
                } => Some(EXE_PATH.to_owned()),
                Frame::User {
                    object: Object::Libc,
                    ..
                } => Some(LIBC_PATH.to_owned()),
                Frame::Kernel(_) => None,
            };
            Location {
                frame: self.raw_frame(frame),
                path,
                symbols,
            }
        };
        Profile {
            service: "checkout-api".into(),
            profile_type: ProfileType::cpu(),
            period: PERIOD_NANOS,
            start_unix_nanos: start,
            end_unix_nanos: start + WINDOW_NANOS,
            samples: stacks
                .iter()
                .map(|(frames, count)| Sample {
                    locations: frames.iter().map(location).collect(),
                    count: *count,
                })
                .collect(),
        }
    }
}

/// A Rust-looking demangled function name (no hash) and its source file.
fn rust_function(rng: &mut SplitMix64) -> (String, String) {
    let mut pick = |list: &[&'static str]| list[rng.below(list.len() as u64) as usize];
    let (module, module2, ty, ty2, method, tr) = (
        pick(MODULES),
        pick(MODULES),
        pick(TYPES),
        pick(TYPES),
        pick(METHODS),
        pick(TRAITS),
    );
    let (krate, version) = CRATES[rng.below(CRATES.len() as u64) as usize];
    let (other, _) = CRATES[rng.below(CRATES.len() as u64) as usize];
    let std_crate = STD_CRATES[rng.below(STD_CRATES.len() as u64) as usize];
    // Who owns the function: a dependency, the standard library or the app.
    let (owner, file) = match rng.below(10) {
        0..=4 => (
            krate,
            format!("{REGISTRY}/{krate}-{version}/src/{module}/{module2}.rs"),
        ),
        5..=7 => (
            std_crate,
            format!("/rustc/{RUSTC_COMMIT}/library/{std_crate}/src/{module}/{module2}.rs"),
        ),
        _ => (
            APP_CRATE,
            format!("/build/checkout-api/src/{module}/{module2}.rs"),
        ),
    };
    let name = match rng.below(20) {
        0..=6 => format!("{owner}::{module}::{module2}::{ty}::{method}"),
        7..=8 => format!("{owner}::{module}::{ty}<{other}::{module2}::{ty2}>::{method}"),
        9..=13 => format!("<{owner}::{module}::{ty}<{other}::{module2}::{ty2}> as {tr}>::{method}"),
        14..=15 => format!("core::ptr::drop_in_place<{owner}::{module}::{ty}<{other}::{ty2}>>"),
        _ => format!("{owner}::{module}::{method}::{{{{closure}}}}"),
    };
    (name, file)
}
