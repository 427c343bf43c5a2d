//! Webhooks and rollout rows on SQLite and PostgreSQL: events queued only for the webhooks that
//! want them, deliveries claimed once, every attempt logged, retries due later, failures final;
//! a rollout's traffic moves and it ends with its plan; policies replace, the timeline keeps
//! decisions in order.

#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, Engine};
use promptsmith_store::{AttemptResult, NewExperiment, Store, Webhook};
use serde_json::json;

fn hook(id: &str, events: &[&str]) -> Webhook {
    Webhook {
        id: id.into(),
        tenant: "t".into(),
        url: format!("http://127.0.0.1:9/{id}"),
        events: events.iter().map(|s| s.to_string()).collect(),
        secret: format!("secret-{id}"),
        created_at: 0,
    }
}

async fn deliveries(store: &Store) {
    store.insert_webhook(&hook("a", &["optimization.completed"])).await.unwrap();
    store.insert_webhook(&hook("b", &["*"])).await.unwrap();
    assert_eq!(store.webhook("a").await.unwrap().secret, "secret-a");
    assert_eq!(store.enqueue_event("t", "ev1", "rollout.step", "{}").await.unwrap(), 1);
    assert_eq!(store.enqueue_event("t", "ev2", "optimization.completed", "{}").await.unwrap(), 2);
    assert_eq!(store.enqueue_event("other", "ev3", "optimization.completed", "{}").await.unwrap(), 0);
    let now = promptsmith_core::clock::now_ms() + 1;
    let due = store.due_deliveries(now, 10).await.unwrap();
    assert_eq!(due.len(), 3);
    assert!(store.claim_delivery(due[0].id, due[0].next_attempt_at, now + 20_000).await.unwrap());
    assert!(!store.claim_delivery(due[0].id, due[0].next_attempt_at, now + 20_000).await.unwrap(), "claimed once");
    assert_eq!(store.due_deliveries(now, 10).await.unwrap().len(), 2, "a claimed delivery is not due");
    let fail = AttemptResult {
        at: now,
        status_code: Some(500),
        error: Some("HTTP 500".into()),
        duration_ms: 3,
        retry_at: Some(now + 10_000),
    };
    let d = store.record_attempt(due[0].id, &fail).await.unwrap();
    assert_eq!((d.status.as_str(), d.attempts, d.next_attempt_at), ("pending", 1, now + 10_000));
    let ok = AttemptResult { at: now + 10_000, status_code: Some(204), error: None, duration_ms: 2, retry_at: None };
    let d = store.record_attempt(due[0].id, &ok).await.unwrap();
    assert_eq!((d.status.as_str(), d.attempts, d.delivered_at), ("delivered", 2, Some(now + 10_000)));
    let give_up = AttemptResult { retry_at: None, ..fail };
    assert_eq!(store.record_attempt(due[1].id, &give_up).await.unwrap().status, "failed");
    let attempts = store.delivery_attempts(due[0].id).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(), [Some(500), Some(204)]);
    assert_eq!(store.deliveries("b", 10).await.unwrap().len(), 2);
    assert!(store.delete_webhook("b").await.unwrap());
    assert!(!store.delete_webhook("b").await.unwrap());
}

async fn rollout_rows(store: &Store) {
    let new = NewExperiment {
        id: "ro_1".into(),
        tenant: "t".into(),
        program: "qa".into(),
        control_version: 1,
        challenger_version: 2,
        traffic: 0.1,
        metric: "feedback".into(),
        settings: json!({"step": 0}),
        kind: "rollout".into(),
    };
    store.insert_experiment(&new).await.unwrap();
    assert!(store.set_traffic("ro_1", 0.5, 1234, &json!({"step": 2})).await.unwrap());
    let e = store.experiment("ro_1").await.unwrap();
    assert_eq!((e.spec.traffic, e.step_started_at, e.spec.settings["step"].as_i64()), (0.5, Some(1234), Some(2)));
    assert!(store.experiments("t", 10).await.unwrap().is_empty(), "rollouts are not listed as experiments");
    assert_eq!(store.experiments_of_kind("t", "rollout", 10).await.unwrap().len(), 1);
    assert_eq!(store.running_experiments().await.unwrap().len(), 1);
    assert!(store.finish_experiment("ro_1", "rolled_back", "rolled_back", &json!({"reason": "r"})).await.unwrap());
    assert!(!store.finish_experiment("ro_1", "completed", "promoted", &json!({})).await.unwrap(), "ended once");
    let e = store.experiment("ro_1").await.unwrap();
    assert_eq!((e.status.as_str(), e.spec.settings["reason"].as_str()), ("rolled_back", Some("r")));
    assert!(!store.set_traffic("ro_1", 1.0, 1, &json!({})).await.unwrap(), "an ended rollout does not move");
}

async fn policies_and_timeline(store: &Store) {
    assert!(store.policy("qa").await.unwrap().is_none());
    store.put_policy("qa", "t", &json!({"enable_automatic_optimization": false})).await.unwrap();
    let p = store.put_policy("qa", "t", &json!({"enable_automatic_optimization": true})).await.unwrap();
    assert_eq!(p.policy["enable_automatic_optimization"], true, "replaced");
    assert_eq!(store.policies().await.unwrap().len(), 1);
    let a = store.append_timeline("qa", 10, "trigger", "skipped", "skipped: 3 of 50", &json!({"n": 3})).await.unwrap();
    let b =
        store.append_timeline("qa", 20, "optimization", "started", "started", &json!({"job_id": "j"})).await.unwrap();
    assert!(b > a);
    let t = store.timeline("qa", 10).await.unwrap();
    assert_eq!(t.iter().map(|e| e.decision.as_str()).collect::<Vec<_>>(), ["started", "skipped"]);
    let last = store.last_decision("qa", "optimization", "started").await.unwrap().unwrap();
    assert_eq!((last.at, last.data["job_id"].as_str()), (20, Some("j")));
    assert!(store.last_decision("qa", "optimization", "finished").await.unwrap().is_none());
}

async fn both(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    deliveries(&store).await;
    rollout_rows(&store).await;
    policies_and_timeline(&store).await;
}

#[tokio::test]
async fn sqlite_webhooks_and_rollouts() {
    both(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_webhooks_and_rollouts() {
    both(Engine::Postgres).await;
}
