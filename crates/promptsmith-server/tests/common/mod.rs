//! A test world: a real SQLite (or PostgreSQL) store with the program `add` registered as
//! production, a scripted model that answers addition questions (right on even first numbers,
//! or always once the prompt shows two demos), and the server's state and router over them.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use promptsmith_app::jobs::{JobService, QueueLimits};
use promptsmith_app::StoreTarget;
use promptsmith_core::{ChatRequest, LanguageModel, ProgramSpec};
use promptsmith_lm::{LmStack, ScriptedLm};
use promptsmith_server::{AppState, ServerSettings};
use promptsmith_store::{NewVersion, Store};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The program spec.
pub(crate) fn spec_json() -> Value {
    json!({"name": "add", "predictors": [{"name": "solve", "signature": "question -> answer: int"}]})
}

/// Rows of addition questions.
pub(crate) fn rows(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"question": format!("What is {} + {}?", i, i % 7), "answer": i + i % 7})).collect()
}

/// The scripted model's answer.
pub(crate) fn answer(req: &ChatRequest) -> String {
    let last = &req.messages.last().unwrap().content;
    let q = last.split("[[ ## question ## ]]").nth(1).unwrap_or("").trim();
    let nums: Vec<i64> = q.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let (a, b) = (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0));
    let demos = (req.messages.len().saturating_sub(2)) / 2;
    let right = a % 2 == 0 || demos >= 2;
    format!("[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]", if right { a + b } else { a + b + 1 })
}

/// A stack over the scripted model, counting calls.
pub(crate) fn stack(calls: Arc<AtomicUsize>) -> LmStack {
    let lm = ScriptedLm::from_fn(move |req| {
        calls.fetch_add(1, Ordering::SeqCst);
        answer(req)
    })
    .with_model_name("scripted");
    LmStack::from_models(Arc::new(lm) as Arc<dyn LanguageModel>, [], 2)
}

/// The world.
pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) url: String,
    pub(crate) store: Store,
    pub(crate) state: AppState,
    pub(crate) calls: Arc<AtomicUsize>,
}

/// Registers `name` (in the registry's spelling) as production.
pub(crate) async fn register(store: &Store, name: &str) -> i64 {
    let spec = ProgramSpec::parse(&spec_json().to_string(), false, "test").unwrap();
    let program = spec.build("test").unwrap();
    let new = NewVersion::new(name, spec, program.state(), "tester");
    let v = store.register_version(&new).await.unwrap();
    store.activate(name, v.version, "tester", "test").await.unwrap();
    v.version
}

/// A fresh world on SQLite with `settings`.
pub(crate) async fn world(settings: ServerSettings) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    world_at(dir, url, settings).await
}

/// A fresh world on the database at `url`.
pub(crate) async fn world_at(dir: tempfile::TempDir, url: String, settings: ServerSettings) -> World {
    let store = Store::open(&url).await.unwrap();
    register(&store, "add").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let lm = Arc::new(stack(calls.clone()));
    let jobs = JobService::new(
        store.clone(),
        StoreTarget::new(Some(url.clone())),
        QueueLimits::default(),
        dir.path().join("work"),
    );
    let state = AppState::new(store.clone(), jobs, lm, settings);
    World { dir, url, store, state, calls }
}

/// A small job request on inline rows.
pub(crate) fn job_body() -> Value {
    json!({
        "program": "add@production",
        "dataset": rows(24),
        "optimizer": {"name": "random_search", "bootstrap": {"max_bootstrapped_demos": 2, "max_labeled_demos": 2}, "num_candidate_programs": 2},
        "metric": "numeric_match",
        "val_size": 8,
        "test_size": 6,
        "seed": 3
    })
}

/// A fresh database on the PostgreSQL server named by `PROMPTSMITH_TEST_DATABASE_URL`
/// (scripts/test.sh starts one); fails, never skips, without it.
pub(crate) async fn fresh_postgres() -> String {
    let admin = std::env::var("PROMPTSMITH_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("PROMPTSMITH_TEST_DATABASE_URL is not set: start a server with scripts/start-test-postgres.sh DIR");
    let name = format!("ps_server_{}_{}", std::process::id(), promptsmith_app::ids::new_id("db").replace("db_", ""));
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    format!("{base}/{name}")
}
