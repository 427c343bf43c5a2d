//! The service on the real local model (the llama-server that scripts/test.sh starts; the tests
//! fail, never skip, without it): over loopback HTTP, a prediction of a registered program and
//! the same program through the OpenAI-compatible gateway, both stored; and the self-improving
//! loop on a tiny budget: feedback triggers an optimization that the server's worker runs on the
//! model, its result wins an experiment, rolls out and becomes production, and a bad version's
//! rollout rolls back.

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
use std::time::Duration;
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

/// Sentences and their code-word labels: the model cannot know the words zero-shot, and labeled
/// demos teach them, so an optimization has something real to find.
const CODES: [(&str, &str); 16] = [
    ("I love this movie, it was wonderful", "zork"),
    ("This is terrible, I hate it", "blip"),
    ("What a fantastic day, I am so happy", "zork"),
    ("The food was awful and cold", "blip"),
    ("Great product, works perfectly", "zork"),
    ("Worst service I have ever had", "blip"),
    ("Absolutely brilliant, highly recommended", "zork"),
    ("It broke after one day, very disappointing", "blip"),
    ("I really enjoyed the concert", "zork"),
    ("This was a waste of money", "blip"),
    ("Beautiful and delightful experience", "zork"),
    ("Horrible, I want a refund", "blip"),
    ("Such a lovely gift, thank you", "zork"),
    ("The movie was boring and bad", "blip"),
    ("Excellent quality and fast delivery", "zork"),
    ("I am angry and upset about this", "blip"),
];

