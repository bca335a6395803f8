//! `go-symbol-bench`: how fast `augur-symbolizer` names frames of a large Go
//! binary from its `.gopclntab`, next to `go tool addr2line`.
//!
//! The binary (by default Debian's stripped Go compiler,
//! `/usr/lib/go-1.19/pkg/tool/linux_amd64/compile`) is copied into a scratch
//! directory and named by its file id (`read_file_id`: a content id, since
//! Go's linker writes no GNU build-id), as agents name it. N addresses (default 10,000)
//! are spread evenly over the functions of the Go table, at a seeded offset
//! inside each. `GoTable` gets the ELF virtual address, `Symbolizer` the file
//! offset (translated through the `PT_LOAD` header that maps it, as agents
//! send them) and `addr2line` the virtual address, fed on stdin.
//!
//! Measured:
//! - *cold first batch*: `GoTable::open` plus the batch; `Symbolizer::new`
//!   plus its first `symbolize()` (locating the file by its id from the
//!   path hint, opening the table); addr2line from spawning the tool (the binary in
//!   `go env GOTOOLDIR`, not the `go` wrapper) to its last answer. Median of
//!   `--cold-runs`.
//! - *warm per address*: the batch `--rounds` more times on the same table or
//!   `Symbolizer`, total / lookups; addr2line fed `--rounds + 1` copies, time
//!   from its last answer of the first copy to its last, / lookups
//!   (addr2line buffers its output 4 KiB at a time, so "first copy" is
//!   known to within about 60 answers).
//! - *agreement*: addr2line prints the outermost function with the
//!   innermost file:line (it knows nothing of inlining); both are compared
//!   with ours.
//!
//! Also printed: the size of the debug file the agent would upload for the
//! binary (`augur_agent::debuginfo::extract`). Exit codes: 0 ran, 1 could
//! not run, 2 bad usage.
//!
//! Usage: `cargo build --release -p augur-tests --bin go-symbol-bench &&
//! target/release/go-symbol-bench [--binary PATH]...`

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};
use augur_profile::rng::SplitMix64;
use augur_profile::{FileId, Symbol};
use augur_symbolizer::{DebugInfoLocator, FrameRequest, GoTable, Symbolizer, read_file_id};
use augur_tests::bench::{self, ToolTiming, cli::at_least_one};
use clap::{CommandFactory, Parser};
use object::{Object, ObjectSection, ObjectSegment};

const DEFAULT_BINARY: &str = "/usr/lib/go-1.19/pkg/tool/linux_amd64/compile";

/// Names N addresses spread over the functions of each Go binary with
/// augur-symbolizer's GoTable, with its Symbolizer and with `go tool
/// addr2line`, cold (fresh table, symbolizer or process) and warm (the same
/// batch again), compares the answers and prints Markdown tables.
#[derive(Debug, Parser)]
#[command(name = "go-symbol-bench")]
struct Options {
    /// A Go ELF binary, stripped or not; repeat for several
    #[arg(long = "binary", value_name = "PATH", default_value = DEFAULT_BINARY)]
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
    /// The go command, to find addr2line
    #[arg(long, value_name = "PATH", default_value = "go")]
    go: PathBuf,
}

fn main() -> ExitCode {
    let parsed = bench::parse_args::<Options>(std::env::args().skip(1));
    bench::main(Options::command(), parsed, run)
}

/// What the benchmark learned about one binary.
struct BinaryFacts {
    name: String,
    file_bytes: u64,
    pclntab_bytes: u64,
    cut_bytes: Option<u64>,
    stripped: bool,
    functions: usize,
    file_id: FileId,
}

/// One code location as each tool is asked about it.
#[derive(Clone, Copy)]
struct Address {
    virtual_address: u64,
    file_offset: u64,
}

/// `(outermost function, innermost file, innermost line, chain length)`.
type Answer = Option<(String, String, u32, usize)>;

/// One tool's timings on one binary.
type Timing = ToolTiming<(String, String, u32, usize)>;

struct BinaryResult {
    facts: BinaryFacts,
    addresses: usize,
    table: Timing,
    symbolizer: Timing,
    /// `None` when addr2line cannot read the binary (a Go newer than the
    /// toolchain's, or position-independent for go 1.19's).
    addr2line: Option<Timing>,
}

