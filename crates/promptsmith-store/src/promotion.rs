//! Auto-activation: an optimization result replaces `production` only when it beats the active
//! version by a relative margin (default 5%) *and* the paired test says the gain is real (the
//! same test `promptsmith compare` runs: McNemar's exact test for 0/1 scores, else Wilcoxon
//! signed-rank); otherwise it is registered as `candidate`.

use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::registry::{NewVersion, ProgramVersion, VersionSelector, CANDIDATE, PRODUCTION};
use promptsmith_eval::stats::compare_paired_at;
use serde::{Deserialize, Serialize};

/// When a new version may replace production.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PromotionPolicy {
    /// Minimum relative gain of the mean score over the active version (0.05 = 5%).
    pub min_relative_gain: f64,
    /// Significance level of the two-sided paired test.
    pub alpha: f64,
    /// Seed of the bootstrap interval reported with the decision (decisions are reproducible).
    pub seed: u64,
    /// Whether a winning version may move `production` (false: it becomes `candidate`, for an
    /// experiment to decide).
    pub allow_promotion: bool,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        PromotionPolicy { min_relative_gain: 0.05, alpha: 0.05, seed: 0, allow_promotion: true }
    }
}

/// The outcome of [`decide_promotion`], with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionDecision {
    /// Whether the candidate should replace production.
    pub promote: bool,
    /// Mean score of the candidate.
    pub candidate_mean: f64,
    /// Mean score of the active version.
    pub active_mean: f64,
    /// `(candidate − active) / active` (infinite when the active mean is 0 and the candidate's is not).
    pub relative_gain: f64,
    /// Lower bound of the paired bootstrap interval (at `1 − alpha`) of `candidate − active`.
    pub diff_ci_low: f64,
    /// Upper bound.
    pub diff_ci_high: f64,
    /// The paired test that was run.
    pub test: String,
    /// Its two-sided p-value.
    pub p_value: f64,
    /// Why, in words.
    pub reason: String,
}

/// Decides whether `candidate` beats `active`; `candidate[i]` and `active[i]` must score the
/// same example.
pub fn decide_promotion(candidate: &[f64], active: &[f64], policy: &PromotionPolicy) -> Result<PromotionDecision> {
    if candidate.is_empty() {
        return Err(StoreError::Invalid("promotion needs the scores of at least one example".into()));
    }
    if !(0.0..1.0).contains(&policy.alpha) || policy.alpha == 0.0 {
        return Err(StoreError::Invalid(format!("alpha {} must be in (0, 1)", policy.alpha)));
    }
    let cmp = compare_paired_at(candidate, active, 1.0 - policy.alpha, policy.seed)?;
    let (c, a) = (cmp.a.mean, cmp.b.mean);
    let relative_gain = if a > 0.0 {
        (c - a) / a
    } else if c > a {
        f64::INFINITY
    } else {
        0.0
    };
    let p_value = cmp.test.p_value();
    let enough = relative_gain >= policy.min_relative_gain;
    let significant = c > a && p_value < policy.alpha;
    let pct = |x: f64| x * 100.0;
    let reason = match (enough, significant) {
        (true, true) => format!(
            "mean {:.3} vs {:.3}: +{:.1}% (needs {:.1}%), {} p = {:.2e} < {}",
            c,
            a,
            pct(relative_gain),
            pct(policy.min_relative_gain),
            cmp.test.name(),
            p_value,
            policy.alpha
        ),
        (false, _) => format!(
            "mean {:.3} vs {:.3}: {:+.1}% is below the required {:.1}% gain",
            c,
            a,
            pct(relative_gain),
            pct(policy.min_relative_gain)
        ),
        (true, false) => format!(
            "mean {:.3} vs {:.3}: +{:.1}% but not significant ({} p = {:.3} ≥ {})",
            c,
            a,
            pct(relative_gain),
            cmp.test.name(),
            p_value,
            policy.alpha
        ),
    };
    Ok(PromotionDecision {
        promote: enough && significant,
        candidate_mean: c,
        active_mean: a,
        relative_gain,
        diff_ci_low: cmp.bootstrap.ci.low,
        diff_ci_high: cmp.bootstrap.ci.high,
        test: cmp.test.name().to_string(),
        p_value,
        reason,
    })
}

/// What [`Store::register_optimized`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationOutcome {
    /// The registered version.
    pub version: ProgramVersion,
    /// The alias it got (`production` or `candidate`).
    pub alias: String,
    /// The comparison with the active version (`None` when there was none to beat).
    pub decision: Option<PromotionDecision>,
}

