//! Always-valid inference for A/B tests that are looked at after every sample: an asymptotic
//! confidence sequence for the difference of two arms' means (Waudby-Smith, Arnold, Wu,
//! Ramdas and Ghosh 2024, "Time-uniform central limit theory and asymptotic confidence
//! sequences"), built from Robbins' normal-mixture boundary on the information scale.
//!
//! With `V = 1 / (s_a²/n_a + s_b²/n_b)` the information about the difference `Δ` gathered so
//! far, the sequence is `Δ̂ ± sqrt((V + m) · ln((V + m) / (m α²))) / V`. It covers `Δ` at every
//! time at once with probability at least `1 − α` (asymptotically, as the variance estimates
//! settle), so stopping as soon as it excludes 0 keeps the false-win rate at `α` however often
//! it is checked. `m` sets where the sequence is tightest: [`mixing_for`] picks it for a
//! planned information (the planned samples per arm). The boundary and `mixing_for` are
//! checked against confseq's `normal_mixture_bound` (two-sided), the reference implementation by
//! Howard, Ramdas et al., in `confseq_fixture.json` (written by `scripts/stats/confseq_fixture.py`).

use crate::error::{EvalError, Result};
use serde::{Deserialize, Serialize};

/// Running sums of one arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmStats {
    /// Observations.
    pub n: u64,
    /// Their sum.
    pub sum: f64,
    /// Their sum of squares.
    pub sum_sq: f64,
}

impl ArmStats {
    /// Adds one observation.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        self.sum_sq += x * x;
    }

    /// The mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    /// The sample variance (n − 1 denominator; 0 below two observations).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = self.n as f64;
        ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }
}

/// Where the difference `b − a` is, with confidence `1 − alpha` at every look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialInterval {
    /// `mean(b) − mean(a)`.
    pub difference: f64,
    /// Lower end of the confidence sequence.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
    /// The information `1 / (s_a²/n_a + s_b²/n_b)`.
    pub information: f64,
}

impl SequentialInterval {
    /// +1 when `b` is significantly above `a`, −1 when below, 0 while the sequence covers 0.
    pub fn decision(&self) -> i8 {
        if self.lower > 0.0 {
            1
        } else if self.upper < 0.0 {
            -1
        } else {
            0
        }
    }
}

/// Smallest variance assumed for an arm (0/1 scores that are all equal so far would otherwise
/// claim infinite information): that of a proportion of 1% (or 99%).
const MIN_VARIANCE: f64 = 0.01 * 0.99;

/// The mixing parameter that makes the sequence tightest at `information` (Waudby-Smith et al.'s
/// choice for a target time, on the information scale).
pub fn mixing_for(information: f64, alpha: f64) -> f64 {
    let l = -2.0 * alpha.clamp(1e-12, 1.0 - 1e-12).ln();
    information.max(1.0) / (l + (l + 1.0).ln())
}

