//! Statistics over per-example scores: summaries with t-based confidence intervals, bootstrap
//! intervals (seeded, deterministic), and tests for comparing two programs.
//!
//! - Paired (two programs scored on the same examples): [`paired_bootstrap_diff_ci`],
//!   [`mcnemar`] for 0/1 scores, [`wilcoxon_signed_rank`], [`sign_test`], and
//!   [`compare_paired_at`], which picks the right test and words a verdict.
//! - Unpaired: [`welch_t_test`] and [`mann_whitney_u`].
//! - Sample sizes: [`paired_sample_size`], [`mcnemar_sample_size`], [`two_proportion_sample_size`].
//!
//! The tests follow SciPy's defaults and are checked against SciPy's values to 1e-6
//! (`stats/scipy_fixture.json`, written by `scripts/stats/scipy_fixture.py`).
//!
//! Differences are always `a - b`: positive means `a` scored higher.

use crate::error::{EvalError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::factorial::ln_binomial;

pub mod multiple;
mod nonparametric;
mod power;
pub mod sequential;

pub use nonparametric::{
    is_binary, mann_whitney_u, mcnemar, wilcoxon_signed_rank, MannWhitneyMethod, MannWhitneyTest, McNemarTest,
    WilcoxonMethod, WilcoxonTest, MANN_WHITNEY_EXACT_MAX_N, WILCOXON_EXACT_MAX_N, WILCOXON_SIGN_FLIP_MAX_N,
};
pub use power::{mcnemar_sample_size, paired_sample_size, two_proportion_sample_size, SampleSize};

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
    /// 95% confidence interval of the mean score ([`score_interval`]: Wilson's for 0/1 scores,
    /// else Student's t kept within [0, 1]); absent when n < 2.
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

/// Confidence interval of a mean metric score (scores lie in [0, 1]). For 0/1 scores it is
/// Wilson's score interval, which stays within [0, 1] and is not empty when every score is the
/// same (3 right of 3 gives 43.9-100%, where Student's t gives 100-100%); for other scores it
/// is Student's t ([`t_interval`]) cut to [0, 1]. Needs at least two values.
pub fn score_interval(xs: &[f64], confidence: f64) -> Result<Interval> {
    if !is_binary(xs) {
        let t = t_interval(xs, confidence)?;
        return Ok(Interval { low: t.low.max(0.0), high: t.high.min(1.0), confidence });
    }
    check_confidence(confidence)?;
    if xs.len() < 2 {
        return Err(EvalError::Stats(format!("an interval needs at least 2 scores, got {}", xs.len())));
    }
    let n = xs.len() as f64;
    let p = mean(xs);
    let z = statrs::distribution::Normal::standard().inverse_cdf(0.5 + confidence / 2.0);
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    Ok(Interval { low: (center - half).max(0.0), high: (center + half).min(1.0), confidence })
}

/// Mean, standard deviation, standard error and the 95% [`score_interval`].
pub fn summarize(xs: &[f64]) -> Summary {
    Summary {
        n: xs.len(),
        mean: mean(xs),
        std: sample_std(xs),
        std_error: std_error(xs),
        ci95: score_interval(xs, 0.95).ok(),
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
    /// Share of resamples whose mean difference is below zero (how often `b` comes out ahead).
    #[serde(default)]
    pub share_below_zero: f64,
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
    let below = means.iter().filter(|m| **m < 0.0).count();
    Ok(PairedBootstrap {
        n: diffs.len(),
        mean_diff: mean(&diffs),
        ci: Interval {
            low: quantile_sorted(&means, alpha / 2.0),
            high: quantile_sorted(&means, 1.0 - alpha / 2.0),
            confidence,
        },
        share_above_zero: above as f64 / means.len() as f64,
        share_below_zero: below as f64 / means.len() as f64,
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

/// Power at which [`compare_paired_at`] estimates how many examples a difference would need.
pub const VERDICT_POWER: f64 = 0.8;

/// The significance test [`compare_paired_at`] ran.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PairedTest {
    /// Both score lists are all 0/1: McNemar's test (exact p-value).
    McNemar(McNemarTest),
    /// Otherwise: the Wilcoxon signed-rank test.
    Wilcoxon(WilcoxonTest),
    /// Every pair scored the same, so no test can tell the two apart (p = 1).
    Identical,
}

impl PairedTest {
    /// The test's two-sided p-value (1 for [`PairedTest::Identical`]).
    pub fn p_value(&self) -> f64 {
        match self {
            PairedTest::McNemar(t) => t.p_value,
            PairedTest::Wilcoxon(t) => t.p_value,
            PairedTest::Identical => 1.0,
        }
    }

    /// A short human name, e.g. "McNemar's exact test".
    pub fn name(&self) -> &'static str {
        match self {
            PairedTest::McNemar(_) => "McNemar's exact test",
            PairedTest::Wilcoxon(t) => match t.method {
                WilcoxonMethod::Exact => "Wilcoxon signed-rank test (exact)",
                WilcoxonMethod::SignFlip => "Wilcoxon signed-rank test (exact over sign flips)",
                WilcoxonMethod::Normal => "Wilcoxon signed-rank test (normal approximation)",
            },
            PairedTest::Identical => "no test (identical scores)",
        }
    }
}

/// One side of a paired comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The first score list.
    A,
    /// The second score list.
    B,
}

/// Everything [`compare_paired`] reports about two programs scored on the same examples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Summary of `a`.
    pub a: Summary,
    /// Summary of `b`.
    pub b: Summary,
    /// Paired bootstrap of `a - b` at level `confidence` ([`DEFAULT_RESAMPLES`] resamples).
    pub bootstrap: PairedBootstrap,
    /// Sign test.
    pub sign: SignTest,
    /// Welch's t-test, when each side has at least two scores (it ignores the pairing; shown
    /// for reference only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welch: Option<WelchTest>,
    /// Confidence level of the bootstrap interval; `1 - confidence` is the significance level.
    pub confidence: f64,
    /// The significance test: McNemar when both lists are all 0/1, else Wilcoxon signed-rank.
    pub test: PairedTest,
    /// Pairs needed to detect the observed mean difference with [`VERDICT_POWER`] at level
    /// `1 - confidence` (normal approximation: [`mcnemar_sample_size`] for 0/1 scores, else
    /// [`paired_sample_size`]); absent when the observed difference is zero or the differences
    /// do not vary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needed: Option<SampleSize>,
}

/// Compares two programs scored on the same examples (`a[i]` and `b[i]` for example `i`), with
/// a 95% bootstrap interval and significance level 0.05. See [`compare_paired_at`].
pub fn compare_paired(a: &[f64], b: &[f64], seed: u64) -> Result<PairedComparison> {
    compare_paired_at(a, b, 0.95, seed)
}

/// Compares two programs scored on the same examples at a chosen confidence level: summaries,
/// the paired bootstrap interval of the mean difference, the sign test, and the significance
/// test that fits the scores (McNemar for 0/1 scores, else Wilcoxon signed-rank). When every
/// pair is equal the test is [`PairedTest::Identical`] rather than an error.
///
/// Errors when the lists differ in length, are empty, hold a non-finite score, or the
/// confidence is not strictly between 0 and 1.
pub fn compare_paired_at(a: &[f64], b: &[f64], confidence: f64, seed: u64) -> Result<PairedComparison> {
    check_confidence(confidence)?;
    check_paired(a, b)?;
    if a.is_empty() {
        return Err(EvalError::Stats("paired comparison needs at least one pair of scores, got none".into()));
    }
    nonparametric::check_finite("paired comparison, first list", a)?;
    nonparametric::check_finite("paired comparison, second list", b)?;
    let bootstrap = paired_bootstrap_diff_ci(a, b, DEFAULT_RESAMPLES, confidence, seed)?;
    let alpha = 1.0 - confidence;
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (test, needed) = if diffs.iter().all(|d| *d == 0.0) {
        (PairedTest::Identical, None)
    } else if is_binary(a) && is_binary(b) {
        let t = mcnemar(a, b)?;
        let discordant = (t.a_only + t.b_only) as f64 / t.n as f64;
        (PairedTest::McNemar(t), mcnemar_sample_size(discordant, bootstrap.mean_diff, alpha, VERDICT_POWER).ok())
    } else {
        let t = wilcoxon_signed_rank(a, b)?;
        let needed = paired_sample_size(bootstrap.mean_diff, sample_std(&diffs), alpha, VERDICT_POWER).ok();
        (PairedTest::Wilcoxon(t), needed)
    };
    Ok(PairedComparison {
        a: summarize(a),
        b: summarize(b),
        bootstrap,
        sign: sign_test(a, b)?,
        welch: welch_t_test(a, b).ok(),
        confidence,
        test,
        needed,
    })
}

/// A level such as 0.95 as "95".
fn percent_label(level: f64) -> String {
    let p = level * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

/// "p = 0.012", "p = 3.1e-5".
fn p_label(p: f64) -> String {
    if p >= 0.001 {
        format!("p = {p:.3}")
    } else {
        format!("p = {p:.1e}")
    }
}

impl PairedComparison {
    /// The significance test's p-value.
    pub fn p_value(&self) -> f64 {
        self.test.p_value()
    }

    /// The significance level, `1 - confidence`.
    pub fn alpha(&self) -> f64 {
        1.0 - self.confidence
    }

    /// Whether the test rejects "no difference" at level [`alpha`](Self::alpha).
    pub fn significant(&self) -> bool {
        self.p_value() < self.alpha()
    }

    /// The better side: set only when the difference is significant and the test's direction
    /// (more discordant wins, or the larger signed-rank sum) agrees with the mean difference.
    pub fn winner(&self) -> Option<Side> {
        if !self.significant() {
            return None;
        }
        let direction = match &self.test {
            PairedTest::McNemar(t) => t.a_only as f64 - t.b_only as f64,
            PairedTest::Wilcoxon(t) => t.r_plus - t.r_minus,
            PairedTest::Identical => 0.0,
        };
        let mean = self.bootstrap.mean_diff;
        if direction > 0.0 && mean > 0.0 {
            Some(Side::A)
        } else if direction < 0.0 && mean < 0.0 {
            Some(Side::B)
        } else {
            None
        }
    }

    /// A one-line verdict naming the sides `name_a` and `name_b`: which is better and how sure
    /// (the difference with its interval, the share of bootstrap resamples it wins, the test and
    /// p-value), or that there is no significant difference and roughly how many examples would
    /// detect one of the observed size with 80% power. Differences are in points: hundredths of
    /// the score scale (percentage points for the usual 0–1 metrics).
    pub fn verdict(&self, name_a: &str, name_b: &str) -> String {
        let n = self.bootstrap.n;
        let level = percent_label(self.confidence);
        let (d, ci) = (self.bootstrap.mean_diff * 100.0, self.bootstrap.ci);
        let (lo, hi) = (ci.low * 100.0, ci.high * 100.0);
        let test = format!("{} {}", self.test.name(), p_label(self.p_value()));
        if let PairedTest::Identical = self.test {
            return format!("No difference: {name_a} and {name_b} score the same on all {n} examples.");
        }
        match self.winner() {
            Some(side) => {
                let (winner, loser, d, lo, hi, share) = match side {
                    Side::A => (name_a, name_b, d, lo, hi, self.bootstrap.share_above_zero),
                    Side::B => (name_b, name_a, -d, -hi, -lo, self.bootstrap.share_below_zero),
                };
                format!(
                    "{winner} is better than {loser} by {d:.1} points ({level}% CI {lo:.1} to {hi:.1}; {winner} ahead in \
                     {:.1}% of bootstrap resamples; {test} < {}).",
                    share * 100.0,
                    trim_number(self.alpha())
                )
            }
            None if self.significant() => format!(
                "No clear winner: {test} finds a difference, but it points the other way from the mean difference \
                 {name_a} - {name_b} = {d:+.1} points ({level}% CI {lo:+.1} to {hi:+.1})."
            ),
            None => {
                let more = match self.needed {
                    Some(s) => format!(
                        "detecting a difference of {:.1} points with 80% power would take about {} examples (have {n})",
                        d.abs(),
                        s.n
                    ),
                    None if d == 0.0 => "the observed mean difference is zero".to_string(),
                    None => "the differences do not vary enough to estimate how many examples would be needed".into(),
                };
                format!(
                    "No significant difference ({test} >= {}): {name_a} - {name_b} = {d:+.1} points ({level}% CI \
                     {lo:+.1} to {hi:+.1}); {more}.",
                    trim_number(self.alpha())
                )
            }
        }
    }
}

/// A number with at most three decimals and no trailing zeros, e.g. 0.05.
fn trim_number(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod scipy_tests;
#[cfg(test)]
mod tests;
