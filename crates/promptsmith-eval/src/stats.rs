//! Statistics over per-example scores: summaries with t-based confidence intervals, bootstrap
//! intervals (seeded, deterministic), and tests for comparing two programs on the same examples.
//!
//! Differences are always `a - b`: positive means `a` scored higher.

use crate::error::{EvalError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::factorial::ln_binomial;

/// Resamples used by [`compare_paired`] for its bootstrap interval.
pub const DEFAULT_RESAMPLES: usize = 10_000;

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Confidence level, e.g. 0.95.
    pub confidence: f64,
}

impl Interval {
    /// Whether `x` lies inside (bounds included).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// Mean, spread and a 95% t-interval of a list of scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of scores.
    pub n: usize,
    /// Mean (0 when there are none).
    pub mean: f64,
    /// Sample standard deviation (n − 1 denominator; 0 when n < 2).
    pub std: f64,
    /// Standard error of the mean (0 when n < 2).
    pub std_error: f64,
    /// 95% confidence interval of the mean from Student's t; absent when n < 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<Interval>,
}

/// Arithmetic mean; 0 for no values.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Sample standard deviation (n − 1 denominator); 0 for fewer than two values.
pub fn sample_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// Standard error of the mean; 0 for fewer than two values.
pub fn std_error(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        0.0
    } else {
        sample_std(xs) / (xs.len() as f64).sqrt()
    }
}

fn check_confidence(confidence: f64) -> Result<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(EvalError::Stats(format!("confidence must be between 0 and 1 (exclusive), got {confidence}")))
    }
}

fn students_t(df: f64) -> Result<StudentsT> {
    StudentsT::new(0.0, 1.0, df).map_err(|e| EvalError::Stats(format!("Student's t with {df} degrees of freedom: {e}")))
}

/// Confidence interval of the mean from Student's t with n − 1 degrees of freedom.
/// Needs at least two values.
pub fn t_interval(xs: &[f64], confidence: f64) -> Result<Interval> {
    check_confidence(confidence)?;
    if xs.len() < 2 {
        return Err(EvalError::Stats(format!("a t-interval needs at least 2 scores, got {}", xs.len())));
    }
    let t = students_t((xs.len() - 1) as f64)?;
    let q = t.inverse_cdf(0.5 + confidence / 2.0);
    let m = mean(xs);
    let half = q * std_error(xs);
    Ok(Interval { low: m - half, high: m + half, confidence })
}

/// Mean, standard deviation, standard error and 95% t-interval.
pub fn summarize(xs: &[f64]) -> Summary {
    Summary {
        n: xs.len(),
        mean: mean(xs),
        std: sample_std(xs),
        std_error: std_error(xs),
        ci95: t_interval(xs, 0.95).ok(),
    }
}

/// Value at quantile `q` of sorted data, interpolating linearly (NumPy's default method).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Means of `resamples` bootstrap resamples of `xs`, sorted.
fn bootstrap_means(xs: &[f64], resamples: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = xs.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let total: f64 = (0..n).map(|_| xs[rng.gen_range(0..n)]).sum();
            total / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means
}

fn check_bootstrap(xs: &[f64], resamples: usize, confidence: f64) -> Result<()> {
    check_confidence(confidence)?;
    if xs.is_empty() {
        return Err(EvalError::Stats("bootstrap needs at least one score".into()));
    }
    if resamples == 0 {
        return Err(EvalError::Stats("bootstrap needs at least one resample".into()));
    }
    Ok(())
}

/// Percentile bootstrap confidence interval of the mean. The same seed gives the same interval.
pub fn bootstrap_mean_ci(xs: &[f64], resamples: usize, confidence: f64, seed: u64) -> Result<Interval> {
    check_bootstrap(xs, resamples, confidence)?;
    let means = bootstrap_means(xs, resamples, seed);
    let alpha = 1.0 - confidence;
    Ok(Interval {
        low: quantile_sorted(&means, alpha / 2.0),
        high: quantile_sorted(&means, 1.0 - alpha / 2.0),
        confidence,
    })
}

/// Result of a paired bootstrap of the mean difference `a - b`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedBootstrap {
    /// Number of pairs.
    pub n: usize,
    /// Observed mean of `a - b`.
    pub mean_diff: f64,
    /// Percentile bootstrap interval of the mean difference.
    pub ci: Interval,
    /// Share of resamples whose mean difference is above zero (how often `a` comes out ahead).
    pub share_above_zero: f64,
}

