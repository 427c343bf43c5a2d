#![allow(clippy::unwrap_used)]
//! COPRO on the scripted world of `common`: it keeps the best instruction it scored (measured
//! directly, an exhaustive search over the same candidates agrees), its later rounds show the
//! proposer the scored history, budget caps and cancellation stop it cleanly, and a seed fixes
//! the result.

mod common;

use promptsmith_core::{ChatRequest, LanguageModel, Predictor, Program, ProgramBuilder, ProgramState, Signature};
use promptsmith_eval::Evaluator;
use promptsmith_lm::ScriptedLm;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::checkpoint::NoCheckpoint;
use promptsmith_optimize::events::{Event, TrialRecord};
use promptsmith_optimize::optimizers::copro::Copro;
use promptsmith_optimize::optimizers::{OptimizeTask, Optimizer};
use promptsmith_optimize::run::{check, run};
use promptsmith_optimize::{Engine, EngineConfig, RoleModels};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What the scripted proposer writes once the history shows both halves of the hidden rule.
const COMBINED: &str = "Work carefully and step by step, then give the sum.";
const BASIC: &str = "Given the fields `question`, produce the fields `answer`.";

use common::engine;

fn field(name: &str, text: &str) -> String {
    format!("[[ ## {name} ## ]]\n{text}\n\n[[ ## completed ## ]]")
}

fn is_refinement(req: &ChatRequest) -> bool {
    req.messages[0].content.contains("`attempted_instructions`")
}

fn is_proposal(req: &ChatRequest) -> bool {
    req.messages[0].content.contains("`proposed_instruction`")
}

/// `common::answer`, except that a proposer shown scored attempts with both "carefully" and
/// "step by step" among them combines the two (a proposer that learns from the history).
fn learning_answer(req: &ChatRequest) -> String {
    let shown = &req.messages.last().unwrap().content;
    if is_refinement(req) && shown.contains("carefully") && shown.contains("step by step") {
        return field("proposed_instruction", COMBINED);
    }
    common::answer(req)
}

fn learning_lm() -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(learning_answer).with_model_name("scripted"))
}

/// Score of `state` on the validation set, measured directly with `lm` (no engine, no cache).
async fn measure(task: &OptimizeTask, state: &ProgramState, lm: &dyn LanguageModel) -> f64 {
    let program = task.program.with_state(state).unwrap();
    Evaluator::new(task.metric.clone()).evaluate(&program, lm, &task.valset).await.mean
}

fn with_instructions(program: &Program, instructions: &BTreeMap<String, String>) -> ProgramState {
    let mut state = program.state();
    for (name, instruction) in instructions {
        state.predictors.get_mut(name).unwrap().instruction = Some(instruction.clone());
    }
    state
}

fn instructions_of(trial: &TrialRecord) -> BTreeMap<String, String> {
    serde_json::from_value(trial.params["instructions"].clone()).unwrap()
}

