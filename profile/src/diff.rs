//! Comparing two profiles function by function, with a significance test,
//! so that a regression between deploys is reported and noise is not.
//!
//! Each function's self samples are counted on both sides. The two sides
//! rarely cover the same amount of work, so counts are normalized by a
//! scale: the ratio of the two sides' totals over the functions that did
//! not change. It is found by iterating: start from the median of
//! per-function ratios (which one changed function cannot move), test,
//! take the significant changes out of the totals, test again (a plain
//! ratio of totals would make every other function look faster when one
//! gets slower; the median alone is too noisy when functions have few
//! samples). For each function, conditional on its
//! combined count
//! `a + b`, `b` is binomial with `p0 = s / (1 + s)` if it did not change
//! (`s` the scale); the z-score of the observed `b` gives a two-sided
//! p-value, Bonferroni-adjusted for the number of functions tested. A change
//! is significant when the adjusted p-value is below `alpha`. Impact is the
//! target's extra value over the scaled base, in the profile's unit (CPU
//! nanoseconds for cpu profiles), which ranks what matters first.

use std::collections::HashMap;

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
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            alpha: 0.005,
            min_samples: 20,
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
    let tests = tested.len().max(1) as f64;
    // Start from the median per-function ratio, which one regressed
    // function cannot move; then refine with the totals of what did not
    // change, which are far less noisy.
    let mut scale = median_ratio(base, target, options.min_samples)
        .unwrap_or_else(|| target_total.max(1) as f64 / base_total.max(1) as f64);
    let mut all: Vec<FunctionChange> = Vec::new();
    for _ in 0..4 {
        all = test_all(&tested, base, target, scale, period, tests, options);
        all.iter_mut().for_each(|c| {
            c.base_share = c.base_self as f64 / base_total.max(1) as f64;
            c.target_share = c.target_self as f64 / target_total.max(1) as f64;
        });
        // The scale over what did not change.
        let (mut a, mut b) = (0u64, 0u64);
        for c in all.iter().filter(|c| !c.significant) {
            a += c.base_self;
            b += c.target_self;
        }
        let unchanged: (u64, u64) = base
            .iter()
            .filter(|(n, _)| !all.iter().any(|c| &c.name == *n))
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
        regressions,
        improvements,
        all,
    }
}

/// Tests every function against `scale`.
fn test_all(
    tested: &[&String],
    base: &HashMap<String, u64>,
    target: &HashMap<String, u64>,
    scale: f64,
    period: f64,
    tests: f64,
    options: DiffOptions,
) -> Vec<FunctionChange> {
    let p0 = scale / (1.0 + scale);
    tested
        .iter()
        .map(|name| {
            let a = base.get(*name).copied().unwrap_or(0);
            let b = target.get(*name).copied().unwrap_or(0);
            let n = (a + b) as f64;
            let expected = n * p0;
            let sd = (n * p0 * (1.0 - p0)).sqrt().max(f64::MIN_POSITIVE);
            let z = (b as f64 - expected) / sd;
            let p_value = (two_sided_p(z) * tests).min(1.0);
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
                p_value,
                significant: p_value < options.alpha,
            }
        })
        .collect()
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
fn two_sided_p(z: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    #[test]
    fn the_normal_tail_matches_known_values() {
        assert!((two_sided_p(0.0) - 1.0).abs() < 1e-6);
        assert!((two_sided_p(1.959_964) - 0.05).abs() < 1e-5);
        assert!((two_sided_p(3.290_527) - 0.001).abs() < 1e-6);
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
    }

    #[test]
    fn noise_alone_is_not_significant() {
        // Poisson-like jitter around equal rates.
        let base = counts(&[("a", 1000), ("b", 990), ("c", 1012), ("d", 40), ("e", 2)]);
        let target = counts(&[("a", 1021), ("b", 975), ("c", 1003), ("d", 47), ("e", 5)]);
        let diff = compare(&base, &target, 1.0, DiffOptions::default());
        assert!(
            diff.regressions.is_empty() && diff.improvements.is_empty(),
            "{diff:#?}"
        );
        // `e` has too few samples to be tested at all.
        assert_eq!(diff.tested, 4);
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
