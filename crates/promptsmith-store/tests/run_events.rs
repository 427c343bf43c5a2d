//! A run's events come back in order, from any point, on SQLite and PostgreSQL alike.

#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, Engine};
use promptsmith_store::NewRun;
use serde_json::json;

async fn events_replay_from_any_point(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let run = store
        .create_run(&NewRun {
            kind: "optimize".into(),
            program: "qa".into(),
            optimizer: None,
            params: json!({}),
            metadata: json!({}),
        })
        .await
        .unwrap();
    let batch = |from: usize, n: usize| -> Vec<(String, serde_json::Value)> {
        (from..from + n).map(|i| ("progress".to_string(), json!({"step": i}))).collect()
    };
    assert_eq!(store.append_run_events(run.id, &batch(1, 3)).await.unwrap(), 3);
    assert_eq!(store.append_run_events(run.id, &[]).await.unwrap(), 3);
    assert_eq!(store.append_run_events(run.id, &batch(4, 2)).await.unwrap(), 5);
    let all = store.run_events(run.id, 0, 100).await.unwrap();
    let steps: Vec<i64> = all.iter().map(|e| e.data["step"].as_i64().unwrap()).collect();
    assert_eq!(steps, [1, 2, 3, 4, 5]);
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    // A client that saw up to 3 gets 4 and 5; a limit pages.
    let missed = store.run_events(run.id, 3, 100).await.unwrap();
    assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(store.run_events(run.id, 0, 2).await.unwrap().len(), 2);
    let err = store.append_run_events(run.id + 100, &batch(1, 1)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    store.close().await;
}

#[tokio::test]
async fn sqlite_events_replay_from_any_point() {
    events_replay_from_any_point(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_events_replay_from_any_point() {
    events_replay_from_any_point(Engine::Postgres).await;
}
