//! The store's test suite, run on a real SQLite file and on a real PostgreSQL server: every test
//! below is instantiated once per engine (`sqlite::*`, `postgres::*`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, new_version, spec, state, Engine};
use promptsmith_store::{
    diff_versions, AliasAction, EvalQuery, FeedbackInput, NewEvaluation, NewRun, NewVersion, PromotionPolicy,
    RecordOptions, RoleUsage, RunEnd, RunStatus, StoreError, Trial, VersionSelector, CANDIDATE, PRODUCTION,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Engine::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Engine::Postgres).await
                }
            )*
        }
    };
}

on_both_engines!(
    versions_are_numbered_and_immutable,
    aliases_move_roll_back_and_are_logged,
    unknown_programs_versions_and_aliases_are_clear_errors,
    a_state_that_does_not_fit_is_refused,
    diff_shows_changed_instructions_and_demos,
    evaluations_are_queryable_by_program_version_time_and_score,
    a_bad_batch_stores_nothing,
    eval_reports_are_recorded,
    eval_results_stream_into_the_store,
    feedback_queue_and_stats,
    runs_trials_artifacts_and_export,
    snapshots_trend_and_degradation,
    auto_activation_needs_a_significant_margin,
    eight_concurrent_writers_lose_nothing,
    reopening_keeps_everything,
);

fn eval(program: &str, version: Option<i64>, score: f64, at: i64) -> NewEvaluation {
    let mut inputs = Map::new();
    inputs.insert("question".into(), json!(format!("q at {at}")));
    let mut outputs = Map::new();
    outputs.insert("answer".into(), json!("42"));
    NewEvaluation {
        program: program.into(),
        version,
        inputs,
        outputs: Some(outputs),
        score,
        latency_ms: 100 + (at % 50),
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_usd: 0.001,
        judge_reasoning: Some("looks right".into()),
        metadata: Some(json!({"at": at})),
        created_at: Some(at),
        ..NewEvaluation::default()
    }
}

async fn versions_are_numbered_and_immutable(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    for i in 1..=3 {
        let mut nv = new_version("qa", &format!("v{i}"));
        nv.parent_version = (i > 1).then_some(i - 1);
        nv.optimizer = Some("bootstrap".into());
        nv.params = json!({"demos": i});
        nv.scores = json!({"dev": 0.5 + i as f64 / 10.0});
        nv.dataset_hash = Some("abc".into());
        let v = store.register_version(&nv).await.unwrap();
        assert_eq!(v.version, i);
    }
    store.register_version(&new_version("other", "x")).await.unwrap();
    let versions = store.list_versions("qa").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1, 2, 3]);
    let v2 = store.version("qa", &VersionSelector::Number(2)).await.unwrap();
    assert_eq!(v2.parent_version, Some(1));
    assert_eq!(v2.optimizer.as_deref(), Some("bootstrap"));
    assert_eq!(v2.params, json!({"demos": 2}));
    assert_eq!(v2.dataset_hash.as_deref(), Some("abc"));
    assert_eq!(v2.state, state("v2", 1));
    assert_eq!(v2.spec, spec("qa"));
    assert_eq!(v2.program().unwrap().predictor("draft").unwrap().signature.instruction.as_deref(), Some("v2"));
    assert_eq!(store.version("qa", &VersionSelector::Latest).await.unwrap().version, 3);
    let programs = store.list_programs().await.unwrap();
    assert_eq!(programs.iter().map(|p| (p.name.as_str(), p.versions)).collect::<Vec<_>>(), [("other", 1), ("qa", 3)]);
    // A parent that does not exist is refused and uses no version number.
    let mut orphan = new_version("qa", "orphan");
    orphan.parent_version = Some(9);
    let err = store.register_version(&orphan).await.unwrap_err();
    assert!(err.is_not_found() && err.to_string().contains("parent version 9"), "{err}");
    assert_eq!(store.register_version(&new_version("qa", "v4")).await.unwrap().version, 4);
    assert!(store.check_integrity().await.unwrap().is_empty());
}

