//! Rank and count tests: Wilcoxon signed-rank and McNemar for paired scores, Mann–Whitney U for
//! independent samples. Each follows the defaults of the SciPy 1.17 function named in its doc
//! comment, including how SciPy picks between the exact distribution and the normal
//! approximation, and is checked against SciPy's values in `scipy_fixture.json`.

use super::{binomial_cdf_half, check_paired};
use crate::error::{EvalError, Result};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// Largest number of pairs for which [`wilcoxon_signed_rank`] uses an exact null distribution.
pub const WILCOXON_EXACT_MAX_N: usize = 50;

/// Largest number of pairs for which [`wilcoxon_signed_rank`] enumerates sign flips when the
/// differences have ties or zeros (SciPy's permutation test is exhaustive up to 2^13 flips).
pub const WILCOXON_SIGN_FLIP_MAX_N: usize = 13;

/// Largest size of the smaller sample for which [`mann_whitney_u`] uses the exact distribution.
pub const MANN_WHITNEY_EXACT_MAX_N: usize = 8;

pub(super) fn check_finite(name: &str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(EvalError::Stats(format!("{name}: score {i} is {}, expected a finite number", xs[i]))),
        None => Ok(()),
    }
}

fn check_non_empty(test: &str, a: &[f64], b: &[f64]) -> Result<()> {
    if a.is_empty() || b.is_empty() {
        return Err(EvalError::Stats(format!(
            "{test} needs at least one score on each side, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    Ok(())
}

/// Average ranks (1-based; tied values share the mean of their positions) and the tie term
/// `Σ (t³ − t)` over groups of `t` tied values.
fn average_ranks(values: &[f64]) -> (Vec<f64>, f64) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut tie_term = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start+1 ..= end share their mean rank.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        let t = (end - start) as f64;
        tie_term += t * t * t - t;
        start = end;
    }
    (ranks, tie_term)
}

/// Two-sided p-value `2 · P(Z ≥ |z|)` of a standard normal statistic.
fn normal_two_sided(z: f64) -> f64 {
    (2.0 * Normal::standard().sf(z.abs())).min(1.0)
}

/// How [`wilcoxon_signed_rank`] computed its p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WilcoxonMethod {
    /// Exact null distribution of the rank sum: at most 50 pairs, no zero differences, no ties.
    Exact,
    /// Exact over all sign flips of the observed ranks: at most 13 pairs with ties or zeros
    /// (what SciPy's permutation test computes there).
    SignFlip,
    /// Normal approximation with the tie correction, without continuity correction.
    Normal,
}

/// Result of the Wilcoxon signed-rank test on paired scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WilcoxonTest {
    /// Number of pairs.
    pub n: usize,
    /// Pairs whose difference is not zero (zero differences are dropped, SciPy's `"wilcox"`).
    pub n_nonzero: usize,
    /// Sum of the ranks of |a − b| where `a` scored higher.
    pub r_plus: f64,
    /// Sum of the ranks of |a − b| where `b` scored higher.
    pub r_minus: f64,
    /// The two-sided statistic, `min(r_plus, r_minus)` (SciPy's `statistic`).
    pub statistic: f64,
    /// Standardized `r_plus` for the normal approximation (positive when `a` tends to score
    /// higher; SciPy's `zstatistic` is `-|z|`); absent for the exact methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    /// How the p-value was computed.
    pub method: WilcoxonMethod,
}

