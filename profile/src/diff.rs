//! Comparing two profiles function by function, with a significance test
//! that stays honest when samples are noisier than independent draws, so
//! that a regression between deploys is reported and noise is not.
//!
//! **Normalization.** Each function's self samples are counted on both
//! sides. The two sides rarely cover the same amount of work, so counts are
//! normalized by a scale: the ratio of the two sides' totals over the
//! functions that did not change. It is found by iterating: start from the
//! median of per-function ratios (which one changed function cannot move),
//! test, take the changed functions (significant, or beyond three
//! standard deviations) out of the totals, test again (a
//! plain ratio of totals would make every other function look faster when
//! one gets slower; the median alone is too noisy when functions have few
//! samples).
//!
//! **Binomial z-score.** Conditional on a function's combined count
//! `n = a + b`, its target count `b` is binomial with `p0 = s / (1 + s)` if
//! it did not change (`s` the scale), so `z = (b - n p0) / sqrt(n p0 (1 -
//! p0))` is standard normal for independent samples.
//!
//! **Overdispersion.** Samples are not independent. Whole stacks arrive in
//! correlated bursts (a call spanning several ticks, a thread scheduled in
//! for a slice, CPU contention that moves work between windows), so counts
//! vary more than the binomial says and a pure binomial test flags unchanged
//! functions. We use the quasi-binomial model: `Var(b | n) = phi * n p0 (1 -
//! p0)`, one dispersion factor `phi >= 1` shared by all functions. It is what
//! bursts of random size give (a compound Poisson process has `phi = E[B^2]
//! / E[B]` for bursts of `B` samples, whatever the function's rate). `phi`
//! is estimated from the data, since every tested function is a replicate of
//! the noise:
//! 1. robust start: `phi0 = median(z^2) / 0.4549` (the chi-square(1)
//!    median), which a minority of really changed functions cannot move;
//! 2. Pearson refinement: the mean of `z^2` over the functions with
//!    `|z| <= 3 sqrt(phi)` (the others are likely real changes), divided by
//!    0.9733, the mean of a chi-square(1) truncated at 3^2, and by `m - 1`
//!    instead of `m` since the scale was fitted (two rounds);
//! 3. floored at 1: the binomial is the least noise samples can have.
//!
//! Each function's statistic `t = z / sqrt(phi)` is then compared with
//! Student's t on `df = m - 1` degrees of freedom (`m` the functions kept in
//! step 2), which accounts for `phi` itself being estimated from few
//! functions; its two-sided p-value is Bonferroni-adjusted for the number of
//! functions tested, and a change is significant when the adjusted p-value
//! is below `alpha`. With fewer than three functions tested nothing can be
//! estimated and the plain binomial test is used (`dispersion_df = 0`).
//! Not modelled: noise that grows faster than a function's count (a
//! workload whose mix itself drifts between deploys), which looks like a
//! real change of that function, and per-window replicates (profiles are
//! compared as totals).
//!
//! **Impact** is the target's extra value over the scaled base, in the
//! profile's unit (CPU nanoseconds for cpu profiles), which ranks what
//! matters first.

use std::collections::HashMap;

/// How the noise of a function's count is modelled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Noise {
    /// Independent samples: the binomial variance (`phi = 1`, normal
    /// p-values). Over-flags whenever samples come in bursts.
    Binomial,
    /// Quasi-binomial: the dispersion factor `phi` estimated from the data,
    /// Student's t p-values (see the module docs).
    #[default]
    Overdispersed,
}

/// Options of a comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiffOptions {
    /// Family-wise false-positive rate (default 0.005: Bonferroni's bound
    /// keeps the chance that any unchanged function is flagged under 1%
    /// even where the normal approximation of small counts is loose).
    pub alpha: f64,
    /// Functions with fewer self samples on both sides together are not
    /// tested (too few to say anything).
    pub min_samples: u64,
    /// Noise model of the test.
    pub noise: Noise,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            alpha: 0.005,
            min_samples: 20,
            noise: Noise::default(),
        }
    }
}