fn run(options: &Options) -> anyhow::Result<()> {
    let tooldir = Command::new(&options.go)
        .args(["env", "GOTOOLDIR"])
        .env("GOTOOLCHAIN", "local")
        .output()
        .with_context(|| format!("running {} env GOTOOLDIR", options.go.display()))?;
    if !tooldir.status.success() {
        bail!("`go env GOTOOLDIR` failed");
    }
    let addr2line = PathBuf::from(String::from_utf8(tooldir.stdout)?.trim()).join("addr2line");
    if !addr2line.exists() {
        bail!("{} is missing", addr2line.display());
    }
    let scratch = tempfile::Builder::new()
        .prefix("go-symbol-bench-")
        .tempdir()
        .context("creating a scratch directory")?;
    let mut results = Vec::new();
    for (i, binary) in options.binaries.iter().enumerate() {
        let name = binary
            .file_name()
            .map_or_else(|| "binary".into(), |n| n.to_string_lossy().into_owned());
        let copy = scratch.path().join(format!("{i}-{name}"));
        std::fs::copy(binary, &copy)
            .with_context(|| format!("copying {} to {}", binary.display(), copy.display()))?;
        eprintln!("go-symbol-bench: {} ...", binary.display());
        let file_id = read_file_id(&copy).context("reading the copy's file id")?;
        let (facts, addresses) =
            inspect(&copy, binary, file_id, options.addresses, scratch.path())?;
        let table = bench_table(options, &copy, &addresses)?;
        let symbolizer = bench_symbolizer(options, &copy, &facts.file_id, &addresses);
        let addr2line = match bench_addr2line(options, &addr2line, &copy, &addresses) {
            Ok(timing) => Some(timing),
            Err(error) => {
                eprintln!("go-symbol-bench: go tool addr2line cannot read it: {error:#}");
                None
            }
        };
        results.push(BinaryResult {
            facts,
            addresses: addresses.len(),
            table,
            symbolizer,
            addr2line,
        });
    }
    print_report(options, &results);
    Ok(())
}

fn inspect(
    path: &Path,
    original: &Path,
    file_id: FileId,
    count: usize,
    scratch: &Path,
) -> anyhow::Result<(BinaryFacts, Vec<Address>)> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let elf = object::File::parse(&*data)
        .with_context(|| format!("parsing {} as ELF", path.display()))?;
    let pclntab_bytes = elf
        .section_by_name(".gopclntab")
        .or_else(|| elf.section_by_name(".data.rel.ro.gopclntab"))
        .map(|s| s.size())
        .with_context(|| format!("{} is not a Go binary", path.display()))?;
    let stripped = elf.section_by_name(".symtab").is_none();
    let segments: Vec<(u64, u64, u64)> = elf
        .segments()
        .map(|s| {
            let (offset, size) = s.file_range();
            (s.address(), offset, size)
        })
        .collect();
    let table = GoTable::open(path)?.context("no Go table")?;
    let functions: Vec<(u64, u64)> = table
        .functions()
        .filter(|f| f.end > f.entry)
        .map(|f| (f.entry, f.end - f.entry))
        .collect();
    if functions.is_empty() {
        bail!("{} has an empty Go table", path.display());
    }
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
    let cut_bytes = augur_agent::debuginfo::extract::extract(original, &scratch.join("cut.debug"))
        .ok()
        .flatten();
    let facts = BinaryFacts {
        name: original.display().to_string(),
        file_bytes: data.len() as u64,
        pclntab_bytes,
        cut_bytes,
        stripped,
        functions: functions.len(),
        file_id,
    };
    Ok((facts, addresses))
}

fn answer(chain: Option<Vec<Symbol>>) -> Answer {
    let chain = chain?;
    let (inner, outer) = (chain.first()?, chain.last()?);
    Some((
        outer.function.clone(),
        inner.file.clone().unwrap_or_else(|| "?".into()),
        inner.line.unwrap_or(0),
        chain.len(),
    ))
}

fn bench_table(options: &Options, path: &Path, addresses: &[Address]) -> anyhow::Result<Timing> {
    let batch = |table: &GoTable| -> Vec<Answer> {
        addresses
            .iter()
            .map(|a| answer(table.symbolize(a.virtual_address).ok().flatten()))
            .collect()
    };
    let mut cold_runs = Vec::new();
    let mut kept = None;
    for _ in 0..options.cold_runs {
        let started = Instant::now();
        let table = GoTable::open(path)?.context("no Go table")?;
        let answers = batch(&table);
        cold_runs.push(started.elapsed());
        kept = Some((table, answers));
    }
    let (table, answers) = kept.context("no cold run")?;
    let started = Instant::now();
    for _ in 0..options.rounds {
        std::hint::black_box(batch(&table));
    }
    Ok(Timing {
        cold_runs,
        warm_total: started.elapsed(),
        warm_lookups: options.rounds * addresses.len(),
        answers,
    })
}

fn bench_symbolizer(
    options: &Options,
    path: &Path,
    file_id: &FileId,
    addresses: &[Address],
) -> Timing {
    let hints = [path.display().to_string()];
    let requests: Vec<FrameRequest<'_>> = addresses
        .iter()
        .map(|a| FrameRequest {
            build_id: file_id,
            file_offset: a.file_offset,
            path_hints: &hints,
        })
        .collect();
    let mut cold_runs = Vec::new();
    let mut kept = None;
    for _ in 0..options.cold_runs {
        let started = Instant::now();
        let mut symbolizer = Symbolizer::new(DebugInfoLocator::new(Vec::new(), true));
        let results = symbolizer.symbolize(&requests);
        cold_runs.push(started.elapsed());
        kept = Some((symbolizer, results));
    }
    let (mut symbolizer, results) = kept.expect("at least one cold run");
    let started = Instant::now();
    for _ in 0..options.rounds {
        std::hint::black_box(symbolizer.symbolize(&requests));
    }
    Timing {
        cold_runs,
        warm_total: started.elapsed(),
        warm_lookups: options.rounds * requests.len(),
        answers: results.into_iter().map(|r| answer(r.ok())).collect(),
    }
}

