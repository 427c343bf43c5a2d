//! `OptimizeService` in process, on a scripted model: a run that is cancelled part way and
//! resumed from its run directory ends in the state an uninterrupted run reaches, without
//! repeating a journaled call; a run started from a saved `config.json` reproduces the run;
//! the run is recorded in a real SQLite store and its result registered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use promptsmith_app::optimize::{BootstrapSpec, RegisterRequest, RunContext, SplitRequest};
use promptsmith_app::{DataRequest, OptimizeRequest, OptimizeService, OptimizerSpec, StoreTarget};
use promptsmith_core::{ChatRequest, ErrorKind, LanguageModel};
use promptsmith_lm::{LmStack, ScriptedLm};
use promptsmith_optimize::events::NoEvents;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A program file and 30 addition questions in `dir`.
fn world(dir: &Path) -> (PathBuf, PathBuf) {
    let program = dir.join("add.json");
    std::fs::write(
        &program,
        r#"{"name": "add", "predictors": [{"name": "solve", "signature": "question -> answer: int"}]}"#,
    )
    .unwrap();
    let data = dir.join("add.jsonl");
    let rows: Vec<String> = (0..30)
        .map(|i| format!("{{\"question\": \"What is {} + {}?\", \"answer\": {}}}", i, i % 7, i + i % 7))
        .collect();
    std::fs::write(&data, rows.join("\n") + "\n").unwrap();
    (program, data)
}

/// Right on questions whose first number is even, or on every question once the prompt shows
/// at least two demos; wrong (off by one) otherwise.
fn answer(req: &ChatRequest) -> String {
    let last = &req.messages.last().unwrap().content;
    let q = last.split("[[ ## question ## ]]").nth(1).unwrap_or("").trim();
    let nums: Vec<i64> = q.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let (a, b) = (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0));
    let demos = (req.messages.len() - 2) / 2;
    let right = a % 2 == 0 || demos >= 2;
    format!("[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]", if right { a + b } else { a + b + 1 })
}

fn request(program: &Path, data: &Path) -> OptimizeRequest {
    let spec =
        BootstrapSpec { max_bootstrapped_demos: Some(2), max_labeled_demos: Some(2), ..BootstrapSpec::default() };
    let mut req = OptimizeRequest::new(
        program.display().to_string(),
        DataRequest::named(data.display().to_string()),
        OptimizerSpec::RandomSearch { bootstrap: spec, num_candidate_programs: 3 },
    );
    req.metric = "numeric_match".into();
    req.splits = SplitRequest { val_size: Some(12), test_size: Some(6), ..SplitRequest::default() };
    req.seed = 7;
    req
}

/// A stack over the scripted model that cancels `cancel` once `after` calls were answered.
fn stack(calls: Arc<AtomicUsize>, cancel: Option<(CancellationToken, usize)>) -> LmStack {
    let lm = ScriptedLm::from_fn(move |req| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((token, after)) = &cancel {
            if n >= *after {
                token.cancel();
            }
        }
        answer(req)
    })
    .with_model_name("scripted");
    LmStack::from_models(Arc::new(lm) as Arc<dyn LanguageModel>, [], 2)
}

fn ctx<'a>(lm: &'a LmStack, dir: &Path, cancel: CancellationToken) -> RunContext<'a> {
    RunContext { lm, run_dir: dir.to_path_buf(), events: Arc::new(NoEvents), cancel }
}

#[tokio::test]
async fn a_cancelled_run_resumes_to_the_uninterrupted_state_without_repeating_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let (program, data) = world(tmp.path());
    let service = OptimizeService::new(None);

    let full_calls = Arc::new(AtomicUsize::new(0));
    let lm = stack(full_calls.clone(), None);
    let full_dir = tmp.path().join("full");
    let prepared = service.prepare(request(&program, &data)).await.unwrap();
    let full = service.run(prepared, ctx(&lm, &full_dir, CancellationToken::new())).await.unwrap();
    assert!(full.report.stopped.is_none());
    let full_calls = full_calls.load(Ordering::SeqCst);
    assert!(full.report.final_val.as_ref().unwrap().score > full.report.baseline_val.as_ref().unwrap().score);

    // The same job, cancelled after 20 calls, then resumed from its run directory.
    let dir = tmp.path().join("cut");
    let token = CancellationToken::new();
    let first_calls = Arc::new(AtomicUsize::new(0));
    let lm = stack(first_calls.clone(), Some((token.clone(), 20)));
    let prepared = service.prepare(request(&program, &data)).await.unwrap();
    let cut = service.run(prepared, ctx(&lm, &dir, token)).await.unwrap();
    assert!(cut.cancelled(), "{:?}", cut.report.stopped);

    let resumed_calls = Arc::new(AtomicUsize::new(0));
    let lm = stack(resumed_calls.clone(), None);
    let resumed = service.resume(ctx(&lm, &dir, CancellationToken::new())).await.unwrap();
    // The calls in flight when the token fired (at most the stack's concurrency, 2, the call that
    // fired it included) may end before their answers are journaled; they are made again.
    assert!(resumed.replayed_calls >= 20 - 2, "{}", resumed.replayed_calls);
    assert_eq!(resumed.state, full.state, "the resumed run ends where the uninterrupted one did");
    assert_eq!(resumed.report.final_val, full.report.final_val);
    let first = first_calls.load(Ordering::SeqCst);
    let again = resumed_calls.load(Ordering::SeqCst);
    assert!(resumed.replayed_calls <= first);
    assert_eq!(resumed.replayed_calls + again, full_calls, "only the calls past the journal are made");
    assert_eq!(resumed.report.live_calls as usize, again);
}