/// One function's change.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FunctionChange {
    /// Function name.
    pub name: String,
    /// Self samples in the base and the target.
    pub base_self: u64,
    /// See `base_self`.
    pub target_self: u64,
    /// Share of all samples, base and target.
    pub base_share: f64,
    /// See `base_share`.
    pub target_share: f64,
    /// Relative change of normalized self samples: `0.3` is 30% more.
    pub change: f64,
    /// Extra value in the target over the scaled base (negative: saved), in
    /// the profile's unit times samples' period.
    pub impact: f64,
    /// The test statistic: the binomial z-score over `sqrt(dispersion)`.
    pub z: f64,
    /// Bonferroni-adjusted two-sided p-value.
    pub p_value: f64,
    /// Whether `p_value < alpha`.
    pub significant: bool,
}

/// The comparison of two profiles.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Diff {
    /// Total samples of each side.
    pub base_total: u64,
    /// See `base_total`.
    pub target_total: u64,
    /// Normalization: target samples per base sample for unchanged code
    /// (the ratio of the totals of the functions that did not change).
    pub scale: f64,
    /// Functions tested.
    pub tested: usize,
    /// The dispersion factor used: how many times the binomial variance the
    /// counts showed (1 for independent samples).
    pub dispersion: f64,
    /// Degrees of freedom of the t-test (0: the binomial test was used).
    pub dispersion_df: f64,
    /// Significant changes that cost more, biggest impact first.
    pub regressions: Vec<FunctionChange>,
    /// Significant changes that cost less, biggest saving first.
    pub improvements: Vec<FunctionChange>,
    /// Every tested function, by impact (absolute), for tables.
    pub all: Vec<FunctionChange>,
}

/// Self samples per function from root-first stacks: the leaf's.
pub fn self_counts(stacks: &[(Vec<String>, u64)]) -> HashMap<String, u64> {
    let mut out: HashMap<String, u64> = HashMap::new();
    for (stack, count) in stacks {
        if let Some(leaf) = stack.last() {
            *out.entry(leaf.clone()).or_default() += count;
        }
    }
    out
}

/// Compares `base` with `target` (self samples per function); `period` is
/// the value of one target sample, for impact.
pub fn compare(
    base: &HashMap<String, u64>,
    target: &HashMap<String, u64>,
    period: f64,
    options: DiffOptions,
) -> Diff {
    let base_total: u64 = base.values().sum();
    let target_total: u64 = target.values().sum();
    let mut names: Vec<&String> = base.keys().chain(target.keys()).collect();
    names.sort();
    names.dedup();
    let tested: Vec<&String> = names
        .into_iter()
        .filter(|n| {
            base.get(*n).copied().unwrap_or(0) + target.get(*n).copied().unwrap_or(0)
                >= options.min_samples
        })
        .collect();
    // Start from the median per-function ratio, which one regressed
    // function cannot move; then refine with the totals of what did not
    // change, which are far less noisy.
    let mut scale = median_ratio(base, target, options.min_samples)
        .unwrap_or_else(|| target_total.max(1) as f64 / base_total.max(1) as f64);
    let mut tests = Tests::default();
    for _ in 0..6 {
        tests = test_all(&tested, base, target, scale, period, options);
        tests.changes.iter_mut().for_each(|c| {
            c.base_share = c.base_self as f64 / base_total.max(1) as f64;
            c.target_share = c.target_self as f64 / target_total.max(1) as f64;
        });
        // The scale over what did not change: leave out every function the
        // noise model calls an outlier, not only the significant ones, or a
        // big function that changed drags the scale towards itself and
        // hides its own change in a larger dispersion.
        let (mut a, mut b) = (0u64, 0u64);
        for c in tests
            .changes
            .iter()
            .filter(|c| !c.significant && c.z.abs() <= TRIM_Z)
        {
            a += c.base_self;
            b += c.target_self;
        }
        let unchanged: (u64, u64) = base
            .iter()
            .filter(|(n, _)| !tests.changes.iter().any(|c| &c.name == *n))
            .map(|(n, &x)| (x, target.get(n).copied().unwrap_or(0)))
            .fold((0, 0), |acc, (x, y)| (acc.0 + x, acc.1 + y));
        a += unchanged.0;
        b += unchanged.1;
        let next = if a > 0 && b > 0 {
            b as f64 / a as f64
        } else {
            scale
        };
        if (next - scale).abs() <= 1e-12 * scale {
            break;
        }
        scale = next;
    }
    let mut all = tests.changes;
    all.sort_by(|x, y| {
        y.impact
            .abs()
            .total_cmp(&x.impact.abs())
            .then(x.name.cmp(&y.name))
    });
    let regressions = all
        .iter()
        .filter(|c| c.significant && c.impact > 0.0)
        .cloned()
        .collect();
    let improvements = all
        .iter()
        .filter(|c| c.significant && c.impact < 0.0)
        .cloned()
        .collect();
    Diff {
        base_total,
        target_total,
        scale,
        tested: all.len(),
        dispersion: tests.dispersion,
        dispersion_df: tests.df,
        regressions,
        improvements,
        all,
    }
}