impl Store {
    /// Registers an optimization result and points `production` at it when it beats the active
    /// version under `policy`, else `candidate`. `active` is the version the caller evaluated
    /// with its per-example scores (same examples, same order as `candidate_scores`); `None`
    /// when the program has no production version yet, in which case the new version becomes
    /// production. If production moved away from `active` in the meantime, the result is
    /// registered as candidate.
    pub async fn register_optimized(
        &self,
        new: &NewVersion,
        candidate_scores: &[f64],
        active: Option<(i64, &[f64])>,
        policy: &PromotionPolicy,
    ) -> Result<RegistrationOutcome> {
        let current = match self.version(&new.program, &VersionSelector::Alias(PRODUCTION.into())).await {
            Ok(v) => Some(v.version),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let (alias, decision, reason) = match active {
            None if current.is_none() => (PRODUCTION, None, "first version: nothing to beat".to_string()),
            None => (CANDIDATE, None, "no scores of the production version to compare with".to_string()),
            Some((v, scores)) => {
                let d = decide_promotion(candidate_scores, scores, policy)?;
                let (alias, why) = if current != Some(v) {
                    (CANDIDATE, format!("production no longer points at version {v}; {}", d.reason))
                } else if d.promote && !policy.allow_promotion {
                    (CANDIDATE, format!("beats version {v}, left to an experiment: {}", d.reason))
                } else if d.promote {
                    (PRODUCTION, format!("beats version {v}: {}", d.reason))
                } else {
                    (CANDIDATE, format!("does not beat version {v}: {}", d.reason))
                };
                (alias, Some(d), why)
            }
        };
        let version = self.register_version_with_alias(new, Some((alias, &reason))).await?;
        Ok(RegistrationOutcome { version, alias: alias.to_string(), decision })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotes_a_large_significant_gain() {
        let active: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { 1.0 } else { 0.0 }).collect();
        let candidate: Vec<f64> = (0..100).map(|i| if i % 10 < 8 { 1.0 } else { 0.0 }).collect();
        // candidate wins on 30 examples, loses on 0 (every even example is also right)
        let d = decide_promotion(&candidate, &active, &PromotionPolicy::default()).unwrap();
        assert!(d.promote, "{d:?}");
        assert!((d.relative_gain - 0.6).abs() < 1e-9);
        assert!(d.diff_ci_low > 0.0 && d.p_value < 0.001);
        assert_eq!(d.test, "McNemar's exact test");
    }

    #[test]
    fn keeps_a_gain_below_the_margin() {
        let active: Vec<f64> = (0..1000).map(|i| if i % 100 < 50 { 1.0 } else { 0.0 }).collect();
        let mut candidate = active.clone();
        for c in candidate.iter_mut().skip(50).take(20) {
            *c = 1.0; // +20 of 500 correct: +4%, significant (20 wins, 0 losses) but below 5%
        }
        let d = decide_promotion(&candidate, &active, &PromotionPolicy::default()).unwrap();
        assert!(!d.promote && d.p_value < 0.001, "{d:?}");
        assert!(d.reason.contains("below the required"), "{}", d.reason);
    }

    #[test]
    fn keeps_a_large_but_noisy_gain() {
        // 3 wins, 1 loss on 10 examples: +50% relative, not significant.
        let active = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let candidate = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let d = decide_promotion(&candidate, &active, &PromotionPolicy::default()).unwrap();
        assert!(!d.promote && d.relative_gain >= 0.05, "{d:?}");
        assert!(d.reason.contains("not significant"), "{}", d.reason);
    }

    #[test]
    fn graded_scores_use_the_wilcoxon_test() {
        let active: Vec<f64> = (0..60).map(|i| 0.4 + (i % 5) as f64 * 0.05).collect();
        let candidate: Vec<f64> = active.iter().map(|a| a + 0.1).collect();
        let d = decide_promotion(&candidate, &active, &PromotionPolicy::default()).unwrap();
        assert!(d.test.starts_with("Wilcoxon") && d.promote, "{d:?}");
    }

    #[test]
    fn refuses_mismatched_or_empty_scores() {
        assert!(decide_promotion(&[], &[], &PromotionPolicy::default()).is_err());
        assert!(decide_promotion(&[1.0], &[1.0, 0.0], &PromotionPolicy::default()).is_err());
    }
}
