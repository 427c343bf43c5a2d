//! Running an optimizer end to end: check everything before the first call, score the baseline,
//! search, score the result on the validation set and on a held-out test split, report.

use crate::budget::Spend;
use crate::engine::{mean_score, state_hash, Engine, Stop};
use crate::error::{OptimizeError, Result};
use crate::events::{Event, TrialRecord};
use crate::optimizers::{Candidate, OptimizeTask, Optimizer, Plan};
use promptsmith_core::{Example, ProgramState};
use promptsmith_lm::LmRole;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Examples below which an optimization refuses to run.
pub const MIN_EXAMPLES: usize = 6;
/// Examples below which a result may not generalise (a warning).
pub const WARN_EXAMPLES: usize = 50;
/// Largest validation set made by [`split_like_dspy`].
pub const MAX_AUTO_VALSET: usize = 1000;

/// Scores of one state on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitScore {
    /// Mean score.
    pub score: f64,
    /// Examples scored.
    pub n: usize,
    /// Per-example scores, in split order (for paired comparisons).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<f64>,
}

/// What an optimization run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Optimizer id.
    pub optimizer: String,
    /// Optimizer settings.
    pub params: Value,
    /// Run seed.
    pub seed: u64,
    /// Training, validation and test examples.
    pub sizes: (usize, usize, usize),
    /// Baseline on the validation set.
    pub baseline_val: Option<SplitScore>,
    /// Result on the validation set.
    pub final_val: Option<SplitScore>,
    /// Baseline on the held-out test split.
    pub baseline_test: Option<SplitScore>,
    /// Result on the held-out test split.
    pub final_test: Option<SplitScore>,
    /// Content hash of the resulting state.
    pub state_hash: String,
    /// Every trial.
    pub trials: Vec<TrialRecord>,
    /// Spending by role (calls answered from a resumed run's journal included).
    pub spent: Spend,
    /// Calls this process sent to a model (the rest came from the journal).
    pub live_calls: u64,
    /// Wall time in seconds (this process).
    pub wall_seconds: f64,
    /// Why the search stopped early, if it did.
    pub stopped: Option<Stop>,
    /// Optimizer-specific details.
    pub details: Value,
    /// Warnings (small data, checkpoint trouble).
    pub warnings: Vec<String>,
    /// The optimizer's own result, when it scored below the program as written on the
    /// validation set and the program as written was kept instead (see [`RunOptions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<RejectedResult>,
}

/// An optimizer's result that was not kept because it scored below the baseline on validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedResult {
    /// The optimizer's state.
    pub state: ProgramState,
    /// Its content hash.
    pub state_hash: String,
    /// Its score on the validation set.
    pub val: SplitScore,
}

/// How [`run_with`] treats the optimizer's result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOptions {
    /// Keep the optimizer's result even when it scores below the program as written on the
    /// validation set. Off by default: then the program as written is kept, and the result is
    /// reported under [`RunReport::rejected`] (an optimizer that makes a program worse on the
    /// examples it was judged on should not hand that program back as "optimized").
    pub keep_regression: bool,
}

/// DSPy's split when no validation set is given: the last 80% of the (seed-shuffled) examples,
/// at most 1000, become the validation set and the rest the training set.
pub fn split_like_dspy(mut examples: Vec<Example>, seed: u64) -> Result<(Vec<Example>, Vec<Example>)> {
    if examples.len() < MIN_EXAMPLES {
        return Err(OptimizeError::config(format!(
            "only {} example(s): an optimization needs at least {MIN_EXAMPLES}",
            examples.len()
        )));
    }
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    examples.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let val = ((examples.len() as f64 * 0.8) as usize).clamp(1, MAX_AUTO_VALSET);
    let cut = examples.len() - val;
    let valset = examples.split_off(cut);
    Ok((examples, valset))
}

/// Checks the task and the optimizer's settings; returns the plan and warnings. Makes no call.
pub fn check(optimizer: &dyn Optimizer, task: &OptimizeTask) -> Result<(Plan, Vec<String>)> {
    task.program.validate().map_err(|e| OptimizeError::config(format!("program: {e}")))?;
    let total = task.trainset.len() + task.valset.len();
    if total < MIN_EXAMPLES {
        return Err(OptimizeError::config(format!(
            "only {total} example(s) in the training and validation sets: an optimization needs at least {MIN_EXAMPLES}"
        )));
    }
    let inputs = task.program.input_fields();
    for (set, examples) in [("training", &task.trainset), ("validation", &task.valset)] {
        for (i, ex) in examples.iter().enumerate() {
            if let Some(missing) = inputs.iter().find(|f| ex.get(f).is_none()) {
                return Err(OptimizeError::config(format!(
                    "{set} example {} lacks the program input '{missing}'",
                    i + 1
                )));
            }
        }
    }
    optimizer.validate(task)?;
    let mut warnings = Vec::new();
    if total < WARN_EXAMPLES {
        warnings.push(format!("only {total} examples: the result may not generalise (50 or more are recommended)"));
    }
    Ok((optimizer.plan(task).in_model_calls(task.program.planned_calls_per_run()), warnings))
}

