#![allow(clippy::unwrap_used)]
//! GEPA on a scripted world: the task model adds well only when its instruction says to add
//! "carefully", the metric's feedback says so on every wrong answer, and the scripted reflection
//! model writes that instruction only when the feedback it is shown says it. GEPA fixes the
//! predictor (and cannot without the feedback); its plan bounds the run and is met exactly when
//! every proposal is rejected; a budget too small for one proposal is refused before any call;
//! and a run resumed from its journal ends where an uninterrupted run ends.

mod common;

use promptsmith_core::{ChatRequest, Example, LanguageModel, Prediction};
use promptsmith_eval::{Metric, MetricResult};
use promptsmith_lm::ScriptedLm;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::checkpoint::{Checkpoint, NoCheckpoint, RunDirCheckpoint, JOURNAL_FILE};
use promptsmith_optimize::events::{NoEvents, TrialKind};
use promptsmith_optimize::optimizers::gepa::{auto_metric_calls, FrontierType, Gepa};
use promptsmith_optimize::optimizers::mipro::Auto;
use promptsmith_optimize::optimizers::{OptimizeTask, Optimizer};
use promptsmith_optimize::run::{check, run};
use promptsmith_optimize::{Engine, EngineConfig, RoleModels};
use serde_json::Value;
use std::sync::Arc;

/// What the reflection model writes when the feedback explains the failures.
const FIX: &str = "Add the two numbers carefully, digit by digit, and answer with the sum.";
/// What it writes otherwise.
const GENERIC: &str = "Answer the question with a number.";
const BASIC: &str = "Given the fields `question`, produce the fields `answer`.";

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let i = text.find(start).map(|i| i + start.len()).unwrap_or(text.len());
    let rest = &text[i..];
    rest[..rest.find(end).unwrap_or(rest.len())].trim()
}

fn difficulty(question: &str) -> f64 {
    let h = question.bytes().fold(1469598103934665603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211));
    (h % 1000) as f64 / 1000.0
}

fn is_reflection(req: &ChatRequest) -> bool {
    req.messages[0].content.contains("`new_instruction`")
}

/// The scripted task and reflection model.
fn answer(req: &ChatRequest) -> String {
    let last = &req.messages.last().unwrap().content;
    if is_reflection(req) {
        let instruction = if last.contains("add carefully") { FIX } else { GENERIC };
        return format!(
            "[[ ## diagnosis ## ]]\nSome sums are off by one.\n\n[[ ## new_instruction ## ]]\n{instruction}\n\n[[ ## completed ## ]]"
        );
    }
    let question = between(last, "[[ ## question ## ]]", "\n\n");
    let nums: Vec<i64> = question.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let right = nums.iter().skip(1).sum::<i64>();
    let skill = if req.messages[0].content.contains("carefully") { 0.95 } else { 0.3 };
    let got = if difficulty(question) < skill { right } else { right + 1 };
    format!("[[ ## answer ## ]]\n{got}\n\n[[ ## completed ## ]]")
}

fn lm() -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(answer).with_model_name("scripted"))
}

/// Exact match on the sum, with feedback that explains a wrong one (or only says it is wrong).
struct SumFeedback {
    explain: bool,
}

#[async_trait::async_trait]
impl Metric for SumFeedback {
    fn name(&self) -> &str {
        "sum_feedback"
    }
    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let want = example.get("answer").and_then(Value::as_i64);
        let got = prediction.fields.get("answer").and_then(Value::as_i64);
        match (want == got, self.explain) {
            (true, _) => MetricResult::new(1.0, "Correct."),
            (false, true) => MetricResult::fail(format!(
                "Expected {}, got {}: the model must add carefully, digit by digit.",
                want.unwrap_or_default(),
                got.unwrap_or_default()
            )),
            (false, false) => MetricResult::fail("Wrong."),
        }
    }
}

fn task(explain: bool) -> OptimizeTask {
    OptimizeTask { metric: Arc::new(SumFeedback { explain }), ..common::task(12, 20) }
}

fn engine_with(lm: Arc<dyn LanguageModel>, checkpoint: Arc<dyn Checkpoint>, budget: Budget) -> Engine {
    let config = EngineConfig { concurrency: 3, seed: 5, budget, failure_score: 0.0 };
    Engine::new(RoleModels::single(lm), config, checkpoint, Arc::new(NoEvents)).unwrap()
}

