//! Sample-size estimates from the normal approximation: how many examples a two-sided test at
//! level `alpha` needs to detect a given effect with probability `power`.

use crate::error::{EvalError, Result};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// A sample-size estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleSize {
    /// Examples needed, rounded up (saturates at `u64::MAX` for vanishing effects).
    pub n: u64,
    /// The formula's unrounded value.
    pub fractional: f64,
}

impl SampleSize {
    fn from_fractional(fractional: f64) -> Self {
        // `as` saturates, which is what a vanishing effect should give.
        SampleSize { n: fractional.ceil().max(1.0) as u64, fractional }
    }
}

fn check_level(name: &str, x: f64) -> Result<()> {
    if x > 0.0 && x < 1.0 {
        Ok(())
    } else {
        Err(EvalError::Stats(format!("sample size: {name} must be between 0 and 1 (exclusive), got {x}")))
    }
}

/// `(z_{1 − alpha/2}, z_{power})`: the standard normal quantiles of a two-sided test.
fn quantiles(alpha: f64, power: f64) -> Result<(f64, f64)> {
    check_level("alpha", alpha)?;
    check_level("power", power)?;
    let normal = Normal::standard();
    Ok((normal.inverse_cdf(1.0 - alpha / 2.0), normal.inverse_cdf(power)))
}

fn check_effect(name: &str, effect: f64) -> Result<()> {
    if effect.is_finite() && effect != 0.0 {
        Ok(())
    } else {
        Err(EvalError::Stats(format!(
            "sample size: the {name} must be a finite non-zero number, got {effect} (no sample detects a zero difference)"
        )))
    }
}

/// Pairs needed to detect a mean paired difference of `effect` when the differences have
/// standard deviation `sd_of_diff`: `((z_{1−α/2} + z_{power}) · sd / effect)²`.
pub fn paired_sample_size(effect: f64, sd_of_diff: f64, alpha: f64, power: f64) -> Result<SampleSize> {
    let (za, zb) = quantiles(alpha, power)?;
    check_effect("effect", effect)?;
    if !(sd_of_diff.is_finite() && sd_of_diff > 0.0) {
        return Err(EvalError::Stats(format!(
            "sample size: the standard deviation of the differences must be positive, got {sd_of_diff}"
        )));
    }
    Ok(SampleSize::from_fractional(((za + zb) * sd_of_diff / effect).powi(2)))
}

fn check_proportion(name: &str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(EvalError::Stats(format!("sample size: {name} must be a proportion in [0, 1], got {p}")))
    }
}

/// Examples needed *per group* to tell success rates `p1` and `p2` apart with two independent
/// groups (the pooled-variance formula without continuity correction):
/// `(z_{1−α/2} · √(2 p̄ q̄) + z_{power} · √(p1 q1 + p2 q2))² / (p1 − p2)²`.
pub fn two_proportion_sample_size(p1: f64, p2: f64, alpha: f64, power: f64) -> Result<SampleSize> {
    let (za, zb) = quantiles(alpha, power)?;
    check_proportion("p1", p1)?;
    check_proportion("p2", p2)?;
    check_effect("difference p1 - p2", p1 - p2)?;
    let pbar = (p1 + p2) / 2.0;
    let numerator = za * (2.0 * pbar * (1.0 - pbar)).sqrt() + zb * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    Ok(SampleSize::from_fractional(numerator.powi(2) / (p1 - p2).powi(2)))
}

/// Pairs needed for McNemar's test to detect a difference `diff` in success rates of two paired
/// 0/1-scored programs when a share `discordant` of the pairs disagree (Connor, 1987):
/// `(z_{1−α/2} · √d + z_{power} · √(d − diff²))² / diff²` with `d = discordant`.
pub fn mcnemar_sample_size(discordant: f64, diff: f64, alpha: f64, power: f64) -> Result<SampleSize> {
    let (za, zb) = quantiles(alpha, power)?;
    check_effect("difference", diff)?;
    if !(discordant > 0.0 && discordant <= 1.0) {
        return Err(EvalError::Stats(format!(
            "sample size: the share of discordant pairs must be in (0, 1], got {discordant}"
        )));
    }
    if diff.abs() > discordant {
        return Err(EvalError::Stats(format!(
            "sample size: a difference of {diff} needs at least that share of discordant pairs, got {discordant}"
        )));
    }
    let numerator = za * discordant.sqrt() + zb * (discordant - diff * diff).sqrt();
    Ok(SampleSize::from_fractional(numerator.powi(2) / (diff * diff)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_named() {
        let err = |r: Result<SampleSize>| r.unwrap_err().to_string();
        assert_eq!(
            err(paired_sample_size(0.0, 0.3, 0.05, 0.8)),
            "statistics: sample size: the effect must be a finite non-zero number, got 0 (no sample detects a zero difference)"
        );
        assert_eq!(
            err(paired_sample_size(0.1, 0.0, 0.05, 0.8)),
            "statistics: sample size: the standard deviation of the differences must be positive, got 0"
        );
        assert_eq!(
            err(paired_sample_size(0.1, 0.3, 1.0, 0.8)),
            "statistics: sample size: alpha must be between 0 and 1 (exclusive), got 1"
        );
        assert_eq!(
            err(paired_sample_size(0.1, 0.3, 0.05, 0.0)),
            "statistics: sample size: power must be between 0 and 1 (exclusive), got 0"
        );
        assert!(err(two_proportion_sample_size(0.5, 0.5, 0.05, 0.8)).contains("difference p1 - p2"));
        assert!(err(two_proportion_sample_size(1.5, 0.5, 0.05, 0.8)).contains("p1 must be a proportion"));
        assert!(err(mcnemar_sample_size(0.1, 0.2, 0.05, 0.8)).contains("at least that share"));
        assert!(err(mcnemar_sample_size(0.0, 0.0, 0.05, 0.8)).contains("non-zero"));
    }

    #[test]
    fn smaller_effects_need_more_examples() {
        let big = paired_sample_size(0.2, 0.5, 0.05, 0.8).unwrap();
        let small = paired_sample_size(0.1, 0.5, 0.05, 0.8).unwrap();
        assert!((small.fractional / big.fractional - 4.0).abs() < 1e-12);
        assert_eq!(paired_sample_size(1e-300, 1.0, 0.05, 0.8).unwrap().n, u64::MAX);
        // A huge effect still needs one example.
        assert_eq!(paired_sample_size(100.0, 0.1, 0.05, 0.8).unwrap().n, 1);
    }
}
