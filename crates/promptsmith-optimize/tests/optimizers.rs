#![allow(clippy::unwrap_used)]
//! Each optimizer, on a scripted model whose accuracy depends on the prompt by a rule the
//! optimizer cannot see, picks what an exhaustive search over the same candidates picks.

mod common;

use promptsmith_core::{ChatRequest, ProgramState, Role};
use promptsmith_eval::Evaluator;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::engine::state_hash;
use promptsmith_optimize::events::TrialKind;
use promptsmith_optimize::optimizers::bootstrap::BootstrapFewShot;
use promptsmith_optimize::optimizers::labeled::LabeledFewShot;
use promptsmith_optimize::optimizers::mipro::{Auto, MiproV2};
use promptsmith_optimize::optimizers::random_search::RandomSearch;
use promptsmith_optimize::optimizers::OptimizeTask;
use promptsmith_optimize::run::{check, run};
use std::collections::BTreeMap;

use common::engine;

/// Score of `state` on `task`'s validation set, measured directly (no engine).
async fn measure(task: &OptimizeTask, state: &ProgramState) -> f64 {
    let program = task.program.with_state(state).unwrap();
    let lm = common::lm();
    Evaluator::new(task.metric.clone()).evaluate(&program, lm.as_ref(), &task.valset).await.mean
}

#[tokio::test]
async fn labeled_few_shot_uses_k_training_examples() {
    let task = common::task(20, 20);
    let e = engine(common::lm(), 1, Budget::default());
    let (state, report) = run(&LabeledFewShot { k: 3 }, &e, &task, &[]).await.unwrap();
    let demos = &state.predictors["solve"].demos;
    assert_eq!(demos.len(), 3);
    assert!(demos.iter().all(|d| task.trainset.iter().any(|e| e.fields == *d)));
    assert_eq!(report.final_val.as_ref().unwrap().score, measure(&task, &state).await);
}

#[tokio::test]
async fn bootstrap_keeps_only_correct_teacher_traces() {
    let task = common::task(30, 20);
    let lm = common::lm();
    let e = engine(lm.clone(), 3, Budget::default());
    let opt = BootstrapFewShot::default();
    let (state, report) = run(&opt, &e, &task, &[]).await.unwrap();
    let demos = &state.predictors["solve"].demos;
    // Four bootstrapped demos (each a correct trace), then labeled ones up to 16.
    assert_eq!(demos.len(), 16);
    for d in &demos[..4] {
        let q = d["question"].as_str().unwrap();
        let ex = task.trainset.iter().find(|e| e.get("question").unwrap() == q).unwrap();
        assert_eq!(d["answer"], *ex.get("answer").unwrap(), "a bootstrapped demo must be a correct trace");
    }
    assert_eq!(report.details["bootstrapped"], 4);
    // Teacher calls are counted under the teacher role; the evaluations of the result and of
    // the baseline (for the report) under task.
    assert!(report.spent.teacher.calls >= 4);
    assert_eq!(report.spent.task.calls, 40);
    assert_eq!(report.final_val.as_ref().unwrap().score, measure(&task, &state).await);
}

#[tokio::test]
async fn a_stronger_teacher_program_bootstraps_with_fewer_tries() {
    let task = common::task(30, 20);
    let default_opt = BootstrapFewShot::default();
    let (_, weak) = run(&default_opt, &engine(common::lm(), 3, Budget::default()), &task, &[]).await.unwrap();
    // The teacher's own state: an instruction the hidden rule rewards, and two labeled demos.
    let mut teacher = task.program.state();
    let solve = teacher.predictors.get_mut("solve").unwrap();
    solve.instruction = Some("Add the two numbers carefully. Think step by step.".into());
    solve.demos = task.trainset[..2].iter().map(|e| e.fields.clone()).collect();
    let mut opt = BootstrapFewShot::default();
    opt.settings.teacher_state = Some(teacher);
    let (state, strong) = run(&opt, &engine(common::lm(), 3, Budget::default()), &task, &[]).await.unwrap();
    assert_eq!(strong.details["bootstrapped"], 4);
    let tried = |r: &promptsmith_optimize::run::RunReport| r.details["tried"].as_u64().unwrap();
    assert!(tried(&strong) < tried(&weak), "strong teacher tried {}, default {}", tried(&strong), tried(&weak));
    // The student keeps its own instruction; only the demos come from the teacher.
    assert_eq!(state.predictors["solve"].instruction, task.program.state().predictors["solve"].instruction);
}

