//! `diff-bench`: how many samples a deploy comparison needs, and what it
//! costs.
//!
//! 1. Power on simulated data. A service has 200 functions with Zipf-like
//!    self shares; the target deploy makes one function (5% of the CPU)
//!    slower by 5% or 10%, and both sides are drawn with Poisson noise at N
//!    samples each. For each N, over many trials, it counts how often the
//!    comparison (`augur_profile::diff`, as the server runs it) flags that
//!    function (power) and how often it flags any other (false positives,
//!    also measured with no change at all). The smallest N with power of
//!    90% or more and a false-positive rate under 1% is what each side
//!    needs.
//!    The same with overdispersed counts (samples in bursts: gamma-Poisson
//!    with three times the Poisson variance), for the binomial test and the
//!    quasi-binomial one the server runs.
//! 2. Cost: one hour of one-minute windows per deploy (5,000 distinct
//!    stacks per window, 20 frames deep) in a real SQLite store, then the
//!    time to query both deploys' profiles and compare them.
//!
//! Run: `cargo build --release -p augur-tests && target/release/diff-bench`.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::Instant;

use augur_profile::diff::{self, DiffOptions, Noise};
use augur_profile::rng::SplitMix64;
use augur_profile::{ProfileType, RawFrame};
use augur_storage::{BatchWrite, ProfileQuery, Store, WindowWrite};
use augur_tests::bench;
use clap::{CommandFactory, Parser};

/// The draws the simulations need, from the shared splitmix64.
struct Rng(SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Poisson(lambda): Knuth below 30, a rounded normal above.
    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut k = 0;
            let mut p = 1.0;
            loop {
                p *= self.uniform();
                if p <= limit {
                    return k;
                }
                k += 1;
            }
        }
        (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64
    }

    /// Gamma(shape, 1), Marsaglia and Tsang.
    fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform().max(1e-300);
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            let u = self.uniform().max(1e-300);
            if v > 0.0 && u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Mean `lambda`, variance `phi * lambda`: Poisson when `phi` is 1,
    /// else gamma-Poisson (bursts of samples).
    fn count(&mut self, lambda: f64, phi: f64) -> u64 {
        if phi <= 1.0 || lambda <= 0.0 {
            return self.poisson(lambda);
        }
        let rate = self.gamma(lambda / (phi - 1.0)) * (phi - 1.0);
        self.poisson(rate)
    }
}

const FUNCTIONS: usize = 200;
const TRIALS: usize = 1000;

/// Zipf-like shares with function `victim` at exactly 5%.
fn shares() -> (Vec<f64>, usize) {
    let mut w: Vec<f64> = (1..=FUNCTIONS)
        .map(|i| 1.0 / (i as f64).powf(1.1))
        .collect();
    let victim = 4;
    let rest: f64 = w
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, x)| x)
        .sum();
    for (i, x) in w.iter_mut().enumerate() {
        *x = if i == victim { 0.05 } else { *x / rest * 0.95 };
    }
    (w, victim)
}

fn draw(rng: &mut Rng, shares: &[f64], n: f64, phi: f64) -> HashMap<String, u64> {
    shares
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("f{i:03}"), rng.count(s * n, phi)))
        .collect()
}

/// (power, false-positive rate) at `n` samples per side for a slowdown,
/// Poisson counts, the server's test.
fn trial(n: u64, slowdown: f64, rng: &mut Rng) -> (f64, f64) {
    trial_with(n, slowdown, 1.0, DiffOptions::default(), rng)
}

/// [`trial`] with counts of dispersion `phi` and any options.
fn trial_with(n: u64, slowdown: f64, phi: f64, options: DiffOptions, rng: &mut Rng) -> (f64, f64) {
    let (base, victim) = shares();
    let mut target = base.clone();
    target[victim] *= 1.0 + slowdown;
    let total: f64 = target.iter().sum();
    for x in &mut target {
        *x /= total;
    }
    let victim_name = format!("f{victim:03}");
    let (mut hits, mut false_alarms) = (0, 0);
    for _ in 0..TRIALS {
        let a = draw(rng, &base, n as f64, phi);
        let b = draw(rng, &target, n as f64, phi);
        let d = diff::compare(&a, &b, 1.0, options);
        if d.regressions.iter().any(|c| c.name == victim_name) {
            hits += 1;
        }
        let others = d
            .regressions
            .iter()
            .chain(&d.improvements)
            .any(|c| c.name != victim_name);
        if others {
            false_alarms += 1;
        }
    }
    (
        hits as f64 / TRIALS as f64,
        false_alarms as f64 / TRIALS as f64,
    )
}