#[tokio::test]
async fn copro_keeps_the_best_instruction_an_exhaustive_search_would() {
    let task = common::task(10, 40);
    let lm = learning_lm();
    let e = engine(lm.clone(), 7, Budget::default());
    let opt = Copro { breadth: 4, depth: 2, ..Copro::default() };
    let (state, report) = run(&opt, &e, &task, &[]).await.unwrap();
    assert_eq!(report.optimizer, "copro");
    assert!(report.stopped.is_none());

    // Round 1: the basic instruction and three proposals; round 2: four refinements that all
    // come back as the same combined instruction, scored once.
    let tried: Vec<String> = report.trials.iter().map(|t| instructions_of(t)["solve"].clone()).collect();
    assert_eq!(
        tried,
        vec![
            BASIC,
            "Add the two numbers carefully and answer with the sum.",
            "Answer briefly.",
            "Think step by step, then give the sum.",
            COMBINED
        ]
    );
    assert_eq!(report.trials.iter().map(|t| t.params["round"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 1, 1, 1, 2]);
    assert_eq!(report.spent.proposer.calls, 3 + 4);
    // Every trial scored the whole validation set once; the report's baseline and final scores
    // came from the rollout cache.
    assert_eq!(report.spent.task.calls, 5 * 40);

    // Exhaustive search over the same candidates, each measured directly.
    let direct = common::lm();
    let mut exhaustive = f64::MIN;
    for (trial, instruction) in report.trials.iter().zip(&tried) {
        let st = with_instructions(&task.program, &BTreeMap::from([("solve".to_string(), instruction.clone())]));
        let score = measure(&task, &st, direct.as_ref()).await;
        assert_eq!(trial.score, score, "trial score of {instruction:?}");
        exhaustive = exhaustive.max(score);
    }
    assert_eq!(measure(&task, &state, direct.as_ref()).await, exhaustive);
    assert_eq!(report.final_val.as_ref().unwrap().score, exhaustive);
    assert_eq!(state.predictors["solve"].instruction.as_deref(), Some(COMBINED));
    assert!(exhaustive > report.baseline_val.as_ref().unwrap().score);
    assert_eq!(report.details["best_instructions"]["solve"], COMBINED);
}

#[tokio::test]
async fn later_rounds_show_the_proposer_the_scored_history_best_last() {
    let task = common::task(10, 40);
    let lm = learning_lm();
    let e = engine(lm.clone(), 3, Budget::default());
    let opt = Copro { breadth: 4, depth: 3, init_temperature: 0.7, track_stats: true };
    let (_, report) = run(&opt, &e, &task, &[]).await.unwrap();

    let proposals: Vec<ChatRequest> = lm.requests().into_iter().filter(is_proposal).collect();
    assert_eq!(proposals.len(), 3 + 4 + 4);
    assert_eq!(report.spent.proposer.calls, 11);
    // Distinct rollout ids, so no proposal is a cached copy of another; the set temperature.
    let ids: BTreeSet<u64> = proposals.iter().map(|r| r.rollout_id.unwrap()).collect();
    assert_eq!(ids.len(), proposals.len());
    assert!(proposals.iter().all(|r| r.temperature == Some(0.7)));
    // Round 1 proposals start from the basic instruction only.
    for r in &proposals[..3] {
        assert!(!is_refinement(r));
        assert!(r.messages.last().unwrap().content.contains(BASIC));
    }

    // The first refinement round sees every round-1 instruction with its score, ascending.
    let round1: Vec<&TrialRecord> = report.trials.iter().filter(|t| t.params["round"] == 1).collect();
    assert_eq!(round1.len(), 4);
    let mut sorted = round1.clone();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    for r in &proposals[3..7] {
        assert!(is_refinement(r));
        let shown = &r.messages.last().unwrap().content;
        let mut listed: Vec<(usize, f64)> = sorted
            .iter()
            .map(|t| {
                let entry = format!("(score {:.1}%):\n{}", t.score * 100.0, instructions_of(t)["solve"]);
                (shown.find(&entry).unwrap_or_else(|| panic!("{entry:?} not in {shown}")), t.score)
            })
            .collect();
        listed.sort_by_key(|(at, _)| *at);
        assert!(listed.windows(2).all(|w| w[0].1 <= w[1].1), "attempts must go from the lowest score up: {shown}");
        assert!(!shown.contains(COMBINED));
    }
    // The second one also sees the round-2 instruction, the best so far, last.
    let combined = report.trials.iter().find(|t| instructions_of(t)["solve"] == COMBINED).unwrap();
    assert!(combined.score > sorted.last().unwrap().score);
    for r in &proposals[7..] {
        let shown = &r.messages.last().unwrap().content;
        let entry = format!("(score {:.1}%):\n{COMBINED}", combined.score * 100.0);
        let at = shown.find(&entry).unwrap_or_else(|| panic!("{entry:?} not in {shown}"));
        assert!(!shown[at..].contains("Attempt "), "the best attempt comes last: {shown}");
        assert!(shown.matches("Attempt ").count() == 4, "at most `breadth` attempts are shown: {shown}");
    }
    // Round 3's proposals were all known already: no trial wasted on them.
    assert_eq!(report.trials.len(), 5);
    let stats = report.details["stats"].as_array().unwrap();
    assert_eq!(stats.len(), 3);
    assert_eq!(stats[1]["predictors"]["solve"]["latest"]["max"], combined.score);
    assert!(stats[2]["predictors"]["solve"]["latest"].is_null());
}

#[tokio::test]
async fn budget_caps_and_cancellation_stop_cleanly_with_the_best_so_far() {
    let task = common::task(10, 40);
    let opt = Copro { breadth: 4, depth: 2, ..Copro::default() };

    // Three proposals, two full trials, then ten calls into the third.
    let lm = learning_lm();
    let capped = engine(lm.clone(), 7, Budget { max_calls: Some(93), ..Budget::default() });
    let outcome = opt.optimize(&capped, &task).await.unwrap();
    assert!(outcome.stopped.as_ref().unwrap().to_string().contains("call cap of 93"), "{:?}", outcome.stopped);
    assert_eq!(lm.calls(), 93, "the call cap is exact");
    let trials = capped.trials();
    assert_eq!(trials.len(), 2);
    let best = trials.iter().map(|t| t.score).fold(f64::MIN, f64::max);
    assert_eq!(outcome.val_score, Some(best));
    assert_eq!(measure(&task, &outcome.state, common::lm().as_ref()).await, best);

    // Stopped among the proposals: nothing scored, the program as it was.
    let lm = learning_lm();
    let capped = engine(lm.clone(), 7, Budget { max_calls: Some(2), ..Budget::default() });
    let outcome = opt.optimize(&capped, &task).await.unwrap();
    assert!(outcome.stopped.is_some());
    assert_eq!(lm.calls(), 2);
    assert_eq!((outcome.state, outcome.val_score), (task.program.state(), None));

    // Cancelled before the start: not one call.
    let lm = learning_lm();
    let token = CancellationToken::new();
    token.cancel();
    let cancelled = engine(lm.clone(), 7, Budget::default()).with_cancel(token);
    let outcome = opt.optimize(&cancelled, &task).await.unwrap();
    assert_eq!(outcome.stopped, Some(promptsmith_optimize::engine::Stop::Cancelled));
    assert_eq!(lm.calls(), 0);
}

#[tokio::test]
async fn same_seed_same_result() {
    let task = common::task(10, 30);
    let opt = Copro { breadth: 5, depth: 3, ..Copro::default() };
    let a = run(&opt, &engine(learning_lm(), 21, Budget::default()), &task, &[]).await.unwrap();
    let b = run(&opt, &engine(learning_lm(), 21, Budget::default()), &task, &[]).await.unwrap();
    assert_eq!(a.0, b.0);
    assert_eq!(a.1.trials, b.1.trials);
    assert_eq!(a.1.details, b.1.details);
    assert_eq!(a.1.spent.total().calls, b.1.spent.total().calls);
}

#[tokio::test]
async fn settings_are_checked_before_any_call_and_plans_bound_the_run() {
    let task = common::task(10, 40);
    let err = |opt: Copro| check(&opt, &task).unwrap_err().to_string();
    assert!(err(Copro { breadth: 1, ..Copro::default() }).contains("breadth must be at least 2"));
    assert!(err(Copro { depth: 0, ..Copro::default() }).contains("depth must be at least 1"));
    assert!(err(Copro { init_temperature: -1.0, ..Copro::default() }).contains("init_temperature"));
    let no_val = OptimizeTask { valset: Vec::new(), ..common::task(10, 0) };
    assert!(check(&Copro::default(), &no_val).unwrap_err().to_string().contains("validation set is empty"));

    // Defaults as in DSPy's issue: breadth 10, depth 3.
    let opt = Copro::default();
    assert_eq!((opt.breadth, opt.depth, opt.init_temperature), (10, 3, 1.0));
    let (plan, _) = check(&opt, &task).unwrap();
    assert_eq!(plan.trials, 30);
    assert_eq!(plan.proposer_calls, 2 * (9 + 2 * 10));
    assert_eq!(plan.task_calls, 30 * 40);
    let two = OptimizeTask { program: two_step_program(), ..task.clone() };
    let (plan2, _) = check(&opt, &two).unwrap();
    // Two predictors: every round scores all candidates so far again (10 + 20 + 30 each).
    assert_eq!(plan2.trials, 2 * 60);
    assert_eq!(plan2.task_calls, 120 * 40 * 2);

    let small = Copro { breadth: 4, depth: 3, ..Copro::default() };
    let (plan, _) = check(&small, &task).unwrap();
    let (_, report) = run(&small, &engine(learning_lm(), 1, Budget::default()), &task, &[]).await.unwrap();
    assert!(report.trials.len() as u64 <= plan.trials);
    assert!(report.spent.proposer.calls <= plan.proposer_calls);
    assert!(report.spent.task.calls <= plan.task_calls);
}

/// `question -> draft: int`, then `question, draft -> answer: int`.
fn two_step_program() -> Program {
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

fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let start = format!("[[ ## {name} ## ]]");
    let rest = &text[text.find(&start).unwrap() + start.len()..];
    rest[..rest.find("\n\n").unwrap_or(rest.len())].trim()
}

/// The drafting step follows the hidden rule of `common`; the fixing step passes the draft on,
/// except that an instruction saying "carefully" corrects the draft on every third question.
fn two_step_answer(req: &ChatRequest) -> String {
    let system = &req.messages[0].content;
    if is_proposal(req) {
        return learning_answer(req);
    }
    if system.contains("Your output fields are:\n1. `draft`") {
        return common::answer(req).replace("[[ ## answer ## ]]", "[[ ## draft ## ]]");
    }
    let last = &req.messages.last().unwrap().content;
    let nums: Vec<i64> =
        section(last, "question").split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let draft = section(last, "draft").to_string();
    let out = if system.contains("carefully") && nums[0] % 3 == 0 { (nums[1] + nums[2]).to_string() } else { draft };
    field("answer", &out)
}

#[tokio::test]
async fn several_predictors_are_scored_with_the_others_at_their_current_best() {
    let task = OptimizeTask { program: two_step_program(), ..common::task(10, 40) };
    let lm = Arc::new(ScriptedLm::from_fn(two_step_answer).with_model_name("scripted"));
    let e = engine(lm.clone(), 5, Budget::default());
    let opt = Copro { breadth: 4, depth: 2, ..Copro::default() };
    let (state, report) = run(&opt, &e, &task, &[]).await.unwrap();
    assert!(report.stopped.is_none());

    // Within a round, the fixing step's candidates run with the draft's best of that round: the
    // draft instruction scoring highest with the fixing step as it stood.
    let score_of: BTreeMap<BTreeMap<String, String>, f64> =
        report.trials.iter().map(|t| (instructions_of(t), t.score)).collect();
    for round in [1, 2] {
        let of = |p: &str| -> Vec<&TrialRecord> {
            report.trials.iter().filter(|t| t.params["round"] == round && t.params["predictor"] == p).collect()
        };
        let context = instructions_of(of("draft")[0])["fix"].clone();
        assert!(of("draft").iter().all(|t| instructions_of(t)["fix"] == context));
        let score = |draft: &str| {
            score_of[&BTreeMap::from([("draft".to_string(), draft.to_string()), ("fix".to_string(), context.clone())])]
        };
        let candidates: BTreeSet<String> = report
            .trials
            .iter()
            .filter(|t| t.params["round"].as_u64().unwrap() <= round && t.params["predictor"] == "draft")
            .map(|t| instructions_of(t)["draft"].clone())
            .collect();
        let best = candidates.iter().map(|d| score(d)).fold(f64::MIN, f64::max);
        assert!(!of("fix").is_empty());
        for t in of("fix") {
            assert_eq!(score(&instructions_of(t)["draft"]), best, "round {round}");
        }
    }
    // Round 2 scores the draft's round-1 candidates again, now with the fixing step's best (the
    // current combination was scored in round 1 already and is not scored twice).
    let round2_drafts: BTreeSet<String> = report
        .trials
        .iter()
        .filter(|t| t.params["round"] == 2 && t.params["predictor"] == "draft")
        .map(|t| instructions_of(t)["draft"].clone())
        .collect();
    assert!(round2_drafts.contains("Answer briefly."), "{round2_drafts:?}");
    assert!(round2_drafts.contains(COMBINED));
    // No program is scored twice.
    let ids: BTreeSet<&String> = report.trials.iter().map(|t| &t.candidate).collect();
    assert_eq!(ids.len(), report.trials.len());

    // Exhaustive search over every combination of the instructions it tried, measured directly.
    let mut per_predictor: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in &report.trials {
        for (name, instruction) in instructions_of(t) {
            per_predictor.entry(name).or_default().insert(instruction);
        }
    }
    let direct = ScriptedLm::from_fn(two_step_answer);
    let mut exhaustive = f64::MIN;
    for d in &per_predictor["draft"] {
        for f in &per_predictor["fix"] {
            let st = with_instructions(
                &task.program,
                &BTreeMap::from([("draft".to_string(), d.clone()), ("fix".to_string(), f.clone())]),
            );
            exhaustive = exhaustive.max(measure(&task, &st, &direct).await);
        }
    }
    assert_eq!(measure(&task, &state, &direct).await, exhaustive);
    assert_eq!(state.predictors["draft"].instruction.as_deref(), Some(COMBINED));
    assert!(state.predictors["fix"].instruction.as_deref().unwrap().contains("carefully"));
    assert!(exhaustive > report.baseline_val.as_ref().unwrap().score);
}

/// A proposer that answers with the step's signature (as a small model did for MIPROv2) has
/// that proposal dropped by the proposal guard: never scored, never kept, said in a message,
/// and the planned proposer calls are spent as before.
#[tokio::test]
async fn proposals_that_restate_the_signature_are_dropped() {
    fn echoing(req: &ChatRequest) -> String {
        if is_proposal(req) && !is_refinement(req) {
            let last = &req.messages.last().unwrap().content;
            return field("proposed_instruction", section(last, "task_signature"));
        }
        learning_answer(req)
    }
    let task = common::task(10, 40);
    let signature = task.program.predictors[0].signature.to_signature_string();
    let lm = Arc::new(ScriptedLm::from_fn(echoing).with_model_name("scripted"));
    let messages = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = messages.clone();
    let sink = move |event: &Event| {
        if let Event::Message(m) = event {
            seen.lock().unwrap().push(m.clone());
        }
    };
    let config = EngineConfig { concurrency: 4, seed: 7, budget: Budget::default(), failure_score: 0.0 };
    let e = Engine::new(RoleModels::single(lm), config, Arc::new(NoCheckpoint), Arc::new(sink)).unwrap();
    let opt = Copro { breadth: 4, depth: 2, ..Copro::default() };
    let (_, report) = run(&opt, &e, &task, &[]).await.unwrap();
    let tried: Vec<String> = report.trials.iter().map(|t| instructions_of(t)["solve"].clone()).collect();
    assert_eq!(tried[0], BASIC, "round 1 keeps only the instruction as written");
    assert_eq!(report.trials.iter().filter(|t| t.params["round"] == 1).count(), 1);
    assert!(!tried.contains(&signature), "{tried:?}");
    assert_eq!(report.spent.proposer.calls, 3 + 4);
    let dropped =
        messages.lock().unwrap().iter().filter(|m| m.contains("dropped: it only restates the signature")).count();
    assert_eq!(dropped, 3);
}
