//! The optimizers, thin strategies over the shared [`Engine`]. A trial that scores a candidate
//! on the whole validation set offers it to the engine's Pareto front and its best candidates
//! when the run keeps them ([`Engine::keep_front`], [`Engine::keep_best`]), whichever optimizer
//! runs.

pub mod bootstrap;
pub mod copro;
pub mod evolutionary;
pub mod gepa;
pub mod labeled;
pub mod mipro;
pub mod portfolio;
pub(crate) mod proposal_guard;
pub mod proposer;
pub mod random_search;
pub mod warm;

use crate::engine::{mean_score, state_hash, Engine, Rollout, Stop};
use crate::error::{OptimizeError, Result};
use crate::events::{Event, TrialKind};
use crate::pareto::{FrontPoint, Measures};
use async_trait::async_trait;
use promptsmith_core::{Demo, Example, Program, ProgramState};
use promptsmith_eval::Metric;
use promptsmith_lm::LmRole;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// What an optimizer works on.
#[derive(Clone)]
pub struct OptimizeTask {
    /// The program (its own instructions and demos are the baseline).
    pub program: Program,
    /// Examples to draw demos from.
    pub trainset: Vec<Example>,
    /// Examples candidates are scored on.
    pub valset: Vec<Example>,
    /// The metric.
    pub metric: Arc<dyn Metric>,
}

impl std::fmt::Debug for OptimizeTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptimizeTask")
            .field("program", &self.program.name)
            .field("train", &self.trainset.len())
            .field("val", &self.valset.len())
            .field("metric", &self.metric.name())
            .finish()
    }
}

/// Planned spending, for `--dry-run`: upper bounds on calls by role. An optimizer's
/// [`Optimizer::plan`] counts program runs (one example through the whole program) for the
/// task and teacher roles; [`crate::run::check`] turns them into model calls with
/// [`Plan::in_model_calls`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Task-model calls (evaluations; bootstrapping with the task model as teacher excluded).
    pub task_calls: u64,
    /// Teacher calls (bootstrapping).
    pub teacher_calls: u64,
    /// Proposer calls.
    pub proposer_calls: u64,
    /// Trials (candidate evaluations).
    pub trials: u64,
    /// Human-readable notes on how the numbers were computed.
    pub notes: Vec<String>,
}

impl Plan {
    /// All calls.
    pub fn total_calls(&self) -> u64 {
        self.task_calls + self.teacher_calls + self.proposer_calls
    }

    /// The plan with the held-out test split scored for the report: the program as written and
    /// the result, `n` program runs each, at `calls_per_run` model calls a run.
    pub fn with_test_split(mut self, n: usize, calls_per_run: u64) -> Plan {
        if n > 0 {
            self.task_calls = self.task_calls.saturating_add((2 * n as u64).saturating_mul(calls_per_run));
            self.notes
                .push(format!("the report scores the program as written and the result on the {n} test examples"));
        }
        self
    }

    /// The plan with task and teacher program runs turned into model calls, at
    /// `calls_per_run` calls each (see [`promptsmith_core::Program::planned_calls_per_run`]).
    pub fn in_model_calls(mut self, calls_per_run: u64) -> Plan {
        if calls_per_run > 1 {
            self.task_calls = self.task_calls.saturating_mul(calls_per_run);
            self.teacher_calls = self.teacher_calls.saturating_mul(calls_per_run);
            self.notes.push(format!(
                "task and teacher calls: {calls_per_run} model calls per program run (every step, every attempt \
                 of a wrapper or of constraint retries, judge rewards, ensemble members)"
            ));
        }
        self
    }
}

/// What an optimizer returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The best state found.
    pub state: ProgramState,
    /// Its score on the full validation set, when it was evaluated on it.
    pub val_score: Option<f64>,
    /// Why the search stopped early, if it did (budget, cancellation).
    pub stopped: Option<Stop>,
    /// Optimizer-specific details for the report (candidates, proposals, ...).
    pub details: Value,
}

impl Outcome {
    /// A search stopped before it found anything: the task's own state, and why.
    pub fn stopped_at_start(task: &OptimizeTask, stop: &Stop) -> Outcome {
        Outcome { state: task.program.state(), val_score: None, stopped: Some(stop.clone()), details: Value::Null }
    }
}

