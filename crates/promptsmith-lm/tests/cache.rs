//! `CachedLm` over a live client and a real SQLite file.
#![allow(clippy::unwrap_used)]

mod common;

use common::FakeServer;
use promptsmith_core::lm::{ChatMessage, ChatRequest, LanguageModel};
use promptsmith_lm::{CachedLm, CallHistory, LmStats, OpenAiClient};
use std::sync::Arc;

fn req(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user(text)])
}

#[tokio::test]
async fn second_identical_request_is_a_hit() {
    let fake = FakeServer::answering("cached answer").await;
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(LmStats::new());
    let history = Arc::new(CallHistory::new(10));
    let client = OpenAiClient::new(fake.config()).unwrap().with_stats(stats.clone()).with_history(history.clone());
    let cache = CachedLm::open(client, dir.path().join("cache.sqlite"))
        .await
        .unwrap()
        .with_stats(stats.clone())
        .with_history(history.clone());

    let first = cache.chat(&req("q")).await.unwrap();
    assert!(!first.cached);
    let second = cache.chat(&req("q")).await.unwrap();
    assert!(second.cached);
    assert_eq!(second.text(), "cached answer");
    assert_eq!(second.usage, first.usage);
    assert_eq!(second.cost_usd, None);
    assert_eq!(fake.chat_calls(), 1);

    let s = stats.snapshot();
    assert_eq!((s.calls, s.cache_hits, s.http_requests), (2, 1, 1));
    assert_eq!(cache.cache_stats().memory_hits, 1);
    let recs = history.records();
    assert_eq!(recs.len(), 2);
    assert!(!recs[0].cached && recs[1].cached);

    // A different rollout is a deliberate re-sample: a miss.
    let mut other = req("q");
    other.rollout_id = Some(1);
    assert!(!cache.chat(&other).await.unwrap().cached);
    assert_eq!(fake.chat_calls(), 2);
    assert_eq!(cache.disk_len().await.unwrap(), 2);
}

#[tokio::test]
async fn persists_across_reopening() {
    let fake = FakeServer::answering("persisted").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/cache.sqlite");
    {
        let cache = CachedLm::open(OpenAiClient::new(fake.config()).unwrap(), &path).await.unwrap();
        cache.chat(&req("q")).await.unwrap();
        cache.close().await;
    }
    let cache = CachedLm::open(OpenAiClient::new(fake.config()).unwrap(), &path).await.unwrap();
    let key = cache.key(&req("q"));
    assert!(cache.memory_lookup(&key).is_none());
    assert_eq!(cache.disk_lookup(&key).await.unwrap().unwrap().text(), "persisted");
    let r = cache.chat(&req("q")).await.unwrap();
    assert!(r.cached);
    assert_eq!(r.text(), "persisted");
    assert_eq!(cache.cache_stats().disk_hits, 1);
    // Promoted to memory.
    assert!(cache.chat(&req("q")).await.unwrap().cached);
    assert_eq!(cache.cache_stats().memory_hits, 1);
    assert_eq!(fake.chat_calls(), 1);

    // Another namespace (e.g. another default temperature) does not see these entries.
    let cache = cache.with_namespace("test-model|t=0.7");
    assert!(!cache.chat(&req("q")).await.unwrap().cached);
    assert_eq!(fake.chat_calls(), 2);
}

#[tokio::test]
async fn shared_file_between_concurrent_caches() {
    let fake = FakeServer::answering("x").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite");
    let a = Arc::new(CachedLm::open(OpenAiClient::new(fake.config()).unwrap(), &path).await.unwrap());
    let b = Arc::new(CachedLm::open(OpenAiClient::new(fake.config()).unwrap(), &path).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { c.chat(&req(&format!("q{}", i / 2))).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(a.disk_len().await.unwrap(), 10);
    assert!(fake.chat_calls() <= 20);
    for i in 0..10 {
        assert!(b.chat(&req(&format!("q{i}"))).await.unwrap().cached);
    }
}