fn engine(lm: Arc<dyn LanguageModel>) -> Engine {
    engine_with(lm, Arc::new(NoCheckpoint), Budget::default())
}

fn gepa(calls: u64) -> Gepa {
    Gepa { auto: None, max_metric_calls: Some(calls), ..Gepa::default() }
}

fn reflections(lm: &ScriptedLm) -> Vec<ChatRequest> {
    lm.requests().into_iter().filter(is_reflection).collect()
}

#[tokio::test]
async fn gepa_fixes_the_predictor_whose_failures_the_feedback_explains() {
    let task = task(true);
    let lm = lm();
    let (state, report) = run(&gepa(150), &engine(lm.clone()), &task, &[]).await.unwrap();
    assert_eq!(report.optimizer, "gepa");
    assert_eq!(state.predictors["solve"].instruction.as_deref(), Some(FIX));
    let (base, last) = (report.baseline_val.unwrap().score, report.final_val.unwrap().score);
    assert!(base < 0.5 && last > 0.85, "{base} -> {last}");
    assert!(report.stopped.is_none());
    let d = &report.details;
    assert!(d["metric_calls_used"].as_u64().unwrap() <= 150);
    assert!(d["ended"].as_str().unwrap().starts_with("metric-call budget spent"), "{}", d["ended"]);

    // The reflection model saw the current instruction, the inputs, the outputs and the feedback.
    let first = &reflections(&lm)[0];
    let shown = &first.messages.last().unwrap().content;
    assert!(shown.contains(BASIC), "{shown}");
    assert!(shown.contains("### Example 1\nInputs:\n- question: Q"), "{shown}");
    assert!(shown.contains("Outputs:\n- answer: "), "{shown}");
    assert!(shown.contains("Feedback: Expected "), "{shown}");
    assert_eq!(first.temperature, Some(1.0));

    // Lineage: the fixed candidate descends from the seed by a reflection on `solve`.
    let cands = d["candidates"].as_array().unwrap();
    assert_eq!(cands[0]["origin"], "seed");
    let fixed = &cands[d["best_candidate"].as_u64().unwrap() as usize];
    assert_eq!(fixed["origin"], "reflection");
    assert_eq!(fixed["parents"], serde_json::json!([0]));
    assert_eq!(fixed["predictors"], serde_json::json!(["solve"]));
    assert_eq!(fixed["instructions"]["solve"], FIX);
    assert_eq!(fixed["reflection"]["solve"], "Some sums are off by one.");
    let (before, after) = (fixed["minibatch_before"].as_array().unwrap(), fixed["minibatch_after"].as_array().unwrap());
    let total = |v: &Vec<Value>| v.iter().map(|s| s.as_f64().unwrap()).sum::<f64>();
    assert_eq!(before.len(), 3);
    assert!(total(after) > total(before));
    // ... and its validation trial carries the same lineage.
    let full =
        report.trials.iter().find(|t| t.kind == TrialKind::Full && t.params["candidate"] == fixed["index"]).unwrap();
    assert_eq!(full.params["parents"], serde_json::json!([0]));
    assert_eq!(full.params["lineage"]["origin"], "reflection");
    assert_eq!(full.score, fixed["val_score"].as_f64().unwrap());
    // Re-proposing the instruction a candidate already has is turned away, not scored.
    let rejected = d["rejected_proposals"].as_array().unwrap();
    assert!(rejected.iter().all(|r| r["defect"] == "repeats the current instruction"), "{rejected:?}");
}

