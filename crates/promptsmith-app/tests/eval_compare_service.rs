//! `EvalService` and `CompareService` in process, on a scripted model: an evaluation streams its
//! results into the run directory and is recorded in a real SQLite store, one row per example;
//! a comparison of two states finds the better one; bad requests fail with their kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use promptsmith_app::compare::CompareRequest;
use promptsmith_app::eval::EvalContext;
use promptsmith_app::{CompareService, DataRequest, EvalRequest, EvalService, StoreTarget};
use promptsmith_core::{ChatRequest, ErrorKind, LanguageModel};
use promptsmith_lm::{LmStack, ScriptedLm};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A program, 20 addition questions and a state whose instruction says "carefully".
fn world(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let program = dir.join("add.json");
    std::fs::write(
        &program,
        r#"{"name": "add", "predictors": [{"name": "solve", "signature": "question -> answer: int"}]}"#,
    )
    .unwrap();
    let data = dir.join("add.jsonl");
    let rows: Vec<String> =
        (0..20).map(|i| format!("{{\"question\": \"What is {i} + 3?\", \"answer\": {}}}", i + 3)).collect();
    std::fs::write(&data, rows.join("\n") + "\n").unwrap();
    let state = dir.join("careful.json");
    std::fs::write(
        &state,
        r#"{"format_version": 1, "predictors": {"solve": {"instruction": "Add carefully.", "demos": []}}}"#,
    )
    .unwrap();
    (program, data, state)
}

/// Always right when the instruction says "carefully"; otherwise right on even first numbers.
fn answer(req: &ChatRequest) -> String {
    let system = &req.messages[0].content;
    let last = &req.messages.last().unwrap().content;
    let q = last.split("[[ ## question ## ]]").nth(1).unwrap_or("").trim();
    let nums: Vec<i64> = q.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let (a, b) = (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0));
    let right = system.contains("carefully") || a % 2 == 0;
    format!("[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]", if right { a + b } else { a + b + 1 })
}

fn stack() -> LmStack {
    let lm = ScriptedLm::from_fn(answer).with_model_name("scripted");
    LmStack::from_models(Arc::new(lm) as Arc<dyn LanguageModel>, [], 4)
}

fn ctx(lm: &LmStack) -> EvalContext<'_> {
    EvalContext { lm, progress: Box::new(|_, _, _| {}), cancel: CancellationToken::new() }
}

#[tokio::test]
async fn an_eval_streams_its_results_and_is_recorded_one_row_per_example() {
    let tmp = tempfile::tempdir().unwrap();
    let (program, data, _) = world(tmp.path());
    let db = tmp.path().join("store.db");
    let store = StoreTarget::new(Some(db.display().to_string()));
    let service = EvalService::new(Some(store.clone()));
    let mut req = EvalRequest::new(program.display().to_string(), DataRequest::named(data.display().to_string()));
    req.metric = "numeric_match".into();
    req.out = Some(tmp.path().join("run"));
    let lm = stack();
    let outcome = service.run(service.prepare(req).await.unwrap(), ctx(&lm)).await.unwrap();
    assert_eq!(outcome.summary.n, 20);
    assert!((outcome.summary.mean - 0.5).abs() < 1e-9, "{}", outcome.summary.mean);
    let results = std::fs::read_to_string(outcome.run_dir.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 20);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(outcome.run_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["results_file"], "results.jsonl");
    let recorded = outcome.recorded.unwrap().unwrap();
    assert_eq!((recorded.evaluations, recorded.program.as_str(), recorded.version), (20, "add", None));
    let s = store.open_existing().await.unwrap();
    let run = s.run(recorded.run_id).await.unwrap();
    assert_eq!(run.kind, "eval");
    assert_eq!(run.best_score, Some(outcome.summary.mean));
    s.close().await;
}

#[tokio::test]
async fn a_comparison_of_two_states_names_the_better_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (program, data, careful) = world(tmp.path());
    let request = CompareRequest::Evaluate {
        program: program.display().to_string(),
        states: [None, Some(careful)],
        data: DataRequest::named(data.display().to_string()),
        metric: "numeric_match".into(),
        field: None,
        limit: None,
        seed: None,
        confidence: 0.95,
    };
    let service = CompareService::default();
    let prepared = service.prepare(&request).await.unwrap();
    assert_eq!(prepared.len(), 20);
    let lm = stack();
    let out = service.evaluate(&request, prepared, &lm, Arc::new(|_, _, _| {})).await.unwrap();
    assert_eq!((out.a.label.as_str(), out.b.label.as_str()), ("baseline", "careful.json"));
    assert_eq!(out.a.scores.iter().sum::<f64>(), 10.0);
    assert_eq!(out.b.scores.iter().sum::<f64>(), 20.0);
    let json = out.to_json();
    assert_eq!(json["winner"], "careful.json", "{json:#}");
    assert_eq!(json["n"], 20);
}

#[tokio::test]
async fn bad_eval_and_compare_requests_fail_before_any_call() {
    let tmp = tempfile::tempdir().unwrap();
    let (program, data, _) = world(tmp.path());
    let service = EvalService::new(None);
    let mut req = EvalRequest::new(program.display().to_string(), DataRequest::named(data.display().to_string()));
    req.metric = "ifeval".into();
    let err = service.prepare(req).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("no 'instruction_id_list' label"), "{err}");

    let mut req = EvalRequest::new("qa@production", DataRequest::named(data.display().to_string()));
    req.failure_score = 0.0;
    let missing = tmp.path().join("none.db");
    let err =
        EvalService::new(Some(StoreTarget::new(Some(missing.display().to_string())))).prepare(req).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(!missing.exists());

    let request = CompareRequest::Evaluate {
        program: program.display().to_string(),
        states: [None, Some(tmp.path().join("nope.json"))],
        data: DataRequest::named(data.display().to_string()),
        metric: "numeric_match".into(),
        field: None,
        limit: None,
        seed: None,
        confidence: 1.5,
    };
    let err = CompareService::default().prepare(&request).await.unwrap_err();
    assert!(err.message.starts_with("--confidence 1.5"), "{err}");
}
