//! `symbol-bench`: how fast `augur-symbolizer` names `(build-id, file
//! offset)` frames in a large DWARF binary, next to `llvm-symbolizer`.
//!
//! The binary (by default the debug build of `augur`, `target/debug/augur`)
//! is first copied into a scratch directory, so a concurrent rebuild cannot
//! change it mid-run, and the copy is in the page cache for both tools. N
//! addresses (default 10,000) are spread evenly over the functions of its
//! symbol table that lie in `.text`, at a pseudo-random offset inside each.
//! Our symbolizer gets each as a file offset (the address translated through
//! the `PT_LOAD` program header that maps it, as agents send them);
//! `llvm-symbolizer` gets the ELF virtual address of the same byte, so both
//! are asked about the same code.
//!
//! Measured, each tool with inline frames, file and line turned on:
//! - *cold first batch*: ours: `Symbolizer::new` plus the first
//!   `symbolize()` of the whole batch (locating the file, opening and parsing
//!   the ELF and DWARF); llvm: from spawning `llvm-symbolizer --obj=FILE` to
//!   its last answer for the batch fed on stdin. Median of `--cold-runs`.
//! - *warm per address*: ours: the same batch again `--rounds` times on the
//!   same `Symbolizer`, total time / lookups; llvm: one process fed the batch
//!   `--rounds + 1` times, the time from its last answer of the first copy to
//!   its last answer of the last copy / lookups. Nothing is subtracted.
//!
//! Both tools' function names are then compared address by address (Rust
//! legacy hashes `::h0123...` stripped) and the agreement printed. Prints
//! Markdown tables and whether each target is met: warm <= 2 us per address,
//! cold first batch <= 150 ms on about 40 MB of DWARF, and at least 3x
//! faster than `llvm-symbolizer` per warm address. A missed target is a
//! result, not an error: the exit code is non-zero only when the benchmark
//! could not run (1) or on bad usage (2).
//!
//! Usage: `cargo build -p augur && cargo build --release -p augur-tests
//! --bin symbol-bench && target/release/symbol-bench [--binary PATH]...`

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};
use augur_profile::FileId;
use augur_profile::rng::SplitMix64;
use augur_symbolizer::{DebugInfoLocator, FrameRequest, FrameResult, Symbolizer};
use augur_tests::bench::{self, Parsed, ToolTiming, cli::at_least_one, ms};
use clap::{CommandFactory, Parser};
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

/// Target: warm cost per address.
const WARM_TARGET_US: f64 = 2.0;
/// Target: first batch on a fresh symbolizer (stated for ~40 MB of DWARF).
const COLD_TARGET_MS: f64 = 150.0;
/// Target: warm speed-up over llvm-symbolizer.
const SPEEDUP_TARGET: f64 = 3.0;

/// Symbolizes N addresses spread over the functions of each binary with
/// augur-symbolizer and with llvm-symbolizer, cold (fresh symbolizer or
/// process) and warm (the same batch again), checks that both name the same
/// functions, and prints Markdown tables.
#[derive(Debug, Parser)]
#[command(name = "symbol-bench")]
struct Options {
    /// An ELF binary with DWARF; repeat for several [default:
    /// target/debug/augur, `cargo build -p augur`]
    #[arg(long = "binary", value_name = "PATH")]
    binaries: Vec<PathBuf>,
    /// Addresses per batch
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = at_least_one::<usize>)]
    addresses: usize,
    /// Warm repetitions of the batch
    #[arg(long, value_name = "R", default_value_t = 10, value_parser = at_least_one::<usize>)]
    rounds: usize,
    /// Cold measurements; the median is reported
    #[arg(long, value_name = "C", default_value_t = 3, value_parser = at_least_one::<usize>)]
    cold_runs: usize,
    /// The llvm-symbolizer to compare with
    #[arg(
        long = "llvm-symbolizer",
        value_name = "PATH",
        default_value = "/usr/bin/llvm-symbolizer"
    )]
    llvm: PathBuf,
}

fn parse_args(args: impl Iterator<Item = String>) -> anyhow::Result<Parsed<Options>> {
    let Parsed::Run(mut options) = bench::parse_args::<Options>(args)? else {
        return Ok(Parsed::Help);
    };
    if options.binaries.is_empty() {
        // target/release/symbol-bench -> target/debug/augur
        let exe = std::env::current_exe().context("finding this program's path")?;
        let target = exe
            .parent()
            .and_then(Path::parent)
            .context("this program is not in target/<profile>/")?;
        options.binaries.push(target.join("debug").join("augur"));
    }
    Ok(Parsed::Run(options))
}

