//! `augur diff`: which functions got slower or faster between two profiles,
//! with significance, for people and for CI gates.
//!
//! The two sides are two local files (pprof, as `augur export` or `go tool
//! pprof` write them, or folded text), or two selections on a server: two
//! versions of a service, or two time ranges. The comparison itself is
//! [`augur_profile::diff`] (a quasi-binomial test: the noise between the
//! two sides is measured, not assumed); `--fail-on-regression PCT` exits 1
//! when a significant regression of at least PCT percent is found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use augur_profile::diff::{self, Diff, DiffOptions};
use clap::{Args, ValueEnum};

/// Largest profile file read.
const MAX_FILE: u64 = 1 << 30;

/// Arguments of `augur diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Base and target profile files (pprof `.pb.gz` or folded text); leave
    /// out to compare on a server.
    #[arg(num_args = 0..=2)]
    files: Vec<PathBuf>,
    /// Server base URL, to compare stored profiles.
    #[arg(long)]
    server: Option<String>,
    #[command(flatten)]
    auth: crate::security::HttpClientArgs,
    /// Service, on a server.
    #[arg(long, requires = "server")]
    service: Option<String>,
    /// Profile type: on a server, which one to fetch [default: cpu]; in a
    /// pprof file with several (a heap profile's alloc_space, inuse_space,
    /// ...), which to read [default: the file's default type].
    #[arg(long = "type")]
    profile_type: Option<String>,
    /// The base's version label (a deploy), on a server.
    #[arg(long, requires = "server")]
    base_version: Option<String>,
    /// The target's version label, on a server.
    #[arg(long, requires = "server")]
    target_version: Option<String>,
    /// Start of the base's range, on a server (RFC 3339 or relative).
    #[arg(long, default_value = "-7d", allow_hyphen_values = true)]
    base_from: String,
    /// End of the base's range.
    #[arg(long, default_value = "now", allow_hyphen_values = true)]
    base_to: String,
    /// Start of the target's range.
    #[arg(long, default_value = "-7d", allow_hyphen_values = true)]
    target_from: String,
    /// End of the target's range.
    #[arg(long, default_value = "now", allow_hyphen_values = true)]
    target_to: String,
    /// Exit 1 when a significant regression of at least this many percent
    /// is found.
    #[arg(long, value_name = "PCT")]
    fail_on_regression: Option<f64>,
    /// Family-wise false-positive rate of the significance test.
    #[arg(long, default_value_t = 0.005)]
    alpha: f64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: DiffFormat,
}

/// How `augur diff` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Ranked regressions and improvements.
    Table,
    /// The whole comparison as JSON.
    Json,
}

/// A side: root-first stacks with counts, and the value of one sample.
struct Side {
    label: String,
    stacks: Vec<(Vec<String>, u64)>,
    period: f64,
    unit: String,
}

