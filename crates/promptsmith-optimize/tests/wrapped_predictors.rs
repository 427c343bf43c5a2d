#![allow(clippy::unwrap_used)]
//! Optimizers tune a predictor wrapped in an inference-time module exactly as an unwrapped one:
//! the same name and state, demos from the attempt the wrapper kept, the wrapper left in place.

mod common;

use promptsmith_core::{ChatRequest, Module, ProgramSpec};
use promptsmith_eval::{metric_by_name, Metric};
use promptsmith_lm::ScriptedLm;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::optimizers::bootstrap::BootstrapFewShot;
use promptsmith_optimize::optimizers::labeled::LabeledFewShot;
use promptsmith_optimize::optimizers::OptimizeTask;
use promptsmith_optimize::run::run;
use serde_json::json;
use std::sync::Arc;

/// Right sums for the resamples (rollout ids 1, 2), one off for the plain call: a majority of
/// three samples is always right, an unwrapped call never.
fn answer(req: &ChatRequest) -> String {
    let last = &req.messages.last().unwrap().content;
    let question = last.split("[[ ## question ## ]]").nth(1).unwrap_or("").split("\n\n").next().unwrap_or("");
    let nums: Vec<i64> = question.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let right = nums.iter().skip(1).sum::<i64>();
    let value = if req.rollout_id.is_none() { right + 1 } else { right };
    format!("[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]")
}

fn task() -> OptimizeTask {
    let spec = json!({"name": "sum", "predictors": [
        {"name": "solve", "signature": "question -> answer: int",
         "wrap": {"module": "majority_vote", "n": 3}, "constraints": {"answer": {"min": 0}}}
    ]});
    let program = ProgramSpec::parse(&spec.to_string(), false, "p.json").unwrap().build("p.json").unwrap();
    let metric: Arc<dyn Metric> = Arc::from(metric_by_name("numeric_match", "answer").unwrap());
    OptimizeTask { program, trainset: common::examples(10, 0), valset: common::examples(6, 1000), metric }
}

#[tokio::test]
async fn bootstrap_takes_demos_from_the_kept_samples_of_a_wrapped_predictor() {
    let task = task();
    let lm = Arc::new(ScriptedLm::from_fn(answer));
    let e = common::engine(lm.clone(), 5, Budget::default());
    let (state, report) = run(&BootstrapFewShot::default(), &e, &task, &[]).await.unwrap();
    let demos = &state.predictors["solve"].demos;
    assert_eq!(report.details["bootstrapped"], 4);
    for d in &demos[..4] {
        let q = d["question"].as_str().unwrap();
        let ex = task.trainset.iter().find(|e| e.get("question").unwrap() == q).unwrap();
        assert_eq!(d["answer"], *ex.get("answer").unwrap(), "the demo is the voted answer");
    }
    let tuned = task.program.with_state(&state).unwrap();
    let solve = tuned.predictor("solve").unwrap();
    assert!(solve.wrap.is_some() && !solve.constraints.is_empty(), "the wrapper stays");
    assert_eq!(solve.demos.len(), demos.len());
    let out = tuned.forward(lm.as_ref(), &task.valset[0]).await.unwrap();
    assert_eq!((out.get("answer"), out.lm_calls), (task.valset[0].get("answer"), 3));
}

#[tokio::test]
async fn labeled_few_shot_fills_the_wrapped_predictor() {
    let task = task();
    let e = common::engine(Arc::new(ScriptedLm::from_fn(answer)), 1, Budget::default());
    let (state, report) = run(&LabeledFewShot { k: 3 }, &e, &task, &[]).await.unwrap();
    assert_eq!(state.predictors["solve"].demos.len(), 3);
    assert_eq!(report.final_val.as_ref().unwrap().score, 1.0, "the vote makes every answer right");
}

#[tokio::test]
async fn the_plan_counts_every_call_of_a_wrapped_predictor() {
    let task = task();
    let opt = BootstrapFewShot::default();
    let (plan, _) = promptsmith_optimize::run::check(&opt, &task).unwrap();
    // Three samples per run: the program as written and the result on 6 validation examples.
    assert_eq!(plan.task_calls, 2 * 6 * 3);
    assert_eq!(plan.teacher_calls, opt.settings.max_rounds as u64 * 10 * 3);
    let e = common::engine(Arc::new(ScriptedLm::from_fn(answer)), 1, Budget::default());
    let (_, report) = run(&opt, &e, &task, &[]).await.unwrap();
    assert_eq!(report.spent.task.calls, plan.task_calls, "every validation run votes over three samples");
    assert!(report.spent.teacher.calls <= plan.teacher_calls);
}
