//! The `augur` command: parses arguments, installs logging, and hands each
//! subcommand to the library that implements it.

mod client;
mod diff;
mod flame;
mod loadgen;
mod record;
mod security;
mod up;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Augur: continuous, fleet-wide profiling.
#[derive(Debug, Parser)]
#[command(name = "augur", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Agent, aggregator and web server in one process on this host.
    Up(up::UpArgs),
    /// The host agent alone, shipping to an aggregator.
    Agent(up::AgentArgs),
    /// Aggregator and/or query server for a fleet.
    Server(up::ServerArgs),
    /// Profile one command (and its children) until it exits; no server needed.
    Record(record::RecordArgs),
    /// List the services a server has profiles for.
    Services(client::ServicesArgs),
    /// Download a service's merged profile from a server.
    Export(client::ExportArgs),
    /// Run a read-only SQL query over a server's profiles (docs/sql.md).
    Sql(client::SqlArgs),
    /// Fleet-wide CPU by service, function or binary over a time range.
    Top(client::TopArgs),
    /// A flame graph of any hierarchy: a JSON object of `/`-separated keys
    /// (metrics.json) or folded text.
    Flame(flame::FlameArgs),
    /// Rank the functions that got slower or faster between two profiles
    /// (files, or versions or ranges on a server), with significance.
    Diff(diff::DiffArgs),
    /// Simulate many agents pushing batches to aggregators; report throughput
    /// and latency.
    Loadgen(loadgen::LoadgenArgs),
}

/// Output formats of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Gzipped pprof profile.proto.
    Pprof,
    /// Folded stacks text.
    Folded,
    /// Interactive SVG flame graph.
    Svg,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Pprof => "pprof",
            Format::Folded => "folded",
            Format::Svg => "svg",
        }
    }
}

/// Parses `10s`, `1m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| text.split_at(i))
        .unwrap_or((text, "s"));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?} (use ms, s, m, h or d)"
            ));
        }
    };
    if d.is_zero() {
        return Err("duration must be positive".into());
    }
    Ok(d)
}

/// Default data directory.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("augur-data")
}

/// Default listen addresses.
pub const DEFAULT_HTTP: &str = "127.0.0.1:7080";
/// Default ingest address.
pub const DEFAULT_INGEST: &str = "127.0.0.1:7070";

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("invalid address {text:?}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AUGUR_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Up(args) => up::run_up(args),
        Command::Agent(args) => up::run_agent(args),
        Command::Server(args) => up::run_server(args),
        Command::Record(args) => record::run(args),
        Command::Services(args) => client::services(args),
        Command::Export(args) => client::export(args),
        Command::Sql(args) => client::sql(args),
        Command::Top(args) => client::top(args),
        Command::Flame(args) => flame::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Loadgen(args) => loadgen::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("augur: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