fn main() -> ExitCode {
    let parsed = parse_args(std::env::args().skip(1));
    bench::main(Options::command(), parsed, run)
}

/// What the benchmark learned about one binary.
struct BinaryFacts {
    name: String,
    file_bytes: u64,
    dwarf_bytes: u64,
    debug_info_bytes: u64,
    text_bytes: u64,
    functions: usize,
    build_id: FileId,
}

/// One code location, as each tool is asked about it.
#[derive(Clone, Copy)]
struct Address {
    /// ELF virtual address, for llvm-symbolizer.
    virtual_address: u64,
    /// Offset in the file, for our symbolizer.
    file_offset: u64,
}

/// One tool's timings on one binary: function names per address,
/// innermost first.
type Timing = ToolTiming<Vec<String>>;

/// How often the two tools name an address the same way.
struct Agreement {
    compared: usize,
    outermost: usize,
    innermost: usize,
    chain: usize,
    examples: Vec<String>,
}

struct BinaryResult {
    facts: BinaryFacts,
    addresses: usize,
    ours: Timing,
    llvm: Timing,
    agreement: Agreement,
}

fn run(options: &Options) -> anyhow::Result<()> {
    if !options.llvm.exists() {
        bail!(
            "{} is missing: install it (Debian: apt-get install llvm) or pass --llvm-symbolizer",
            options.llvm.display()
        );
    }
    let scratch = tempfile::Builder::new()
        .prefix("symbol-bench-")
        .tempdir()
        .context("creating a scratch directory")?;
    let mut results = Vec::new();
    for (i, binary) in options.binaries.iter().enumerate() {
        if !binary.exists() {
            bail!(
                "{} is missing: build it with `cargo build -p augur` or pass --binary",
                binary.display()
            );
        }
        let name = binary
            .file_name()
            .map_or_else(|| "binary".into(), |n| n.to_string_lossy().into_owned());
        let copy = scratch.path().join(format!("{i}-{name}"));
        std::fs::copy(binary, &copy)
            .with_context(|| format!("copying {} to {}", binary.display(), copy.display()))?;
        eprintln!("symbol-bench: {} ...", binary.display());
        results.push(bench_binary(options, &copy, binary)?);
    }
    print_report(options, &results);
    Ok(())
}

fn bench_binary(options: &Options, copy: &Path, original: &Path) -> anyhow::Result<BinaryResult> {
    let (facts, addresses) = inspect(copy, original, options.addresses)?;
    let ours = bench_ours(options, copy, &facts.build_id, &addresses);
    let llvm = bench_llvm(options, copy, &addresses)?;
    let agreement = compare(&ours.answers, &llvm.answers);
    Ok(BinaryResult {
        facts,
        addresses: addresses.len(),
        ours,
        llvm,
        agreement,
    })
}