#[tokio::test]
async fn a_saved_config_reproduces_the_run_and_the_run_is_recorded_and_registered() {
    let tmp = tempfile::tempdir().unwrap();
    let (program, data) = world(tmp.path());
    let db = tmp.path().join("store.db");
    let store = StoreTarget::new(Some(db.display().to_string()));
    let service = OptimizeService::new(Some(store.clone()));
    let mut req = request(&program, &data);
    req.register = Some(RegisterRequest { name: "add".into(), promotion_margin: 0.05, promote: true, actor: None });

    let lm = stack(Arc::new(AtomicUsize::new(0)), None);
    let first_dir = tmp.path().join("first");
    let first =
        service.run(service.prepare(req).await.unwrap(), ctx(&lm, &first_dir, CancellationToken::new())).await.unwrap();
    let registration = first.registration.as_ref().unwrap().as_ref().unwrap();
    assert_eq!((registration.name.as_str(), registration.version), ("add", 1));
    assert_eq!(registration.alias, "production", "the first version of a program becomes production");
    let recorded = first.recorded.as_ref().unwrap().as_ref().unwrap();
    let s = store.open_existing().await.unwrap();
    let run = s.run(recorded.run_id).await.unwrap();
    assert_eq!(run.program, "add");
    assert_eq!(s.trials(run.id).await.unwrap().len(), first.report.trials.len());
    // The run's live events were kept, in order, ending with its result.
    let events = s.run_events(run.id, 0, 100_000).await.unwrap();
    assert!(events.iter().enumerate().all(|(i, e)| e.seq == i as i64 + 1));
    let trials = events.iter().filter(|e| e.kind == "trial_finished").count();
    assert_eq!(trials, first.report.trials.len());
    let last = events.last().unwrap();
    assert_eq!(last.kind, "result");
    assert_eq!(last.data["version"], 1);
    s.close().await;

    // The saved config.json round-trips and, run again elsewhere, gives the same state.
    let saved = OptimizeService::load_config(&first_dir).unwrap();
    let text = serde_json::to_string(&saved).unwrap();
    assert_eq!(serde_json::from_str::<OptimizeRequest>(&text).unwrap(), saved);
    assert_eq!(saved.models.as_ref().unwrap()["task"], "scripted");
    let again_dir = tmp.path().join("again");
    let plain = OptimizeService::new(None);
    let mut saved = saved;
    saved.register = None;
    let lm = stack(Arc::new(AtomicUsize::new(0)), None);
    let again =
        plain.run(plain.prepare(saved).await.unwrap(), ctx(&lm, &again_dir, CancellationToken::new())).await.unwrap();
    assert_eq!(again.state, first.state);
    assert!(again_dir.join("state.json").is_file() && again_dir.join("manifest.json").is_file());
}

#[tokio::test]
async fn bad_requests_fail_before_any_call_with_their_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let (program, data) = world(tmp.path());
    let service = OptimizeService::new(None);
    let mut req = request(&program, &data);
    req.splits.val_size = Some(1000);
    let err = service.prepare(req).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("--val-size needs 1000 examples"), "{err}");

    let mut req = request(&program, &data);
    req.program = tmp.path().join("missing.json").display().to_string();
    let err = service.prepare(req).await.unwrap_err();
    assert!(err.message.contains("missing.json"), "{err}");

    let mut req = request(&program, &data);
    req.register = Some(RegisterRequest { name: "add".into(), promotion_margin: 0.05, promote: true, actor: None });
    let err = service.prepare(req).await.unwrap_err();
    assert!(err.message.contains("needs the store"), "{err}");

    // Resuming with another model is refused: the journal would not match.
    let lm = stack(Arc::new(AtomicUsize::new(0)), None);
    let dir = tmp.path().join("run");
    service
        .run(service.prepare(request(&program, &data)).await.unwrap(), ctx(&lm, &dir, CancellationToken::new()))
        .await
        .unwrap();
    let other = ScriptedLm::from_fn(answer).with_model_name("other");
    let other = LmStack::from_models(Arc::new(other) as Arc<dyn LanguageModel>, [], 2);
    let err = service.resume(ctx(&other, &dir, CancellationToken::new())).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(err.message.contains("task 'scripted'") && err.message.contains("task 'other'"), "{err}");
}