/// The candidate states the optimizer evaluated on the validation set, by content hash,
/// rebuilt from the prompts the model received: every candidate's demos are training examples
/// (labeled, or bootstrapped traces, which are kept only when correct), shown as turns before
/// the validation question.
fn evaluated_candidates(task: &OptimizeTask, requests: &[ChatRequest]) -> BTreeMap<String, ProgramState> {
    let mut out = BTreeMap::new();
    let question = |content: &str, of: &[promptsmith_core::Example]| {
        of.iter().find(|e| content.contains(e.get("question").unwrap().as_str().unwrap())).cloned()
    };
    for req in requests {
        let (last, turns) = req.messages.split_last().unwrap();
        if question(&last.content, &task.valset).is_none() {
            continue; // a teacher (bootstrap) call on a training question
        }
        let demos = turns
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| {
                question(&m.content, &task.trainset)
                    .unwrap_or_else(|| panic!("a demo that is no training example: {}", m.content))
                    .fields
            })
            .collect();
        let mut state = task.program.state();
        state.predictors.get_mut("solve").unwrap().demos = demos;
        out.insert(state_hash(&state), state);
    }
    out
}

#[tokio::test]
async fn random_search_picks_the_best_candidate_an_exhaustive_search_would() {
    let task = common::task(24, 30);
    let lm = common::lm();
    let e = engine(lm.clone(), 5, Budget::default());
    let opt = RandomSearch { num_candidate_programs: 4, ..RandomSearch::default() };
    let (state, report) = run(&opt, &e, &task, &[]).await.unwrap();
    let full: Vec<_> = report.trials.iter().filter(|t| t.kind == TrialKind::Full).collect();
    assert_eq!(full.len(), 7, "zero-shot, labeled, unshuffled bootstrap and 4 shuffled");
    // Exhaustive: every candidate scored directly with the Evaluator (not the optimizer's report).
    let candidates = evaluated_candidates(&task, &lm.requests());
    let mut direct = Vec::new();
    for t in &full {
        let candidate = candidates.get(&t.candidate).unwrap_or_else(|| panic!("trial {} not rebuilt", t.number));
        let score = measure(&task, candidate).await;
        assert_eq!(t.score, score, "trial {} reports what a direct evaluation gives", t.number);
        direct.push(score);
    }
    let best = direct.iter().copied().fold(f64::MIN, f64::max);
    assert!(candidates.contains_key(&state_hash(&state)), "the pick is one of the candidates");
    let chosen = measure(&task, &state).await;
    assert_eq!(chosen, best, "direct scores {direct:?}, chose {chosen}");
    assert_eq!(report.final_val.as_ref().unwrap().score, best);
    // Under the hidden rule a few demos beat none, so the search must improve on zero-shot.
    assert!(chosen > direct[0], "direct scores {direct:?}");
}

#[tokio::test]
async fn mipro_finds_the_exhaustive_best_combination() {
    let task = common::task(20, 30);
    let e = engine(common::lm(), 11, Budget::default());
    let mut opt = MiproV2 { auto: None, num_candidates: Some(4), num_trials: Some(24), ..MiproV2::default() };
    opt.bootstrap.max_labeled_demos = 2;
    let (state, report) = run(&opt, &e, &task, &[]).await.unwrap();
    let instructions: Vec<String> = serde_json::from_value(report.details["instructions"]["solve"].clone()).unwrap();
    assert!(instructions.len() >= 3, "{instructions:?}");
    assert_eq!(instructions[0], "Given the fields `question`, produce the fields `answer`.");
    // Exhaustive search over the same instruction and demo-set candidates.
    let sets = report.details["demo_sets"].as_array().unwrap().len();
    assert_eq!(sets, 4 + 3);
    let mut exhaustive = f64::MIN;
    let program = task.program.clone();
    for instruction in &instructions {
        for demos in [0usize, 1, 2, 3, 4] {
            let mut st = program.state();
            let p = st.predictors.get_mut("solve").unwrap();
            p.instruction = Some(instruction.clone());
            p.demos = task.trainset[..demos].iter().map(|e| e.fields.clone()).collect();
            exhaustive = exhaustive.max(measure(&task, &st).await);
        }
    }
    let chosen = measure(&task, &state).await;
    assert_eq!(chosen, exhaustive, "MIPROv2 chose {:?}", state.predictors["solve"]);
    assert!(chosen > report.baseline_val.as_ref().unwrap().score);
}

