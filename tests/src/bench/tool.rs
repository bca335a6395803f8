//! How the symbolization benchmarks (`symbol-bench`, `go-symbol-bench`)
//! time a tool: cold first batches, warm batches after them, and each
//! tool's answers, for external tools fed addresses on a pipe.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::report::ms;

/// One symbolizer's timings on one binary, as the symbolization benchmarks
/// (`symbol-bench`, `go-symbol-bench`) measure every tool: cold first
/// batches, warm batches after them, and the first batch's answer per
/// address (`None`: not named).
pub struct ToolTiming<A> {
    /// Each cold run: from a fresh tool to its last answer of the batch.
    pub cold_runs: Vec<Duration>,
    /// All warm batches together.
    pub warm_total: Duration,
    /// Addresses looked up in those warm batches.
    pub warm_lookups: usize,
    /// The answers, one per address of the batch.
    pub answers: Vec<Option<A>>,
}

impl<A> ToolTiming<A> {
    /// The median cold run.
    pub fn cold_median(&self) -> Duration {
        let mut runs = self.cold_runs.clone();
        runs.sort();
        runs[runs.len() / 2]
    }

    /// Warm microseconds per address.
    pub fn warm_us(&self) -> f64 {
        self.warm_total.as_secs_f64() * 1e6 / self.warm_lookups as f64
    }

    /// Addresses named.
    pub fn named(&self) -> usize {
        self.answers.iter().filter(|a| a.is_some()).count()
    }

    /// The timings table's row: binary, tool, cold median, cold runs, warm
    /// per address and per second, share named.
    pub fn row(&self, binary: &str, tool: &str) -> String {
        let runs: Vec<String> = self
            .cold_runs
            .iter()
            .map(|d| format!("{:.0}", ms(*d)))
            .collect();
        format!(
            "| `{binary}` | {tool} | {:.1} | {} | {:.2} | {:.0} | {:.1}% |",
            ms(self.cold_median()),
            runs.join(", "),
            self.warm_us(),
            1e6 / self.warm_us(),
            100.0 * self.named() as f64 / self.answers.len().max(1) as f64
        )
    }
}

/// Times an external symbolizer that reads addresses on stdin (one hex
/// address a line) and answers each in order: `cold_runs` fresh processes
/// fed `addresses` once, then one process fed them `rounds + 1` times,
/// whose warm time runs from its last answer of the first copy to its last
/// answer of the last. `read_answer` reads one address's answer (`None` at
/// the end of the output).
pub fn time_piped_tool<A>(
    command: impl Fn() -> Command,
    addresses: &[u64],
    cold_runs: usize,
    rounds: usize,
    mut read_answer: impl FnMut(&mut dyn BufRead) -> anyhow::Result<Option<Option<A>>>,
) -> anyhow::Result<ToolTiming<A>> {
    let mut cold = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..cold_runs {
        let run = run_piped(command(), addresses, 1, &mut read_answer)?;
        cold.push(run.first_copy);
        answers = run.answers;
    }
    let warm = run_piped(command(), addresses, rounds + 1, &mut read_answer)?;
    Ok(ToolTiming {
        cold_runs: cold,
        warm_total: warm.later_copies,
        warm_lookups: rounds * addresses.len(),
        answers,
    })
}

/// One process of a piped tool fed `copies` copies of the batch.
struct PipedRun<A> {
    /// From spawning to the last answer of the first copy.
    first_copy: Duration,
    /// From there to the last answer of the last copy.
    later_copies: Duration,
    /// The first copy's answers.
    answers: Vec<Option<A>>,
}

fn run_piped<A>(
    mut command: Command,
    addresses: &[u64],
    copies: usize,
    read_answer: &mut impl FnMut(&mut dyn BufRead) -> anyhow::Result<Option<Option<A>>>,
) -> anyhow::Result<PipedRun<A>> {
    let program = command.get_program().to_string_lossy().into_owned();
    let input: String = addresses.iter().map(|a| format!("{a:#x}\n")).collect();
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written from another thread so neither pipe fills while the other waits.
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        for _ in 0..copies {
            stdin.write_all(input.as_bytes())?;
        }
        Ok(())
    });
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut answers = Vec::with_capacity(addresses.len());
    let mut first_copy = None;
    for answered in 1..=copies * addresses.len() {
        let Some(answer) = read_answer(&mut reader)? else {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{program} stopped after {} of {} answers",
                answered - 1,
                copies * addresses.len()
            );
        };
        if answered <= addresses.len() {
            answers.push(answer);
        }
        if answered == addresses.len() {
            first_copy = Some(started.elapsed());
        }
    }
    let finished = started.elapsed();
    writer
        .join()
        .expect("the writer thread panicked")
        .with_context(|| format!("feeding addresses to {program}"))?;
    child.wait()?;
    let first_copy = first_copy.expect("the first copy was answered");
    Ok(PipedRun {
        first_copy,
        later_copies: finished - first_copy,
        answers,
    })
}
