//! Experiments on SQLite and PostgreSQL: one running per program, each arm's predictions,
//! errors, latency and outcomes (feedback ratings, stored scores) summed from the evaluations.

#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, Engine};
use promptsmith_store::{FeedbackInput, NewEvaluation, NewExperiment, StoreError};
use serde_json::json;

fn experiment(id: &str) -> NewExperiment {
    NewExperiment {
        id: id.into(),
        tenant: "default".into(),
        program: "qa".into(),
        control_version: 1,
        challenger_version: 2,
        traffic: 0.5,
        metric: "feedback".into(),
        settings: json!({"rules": {}}),
        kind: "experiment".into(),
    }
}

async fn arms_are_summed(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let e = store.insert_experiment(&experiment("exp_1")).await.unwrap();
    assert_eq!(e.status, "running");
    assert!(matches!(store.insert_experiment(&experiment("exp_2")).await, Err(StoreError::Conflict(_))));
    let row = |arm: &str, error: bool, latency: i64| NewEvaluation {
        program: "qa".into(),
        inputs: json!({"q": "x"}).as_object().cloned().unwrap(),
        error: error.then(|| "boom".to_string()),
        latency_ms: latency,
        experiment_id: Some("exp_1".into()),
        arm: Some(arm.into()),
        ..NewEvaluation::default()
    };
    let ids = store
        .insert_predictions(&[row("control", false, 10), row("control", true, 30), row("challenger", false, 50)])
        .await
        .unwrap();
    for (id, rating) in ids.iter().zip([0.0, 1.0, 1.0]) {
        store.record_feedback(*id, &FeedbackInput { rating: Some(rating), ..FeedbackInput::default() }).await.unwrap();
    }
    let arms = store.arm_totals("exp_1", "feedback").await.unwrap();
    let c = arms["control"];
    assert_eq!((c.predictions, c.errors, c.latency_ms_sum, c.n, c.sum, c.sum_sq), (2, 1, 40.0, 2, 1.0, 1.0));
    let h = arms["challenger"];
    assert_eq!((h.predictions, h.n, h.sum), (1, 1, 1.0));
    // Predictions are unscored: no evaluation outcomes.
    assert_eq!(store.arm_totals("exp_1", "evaluation").await.unwrap()["control"].n, 0);
    assert!(store.end_experiment("exp_1", "stopped", "stopped").await.unwrap());
    assert!(!store.end_experiment("exp_1", "stopped", "stopped").await.unwrap(), "ends once");
    assert!(store.running_experiment("qa").await.unwrap().is_none());
    store.insert_experiment(&experiment("exp_3")).await.unwrap();
    assert_eq!(store.experiments("default", 10).await.unwrap().len(), 2);
    // Training examples from feedback: a correction gives the corrected outputs; a prediction
    // rated fully right without one gives its own outputs (the approved examples).
    let out = |a: i64| json!({"answer": a}).as_object().cloned().unwrap();
    let served = |a: i64| NewEvaluation { outputs: Some(out(a)), ..row("control", false, 5) };
    let ids = store.insert_predictions(&[served(3), served(4), served(5)]).await.unwrap();
    let rated = |r: f64| FeedbackInput { rating: Some(r), ..FeedbackInput::default() };
    store.record_feedback(ids[0], &rated(1.0)).await.unwrap();
    store.record_feedback(ids[1], &rated(0.5)).await.unwrap();
    let fixed = FeedbackInput { corrected: Some(out(9)), ..rated(1.0) };
    store.record_feedback(ids[2], &fixed).await.unwrap();
    let approved = store.approved_examples("qa", 1.0).await.unwrap();
    assert_eq!(approved.len(), 1, "{approved:?}");
    assert_eq!((approved[0].example["answer"].as_i64(), approved[0].example["q"].as_str()), (Some(3), Some("x")));
    assert_eq!(store.approved_examples("qa", 0.5).await.unwrap().len(), 2);
    let corrected = store.feedback_examples(Some("qa")).await.unwrap();
    assert_eq!(corrected.iter().map(|f| f.example["answer"].as_i64()).collect::<Vec<_>>(), [Some(9)]);
}

#[tokio::test]
async fn sqlite_experiment_arms() {
    arms_are_summed(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_experiment_arms() {
    arms_are_summed(Engine::Postgres).await;
}