/// Every tested function's change at one scale, and the noise estimate the
/// test used.
#[derive(Default)]
struct Tests {
    changes: Vec<FunctionChange>,
    dispersion: f64,
    df: f64,
}

/// Tests every function against `scale`.
fn test_all(
    tested: &[&String],
    base: &HashMap<String, u64>,
    target: &HashMap<String, u64>,
    scale: f64,
    period: f64,
    options: DiffOptions,
) -> Tests {
    let p0 = scale / (1.0 + scale);
    let mut changes: Vec<FunctionChange> = tested
        .iter()
        .map(|name| {
            let a = base.get(*name).copied().unwrap_or(0);
            let b = target.get(*name).copied().unwrap_or(0);
            let n = (a + b) as f64;
            let expected = n * p0;
            let sd = (n * p0 * (1.0 - p0)).sqrt().max(f64::MIN_POSITIVE);
            let scaled_base = a as f64 * scale;
            let change = if scaled_base > 0.0 {
                b as f64 / scaled_base - 1.0
            } else {
                f64::INFINITY
            };
            FunctionChange {
                name: (*name).clone(),
                base_self: a,
                target_self: b,
                base_share: 0.0,
                target_share: 0.0,
                change,
                impact: (b as f64 - scaled_base) * period,
                z: (b as f64 - expected) / sd,
                p_value: 1.0,
                significant: false,
            }
        })
        .collect();
    let (dispersion, df) = match options.noise {
        Noise::Binomial => (1.0, 0.0),
        Noise::Overdispersed => {
            estimate_dispersion(&changes.iter().map(|c| c.z).collect::<Vec<_>>())
        }
    };
    let tests = changes.len().max(1) as f64;
    for c in &mut changes {
        c.z /= dispersion.sqrt();
        let p = if df > 0.0 {
            student_t_two_sided(c.z, df)
        } else {
            normal_two_sided(c.z)
        };
        c.p_value = (p * tests).min(1.0);
        c.significant = c.p_value < options.alpha;
    }
    Tests {
        changes,
        dispersion,
        df,
    }
}

/// Median of a chi-square with one degree of freedom.
const CHI2_1_MEDIAN: f64 = 0.454_936_423_119_572_8;
/// Functions beyond this many standard deviations are left out of the
/// Pearson estimate as likely real changes.
const TRIM_Z: f64 = 3.0;
/// Mean of a chi-square(1) truncated at `TRIM_Z^2`: `1 - 2 c pdf(c) / (2
/// cdf(c) - 1)` at `c = 3`, which makes the trimmed mean consistent.
const TRIMMED_CHI2_1_MEAN: f64 = 0.973_336_8;

/// The dispersion factor (at least 1) of binomial z-scores of unchanged
/// functions, and its degrees of freedom; `(1, 0)` when there are too few
/// functions to estimate it.
fn estimate_dispersion(z: &[f64]) -> (f64, f64) {
    if z.len() < 3 {
        return (1.0, 0.0);
    }
    let mut squares: Vec<f64> = z.iter().map(|z| z * z).collect();
    squares.sort_by(f64::total_cmp);
    let mid = squares.len() / 2;
    let median = if squares.len() % 2 == 1 {
        squares[mid]
    } else {
        (squares[mid - 1] + squares[mid]) / 2.0
    };
    let mut phi = (median / CHI2_1_MEDIAN).max(1.0);
    let mut kept = squares.len();
    for _ in 0..2 {
        let cut = TRIM_Z * TRIM_Z * phi;
        let inside: Vec<f64> = squares.iter().copied().filter(|&s| s <= cut).collect();
        if inside.len() < 3 {
            break;
        }
        kept = inside.len();
        let pearson = inside.iter().sum::<f64>() / (kept - 1) as f64;
        phi = (pearson / TRIMMED_CHI2_1_MEAN).max(1.0);
    }
    (phi, (kept - 1) as f64)
}

