//! Test databases: a fresh SQLite file in a temporary directory, or a fresh database on the
//! PostgreSQL server named by `PROMPTSMITH_TEST_DATABASE_URL` (scripts/start-test-postgres.sh
//! starts one; scripts/test.sh exports it). PostgreSQL tests fail, never skip, without it.
#![allow(dead_code, clippy::unwrap_used)]

use promptsmith_core::{ProgramSpec, ProgramState};
use promptsmith_store::{NewVersion, Store};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
}

/// A fresh, empty database; dropped with the test (the SQLite directory is removed; PostgreSQL
/// databases are left for the throwaway server to take with it).
pub(crate) struct TestDb {
    pub(crate) url: String,
    pub(crate) dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub(crate) async fn open(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }
}

pub(crate) fn postgres_admin_url() -> String {
    match std::env::var("PROMPTSMITH_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "PROMPTSMITH_TEST_DATABASE_URL is not set: the store's PostgreSQL tests need a server. \
             Start one with `scripts/start-test-postgres.sh $(mktemp -d)` and export the URL it prints \
             (scripts/test.sh does both)."
        ),
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) async fn fresh(engine: Engine) -> TestDb {
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("store.db").display());
            TestDb { url, dir: Some(dir) }
        }
        Engine::Postgres => {
            let admin = postgres_admin_url();
            let name = format!(
                "ps_test_{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst),
                rand::random::<u32>()
            );
            let pool = sqlx::PgPool::connect(&admin).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
            TestDb { url: format!("{base}/{name}"), dir: None }
        }
    }
}

pub(crate) fn spec(name: &str) -> ProgramSpec {
    ProgramSpec::parse(
        &json!({
            "name": name,
            "predictors": [
                {"name": "draft", "signature": "question -> answer", "instruction": "Draft an answer."},
                {"name": "refine", "signature": "question, draft -> answer", "instruction": "Refine the draft."}
            ],
            "steps": [
                {"predictor": "draft"},
                {"predictor": "refine", "inputs": {"draft": "draft.answer"}}
            ]
        })
        .to_string(),
        false,
        "test spec",
    )
    .unwrap()
}

pub(crate) fn state(instruction: &str, demos: usize) -> ProgramState {
    let demos: Vec<_> = (0..demos).map(|i| json!({"question": format!("q{i}"), "answer": format!("a{i}")})).collect();
    serde_json::from_value(json!({
        "format_version": 1,
        "predictors": {"draft": {"instruction": instruction, "demos": demos}}
    }))
    .unwrap()
}

pub(crate) fn new_version(program: &str, instruction: &str) -> NewVersion {
    NewVersion::new(program, spec(program), state(instruction, 1), "tester")
}