/// With the instance frontier the seed, beaten by the fix on every instance it is best on, is
/// pruned; with an objective frontier over the score and the prompt length the seed (the
/// shortest prompt) stays beside the fix (the best score), and hybrid and cartesian (per
/// instance and objective) ones keep both too.
#[tokio::test]
async fn objective_hybrid_and_cartesian_frontiers_keep_the_best_on_each_objective() {
    let task = task(true);
    let front =
        |d: &Value| d["pareto_front"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect::<Vec<_>>();
    let (_, report) = run(&gepa(150), &engine(lm()), &task, &[]).await.unwrap();
    assert!(!front(&report.details).contains(&0), "{:?}", report.details["pareto_front"]);
    let length = "length:min".parse().unwrap();
    for frontier in [FrontierType::Objective, FrontierType::Hybrid, FrontierType::Cartesian] {
        let g = Gepa { frontier_type: frontier, objectives: vec![length], ..gepa(150) };
        let (state, report) = run(&g, &engine(lm()), &task, &[]).await.unwrap();
        assert_eq!(state.predictors["solve"].instruction.as_deref(), Some(FIX), "{frontier:?}");
        let f = front(&report.details);
        let best = report.details["best_candidate"].as_u64().unwrap();
        assert!(f.contains(&0) && f.contains(&best) && best != 0, "{frontier:?}: {f:?}");
    }
    // Without an objective besides the score there is nothing to keep a front over.
    for (frontier, name) in [(FrontierType::Objective, "objective"), (FrontierType::Cartesian, "cartesian")] {
        let g = Gepa { frontier_type: frontier, ..gepa(150) };
        let err = check(&g, &task).unwrap_err().to_string();
        assert!(err.contains(&format!("frontier_type {name}")) && err.contains("besides the score"), "{err}");
    }
}

#[tokio::test]
async fn without_feedback_that_explains_the_failures_gepa_keeps_the_program() {
    let task = task(false);
    let lm = lm();
    let (state, report) = run(&gepa(150), &engine(lm.clone()), &task, &[]).await.unwrap();
    assert_eq!(state, task.program.state());
    assert_eq!(report.final_val, report.baseline_val);
    let log = report.details["log"].as_array().unwrap();
    assert!(!log.is_empty());
    assert!(log.iter().all(|e| e["outcome"] != "accepted"), "{log:?}");
    assert!(reflections(&lm).iter().all(|r| !r.messages.last().unwrap().content.contains("add carefully")));
}

#[tokio::test]
async fn the_plan_bounds_the_run_and_is_met_exactly_when_every_proposal_is_rejected() {
    // Without the explaining feedback every child ties its parent on the minibatch and is
    // rejected: each iteration costs the parent's and the child's minibatch, and the budget buys
    // the plan's largest number of proposals.
    let task = task(false);
    let opt = Gepa { skip_perfect_score: false, ..gepa(100) };
    let (plan, _) = check(&opt, &task).unwrap();
    let r = opt.resolve(&task).unwrap();
    assert_eq!(r.proposals, (3, 10));
    assert!(plan.notes.iter().any(|n| n.contains("between 3 and 10 proposals")), "{:?}", plan.notes);
    let lm = lm();
    let (_, report) = run(&opt, &engine(lm.clone()), &task, &[]).await.unwrap();
    let d = &report.details;
    assert_eq!(d["proposals"], 10);
    assert_eq!(d["metric_calls_used"], 20 + 10 * 6);
    assert_eq!(reflections(&lm).len(), 10);
    assert_eq!(report.trials.len(), 1 + 10);
    assert!(report.spent.proposer.calls <= plan.proposer_calls);
    assert!(report.spent.task.calls <= plan.task_calls);
    assert!(report.trials.len() as u64 <= plan.trials);

    // With the explaining feedback (accepted children, skips): still within the plan.
    let task = self::task(true);
    for calls in [46, 80, 150, 300] {
        let opt = gepa(calls);
        let (plan, _) = check(&opt, &task).unwrap();
        let (_, report) = run(&opt, &engine(self::lm()), &task, &[]).await.unwrap();
        let used = report.details["metric_calls_used"].as_u64().unwrap();
        assert!(used <= calls, "{used} > {calls}");
        assert!(report.spent.task.calls <= plan.task_calls, "{calls}");
        assert!(report.spent.proposer.calls <= plan.proposer_calls, "{calls}");
        assert!(report.trials.len() as u64 <= plan.trials, "{calls}");
        let proposals = report.details["proposals"].as_u64().unwrap();
        assert!(proposals <= opt.resolve(&task).unwrap().proposals.1);
    }
}

#[tokio::test]
async fn budgets_are_checked_before_any_call() {
    let task = task(true);
    let err = check(&gepa(45), &task).unwrap_err().to_string();
    assert!(err.contains("a budget of 45 metric calls buys no proposal"), "{err}");
    assert!(err.contains("at least 46"), "{err}");
    let lm = lm();
    assert!(gepa(45).optimize(&engine(lm.clone()), &task).await.is_err());
    assert_eq!(lm.calls(), 0);

    let both = Gepa { max_full_evals: Some(3), ..gepa(100) };
    assert!(check(&both, &task).unwrap_err().to_string().contains("exactly one of auto, max_metric_calls"));
    let none = Gepa { auto: None, ..Gepa::default() };
    assert!(check(&none, &task).is_err());
    let zero = Gepa { reflection_minibatch_size: 0, ..gepa(100) };
    assert!(check(&zero, &task).unwrap_err().to_string().contains("reflection_minibatch_size"));
    // auto maps to metric calls as dspy.GEPA does; max_full_evals counts training + validation.
    let light = Gepa::default();
    assert_eq!(light.resolve(&task).unwrap().max_metric_calls, auto_metric_calls(1, 6, 20));
    let heavy = Gepa { auto: Some(Auto::Heavy), ..Gepa::default() };
    assert_eq!(heavy.resolve(&task).unwrap().max_metric_calls, auto_metric_calls(1, 18, 20));
    let full = Gepa { auto: None, max_full_evals: Some(2), ..Gepa::default() };
    assert_eq!(full.resolve(&task).unwrap().max_metric_calls, 2 * (12 + 20));
}

#[tokio::test]
async fn a_resumed_run_ends_in_the_state_of_an_uninterrupted_one() {
    let task = task(true);
    let opt = gepa(150);
    let lm0 = lm();
    let (reference, report) = run(&opt, &engine(lm0.clone()), &task, &[]).await.unwrap();
    let total = report.spent.total().calls;
    assert_eq!(lm0.calls() as u64, total);
    assert!(total > 50, "{total}");

    // A run stopped by a call cap after 40 calls, then "killed" with 30 of them journaled and a
    // torn line after them.
    let dir = tempfile::tempdir().unwrap();
    let lm1 = lm();
    let capped = Budget { max_calls: Some(40), ..Budget::default() };
    let checkpoint = Arc::new(RunDirCheckpoint::open(dir.path()).unwrap());
    let (_, stopped) = run(&opt, &engine_with(lm1.clone(), checkpoint, capped), &task, &[]).await.unwrap();
    assert!(stopped.stopped.is_some());
    assert_eq!(lm1.calls(), 40);
    let path = dir.path().join(JOURNAL_FILE);
    let journal = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = journal.lines().take(30).collect();
    std::fs::write(&path, format!("{}\n{{\"key\":\"torn", kept.join("\n"))).unwrap();

    let lm2 = lm();
    let checkpoint = Arc::new(RunDirCheckpoint::open(dir.path()).unwrap());
    let resumed = engine_with(lm2.clone(), checkpoint, Budget::default());
    assert_eq!(resumed.journal_len(), 30);
    let (state, again) = run(&opt, &resumed, &task, &[]).await.unwrap();
    assert_eq!(state, reference);
    assert_eq!(again.details, report.details);
    assert_eq!(again.spent.total().calls, total, "journaled answers count as calls");
    assert_eq!(lm2.calls() as u64, total - 30, "no journaled call is made again");
}

/// Two steps whose failures fall on different examples: `draft` adds badly on even-numbered
/// questions unless told to add "carefully" (and then overshoots on odd ones), `fix` passes the
/// draft through unless told to "check" it, which repairs the odd ones. Each predictor's fix
/// helps half the examples; only a candidate with both gets them all.
mod two_steps {
    use super::*;
    use promptsmith_core::{Predictor, Program, ProgramBuilder, Signature};

    pub(super) const CAREFUL: &str = "Add the numbers carefully.";
    pub(super) const CHECK: &str = "Check the draft against the question and correct it.";

    pub(super) fn program() -> Program {
        let draft = Predictor::new("draft", Signature::parse("question -> draft: int").unwrap());
        let fix = Predictor::new("fix", Signature::parse("question, draft -> answer: int").unwrap());
        ProgramBuilder::new("two_step")
            .predictor(draft)
            .predictor(fix)
            .step("draft", &[])
            .step("fix", &[])
            .output("answer", "fix.answer")
            .build()
            .unwrap()
    }

    fn index_and_sum(question: &str) -> (i64, i64) {
        let nums: Vec<i64> = question.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
        (nums[0], nums.iter().skip(1).sum())
    }

    fn reflect(shown: &str) -> &'static str {
        if shown.contains("Outputs:\n- draft:") {
            if shown.contains("add carefully") {
                CAREFUL
            } else {
                GENERIC
            }
        } else if shown.contains("check the draft") {
            CHECK
        } else {
            GENERIC
        }
    }

    pub(super) fn answer(req: &ChatRequest) -> String {
        let (system, last) = (&req.messages[0].content, &req.messages.last().unwrap().content);
        if is_reflection(req) {
            return format!(
                "[[ ## diagnosis ## ]]\nHalf are wrong.\n\n[[ ## new_instruction ## ]]\n{}\n\n[[ ## completed ## ]]",
                reflect(last)
            );
        }
        let question = between(last, "[[ ## question ## ]]", "\n\n");
        let (i, right) = index_and_sum(question);
        if !system.contains("`answer`") {
            let careful = system.contains("carefully");
            let ok = if i % 2 == 0 { careful } else { !careful && difficulty(question) < 0.5 };
            return format!("[[ ## draft ## ]]\n{}\n\n[[ ## completed ## ]]", if ok { right } else { right + 1 });
        }
        let draft: i64 = between(last, "[[ ## draft ## ]]", "\n\n").parse().unwrap_or_default();
        let got = if system.contains("Check the draft") && i % 2 == 1 { right } else { draft };
        format!("[[ ## answer ## ]]\n{got}\n\n[[ ## completed ## ]]")
    }

    /// Exact match, with feedback naming the step at fault.
    pub(super) struct StepFeedback;

    #[async_trait::async_trait]
    impl Metric for StepFeedback {
        fn name(&self) -> &str {
            "step_feedback"
        }
        async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
            let want = example.get("answer").and_then(Value::as_i64);
            if want == prediction.fields.get("answer").and_then(Value::as_i64) {
                return MetricResult::new(1.0, "Correct.");
            }
            let (i, _) = index_and_sum(example.get("question").and_then(Value::as_str).unwrap_or_default());
            MetricResult::fail(if i % 2 == 0 {
                "The draft is off: it must add carefully."
            } else {
                "The final answer must check the draft against the question."
            })
        }
    }
}