/// Scores `state` on `examples` through the engine (rollout cache, budget); `None` when there
/// are no examples or the budget ran out.
pub async fn score(
    engine: &Engine,
    task: &OptimizeTask,
    state: &ProgramState,
    examples: &[Example],
) -> Option<SplitScore> {
    if examples.is_empty() {
        return None;
    }
    let c = Candidate::new(&task.program, state.clone()).ok()?;
    let rollouts = engine.evaluate(&c.program, &c.id, examples, &task.metric, LmRole::Task, 0).await.ok()?;
    Some(SplitScore {
        score: mean_score(&rollouts),
        n: rollouts.len(),
        scores: rollouts.iter().map(|r| r.score).collect(),
    })
}

/// Why the test split went unscored, when it was given and a side of it was not scored.
fn unscored_test(
    engine: &Engine,
    testset: &[Example],
    baseline: &Option<SplitScore>,
    result: &Option<SplitScore>,
) -> Option<String> {
    let which = match (testset.is_empty(), baseline.is_some(), result.is_some()) {
        (true, _, _) | (false, true, true) => return None,
        (false, false, false) => "the program as written and the result",
        (false, true, false) => "the result",
        (false, false, true) => "the program as written",
    };
    let why = engine.should_stop().map_or_else(|| "the run stopped first".to_string(), |s| s.to_string());
    Some(format!("the test split was not scored for {which} ({why}): give the run a larger budget to see both"))
}

/// Runs `optimizer` on `task` with the default [`RunOptions`] (a result that scores below the
/// program as written on validation is not kept).
pub async fn run(
    optimizer: &dyn Optimizer,
    engine: &Engine,
    task: &OptimizeTask,
    testset: &[Example],
) -> Result<(ProgramState, RunReport)> {
    run_with(optimizer, engine, task, testset, RunOptions::default()).await
}

/// Runs `optimizer` on `task` and scores baseline and result on the validation set and on
/// `testset` (skipped when empty or when the budget ran out).
pub async fn run_with(
    optimizer: &dyn Optimizer,
    engine: &Engine,
    task: &OptimizeTask,
    testset: &[Example],
    options: RunOptions,
) -> Result<(ProgramState, RunReport)> {
    let (_, mut warnings) = check(optimizer, task)?;
    for w in &warnings {
        engine.emit(Event::Message(format!("warning: {w}")));
    }
    let base = task.program.state();
    let outcome = optimizer.optimize(engine, task).await?;
    engine.emit(Event::Phase { name: "report".into(), steps: None });
    // The optimizers score the baseline on the validation set already (rollout cache).
    let baseline_val = score(engine, task, &base, &task.valset).await;
    let final_val = match (outcome.val_score, task.valset.len()) {
        (Some(s), n) if state_hash(&outcome.state) != state_hash(&base) || baseline_val.is_none() => {
            score(engine, task, &outcome.state, &task.valset).await.or(Some(SplitScore {
                score: s,
                n,
                scores: Vec::new(),
            }))
        }
        _ => score(engine, task, &outcome.state, &task.valset).await,
    };
    let (state, final_val, rejected) = match (&baseline_val, final_val) {
        (Some(base_val), Some(f)) if !options.keep_regression && f.score < base_val.score => {
            let rejected = RejectedResult { state_hash: state_hash(&outcome.state), state: outcome.state, val: f };
            (base.clone(), baseline_val.clone(), Some(rejected))
        }
        (_, f) => (outcome.state, f, None),
    };
    let baseline_test = score(engine, task, &base, testset).await;
    let final_test = score(engine, task, &state, testset).await;
    if let Some(failure) = engine.lm_failure() {
        return Err(OptimizeError::LmFailed(failure));
    }
    if let Some(e) = engine.checkpoint_error() {
        warnings.push(format!("a checkpoint write failed, so this run cannot be resumed exactly: {e}"));
    }
    if let Some(w) = unscored_test(engine, testset, &baseline_test, &final_test) {
        engine.emit(Event::Message(format!("warning: {w}")));
        warnings.push(w);
    }
    let report = RunReport {
        optimizer: optimizer.name().to_string(),
        params: optimizer.params(),
        seed: engine.config().seed,
        sizes: (task.trainset.len(), task.valset.len(), testset.len()),
        baseline_val,
        final_val,
        baseline_test,
        final_test,
        state_hash: state_hash(&state),
        trials: engine.trials(),
        spent: engine.spent(),
        live_calls: engine.live_calls(),
        wall_seconds: engine.elapsed_seconds(),
        stopped: outcome.stopped,
        details: outcome.details,
        warnings,
        rejected,
    };
    Ok((state, report))
}