/// Wilcoxon signed-rank test of paired scores `a[i]` vs `b[i]`, two-sided, matching
/// `scipy.stats.wilcoxon(a, b)` with its defaults (`zero_method="wilcox"`, `correction=False`,
/// `method="auto"`): zero differences are dropped and the rest ranked by absolute value
/// (average ranks for ties). The p-value is exact when there are at most 50 pairs with no
/// zeros and no ties; with ties or zeros and at most 13 pairs it is exact over all sign flips;
/// otherwise it comes from the normal approximation with the tie correction.
///
/// Errors when the lists differ in length, are empty, hold a non-finite score, or every
/// difference is zero (then there is nothing to rank: the two score the same everywhere).
pub fn wilcoxon_signed_rank(a: &[f64], b: &[f64]) -> Result<WilcoxonTest> {
    check_paired(a, b)?;
    if a.is_empty() {
        return Err(EvalError::Stats("Wilcoxon signed-rank test needs at least one pair, got none".into()));
    }
    check_finite("Wilcoxon signed-rank test, first list", a)?;
    check_finite("Wilcoxon signed-rank test, second list", b)?;
    let n = a.len();
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).filter(|d| *d != 0.0).collect();
    if diffs.is_empty() {
        return Err(EvalError::Stats(format!(
            "Wilcoxon signed-rank test: all {n} differences are zero (the two score lists are identical), \
             so there is nothing to rank"
        )));
    }
    let magnitudes: Vec<f64> = diffs.iter().map(|d| d.abs()).collect();
    let (ranks, tie_term) = average_ranks(&magnitudes);
    let r_plus: f64 = diffs.iter().zip(&ranks).filter(|(d, _)| **d > 0.0).map(|(_, r)| r).sum();
    let r_minus: f64 = diffs.iter().zip(&ranks).filter(|(d, _)| **d < 0.0).map(|(_, r)| r).sum();
    let has_ties = tie_term > 0.0;
    let has_zeros = diffs.len() < n;
    let method = if n > WILCOXON_EXACT_MAX_N {
        WilcoxonMethod::Normal
    } else if !has_ties && !has_zeros {
        WilcoxonMethod::Exact
    } else if n <= WILCOXON_SIGN_FLIP_MAX_N {
        WilcoxonMethod::SignFlip
    } else {
        WilcoxonMethod::Normal
    };
    let m = diffs.len() as f64;
    let (z, p_value) = match method {
        WilcoxonMethod::Exact | WilcoxonMethod::SignFlip => (None, sign_flip_p_value(&ranks, r_plus)),
        WilcoxonMethod::Normal => {
            let mean = m * (m + 1.0) / 4.0;
            let se = ((m * (m + 1.0) * (2.0 * m + 1.0) - tie_term / 2.0) / 24.0).sqrt();
            let z = (r_plus - mean) / se;
            (Some(z), normal_two_sided(z))
        }
    };
    Ok(WilcoxonTest { n, n_nonzero: diffs.len(), r_plus, r_minus, statistic: r_plus.min(r_minus), z, p_value, method })
}

/// Two-sided p-value of `r_plus` under the null that each rank's sign is a fair coin flip:
/// `min(1, 2 · min(P[R ≤ r], P[R ≥ r]))`. Ranks are whole or half numbers, so the distribution
/// is built exactly over doubled ranks. Without ties this is the exact signed-rank distribution.
fn sign_flip_p_value(ranks: &[f64], r_plus: f64) -> f64 {
    let doubled: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
    let total: usize = doubled.iter().sum();
    let mut dist = vec![0.0_f64; total + 1];
    dist[0] = 1.0;
    let mut reach = 0;
    for &w in &doubled {
        reach += w;
        for s in (0..=reach).rev() {
            let with = if s >= w { dist[s - w] } else { 0.0 };
            dist[s] = 0.5 * dist[s] + 0.5 * with;
        }
    }
    let observed = ((2.0 * r_plus).round() as usize).min(total);
    let at_most: f64 = dist[..=observed].iter().sum();
    let at_least: f64 = dist[observed..].iter().sum();
    (2.0 * at_most.min(at_least)).min(1.0)
}

/// How [`mann_whitney_u`] computed its p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MannWhitneyMethod {
    /// Exact distribution of U: no ties and one sample of at most 8 values.
    Exact,
    /// Normal approximation with the tie correction and a continuity correction.
    Normal,
}

/// Result of the Mann–Whitney U test of two independent samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitneyTest {
    /// Size of `a`.
    pub n_a: usize,
    /// Size of `b`.
    pub n_b: usize,
    /// U of `a`: the number of (a, b) pairs where `a` is larger, ties counting one half
    /// (SciPy's `statistic`). U of `b` is `n_a · n_b − statistic`.
    pub statistic: f64,
    /// Standardized statistic of the normal approximation (continuity-corrected
    /// `max(U_a, U_b)`); absent for the exact method or when every value is the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    /// How the p-value was computed.
    pub method: MannWhitneyMethod,
}