async fn aliases_move_roll_back_and_are_logged(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    for i in 1..=4 {
        store.register_version(&new_version("qa", &format!("v{i}"))).await.unwrap();
    }
    assert_eq!(store.activate("qa", 1, "alice", "first").await.unwrap(), None);
    assert_eq!(store.activate("qa", 2, "bob", "better").await.unwrap(), Some(1));
    assert_eq!(store.activate("qa", 3, "carol", "even better").await.unwrap(), Some(2));
    store.set_alias("qa", CANDIDATE, 4, "dave", "to try").await.unwrap();
    // Moving to where it already points changes and logs nothing.
    assert_eq!(store.activate("qa", 3, "carol", "again").await.unwrap(), Some(3));
    let prod = VersionSelector::Alias(PRODUCTION.into());
    assert_eq!(store.version("qa", &prod).await.unwrap().version, 3);
    assert_eq!(store.rollback("qa", PRODUCTION, "erin", "regression").await.unwrap(), 2);
    assert_eq!(store.rollback("qa", PRODUCTION, "erin", "still bad").await.unwrap(), 1);
    let err = store.rollback("qa", PRODUCTION, "erin", "more").await.unwrap_err();
    assert!(err.to_string().contains("no earlier version"), "{err}");
    assert_eq!(store.version("qa", &prod).await.unwrap().version, 1);
    // After a new move, rollback returns to where it was moved from.
    store.activate("qa", 4, "frank", "ship").await.unwrap();
    assert_eq!(store.rollback("qa", PRODUCTION, "frank", "oops").await.unwrap(), 1);
    assert_eq!(store.remove_alias("qa", CANDIDATE, "gina", "tried").await.unwrap(), 4);
    let summary = store.program("qa").await.unwrap();
    assert_eq!(summary.aliases, BTreeMap::from([(PRODUCTION.to_string(), 1)]));

    let log = store.alias_log("qa").await.unwrap();
    type Brief<'a> = (i64, &'a str, AliasAction, Option<i64>, Option<i64>, &'a str);
    let brief: Vec<Brief> = log
        .iter()
        .map(|m| (m.seq, m.alias.as_str(), m.action, m.from_version, m.to_version, m.actor.as_str()))
        .collect();
    use AliasAction::*;
    assert_eq!(
        brief,
        vec![
            (1, "production", Set, None, Some(1), "alice"),
            (2, "production", Set, Some(1), Some(2), "bob"),
            (3, "production", Set, Some(2), Some(3), "carol"),
            (4, "candidate", Set, None, Some(4), "dave"),
            (5, "production", Rollback, Some(3), Some(2), "erin"),
            (6, "production", Rollback, Some(2), Some(1), "erin"),
            (7, "production", Set, Some(1), Some(4), "frank"),
            (8, "production", Rollback, Some(4), Some(1), "frank"),
            (9, "candidate", Delete, Some(4), None, "gina"),
        ]
    );
    assert_eq!(log[1].reason, "better");
    assert!(log.iter().all(|m| m.at > 0));
    assert!(store.check_integrity().await.unwrap().is_empty());
}

async fn unknown_programs_versions_and_aliases_are_clear_errors(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    store.register_version(&new_version("qa", "v1")).await.unwrap();
    store.register_version(&new_version("qa", "v2")).await.unwrap();
    store.activate("qa", 1, "t", "").await.unwrap();
    let msg = |e: StoreError| e.to_string();
    let e = store.version("nope", &VersionSelector::Number(1)).await.unwrap_err();
    assert!(e.is_not_found() && msg(e).contains("no program named 'nope'"));
    let e = store.version("qa", &VersionSelector::Number(9)).await.unwrap_err();
    assert_eq!(msg(e), "program 'qa' has no version 9 (it has versions 1 to 2)");
    let e = store.version("qa", &VersionSelector::Alias("staging".into())).await.unwrap_err();
    assert_eq!(msg(e), "program 'qa' has no alias 'staging' (aliases: production)");
    let e = store.activate("qa", 7, "t", "").await.unwrap_err();
    assert_eq!(msg(e), "program 'qa' has no version 7");
    let e = store.activate("nope", 1, "t", "").await.unwrap_err();
    assert!(msg(e).contains("no program named 'nope'"));
    let e = store.rollback("qa", "staging", "t", "").await.unwrap_err();
    assert!(msg(e).contains("no alias 'staging'"));
    let e = store.set_alias("qa", "7", 1, "t", "").await.unwrap_err();
    assert!(msg(e).contains("reserved"));
    let e = store.register_version(&new_version("bad/name", "x")).await.unwrap_err();
    assert!(msg(e).contains("not valid"));
    assert!(store.evaluation(12345).await.unwrap_err().is_not_found());
    assert!(store.run(777).await.unwrap_err().is_not_found());
    // Nothing was changed by the failed calls.
    assert_eq!(store.alias_log("qa").await.unwrap().len(), 1);
    assert_eq!(store.program("qa").await.unwrap().aliases, BTreeMap::from([(PRODUCTION.to_string(), 1)]));
    assert!(store.check_integrity().await.unwrap().is_empty());
}

