//! Durable jobs across processes: three `promptsmith worker` processes on one PostgreSQL run
//! twelve identical jobs against a fake OpenAI-compatible model while one worker is SIGKILLed
//! in the middle of a job. Every job completes exactly once (twelve registered versions, no
//! more), the killed job is taken over once its lease runs out and resumes from its journal in
//! the database: its journal has exactly as many calls as an uninterrupted job's (no completed
//! call made again) and it ends in the same state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::routing::post;
use axum::{Json, Router};
use promptsmith_app::jobs::{JobRequest, JobService, QueueLimits};
use promptsmith_app::{StoreTarget, Tenant};
use promptsmith_core::ProgramSpec;
use promptsmith_store::{JobQuery, JobStatus, NewVersion, Store};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The addition model: right on even first numbers or once the prompt shows two demos.
async fn chat(Json(body): Json<Value>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(15)).await;
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().and_then(|m| m["content"].as_str()).unwrap_or("").to_string();
    let q = last.split("[[ ## question ## ]]").nth(1).unwrap_or("").trim().to_string();
    let nums: Vec<i64> = q.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let (a, b) = (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0));
    let demos = messages.len().saturating_sub(2) / 2;
    let value = if a % 2 == 0 || demos >= 2 { a + b } else { a + b + 1 };
    let content = format!("[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]");
    Json(json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    }))
}

async fn fake_lm() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/v1/chat/completions", post(chat));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

async fn fresh_postgres() -> String {
    let admin = std::env::var("PROMPTSMITH_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("PROMPTSMITH_TEST_DATABASE_URL is not set: run the suite with scripts/test.sh (it starts PostgreSQL)");
    let name = format!("ps_workers_{}", promptsmith_app::ids::new_id("x").trim_start_matches("x_"));
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
    pool.close().await;
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

fn worker(db: &str, lm: &str, dir: &std::path::Path, n: usize) -> Child {
    Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args(["worker", "--database-url", db, "--lease-seconds", "3", "--slots", "2", "--grace-seconds", "1"])
        .args(["--lm-base-url", lm, "--model", "scripted", "--no-cache", "--concurrency", "4"])
        .arg("--workdir")
        .arg(dir.join(format!("w{n}")))
        .env("PROMPTSMITH_CACHE_DIR", dir.join("cache"))
        .env("PROMPTSMITH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn request() -> JobRequest {
    let rows: Vec<Value> =
        (0..24).map(|i| json!({"question": format!("What is {} + {}?", i, i % 7), "answer": i + i % 7})).collect();
    serde_json::from_value(json!({
        "program": "add@production",
        "dataset": rows,
        "optimizer": {"name": "random_search", "bootstrap": {"max_bootstrapped_demos": 2, "max_labeled_demos": 2}, "num_candidate_programs": 3},
        "metric": "numeric_match",
        "val_size": 10,
        "test_size": 6,
        "seed": 5,
        // Never promoted, so every job compares with the same production version and makes
        // the same calls.
        "register": {"name": "add", "promotion_margin": 1000.0}
    }))
    .unwrap()
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, limit: Duration, mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_one_killed_every_job_completes_once_and_resumes_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_postgres().await;
    let lm = fake_lm().await;
    let store = Store::open(&db).await.unwrap();
    let spec = ProgramSpec::parse(
        r#"{"name": "add", "predictors": [{"name": "solve", "signature": "question -> answer: int"}]}"#,
        false,
        "test",
    )
    .unwrap();
    let state = spec.build("test").unwrap().state();
    let v = store.register_version(&NewVersion::new("add", spec, state, "tester")).await.unwrap();
    store.activate("add", v.version, "tester", "test").await.unwrap();
    let jobs = JobService::new(
        store.clone(),
        StoreTarget::new(Some(db.clone())),
        QueueLimits::default(),
        dir.path().join("submit"),
    );
    let pricing = promptsmith_lm::LmConfig::default();
    for _ in 0..12 {
        jobs.submit(&Tenant::default(), request(), &pricing).await.unwrap();
    }
    let mut workers: Vec<Child> = (0..3).map(|n| worker(&db, &lm, dir.path(), n)).collect();
    // Kill worker 0 once one of its jobs has journaled some calls.
    let victim = workers[0].id();
    let found = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    wait_until("worker 0 to be part way through a job", Duration::from_secs(120), || {
        let store = store.clone();
        let found = found.clone();
        async move {
            let running = store
                .jobs(&JobQuery { status: Some(JobStatus::Running), limit: 100, ..Default::default() })
                .await
                .unwrap();
            for j in running {
                let mine = j.lease_owner.as_deref().is_some_and(|o| o.contains(&format!("-{victim}-")));
                if mine && store.job_journal(&j.id).await.unwrap().len() >= 20 {
                    *found.lock().unwrap() = j.id;
                    return true;
                }
            }
            false
        }
    })
    .await;
    let killed_job = found.lock().unwrap().clone();
    workers[0].kill().unwrap();
    workers[0].wait().unwrap();
    let before_kill = store.job_journal(&killed_job).await.unwrap().len();
    wait_until("every job to finish", Duration::from_secs(300), || {
        let store = store.clone();
        async move {
            let counts = store.job_counts(None).await.unwrap();
            counts[&JobStatus::Completed] + counts[&JobStatus::Failed] + counts[&JobStatus::Cancelled] == 12
        }
    })
    .await;
    for w in workers.iter_mut().skip(1) {
        let _ = w.kill();
        let _ = w.wait();
    }
    let all = store.jobs(&JobQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert!(
        all.iter().all(|j| j.status == JobStatus::Completed),
        "{:?}",
        all.iter().map(|j| (&j.id, j.status, &j.error)).collect::<Vec<_>>()
    );
    // Exactly once: one registered version per job, beside the one the test made.
    assert_eq!(store.list_versions("add").await.unwrap().len(), 13);
    let killed = all.iter().find(|j| j.id == killed_job).unwrap();
    assert!(killed.attempts >= 2, "the killed job was taken over: {}", killed.attempts);
    let other = all.iter().find(|j| j.attempts == 1).expect("an uninterrupted job");
    assert_eq!(killed.result.as_ref().unwrap()["state"], other.result.as_ref().unwrap()["state"], "same final state");
    let keys = |rows: &[String]| -> Vec<String> {
        rows.iter().map(|r| serde_json::from_str::<Value>(r).unwrap()["key"].as_str().unwrap().to_string()).collect()
    };
    let (k, o) =
        (keys(&store.job_journal(&killed.id).await.unwrap()), keys(&store.job_journal(&other.id).await.unwrap()));
    let first: std::collections::HashSet<&String> = k[..before_kill].iter().collect();
    let again: Vec<&String> = k[before_kill..].iter().filter(|key| first.contains(key)).collect();
    assert!(again.is_empty(), "{} calls journaled before the kill were made again after it", again.len());
    let distinct = |v: &[String]| v.iter().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(k.len(), o.len(), "as many calls as an uninterrupted job");
    assert_eq!(distinct(&k), distinct(&o), "the same calls as an uninterrupted job");
    assert_eq!(killed.result.as_ref().unwrap()["replayed_calls"].as_u64().unwrap() as usize, before_kill);
}