/// Mann–Whitney U test that `a` and `b` come from the same distribution, two-sided, matching
/// `scipy.stats.mannwhitneyu(a, b)` with its defaults (`use_continuity=True`,
/// `method="auto"`): exact when there are no ties and either sample has at most 8 values,
/// otherwise the normal approximation with tie and continuity corrections.
/// For two programs scored on the same examples prefer the paired tests.
///
/// Errors when either sample is empty or holds a non-finite score.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Result<MannWhitneyTest> {
    check_non_empty("Mann-Whitney U test", a, b)?;
    check_finite("Mann-Whitney U test, first sample", a)?;
    check_finite("Mann-Whitney U test, second sample", b)?;
    let (n_a, n_b) = (a.len(), b.len());
    let combined: Vec<f64> = a.iter().chain(b).copied().collect();
    let (ranks, tie_term) = average_ranks(&combined);
    let (na, nb) = (n_a as f64, n_b as f64);
    let rank_sum_a: f64 = ranks[..n_a].iter().sum();
    let u_a = rank_sum_a - na * (na + 1.0) / 2.0;
    let u_b = na * nb - u_a;
    let u = u_a.max(u_b);
    let exact = tie_term == 0.0 && n_a.min(n_b) <= MANN_WHITNEY_EXACT_MAX_N;
    let (z, p_value, method) = if exact {
        let p = 2.0 * mann_whitney_sf(n_a.min(n_b), n_a.max(n_b), u.round() as usize);
        (None, p.min(1.0), MannWhitneyMethod::Exact)
    } else {
        let n = na + nb;
        let var = na * nb / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
        let numerator = u - na * nb / 2.0 - 0.5;
        if var > 0.0 {
            let z = numerator / var.sqrt();
            (Some(z), (2.0 * Normal::standard().sf(z)).min(1.0), MannWhitneyMethod::Normal)
        } else {
            // Every value is the same: U sits at its mean and nothing separates the samples.
            (None, 1.0, MannWhitneyMethod::Normal)
        }
    };
    Ok(MannWhitneyTest { n_a, n_b, statistic: u_a, z, p_value, method })
}

/// `P[U ≥ u]` under the null for samples of sizes `m ≤ n` without ties. The counts of U are the
/// coefficients of the Gaussian binomial `[m+n choose m]_q`, built as
/// `Π_{i=1..m} (1 − q^{n+i}) / (1 − q^i)`, one factor pair at a time so that every intermediate
/// polynomial is itself a Gaussian binomial with non-negative coefficients.
fn mann_whitney_sf(m: usize, n: usize, u: usize) -> f64 {
    let mut poly = vec![1.0_f64];
    for i in 1..=m {
        let shift = n + i;
        let mut next = vec![0.0; poly.len() + shift];
        for (k, c) in poly.iter().enumerate() {
            next[k] += c;
            next[k + shift] -= c;
        }
        // Divide by (1 − q^i): r[k] = p[k] + r[k − i]. The quotient has degree i · n.
        next.truncate(i * n + 1);
        for k in i..next.len() {
            next[k] += next[k - i];
        }
        poly = next;
    }
    let total: f64 = poly.iter().sum();
    let tail: f64 = poly.iter().skip(u).sum();
    tail / total
}

/// Result of McNemar's test on paired 0/1 scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemarTest {
    /// Number of pairs.
    pub n: usize,
    /// Pairs both got right (1, 1).
    pub both: usize,
    /// Pairs only `a` got right (1, 0).
    pub a_only: usize,
    /// Pairs only `b` got right (0, 1).
    pub b_only: usize,
    /// Pairs both got wrong (0, 0).
    pub neither: usize,
    /// Exact two-sided binomial p-value over the discordant pairs (`a_only` of
    /// `a_only + b_only` under Binomial(·, 1/2)), as `scipy.stats.binomtest`.
    pub exact_p_value: f64,
    /// Chi-square statistic with Edwards' continuity correction,
    /// `max(0, |a_only − b_only| − 1)² / (a_only + b_only)`.
    pub chi2: f64,
    /// p-value of `chi2` on one degree of freedom.
    pub chi2_p_value: f64,
    /// The headline p-value: the exact one, which stays valid for few discordant pairs where
    /// the chi-square approximation does not (the two agree closely for many).
    pub p_value: f64,
}

/// Whether every score is exactly 0 or 1.
pub fn is_binary(xs: &[f64]) -> bool {
    xs.iter().all(|x| *x == 0.0 || *x == 1.0)
}

