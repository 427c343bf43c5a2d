//! The service on the real local model (the llama-server that scripts/test.sh starts; the test
//! fails, never skips, without it): over loopback HTTP, a prediction of a registered program and
//! the same program through the OpenAI-compatible gateway, both stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use promptsmith_app::jobs::QueueLimits;
use promptsmith_app::StoreTarget;
use promptsmith_lm::{ConfigFile, HistoryConfig, LmSettings, LmStack};
use promptsmith_server::{serve, ServeConfig, ServerSettings};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn predict_and_gateway_on_the_local_model() {
    let url = std::env::var("PROMPTSMITH_TEST_LM_URL")
        .expect("PROMPTSMITH_TEST_LM_URL is not set: run the suite with scripts/test.sh, which starts the local model");
    let w = common::world(ServerSettings::default()).await;
    let settings = LmSettings {
        base_url: Some(format!("{}/v1", url.trim_end_matches('/'))),
        model: Some("local".into()),
        no_cache: true,
        ..LmSettings::default()
    };
    let file = ConfigFile::parse("", std::path::Path::new("none.toml"), HistoryConfig::default()).unwrap();
    let lm = Arc::new(LmStack::build(&settings, file).await.unwrap());
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
