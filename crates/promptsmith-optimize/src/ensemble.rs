//! Ensembles of an optimizer's best candidates: [`WithEnsemble`] makes the engine keep the
//! `size` best distinct candidates scored on the whole validation set ([`TopCandidates`]), runs
//! the optimizer, offers the program as written and the optimizer's result too, then scores the
//! majority vote of the kept candidates on the validation set (as DSPy's `Ensemble` teleprompter
//! over the top candidate programs, but measured). The ensemble is the result only when it
//! scores strictly above the optimizer's own result; the report's details say why either way.

use crate::engine::{Engine, Stop};
use crate::error::{OptimizeError, Result};
use crate::events::{Event, TrialKind};
use crate::objectives::offer;
use crate::optimizers::{trial, with_detail, Candidate, OptimizeTask, Optimizer, Outcome, Plan};
use crate::pareto::FrontPoint;
use async_trait::async_trait;
use promptsmith_core::EnsembleState;
use serde_json::{json, Value};

/// Most members an ensemble may have.
pub const MAX_ENSEMBLE: usize = 15;

/// The best distinct candidates offered so far, best first (ties: the shorter prompt, then the
/// earlier offer), at most `size` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct TopCandidates {
    size: usize,
    points: Vec<FrontPoint>,
}

impl TopCandidates {
    /// Keeps at most `size`.
    pub fn new(size: usize) -> Self {
        Self { size, points: Vec::new() }
    }

    /// Offers a scored candidate (one already kept is ignored).
    pub fn offer(&mut self, point: &FrontPoint) {
        if self.points.iter().any(|p| p.candidate == point.candidate) {
            return;
        }
        let key = |p: &FrontPoint| (-p.measures.score, p.measures.length);
        let at = self.points.iter().position(|p| key(point) < key(p)).unwrap_or(self.points.len());
        if at < self.size {
            self.points.insert(at, point.clone());
            self.points.truncate(self.size);
        }
    }

    /// The kept candidates, best first.
    pub fn points(&self) -> &[FrontPoint] {
        &self.points
    }
}

/// An optimizer whose result may be a majority-vote ensemble of its best candidates.
pub struct WithEnsemble {
    /// The optimizer that searches.
    pub inner: Box<dyn Optimizer>,
    /// Members of the ensemble (2 to [`MAX_ENSEMBLE`]).
    pub size: usize,
    /// Outputs voted on (empty: every output but `reasoning`).
    pub fields: Vec<String>,
}

impl std::fmt::Debug for WithEnsemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithEnsemble").field("inner", &self.inner.name()).field("size", &self.size).finish()
    }
}

