//! `unwind-bench`: what building an agent unwind table costs, in time and
//! memory, for Debian's libc, `python3` and a large Rust binary.
//!
//! Each binary is first copied into a scratch directory, so a concurrent
//! rebuild cannot change it mid-run and the copy is in the page cache (the
//! build time is parsing and encoding, not disk reads). Then
//! `augur_agent::unwind::build_table_from_path` builds its table `--runs`
//! times; the median, fastest and slowest build are printed with the
//! table's rows and bytes (what the agent keeps, and what a BPF map would
//! hold), the transient heap peak during a build (a counting allocator
//! wraps the system one), the FDEs read and the share of `.text` covered.
//! The host's load average is printed before and after: the VM is shared.
//!
//! Usage: `cargo build --release -p augur-tests --bin unwind-bench &&
//! target/release/unwind-bench [--binary PATH]... [--runs N]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use augur_agent::unwind::{UnwindTable, build_table_from_path};
use augur_tests::bench::{self, Parsed, cli::at_least_one, load_average};
use clap::{CommandFactory, Parser};

/// Heap bytes allocated now, and the most since the last reset.
struct CountingAllocator;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = CURRENT.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Builds the agent's compact unwind table of each binary N times and
/// prints a Markdown table: median build time, rows, bytes, heap peak,
/// coverage.
#[derive(Debug, Parser)]
#[command(name = "unwind-bench")]
struct Options {
    /// An x86_64 ELF file; repeat for several [default: Debian's libc,
    /// /usr/bin/python3, target/debug/augur and target/release/augur, those
    /// that exist]
    #[arg(long = "binary", value_name = "PATH")]
    binaries: Vec<PathBuf>,
    /// Builds per binary; the median is reported
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = at_least_one::<usize>)]
    runs: usize,
}

fn parse_args(args: impl Iterator<Item = String>) -> anyhow::Result<Parsed<Options>> {
    let Parsed::Run(mut options) = bench::parse_args::<Options>(args)? else {
        return Ok(Parsed::Help);
    };
    let binaries = &mut options.binaries;
    if binaries.is_empty() {
        binaries.push(PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"));
        binaries.push(PathBuf::from("/usr/bin/python3"));
        // target/release/unwind-bench -> target/{debug,release}/augur
        let exe = std::env::current_exe().context("finding this program's path")?;
        let target = exe
            .parent()
            .and_then(Path::parent)
            .context("this program is not in target/<profile>/")?;
        binaries.push(target.join("debug").join("augur"));
        binaries.push(target.join("release").join("augur"));
        binaries.retain(|b| b.exists());
    }
    Ok(Parsed::Run(options))
}

fn main() -> ExitCode {
    let parsed = parse_args(std::env::args().skip(1));
    bench::main(Options::command(), parsed, run)
}

struct Measured {
    name: String,
    file_mib: f64,
    eh_frame_kib: f64,
    times: Vec<Duration>,
    peak_heap: usize,
    table: UnwindTable,
}

fn measure(path: &Path, scratch: &Path, runs: usize) -> anyhow::Result<Measured> {
    let name = path.display().to_string();
    let copy = scratch.join(path.file_name().context("a file name")?);
    std::fs::copy(path, &copy).with_context(|| format!("copying {name}"))?;
    let data = std::fs::read(&copy)?;
    let eh_frame_kib = {
        use object::{Object, ObjectSection};
        let elf = object::File::parse(&*data).with_context(|| format!("parsing {name}"))?;
        elf.section_by_name(".eh_frame").map_or(0, |s| s.size()) as f64 / 1024.0
    };
    let file_mib = data.len() as f64 / (1 << 20) as f64;
    drop(data);
    let mut times = Vec::with_capacity(runs);
    let mut peak_heap = 0;
    let mut table = None;
    for _ in 0..runs {
        drop(table.take());
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let built = build_table_from_path(&copy).with_context(|| format!("building {name}"))?;
        peak_heap = peak_heap.max(PEAK.load(Ordering::Relaxed) - base);
        times.push(built.stats().build_time);
        table = Some(built);
    }
    std::fs::remove_file(&copy)?;
    times.sort();
    Ok(Measured {
        name,
        file_mib,
        eh_frame_kib,
        times,
        peak_heap,
        table: table.context("at least one run")?,
    })
}

fn run(options: &Options) -> anyhow::Result<()> {
    if options.binaries.is_empty() {
        bail!("no binary to measure (see --help)");
    }
    let scratch = tempfile::tempdir()?;
    println!("load average at start: {}", load_average());
    let mut results = Vec::new();
    for binary in &options.binaries {
        results.push(measure(binary, scratch.path(), options.runs)?);
    }
    println!("load average at end: {}\n", load_average());
    println!(
        "| binary | file MiB | `.eh_frame` KiB | FDEs | build ms, median of {} (min-max) | rows | table KiB | bytes/FDE | heap peak MiB | `.text` covered | supported |",
        options.runs
    );
    println!("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for m in &results {
        let stats = m.table.stats();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| `{}` | {:.1} | {:.0} | {} | {:.1} ({:.1}-{:.1}) | {} | {:.0} | {:.1} | {:.1} | {:.2}% | {:.2}% |",
            m.name,
            m.file_mib,
            m.eh_frame_kib,
            stats.fdes,
            ms(m.times[m.times.len() / 2]),
            ms(m.times[0]),
            ms(m.times[m.times.len() - 1]),
            stats.rows,
            stats.bytes as f64 / 1024.0,
            stats.bytes as f64 / stats.fdes.max(1) as f64,
            m.peak_heap as f64 / (1 << 20) as f64,
            100.0 * stats.text_coverage(),
            100.0 * stats.text_supported(),
        );
    }
    println!(
        "\n| binary | CFA rows unsupported | rbp rows unsupported | RA rows unsupported | FDEs skipped | overlapping rows |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for m in &results {
        let s = m.table.stats();
        println!(
            "| `{}` | {} | {} | {} | {} | {} |",
            m.name,
            s.rows_cfa_unsupported,
            s.rows_rbp_unsupported,
            s.rows_ra_unsupported,
            s.fdes_skipped,
            s.overlapping_rows
        );
    }
    Ok(())
}