fn check_paired(a: &[f64], b: &[f64]) -> Result<()> {
    if a.len() != b.len() {
        return Err(EvalError::Stats(format!(
            "paired comparison needs score lists of equal length, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    Ok(())
}

/// Paired bootstrap of the mean difference `a - b`: the same examples are resampled for both,
/// so example difficulty cancels out. `a[i]` and `b[i]` must score the same example.
pub fn paired_bootstrap_diff_ci(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<PairedBootstrap> {
    check_paired(a, b)?;
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    check_bootstrap(&diffs, resamples, confidence)?;
    let means = bootstrap_means(&diffs, resamples, seed);
    let alpha = 1.0 - confidence;
    let above = means.iter().filter(|m| **m > 0.0).count();
    Ok(PairedBootstrap {
        n: diffs.len(),
        mean_diff: mean(&diffs),
        ci: Interval {
            low: quantile_sorted(&means, alpha / 2.0),
            high: quantile_sorted(&means, 1.0 - alpha / 2.0),
            confidence,
        },
        share_above_zero: above as f64 / means.len() as f64,
    })
}

/// Result of Welch's unequal-variance t-test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WelchTest {
    /// Mean of `a` minus mean of `b`.
    pub mean_diff: f64,
    /// The t statistic (infinite when both groups have zero variance and different means).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom (`n_a + n_b - 2` when both variances are zero).
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Welch's t-test of the means of two independent samples (two-sided). Needs at least two
/// values in each. For two programs scored on the same examples prefer the paired tests.
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Result<WelchTest> {
    if a.len() < 2 || b.len() < 2 {
        return Err(EvalError::Stats(format!(
            "Welch's t-test needs at least 2 scores per group, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (va, vb) = (sample_std(a).powi(2) / na, sample_std(b).powi(2) / nb);
    let mean_diff = mean(a) - mean(b);
    let se = (va + vb).sqrt();
    if se == 0.0 {
        let (t, p_value) = if mean_diff == 0.0 { (0.0, 1.0) } else { (mean_diff.signum() * f64::INFINITY, 0.0) };
        return Ok(WelchTest { mean_diff, t, df: na + nb - 2.0, p_value });
    }
    let t = mean_diff / se;
    let df = (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    let p_value = (2.0 * students_t(df)?.sf(t.abs())).min(1.0);
    Ok(WelchTest { mean_diff, t, df, p_value })
}

/// Result of the sign test on paired scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SignTest {
    /// Pairs where `a` scored higher.
    pub wins: usize,
    /// Pairs where `b` scored higher.
    pub losses: usize,
    /// Pairs with equal scores (left out of the test).
    pub ties: usize,
    /// Exact two-sided binomial p-value (p = 1/2) over wins and losses.
    pub p_value: f64,
}

/// Sign test for paired scores: counts where `a` beats `b` and vice versa (ties dropped) and
/// gives the exact two-sided binomial p-value, `min(1, 2 · P[X ≤ min(wins, losses)])`.
pub fn sign_test(a: &[f64], b: &[f64]) -> Result<SignTest> {
    check_paired(a, b)?;
    let (mut wins, mut losses, mut ties) = (0, 0, 0);
    for (x, y) in a.iter().zip(b) {
        match x.partial_cmp(y) {
            Some(std::cmp::Ordering::Greater) => wins += 1,
            Some(std::cmp::Ordering::Less) => losses += 1,
            _ => ties += 1,
        }
    }
    let n = (wins + losses) as u64;
    let k = wins.min(losses) as u64;
    let p_value = if n == 0 { 1.0 } else { (2.0 * binomial_cdf_half(k, n)).min(1.0) };
    Ok(SignTest { wins, losses, ties, p_value })
}

/// P[X ≤ k] for X ~ Binomial(n, 1/2), summed exactly in log space.
fn binomial_cdf_half(k: u64, n: u64) -> f64 {
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let terms: Vec<f64> = (0..=k).map(|i| ln_binomial(n, i) - ln_half_n).collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

/// Everything [`compare_paired`] reports about two programs scored on the same examples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Summary of `a`.
    pub a: Summary,
    /// Summary of `b`.
    pub b: Summary,
    /// Paired bootstrap of `a - b` (95%, [`DEFAULT_RESAMPLES`] resamples).
    pub bootstrap: PairedBootstrap,
    /// Sign test.
    pub sign: SignTest,
    /// Welch's t-test, when each side has at least two scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welch: Option<WelchTest>,
}

/// Compares two programs scored on the same examples (`a[i]` and `b[i]` for example `i`).
pub fn compare_paired(a: &[f64], b: &[f64], seed: u64) -> Result<PairedComparison> {
    Ok(PairedComparison {
        a: summarize(a),
        b: summarize(b),
        bootstrap: paired_bootstrap_diff_ci(a, b, DEFAULT_RESAMPLES, 0.95, seed)?,
        sign: sign_test(a, b)?,
        welch: welch_t_test(a, b).ok(),
    })
}

#[cfg(test)]
mod tests;
