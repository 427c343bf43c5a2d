//! GEPA: reflective prompt evolution (Agrawal et al. 2025, arXiv 2507.19457), as gepa-ai/gepa
//! and `dspy.GEPA` run it, on the shared engine.
//!
//! Flow:
//! 1. The program as written (the seed) is scored on the whole validation set.
//! 2. Each iteration selects a parent (by default from the per-instance Pareto frontier, see
//!    [`pareto`]), takes the next epoch-shuffled minibatch of the training set, runs the parent on
//!    it with traces and skips the iteration when every score is perfect. It picks the
//!    predictor(s) to change (round robin, or all), shows the reflection model (the proposer
//!    role) each one's current instruction with the inputs, outputs and metric feedback of the
//!    minibatch, and asks for a better instruction. The child is kept only when its minibatch
//!    score sum beats the parent's strictly; it is then scored on the whole validation set and
//!    joins the frontier.
//! 3. After an iteration that found a new candidate, a merge ([`merge`]) of two frontier
//!    candidates with a common ancestor is tried (up to `max_merge_invocations` accepted merges):
//!    it is kept when its score on a validation subsample is at least the better parent's.
//!
//! The best candidate by validation mean wins (the first found of ties, so the seed wins ties).
//! Where this differs from the reference is listed in the README's GEPA section.

mod budget;
mod merge;
mod pareto;
mod reflection;
mod sampler;
mod search;

pub use budget::{auto_candidates, auto_metric_calls, Costs};

use super::mipro::Auto;
use super::{require_examples, OptimizeTask, Optimizer, Outcome, Plan};
use crate::engine::Engine;
use crate::error::{OptimizeError, Result};
use crate::pareto::{Measure, Objective};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Validation instances a merge is judged on (as the reference).
pub const MERGE_SUBSAMPLE: usize = 5;
/// Chance that `epsilon_greedy` picks a random candidate instead of the best (as the reference).
pub const EPSILON: f64 = 0.1;

/// How a parent is chosen each iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateSelection {
    /// From the per-instance Pareto frontier, weighted by the instances each is best on.
    #[default]
    Pareto,
    /// The best validation mean.
    CurrentBest,
    /// The best validation mean, or with probability [`EPSILON`] any candidate.
    EpsilonGreedy,
}

/// Which predictors one iteration changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModuleSelector {
    /// One predictor per iteration, each candidate cycling through them.
    #[default]
    RoundRobin,
    /// Every predictor at once.
    All,
}

/// What the frontier is kept over: parents are drawn from the candidates best on some column
/// of a score table, and these are its columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FrontierType {
    /// Per validation instance, the candidates best on it.
    #[default]
    Instance,
    /// Per objective of the run (`--objective`: the validation mean, tokens, latency, cost,
    /// prompt length), the candidates best on it.
    Objective,
    /// Both: every validation instance and every objective is a column.
    Hybrid,
    /// Per validation instance and objective pair (that instance's score, tokens, latency and
    /// cost; prompt length is the candidate's own), the candidates best on it.
    Cartesian,
}

/// GEPA settings (the reference's names and defaults; the caps and stop conditions are ours).
#[derive(Debug, Clone, PartialEq)]
pub struct Gepa {
    /// A budget preset, mapped to metric calls as `dspy.GEPA` does. Exactly one of `auto`,
    /// `max_metric_calls` and `max_full_evals` is set.
    pub auto: Option<Auto>,
    /// The budget in metric calls (program runs on one example, scored).
    pub max_metric_calls: Option<u64>,
    /// The budget in passes over training plus validation set.
    pub max_full_evals: Option<u64>,
    /// Training examples per reflection (default 3).
    pub reflection_minibatch_size: usize,
    /// How parents are chosen (default pareto).
    pub candidate_selection_strategy: CandidateSelection,
    /// What the frontier is kept over (default instance, the only one).
    pub frontier_type: FrontierType,
    /// Which predictors an iteration changes (default round_robin).
    pub module_selector: ModuleSelector,
    /// Proposals an iteration makes at once, each from its own parent and minibatch (default 1,
    /// the reference's one per iteration; more run the parents, reflections and children in
    /// parallel, gepa #438).
    pub parallel_proposals: usize,
    /// Skip an iteration whose minibatch is already perfect (default true).
    pub skip_perfect_score: bool,
    /// Show the reflection model the examples whose output could not be parsed (default false).
    pub add_format_failure_as_feedback: bool,
    /// Try merges (default true).
    pub use_merge: bool,
    /// Most accepted merges (default 5).
    pub max_merge_invocations: usize,
    /// Score GEPA gives an example whose program run failed (default 0).
    pub failure_score: f64,
    /// Score of a perfect example (default 1).
    pub perfect_score: f64,
    /// Sampling temperature of the reflection model (default 1.0).
    pub reflection_temperature: f32,
    /// Longest instruction a reflection may propose, in characters (default 3000).
    pub max_instruction_chars: usize,
    /// Longest examples-with-feedback text shown to the reflection model (default 12000).
    pub max_reflection_chars: usize,
    /// Stop after this many iterations without a better validation mean.
    pub no_improvement_iterations: Option<usize>,
    /// Stop once the best validation mean reaches this score.
    pub score_threshold: Option<f64>,
    /// Stop at the next iteration once this file exists.
    pub stop_file: Option<PathBuf>,
    /// Stop once the reflection model's calls cost this many US dollars.
    pub max_reflection_cost_usd: Option<f64>,
    /// The run's objectives, the columns of the `objective`, `hybrid` and `cartesian` frontiers (the
    /// validation mean is always one).
    pub objectives: Vec<Objective>,
}

