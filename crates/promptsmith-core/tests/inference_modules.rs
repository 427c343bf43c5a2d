//! Inference-time modules (majority vote, best-of-n, refine, ensembles) and output constraints,
//! loaded from specs and run against a scripted model that answers by the request's rollout
//! id, instruction or feedback, so every test is deterministic.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

use async_trait::async_trait;
use promptsmith_core::wrap::FEEDBACK_HEADER;
use promptsmith_core::{
    ChatRequest, ChatResponse, Choice, Example, LanguageModel, LmError, Module, PredictError, Program, ProgramSpec,
    Reward, Scored, Usage,
};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

type AnswerFn = dyn Fn(&ChatRequest) -> String + Send + Sync;

/// Answers each request with `f(request)` in the chat layout and records the requests.
struct Scripted {
    f: Box<AnswerFn>,
    seen: Mutex<Vec<ChatRequest>>,
}

impl Scripted {
    fn new(f: impl Fn(&ChatRequest) -> String + Send + Sync + 'static) -> Self {
        Self { f: Box::new(f), seen: Mutex::new(Vec::new()) }
    }

    fn seen(&self) -> Vec<ChatRequest> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl LanguageModel for Scripted {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        self.seen.lock().unwrap().push(request.clone());
        Ok(ChatResponse {
            choices: vec![Choice { text: (self.f)(request), finish_reason: None }],
            usage: Usage { prompt_tokens: 10, completion_tokens: 2 },
            model: "scripted".into(),
            cached: false,
            cost_usd: None,
        })
    }
    fn model_name(&self) -> String {
        "scripted".into()
    }
}

fn answer(value: impl std::fmt::Display) -> String {
    format!("[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]")
}

fn program(spec: Value) -> Program {
    ProgramSpec::parse(&spec.to_string(), false, "p.json").unwrap().build("p.json").unwrap()
}

fn question(q: &str) -> Example {
    Example::default().with("question", q).with_inputs(&["question"])
}

fn last_user(req: &ChatRequest) -> &str {
    &req.messages.last().unwrap().content
}