fn bench_addr2line(
    options: &Options,
    tool: &Path,
    path: &Path,
    addresses: &[Address],
) -> anyhow::Result<Timing> {
    let virtual_addresses: Vec<u64> = addresses.iter().map(|a| a.virtual_address).collect();
    let (mut function, mut location) = (String::new(), String::new());
    augur_tests::bench::time_piped_tool(
        || {
            let mut command = Command::new(tool);
            command.arg(path);
            command
        },
        &virtual_addresses,
        options.cold_runs,
        options.rounds,
        |reader| {
            // Two lines an address: the function, then FILE:LINE.
            function.clear();
            location.clear();
            if reader.read_line(&mut function)? == 0 || reader.read_line(&mut location)? == 0 {
                return Ok(None);
            }
            let name = function.trim_end();
            let parsed = location
                .trim_end()
                .rsplit_once(':')
                .and_then(|(file, line)| Some((file.to_owned(), line.parse::<i64>().ok()?)));
            Ok(Some(match parsed {
                _ if name == "?" => None,
                Some((file, line)) if line > 0 => Some((name.to_owned(), file, line as u32, 1)),
                _ => Some((name.to_owned(), "?".into(), 0, 1)),
            }))
        },
    )
}

fn print_report(options: &Options, results: &[BinaryResult]) {
    const MIB: f64 = 1024.0 * 1024.0;
    println!("### Binaries\n");
    println!(
        "| binary | stripped | file MiB | `.gopclntab` MiB | agent's cut file MiB | functions | addresses |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in results {
        let f = &r.facts;
        println!(
            "| `{}` | {} | {:.1} | {:.1} | {} | {} | {} |",
            f.name,
            if f.stripped { "yes" } else { "no" },
            f.file_bytes as f64 / MIB,
            f.pclntab_bytes as f64 / MIB,
            f.cut_bytes
                .map_or_else(|| "-".into(), |b| format!("{:.1}", b as f64 / MIB)),
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
            ("`GoTable`", Some(&r.table)),
            ("`Symbolizer`", Some(&r.symbolizer)),
            ("go tool addr2line", r.addr2line.as_ref()),
        ] {
            let Some(t) = t else {
                println!(
                    "| `{}` | {tool} | - | - | - | - | cannot read it |",
                    short(&r.facts.name)
                );
                continue;
            };
            println!("{}", t.row(short(&r.facts.name), tool));
        }
    }
    println!("\n### Agreement with addr2line (outermost function, innermost file:line)\n");
    println!(
        "| binary | named by both | function agrees | file:line agrees | `Symbolizer` = `GoTable` | ours with inlined calls |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in results {
        let (mut both, mut function, mut location) = (0, 0, 0);
        let mut examples = Vec::new();
        let theirs = r.addr2line.as_ref().map_or(&[][..], |t| &t.answers[..]);
        for (ours, theirs) in r.table.answers.iter().zip(theirs) {
            let (Some(ours), Some(theirs)) = (ours, theirs) else {
                continue;
            };
            both += 1;
            function += usize::from(ours.0 == theirs.0);
            let same_place = (&ours.1, ours.2) == (&theirs.1, theirs.2);
            location += usize::from(same_place);
            if (ours.0 != theirs.0 || !same_place) && examples.len() < 5 {
                examples.push(format!("ours {ours:?}, addr2line {theirs:?}"));
            }
        }
        let same = r
            .table
            .answers
            .iter()
            .zip(&r.symbolizer.answers)
            .filter(|(a, b)| a == b)
            .count();
        let inlined = r
            .table
            .answers
            .iter()
            .filter(|a| a.as_ref().is_some_and(|a| a.3 > 1))
            .count();
        let pct = |n: usize, of: usize| format!("{:.2}%", 100.0 * n as f64 / of.max(1) as f64);
        let (function, location) = if both == 0 {
            ("-".into(), "-".into())
        } else {
            (pct(function, both), pct(location, both))
        };
        println!(
            "| `{}` | {both} | {function} | {location} | {} | {} |",
            short(&r.facts.name),
            pct(same, r.addresses),
            pct(inlined, r.addresses)
        );
        for example in examples {
            eprintln!("go-symbol-bench: differs: {example}");
        }
    }
    println!(
        "\nLoad average at the end: {}",
        augur_tests::bench::load_average()
    );
}

fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}