impl Default for Gepa {
    fn default() -> Self {
        Gepa {
            auto: Some(Auto::Light),
            max_metric_calls: None,
            max_full_evals: None,
            reflection_minibatch_size: 3,
            candidate_selection_strategy: CandidateSelection::Pareto,
            frontier_type: FrontierType::Instance,
            module_selector: ModuleSelector::RoundRobin,
            parallel_proposals: 1,
            skip_perfect_score: true,
            add_format_failure_as_feedback: false,
            use_merge: true,
            max_merge_invocations: 5,
            failure_score: 0.0,
            perfect_score: 1.0,
            reflection_temperature: 1.0,
            max_instruction_chars: 3000,
            max_reflection_chars: 12000,
            no_improvement_iterations: None,
            score_threshold: None,
            stop_file: None,
            max_reflection_cost_usd: None,
            objectives: Vec::new(),
        }
    }
}

/// A run's budget, worked out from the settings and the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// The budget in metric calls.
    pub max_metric_calls: u64,
    /// What each step costs.
    pub costs: Costs,
    /// Proposals the budget buys at least (every one accepted) and at most (none accepted).
    pub proposals: (u64, u64),
}

impl Gepa {
    /// The objective columns of the `objective`, `hybrid` and `cartesian` frontiers: the validation mean
    /// first, then the run's other objectives.
    pub(crate) fn objective_columns(&self) -> Vec<Objective> {
        let mut out = vec![Objective::natural(Measure::Score)];
        out.extend(self.objectives.iter().filter(|o| o.measure != Measure::Score).copied());
        out
    }

    /// The budget in metric calls, the step costs and the proposals they buy.
    pub fn resolve(&self, task: &OptimizeTask) -> Result<Resolved> {
        let set = [self.auto.is_some(), self.max_metric_calls.is_some(), self.max_full_evals.is_some()];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(OptimizeError::config(
                "gepa: set exactly one of auto, max_metric_calls and max_full_evals (the budget)",
            ));
        }
        let (train, val) = (task.trainset.len(), task.valset.len());
        let budget = match (self.auto, self.max_metric_calls, self.max_full_evals) {
            (Some(a), _, _) => auto_metric_calls(task.program.predictors.len(), auto_candidates(a), val),
            (_, Some(m), _) => m,
            (_, _, Some(f)) => f * (train + val) as u64,
            _ => 0,
        };
        let costs = Costs {
            valset: val as u64,
            minibatch: self.reflection_minibatch_size.min(train) as u64,
            merge_subsample: MERGE_SUBSAMPLE.min(val) as u64,
        };
        Ok(Resolved { max_metric_calls: budget, costs, proposals: costs.proposals(budget) })
    }

    /// Predictors one iteration changes.
    fn predictors_per_iteration(&self, task: &OptimizeTask) -> u64 {
        match self.module_selector {
            ModuleSelector::RoundRobin => 1,
            ModuleSelector::All => task.program.predictors.len() as u64,
        }
    }

    fn check_numbers(&self) -> Result<()> {
        let bad = |m: String| Err(OptimizeError::config(format!("gepa: {m}")));
        if self.reflection_minibatch_size == 0 {
            return bad("reflection_minibatch_size must be at least 1".into());
        }
        if !(1..=64).contains(&self.parallel_proposals) {
            return bad(format!("parallel_proposals {} must be between 1 and 64", self.parallel_proposals));
        }
        if !(self.perfect_score.is_finite()
            && self.failure_score.is_finite()
            && self.failure_score < self.perfect_score)
        {
            return bad(format!(
                "failure_score {} must be a number below perfect_score {}",
                self.failure_score, self.perfect_score
            ));
        }
        if !self.reflection_temperature.is_finite() || self.reflection_temperature < 0.0 {
            return bad(format!("reflection_temperature {} must be at least 0", self.reflection_temperature));
        }
        if self.max_instruction_chars < 100 || self.max_reflection_chars < 1000 {
            return bad("max_instruction_chars must be at least 100 and max_reflection_chars at least 1000".into());
        }
        if self.score_threshold.is_some_and(|t| !t.is_finite()) {
            return bad("score_threshold must be a number".into());
        }
        if self.max_reflection_cost_usd.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return bad("max_reflection_cost_usd must be a positive number".into());
        }
        if self.no_improvement_iterations == Some(0) {
            return bad("no_improvement_iterations must be at least 1".into());
        }
        Ok(())
    }
}