#[tokio::test]
async fn mipro_auto_light_resolves_like_dspy_and_conflicts_are_errors() {
    let task = common::task(40, 160);
    let opt = MiproV2::default();
    let r = opt.resolve(&task).unwrap();
    // light: 6 candidates, 3 instructions (halved with demos), trials max(2*2*log2(6), 9) = 10,
    // 100 validation examples, minibatches (100 > 50), full evals every 5 + final.
    assert_eq!((r.instruction_candidates, r.fewshot_candidates, r.trials), (3, 6, 10));
    assert_eq!((r.val_size, r.minibatch, r.full_evals), (100, true, 3));
    let bad = MiproV2 { auto: Some(Auto::Light), num_trials: Some(5), ..MiproV2::default() };
    let err = check(&bad, &task).unwrap_err().to_string();
    assert!(err.contains("`auto` sets the number of candidates and trials itself"), "{err}");
    let manual = MiproV2 { auto: None, ..MiproV2::default() };
    assert!(check(&manual, &task).unwrap_err().to_string().contains("set num_candidates"));
    let small = common::task(2, 3);
    assert!(check(&opt, &small).unwrap_err().to_string().contains("at least 6"));
    let (_, warnings) = check(&opt, &common::task(10, 10)).unwrap();
    assert!(warnings[0].contains("may not generalise"));
}

#[tokio::test]
async fn mipro_light_runs_minibatches_and_full_evaluations() {
    let task = common::task(30, 80);
    let e = engine(common::lm(), 2, Budget::default());
    let (state, report) = run(&MiproV2::default(), &e, &task, &common::examples(20, 5000)).await.unwrap();
    let kinds: Vec<TrialKind> = report.trials.iter().map(|t| t.kind).collect();
    // Baseline full, then 10 minibatch trials with full evaluations after trials 5 and 10.
    assert_eq!(kinds.len(), 13, "{kinds:?}");
    assert_eq!(kinds[0], TrialKind::Full);
    assert_eq!(kinds.iter().filter(|k| **k == TrialKind::Minibatch).count(), 10);
    assert!(report.trials.iter().filter(|t| t.kind == TrialKind::Minibatch).all(|t| t.n == 35));
    assert!(report.final_val.as_ref().unwrap().score >= report.baseline_val.as_ref().unwrap().score);
    assert!(report.final_test.is_some() && report.baseline_test.is_some());
    assert!(report.spent.proposer.calls >= 3);
    assert_eq!(report.final_val.as_ref().unwrap().score, measure(&task, &state).await);
}

#[tokio::test]
async fn same_seed_same_result_and_budget_caps_are_exact() {
    let task = common::task(24, 30);
    let opt = MiproV2 { auto: None, num_candidates: Some(3), num_trials: Some(6), ..MiproV2::default() };
    let a = run(&opt, &engine(common::lm(), 9, Budget::default()), &task, &[]).await.unwrap();
    let b = run(&opt, &engine(common::lm(), 9, Budget::default()), &task, &[]).await.unwrap();
    assert_eq!(a.0, b.0);
    assert_eq!(a.1.trials, b.1.trials);
    let lm = common::lm();
    let capped = engine(lm.clone(), 9, Budget { max_calls: Some(50), ..Budget::default() });
    let (_, report) = run(&opt, &capped, &task, &[]).await.unwrap();
    assert!(
        matches!(&report.stopped, Some(promptsmith_optimize::engine::Stop::Budget(r)) if r.contains("call cap of 50")),
        "{:?}",
        report.stopped
    );
    assert_eq!(lm.calls(), 50, "the call cap is exact");
    assert_eq!(report.spent.total().calls, 50);
    // A test split the spent budget cannot score is reported, not silently left out.
    let testset = common::examples(10, 900);
    let capped = engine(common::lm(), 9, Budget { max_calls: Some(50), ..Budget::default() });
    let (_, report) = run(&opt, &capped, &task, &testset).await.unwrap();
    assert!(report.final_test.is_none());
    let w = report.warnings.iter().find(|w| w.starts_with("the test split was not scored")).expect("a warning");
    assert!(w.contains("call cap of 50"), "{w}");
    let (_, report) = run(&opt, &engine(common::lm(), 9, Budget::default()), &task, &testset).await.unwrap();
    assert!(report.final_test.is_some() && report.warnings.iter().all(|w| !w.contains("test split")));
}

