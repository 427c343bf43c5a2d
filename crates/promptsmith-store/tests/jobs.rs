//! The job queue on SQLite and PostgreSQL: concurrent claimers never share a job, a lease that
//! runs out lets another worker take the job over, only the lease holder finishes it (once),
//! cancellation, journals and events, purging.

#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, Engine};
use promptsmith_store::{JobQuery, JobStatus, NewJob, Store};
use serde_json::json;
use std::collections::HashSet;

fn job(id: &str, tenant: &str) -> NewJob {
    NewJob {
        id: id.into(),
        tenant: tenant.into(),
        kind: "optimize".into(),
        program: "qa".into(),
        payload: json!({"n": id}),
        plan: json!({"planned_calls": 10}),
    }
}

async fn concurrent_claims_are_exclusive(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    for i in 0..20 {
        store.enqueue_job(&job(&format!("job_{i:02}"), "t")).await.unwrap();
    }
    let mut handles = Vec::new();
    for w in 0..4 {
        let store: Store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(j) = store.claim_job(&format!("w{w}"), 60_000).await.unwrap() {
                got.push(j.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 20, "every job claimed once: {all:?}");
    assert_eq!(unique.len(), 20);
    let counts = store.job_counts(Some("t")).await.unwrap();
    assert_eq!(counts[&JobStatus::Running], 20);
    assert_eq!(counts[&JobStatus::Queued], 0);
    store.close().await;
}

async fn leases_expire_and_only_the_holder_finishes(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    store.enqueue_job(&job("job_a", "t")).await.unwrap();
    // A lease that has already run out (-1 ms), as if the worker died long ago.
    let first = store.claim_job("w1", -1).await.unwrap().unwrap();
    assert_eq!((first.attempts, first.status), (1, JobStatus::Running));
    store.append_job_journal("job_a", &["{\"call\":1}".into(), "{\"call\":2}".into()]).await.unwrap();
    // Another worker takes over and sees the journal.
    let second = store.claim_job("w2", 60_000).await.unwrap().unwrap();
    assert_eq!((second.id.as_str(), second.attempts), ("job_a", 2));
    assert_eq!(store.job_journal("job_a").await.unwrap().len(), 2);
    // The old holder can neither renew nor finish.
    assert!(store.heartbeat_job("job_a", "w1", 1000, &json!({})).await.is_err());
    let err = store.finish_job("job_a", "w1", JobStatus::Completed, Some(&json!({})), None).await.unwrap_err();
    assert!(err.to_string().contains("no longer holds"), "{err}");
    assert!(!store.heartbeat_job("job_a", "w2", 60_000, &json!({"progress": 0.5})).await.unwrap());
    let done = store.finish_job("job_a", "w2", JobStatus::Completed, Some(&json!({"best": 1})), None).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.progress["progress"], 0.5);
    assert!(store.finish_job("job_a", "w2", JobStatus::Failed, None, Some("again")).await.is_err());
    assert!(store.claim_job("w3", 1000).await.unwrap().is_none());
    // A completed job cannot be queued again; a failed one can, with its journal.
    assert!(store.requeue_job("job_a").await.unwrap_err().to_string().contains("completed"));
    store.enqueue_job(&job("job_f", "t")).await.unwrap();
    store.claim_job("w3", 60_000).await.unwrap().unwrap();
    store.append_job_journal("job_f", &["{}".into()]).await.unwrap();
    store.finish_job("job_f", "w3", JobStatus::Failed, None, Some("model down")).await.unwrap();
    let again = store.requeue_job("job_f").await.unwrap();
    assert_eq!((again.status, again.error.as_deref()), (JobStatus::Queued, None));
    assert_eq!(store.job_journal("job_f").await.unwrap().len(), 1);
    assert_eq!(store.claim_job("w4", 1000).await.unwrap().unwrap().id, "job_f");
    store.close().await;
}

/// Jobs are claimed in the order they were submitted, also when many share a millisecond
/// (ids chosen to sort the other way round).
async fn claims_are_first_in_first_out(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    let ids: Vec<String> = (0..30).rev().map(|i| format!("job_{i:02}")).collect();
    for id in &ids {
        store.enqueue_job(&job(id, "t")).await.unwrap();
    }
    let mut claimed = Vec::new();
    while let Some(next) = store.claim_job("w", 60_000).await.unwrap() {
        claimed.push(next.id);
    }
    assert_eq!(claimed, ids);
    store.close().await;
}

async fn cancel_events_list_and_purge(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    store.enqueue_job(&job("job_q", "t1")).await.unwrap();
    store.enqueue_job(&job("job_r", "t1")).await.unwrap();
    store.enqueue_job(&job("job_o", "t2")).await.unwrap();
    let queued = store.cancel_job("job_q").await.unwrap();
    assert_eq!(queued.status, JobStatus::Cancelled);
    let running = store.claim_job("w", 60_000).await.unwrap().unwrap();
    assert_eq!(running.id, "job_r", "a cancelled job is not claimed");
    let asked = store.cancel_job("job_r").await.unwrap();
    assert_eq!(asked.status, JobStatus::Running);
    assert!(store.heartbeat_job("job_r", "w", 60_000, &json!({})).await.unwrap(), "the worker hears it");
    store
        .append_job_events("job_r", &[("progress".into(), json!({"p": 1})), ("result".into(), json!({}))])
        .await
        .unwrap();
    let events = store.job_events("job_r", 1, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| (e.seq, e.kind.as_str())).collect::<Vec<_>>(), [(2, "result")]);
    store.finish_job("job_r", "w", JobStatus::Cancelled, None, None).await.unwrap();
    let t1 = store.jobs(&JobQuery { tenant: Some("t1".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(t1.len(), 2);
    let page = store.jobs(&JobQuery { tenant: Some("t1".into()), limit: 1, ..Default::default() }).await.unwrap();
    let rest = store
        .jobs(&JobQuery {
            tenant: Some("t1".into()),
            before: Some((page[0].created_at, page[0].id.clone())),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len() + rest.len(), 2);
    assert_ne!(page[0].id, rest[0].id);
    let n = store.purge_jobs(promptsmith_store::db::now_ms() + 1).await.unwrap();
    assert_eq!(n, 2);
    assert!(store.job("job_r").await.unwrap_err().is_not_found());
    assert_eq!(store.job("job_o").await.unwrap().status, JobStatus::Queued);
    store.close().await;
}

async fn concurrent_appends_to_one_journal_are_all_kept(engine: Engine) {
    let db = fresh(engine).await;
    let store = db.open().await;
    store.enqueue_job(&job("job_j", "t")).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store.append_job_journal("job_j", &[format!("{{\"call\":{i}}}")]).await.unwrap();
            store.append_job_events("job_j", &[("progress".into(), json!({"i": i}))]).await.unwrap();
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(store.job_journal("job_j").await.unwrap().len(), 40);
    assert_eq!(store.job_events("job_j", 0, 100).await.unwrap().len(), 40);
    store.close().await;
}

#[tokio::test]
async fn sqlite_concurrent_appends_to_one_journal_are_all_kept() {
    concurrent_appends_to_one_journal_are_all_kept(Engine::Sqlite).await;
}
#[tokio::test]
async fn postgres_concurrent_appends_to_one_journal_are_all_kept() {
    concurrent_appends_to_one_journal_are_all_kept(Engine::Postgres).await;
}
#[tokio::test]
async fn sqlite_concurrent_claims_are_exclusive() {
    concurrent_claims_are_exclusive(Engine::Sqlite).await;
}
#[tokio::test]
async fn postgres_concurrent_claims_are_exclusive() {
    concurrent_claims_are_exclusive(Engine::Postgres).await;
}
#[tokio::test]
async fn sqlite_leases_expire_and_only_the_holder_finishes() {
    leases_expire_and_only_the_holder_finishes(Engine::Sqlite).await;
}
#[tokio::test]
async fn postgres_leases_expire_and_only_the_holder_finishes() {
    leases_expire_and_only_the_holder_finishes(Engine::Postgres).await;
}
#[tokio::test]
async fn sqlite_cancel_events_list_and_purge() {
    cancel_events_list_and_purge(Engine::Sqlite).await;
}
#[tokio::test]
async fn postgres_cancel_events_list_and_purge() {
    cancel_events_list_and_purge(Engine::Postgres).await;
}
#[tokio::test]
async fn sqlite_claims_are_first_in_first_out() {
    claims_are_first_in_first_out(Engine::Sqlite).await;
}
#[tokio::test]
async fn postgres_claims_are_first_in_first_out() {
    claims_are_first_in_first_out(Engine::Postgres).await;
}