#[async_trait]
impl Optimizer for Gepa {
    fn name(&self) -> &'static str {
        "gepa"
    }

    fn params(&self) -> Value {
        json!({
            "auto": self.auto,
            "max_metric_calls": self.max_metric_calls,
            "max_full_evals": self.max_full_evals,
            "reflection_minibatch_size": self.reflection_minibatch_size,
            "candidate_selection_strategy": self.candidate_selection_strategy,
            "frontier_type": self.frontier_type,
            "module_selector": self.module_selector,
            "parallel_proposals": self.parallel_proposals,
            "skip_perfect_score": self.skip_perfect_score,
            "add_format_failure_as_feedback": self.add_format_failure_as_feedback,
            "use_merge": self.use_merge,
            "max_merge_invocations": self.max_merge_invocations,
            "failure_score": self.failure_score,
            "perfect_score": self.perfect_score,
            "reflection_temperature": self.reflection_temperature,
            "max_instruction_chars": self.max_instruction_chars,
            "max_reflection_chars": self.max_reflection_chars,
            "no_improvement_iterations": self.no_improvement_iterations,
            "score_threshold": self.score_threshold,
            "stop_file": self.stop_file,
            "max_reflection_cost_usd": self.max_reflection_cost_usd,
            "objectives": self.objectives,
        })
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        require_examples(task, 1, "gepa")?;
        if self.frontier_type != FrontierType::Instance && self.objective_columns().len() < 2 {
            return Err(OptimizeError::config(format!(
                "gepa: frontier_type {} keeps the candidates best on each objective: give an objective besides the \
                 score (--objective tokens:min, latency:min, cost:min or length:min)",
                serde_json::to_value(self.frontier_type).unwrap_or_default().as_str().unwrap_or_default()
            )));
        }
        if task.program.predictors.is_empty() {
            return Err(OptimizeError::config("gepa: the program has no predictor"));
        }
        self.check_numbers()?;
        let r = self.resolve(task)?;
        let c = r.costs;
        if r.max_metric_calls < c.least_budget() {
            return Err(OptimizeError::config(format!(
                "gepa: a budget of {} metric calls buys no proposal: scoring the program as written takes {} (the \
                 validation set), and one proposal needs up to {} more ({} to run the parent on a minibatch, {} for \
                 the child, {} to score an accepted child on the validation set); give max_metric_calls of at least {} \
                 (or a smaller validation set)",
                r.max_metric_calls,
                c.valset,
                c.reflection(),
                c.minibatch,
                c.minibatch,
                c.valset,
                c.least_budget()
            )));
        }
        Ok(())
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        let Ok(r) = self.resolve(task) else { return Plan::default() };
        let (least, most) = r.proposals;
        Plan {
            task_calls: r.max_metric_calls,
            proposer_calls: most * self.predictors_per_iteration(task) * 4,
            trials: r.costs.max_trials(r.max_metric_calls),
            notes: vec![
                format!(
                    "a budget of {} metric calls (never exceeded: a step starts only when the rest covers its worst \
                     case); the program as written takes {} (the validation set)",
                    r.max_metric_calls, r.costs.valset
                ),
                format!(
                    "it buys between {least} and {most} proposals: each runs the parent and the child on a minibatch \
                     of {} ({} calls), and an accepted child costs {} more for its validation score",
                    r.costs.minibatch,
                    2 * r.costs.minibatch,
                    r.costs.valset
                ),
                "upper bounds: task calls count one program run per metric call (cached rollouts cost none; a \
                 JSON-mode retry after an unparsable answer comes on top), proposer calls count a re-ask and a \
                 JSON-mode retry for every proposal"
                    .into(),
            ],
            ..Plan::default()
        }
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        self.validate(task)?;
        let r = self.resolve(task)?;
        search::Search::new(self, engine, task, r)?.run().await
    }
}
