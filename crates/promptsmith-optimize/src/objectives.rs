//! Multi-objective runs for any optimizer: [`WithObjectives`] makes the engine keep the Pareto
//! front (over the [`Selection`]'s objectives) of every candidate a trial scores on the whole
//! validation set, runs the optimizer, offers the program as written and the optimizer's own
//! result too, and returns the front's pick (by weights or in objective order, within the
//! constraints; at equal score the shorter prompt). The report's details gain `pareto`: the
//! front with each point's measures, its hypervolume and why the pick was made.

use crate::engine::{Engine, Stop};
use crate::error::{OptimizeError, Result};
use crate::events::Event;
use crate::optimizers::{with_detail, Candidate, OptimizeTask, Optimizer, Outcome, Plan};
use crate::pareto::{Archive, FrontPoint, Measure, Measures, Selection};
use async_trait::async_trait;
use promptsmith_core::ProgramState;
use promptsmith_lm::LmRole;
use serde_json::{json, Value};

/// An optimizer whose result is picked from the run's Pareto front.
pub struct WithObjectives {
    /// The optimizer that searches.
    pub inner: Box<dyn Optimizer>,
    /// The objectives, constraints and how the pick is made.
    pub selection: Selection,
}

impl std::fmt::Debug for WithObjectives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithObjectives").field("inner", &self.inner.name()).field("selection", &self.selection).finish()
    }
}

#[async_trait]
impl Optimizer for WithObjectives {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn params(&self) -> Value {
        let mut p = self.inner.params();
        let sel = json!({"objectives": self.selection.objectives, "constraints": self.selection.constraints});
        match p.as_object_mut() {
            Some(map) => {
                map.insert("selection".into(), sel);
            }
            None => p = json!({"optimizer": p, "selection": sel}),
        }
        p
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        if task.valset.is_empty() {
            return Err(OptimizeError::config("objectives: the validation set is empty"));
        }
        self.inner.validate(task)
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        let mut plan = self.inner.plan(task);
        let bounds: Vec<String> = self
            .selection
            .constraints
            .iter()
            .map(|c| match (c.max, c.min) {
                (Some(m), _) => format!("{} <= {m}", c.measure.as_str()),
                (_, Some(m)) => format!("{} >= {m}", c.measure.as_str()),
                _ => c.measure.as_str().to_string(),
            })
            .collect();
        let within = if bounds.is_empty() { String::new() } else { format!(" within {}", bounds.join(", ")) };
        plan.notes.push(format!(
            "objectives {}{within}: the front is kept over every candidate scored on the whole validation set; the \
             program as written and the optimizer's result join it (the report scores both there anyway: no extra \
             calls)",
            self.selection.objectives.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ));
        plan
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        engine.keep_front(self.selection.clone());
        let outcome = self.inner.optimize(engine, task).await?;
        let mut stopped = outcome.stopped.clone();
        for state in [task.program.state(), outcome.state.clone()] {
            if stopped.is_some() {
                break;
            }
            if let Err(stop) = offer(engine, task, state).await? {
                stopped = Some(stop);
            }
        }
        let Some(archive) = engine.front().filter(|a| !a.points().is_empty()) else {
            return Ok(outcome);
        };
        let Some(pick) = archive.pick() else { return Ok(outcome) };
        let chosen = &archive.points()[pick];
        engine.emit(Event::Message(format!(
            "pareto front: {} point(s), hypervolume {:.4}; picked {} (score {:.3})",
            archive.points().len(),
            archive.hypervolume(),
            chosen.candidate,
            chosen.measures.score
        )));
        let details = with_front(outcome.details, report(&archive, pick));
        Ok(Outcome { state: chosen.state.clone(), val_score: Some(chosen.measures.score), stopped, details })
    }
}