/// The confidence sequence at the current sums; needs at least two observations per arm.
pub fn confidence_sequence(a: &ArmStats, b: &ArmStats, alpha: f64, mixing: f64) -> Result<SequentialInterval> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(EvalError::Stats(format!("alpha must be in (0, 1), got {alpha}")));
    }
    if !(mixing > 0.0 && mixing.is_finite()) {
        return Err(EvalError::Stats(format!("the mixing parameter must be positive, got {mixing}")));
    }
    if a.n < 2 || b.n < 2 {
        return Err(EvalError::Stats(format!(
            "a confidence sequence needs two observations per arm, got {} and {}",
            a.n, b.n
        )));
    }
    let var = a.variance().max(MIN_VARIANCE) / a.n as f64 + b.variance().max(MIN_VARIANCE) / b.n as f64;
    let information = 1.0 / var;
    let radius =
        ((information + mixing) * ((information + mixing) / (mixing * alpha * alpha)).ln()).sqrt() / information;
    let difference = b.mean() - a.mean();
    Ok(SequentialInterval { difference, lower: difference - radius, upper: difference + radius, information })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[derive(serde::Deserialize)]
    struct ConfseqCase {
        a: ArmStats,
        b: ArmStats,
        alpha: f64,
        planned_information: f64,
        information: f64,
        lower: f64,
        upper: f64,
    }

    /// The boundary and its tuning match confseq's two-sided normal mixture
    /// (`scripts/stats/confseq_fixture.py` wrote the fixture with confseq 0.0.11).
    #[test]
    fn matches_confseq_normal_mixture_bound() {
        let cases: Vec<ConfseqCase> = serde_json::from_str(include_str!("confseq_fixture.json")).unwrap();
        assert!(cases.len() >= 20);
        for c in &cases {
            let cs = confidence_sequence(&c.a, &c.b, c.alpha, mixing_for(c.planned_information, c.alpha)).unwrap();
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + y.abs());
            assert!(close(cs.information, c.information), "information {} vs {}", cs.information, c.information);
            assert!(close(cs.lower, c.lower) && close(cs.upper, c.upper), "{cs:?} vs [{}, {}]", c.lower, c.upper);
        }
    }

    /// Runs one experiment, checked every `every` samples per arm up to `max` per arm; returns
    /// the decision and the samples per arm it was taken at.
    fn experiment(rng: &mut ChaCha8Rng, pa: f64, pb: f64, every: u64, max: u64, mixing: f64) -> (i8, u64) {
        let (mut a, mut b) = (ArmStats::default(), ArmStats::default());
        while a.n < max {
            for _ in 0..every {
                a.push(f64::from(u8::from(rng.gen_bool(pa))));
                b.push(f64::from(u8::from(rng.gen_bool(pb))));
            }
            let cs = confidence_sequence(&a, &b, 0.05, mixing).unwrap();
            if cs.decision() != 0 {
                return (cs.decision(), a.n);
            }
        }
        (0, max)
    }

    fn planned_mixing(max: u64, p: f64) -> f64 {
        // Information after `max` per arm at base rate p.
        mixing_for(max as f64 / (2.0 * p * (1.0 - p)), 0.05)
    }

    #[test]
    fn peeking_after_every_ten_samples_keeps_false_wins_at_alpha() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mixing = planned_mixing(2000, 0.7);
        let runs = 2000;
        let wins = (0..runs).filter(|_| experiment(&mut rng, 0.7, 0.7, 10, 2000, mixing).0 != 0).count();
        // 5% plus three standard errors of a 2,000-run simulation.
        let limit = 0.05 + 3.0 * (0.05f64 * 0.95 / runs as f64).sqrt();
        let rate = wins as f64 / runs as f64;
        eprintln!("A/A false-win rate {rate:.4}");
        assert!(rate <= limit, "A/A experiments declared a winner in {rate:.3} of runs (limit {limit:.3})");
    }

    #[test]
    fn a_five_point_effect_is_found_with_the_right_winner() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mixing = planned_mixing(2000, 0.7);
        let runs = 2000;
        let mut right = 0;
        let mut at = Vec::new();
        for _ in 0..runs {
            let (d, n) = experiment(&mut rng, 0.70, 0.75, 10, 2000, mixing);
            assert!(d >= 0, "never the wrong winner at this effect size in this seed");
            if d == 1 {
                right += 1;
                at.push(n);
            }
        }
        at.sort_unstable();
        let power = right as f64 / runs as f64;
        eprintln!("power {power:.3}, median samples per arm to a decision {}", at[at.len() / 2]);
        assert!(power >= 0.8, "power {power:.3}");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let a = ArmStats { n: 1, sum: 1.0, sum_sq: 1.0 };
        assert!(confidence_sequence(&a, &a, 0.05, 10.0).unwrap_err().to_string().contains("two observations"));
        let b = ArmStats { n: 5, sum: 3.0, sum_sq: 3.0 };
        assert!(confidence_sequence(&b, &b, 1.5, 10.0).is_err());
        assert!(confidence_sequence(&b, &b, 0.05, 0.0).is_err());
    }
}
