//! `file-id-bench`: what naming a new binary costs the agent, before and
//! after file ids.
//!
//! Each new executable a host starts is read once by the agent for its
//! identity. Before file ids that was its GNU build-id note alone (a file
//! without one stayed unnamed); now a file without one is also hashed
//! (SHA-256 of its first and last 4 KiB and its length). This command
//! makes `--files` distinct copies of a binary with a build-id and of one
//! without (`tests/fixtures/split.c`, linked with and without
//! `--build-id=none`; each copy differs in 8 trailing bytes, so each is a
//! new file to the agent, in the page cache as a freshly deployed binary
//! is), then times, alternating in `--rounds` rounds, each on fresh copies:
//! *before*, the read the agent did until now (stat, open, map, parse the
//! ELF headers, read the build-id note), and *after*, the agent's
//! `FileIds::get` on an empty cache. It prints the median time per new
//! file for each kind of file and each side.
//!
//! It also times building the unwind table of a Go binary from its
//! `.gopclntab` (new with file ids: such binaries had no table before), if
//! `--go-binary PATH` is given.
//!
//! Usage: `cargo build --release -p augur-tests --bin file-id-bench &&
//! target/release/file-id-bench [--files N] [--rounds R] [--go-binary PATH]`

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use augur_agent::identity::FileIds;
use augur_tests::bench::{self, cli::at_least_one};
use clap::{CommandFactory, Parser};

/// Times how long the agent takes to identify a new binary before file ids
/// (build-id note only) and after (build-id, else a content hash),
/// alternating, on fresh copies of a binary with a GNU build-id and of one
/// without. With --go-binary, also times building that binary's unwind
/// table from .gopclntab.
#[derive(Debug, Parser)]
#[command(name = "file-id-bench")]
struct Options {
    /// Fresh copies per round
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = at_least_one::<usize>)]
    files: usize,
    /// Rounds, alternating before and after
    #[arg(long, value_name = "R", default_value_t = 6, value_parser = at_least_one::<usize>)]
    rounds: usize,
    /// A Go binary whose .gopclntab unwind table to time building
    #[arg(long, value_name = "PATH")]
    go_binary: Option<PathBuf>,
}

fn main() -> ExitCode {
    let parsed = bench::parse_args::<Options>(std::env::args().skip(1));
    bench::main(Options::command(), parsed, run)
}

/// What the agent read of a new file before file ids: its build-id note.
fn build_id_only(path: &Path) -> Option<Vec<u8>> {
    use object::Object;

    let meta = std::fs::metadata(path).ok()?;
    std::hint::black_box((meta.dev(), meta.ino(), meta.size(), meta.mtime()));
    let file = std::fs::File::open(path).ok()?;
    std::hint::black_box(file.metadata().ok()?.ino());
    // SAFETY: a read-only map of a file this command wrote and nobody changes.
    let data = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let elf = object::File::parse(&*data).ok()?;
    elf.build_id().ok()?.map(<[u8]>::to_vec)
}

/// `count` copies of `source` in `dir`, each with 8 distinct trailing bytes.
fn copies(source: &Path, dir: &Path, tag: &str, count: usize) -> anyhow::Result<Vec<PathBuf>> {
    let data = std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    (0..count)
        .map(|i| {
            let path = dir.join(format!("{tag}-{i}"));
            let mut copy = data.clone();
            copy.extend_from_slice(&(i as u64).to_le_bytes());
            std::fs::write(&path, &copy)?;
            Ok(path)
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn run(options: &Options) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let with_id = augur_tests::build_fixture_with(
        scratch.path(),
        "split.c",
        "with-build-id",
        &["-Wl,--build-id=sha1"],
    )?;
    let without_id = augur_tests::build_fixture_with(
        scratch.path(),
        "split.c",
        "without-build-id",
        &["-Wl,--build-id=none"],
    )?;
    println!(
        "file-id-bench: {} files a round, {} rounds, load {}",
        options.files,
        options.rounds,
        augur_tests::bench::load_average()
    );
    println!();
    println!("| file | before (build-id note) | after (file id) | after / before |");
    println!("| --- | ---: | ---: | ---: |");
    for (label, source) in [("with a build-id", &with_id), ("without one", &without_id)] {
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for round in 0..options.rounds {
            let dir = scratch.path().join(format!("round-{label}-{round}"));
            std::fs::create_dir_all(&dir)?;
            let old = copies(source, &dir, "before", options.files)?;
            let new = copies(source, &dir, "after", options.files)?;
            // Alternate which side goes first, so neither always runs warm.
            let mut sides: [(&str, &Vec<PathBuf>); 2] = [("before", &old), ("after", &new)];
            if round % 2 == 1 {
                sides.reverse();
            }
            for (side, paths) in sides {
                let started = Instant::now();
                if side == "before" {
                    for path in paths {
                        std::hint::black_box(build_id_only(path));
                    }
                    before.push(started.elapsed().as_secs_f64() * 1e6 / paths.len() as f64);
                } else {
                    let mut ids = FileIds::default();
                    for path in paths {
                        std::hint::black_box(ids.get(path)?);
                    }
                    after.push(started.elapsed().as_secs_f64() * 1e6 / paths.len() as f64);
                }
            }
            std::fs::remove_dir_all(&dir)?;
        }
        let (b, a) = (median(before), median(after));
        println!("| {label} | {b:.1} us | {a:.1} us | {:.2} |", a / b);
    }
    if let Some(go) = &options.go_binary {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..options.rounds {
            let started = Instant::now();
            let table = augur_agent::unwind::build::build_table_from_path(go)
                .with_context(|| format!("building the unwind table of {}", go.display()))?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            rows = table.rows().len();
        }
        println!();
        println!(
            "Go unwind table of {} ({} bytes): {rows} rows, median build {:.1} ms",
            go.display(),
            std::fs::metadata(go)?.len(),
            median(times)
        );
    }
    Ok(())
}
