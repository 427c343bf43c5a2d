//! The service on the real local model (the llama-server that scripts/test.sh starts; the tests
//! fail, never skip, without it): over loopback HTTP, a prediction of a registered program and
//! the same program through the OpenAI-compatible gateway, both stored; and the self-improving
//! loop's policy on a tiny budget: feedback triggers an optimization that the server's worker
//! runs on the model, and the policy decides on its deployment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use promptsmith_app::jobs::{JobService, QueueLimits, WorkerConfig};
use promptsmith_app::policy::PolicyEngine;
use promptsmith_app::supervisor::Supervisor;
use promptsmith_app::StoreTarget;
use promptsmith_lm::{ConfigFile, HistoryConfig, LmSettings, LmStack};
use promptsmith_server::{serve, ServeConfig, ServerSettings};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The local model's stack (no response cache).
async fn local_lm() -> Arc<LmStack> {
    let url = std::env::var("PROMPTSMITH_TEST_LM_URL")
        .expect("PROMPTSMITH_TEST_LM_URL is not set: run the suite with scripts/test.sh, which starts the local model");
    let settings = LmSettings {
        base_url: Some(format!("{}/v1", url.trim_end_matches('/'))),
        model: Some("local".into()),
        no_cache: true,
        ..LmSettings::default()
    };
    let file = ConfigFile::parse("", std::path::Path::new("none.toml"), HistoryConfig::default()).unwrap();
    Arc::new(LmStack::build(&settings, file).await.unwrap())
}

#[tokio::test]
async fn predict_and_gateway_on_the_local_model() {
    let w = common::world(ServerSettings::default()).await;
    let lm = local_lm().await;
    let config = ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        settings: ServerSettings::default(),
        limits: QueueLimits::default(),
        worker: None,
        workdir: w.dir.path().join("work"),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let stop = CancellationToken::new();
    let server =
        tokio::spawn(serve(config, w.store.clone(), StoreTarget::new(Some(w.url.clone())), lm, stop.clone(), Some(tx)));
    let base = format!("http://{}", rx.await.unwrap());
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{base}/v1/programs/add/predict"))
        .json(&json!({"inputs": {"question": "What is 2 + 3?"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let p: Value = resp.json().await.unwrap();
    assert!(p["outputs"]["answer"].is_i64(), "the model's answer parsed as the signature's int: {p}");
    assert!(p["completion_tokens"].as_u64().unwrap() > 0, "{p}");
    let chat: Value = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "promptsmith/add", "messages": [{"role": "user", "content": "What is 10 + 1?"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let content = chat["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.parse::<i64>().is_ok(), "{chat}");
    let stored = w.store.query_evaluations(&Default::default()).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|e| e.prompt_tokens > 0 && e.outputs.is_some()));
    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_reoptimizes_from_feedback_on_the_local_model() {
    let w = common::world(ServerSettings::default()).await;
    let lm = local_lm().await;
    let quiet = ServerSettings {
        monitor_interval: std::time::Duration::ZERO,
        webhook_poll: std::time::Duration::ZERO,
        ..ServerSettings::default()
    };
    let config = ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        settings: quiet,
        limits: QueueLimits::default(),
        worker: Some(WorkerConfig::new(w.dir.path().join("work"), 1)),
        workdir: w.dir.path().join("work"),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let stop = CancellationToken::new();
    let target = StoreTarget::new(Some(w.url.clone()));
    let server = tokio::spawn(serve(config, w.store.clone(), target.clone(), lm, stop.clone(), Some(tx)));
    let base = format!("http://{}", rx.await.unwrap());
    let client = reqwest::Client::new();
    let policy = json!({"enable_automatic_optimization": true, "feedback_volume_threshold": 10,
        "optimization_interval_hours": 0, "optimizer": {"name": "labeled", "k": 2}, "metric": "numeric_match",
        "field": "answer", "max_calls": 80});
    let resp = client.put(format!("{base}/v1/programs/add/policy")).json(&policy).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for i in 0..12 {
        let q = json!({"inputs": {"question": format!("What is {} + {}?", 3 * i + 4, i % 5 + 2)}});
        let p: Value =
            client.post(format!("{base}/v1/programs/add/predict")).json(&q).send().await.unwrap().json().await.unwrap();
        let right = 3 * i + 4 + i % 5 + 2;
        let fb = json!({"score": if p["outputs"]["answer"] == right { 1.0 } else { 0.0 }, "correct_outputs": {"answer": right}});
        let path = format!("{base}/v1/predictions/{}/feedback", p["prediction_id"]);
        assert_eq!(client.post(path).json(&fb).send().await.unwrap().status(), 201, "{p}");
    }
    let jobs = JobService::new(w.store.clone(), target, QueueLimits::default(), w.dir.path().join("work"));
    let supervisor =
        Supervisor::new(w.store.clone()).with_policies(PolicyEngine::new(w.store.clone(), jobs, Default::default()));
    let now = promptsmith_core::clock::now_ms();
    let actions = supervisor.tick(now).await.unwrap();
    let started = actions.iter().find(|a| a.kind == "policy").expect("the policy acted");
    assert!(started.what.starts_with("started: 12 new feedback examples"), "{actions:?}");
    let job = started.what.split("(job ").nth(1).unwrap().trim_end_matches(')').to_string();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(600);
    while !matches!(w.store.job(&job).await.unwrap().status.as_str(), "completed" | "failed") {
        assert!(tokio::time::Instant::now() < deadline, "the automatic optimization did not finish in 10 minutes");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        w.store.job(&job).await.unwrap().status.as_str(),
        "completed",
        "{:?}",
        w.store.job(&job).await.unwrap().error
    );
    supervisor.tick(now + 60_000).await.unwrap();
    let timeline: Value =
        client.get(format!("{base}/v1/programs/add/timeline")).send().await.unwrap().json().await.unwrap();
    let entries = timeline["entries"].as_array().unwrap();
    // Whether the result is deployed depends on what the model did; either way the policy said
    // so, with its reason.
    let deployment = entries.iter().find(|e| e["kind"] == "deployment").expect("a deployment decision");
    assert!(["experiment_started", "not_deployed"].contains(&deployment["decision"].as_str().unwrap()), "{timeline}");
    assert!(!deployment["reason"].as_str().unwrap().is_empty());
    assert!(entries.iter().any(|e| e["kind"] == "optimization" && e["decision"] == "finished"), "{timeline}");
    stop.cancel();
    server.await.unwrap().unwrap();
}