#[async_trait]
impl Optimizer for WithEnsemble {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn params(&self) -> Value {
        let ensemble = json!({"size": self.size, "fields": self.fields});
        match self.inner.params() {
            Value::Object(mut map) => {
                map.insert("ensemble".into(), ensemble);
                Value::Object(map)
            }
            other => json!({"optimizer": other, "ensemble": ensemble}),
        }
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        if !(2..=MAX_ENSEMBLE).contains(&self.size) {
            return Err(OptimizeError::config(format!(
                "ensemble: expected 2 to {MAX_ENSEMBLE} members, got {}",
                self.size
            )));
        }
        if task.program.ensemble.is_some() {
            return Err(OptimizeError::config("ensemble: the program is an ensemble already"));
        }
        let outputs = task.program.output_fields();
        if let Some(f) = self.fields.iter().find(|f| !outputs.contains(f)) {
            return Err(OptimizeError::config(format!(
                "ensemble: '{f}' is not an output of the program (outputs: {})",
                outputs.join(", ")
            )));
        }
        if task.valset.is_empty() {
            return Err(OptimizeError::config("ensemble: the validation set is empty"));
        }
        self.inner.validate(task)
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        let mut plan = self.inner.plan(task);
        let val = task.valset.len() as u64;
        plan.task_calls += val * (2 + self.size as u64);
        plan.trials += 1;
        plan.notes.push(format!(
            "ensemble of the {} best candidates: the program as written and the result are scored on the \
             validation set (free when the optimizer did: the rollout cache answers), then the ensemble, one run \
             per member and example ({} runs)",
            self.size,
            val * self.size as u64
        ));
        plan
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        engine.keep_best(self.size);
        let outcome = self.inner.optimize(engine, task).await?;
        if outcome.stopped.is_some() {
            return Ok(with_ensemble(outcome, json!({"kept": false, "why": "the search stopped early"})));
        }
        for state in [task.program.state(), outcome.state.clone()] {
            if let Err(stop) = offer(engine, task, state).await? {
                return Ok(stopped(outcome, stop));
            }
        }
        let best = engine.best();
        if best.len() < 2 {
            let why = "fewer than two distinct candidates were scored on the validation set";
            return Ok(with_ensemble(outcome, json!({"kept": false, "why": why})));
        }
        let members: Vec<Value> =
            best.iter().map(|p| json!({"candidate": p.candidate, "score": p.measures.score})).collect();
        let mut state = outcome.state.clone();
        state.ensemble = Some(EnsembleState {
            members: best.iter().map(|p| p.state.clone()).collect(),
            fields: self.fields.clone(),
        });
        let candidate = Candidate::new(&task.program, state)?;
        let params = json!({"ensemble": best.iter().map(|p| p.candidate.clone()).collect::<Vec<_>>()});
        let score = match trial(engine, task, &candidate, &task.valset, TrialKind::Full, params).await? {
            Ok((score, _)) => score,
            Err(stop) => return Ok(stopped(outcome, stop)),
        };
        let single = outcome.val_score.unwrap_or(best[0].measures.score);
        let kept = score > single;
        let why = if kept {
            format!("the ensemble scored {score:.4} on the validation set, above the result's {single:.4}")
        } else {
            format!("the ensemble scored {score:.4} on the validation set, not above the result's {single:.4}: the result is kept")
        };
        engine.emit(Event::Message(format!("ensemble of {}: {why}", best.len())));
        let report = json!({"kept": kept, "why": why, "score": score, "result_score": single, "members": members,
                            "candidate": candidate.id});
        if !kept {
            return Ok(with_ensemble(outcome, report));
        }
        let details = with_ensemble(outcome, report).details;
        Ok(Outcome { state: candidate.state, val_score: Some(score), stopped: None, details })
    }
}

fn stopped(outcome: Outcome, stop: Stop) -> Outcome {
    let mut o =
        with_ensemble(outcome, json!({"kept": false, "why": "the budget ran out before the ensemble was scored"}));
    o.stopped = Some(stop);
    o
}

/// `outcome` with `ensemble` added to its details (an object is kept; anything else moves under
/// `optimizer`).
fn with_ensemble(mut outcome: Outcome, ensemble: Value) -> Outcome {
    outcome.details = with_detail(std::mem::take(&mut outcome.details), "ensemble", ensemble);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pareto::Measures;
    use promptsmith_core::ProgramState;

    fn point(id: &str, score: f64, length: f64) -> FrontPoint {
        let state = ProgramState { format_version: 1, program: None, predictors: Default::default(), ensemble: None };
        FrontPoint {
            candidate: id.into(),
            trial: None,
            measures: Measures { score, length, ..Measures::default() },
            state,
        }
    }

    #[test]
    fn the_best_distinct_candidates_are_kept_best_first() {
        let mut top = TopCandidates::new(3);
        for (id, score, len) in
            [("a", 0.5, 10.0), ("b", 0.9, 50.0), ("c", 0.7, 10.0), ("b", 0.9, 50.0), ("d", 0.9, 20.0)]
        {
            top.offer(&point(id, score, len));
        }
        let ids: Vec<&str> = top.points().iter().map(|p| p.candidate.as_str()).collect();
        assert_eq!(ids, ["d", "b", "c"], "by score, ties to the shorter prompt, repeats ignored");
        top.offer(&point("e", 0.1, 1.0));
        assert_eq!(top.points().len(), 3);
        assert!(top.points().iter().all(|p| p.candidate != "e"));
    }

    #[test]
    fn details_gain_the_ensemble() {
        let o = Outcome { state: point("x", 0.0, 0.0).state, val_score: None, stopped: None, details: json!({"a": 1}) };
        assert_eq!(with_ensemble(o.clone(), json!(2)).details, json!({"a": 1, "ensemble": 2}));
        let o = Outcome { details: json!([1]), ..o };
        assert_eq!(with_ensemble(o, json!(2)).details, json!({"optimizer": [1], "ensemble": 2}));
    }
}