#[tokio::test]
async fn rollout_cache_scores_each_candidate_example_pair_once() {
    let task = common::task(4, 10);
    let lm = common::lm();
    let e = engine(lm.clone(), 0, Budget::default());
    let program = task.program.clone();
    let id = promptsmith_optimize::engine::state_hash(&program.state());
    let first = e.evaluate(&program, &id, &task.valset, &task.metric, promptsmith_lm::LmRole::Task, 0).await.unwrap();
    assert_eq!(lm.calls(), 10);
    // Same candidate, overlapping examples: only the new ones run.
    let mut more = task.valset[5..].to_vec();
    more.extend(common::examples(3, 9000));
    let second = e.evaluate(&program, &id, &more, &task.metric, promptsmith_lm::LmRole::Task, 0).await.unwrap();
    assert_eq!(lm.calls(), 13);
    assert_eq!(first[5..], second[..5]);
    // A different rollout id is a different sample: it runs again.
    e.evaluate(&program, &id, &task.valset[..2], &task.metric, promptsmith_lm::LmRole::Task, 1).await.unwrap();
    assert_eq!(lm.calls(), 15);
    assert_eq!(e.spent().task.calls, 15);
}

#[tokio::test]
async fn mipro_can_search_the_prompt_layout_too() {
    let task = common::task(20, 30);
    let e = engine(common::lm(), 11, Budget::default());
    let opt = MiproV2 {
        auto: None,
        num_candidates: Some(3),
        num_trials: Some(12),
        search_adapter: true,
        ..MiproV2::default()
    };
    let (state, report) = run(&opt, &e, &task, &[]).await.unwrap();
    let layouts: std::collections::BTreeSet<String> =
        report.trials.iter().filter_map(|t| t.params["solve"]["adapter"].as_str().map(String::from)).collect();
    assert!(layouts.len() >= 2, "the layout is a searched dimension: {layouts:?}");
    // The scripted model only answers in the chat layout, so the chat layout must win.
    assert_eq!(state.predictors["solve"].adapter, Some(promptsmith_core::AdapterKind::Chat));
    assert_eq!(report.final_val.as_ref().unwrap().score, measure(&task, &state).await);
}

#[test]
fn dspy_split_puts_80_percent_in_validation_and_refuses_tiny_sets() {
    use promptsmith_optimize::run::split_like_dspy;
    let (train, val) = split_like_dspy(common::examples(50, 0), 1).unwrap();
    assert_eq!((train.len(), val.len()), (10, 40));
    let (train2, val2) = split_like_dspy(common::examples(50, 0), 1).unwrap();
    assert_eq!((train, val), (train2, val2), "seeded");
    let (_, val) = split_like_dspy(common::examples(2000, 0), 1).unwrap();
    assert_eq!(val.len(), 1000, "at most 1000 validation examples");
    assert!(split_like_dspy(common::examples(5, 0), 1).unwrap_err().to_string().contains("at least 6"));
}

/// The scripted model, except that its proposer quotes a training question on first asks and
/// leaves a placeholder on one re-ask.
fn quoting_answer(req: &promptsmith_core::ChatRequest) -> String {
    let system = &req.messages[0].content;
    let field = |v: &str| format!("[[ ## proposed_instruction ## ]]\n{v}\n\n[[ ## completed ## ]]");
    if system.contains("`proposed_instruction`") {
        return match req.rollout_id.unwrap_or(0) {
            1 => field("Work like this: Q3: what is 21 + 39? Add them carefully."),
            2 => field("Solve Q4: what is 28 + 12? and similar sums."),
            1001 => field("Add the two numbers carefully and answer with the sum."),
            1002 => field("You are a [role suited to the task]. Add the numbers."),
            _ => common::answer(req),
        };
    }
    common::answer(req)
}

#[tokio::test]
async fn mipro_asks_again_for_a_proposal_that_quotes_an_example_then_drops_it() {
    let task = common::task(24, 30);
    let lm = std::sync::Arc::new(promptsmith_lm::ScriptedLm::from_fn(quoting_answer).with_model_name("scripted"));
    let opt = MiproV2 { auto: None, num_candidates: Some(3), num_trials: Some(4), ..MiproV2::default() };
    let (_, report) = run(&opt, &engine(lm, 3, Budget::default()), &task, &[]).await.unwrap();
    let instructions: Vec<&str> =
        report.details["instructions"]["solve"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    // Candidate 0, then proposal 1's re-ask; proposal 2 quoted, then kept a placeholder: dropped.
    assert_eq!(instructions.len(), 2, "{instructions:?}");
    assert_eq!(instructions[1], "Add the two numbers carefully and answer with the sum.");
    let rejected = report.details["rejected_proposals"]["solve"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0]["defect"].as_str().unwrap().contains("[role suited to the task]"), "{rejected:?}");
    assert!(instructions.iter().all(|i| !i.contains("Q3") && !i.contains("Q4")));
}

