//! `augur services`, `augur export`, `augur sql` and `augur top`: thin
//! clients of the web API.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::Format;
use crate::security::HttpClientArgs;

/// Arguments of `augur services`.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// Server base URL, e.g. http://127.0.0.1:7080.
    #[arg(long, default_value = "http://127.0.0.1:7080")]
    server: String,
    #[command(flatten)]
    auth: HttpClientArgs,
}

/// Arguments of `augur export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Server base URL, e.g. http://127.0.0.1:7080.
    #[arg(long, default_value = "http://127.0.0.1:7080")]
    server: String,
    #[command(flatten)]
    auth: HttpClientArgs,
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

/// Arguments of `augur sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query: one SELECT over the views in docs/sql.md, in the server's
    /// SQL dialect (SQLite or ClickHouse).
    query: String,
    /// Server base URL, e.g. http://127.0.0.1:7080.
    #[arg(long, default_value = "http://127.0.0.1:7080")]
    server: String,
    #[command(flatten)]
    auth: HttpClientArgs,
    /// Most rows to return.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    /// Output: aligned columns, tab-separated values, or the API's JSON.
    #[arg(long, value_enum, default_value = "table")]
    format: SqlFormat,
}

/// Arguments of `augur top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// What to rank: services, functions (by self time) or binaries.
    #[arg(value_parser = ["services", "functions", "binaries"])]
    report: String,
    /// Server base URL, e.g. http://127.0.0.1:7080.
    #[arg(long, default_value = "http://127.0.0.1:7080")]
    server: String,
    #[command(flatten)]
    auth: HttpClientArgs,
    /// Start: RFC 3339 or relative like -15m.
    #[arg(long, default_value = "-1h", allow_hyphen_values = true)]
    from: String,
    /// End: RFC 3339, relative, or now.
    #[arg(long, default_value = "now", allow_hyphen_values = true)]
    to: String,
    /// Lines to print.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

/// How `augur sql` prints rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// Aligned columns with a header.
    Table,
    /// Tab-separated, header first.
    Tsv,
    /// The API's JSON answer.
    Json,
}

/// GETs `url` over HTTP or HTTPS, trusting `auth`'s CA file or the
/// system's roots, with `auth`'s token as a bearer token if there is one.
pub(crate) fn get(auth: &HttpClientArgs, url: &str) -> anyhow::Result<Vec<u8>> {
    let agent = augur_http_client::agent(&auth.trust()?, None);
    let mut request = agent.get(url);
    if let Some(token) = auth.token()? {
        request = request.header("authorization", token.bearer_header());
    }
    let mut response = request
        .call()
        .map_err(|e| anyhow::anyhow!(augur_http_client::explain(&e)))
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

pub(crate) fn encode(text: &str) -> String {
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
        serde_json::from_slice(&get(&args.auth, &url)?).context("parsing the service list")?;
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
    let body = get(&args.auth, &url)?;
    std::fs::write(&args.output, &body)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!("wrote {} bytes to {}", body.len(), args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs a SQL query on a server and prints the answer.
pub fn sql(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let url = format!(
        "{}/api/v1/sql?q={}&limit={}",
        args.server.trim_end_matches('/'),
        encode(&args.query),
        args.limit
    );
    let body = get(&args.auth, &url)?;
    if args.format == SqlFormat::Json {
        println!("{}", String::from_utf8_lossy(&body));
        return Ok(ExitCode::SUCCESS);
    }
    let answer: serde_json::Value = serde_json::from_slice(&body).context("parsing the answer")?;
    let columns: Vec<String> = answer["columns"]
        .as_array()
        .context("answer has no columns")?
        .iter()
        .map(|c| c.as_str().unwrap_or("?").to_owned())
        .collect();
    let rows: Vec<Vec<String>> = answer["rows"]
        .as_array()
        .context("answer has no rows")?
        .iter()
        .map(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "NULL".into(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    match args.format {
        SqlFormat::Tsv => {
            println!("{}", columns.join("\t"));
            for row in &rows {
                println!("{}", row.join("\t"));
            }
        }
        _ => {
            let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: &[String]| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            println!("{}", line(&columns));
            println!(
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
            for row in &rows {
                println!("{}", line(row));
            }
        }
    }
    if answer["truncated"].as_bool() == Some(true) {
        eprintln!("augur: more rows than --limit {}; answer cut", args.limit);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a fleet report: share, CPU seconds, samples and name per line.
pub fn top(args: TopArgs) -> anyhow::Result<ExitCode> {
    let url = format!(
        "{}/api/v1/fleet/{}?from={}&to={}&limit={}",
        args.server.trim_end_matches('/'),
        args.report,
        encode(&args.from),
        encode(&args.to),
        args.limit
    );
    let body: serde_json::Value =
        serde_json::from_slice(&get(&args.auth, &url)?).context("parsing the report")?;
    println!(
        "# fleet {} from {} to {}",
        args.report,
        body["from"].as_str().unwrap_or("?"),
        body["to"].as_str().unwrap_or("?")
    );
    println!(
        "{:>7}  {:>12}  {:>10}  name",
        "share", "cpu seconds", "samples"
    );
    for row in body["rows"].as_array().context("report has no rows")? {
        println!(
            "{:>6.2}%  {:>12.3}  {:>10}  {}",
            row["share"].as_f64().unwrap_or(0.0) * 100.0,
            row["cpu_ns"].as_f64().unwrap_or(0.0) / 1e9,
            row["samples"],
            row["name"].as_str().unwrap_or("?")
        );
    }
    Ok(ExitCode::SUCCESS)
}