/// McNemar's test of paired 0/1 scores (`a[i]`, `b[i]` for example `i`): only the examples
/// where exactly one side is right carry information. Gives both the exact binomial test and
/// the continuity-corrected chi-square; `p_value` is the exact one.
///
/// Errors when the lists differ in length, are empty, hold a score other than 0 or 1, or have
/// no discordant pair (then the two agree on every example and there is nothing to test).
pub fn mcnemar(a: &[f64], b: &[f64]) -> Result<McNemarTest> {
    check_paired(a, b)?;
    if a.is_empty() {
        return Err(EvalError::Stats("McNemar's test needs at least one pair, got none".into()));
    }
    for (name, xs) in [("first", a), ("second", b)] {
        if let Some(i) = xs.iter().position(|x| *x != 0.0 && *x != 1.0) {
            return Err(EvalError::Stats(format!(
                "McNemar's test needs 0/1 scores, but score {i} of the {name} list is {}",
                xs[i]
            )));
        }
    }
    let (mut both, mut a_only, mut b_only, mut neither) = (0, 0, 0, 0);
    for (x, y) in a.iter().zip(b) {
        match (*x == 1.0, *y == 1.0) {
            (true, true) => both += 1,
            (true, false) => a_only += 1,
            (false, true) => b_only += 1,
            (false, false) => neither += 1,
        }
    }
    let discordant = a_only + b_only;
    if discordant == 0 {
        return Err(EvalError::Stats(format!(
            "McNemar's test: no discordant pairs (the two agree on all {} examples), so there is nothing to test",
            a.len()
        )));
    }
    let exact_p_value = (2.0 * binomial_cdf_half(a_only.min(b_only) as u64, discordant as u64)).min(1.0);
    let gap = (a_only as f64 - b_only as f64).abs() - 1.0;
    let chi2 = gap.max(0.0).powi(2) / discordant as f64;
    let chi_squared =
        ChiSquared::new(1.0).map_err(|e| EvalError::Stats(format!("chi-square with 1 degree of freedom: {e}")))?;
    let chi2_p_value = chi_squared.sf(chi2);
    Ok(McNemarTest {
        n: a.len(),
        both,
        a_only,
        b_only,
        neither,
        exact_p_value,
        chi2,
        chi2_p_value,
        p_value: exact_p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_ranks_share_tied_positions() {
        let (ranks, tie_term) = average_ranks(&[3.0, 1.0, 2.0, 2.0, 2.0, 1.0]);
        assert_eq!(ranks, vec![6.0, 1.5, 4.0, 4.0, 4.0, 1.5]);
        assert_eq!(tie_term, (8.0 - 2.0) + (27.0 - 3.0));
        assert_eq!(average_ranks(&[]), (vec![], 0.0));
    }

    #[test]
    fn sign_flip_distribution_without_ties_is_the_signed_rank_distribution() {
        // n = 3: rank sums 0..=6 with counts 1,1,1,2,1,1,1 over 8 sign patterns.
        let ranks = [1.0, 2.0, 3.0];
        assert_eq!(sign_flip_p_value(&ranks, 0.0), 2.0 / 8.0);
        assert_eq!(sign_flip_p_value(&ranks, 1.0), 4.0 / 8.0);
        assert_eq!(sign_flip_p_value(&ranks, 3.0), 1.0);
        assert_eq!(sign_flip_p_value(&ranks, 6.0), 2.0 / 8.0);
    }

    #[test]
    fn mann_whitney_distribution_counts_partitions() {
        // m = 2, n = 2: U in 0..=4 with counts 1,1,2,1,1 over C(4,2) = 6 arrangements.
        assert_eq!(mann_whitney_sf(2, 2, 0), 1.0);
        assert!((mann_whitney_sf(2, 2, 3) - 2.0 / 6.0).abs() < 1e-15);
        assert!((mann_whitney_sf(2, 2, 4) - 1.0 / 6.0).abs() < 1e-15);
        // m = 1: U is uniform on 0..=n.
        assert!((mann_whitney_sf(1, 9, 7) - 3.0 / 10.0).abs() < 1e-15);
    }

    #[test]
    fn binary_scores_are_recognized() {
        assert!(is_binary(&[0.0, 1.0, 1.0]));
        assert!(is_binary(&[]));
        assert!(!is_binary(&[0.0, 0.5]));
    }
}
