//! How a benchmark command reads its arguments (clap, derived) and ends:
//! `--help` prints the options and exits 0, bad usage prints the error and
//! the usage line and exits 2, a failed run prints its error chain and
//! exits 1. A missed target is a result, never an error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed<T> {
    /// Run with these options.
    Run(T),
    /// Print the help and stop.
    Help,
}

/// Parses `args` (without the program name) into `O`. Unknown flags and
/// missing values are worded as the commands always worded them
/// (`unknown argument`, `needs a value`); a value's own error names it.
pub fn parse_args<O: clap::Parser>(
    args: impl IntoIterator<Item = String>,
) -> anyhow::Result<Parsed<O>> {
    let name = O::command().get_name().to_owned();
    match O::try_parse_from(std::iter::once(name).chain(args)) {
        Ok(options) => Ok(Parsed::Run(options)),
        Err(error) => match error.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Ok(Parsed::Help),
            _ => Err(anyhow::anyhow!(describe(&error))),
        },
    }
}

/// A clap error as the commands word it.
fn describe(error: &clap::Error) -> String {
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        _ => None,
    };
    let arg = context(ContextKind::InvalidArg);
    match (error.kind(), arg) {
        (ErrorKind::UnknownArgument, Some(arg)) => format!("unknown argument {arg:?}"),
        (ErrorKind::InvalidValue, Some(arg))
            if context(ContextKind::InvalidValue).is_some_and(|v| v.is_empty()) =>
        {
            let flag = arg.split_whitespace().next().unwrap_or(&arg);
            format!("{flag} needs a value")
        }
        _ => {
            // The message and its notes (possible values, tips), without
            // clap's usage lines: `main` prints those.
            let text = error.render().to_string();
            let message: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
            message.join("\n").trim_start_matches("error: ").to_owned()
        }
    }
}

/// Runs a benchmark command whose options `command` describes: the help
/// on `--help`, the error and usage line with exit code 2 for bad
/// arguments, exit code 1 for a failed run.
pub fn main<T>(
    mut command: clap::Command,
    parsed: anyhow::Result<Parsed<T>>,
    run: impl FnOnce(&T) -> anyhow::Result<()>,
) -> ExitCode {
    let name = command.get_name().to_owned();
    let options = match parsed {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            println!("{}", command.render_long_help());
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!(
                "{name}: {error:#}\n\n{}\nFor more information, try '--help'.",
                command.render_usage()
            );
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

/// A positive number of seconds, fractions allowed (`--duration 2.5`).
pub fn positive_seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

/// A count: a non-negative whole number.
pub fn count<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{text:?} is not a count"))
}

/// A count of at least 1.
pub fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(text: &str) -> Result<T, String> {
    let n: T = count(text)?;
    if n < T::from(1) {
        return Err("must be at least 1".into());
    }
    Ok(n)
}

/// `name` next to this program (`target/<profile>/augur` beside
/// `target/<profile>/agent-bench`), or `name` on PATH when that cannot be
/// found out.
pub fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .map(|exe| exe.with_file_name(name))
        .unwrap_or_else(|_| PathBuf::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Sample options.
    #[derive(Debug, Parser)]
    #[command(name = "sample-bench")]
    struct Sample {
        /// Seconds.
        #[arg(long, default_value = "1", value_parser = positive_seconds)]
        phase: Duration,
        /// Rounds.
        #[arg(long, default_value_t = 4, value_parser = at_least_one::<u32>, allow_negative_numbers = true)]
        rounds: u32,
    }

    fn error(args: &[&str]) -> String {
        match parse_args::<Sample>(args.iter().map(|s| s.to_string())) {
            Err(error) => format!("{error:#}"),
            Ok(parsed) => panic!("{args:?} was accepted: {parsed:?}"),
        }
    }

    #[test]
    fn words_errors_as_the_commands_did() {
        assert_eq!(error(&["--bogus"]), "unknown argument \"--bogus\"");
        assert_eq!(error(&["--phase"]), "--phase needs a value");
        assert!(error(&["--phase", "0"]).contains("positive"));
        assert!(error(&["--rounds", "-1"]).contains("count"));
        assert!(error(&["--rounds", "0"]).contains("at least 1"));
        let parsed = parse_args::<Sample>(["--phase=2.5".to_owned()]);
        let Ok(Parsed::Run(sample)) = parsed else {
            panic!("expected options");
        };
        assert_eq!(
            (sample.phase, sample.rounds),
            (Duration::from_millis(2500), 4)
        );
        assert!(matches!(
            parse_args::<Sample>(["--help".to_owned()]),
            Ok(Parsed::Help)
        ));
    }
}