#[tokio::test]
async fn round_robin_reflects_on_each_predictor_and_merges_join_what_two_lines_fixed() {
    let task = OptimizeTask {
        program: two_steps::program(),
        metric: Arc::new(two_steps::StepFeedback),
        ..common::task(12, 20)
    };
    let (mut merged_runs, mut alternations) = (0, 0);
    for seed in 20..32 {
        let lm = Arc::new(ScriptedLm::from_fn(two_steps::answer).with_model_name("scripted"));
        let config = EngineConfig { concurrency: 3, seed, budget: Budget::default(), failure_score: 0.0 };
        let e = Engine::new(RoleModels::single(lm), config, Arc::new(NoCheckpoint), Arc::new(NoEvents)).unwrap();
        let (state, report) = run(&gepa(400), &e, &task, &[]).await.unwrap();
        let d = &report.details;
        let cands = d["candidates"].as_array().unwrap();
        // Round robin: each parent's reflections change `draft` and `fix` in turn.
        let log = d["log"].as_array().unwrap();
        for parent in 0..cands.len() {
            let turns: Vec<&Value> = log
                .iter()
                .filter(|e| e["parent"] == parent && e.get("predictors").is_some())
                .map(|e| &e["predictors"][0])
                .collect();
            assert!(turns.windows(2).all(|w| w[0] != w[1]), "seed {seed}, parent {parent}: {turns:?}");
            alternations += turns.len().saturating_sub(1);
        }
        assert_eq!(log.iter().find(|e| e.get("predictors").is_some()).unwrap()["predictors"][0], "draft");
        // Every candidate is new (a reflection that rebuilds one in the pool is not tried again).
        let ids: std::collections::BTreeSet<&str> = cands.iter().map(|c| c["candidate"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), cands.len());
        // Whatever the path, the result has both fixes.
        assert_eq!(state.predictors["draft"].instruction.as_deref(), Some(two_steps::CAREFUL), "seed {seed}");
        assert_eq!(state.predictors["fix"].instruction.as_deref(), Some(two_steps::CHECK), "seed {seed}");
        assert_eq!(report.final_val.unwrap().score, 1.0);
        for m in cands.iter().filter(|c| c["origin"] == "merge") {
            merged_runs += 1;
            let (a, b) = (m["parents"][0].as_u64().unwrap() as usize, m["parents"][1].as_u64().unwrap() as usize);
            let ancestor = &cands[m["ancestor"].as_u64().unwrap() as usize];
            for name in ["draft", "fix"] {
                let from = m["sources"][name].as_u64().unwrap() as usize;
                assert!(from == a || from == b, "{m}");
                assert_eq!(m["instructions"][name], cands[from]["instructions"][name], "{m}");
                let changed =
                    [a, b].into_iter().filter(|p| cands[*p]["instructions"][name] != ancestor["instructions"][name]);
                if let Some(p) = changed.clone().next() {
                    if changed.count() == 1 {
                        assert_eq!(from, p, "{name} comes from the side that changed it: {m}");
                    }
                }
            }
            let sums = m["parent_sums"].as_array().unwrap();
            assert!(m["merged_sum"].as_f64().unwrap() >= sums[0].as_f64().unwrap().max(sums[1].as_f64().unwrap()));
        }
    }
    assert!(merged_runs > 0, "no seed merged two lines");
    assert!(alternations > 0);
}