/// Runs `augur diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..1.0).contains(&args.alpha) || args.alpha == 0.0 {
        bail!("--alpha must be between 0 and 1");
    }
    let (base, target) = match (&args.server, args.files.as_slice()) {
        (None, [base, target]) => (
            read_file(base, args.profile_type.as_deref())?,
            read_file(target, args.profile_type.as_deref())?,
        ),
        (Some(server), []) => {
            let service = args
                .service
                .as_deref()
                .context("--service is required with --server")?;
            (
                fetch(server, service, &args, Which::Base)?,
                fetch(server, service, &args, Which::Target)?,
            )
        }
        _ => bail!("give two profile files, or --server with --service"),
    };
    for side in [&base, &target] {
        if side.stacks.iter().all(|(_, n)| *n == 0) {
            bail!("{} has no samples to compare", side.label);
        }
    }
    let diff = diff::compare(
        &diff::self_counts(&base.stacks),
        &diff::self_counts(&target.stacks),
        target.period,
        DiffOptions {
            alpha: args.alpha,
            ..DiffOptions::default()
        },
    );
    match args.format {
        DiffFormat::Json => println!("{}", serde_json::to_string_pretty(&diff)?),
        DiffFormat::Table => print_table(&base, &target, &diff),
    }
    if let Some(threshold) = args.fail_on_regression {
        let failing: Vec<_> = diff
            .regressions
            .iter()
            .filter(|c| c.change * 100.0 >= threshold)
            .collect();
        if !failing.is_empty() {
            eprintln!(
                "augur: {} significant regression(s) of {threshold}% or more, the worst: {} {:+.1}%",
                failing.len(),
                failing[0].name,
                failing[0].change * 100.0
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(base: &Side, target: &Side, diff: &Diff) {
    let unit = |value: f64| match target.unit.as_str() {
        "nanoseconds" => format!("{:+.3} s", value / 1e9),
        _ => format!("{value:+.0}"),
    };
    println!(
        "base {}: {} samples; target {}: {} samples; scale {:.3}; {} functions tested; noise {:.2}x binomial",
        base.label,
        diff.base_total,
        target.label,
        diff.target_total,
        diff.scale,
        diff.tested,
        diff.dispersion
    );
    for (title, changes) in [
        ("regressions", &diff.regressions),
        ("improvements", &diff.improvements),
    ] {
        println!("\n{title} ({}):", changes.len());
        if changes.is_empty() {
            println!("  none significant");
        }
        for c in changes {
            println!(
                "  {:>+8.1}%  {:>12}  p={:<9.2e} {:>6.2}% -> {:>6.2}%  {}",
                c.change * 100.0,
                unit(c.impact),
                c.p_value,
                c.base_share * 100.0,
                c.target_share * 100.0,
                c.name
            );
        }
    }
}

fn read_file(path: &Path, sample_type: Option<&str>) -> anyhow::Result<Side> {
    use std::io::Read;

    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE {
        bail!("{} is larger than {MAX_FILE} bytes", path.display());
    }
    let label = path.display().to_string();
    // pprof is gzipped (or raw protobuf); folded text is UTF-8 lines.
    let text = std::str::from_utf8(&bytes).ok().filter(|t| {
        t.lines().next().is_some_and(|l| {
            l.rsplit_once(' ')
                .is_some_and(|(_, n)| n.parse::<u64>().is_ok())
        })
    });
    if let Some(text) = text {
        let stacks = augur_profile::render::parse_folded(text)
            .with_context(|| label.clone())?
            .into_iter()
            .map(|(stack, count)| (stack.split(';').map(str::to_owned).collect(), count))
            .collect();
        return Ok(Side {
            label,
            stacks,
            period: 1.0,
            unit: "samples".into(),
        });
    }
    let profile = augur_wire::pprof::decode_type(&bytes, 1 << 30, sample_type)
        .with_context(|| format!("{label} is neither folded text nor a pprof profile"))?;
    Ok(Side {
        label,
        stacks: profile.folded_stacks(),
        period: profile.period as f64,
        unit: profile.profile_type.unit.clone(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Base,
    Target,
}

fn fetch(server: &str, service: &str, args: &DiffArgs, which: Which) -> anyhow::Result<Side> {
    let (version, from, to) = match which {
        Which::Base => (&args.base_version, &args.base_from, &args.base_to),
        Which::Target => (&args.target_version, &args.target_from, &args.target_to),
    };
    let mut url = format!(
        "{}/api/v1/profile?service={}&type={}&from={}&to={}",
        server.trim_end_matches('/'),
        crate::client::encode(service),
        crate::client::encode(args.profile_type.as_deref().unwrap_or("cpu")),
        crate::client::encode(from),
        crate::client::encode(to)
    );
    if let Some(version) = version {
        url.push_str(&format!(
            "&labels={}",
            crate::client::encode(&format!("version={version}"))
        ));
    }
    let body: serde_json::Value = serde_json::from_slice(&crate::client::get(&args.auth, &url)?)
        .with_context(|| format!("parsing {url}"))?;
    let stacks = body["stacks"]
        .as_array()
        .context("the profile has no stacks")?
        .iter()
        .map(|s| {
            let frames = s["frames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect();
            (frames, s["count"].as_u64().unwrap_or(0))
        })
        .collect();
    Ok(Side {
        label: match version {
            Some(v) => format!("version {v}"),
            None => format!("{from}..{to}"),
        },
        stacks,
        period: body["period"].as_f64().unwrap_or(1.0).max(1.0),
        unit: body["profile_type"]["unit"]
            .as_str()
            .unwrap_or("samples")
            .to_owned(),
    })
}