/// Reads the binary's sizes and picks `count` addresses spread over the
/// functions in `.text`.
fn inspect(
    path: &Path,
    original: &Path,
    count: usize,
) -> anyhow::Result<(BinaryFacts, Vec<Address>)> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let elf = object::File::parse(&*data)
        .with_context(|| format!("parsing {} as ELF", path.display()))?;
    let build_id = elf
        .build_id()
        .ok()
        .flatten()
        .and_then(|id| FileId::from_bytes(id).ok())
        .with_context(|| format!("{} has no GNU build-id", path.display()))?;
    let section_size = |name: &str| elf.section_by_name(name).map_or(0, |s| s.size());
    let dwarf_bytes = elf
        .sections()
        .filter(|s| s.name().is_ok_and(|n| n.starts_with(".debug_")))
        .map(|s| s.size())
        .sum();
    let text = elf
        .section_by_name(".text")
        .with_context(|| format!("{} has no .text", path.display()))?;
    let mut functions: Vec<(u64, u64)> = elf
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter(|s| s.section_index() == Some(text.index()))
        .map(|s| (s.address(), s.size()))
        .collect();
    functions.sort_unstable();
    functions.dedup_by_key(|(address, _)| *address);
    if functions.is_empty() {
        bail!("{} has no function symbols in .text", path.display());
    }
    // (virtual address, file offset, file size) of every loadable segment.
    let segments: Vec<(u64, u64, u64)> = elf
        .segments()
        .map(|s| {
            let (offset, size) = s.file_range();
            (s.address(), offset, size)
        })
        .collect();
    let mut rng = SplitMix64(0x5eed);
    let addresses = (0..count)
        .map(|i| {
            let (start, size) = functions[i * functions.len() / count % functions.len()];
            let virtual_address = start + rng.next_u64() % size;
            let file_offset = segments
                .iter()
                .find(|(address, _, size)| (*address..address + size).contains(&virtual_address))
                .map(|(address, offset, _)| virtual_address - address + offset)
                .with_context(|| format!("address {virtual_address:#x} is in no segment"))?;
            Ok(Address {
                virtual_address,
                file_offset,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let facts = BinaryFacts {
        name: original.display().to_string(),
        file_bytes: data.len() as u64,
        dwarf_bytes,
        debug_info_bytes: section_size(".debug_info"),
        text_bytes: text.size(),
        functions: functions.len(),
        build_id,
    };
    Ok((facts, addresses))
}

fn bench_ours(options: &Options, path: &Path, build_id: &FileId, addresses: &[Address]) -> Timing {
    let hints = [path.display().to_string()];
    let requests: Vec<FrameRequest<'_>> = addresses
        .iter()
        .map(|a| FrameRequest {
            build_id,
            file_offset: a.file_offset,
            path_hints: &hints,
        })
        .collect();
    let fresh = || Symbolizer::new(DebugInfoLocator::new(Vec::new(), true));
    let mut cold_runs = Vec::new();
    let mut symbolizer = None;
    let mut first = Vec::new();
    for _ in 0..options.cold_runs {
        let started = Instant::now();
        let mut s = fresh();
        let results = s.symbolize(&requests);
        cold_runs.push(started.elapsed());
        symbolizer = Some(s);
        first = results;
    }
    let mut symbolizer = symbolizer.expect("at least one cold run");
    let started = Instant::now();
    for _ in 0..options.rounds {
        std::hint::black_box(symbolizer.symbolize(&requests));
    }
    let warm_total = started.elapsed();
    Timing {
        cold_runs,
        warm_total,
        warm_lookups: options.rounds * requests.len(),
        answers: first.into_iter().map(names_of).collect(),
    }
}

fn names_of(result: FrameResult) -> Option<Vec<String>> {
    let chain = result.ok()?;
    Some(chain.into_iter().map(|s| s.function).collect())
}

fn bench_llvm(options: &Options, path: &Path, addresses: &[Address]) -> anyhow::Result<Timing> {
    let virtual_addresses: Vec<u64> = addresses.iter().map(|a| a.virtual_address).collect();
    let mut frame_lines: Vec<String> = Vec::new();
    let mut line = String::new();
    augur_tests::bench::time_piped_tool(
        || {
            let mut command = Command::new(&options.llvm);
            command.arg(format!("--obj={}", path.display()));
            command
        },
        &virtual_addresses,
        options.cold_runs,
        options.rounds,
        |reader| {
            // Function and location lines alternate, innermost frame
            // first; an empty line ends one address's answer.
            frame_lines.clear();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                let text = line.trim_end_matches('\n');
                if text.is_empty() {
                    break;
                }
                frame_lines.push(text.to_owned());
            }
            let functions: Vec<String> = frame_lines.iter().step_by(2).cloned().collect();
            let known = !functions.is_empty() && functions.iter().all(|f| f != "??");
            Ok(Some(known.then_some(functions)))
        },
    )
}

/// Compares function names address by address. Rust legacy symbol hashes
/// are dropped, since one tool may print them and the other not, and
/// llvm-symbolizer's names are unescaped (see [`unescape_rust_legacy`]).
fn compare(ours: &[Option<Vec<String>>], llvm: &[Option<Vec<String>>]) -> Agreement {
    let mut agreement = Agreement {
        compared: 0,
        outermost: 0,
        innermost: 0,
        chain: 0,
        examples: Vec::new(),
    };
    for (ours, llvm) in ours.iter().zip(llvm) {
        let (Some(ours), Some(llvm)) = (ours, llvm) else {
            continue;
        };
        let ours: Vec<String> = ours.iter().map(|n| without_hash(n).to_owned()).collect();
        let llvm: Vec<String> = llvm
            .iter()
            .map(|n| unescape_rust_legacy(without_hash(n)))
            .collect();
        agreement.compared += 1;
        let outermost = ours.last() == llvm.last();
        agreement.outermost += usize::from(outermost);
        agreement.innermost += usize::from(ours.first() == llvm.first());
        agreement.chain += usize::from(ours == llvm);
        if ours != llvm && agreement.examples.len() < 5 {
            agreement
                .examples
                .push(format!("ours {ours:?}\n  llvm {llvm:?}"));
        }
    }
    agreement
}

/// `a::b::h0123456789abcdef` -> `a::b`.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// LLVM 14 demangles Rust's legacy symbols with its C++ demangler, which
/// leaves Rust's escapes in: `_$LT$a..B$u20$as$u20$c..D$GT$::f` is
/// `<a::B as c::D>::f`. Undoes them per path component, as rustc-demangle
/// does.
fn unescape_rust_legacy(name: &str) -> String {
    const ESCAPES: &[(&str, &str)] = &[
        ("$SP$", "@"),
        ("$BP$", "*"),
        ("$RF$", "&"),
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$LP$", "("),
        ("$RP$", ")"),
        ("$C$", ","),
    ];
    let component = |part: &str| {
        // A component starting with an escape gets a `_` in front.
        let mut rest = if part.starts_with("_$") {
            &part[1..]
        } else {
            part
        };
        let mut out = String::with_capacity(rest.len());
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("..") {
                out.push_str("::");
                rest = after;
            } else if let Some((text, after)) = ESCAPES
                .iter()
                .find_map(|(escape, text)| rest.strip_prefix(escape).map(|after| (text, after)))
            {
                out.push_str(text);
                rest = after;
            } else if let Some((c, after)) = rest
                .strip_prefix("$u")
                .and_then(|r| r.split_once('$'))
                .and_then(|(hex, after)| {
                    Some((char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, after))
                })
            {
                out.push(c);
                rest = after;
            } else {
                let c = rest.chars().next().expect("not empty");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    };
    name.split("::")
        .map(component)
        .collect::<Vec<_>>()
        .join("::")
}

fn print_report(options: &Options, results: &[BinaryResult]) {
    const MIB: f64 = 1024.0 * 1024.0;
    println!("### Binaries\n");
    println!(
        "| binary | file MiB | DWARF MiB (`.debug_*`) | `.debug_info` MiB | `.text` MiB | functions | addresses |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in results {
        let f = &r.facts;
        println!(
            "| `{}` | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
            f.name,
            f.file_bytes as f64 / MIB,
            f.dwarf_bytes as f64 / MIB,
            f.debug_info_bytes as f64 / MIB,
            f.text_bytes as f64 / MIB,
            f.functions,
            r.addresses
        );
    }
    println!(
        "\n### Timings ({} addresses a batch, cold: median of {}, warm: {} more batches)\n",
        options.addresses, options.cold_runs, options.rounds
    );
    println!(
        "| binary | tool | cold first batch ms | cold runs ms | warm us/address | warm addresses/s | named |"
    );
    println!("| --- | --- | ---: | --- | ---: | ---: | ---: |");
    for r in results {
        for (tool, t) in [
            ("augur-symbolizer", &r.ours),
            ("llvm-symbolizer 14", &r.llvm),
        ] {
            println!("{}", t.row(&short(&r.facts.name), tool));
        }
    }
    println!("\n### Do both name the same functions?\n");
    println!(
        "| binary | named by both | outermost function agrees | innermost function agrees | whole inline chain agrees |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in results {
        let a = &r.agreement;
        let rate = |n: usize| 100.0 * n as f64 / a.compared.max(1) as f64;
        println!(
            "| `{}` | {} | {:.1}% | {:.1}% | {:.1}% |",
            short(&r.facts.name),
            a.compared,
            rate(a.outermost),
            rate(a.innermost),
            rate(a.chain)
        );
    }
    for r in results {
        if !r.agreement.examples.is_empty() {
            eprintln!("\nfirst disagreements in {}:", r.facts.name);
            for example in &r.agreement.examples {
                eprintln!("  {example}");
            }
        }
    }
    println!("\n### Targets\n");
    for r in results {
        let warm = r.ours.warm_us();
        let cold = ms(r.ours.cold_median());
        let speedup = r.llvm.warm_us() / warm;
        let verdict = |met: bool| if met { "met" } else { "**not met**" };
        println!(
            "- `{}` ({:.0} MiB of DWARF):",
            short(&r.facts.name),
            r.facts.dwarf_bytes as f64 / MIB
        );
        println!(
            "  - warm <= {WARM_TARGET_US} us/address: {warm:.2} us: {}",
            verdict(warm <= WARM_TARGET_US)
        );
        println!(
            "  - cold first batch <= {COLD_TARGET_MS} ms (stated for ~40 MB of DWARF): {cold:.1} ms: {}",
            verdict(cold <= COLD_TARGET_MS)
        );
        println!(
            "  - warm >= {SPEEDUP_TARGET}x faster than llvm-symbolizer: {speedup:.1}x: {}",
            verdict(speedup >= SPEEDUP_TARGET)
        );
    }
}

/// `.../target/debug/augur` -> `debug/augur`, short enough for a table.
fn short(path: &str) -> String {
    let parts: Vec<&str> = path.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}