async fn a_state_that_does_not_fit_is_refused(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let bad: promptsmith_core::ProgramState =
        serde_json::from_value(json!({"format_version": 1, "predictors": {"summarize": {"instruction": "x"}}}))
            .unwrap();
    let e = store.register_version(&NewVersion::new("qa", spec("qa"), bad, "t")).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("summarize") && text.contains("draft, refine"), "{text}");
    let bad_field: promptsmith_core::ProgramState =
        serde_json::from_value(json!({"format_version": 1, "predictors": {"draft": {"fields": {"nonexistent": "d"}}}}))
            .unwrap();
    let e = store.register_version(&NewVersion::new("qa", spec("qa"), bad_field, "t")).await.unwrap_err();
    assert!(e.to_string().contains("nonexistent"), "{e}");
    // Nothing registered: the program does not exist, and the next good version is 1.
    assert!(store.program("qa").await.unwrap_err().is_not_found());
    assert_eq!(store.register_version(&new_version("qa", "ok")).await.unwrap().version, 1);
}

async fn diff_shows_changed_instructions_and_demos(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    store.register_version(&NewVersion::new("qa", spec("qa"), state("Draft.", 1), "t")).await.unwrap();
    store.register_version(&NewVersion::new("qa", spec("qa"), state("Draft carefully.", 2), "t")).await.unwrap();
    let a = store.version("qa", &VersionSelector::Number(1)).await.unwrap();
    let b = store.version("qa", &VersionSelector::Number(2)).await.unwrap();
    let d = diff_versions(&a, &b).unwrap();
    assert_eq!(d.changed.len(), 1, "{d:?}");
    assert_eq!(d.changed[0].predictor, "draft");
    assert_eq!(d.changed[0].instruction, Some((Some("Draft.".into()), Some("Draft carefully.".into()))));
    assert_eq!(d.changed[0].demos_added, vec![json!({"question": "q1", "answer": "a1"})]);
    assert!(d.changed[0].demos_removed.is_empty());
}

async fn evaluations_are_queryable_by_program_version_time_and_score(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let mut batch = Vec::new();
    for i in 0..1200i64 {
        let version = if i % 3 == 0 { None } else { Some(1 + i % 2) };
        batch.push(eval(if i % 4 == 0 { "other" } else { "qa" }, version, (i % 10) as f64 / 10.0, 1_000 + i));
    }
    let ids = store.insert_evaluations(&batch).await.unwrap();
    assert_eq!(ids.len(), 1200);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(store.count_evaluations().await.unwrap(), 1200);
    store.analyze().await.unwrap();
    // The ids map to the inputs in order.
    let e = store.evaluation(ids[777]).await.unwrap();
    assert_eq!(e.created_at, 1_777);
    assert_eq!(e.metadata, Some(json!({"at": 1_777})));
    assert_eq!(e.outputs.as_ref().unwrap()["answer"], json!("42"));
    assert_eq!(e.judge_reasoning.as_deref(), Some("looks right"));

    let expected = |f: &dyn Fn(&NewEvaluation) -> bool| batch.iter().filter(|e| f(e)).count();
    let q = EvalQuery {
        program: Some("qa".into()),
        version: Some(Some(2)),
        since: Some(1_100),
        until: Some(1_600),
        limit: Some(10_000),
        ..EvalQuery::default()
    };
    let got = store.query_evaluations(&q).await.unwrap();
    let want =
        expected(&|e| e.program == "qa" && e.version == Some(2) && (1_100..1_600).contains(&e.created_at.unwrap()));
    assert_eq!(got.len(), want);
    assert!(got.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");
    let q = EvalQuery {
        program: Some("qa".into()),
        min_score: Some(0.5),
        max_score: Some(0.7),
        limit: Some(10_000),
        ..EvalQuery::default()
    };
    let got = store.query_evaluations(&q).await.unwrap();
    assert_eq!(got.len(), expected(&|e| e.program == "qa" && (0.5..=0.7 + 1e-9).contains(&e.score)));
    let q = EvalQuery { program: Some("qa".into()), version: Some(None), limit: Some(5), ..EvalQuery::default() };
    let got = store.query_evaluations(&q).await.unwrap();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|e| e.version.is_none()));

    // Per-version statistics agree with a direct computation.
    let stats = store.version_stats("qa", Some(2)).await.unwrap().unwrap();
    let scores: Vec<f64> =
        batch.iter().filter(|e| e.program == "qa" && e.version == Some(2)).map(|e| e.score).collect();
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (scores.len() as f64 - 1.0);
    assert_eq!(stats.n, scores.len() as i64);
    assert!((stats.mean_score - mean).abs() < 1e-9);
    assert!((stats.std_score - var.sqrt()).abs() < 1e-9);
    let min = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!((stats.min_score, stats.max_score), (min, max));
    assert_eq!((min, max), (0.1, 0.9));
    assert_eq!(stats.prompt_tokens, 10 * scores.len() as i64);
    assert!((stats.cost_per_call - 0.001).abs() < 1e-12);
    let all = store.program_stats("qa").await.unwrap();
    assert_eq!(all.iter().map(|s| s.version).collect::<Vec<_>>(), vec![None, Some(1), Some(2)]);
    assert_eq!(all.iter().map(|s| s.n).sum::<i64>(), expected(&|e| e.program == "qa") as i64);
    assert!(store.version_stats("qa", Some(9)).await.unwrap().is_none());
}