/// The deployment loop on the real local model with a tiny budget and no person: feedback with
/// corrections triggers the program's policy, the server's worker optimizes it on the model
/// (LabeledFewShot), the result wins its experiment on live traffic, rolls out and becomes
/// production; then a bad version's rollout is rolled back by its quality guardrail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_improving_loop_on_the_local_model() {
    let w = common::world(ServerSettings::default()).await;
    let spec = json!({"name": "codes", "predictors": [{"name": "tag", "signature": "text -> label"}]});
    let spec = promptsmith_core::ProgramSpec::parse(&spec.to_string(), false, "test").unwrap();
    let state = spec.build("test").unwrap().state();
    let v1 = w
        .store
        .register_version(&promptsmith_store::NewVersion::new("codes", spec.clone(), state.clone(), "t"))
        .await
        .unwrap();
    w.store.activate("codes", v1.version, "t", "test").await.unwrap();
    let quiet =
        ServerSettings { monitor_interval: Duration::ZERO, webhook_poll: Duration::ZERO, ..ServerSettings::default() };
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
    let server = tokio::spawn(serve(config, w.store.clone(), target.clone(), local_lm().await, stop.clone(), Some(tx)));
    let base = format!("http://{}", rx.await.unwrap());
    let client = reqwest::Client::new();
    // One rated prediction of sentence `i` from `caller`; whether it was right.
    let rated = async |i: usize, caller: String| -> bool {
        let (text, label) = CODES[i % CODES.len()];
        let q = json!({"inputs": {"text": text}, "caller_key": caller});
        let p: Value = client
            .post(format!("{base}/v1/programs/codes/predict"))
            .json(&q)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let right = p["outputs"]["label"].as_str().is_some_and(|l| l.trim().eq_ignore_ascii_case(label));
        let fb = json!({"score": if right { 1.0 } else { 0.0 }, "correct_outputs": {"label": label}});
        let path = format!("{base}/v1/predictions/{}/feedback", p["prediction_id"]);
        assert_eq!(client.post(path).json(&fb).send().await.unwrap().status(), 201, "{p}");
        right
    };
    let policy = json!({"enable_automatic_optimization": true, "feedback_volume_threshold": 16,
        "optimization_interval_hours": 24, "optimizer": {"name": "labeled", "k": 4}, "metric": "exact_match",
        "field": "label", "max_calls": 120, "min_offline_gain": 0.0, "min_confidence_for_deployment": 0.0,
        "experiment_traffic": 0.5, "experiment_min_samples": 6,
        "rollout": {"steps": [0.5, 1.0], "min_samples_per_step": 4, "min_step_minutes": 0, "metric": "feedback"}});
    let resp = client.put(format!("{base}/v1/programs/codes/policy")).json(&policy).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let mut right = 0;
    for i in 0..16 {
        right += usize::from(rated(i, format!("f{i}")).await);
    }
    assert!(right <= 4, "zero-shot, the model cannot know the code words: {right} of 16 right");

    let jobs = JobService::new(w.store.clone(), target, QueueLimits::default(), w.dir.path().join("work"));
    let supervisor =
        Supervisor::new(w.store.clone()).with_policies(PolicyEngine::new(w.store.clone(), jobs, Default::default()));
    let mut now = promptsmith_core::clock::now_ms();
    let actions = supervisor.tick(now).await.unwrap();
    let started = actions.iter().find(|a| a.kind == "policy").expect("the policy acted");
    assert!(started.what.starts_with("started: 16 new feedback examples"), "{actions:?}");
    let job = started.what.split("(job ").nth(1).unwrap().trim_end_matches(')').to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while !matches!(w.store.job(&job).await.unwrap().status.as_str(), "completed" | "failed") {
        assert!(tokio::time::Instant::now() < deadline, "the automatic optimization did not finish in 10 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finished = w.store.job(&job).await.unwrap();
    assert_eq!(finished.status.as_str(), "completed", "{:?}", finished.error);
    now += 60_000;
    let actions = supervisor.tick(now).await.unwrap();
    assert!(actions.iter().any(|a| a.what.starts_with("experiment exp_")), "{actions:?} {:?}", finished.result);

    // Live traffic: the experiment, then the rollout, until the result is production.
    let mut status = String::new();
    for round in 0..12 {
        for i in 0..8 {
            rated(i + round, format!("r{round}-{i}")).await;
        }
        now += 60_000;
        supervisor.tick(now).await.unwrap();
        let r: Value = client.get(format!("{base}/v1/rollouts")).send().await.unwrap().json().await.unwrap();
        status = r["rollouts"][0]["status"].as_str().unwrap_or("").to_string();
        if status == "completed" {
            break;
        }
    }
    assert_eq!(status, "completed", "the winner's rollout did not complete");
    let program: Value = client.get(format!("{base}/v1/programs/codes")).send().await.unwrap().json().await.unwrap();
    let winner = program["aliases"]["production"].as_i64().unwrap();
    assert_ne!(winner, v1.version, "{program}");

    // A version without the demos rolled out against it: quality falls, it rolls back.
    let bad = w.store.register_version(&promptsmith_store::NewVersion::new("codes", spec, state, "t")).await.unwrap();
    let body = json!({"program": "codes", "challenger": bad.version.to_string(), "steps": [0.5, 1.0],
        "min_samples_per_step": 30, "min_step_minutes": 0});
    let ro: Value = client.post(format!("{base}/v1/rollouts")).json(&body).send().await.unwrap().json().await.unwrap();
    let path = format!("{base}/v1/rollouts/{}", ro["id"].as_str().unwrap_or_else(|| panic!("no rollout: {ro}")));
    for round in 0..6 {
        for i in 0..8 {
            rated(i + round, format!("x{round}-{i}")).await;
        }
        now += 60_000;
        supervisor.tick(now).await.unwrap();
        let r: Value = client.get(&path).send().await.unwrap().json().await.unwrap();
        if r["status"] != "running" {
            break;
        }
    }
    let r: Value = client.get(&path).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "rolled_back", "{r}");
    let program: Value = client.get(format!("{base}/v1/programs/codes")).send().await.unwrap().json().await.unwrap();
    assert_eq!(program["aliases"]["production"], winner, "{program}");
    stop.cancel();
    server.await.unwrap().unwrap();
}
