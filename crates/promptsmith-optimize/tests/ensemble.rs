#![allow(clippy::unwrap_used)]
//! `WithEnsemble`: the best candidates a search scored become a majority-vote ensemble, kept
//! only when it scores above the search's own result on the validation set.

mod common;

use async_trait::async_trait;
use promptsmith_core::{ChatRequest, ProgramState};
use promptsmith_lm::LmRole;
use promptsmith_lm::ScriptedLm;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::engine::Engine;
use promptsmith_optimize::ensemble::WithEnsemble;
use promptsmith_optimize::optimizers::{Candidate, Outcome, Plan};
use promptsmith_optimize::pareto::{FrontPoint, Measures};
use promptsmith_optimize::run::{check, run};
use promptsmith_optimize::{OptimizeTask, Optimizer, Result};
use serde_json::{json, Value};
use std::sync::Arc;

/// Under instruction `A`, `B` or `C` the model is wrong on every third question (a different
/// third each); under any other instruction it is always wrong. So each of A, B, C scores
/// about 2/3 and their majority vote is always right.
fn answer(req: &ChatRequest) -> String {
    let system = &req.messages[0].content;
    let last = &req.messages.last().unwrap().content;
    let question = last.split("[[ ## question ## ]]").nth(1).unwrap_or("").split("\n\n").next().unwrap_or("");
    let nums: Vec<i64> = question.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let (id, right) = (nums[0], nums.iter().skip(1).sum::<i64>());
    let wrong_on = ["Variant A.", "Variant B.", "Variant C."].iter().position(|v| system.contains(v));
    let ok = wrong_on.is_some_and(|w| id % 3 != w as i64);
    format!("[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]", if ok { right } else { right + 1 + id % 2 })
}

/// A "search" that scores a fixed list of instructions and returns the first.
struct Fixed(Vec<&'static str>);

impl Fixed {
    fn state(task: &OptimizeTask, instruction: &str) -> ProgramState {
        let mut s = task.program.state();
        s.predictors.get_mut("solve").unwrap().instruction = Some(instruction.into());
        s
    }
}

#[async_trait]
impl Optimizer for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn params(&self) -> Value {
        json!({})
    }
    fn validate(&self, _: &OptimizeTask) -> Result<()> {
        Ok(())
    }
    fn plan(&self, task: &OptimizeTask) -> Plan {
        Plan { task_calls: (self.0.len() * task.valset.len()) as u64, trials: self.0.len() as u64, ..Plan::default() }
    }
    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        let mut first = None;
        for i in &self.0 {
            let c = Candidate::new(&task.program, Self::state(task, i))?;
            let rollouts =
                engine.evaluate(&c.program, &c.id, &task.valset, &task.metric, LmRole::Task, 0).await.unwrap();
            let measures = Measures::of(&rollouts, &c.program);
            first.get_or_insert((measures.score, c.state.clone()));
            engine.offer_scored(FrontPoint { candidate: c.id, trial: None, measures, state: c.state });
        }
        let (score, state) = first.unwrap();
        Ok(Outcome { state, val_score: Some(score), stopped: None, details: json!({}) })
    }
}

fn ensemble(size: usize, instructions: Vec<&'static str>) -> WithEnsemble {
    WithEnsemble { inner: Box::new(Fixed(instructions)), size, fields: vec!["answer".into()] }
}

fn engine() -> Engine {
    common::engine(Arc::new(ScriptedLm::from_fn(answer)), 1, Budget::default())
}

#[tokio::test]
async fn the_vote_of_the_best_three_is_kept_when_it_scores_higher() {
    let task = common::task(4, 12);
    let opt = ensemble(3, vec!["Variant A.", "Bad.", "Variant B.", "Variant C."]);
    let (plan, _) = check(&opt, &task).unwrap();
    assert_eq!(plan.task_calls, 4 * 12 + 12 * (2 + 3), "the search, two offers and the ensemble's runs");
    let e = engine();
    let (state, report) = run(&opt, &e, &task, &task.valset).await.unwrap();
    let members = &state.ensemble.as_ref().expect("the ensemble is the result").members;
    let instructions: Vec<&str> =
        members.iter().map(|m| m.predictors["solve"].instruction.as_deref().unwrap()).collect();
    let mut sorted = instructions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["Variant A.", "Variant B.", "Variant C."], "the three best, not the bad one");
    assert_eq!(report.final_val.as_ref().unwrap().score, 1.0);
    assert_eq!(report.final_test.as_ref().unwrap().score, 1.0, "the state alone runs the ensemble");
    let d = &report.details["ensemble"];
    assert_eq!((d["kept"].as_bool(), d["score"].as_f64()), (Some(true), Some(1.0)), "{d}");
    assert!(d["result_score"].as_f64().unwrap() < 0.7, "{d}");
    // Four instructions and the program as written, each once per example (the rollout cache
    // answers the rest), then every run of the ensemble calls each member once.
    let n = task.valset.len() as u64;
    assert_eq!(report.spent.task.calls, 5 * n + 3 * n);
    assert!(report.spent.task.calls <= plan.task_calls);
    // The state round-trips through JSON and applies on its own.
    let back = ProgramState::from_json(&state.to_json(), "s.json").unwrap();
    assert_eq!(task.program.with_state(&back).unwrap().ensemble.unwrap().members.len(), 3);
}

#[tokio::test]
async fn a_vote_that_does_not_score_higher_leaves_the_result() {
    let task = common::task(4, 12);
    // Two members tie on every question one of them gets wrong; the earlier (best) wins the
    // tie, so the vote scores what its best member does.
    let opt = ensemble(2, vec!["Variant A.", "Variant B."]);
    let (state, report) = run(&opt, &engine(), &task, &[]).await.unwrap();
    assert!(state.ensemble.is_none());
    assert_eq!(state.predictors["solve"].instruction.as_deref(), Some("Variant A."));
    let d = &report.details["ensemble"];
    assert_eq!(d["kept"], false, "{d}");
    assert!(d["why"].as_str().unwrap().contains("not above"), "{d}");
}

#[tokio::test]
async fn bad_settings_are_refused_before_any_call() {
    let task = common::task(4, 12);
    for (opt, want) in [
        (ensemble(1, vec!["x"]), "expected 2 to 15 members, got 1"),
        (WithEnsemble { fields: vec!["nope".into()], ..ensemble(3, vec!["x"]) }, "'nope' is not an output"),
    ] {
        let err = check(&opt, &task).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    let one = ensemble(3, vec!["Variant A."]);
    let (state, report) = run(&one, &engine(), &task, &[]).await.unwrap();
    assert!(state.ensemble.is_none(), "a vote of one candidate and the always-wrong program as written is no better");
    assert_eq!(report.details["ensemble"]["kept"], false);
}