async fn a_bad_batch_stores_nothing(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let mut batch: Vec<NewEvaluation> = (0..10).map(|i| eval("qa", Some(1), 1.0, i)).collect();
    batch[7].score = f64::NAN;
    let e = store.insert_evaluations(&batch).await.unwrap_err();
    assert!(e.to_string().contains("not a number"), "{e}");
    assert_eq!(store.count_evaluations().await.unwrap(), 0);
    assert!(store.version_stats("qa", Some(1)).await.unwrap().is_none());
}

async fn eval_reports_are_recorded(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let report: promptsmith_eval::EvalReport = serde_json::from_value(json!({
        "metric": "exact_match", "n": 2, "mean": 0.5,
        "stats": {"n": 2, "mean": 0.5, "std": 0.5, "std_error": 0.5},
        "parse_failures": 0, "lm_errors": 1, "other_errors": 0,
        "usage": {"prompt_tokens": 30, "completion_tokens": 4}, "lm_calls": 2, "wall_ms": 12, "concurrency": 2,
        "results": [
            {"index": 0, "inputs": {"question": "1+1"}, "labels": {"answer": "2"}, "prediction": {"answer": "2"},
             "score": 1.0, "feedback": "exact", "lm_calls": 1, "usage": {"prompt_tokens": 30, "completion_tokens": 4},
             "breakdown": [{"name": "accuracy", "weight": 0.75, "score": 1.0}, {"name": "style", "weight": 0.25, "score": 1.0}],
             "latency_ms": 40},
            {"index": 1, "inputs": {"question": "2+2"}, "labels": {"answer": "4"},
             "error": {"kind": "lm", "message": "timeout"}, "score": 0.0, "lm_calls": 1,
             "usage": {"prompt_tokens": 0, "completion_tokens": 0}, "latency_ms": 9000, "cost_usd": 0.5}
        ]
    }))
    .unwrap();
    let options = RecordOptions {
        version: Some(3),
        metadata: Some(json!({"model": "m"})),
        price_per_1m_prompt: Some(1.0),
        price_per_1m_completion: Some(2.0),
        ..RecordOptions::default()
    };
    let ids = store.record_eval_report("qa", &report, &options).await.unwrap();
    let first = store.evaluation(ids[0]).await.unwrap();
    assert_eq!(first.version, Some(3));
    assert_eq!(first.labels.as_ref().unwrap()["answer"], json!("2"));
    assert_eq!(first.metrics.as_ref().unwrap()["exact_match"], json!(1.0));
    assert!((first.cost_usd - (30.0 * 1.0 + 4.0 * 2.0) / 1e6).abs() < 1e-15);
    assert_eq!(first.judge_reasoning.as_deref(), Some("exact"));
    let second = store.evaluation(ids[1]).await.unwrap();
    assert_eq!(second.error.as_deref(), Some("timeout"));
    assert_eq!(second.outputs, None);
    assert_eq!(second.cost_usd, 0.5, "a result's own cost wins over the price options");
    assert_eq!(first.metrics.as_ref().unwrap()["style"], json!({"score": 1.0, "weight": 0.25}));
    let stats = store.version_stats("qa", Some(3)).await.unwrap().unwrap();
    assert_eq!((stats.n, stats.errors, stats.mean_score), (2, 1, 0.5));
}