/// A family of two programs under one budget: both are checked first, each gets half of what is
/// left, both run and the one report names them.
#[tokio::test]
async fn a_family_shares_one_budget_and_writes_one_report() {
    use promptsmith_app::optimize::family::{members, FAMILY_REPORT};
    let dir = tempfile::tempdir().unwrap();
    for name in ["left", "right"] {
        let sub = dir.path().join("family").join(name);
        std::fs::create_dir_all(sub.join("data")).unwrap();
        let (program, data) = world(&sub);
        std::fs::rename(program, sub.join("program.json")).unwrap();
        let text = std::fs::read_to_string(&data).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(sub.join("data/train.jsonl"), lines[..24].join("\n") + "\n").unwrap();
        std::fs::write(sub.join("data/test.jsonl"), lines[24..].join("\n") + "\n").unwrap();
    }
    let mut base = request(Path::new("unused"), Path::new("unused"));
    base.splits = SplitRequest { val_size: Some(10), ..SplitRequest::default() };
    let family = members(&dir.path().join("family"), &base).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let lm = stack(calls.clone(), None);
    let budget = promptsmith_optimize::budget::Budget { max_calls: Some(400), ..Default::default() };
    let run_dir = dir.path().join("run");
    let service = OptimizeService::new(None);
    let (report, outcomes) =
        service.run_family(family, budget, &lm, &run_dir, Arc::new(NoEvents), CancellationToken::new()).await.unwrap();
    assert_eq!(outcomes.len(), 2);
    let names: Vec<&str> = report.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["left", "right"]);
    assert_eq!(report.members[0].budget.max_calls, Some(200), "half of the budget for the first");
    let second = 400 - report.members[0].spent.calls;
    assert_eq!(report.members[1].budget.max_calls, Some(second), "the second gets all that is left");
    assert!(report.spent.calls <= 400 && report.spent.calls as usize == calls.load(Ordering::SeqCst));
    for m in &report.members {
        let held = m.held_out.as_ref().unwrap();
        assert_eq!((held.split, held.n), ("test", 6), "{m:?}");
        assert!(m.run_dir.join("state.json").is_file());
    }
    assert!(run_dir.join(FAMILY_REPORT).is_file());
    // A member that cannot run stops the family before any model call.
    std::fs::write(dir.path().join("family/right/program.json"), "{not json").unwrap();
    let before = calls.load(Ordering::SeqCst);
    let family = members(&dir.path().join("family"), &base).unwrap();
    let err = service
        .run_family(family, budget, &lm, &dir.path().join("run2"), Arc::new(NoEvents), CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.message.contains("family member 'right'"), "{}", err.message);
    assert_eq!(calls.load(Ordering::SeqCst), before, "nothing ran");
}

/// `warm_start` loads the related program before any call: one that matches no predictor, and
/// an optimizer without a candidate pool, are refused; a match reaches MIPROv2's pool.
#[tokio::test]
async fn warm_starts_are_matched_before_any_call_and_reach_the_pool() {
    let tmp = tempfile::tempdir().unwrap();
    let (program, data) = world(tmp.path());
    let related = tmp.path().join("related.json");
    std::fs::write(&related, r#"{"name": "sum", "predictors": [{"name": "adder", "signature": "question -> answer: int", "instruction": "Add the numbers and give the sum."}]}"#).unwrap();
    let unrelated = tmp.path().join("unrelated.json");
    std::fs::write(&unrelated, r#"{"name": "x", "predictors": [{"name": "p", "signature": "text -> label"}]}"#)
        .unwrap();
    let service = OptimizeService::new(None);

    let mut req = request(&program, &data);
    req.warm_start = vec![related.display().to_string()];
    let err = service.prepare(req).await.unwrap_err();
    assert!(err.message.contains("--warm-start seeds MIPROv2's candidate pool"), "{err}");

    let mipro = OptimizerSpec::Mipro(
        serde_json::from_value(serde_json::json!({"num_candidates": 2, "num_trials": 2})).unwrap(),
    );
    let mut req = request(&program, &data);
    req.optimizer = mipro;
    req.warm_start = vec![unrelated.display().to_string()];
    let err = service.prepare(req.clone()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(
        err.message.contains("none of its predictors has the same fields")
            && err.message.contains("solve: question -> answer: int"),
        "{err}"
    );

    req.warm_start = vec![related.display().to_string()];
    let lm = stack(Arc::new(AtomicUsize::new(0)), None);
    let outcome = service
        .run(service.prepare(req).await.unwrap(), ctx(&lm, &tmp.path().join("run"), CancellationToken::new()))
        .await
        .unwrap();
    let instructions = &outcome.report.details["instructions"]["solve"];
    assert!(
        instructions.as_array().unwrap().iter().any(|i| i == "Add the numbers and give the sum."),
        "{instructions}"
    );
}