/// An optimization strategy.
#[async_trait]
pub trait Optimizer: Send + Sync {
    /// The optimizer's id (`bootstrap`, `mipro`, ...).
    fn name(&self) -> &'static str;
    /// Its settings, for reports.
    fn params(&self) -> Value;
    /// Checks settings and data before any LM call.
    fn validate(&self, task: &OptimizeTask) -> Result<()>;
    /// Upper bounds on the calls it will make.
    fn plan(&self, task: &OptimizeTask) -> Plan;
    /// Runs the search.
    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome>;
}

/// A candidate: a state and the program it makes.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The state (an overlay on the task's program).
    pub state: ProgramState,
    /// The program with the state applied.
    pub program: Program,
    /// Content hash of the state.
    pub id: String,
}

impl Candidate {
    /// The candidate made by applying `state` to `base`.
    pub fn new(base: &Program, state: ProgramState) -> Result<Self> {
        let program = base.with_state(&state)?;
        Ok(Candidate { id: state_hash(&state), state, program })
    }
}

/// Evaluates a candidate on `examples` as a trial: emits events, records the trial.
pub(crate) async fn trial(
    engine: &Engine,
    task: &OptimizeTask,
    candidate: &Candidate,
    examples: &[Example],
    kind: TrialKind,
    params: Value,
) -> Result<std::result::Result<(f64, Vec<Rollout>), Stop>> {
    let ran = trials(engine, task, vec![(candidate, examples, params)], kind).await?;
    Ok(ran.map(|mut one| one.remove(0)))
}

/// Several trials of `kind` run at once, recorded in the order given (so their numbers do not
/// depend on which finished first); the first stop, if any run was stopped.
pub(crate) async fn trials(
    engine: &Engine,
    task: &OptimizeTask,
    runs: Vec<(&Candidate, &[Example], Value)>,
    kind: TrialKind,
) -> Result<std::result::Result<Vec<(f64, Vec<Rollout>)>, Stop>> {
    let first = engine.next_trial_number();
    for (i, (_, examples, _)) in runs.iter().enumerate() {
        engine.emit(Event::TrialStarted { number: first + i, kind, n: examples.len() });
    }
    let evaluated = futures::future::join_all(
        runs.iter().map(|(c, examples, _)| engine.evaluate(&c.program, &c.id, examples, &task.metric, LmRole::Task, 0)),
    )
    .await;
    let mut out = Vec::with_capacity(runs.len());
    for ((c, examples, params), result) in runs.into_iter().zip(evaluated) {
        let rollouts = match result {
            Ok(rollouts) => rollouts,
            Err(stop) => return Ok(Err(stop)),
        };
        let score = mean_score(&rollouts);
        let record = engine.record_trial(kind, &c.id, params, score, rollouts.len())?;
        // A full validation pass is offered to the engine's keepers (Pareto front, ensemble).
        if kind == TrialKind::Full && examples.len() == task.valset.len() && engine.keeps_scored() {
            engine.offer_scored(FrontPoint {
                candidate: c.id.clone(),
                trial: Some(record.number),
                measures: Measures::of(&rollouts, &c.program),
                state: c.state.clone(),
            });
        }
        out.push((score, rollouts));
    }
    Ok(Ok(out))
}

/// An optimizer's report `details` with `key` set to `value`, for wrappers that add their own
/// part (an object is kept as is; anything else moves under `optimizer`).
pub(crate) fn with_detail(details: Value, key: &str, value: Value) -> Value {
    let mut map = match details {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        other => serde_json::Map::from_iter([("optimizer".to_string(), other)]),
    };
    map.insert(key.into(), value);
    Value::Object(map)
}

/// A labeled demo: the example's fields (inputs and labels).
pub(crate) fn labeled_demo(example: &Example) -> Demo {
    example.fields.clone()
}

/// The task's state with every predictor's demos replaced.
pub(crate) fn with_demos(base: &ProgramState, demos: &std::collections::BTreeMap<String, Vec<Demo>>) -> ProgramState {
    let mut state = base.clone();
    for (name, p) in state.predictors.iter_mut() {
        p.demos = demos.get(name).cloned().unwrap_or_default();
    }
    state
}

/// Checks the shared requirements on the data.
pub(crate) fn require_examples(task: &OptimizeTask, min_train: usize, what: &str) -> Result<()> {
    if task.valset.is_empty() {
        return Err(OptimizeError::config(format!("{what}: the validation set is empty")));
    }
    if task.trainset.len() < min_train {
        return Err(OptimizeError::config(format!(
            "{what}: needs at least {min_train} training example(s), got {}",
            task.trainset.len()
        )));
    }
    Ok(())
}