/// `record_eval_results` takes the results from an iterator (as `eval` reads them back from
/// its results.jsonl), several statements' worth of rows in one transaction; an error part way
/// stores nothing.
async fn eval_results_stream_into_the_store(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let result = |i: usize| -> promptsmith_eval::ExampleResult {
        serde_json::from_value(json!({
            "index": i, "inputs": {"question": format!("q{i}")}, "labels": {"answer": "2"},
            "prediction": {"answer": "2"}, "score": if i.is_multiple_of(4) { 0.0 } else { 1.0 }, "lm_calls": 1,
            "usage": {"prompt_tokens": 10, "completion_tokens": 2}, "latency_ms": 5
        }))
        .unwrap()
    };
    let options = RecordOptions { version: Some(2), metadata: Some(json!({"run": "big"})), ..RecordOptions::default() };
    // An unreadable line after the first 700 results: nothing is kept.
    let failing = (0..1200).map(|i| if i == 700 { Err("line 701: not valid JSON".to_string()) } else { Ok(result(i)) });
    let e = store.record_eval_results("qa", "exact_match", failing, &options).await.unwrap_err();
    assert!(e.to_string().contains("line 701"), "{e}");
    assert_eq!(store.count_evaluations().await.unwrap(), 0);
    assert!(store.version_stats("qa", Some(2)).await.unwrap().is_none());

    let n = store
        .record_eval_results("qa", "exact_match", (0..1200).map(|i| Ok::<_, String>(result(i))), &options)
        .await
        .unwrap();
    assert_eq!(n, 1200);
    assert_eq!(store.count_evaluations().await.unwrap(), 1200);
    let stats = store.version_stats("qa", Some(2)).await.unwrap().unwrap();
    assert_eq!((stats.n, stats.errors, stats.prompt_tokens), (1200, 0, 12_000));
    assert!((stats.mean_score - 0.75).abs() < 1e-12);
    let q = EvalQuery { program: Some("qa".into()), limit: Some(5000), ..EvalQuery::default() };
    let rows = store.query_evaluations(&q).await.unwrap();
    let mut indices: Vec<i64> = rows.iter().map(|r| r.example_index.unwrap()).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..1200).collect::<Vec<i64>>());
    let last = rows.iter().find(|r| r.example_index == Some(1199)).unwrap();
    assert_eq!(last.metrics.as_ref().unwrap()["exact_match"], json!(1.0));
    assert_eq!(last.metadata, Some(json!({"run": "big"})));
    let none = store.record_eval_results("qa", "exact_match", std::iter::empty::<Result<_, String>>(), &options);
    assert_eq!(none.await.unwrap(), 0);
}

