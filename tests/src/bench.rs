//! What the benchmark commands in `src/bin/` share: their exit codes and
//! how they report bad arguments and failures.

use std::process::ExitCode;

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed<T> {
    /// Run with these options.
    Run(T),
    /// Print the usage and stop.
    Help,
}

/// Runs a benchmark command: usage on `--help`, the usage and exit code 2
/// for bad arguments, exit code 1 for a failed run.
pub fn main<T>(
    name: &str,
    usage: &str,
    parsed: anyhow::Result<Parsed<T>>,
    run: impl FnOnce(&T) -> anyhow::Result<()>,
) -> ExitCode {
    let options = match parsed {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            println!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("{name}: {error:#}\n\n{usage}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them,
/// for benchmark reports (`?` where unreadable).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}
