//! `augur services` and `augur export`: thin clients of the web API.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::Format;

/// Arguments of `augur services`.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// Server base URL, e.g. http://127.0.0.1:7080.
    #[arg(long, default_value = "http://127.0.0.1:7080")]
    server: String,
}

/// Arguments of `augur export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Server base URL, e.g. http://127.0.0.1:7080.
    #[arg(long, default_value = "http://127.0.0.1:7080")]
    server: String,
    /// Service to export.
    #[arg(long)]
    service: String,
    /// Start: RFC 3339 or relative like -15m.
    #[arg(long, default_value = "-1h", allow_hyphen_values = true)]
    from: String,
    /// End: RFC 3339, relative, or now.
    #[arg(long, default_value = "now", allow_hyphen_values = true)]
    to: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "pprof")]
    format: Format,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
}

fn get(url: &str) -> anyhow::Result<Vec<u8>> {
    let mut response = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .with_context(|| format!("requesting {url}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .with_context(|| format!("reading the response of {url}"))?;
    if !status.is_success() {
        bail!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prints one service per line with its sample count.
pub fn services(args: ServicesArgs) -> anyhow::Result<ExitCode> {
    let url = format!("{}/api/v1/services", args.server.trim_end_matches('/'));
    let body: serde_json::Value =
        serde_json::from_slice(&get(&url)?).context("parsing the service list")?;
    let services = body["services"]
        .as_array()
        .context("response has no services array")?;
    for service in services {
        println!(
            "{}\t{} samples\t{} .. {}",
            service["name"].as_str().unwrap_or("?"),
            service["samples"],
            service["first_seen"].as_str().unwrap_or("?"),
            service["last_seen"].as_str().unwrap_or("?"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Downloads one profile to a file.
pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let url = format!(
        "{}/api/v1/profile?service={}&from={}&to={}&format={}",
        args.server.trim_end_matches('/'),
        encode(&args.service),
        encode(&args.from),
        encode(&args.to),
        args.format.as_str()
    );
    let body = get(&url)?;
    std::fs::write(&args.output, &body)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("wrote {} bytes to {}", body.len(), args.output.display());
    Ok(ExitCode::SUCCESS)
}