async fn feedback_queue_and_stats(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let ids = store
        .insert_evaluations(&[
            eval("qa", Some(1), 1.0, 1),
            eval("qa", Some(1), 0.0, 2),
            eval("qa", Some(1), 1.0, 3),
            eval("zz", None, 1.0, 4),
        ])
        .await
        .unwrap();
    for id in &ids[..3] {
        store.request_review(*id, Some("low confidence")).await.unwrap();
    }
    store.request_review(ids[3], None).await.unwrap();
    // Asking twice does not queue twice.
    store.request_review(ids[0], Some("again")).await.unwrap();
    let pending = store.pending_reviews(Some("qa"), 10).await.unwrap();
    assert_eq!(pending.iter().map(|p| p.evaluation.id).collect::<Vec<_>>(), ids[..3].to_vec());
    assert_eq!(pending[0].feedback.reason.as_deref(), Some("low confidence"));
    assert_eq!(store.pending_reviews(None, 10).await.unwrap().len(), 4);

    // The person agrees with the judge on the first, disagrees on the second and corrects it.
    store
        .record_feedback(
            ids[0],
            &FeedbackInput { rating: Some(1.0), reviewer: Some("ann".into()), ..FeedbackInput::default() },
        )
        .await
        .unwrap();
    let mut corrected = Map::new();
    corrected.insert("answer".into(), json!("7"));
    let f = store
        .record_feedback(
            ids[1],
            &FeedbackInput {
                rating: Some(1.0),
                corrected: Some(corrected),
                comment: Some("it is 7".into()),
                ..FeedbackInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(f.status, promptsmith_store::FeedbackStatus::Received);
    assert!(f.received_at.is_some());
    store
        .record_feedback(ids[3], &FeedbackInput { label: Some("spam".into()), ..FeedbackInput::default() })
        .await
        .unwrap();

    let stats = store.feedback_stats(Some("qa")).await.unwrap();
    assert_eq!((stats.pending, stats.received, stats.rated, stats.corrected), (1, 2, 2, 1));
    assert_eq!(stats.agreement, Some(0.5));
    assert_eq!(stats.mean_abs_difference, Some(0.5));
    let all = store.feedback_stats(None).await.unwrap();
    assert_eq!((all.received, all.labelled), (3, 1));

    let examples = store.feedback_examples(None).await.unwrap();
    assert_eq!(examples.len(), 2);
    assert_eq!(Value::Object(examples[0].example.clone()), json!({"question": "q at 2", "answer": "7"}));
    assert_eq!(Value::Object(examples[1].example.clone()), json!({"question": "q at 4", "label": "spam"}));
    assert_eq!(store.feedback_examples(Some("qa")).await.unwrap().len(), 1);

    // Bad input: nothing changes.
    let mut wrong = Map::new();
    wrong.insert("verdict".into(), json!("x"));
    let e = store
        .record_feedback(ids[2], &FeedbackInput { corrected: Some(wrong), ..FeedbackInput::default() })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("verdict") && e.to_string().contains("answer"), "{e}");
    let e = store
        .record_feedback(ids[2], &FeedbackInput { rating: Some(5.0), ..FeedbackInput::default() })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("outside [0, 1]"));
    assert!(store.record_feedback(ids[2], &FeedbackInput::default()).await.is_err());
    assert!(store
        .record_feedback(99_999, &FeedbackInput { rating: Some(1.0), ..FeedbackInput::default() })
        .await
        .unwrap_err()
        .is_not_found());
    assert_eq!(store.feedback_stats(Some("qa")).await.unwrap().pending, 1);
}