/// Median of target/base over functions with enough samples on each side.
fn median_ratio(
    base: &HashMap<String, u64>,
    target: &HashMap<String, u64>,
    min_samples: u64,
) -> Option<f64> {
    let mut ratios: Vec<f64> = base
        .iter()
        .filter_map(|(name, &a)| {
            let b = target.get(name).copied()?;
            (a >= min_samples && b >= min_samples).then(|| b as f64 / a as f64)
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let mid = ratios.len() / 2;
    Some(if ratios.len() % 2 == 1 {
        ratios[mid]
    } else {
        (ratios[mid - 1] + ratios[mid]) / 2.0
    })
}

/// Two-sided p-value of a standard normal z-score.
fn normal_two_sided(z: f64) -> f64 {
    (2.0 * normal_upper_tail(z.abs())).min(1.0)
}

/// P(Z > x) for x >= 0, by the complementary error function (Abramowitz
/// and Stegun 7.1.26, absolute error below 1.5e-7).
fn normal_upper_tail(x: f64) -> f64 {
    let t = x / std::f64::consts::SQRT_2;
    let k = 1.0 / (1.0 + 0.327_591_1 * t);
    let poly = k
        * (0.254_829_592
            + k * (-0.284_496_736
                + k * (1.421_413_741 + k * (-1.453_152_027 + k * 1.061_405_429))));
    0.5 * poly * (-t * t).exp()
}

/// Two-sided p-value of Student's t with `df` degrees of freedom:
/// `I_x(df/2, 1/2)` at `x = df / (df + t^2)`.
fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return if t.is_nan() { 1.0 } else { 0.0 };
    }
    regularized_beta(df / (df + t * t), df / 2.0, 0.5).clamp(0.0, 1.0)
}