/// Scores `state` on the whole validation set (the rollout cache answers what was scored) and
/// offers it to the front and the best candidates, where kept.
pub(crate) async fn offer(
    engine: &Engine,
    task: &OptimizeTask,
    state: ProgramState,
) -> Result<std::result::Result<(), Stop>> {
    let c = Candidate::new(&task.program, state)?;
    match engine.evaluate(&c.program, &c.id, &task.valset, &task.metric, LmRole::Task, 0).await {
        Ok(rollouts) => {
            let measures = Measures::of(&rollouts, &c.program);
            engine.offer_scored(FrontPoint { candidate: c.id, trial: None, measures, state: c.state });
            Ok(Ok(()))
        }
        Err(stop) => Ok(Err(stop)),
    }
}

/// `details` with `pareto` added (see [`with_detail`]).
fn with_front(details: Value, front: Value) -> Value {
    with_detail(details, "pareto", front)
}

/// The front as the report lists it.
pub fn report(archive: &Archive, pick: usize) -> Value {
    let measures: Vec<Measure> = {
        let mut m: Vec<Measure> = archive.selection.archive_objectives().iter().map(|o| o.measure).collect();
        if !m.contains(&Measure::Length) {
            m.push(Measure::Length);
        }
        m
    };
    let points: Vec<Value> = archive
        .points()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut v = json!({"candidate": p.candidate, "trial": p.trial, "picked": i == pick});
            for m in &measures {
                v[m.as_str()] = json!(p.measures.get(*m));
            }
            v
        })
        .collect();
    let chosen = &archive.points()[pick];
    json!({
        "objectives": archive.selection.objectives,
        "constraints": archive.selection.constraints,
        "front": points,
        "hypervolume": archive.hypervolume(),
        "hypervolume_space": "score as is; every other objective scaled between the worst value seen (less 10% of \
                              the range) and the best on the front; reference point at the origin",
        "candidates_offered": archive.offered,
        "picked": chosen.candidate,
        "constraints_met": archive.pick_is_feasible(),
        "why": why(archive),
    })
}

fn why(archive: &Archive) -> String {
    let sel = &archive.selection;
    let how = if sel.objectives.iter().any(|o| o.weight.is_some()) {
        "the largest weighted sum of normalized objectives".to_string()
    } else {
        let order: Vec<String> = sel.objectives.iter().map(ToString::to_string).collect();
        format!("the objectives in order ({})", order.join(", "))
    };
    let within = if sel.constraints.is_empty() {
        String::new()
    } else if archive.pick_is_feasible() {
        " among the points meeting every constraint".into()
    } else {
        " among the points closest to the constraints (none meets them all)".into()
    };
    format!("by {how}{within}; ties go to the shorter prompt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pareto::Objective;

    #[test]
    fn the_front_is_added_to_any_details() {
        let f = json!({"x": 1});
        assert_eq!(with_front(Value::Null, f.clone()), json!({"pareto": {"x": 1}}));
        assert_eq!(with_front(json!({"a": 2}), f.clone()), json!({"a": 2, "pareto": {"x": 1}}));
        assert_eq!(with_front(json!([1]), f), json!({"optimizer": [1], "pareto": {"x": 1}}));
    }

    #[test]
    fn the_report_lists_every_point_and_says_why() {
        let sel = Selection::new(&["tokens:min".parse::<Objective>().unwrap()], &[]).unwrap();
        let mut a = Archive::new(sel);
        let state = ProgramState { format_version: 1, program: None, predictors: Default::default(), ensemble: None };
        for (id, score, tokens) in [("a", 0.5, 10.0), ("b", 0.9, 40.0)] {
            let measures = Measures { score, tokens, ..Measures::default() };
            a.offer(FrontPoint { candidate: id.into(), trial: Some(1), measures, state: state.clone() });
        }
        let r = report(&a, a.pick().unwrap());
        assert_eq!(r["picked"], "b");
        assert_eq!(r["front"].as_array().unwrap().len(), 2);
        assert_eq!(r["front"][1]["tokens"], 40.0);
        assert_eq!(r["objectives"], json!(["score:max", "tokens:min"]));
        assert!(r["why"].as_str().unwrap().contains("score:max, tokens:min"), "{}", r["why"]);
        assert!(r["hypervolume"].as_f64().unwrap() > 0.0);
    }
}