/// The scripted model, but a reflection call waits (at most 10 s) until another one is in flight
/// beside it: reflections made at once meet, reflections made one after another never do.
struct Meeting {
    inner: Arc<ScriptedLm>,
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    met: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl LanguageModel for Meeting {
    async fn chat(&self, req: &ChatRequest) -> Result<promptsmith_core::ChatResponse, promptsmith_core::LmError> {
        use std::sync::atomic::Ordering::SeqCst;
        if is_reflection(req) {
            let met = self.met.notified();
            tokio::pin!(met);
            met.as_mut().enable();
            let now = self.in_flight.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            if now >= 2 {
                self.met.notify_waiters();
            } else {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), met).await;
            }
            let out = self.inner.chat(req).await;
            self.in_flight.fetch_sub(1, SeqCst);
            return out;
        }
        self.inner.chat(req).await
    }
    fn model_name(&self) -> String {
        self.inner.model_name()
    }
}

fn meeting() -> Arc<Meeting> {
    Arc::new(Meeting { inner: lm(), in_flight: 0.into(), most: 0.into(), met: tokio::sync::Notify::new() })
}

/// `parallel_proposals` 3: an iteration makes up to three proposals whose reflections run at
/// once; GEPA still fixes the predictor within its budget, two runs end alike (trials are
/// recorded in the order proposed, not the order finished), and when every proposal is rejected
/// the budget buys exactly the proposals it buys one at a time.
#[tokio::test]
async fn parallel_proposals_reflect_at_once_and_keep_the_budget() {
    let task = task(true);
    let opt = Gepa { parallel_proposals: 3, ..gepa(150) };
    let lm = meeting();
    let (state, report) = run(&opt, &engine(lm.clone()), &task, &[]).await.unwrap();
    assert_eq!(state.predictors["solve"].instruction.as_deref(), Some(FIX));
    assert!(lm.most.load(std::sync::atomic::Ordering::SeqCst) >= 2, "the reflections never overlapped");
    let d = &report.details;
    assert!(d["metric_calls_used"].as_u64().unwrap() <= 150);
    let log = d["log"].as_array().unwrap();
    let first = log.iter().filter(|e| e["iteration"] == 1).count();
    assert_eq!(first, 3, "{log:?}");
    let (again, report2) = run(&opt, &engine(meeting()), &task, &[]).await.unwrap();
    assert_eq!(again, state);
    let trial = |t: &promptsmith_optimize::events::TrialRecord| (t.number, t.kind, t.candidate.clone(), t.score);
    assert_eq!(
        report.trials.iter().map(trial).collect::<Vec<_>>(),
        report2.trials.iter().map(trial).collect::<Vec<_>>()
    );

    let task = self::task(false);
    let opt = Gepa { skip_perfect_score: false, parallel_proposals: 3, ..gepa(100) };
    let lm = self::lm();
    let (_, report) = run(&opt, &engine(lm.clone()), &task, &[]).await.unwrap();
    assert_eq!(report.details["proposals"], 10);
    assert_eq!(report.details["metric_calls_used"], 20 + 10 * 6);
    assert_eq!(reflections(&lm).len(), 10);

    let bad = Gepa { parallel_proposals: 0, ..gepa(100) };
    assert!(check(&bad, &task).unwrap_err().to_string().contains("parallel_proposals 0 must be between 1 and 64"));
}