/// The regularized incomplete beta function `I_x(a, b)`, by its continued
/// fraction (modified Lentz), accurate to about 1e-14 relative: enough for
/// p-values far below any Bonferroni threshold.
fn regularized_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast for x below the mean; use the symmetry
    // I_x(a, b) = 1 - I_{1-x}(b, a) above it.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of the incomplete beta function.
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        for coefficient in [
            even,
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ] {
            d = 1.0 + coefficient * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + coefficient / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, nine terms; relative error about
/// 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
        return std::f64::consts::PI.ln()
            - (std::f64::consts::PI * x).sin().abs().ln()
            - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn counts(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    #[test]
    fn the_normal_tail_matches_known_values() {
        assert!((normal_two_sided(0.0) - 1.0).abs() < 1e-6);
        assert!((normal_two_sided(1.959_964) - 0.05).abs() < 1e-5);
        assert!((normal_two_sided(3.290_527) - 0.001).abs() < 1e-6);
    }

    #[test]
    fn student_t_matches_tables() {
        // (t, df, two-sided p) from standard tables.
        for (t, df, p) in [
            (12.706_205, 1.0, 0.05),
            (2.228_139, 10.0, 0.05),
            (3.883_406, 19.0, 0.001),
            (2.860_935, 19.0, 0.01),
            (0.0, 5.0, 1.0),
        ] {
            let got = student_t_two_sided(t, df);
            assert!((got - p).abs() < 1e-6 * p.max(1e-3), "t={t} df={df}: {got}");
        }
        // Far tails keep relative precision, and a huge df is the normal.
        let tail = student_t_two_sided(20.0, 19.0);
        assert!(tail > 0.0 && tail < 1e-13, "{tail}");
        let near_normal = student_t_two_sided(3.290_527, 1e7);
        assert!((near_normal - 0.001).abs() < 1e-6, "{near_normal}");
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn a_slower_function_is_flagged_and_the_others_are_not() {
        // Twenty functions of 1,000 samples; in the target, f7 does 30%
        // more work and the run is 1.5x longer overall.
        let mut base: Vec<(String, u64)> = (0..20).map(|i| (format!("f{i}"), 1000)).collect();
        base.push(("hot".into(), 4000));
        let mut target: Vec<(String, u64)> = (0..20).map(|i| (format!("f{i}"), 1500)).collect();
        target.push(("hot".into(), 7800));
        let b: HashMap<String, u64> = base.into_iter().collect();
        let t: HashMap<String, u64> = target.into_iter().collect();
        let diff = compare(&b, &t, 1.0, DiffOptions::default());
        assert!((diff.scale - 1.5).abs() < 1e-9);
        assert_eq!(diff.regressions.len(), 1, "{diff:#?}");
        let hot = &diff.regressions[0];
        assert_eq!(hot.name, "hot");
        assert!((hot.change - 0.3).abs() < 1e-9);
        assert!((hot.impact - 1800.0).abs() < 1e-6);
        assert!(diff.improvements.is_empty());
        // No noise at all among the unchanged: the binomial floor.
        assert_eq!(diff.dispersion, 1.0);
        assert_eq!(diff.dispersion_df, 19.0);
    }

    #[test]
    fn noise_alone_is_not_significant() {
        // Poisson-like jitter around equal rates.
        let base = counts(&[("a", 1000), ("b", 990), ("c", 1012), ("d", 40), ("e", 2)]);
        let target = counts(&[("a", 1021), ("b", 975), ("c", 1003), ("d", 47), ("e", 5)]);
        for noise in [Noise::Binomial, Noise::Overdispersed] {
            let options = DiffOptions {
                noise,
                ..DiffOptions::default()
            };
            let diff = compare(&base, &target, 1.0, options);
            assert!(
                diff.regressions.is_empty() && diff.improvements.is_empty(),
                "{diff:#?}"
            );
            // `e` has too few samples to be tested at all.
            assert_eq!(diff.tested, 4);
        }
    }

    #[test]
    fn the_dispersion_estimate_recovers_the_variance_and_ignores_real_changes() {
        // z-scores of unchanged functions with variance 4, and two real
        // changes far out.
        let mut rng = Rng(SplitMix64(11));
        let mut z: Vec<f64> = (0..400).map(|_| 2.0 * rng.normal()).collect();
        z.extend([40.0, -35.0]);
        let (phi, df) = estimate_dispersion(&z);
        assert!((phi - 4.0).abs() < 0.6, "{phi}");
        assert!((395.0..=401.0).contains(&df), "{df}");
        // Binomial noise gives the floor.
        let z: Vec<f64> = (0..400).map(|_| 0.9 * rng.normal()).collect();
        assert_eq!(estimate_dispersion(&z).0, 1.0);
        assert_eq!(estimate_dispersion(&[1.0, 2.0]), (1.0, 0.0));
    }

    /// The draws the simulations need, from the shared splitmix64.
    struct Rng(SplitMix64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0.next_u64()
        }

        fn uniform(&mut self) -> f64 {
            ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }

        /// Gamma(shape, 1), Marsaglia and Tsang.
        fn gamma(&mut self, shape: f64) -> f64 {
            if shape < 1.0 {
                return self.gamma(shape + 1.0) * self.uniform().powf(1.0 / shape);
            }
            let d = shape - 1.0 / 3.0;
            let c = 1.0 / (9.0 * d).sqrt();
            loop {
                let x = self.normal();
                let v = (1.0 + c * x).powi(3);
                if v > 0.0 && self.uniform().ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                    return d * v;
                }
            }
        }

        /// Poisson: Knuth below 30, a rounded normal above.
        fn poisson(&mut self, lambda: f64) -> u64 {
            if lambda < 30.0 {
                let limit = (-lambda).exp();
                let (mut k, mut p) = (0, 1.0);
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

        /// A gamma-Poisson count with mean `mean` and variance `phi *
        /// mean`: samples arriving in bursts, whatever the rate.
        fn overdispersed(&mut self, mean: f64, phi: f64) -> u64 {
            let shape = mean / (phi - 1.0);
            let rate = self.gamma(shape) * (phi - 1.0);
            self.poisson(rate)
        }
    }

    /// One side of the regress fixture: twenty functions of one unit of work
    /// and `hot_units` for `hot_path`, `n` samples, dispersion `phi`.
    fn fixture_side(rng: &mut Rng, n: f64, hot_units: f64, phi: f64) -> HashMap<String, u64> {
        let total = 20.0 + hot_units;
        let mut side: HashMap<String, u64> = (0..20)
            .map(|i| (format!("work_{i:02}"), rng.overdispersed(n / total, phi)))
            .collect();
        side.insert(
            "hot_path".into(),
            rng.overdispersed(n * hot_units / total, phi),
        );
        side
    }

    /// Over 1,000 seeded trials of samples in bursts (four times the
    /// binomial variance): how often an unchanged function is flagged, and
    /// how often `hot_path` is the top significant regression.
    fn overdispersed_trials(noise: Noise, hot_after: f64, n: f64) -> (f64, f64) {
        let mut rng = Rng(SplitMix64(2026));
        let options = DiffOptions {
            noise,
            ..DiffOptions::default()
        };
        let (mut false_alarms, mut caught) = (0, 0);
        const TRIALS: usize = 1000;
        for _ in 0..TRIALS {
            let base = fixture_side(&mut rng, n, 8.0, 4.0);
            let target = fixture_side(&mut rng, n, hot_after, 4.0);
            let diff = compare(&base, &target, 1.0, options);
            let flagged = diff.regressions.iter().chain(&diff.improvements);
            if flagged.clone().any(|c| c.name != "hot_path") {
                false_alarms += 1;
            }
            if diff
                .regressions
                .first()
                .is_some_and(|c| c.name == "hot_path")
            {
                caught += 1;
            }
        }
        (
            false_alarms as f64 / TRIALS as f64,
            caught as f64 / TRIALS as f64,
        )
    }

    #[test]
    fn bursts_of_samples_fool_the_binomial_test_but_not_the_quasi_binomial() {
        // No change at all.
        let (old_fp, _) = overdispersed_trials(Noise::Binomial, 8.0, 20_000.0);
        let (new_fp, _) = overdispersed_trials(Noise::Overdispersed, 8.0, 20_000.0);
        assert!(
            old_fp > 0.10,
            "the binomial test should over-flag: {old_fp}"
        );
        assert!(new_fp < 0.01, "false-positive rate {new_fp}");
        // hot_path 30% slower: still caught, and nothing else flagged.
        let (new_fp, power) = overdispersed_trials(Noise::Overdispersed, 10.4, 20_000.0);
        assert!(power > 0.95, "power {power}");
        assert!(new_fp < 0.01, "false-positive rate {new_fp}");
    }

    #[test]
    fn independent_samples_lose_little_power() {
        // Poisson counts (phi = 1): the estimate stays near the floor and a
        // 30% regression at 6,000 samples a side is still found (the
        // binomial test needs about 4,000 for the same power).
        let mut rng = Rng(SplitMix64(7));
        let (mut caught, mut dispersion) = (0, 0.0);
        for _ in 0..200 {
            let base = fixture_side(&mut rng, 6000.0, 8.0, 1.0 + 1e-9);
            let target = fixture_side(&mut rng, 6000.0, 10.4, 1.0 + 1e-9);
            let diff = compare(&base, &target, 1.0, DiffOptions::default());
            dispersion += diff.dispersion / 200.0;
            caught +=
                usize::from(diff.regressions.len() == 1 && diff.regressions[0].name == "hot_path");
        }
        assert!(dispersion < 1.2, "mean dispersion {dispersion}");
        assert!(caught >= 194, "{caught} of 200");
    }

    #[test]
    fn self_counts_take_the_leaf() {
        let stacks = vec![
            (vec!["main".to_string(), "a".into()], 3),
            (vec!["main".to_string(), "a".into(), "b".into()], 2),
            (vec!["main".to_string(), "b".into()], 1),
        ];
        assert_eq!(self_counts(&stacks), counts(&[("a", 3), ("b", 3)]));
    }
}
