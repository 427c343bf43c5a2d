//! A job survives a server restart: stopping `serve` while a job runs hands it back to the
//! queue (after the grace period), a queued job stays queued, and the next server resumes the
//! running one from its journal in the database and runs the queued one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use promptsmith_app::jobs::{QueueLimits, WorkerConfig};
use promptsmith_app::{StoreTarget, Tenant};
use promptsmith_core::LanguageModel;
use promptsmith_lm::{LmStack, ScriptedLm};
use promptsmith_server::{serve, ServeConfig, ServerSettings};
use promptsmith_store::JobStatus;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A scripted model that takes a little while per call, so a job is still running when the
/// server stops.
fn slow_stack(calls: Arc<AtomicUsize>) -> LmStack {
    let lm = ScriptedLm::from_fn(move |req| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(5));
        common::answer(req)
    })
    .with_model_name("scripted");
    LmStack::from_models(Arc::new(lm) as Arc<dyn LanguageModel>, [], 1)
}

fn config(w: &common::World, slots: usize) -> ServeConfig {
    let mut worker = WorkerConfig::new(w.dir.path().join("work"), slots);
    worker.poll = Duration::from_millis(20);
    worker.grace = Duration::ZERO;
    ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        settings: ServerSettings::default(),
        limits: QueueLimits::default(),
        worker: Some(worker),
        workdir: w.dir.path().join("work"),
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_jobs_resume_and_queued_jobs_stay_queued_across_a_restart() {
    let w = common::world(ServerSettings::default()).await;
    let tenant = Tenant::default();
    let body = || serde_json::from_value(common::job_body()).unwrap();
    let first = w.state.jobs.submit(&tenant, body(), &Default::default()).await.unwrap().id;
    let second = w.state.jobs.submit(&tenant, body(), &Default::default()).await.unwrap().id;
    let calls = Arc::new(AtomicUsize::new(0));
    let target = StoreTarget::new(Some(w.url.clone()));
    // First server: one slot, stopped once the first job has journaled some calls.
    let stop = CancellationToken::new();
    let lm = Arc::new(slow_stack(calls.clone()));
    let server = tokio::spawn(serve(config(&w, 1), w.store.clone(), target.clone(), lm, stop.clone(), None));
    let store = w.store.clone();
    let id = first.clone();
    wait_for("the first job to be part way", async || store.job_journal(&id).await.unwrap().len() >= 10).await;
    stop.cancel();
    server.await.unwrap().unwrap();
    let (a, b) = (w.store.job(&first).await.unwrap(), w.store.job(&second).await.unwrap());
    assert_eq!((a.status, b.status), (JobStatus::Queued, JobStatus::Queued), "handed back / still queued");
    let journaled = w.store.job_journal(&first).await.unwrap().len();
    assert!(journaled >= 10);
    // Second server on the same database finishes both.
    let stop = CancellationToken::new();
    let lm = Arc::new(slow_stack(calls.clone()));
    let server = tokio::spawn(serve(config(&w, 2), w.store.clone(), target, lm, stop.clone(), None));
    let store = w.store.clone();
    let ids = [first.clone(), second.clone()];
    wait_for("both jobs to finish", async || {
        let mut done = true;
        for id in &ids {
            done &= store.job(id).await.unwrap().status.is_final();
        }
        done
    })
    .await;
    stop.cancel();
    server.await.unwrap().unwrap();
    let a = w.store.job(&first).await.unwrap();
    let b = w.store.job(&second).await.unwrap();
    assert_eq!((a.status, b.status), (JobStatus::Completed, JobStatus::Completed), "{:?} {:?}", a.error, b.error);
    assert_eq!(a.attempts, 2);
    let (ra, rb) = (a.result.unwrap(), b.result.unwrap());
    assert!(ra["replayed_calls"].as_u64().unwrap() as usize >= journaled, "{ra}");
    assert_eq!(ra["state"], rb["state"], "the resumed job ends where an uninterrupted one does");
    assert_eq!(
        w.store.job_journal(&first).await.unwrap().len(),
        w.store.job_journal(&second).await.unwrap().len(),
        "no journaled call made again"
    );
}