fn power_table() {
    let sizes = [
        5_000u64, 20_000, 50_000, 100_000, 200_000, 300_000, 500_000, 1_000_000,
    ];
    let mut rng = Rng(SplitMix64(42));
    println!("### Samples per side to detect a slowdown of a function with 5% of the CPU\n");
    println!(
        "{FUNCTIONS} functions, Zipf-like shares, Poisson noise, {TRIALS} trials per cell, alpha {} (Bonferroni), quasi-binomial test.\n",
        DiffOptions::default().alpha
    );
    println!(
        "| samples per side | power, +5% | power, +10% | false positives: no change | +5% | +10% |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut needed: BTreeMap<&str, Option<u64>> = BTreeMap::from([("5%", None), ("10%", None)]);
    for n in sizes {
        let (p5, f5) = trial(n, 0.05, &mut rng);
        let (p10, f10) = trial(n, 0.10, &mut rng);
        let (_, f0) = trial(n, 0.0, &mut rng);
        println!(
            "| {n} | {:.0}% | {:.0}% | {:.1}% | {:.1}% | {:.1}% |",
            p5 * 100.0,
            p10 * 100.0,
            f0 * 100.0,
            f5 * 100.0,
            f10 * 100.0
        );
        for (key, power, fp) in [("5%", p5, f5.max(f0)), ("10%", p10, f10.max(f0))] {
            let slot = needed.get_mut(key).expect("known key");
            if slot.is_none() && power >= 0.9 && fp < 0.01 {
                *slot = Some(n);
            }
        }
    }
    println!();
    for (key, n) in needed {
        match n {
            Some(n) => println!(
                "- a {key} slowdown: {n} samples per side (power >= 90%, false positives < 1%)"
            ),
            None => println!(
                "- a {key} slowdown: more than {} samples per side",
                sizes[sizes.len() - 1]
            ),
        }
    }
}

fn overdispersed_table() {
    const PHI: f64 = 3.0;
    let mut rng = Rng(SplitMix64(43));
    println!("\n### Samples in bursts: counts with {PHI}x the Poisson variance\n");
    println!(
        "Same service, gamma-Poisson counts; no change, and a 10% slowdown of the 5% function.\n"
    );
    println!(
        "| samples per side | false positives, binomial test | false positives, quasi-binomial | power +10%, quasi-binomial |"
    );
    println!("| ---: | ---: | ---: | ---: |");
    let binomial = DiffOptions {
        noise: Noise::Binomial,
        ..DiffOptions::default()
    };
    for n in [50_000u64, 200_000, 1_000_000] {
        let (_, old) = trial_with(n, 0.0, PHI, binomial, &mut rng);
        let (_, new) = trial_with(n, 0.0, PHI, DiffOptions::default(), &mut rng);
        let (power, _) = trial_with(n, 0.10, PHI, DiffOptions::default(), &mut rng);
        println!(
            "| {n} | {:.1}% | {:.1}% | {:.0}% |",
            old * 100.0,
            new * 100.0,
            power * 100.0
        );
    }
}

fn frame(i: u64) -> RawFrame {
    RawFrame::Kernel {
        function: format!("function_{i:05}"),
        module: None,
    }
}

fn cost() -> anyhow::Result<()> {
    const MINUTE: i64 = 60_000_000_000;
    const STACKS: u64 = 5_000;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("augur.db"))?;
    let mut rng = Rng(SplitMix64(7));
    let started = Instant::now();
    for (version, offset) in [("1", 0), ("2", 60)] {
        for minute in 0..60 {
            let stacks = (0..STACKS)
                .map(|s| {
                    let depth = 20;
                    let frames: Vec<RawFrame> = (0..depth)
                        .map(|d| frame((s * 7 + d * 13) % 20_000))
                        .collect();
                    (frames.into(), 1 + rng.next() % 50)
                })
                .collect();
            let window = WindowWrite {
                service: "shop".into(),
                labels: BTreeMap::from([("version".to_owned(), version.to_owned())]),
                profile_type: ProfileType::cpu(),
                period: 10_101_010,
                window_start_unix_nanos: (offset + minute) * MINUTE,
                stacks,
            };
            store.write_batch(&BatchWrite {
                batch_id: format!("{version}-{minute}"),
                received_unix_nanos: 0,
                binaries: vec![],
                windows: vec![window],
            })?;
        }
    }
    let load = started.elapsed();
    let query = |version: &str, from: i64| ProfileQuery {
        service: "shop".into(),
        labels: BTreeMap::from([("version".to_owned(), version.to_owned())]),
        matchers: Vec::new(),
        profile_type: "cpu".into(),
        start_unix_nanos: from * MINUTE,
        end_unix_nanos: (from + 60) * MINUTE,
    };
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let a = store.query_profile(&query("1", 0))?;
        let b = store.query_profile(&query("2", 60))?;
        let queried = t.elapsed();
        let d = diff::compare(
            &diff::self_counts(&a.folded_stacks()),
            &diff::self_counts(&b.folded_stacks()),
            b.period as f64,
            DiffOptions::default(),
        );
        times.push((queried, t.elapsed(), d.tested, a.total() + b.total()));
    }
    println!("\n### Cost of one automatic comparison, 1 hour per side (SQLite)\n");
    println!(
        "60 one-minute windows per deploy, {STACKS} distinct 20-frame stacks per window (loaded in {:.1} s).\n",
        load.as_secs_f64()
    );
    println!("| run | query both profiles | query + compare | functions tested | samples |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for (i, (queried, total, tested, samples)) in times.iter().enumerate() {
        println!(
            "| {} | {:.0} ms | {:.0} ms | {tested} | {samples} |",
            i + 1,
            queried.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// How many samples a deploy comparison needs (power and false positives
/// on simulated data, Poisson and overdispersed), and what one comparison
/// of an hour per side costs on a real SQLite store. Prints Markdown
/// tables; takes no options.
#[derive(Debug, Parser)]
#[command(name = "diff-bench")]
struct Options {}

fn main() -> ExitCode {
    let parsed = bench::parse_args::<Options>(std::env::args().skip(1));
    bench::main(Options::command(), parsed, |_| run())
}

fn run() -> anyhow::Result<()> {
    power_table();
    overdispersed_table();
    cost()
}