async fn runs_trials_artifacts_and_export(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let run = store
        .create_run(&NewRun {
            kind: "optimize".into(),
            program: "qa".into(),
            optimizer: Some("mipro".into()),
            params: json!({"trials": 3}),
            metadata: json!({"seed": 7}),
        })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Running);
    for (i, parent) in [(0, None), (1, Some("c0")), (2, Some("c1"))] {
        store
            .add_trial(
                run.id,
                &Trial {
                    trial: i,
                    candidate: format!("c{i}"),
                    parent_candidate: parent.map(str::to_string),
                    score: Some(0.5 + i as f64 / 10.0),
                    params: json!({"i": i}),
                    state: Some(json!({"format_version": 1})),
                    created_at: 0,
                },
            )
            .await
            .unwrap();
    }
    let dup = Trial {
        trial: 1,
        candidate: "x".into(),
        parent_candidate: None,
        score: None,
        params: json!({}),
        state: None,
        created_at: 0,
    };
    assert!(store.add_trial(run.id, &dup).await.unwrap_err().to_string().contains("already has a trial 1"));
    store.put_artifact(run.id, "best_state.json", "state", r#"{"format_version": 1}"#).await.unwrap();
    store.put_artifact(run.id, "log.txt", "log", "first").await.unwrap();
    store.put_artifact(run.id, "log.txt", "log", "second").await.unwrap();
    let mut usage = BTreeMap::new();
    usage.insert(
        "task".to_string(),
        RoleUsage { calls: 30, prompt_tokens: 3000, completion_tokens: 300, cost_usd: 0.01 },
    );
    usage.insert(
        "proposer".to_string(),
        RoleUsage { calls: 3, prompt_tokens: 900, completion_tokens: 90, cost_usd: 0.02 },
    );
    let done = store
        .finish_run(
            run.id,
            &RunEnd {
                status: RunStatus::Succeeded,
                usage,
                best_score: Some(0.7),
                result_version: Some(2),
                error: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert!(done.finished_at.unwrap() >= done.started_at);
    let other = store
        .create_run(&NewRun {
            kind: "eval".into(),
            program: "zz".into(),
            optimizer: None,
            params: json!({}),
            metadata: json!({}),
        })
        .await
        .unwrap();
    let listed = store.list_runs(None, 10).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![other.id, run.id]);
    assert_eq!(store.list_runs(Some("qa"), 10).await.unwrap().len(), 1);

    let export = store.export_run(run.id).await.unwrap();
    assert_eq!(export["run"]["optimizer"], json!("mipro"));
    assert_eq!(export["run"]["usage"]["proposer"]["calls"], json!(3));
    assert_eq!(export["trials"].as_array().unwrap().len(), 3);
    assert_eq!(export["lineage"], json!({"c0": null, "c1": "c0", "c2": "c1"}));
    assert_eq!(export["artifacts"][0]["content"], json!({"format_version": 1}));
    assert_eq!(export["artifacts"][1]["content"], json!("second"));
    let e = store
        .finish_run(
            4242,
            &RunEnd {
                status: RunStatus::Failed,
                usage: BTreeMap::new(),
                best_score: None,
                result_version: None,
                error: None,
            },
        )
        .await;
    assert!(e.unwrap_err().is_not_found());
}

async fn snapshots_trend_and_degradation(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let day = 86_400_000i64;
    let mut batch = Vec::new();
    // Three days of 300 evaluations each: 80%, 78%, then 55% correct.
    for (d, rate) in [(0i64, 80), (1, 78), (2, 55)] {
        for i in 0..300i64 {
            let mut e = eval("qa", Some(1), if i % 100 < rate { 1.0 } else { 0.0 }, d * day + i * 1000);
            e.latency_ms = i; // 0..299 ms
            batch.push(e);
        }
    }
    store.insert_evaluations(&batch).await.unwrap();
    for d in 0..3 {
        let s = store.take_snapshot("qa", Some(1), d * day, (d + 1) * day).await.unwrap();
        assert_eq!(s.n, 300);
        assert!((s.latency_p50_ms - 149.5).abs() < 1e-9 && (s.latency_p95_ms - 284.05).abs() < 1e-9, "{s:?}");
        assert!((s.cost_per_call - 0.001).abs() < 1e-12);
    }
    let snaps = store.snapshots("qa", Some(1)).await.unwrap();
    assert_eq!(snaps.iter().map(|s| s.mean_score).collect::<Vec<_>>(), vec![0.8, 0.78, 0.55]);
    let t = promptsmith_store::snapshots::trend(&snaps).unwrap();
    assert!(t.score_slope_per_day < -0.1, "{t:?}");
    let policy = promptsmith_store::DegradationPolicy::default();
    let small = store.detect_degradation("qa", Some(1), (0, day), (day, 2 * day), &policy).await.unwrap();
    assert!(!small.degraded, "{small:?}");
    let big = store.detect_degradation("qa", Some(1), (0, day), (2 * day, 3 * day), &policy).await.unwrap();
    assert!(big.degraded && big.p_value.is_some_and(|p| p < 1e-6), "{big:?}");
    assert_eq!(big.verdict, promptsmith_store::DegradationVerdict::Degraded);
    // A window with no evaluations: insufficient data, not "no degradation".
    let empty = store.detect_degradation("qa", Some(1), (0, day), (5 * day, 6 * day), &policy).await.unwrap();
    assert_eq!(
        (empty.verdict, empty.p_value, empty.recent_n),
        (promptsmith_store::DegradationVerdict::InsufficientData, None, 0)
    );
    let e = store.take_snapshot("qa", Some(1), 10 * day, 11 * day).await.unwrap_err();
    assert!(e.is_not_found());
}

async fn auto_activation_needs_a_significant_margin(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let policy = PromotionPolicy::default();
    let base: Vec<f64> = (0..200).map(|i| if i % 2 == 0 { 1.0 } else { 0.0 }).collect();
    let first = store.register_optimized(&new_version("qa", "v1"), &base, None, &policy).await.unwrap();
    assert_eq!((first.version.version, first.alias.as_str()), (1, PRODUCTION));
    // +2% relative: registered as candidate.
    let mut slight = base.clone();
    slight[1] = 1.0;
    slight[3] = 1.0;
    let out = store.register_optimized(&new_version("qa", "v2"), &slight, Some((1, &base)), &policy).await.unwrap();
    assert_eq!((out.version.version, out.alias.as_str()), (2, CANDIDATE));
    assert!(!out.decision.unwrap().promote);
    // +40% and significant: becomes production.
    let better: Vec<f64> = (0..200).map(|i| if i % 10 < 7 { 1.0 } else { 0.0 }).collect();
    let better: Vec<f64> = better.iter().zip(&base).map(|(a, b)| a.max(*b)).collect();
    let out = store.register_optimized(&new_version("qa", "v3"), &better, Some((1, &base)), &policy).await.unwrap();
    assert_eq!((out.version.version, out.alias.as_str()), (3, PRODUCTION), "{:?}", out.decision);
    // Compared against a version that is no longer production: candidate.
    let out = store.register_optimized(&new_version("qa", "v4"), &better, Some((1, &base)), &policy).await.unwrap();
    assert_eq!(out.alias, CANDIDATE);
    let summary = store.program("qa").await.unwrap();
    assert_eq!(summary.aliases, BTreeMap::from([(PRODUCTION.to_string(), 3), (CANDIDATE.to_string(), 4)]));
    let log = store.alias_log("qa").await.unwrap();
    assert!(log[2].reason.contains("beats version 1"), "{}", log[2].reason);
    // Rolling production back returns it to version 1.
    assert_eq!(store.rollback("qa", PRODUCTION, "ops", "check").await.unwrap(), 1);
}

async fn eight_concurrent_writers_lose_nothing(engine: Engine) {
    let db = fresh(engine).await;
    db.open().await.close().await; // migrate once
    let writers = 8;
    let per_writer = 12;
    let mut handles = Vec::new();
    for w in 0..writers {
        let url = db.url.clone();
        handles.push(tokio::spawn(async move {
            let store = promptsmith_store::Store::open(&url).await.unwrap();
            let mut mine = Vec::new();
            for i in 0..per_writer {
                // Half the writers share one program, the others have their own.
                let program = if w % 2 == 0 { "shared".to_string() } else { format!("own{w}") };
                let v = store.register_version(&new_version(&program, &format!("w{w} i{i}"))).await.unwrap();
                mine.push((program.clone(), v.version));
                let alias = ["production", "candidate", "staging"][(i % 3) as usize];
                store.set_alias(&program, alias, v.version, &format!("w{w}"), "race").await.unwrap();
                if i % 4 == 3 {
                    if let Err(e) = store.rollback(&program, "production", &format!("w{w}"), "race").await {
                        // Another writer may have walked production back to its first version.
                        assert!(e.to_string().contains("no earlier version"), "{e}");
                    }
                }
                store.insert_evaluations(&[eval(&program, Some(v.version), 1.0, i)]).await.unwrap();
            }
            store.close().await;
            mine
        }));
    }
    let mut registered: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for h in handles {
        for (p, v) in h.await.unwrap() {
            registered.entry(p).or_default().push(v);
        }
    }
    let store = db.open().await;
    for (program, mut versions) in registered {
        versions.sort();
        let n = versions.len() as i64;
        assert_eq!(versions, (1..=n).collect::<Vec<_>>(), "{program}: every writer got its own number, no gaps");
        let stored = store.list_versions(&program).await.unwrap();
        assert_eq!(stored.len() as i64, n);
        let stats = store.program_stats(&program).await.unwrap();
        assert_eq!(stats.iter().map(|s| s.n).sum::<i64>(), n);
    }
    assert_eq!(store.list_versions("shared").await.unwrap().len(), 4 * per_writer as usize);
    assert_eq!(store.count_evaluations().await.unwrap(), writers * per_writer);
    // The alias table is exactly what replaying the alias log gives.
    let problems = store.check_integrity().await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let log = store.alias_log("shared").await.unwrap();
    assert!(log.len() >= 4 * per_writer as usize);
}

async fn reopening_keeps_everything(engine: Engine) {
    let db = fresh(engine).await;
    {
        let store = db.open().await;
        store.register_version(&new_version("qa", "v1")).await.unwrap();
        store.activate("qa", 1, "t", "").await.unwrap();
        store.insert_evaluations(&[eval("qa", Some(1), 1.0, 5)]).await.unwrap();
        store.close().await;
    }
    let store = db.open().await;
    assert_eq!(store.version("qa", &VersionSelector::Alias(PRODUCTION.into())).await.unwrap().version, 1);
    assert_eq!(store.count_evaluations().await.unwrap(), 1);
    assert!(store.check_integrity().await.unwrap().is_empty());
}