/// A model that demos confuse: with any demo in the prompt it answers one too high.
fn demo_averse_lm() -> std::sync::Arc<promptsmith_lm::ScriptedLm> {
    std::sync::Arc::new(promptsmith_lm::ScriptedLm::from_fn(|req: &promptsmith_core::ChatRequest| {
        let text = common::answer(req);
        if req.messages.len() <= 2 {
            return text;
        }
        let right = text.lines().nth(1).and_then(|l| l.parse::<i64>().ok()).unwrap_or(0);
        format!("[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]", right + 1)
    }))
}

#[tokio::test]
async fn a_result_worse_than_the_program_as_written_is_not_kept_unless_asked() {
    use promptsmith_optimize::run::{run_with, RunOptions};
    let task = common::task(20, 20);
    let opt = LabeledFewShot { k: 3 };
    let test = common::examples(10, 5000);

    let e = engine(demo_averse_lm(), 1, Budget::default());
    let (state, report) = run(&opt, &e, &task, &test).await.unwrap();
    let base_val = report.baseline_val.as_ref().unwrap().score;
    assert!(base_val > 0.0, "the program as written must score something for the test to mean anything");
    // The program as written comes back, and the rejected result is reported with its score.
    assert_eq!(state, task.program.state());
    assert_eq!(report.final_val.as_ref().unwrap().score, base_val);
    assert_eq!(report.final_test, report.baseline_test);
    let rejected = report.rejected.as_ref().expect("the worse result is reported");
    assert_eq!(rejected.val.score, 0.0);
    assert_eq!(rejected.state.predictors["solve"].demos.len(), 3);
    assert_eq!(report.state_hash, promptsmith_optimize::engine::state_hash(&state));

    let e = engine(demo_averse_lm(), 1, Budget::default());
    let (state, report) = run_with(&opt, &e, &task, &test, RunOptions { keep_regression: true }).await.unwrap();
    assert_eq!(state.predictors["solve"].demos.len(), 3);
    assert_eq!(report.final_val.as_ref().unwrap().score, 0.0);
    assert!(report.rejected.is_none());
}

fn refused() -> promptsmith_core::LmError {
    promptsmith_core::LmError::Connect { url: "http://127.0.0.1:9/v1".into(), message: "Connection refused".into() }
}

