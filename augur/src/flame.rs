//! `augur flame`: a flame graph of any hierarchy, not only of stacks.
//!
//! Input is either a JSON object whose keys are hierarchical names (a
//! service's `metrics.json`, where `clnt/strato/requests` is one metric) or
//! folded text (`a;b;c 12` per line). Each JSON key counts once by default,
//! which answers "where do our metrics come from", or weighs its numeric
//! value with `--weight value`. The output is an inferno SVG, folded text
//! (which `augur flame` and the web UI read back), or speedscope JSON.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

/// Largest input read.
const MAX_INPUT: u64 = 1 << 30;

/// Arguments of `augur flame`.
#[derive(Debug, Args)]
pub struct FlameArgs {
    /// Separator of a key's levels (`/` for metric names; folded input
    /// always splits on `;`).
    #[arg(long, default_value = "/")]
    split: String,
    /// What a JSON key weighs: 1 each, or its numeric value.
    #[arg(long, value_enum, default_value = "count")]
    weight: Weight,
    /// Output format.
    #[arg(long, value_enum, default_value = "svg")]
    format: FlameFormat,
    /// Title of the SVG.
    #[arg(long)]
    title: Option<String>,
    /// Output file; standard output if not given.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Input: a JSON object of keys, or folded text; `-` for standard input.
    file: PathBuf,
}

/// What one JSON key weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Weight {
    /// Every key counts once.
    Count,
    /// A key weighs its value (numbers only; others count 0).
    Value,
}

/// Output formats of `augur flame`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FlameFormat {
    /// Interactive inferno SVG.
    Svg,
    /// Folded text.
    Folded,
    /// speedscope JSON.
    Speedscope,
}

/// Runs `augur flame`.
pub fn run(args: FlameArgs) -> anyhow::Result<ExitCode> {
    if args.split.is_empty() {
        bail!("--split must not be empty");
    }
    let mut text = String::new();
    let reader: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .with_context(|| format!("opening {}", args.file.display()))?,
        )
    };
    reader
        .take(MAX_INPUT + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", args.file.display()))?;
    if text.len() as u64 > MAX_INPUT {
        bail!("{} is larger than {MAX_INPUT} bytes", args.file.display());
    }
    let stacks = parse(&text, &args.split, args.weight)?;
    // inferno adds the counts up too, and would overflow where this fails.
    let total = stacks
        .iter()
        .try_fold(0u64, |sum, (_, n)| sum.checked_add(*n))
        .context("the counts add up to more than 2^64")?;
    let title = args
        .title
        .clone()
        .unwrap_or_else(|| format!("{} ({} keys)", args.file.display(), stacks.len()));
    let bytes = match args.format {
        FlameFormat::Folded => augur_profile::render::folded_lines(&stacks).into_bytes(),
        FlameFormat::Svg => {
            let count_name = match args.weight {
                Weight::Count => "keys",
                Weight::Value => "units",
            };
            augur_profile::render::svg_from_folded(
                &augur_profile::render::folded_lines(&stacks),
                &title,
                count_name,
            )
            .context("rendering the flame graph")?
        }
        FlameFormat::Speedscope => serde_json::to_vec(&augur_profile::render::speedscope(
            "augur flame",
            &title,
            "none",
            &stacks,
            1,
        ))?,
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "augur: {} stacks, {total} in all, written to {}",
                stacks.len(),
                path.display()
            );
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Stacks from a JSON object of keys, or from folded text.
fn parse(text: &str, split: &str, weight: Weight) -> anyhow::Result<Vec<(Vec<String>, u64)>> {
    if text.trim_start().starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).context("parsing the JSON object of keys")?;
        let weigh = |v: &serde_json::Value| match weight {
            Weight::Count => 1,
            Weight::Value => v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f > 0.0).map(|f| f.round() as u64))
                .unwrap_or(0),
        };
        return Ok(augur_profile::render::stacks_from_keys(
            object.iter().map(|(k, v)| (k.as_str(), weigh(v))),
            split,
        ));
    }
    let lines = augur_profile::render::parse_folded(text)?;
    Ok(augur_profile::render::stacks_from_keys(lines, ";"))
}
