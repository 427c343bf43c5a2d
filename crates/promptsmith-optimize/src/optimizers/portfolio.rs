//! Several optimizers in one run (the service's `algorithms`): each runs in turn on the same
//! engine, so they share its budget, its rollout cache (a candidate two of them try is scored
//! once) and its journal (a resumed run replays them in order), and the best on the full
//! validation set is kept. The report lists every member's score and details.

use super::{trial, Candidate, OptimizeTask, Optimizer, Outcome, Plan};
use crate::engine::Engine;
use crate::error::{OptimizeError, Result};
use crate::events::{Event, TrialKind};
use async_trait::async_trait;
use serde_json::{json, Value};

/// The prefix of the [`Event::Phase`] that says which member starts (the service shows it as
/// the job's current `algorithm`).
pub const ALGORITHM_PHASE: &str = "algorithm:";

/// The member a phase event announces, if it is one.
pub fn algorithm_of(event: &Event) -> Option<&str> {
    match event {
        Event::Phase { name, .. } => name.strip_prefix(ALGORITHM_PHASE),
        _ => None,
    }
}

/// Runs `members` one after the other and keeps the best.
pub struct Portfolio {
    /// The optimizers, in the order they run.
    pub members: Vec<Box<dyn Optimizer>>,
}

impl std::fmt::Debug for Portfolio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.members.iter().map(|m| m.name()).collect();
        f.debug_struct("Portfolio").field("members", &names).finish()
    }
}

#[async_trait]
impl Optimizer for Portfolio {
    fn name(&self) -> &'static str {
        "portfolio"
    }

    fn params(&self) -> Value {
        let members: Vec<Value> =
            self.members.iter().map(|m| json!({"name": m.name(), "params": m.params()})).collect();
        json!({ "algorithms": members })
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        if self.members.is_empty() {
            return Err(OptimizeError::config("algorithms: name at least one optimizer"));
        }
        for m in &self.members {
            m.validate(task).map_err(|e| OptimizeError::config(format!("algorithms: {}: {e}", m.name())))?;
        }
        Ok(())
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        let mut total = Plan::default();
        for m in &self.members {
            let p = m.plan(task);
            total.task_calls += p.task_calls;
            total.teacher_calls += p.teacher_calls;
            total.proposer_calls += p.proposer_calls;
            total.trials += p.trials + 1;
            total.notes.push(format!("{}: {} calls, {} trials", m.name(), p.total_calls(), p.trials));
            total.notes.extend(p.notes.into_iter().map(|n| format!("{}: {n}", m.name())));
        }
        total.task_calls += task.valset.len() as u64 * self.members.len() as u64;
        total.notes.push(
            "each result is scored on the full validation set (free when the optimizer already did: the rollout \
             cache answers); the best is kept; the budget is shared, and the members after one it stopped do not run"
                .into(),
        );
        total
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        let mut runs = Vec::with_capacity(self.members.len());
        let mut best: Option<(f64, usize, Outcome)> = None;
        let mut stopped = None;
        for (i, member) in self.members.iter().enumerate() {
            if let Some(stop) = &stopped {
                runs.push(json!({"name": member.name(), "ran": false, "why": format!("not run: {stop}")}));
                continue;
            }
            engine.emit(Event::Phase { name: format!("{ALGORITHM_PHASE}{}", member.name()), steps: None });
            engine.emit(Event::Message(format!("algorithm {}/{}: {}", i + 1, self.members.len(), member.name())));
            let outcome = member.optimize(engine, task).await?;
            let score = match (outcome.val_score, &outcome.stopped) {
                (Some(s), _) => Some(s),
                (None, Some(_)) => None,
                (None, None) => {
                    let candidate = Candidate::new(&task.program, outcome.state.clone())?;
                    let params = json!({"algorithm": member.name(), "result": true});
                    match trial(engine, task, &candidate, &task.valset, TrialKind::Full, params).await? {
                        Ok((s, _)) => Some(s),
                        Err(stop) => {
                            stopped = Some(stop);
                            None
                        }
                    }
                }
            };
            runs.push(json!({
                "name": member.name(),
                "ran": true,
                "val_score": score,
                "stopped": outcome.stopped.as_ref().map(ToString::to_string),
                "details": outcome.details,
            }));
            if stopped.is_none() {
                stopped = outcome.stopped.clone();
            }
            if let Some(s) = score.filter(|s| best.as_ref().is_none_or(|(b, ..)| s > b)) {
                best = Some((s, i, outcome));
            }
        }
        let best_name = best.as_ref().map(|(_, i, _)| self.members[*i].name());
        let details = json!({ "algorithms": runs, "best": best_name });
        Ok(match best {
            Some((score, _, o)) => Outcome { state: o.state, val_score: Some(score), stopped, details },
            None => Outcome { state: task.program.state(), val_score: None, stopped, details },
        })
    }
}