#[tokio::test]
async fn a_model_that_stops_answering_stops_the_run_with_its_error() {
    use promptsmith_optimize::engine::LM_FAILURE_LIMIT;
    use promptsmith_optimize::OptimizeError;
    let task = common::task(20, 20);
    let lm = std::sync::Arc::new(promptsmith_lm::ScriptedLm::from_result_fn(|_| Err(refused())));
    let e = engine(lm.clone(), 1, Budget::default());
    let err = run(&MiproV2::default(), &e, &task, &common::examples(10, 5000)).await.unwrap_err();
    assert!(matches!(err, OptimizeError::LmFailed(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("calls in a row failed") && message.contains("Connection refused"), "{message}");
    // It stops at the limit (plus the calls already in flight), not after the whole search.
    assert!(lm.calls() as u64 <= LM_FAILURE_LIMIT + 4, "{} calls", lm.calls());

    // Failures among answers are scored as failures, and the run goes on.
    let n = std::sync::atomic::AtomicUsize::new(0);
    let flaky = std::sync::Arc::new(promptsmith_lm::ScriptedLm::from_result_fn(move |req| {
        if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 3 == 2 {
            Err(refused())
        } else {
            Ok(common::answer(req))
        }
    }));
    let (_, report) = run(&LabeledFewShot { k: 3 }, &engine(flaky, 1, Budget::default()), &task, &[]).await.unwrap();
    assert!(report.baseline_val.is_some() && report.final_val.is_some());
}

#[tokio::test]
async fn a_portfolio_keeps_the_best_member_and_reports_every_one() {
    use promptsmith_optimize::optimizers::portfolio::Portfolio;
    let task = common::task(30, 20);
    let alone = |opt: Box<dyn promptsmith_optimize::Optimizer>| {
        let task = task.clone();
        async move { run(opt.as_ref(), &engine(common::lm(), 2, Budget::default()), &task, &[]).await.unwrap().1 }
    };
    let labeled = alone(Box::new(LabeledFewShot { k: 1 })).await.final_val.unwrap().score;
    let bootstrap = alone(Box::<BootstrapFewShot>::default()).await.final_val.unwrap().score;
    assert_ne!(labeled, bootstrap, "the two members must differ for the test to tell which was kept");
    let portfolio =
        Portfolio { members: vec![Box::new(LabeledFewShot { k: 1 }), Box::new(BootstrapFewShot::default())] };
    let e = engine(common::lm(), 2, Budget::default());
    let (state, report) = run(&portfolio, &e, &task, &[]).await.unwrap();
    assert_eq!(report.final_val.as_ref().unwrap().score, labeled.max(bootstrap));
    assert_eq!(report.final_val.as_ref().unwrap().score, measure(&task, &state).await);
    let runs = report.details["algorithms"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["labeled", "bootstrap"]);
    assert_eq!(runs[0]["val_score"], labeled);
    assert_eq!(runs[1]["val_score"], bootstrap);
    let best = if bootstrap > labeled { "bootstrap" } else { "labeled" };
    assert_eq!(report.details["best"], best);
}

#[tokio::test]
async fn a_portfolio_shares_one_budget_and_skips_the_members_after_it_runs_out() {
    use promptsmith_optimize::optimizers::portfolio::Portfolio;
    let task = common::task(30, 20);
    let portfolio =
        Portfolio { members: vec![Box::new(BootstrapFewShot::default()), Box::new(LabeledFewShot { k: 2 })] };
    // Enough for the baseline and part of bootstrapping, not for the second member.
    let budget = Budget { max_calls: Some(30), ..Budget::default() };
    let e = engine(common::lm(), 2, budget);
    let (_, report) = run(&portfolio, &e, &task, &[]).await.unwrap();
    assert!(report.stopped.is_some(), "the budget stops the run");
    assert!(report.spent.total().calls <= 30, "{} calls", report.spent.total().calls);
    let runs = report.details["algorithms"].as_array().unwrap();
    assert_eq!(runs[1]["ran"], false, "{runs:?}");
    assert!(runs[1]["why"].as_str().unwrap().starts_with("not run"), "{runs:?}");
}

#[tokio::test]
async fn mipro_warm_start_seeds_the_pool_and_is_tried_right_after_the_baseline() {
    use promptsmith_optimize::optimizers::warm::WarmStart;
    let task = common::task(20, 30);
    let mut related = common::program();
    related.predictors[0].name = "add".into();
    related.predictors[0].signature.instruction = Some("Think step by step, add carefully, then give the sum.".into());
    related.predictors[0].demos = common::examples(2, 500).iter().map(|e| e.fields.clone()).collect();
    let warm = WarmStart::matching("adder@production", &task.program, &related).unwrap();
    let cold = MiproV2 { auto: None, num_candidates: Some(2), num_trials: Some(3), ..MiproV2::default() };
    let warmed = MiproV2 { warm_start: vec![warm], ..cold.clone() };
    let (_, cold_report) = run(&cold, &engine(common::lm(), 4, Budget::default()), &task, &[]).await.unwrap();
    let (state, report) = run(&warmed, &engine(common::lm(), 4, Budget::default()), &task, &[]).await.unwrap();
    assert_eq!(report.details["warm_start"], serde_json::json!(["adder@production"]));
    assert!(report.details["demo_sets"].as_array().unwrap().iter().any(|s| s == "warm:adder@production"));
    // Trial 1 is the baseline's search trial, trial 2 the warm start's combination.
    let second = &report.trials[2];
    assert_eq!(second.params["solve"]["demos"], "warm:adder@production", "{:?}", second.params);
    let p = &state.predictors["solve"];
    assert!(p.instruction.as_deref().unwrap().contains("step by step, add carefully"), "{p:?}");
    let (warm_score, cold_score) =
        (report.final_val.as_ref().unwrap().score, cold_report.final_val.as_ref().unwrap().score);
    assert!(warm_score > cold_score, "warm {warm_score} vs cold {cold_score}");
    assert_eq!(warm_score, measure(&task, &state).await);
}