#[tokio::test]
async fn majority_vote_picks_the_majority_of_resamples() {
    let p = program(json!({"name": "vote", "predictors": [
        {"name": "solve", "signature": "question -> answer: int", "wrap": {"module": "majority_vote", "n": 5}}
    ]}));
    let lm = Scripted::new(|r| {
        answer(match r.rollout_id {
            None => 7,
            Some(1 | 2 | 4) => 8,
            _ => 9,
        })
    });
    let out = p.forward(&lm, &question("?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!(8)));
    assert_eq!((out.lm_calls, out.usage.prompt_tokens), (5, 50));
    assert_eq!(out.trace.len(), 1, "one trace step, the kept sample's");
    let seen = lm.seen();
    let ids: Vec<_> = seen.iter().map(|r| r.rollout_id).collect();
    assert_eq!(ids, vec![None, Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(seen[0].temperature, None, "the first sample is the plain call");
    assert!(seen[1..].iter().all(|r| r.temperature == Some(1.0)));
}

#[tokio::test]
async fn refine_retries_with_the_violation_as_feedback_in_a_multi_step_program() {
    let p = program(json!({"name": "two", "predictors": [
        {"name": "draft", "signature": "question -> answer"},
        {"name": "solve", "signature": "question, draft -> answer: int",
         "wrap": {"module": "refine", "n": 3}, "constraints": {"answer": {"min": 0, "max": 100}}}
    ], "steps": [{"predictor": "draft"}, {"predictor": "solve", "inputs": {"draft": "draft.answer"}}]}));
    let lm = Scripted::new(|r| {
        let user = last_user(r);
        if !user.contains("[[ ## draft ## ]]") {
            answer("about 140")
        } else if user.contains(FEEDBACK_HEADER) {
            answer(42)
        } else {
            answer(142)
        }
    });
    let out = p.forward(&lm, &question("?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!(42)));
    assert_eq!(out.lm_calls, 3, "the draft, the rejected attempt and the retry");
    let seen = lm.seen();
    assert!(!last_user(&seen[1]).contains(FEEDBACK_HEADER));
    let retry = last_user(&seen[2]);
    assert!(
        retry.ends_with(&format!(
            "{FEEDBACK_HEADER}\n- output field 'answer' breaks max: 142 is above the maximum 100\nAnswer again and fix this."
        )),
        "{retry}"
    );
    assert_eq!((seen[2].rollout_id, seen[2].temperature), (Some(1), Some(1.0)));
    assert_eq!(out.trace[1].outputs.get("answer"), Some(&json!(42)), "the trace keeps the accepted attempt");
    assert_eq!(out.trace[1].inputs.len(), 2, "the feedback is no input");
}

#[tokio::test]
async fn a_violation_on_the_last_retry_fails_with_its_reason() {
    let p = program(json!({"name": "c", "predictors": [
        {"name": "solve", "signature": "question -> answer: int",
         "constraints": {"answer": {"max": 100}}, "max_retries": 1}
    ]}));
    let lm = Scripted::new(|_| answer(142));
    let err = p.forward(&lm, &question("?")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "predictor 'solve': output field 'answer' breaks max: 142 is above the maximum 100 (after 2 attempts)"
    );
    match &err {
        PredictError::Constraint { violations, attempts, lm_calls, raw, .. } => {
            assert_eq!((*attempts, *lm_calls), (2, 2));
            assert_eq!(violations[0].field.as_deref(), Some("answer"));
            assert_eq!((violations[0].constraint.as_str(), violations[0].value.clone()), ("max", Some(json!(142))));
            assert!(raw.contains("142"));
        }
        other => panic!("expected a constraint failure, got {other:?}"),
    }
    assert_eq!(err.spent().1, 2);
    assert!(lm.seen()[1].messages.last().unwrap().content.contains(FEEDBACK_HEADER));

    // Without retries left, the first violation fails at once; a valid answer passes unchanged.
    let p = program(json!({"name": "c", "predictors": [
        {"name": "solve", "signature": "question -> answer: str",
         "constraints": {"answer": {"enum": ["yes", "no"]}}, "max_retries": 0}
    ]}));
    let err = p.forward(&Scripted::new(|_| answer("maybe")), &question("?")).await.unwrap_err();
    assert!(err.to_string().ends_with("\"maybe\" is not one of \"yes\", \"no\" (after 1 attempt)"), "{err}");
    let out = p.forward(&Scripted::new(|_| answer("Yes")), &question("?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!("yes")));
}

/// Scores an answer by how close it is to 50.
struct CloseTo50;

#[async_trait]
impl Reward for CloseTo50 {
    fn name(&self) -> String {
        "close_to_50".into()
    }
    async fn score(
        &self,
        _lm: &dyn LanguageModel,
        _inputs: &Map<String, Value>,
        outputs: &Map<String, Value>,
    ) -> Result<Scored, String> {
        let x = outputs.get("answer").and_then(Value::as_f64).ok_or("no number")?;
        Ok(Scored::new(1.0 - (x - 50.0).abs() / 50.0, Some(format!("{x} is far from 50"))))
    }
}

fn with_reward(mut p: Program) -> Program {
    let solve = p.predictors.remove(0);
    p.predictors.push(solve.with_reward(Arc::new(CloseTo50)));
    p
}

#[tokio::test]
async fn best_of_n_keeps_the_best_or_the_first_over_the_threshold() {
    let spec = |threshold: f64| {
        json!({"name": "best", "predictors": [
            {"name": "solve", "signature": "question -> answer: int",
             "wrap": {"module": "best_of_n", "n": 4, "threshold": threshold, "temperature": 0.7},
             "constraints": {"answer": {"max": 100}}}
        ]})
    };
    let by_id = |r: &ChatRequest| {
        answer(match r.rollout_id {
            None => 10,
            Some(1) => 140,
            Some(2) => 40,
            _ => 30,
        })
    };
    let p = with_reward(program(spec(0.95)));
    let lm = Scripted::new(by_id);
    let out = p.forward(&lm, &question("?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!(40)), "140 breaks the constraint; 40 is closest to 50");
    assert_eq!(out.lm_calls, 4);
    assert!(lm.seen().iter().all(|r| !last_user(r).contains(FEEDBACK_HEADER)), "best-of-n gives no feedback");
    assert_eq!(lm.seen()[3].temperature, Some(0.7));

    let p = with_reward(program(spec(0.75)));
    let lm = Scripted::new(by_id);
    let out = p.forward(&lm, &question("?")).await.unwrap();
    assert_eq!((out.get("answer"), out.lm_calls), (Some(&json!(40)), 3), "stops at the first over the threshold");
}

#[tokio::test]
async fn refine_with_a_reward_feeds_back_the_low_score() {
    let p = with_reward(program(json!({"name": "r", "predictors": [
        {"name": "solve", "signature": "question -> answer: int", "wrap": {"module": "refine", "n": 2, "threshold": 0.9}}
    ]})));
    let lm = Scripted::new(|r| answer(if last_user(r).contains("far from 50") { 49 } else { 10 }));
    let out = p.forward(&lm, &question("?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!(49)));
    let retry = last_user(&lm.seen()[1]).to_string();
    assert!(retry.contains("- the answer scored 0.2, below the threshold 0.9: 10 is far from 50"), "{retry}");
}

#[tokio::test]
async fn best_of_n_with_the_judge_reward_keeps_the_best_rated() {
    let p = program(json!({"name": "j", "predictors": [
        {"name": "solve", "signature": "question -> answer",
         "wrap": {"module": "best_of_n", "n": 3, "reward": "judge", "rubric": "One word.", "threshold": 0.9}}
    ]}));
    let lm = Scripted::new(|r| {
        let user = last_user(r);
        if user.contains("[[ ## rubric ## ]]") {
            let score = if user.contains("answer: Paris\n") { 0.8 } else { 0.1 };
            return format!("[[ ## score ## ]]\n{score}\n\n[[ ## completed ## ]]");
        }
        answer(if r.rollout_id == Some(1) { "Paris" } else { "It is Paris, of course" })
    });
    let out = p.forward(&lm, &question("Capital of France?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!("Paris")));
    assert_eq!(out.lm_calls, 6, "three attempts and three judge calls");
    let judged = lm.seen().into_iter().filter(|r| last_user(r).contains("[[ ## rubric ## ]]")).collect::<Vec<_>>();
    assert_eq!(judged.len(), 3);
    assert!(last_user(&judged[0]).contains("[[ ## task ## ]]\nquestion: Capital of France?"));
    assert_eq!(judged[0].temperature, Some(0.0));
}

#[tokio::test]
async fn wrappers_fail_with_the_last_failure_when_no_attempt_is_valid() {
    let p = program(json!({"name": "r", "predictors": [
        {"name": "solve", "signature": "question -> answer: int",
         "wrap": {"module": "refine", "n": 3}, "constraints": {"answer": {"max": 100}}}
    ]}));
    let err = p.forward(&Scripted::new(|_| answer(500)), &question("?")).await.unwrap_err();
    assert!(err.to_string().ends_with("500 is above the maximum 100 (after 3 attempts)"), "{err}");
    assert_eq!(err.spent().1, 3);
}

fn ensemble_spec(members: Value) -> Value {
    json!({"name": "ens", "predictors": [{"name": "solve", "signature": "question -> answer: int"}],
           "ensemble": {"members": members, "reducer": "majority"}})
}

fn by_instruction(r: &ChatRequest) -> String {
    let system = &r.messages[0].content;
    answer(if system.contains("Variant B") || system.contains("Variant C") { 2 } else { 1 })
}

#[tokio::test]
async fn an_ensemble_reduces_its_members_by_majority() {
    let p = program(ensemble_spec(json!([
        {},
        {"predictors": {"solve": {"instruction": "Variant B."}}},
        {"predictors": {"solve": {"instruction": "Variant C."}}}
    ])));
    let lm = Scripted::new(by_instruction);
    let out = p.forward(&lm, &question("?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!(2)));
    assert_eq!((out.lm_calls, out.trace.len()), (3, 1));
    assert_ne!(p.hash(), program(ensemble_spec(json!([{}]))).hash());

    // A state file member is read relative to the spec and inlined by load().
    let dir = std::env::temp_dir().join(format!("promptsmith-ensemble-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = json!({"format_version": 1, "predictors": {"solve": {"instruction": "Variant B.", "demos": []}}});
    std::fs::write(dir.join("b.json"), state.to_string()).unwrap();
    let spec = ensemble_spec(json!(["b.json", "b.json", {}]));
    std::fs::write(dir.join("program.json"), spec.to_string()).unwrap();
    let loaded = ProgramSpec::load(&dir.join("program.json")).unwrap();
    assert!(loaded.ensemble.as_ref().unwrap().members[0].is_object(), "file members are inlined");
    let p = loaded.build("program.json").unwrap();
    assert_eq!(p.forward(&Scripted::new(by_instruction), &question("?")).await.unwrap().get("answer"), Some(&json!(2)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_ensemble_keeps_the_member_the_judge_rates_best() {
    let mut spec = ensemble_spec(json!([{}, {"predictors": {"solve": {"instruction": "Variant B."}}}]));
    spec["ensemble"] = json!({"members": spec["ensemble"]["members"].clone(), "reducer": "judge", "rubric": "Even."});
    let p = program(spec);
    let lm = Scripted::new(|r| {
        if last_user(r).contains("[[ ## rubric ## ]]") {
            let even = last_user(r).contains("answer: 2\n");
            return format!("[[ ## score ## ]]\n{}\n\n[[ ## completed ## ]]", if even { 1.0 } else { 0.0 });
        }
        by_instruction(r)
    });
    let out = p.forward(&lm, &question("?")).await.unwrap();
    assert_eq!((out.get("answer"), out.lm_calls), (Some(&json!(2)), 4), "two members and two judge calls");
}

#[test]
fn ensemble_members_that_do_not_fit_are_named() {
    let e = |members: Value| {
        ProgramSpec::parse(&ensemble_spec(members).to_string(), false, "p.json")
            .unwrap()
            .build("p.json")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(e(json!([])), "p.json: ensemble.members: an ensemble needs at least one member");
    assert_eq!(
        e(json!([{}, {"predictors": {"slove": {}}}])),
        "p.json: ensemble.members[1]: state does not fit program 'ens': state has predictor 'slove', the program has: solve"
    );
    assert!(e(json!(["missing.json"])).starts_with("p.json: ensemble.members[0]: cannot read state file missing.json"));
    assert!(e(json!([3])).ends_with("expected a state file name or an inline state object"));
    let mut spec = ensemble_spec(json!([{}]));
    spec["ensemble"]["reducer"] = json!("judge");
    let e = ProgramSpec::parse(&spec.to_string(), false, "p.json").unwrap().build("p.json").unwrap_err();
    assert_eq!(e.to_string(), "p.json: ensemble.rubric: the judge reducer needs a rubric");
}

#[tokio::test]
async fn the_shipped_examples_load_and_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/modules");
    let solve = |r: &ChatRequest| {
        let user = last_user(r);
        let value = if user.contains("Mia reads") { 90 } else { 7 };
        format!("[[ ## reasoning ## ]]\nRead the numbers and combine them.\n\n{}", answer(value))
    };
    for (file, calls) in [("program.json", 1), ("vote.json", 5), ("ensemble.json", 3)] {
        let p = promptsmith_core::load_program(&dir.join(file)).unwrap();
        let out = p.forward(&Scripted::new(solve), &question("Mia reads 15 pages a day.")).await.unwrap();
        assert_eq!((out.get("answer"), out.lm_calls), (Some(&json!(90)), calls), "{file}");
    }
}
