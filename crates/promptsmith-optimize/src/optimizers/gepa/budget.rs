//! GEPA's budget, in metric calls: one metric call is one program run on one example and its
//! score, counted whether or not the rollout cache answers it (as the reference counts them).
//!
//! Every step of the search knows its worst-case cost before it starts and starts only when the
//! rest of the budget covers it, so a run never uses more than `max_metric_calls` (the reference
//! checks its budget between iterations and overshoots by up to one full validation pass).

use crate::optimizers::mipro::Auto;
use serde::Serialize;

/// Minibatch size and full-evaluation period DSPy's `auto` formula assumes.
const AUTO_MINIBATCH: u64 = 35;
const AUTO_FULL_EVAL_STEPS: u64 = 5;

/// Candidates DSPy's `auto` presets stand for: 6, 12, 18.
pub fn auto_candidates(auto: Auto) -> u64 {
    match auto {
        Auto::Light => 6,
        Auto::Medium => 12,
        Auto::Heavy => 18,
    }
}

/// `dspy.GEPA.auto_budget`: the metric calls a MIPROv2-like search over `candidates`
/// candidates for `predictors` predictors would make on a validation set of `valset` examples.
pub fn auto_metric_calls(predictors: usize, candidates: u64, valset: usize) -> u64 {
    let n = candidates as f64;
    let trials = (2.0 * (predictors as f64 * 2.0) * n.log2()).max(1.5 * n) as u64;
    let v = valset as u64;
    let total = v + candidates * 5 + trials * AUTO_MINIBATCH;
    if trials == 0 {
        return total;
    }
    let periodic = (trials + 1) / AUTO_FULL_EVAL_STEPS + 1;
    let extra = u64::from(AUTO_FULL_EVAL_STEPS > trials);
    total + (periodic + extra) * v
}

/// What the steps of a search cost in metric calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Costs {
    /// One full validation pass.
    pub valset: u64,
    /// One minibatch run.
    pub minibatch: u64,
    /// The validation subsample a merge is judged on.
    pub merge_subsample: u64,
}

impl Costs {
    /// Worst case of a reflective iteration: the parent and the child on the minibatch, and the
    /// child's validation pass when it is accepted.
    pub fn reflection(&self) -> u64 {
        2 * self.minibatch + self.valset
    }

    /// Worst case of a merge: the subsample and, when accepted, the validation pass.
    pub fn merge(&self) -> u64 {
        self.merge_subsample + self.valset
    }

    /// The smallest budget that buys one proposal: the program as written on the validation
    /// set, then one reflective iteration.
    pub fn least_budget(&self) -> u64 {
        self.valset + self.reflection()
    }

    /// Proposals `budget` buys: at least this many when every one is accepted and no merge or
    /// perfect minibatch comes between, at most this many when none is accepted.
    pub fn proposals(&self, budget: u64) -> (u64, u64) {
        let rest = budget.saturating_sub(self.valset);
        // The last iteration must fit whole, so the last proposal may cost up to `reflection()`.
        let most =
            if rest >= self.reflection() { (rest - self.reflection()) / (2 * self.minibatch).max(1) + 1 } else { 0 };
        (rest / self.reflection().max(1), most)
    }

    /// Upper bound on trials: the baseline, then at most one trial per cheapest step.
    pub fn max_trials(&self, budget: u64) -> u64 {
        let cheapest = (2 * self.minibatch).min(self.valset).min(self.merge_subsample.max(1)).max(1);
        1 + budget.saturating_sub(self.valset) / cheapest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_budgets_follow_dspy() {
        // light, one predictor, 100 validation examples: 10 trials (2*2*log2(6) = 10.3),
        // 100 + 30 + 350 + (11/5 + 1) * 100.
        assert_eq!(auto_metric_calls(1, 6, 100), 780);
        // medium: trials = max(4 * log2(12), 18) = 18; 100 + 60 + 630 + (19/5 + 1) * 100.
        assert_eq!(auto_metric_calls(1, 12, 100), 1190);
        // heavy, two predictors: trials = 8 * log2(18) = 33.36 -> 33; 50 + 90 + 1155 + 7 * 50.
        assert_eq!(auto_metric_calls(2, 18, 50), 1645);
        assert_eq!(auto_candidates(Auto::Medium), 12);
    }

    #[test]
    fn costs_say_what_a_budget_buys() {
        let c = Costs { valset: 20, minibatch: 3, merge_subsample: 5 };
        assert_eq!(c.reflection(), 26);
        assert_eq!(c.least_budget(), 46);
        assert_eq!(c.proposals(45), (0, 0));
        assert_eq!(c.proposals(46), (1, 1));
        // 100 - 20 = 80: three accepted proposals (78), or 1 + (80 - 26) / 6 = 10 rejected ones.
        assert_eq!(c.proposals(100), (3, 10));
        assert_eq!(c.merge(), 25);
        assert_eq!(c.max_trials(100), 1 + 80 / 5);
    }
}
