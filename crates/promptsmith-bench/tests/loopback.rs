#![allow(clippy::unwrap_used)]
//! fake-lm behind lm-proxy over real loopback HTTP: answers, counts, reset, cache, recording,
//! many concurrent connections, and promptsmith's own client and chat adapter parsing the
//! fake's answers.

use promptsmith_bench::fake::{self, FakeOptions};
use promptsmith_bench::proxy::{self, Proxy, ProxyOptions, Stats};
use promptsmith_core::{Module, Predictor, Signature};
use promptsmith_lm::{LmConfig, OpenAiClient};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const SYSTEM: &str = "Your input fields are:\n1. `question` (str):\nYour output fields are:\n1. `reasoning` (str): \n2. `answer` (int):\nAll interactions will be structured in the following way, with the appropriate values filled in.";

/// Starts a fake model and a proxy in front of it; returns the proxy's root URL.
async fn start(latency_ms: u64, proxy_options: ProxyOptions) -> String {
    let (fake_listener, fake_addr) = promptsmith_bench::bind("127.0.0.1", 0).await.unwrap();
    let options = FakeOptions { latency: Duration::from_millis(latency_ms), ..FakeOptions::default() };
    tokio::spawn(fake::serve(fake_listener, options));
    let proxy =
        Arc::new(Proxy::new(&ProxyOptions { upstream: format!("http://{fake_addr}"), ..proxy_options }).unwrap());
    let (proxy_listener, proxy_addr) = promptsmith_bench::bind("127.0.0.1", 0).await.unwrap();
    tokio::spawn(proxy::serve(proxy_listener, proxy));
    format!("http://{proxy_addr}")
}

fn chat_body(question: &str) -> Value {
    json!({"model": "fake-lm", "temperature": 0.0, "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": format!("[[ ## question ## ]]\n{question}")}
    ]})
}

async fn stats(http: &reqwest::Client, root: &str) -> Stats {
    http.get(format!("{root}/_stats")).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn counts_chat_calls_tokens_and_other_requests_and_resets() {
    let root = start(0, ProxyOptions::default()).await;
    let http = reqwest::Client::new();
    let mut prompt = 0;
    let mut completion = 0;
    for (q, expected) in [("2 and 3", "5"), ("10 plus 20", "30"), ("7", "7")] {
        let resp: Value = http
            .post(format!("{root}/v1/chat/completions"))
            .json(&chat_body(q))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let text = resp["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(text.contains(&format!("[[ ## answer ## ]]\n{expected}\n")), "{text}");
        assert!(text.ends_with("[[ ## completed ## ]]"));
        prompt += resp["usage"]["prompt_tokens"].as_u64().unwrap();
        completion += resp["usage"]["completion_tokens"].as_u64().unwrap();
    }
    let models: Value = http.get(format!("{root}/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "fake-lm");
    let not_found = http.get(format!("{root}/props")).send().await.unwrap();
    assert_eq!(not_found.status(), 404);

    let s = stats(&http, &root).await;
    assert_eq!((s.requests, s.chat_completions, s.upstream_chat_calls, s.other_requests), (5, 3, 3, 2));
    assert_eq!((s.prompt_tokens, s.completion_tokens), (prompt, completion));
    assert!(prompt > 0 && completion > 0);
    assert_eq!((s.status_2xx, s.status_4xx, s.cache_hits, s.upstream_errors, s.in_flight), (4, 1, 0, 0, 0));
    assert_eq!(s.other_paths.get("/v1/models"), Some(&1));
    assert_eq!(s.other_paths.get("/props"), Some(&1));
    assert!(s.busy_seconds > 0.0);
    // One reqwest client, requests one after another: one kept-alive connection.
    assert_eq!(s.connections, 1);

    let reset: Value = http.post(format!("{root}/_reset")).send().await.unwrap().json().await.unwrap();
    assert_eq!(reset["reset"], true);
    let s = stats(&http, &root).await;
    assert_eq!((s.requests, s.chat_completions, s.prompt_tokens), (0, 0, 0));
    assert!(s.other_paths.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections_all_answered_and_counted() {
    // A latency long enough for 300 requests to be opened (debug build) before any returns.
    let root = start(1000, ProxyOptions::default()).await;
    let http = reqwest::Client::new();
    let n = 300;
    let started = std::time::Instant::now();
    let calls = (0..n).map(|i| {
        let http = http.clone();
        let url = format!("{root}/v1/chat/completions");
        async move { http.post(url).json(&chat_body(&format!("{i} and 1"))).send().await.unwrap().status() }
    });
    let statuses = futures_join_all(calls).await;
    let elapsed = started.elapsed();
    assert!(statuses.iter().all(|s| s.is_success()));
    let s = stats(&http, &root).await;
    assert_eq!(s.chat_completions, n);
    assert_eq!(s.status_2xx, n);
    // All were in flight together: about one latency, not n / k of them.
    assert!(s.max_in_flight >= 250, "max in flight {}", s.max_in_flight);
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

async fn futures_join_all<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn cache_answers_repeats_and_recording_keeps_both_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.jsonl");
    let record = dir.path().join("record.jsonl");
    let root =
        start(0, ProxyOptions { upstream: String::new(), record: Some(record.clone()), cache: Some(cache.clone()) })
            .await;
    let http = reqwest::Client::new();
    let url = format!("{root}/v1/chat/completions");
    let first: Value = http.post(&url).json(&chat_body("4 and 4")).send().await.unwrap().json().await.unwrap();
    let second: Value = http.post(&url).json(&chat_body("4 and 4")).send().await.unwrap().json().await.unwrap();
    assert_eq!(first, second);
    let s = stats(&http, &root).await;
    assert_eq!((s.chat_completions, s.upstream_chat_calls, s.cache_hits), (2, 1, 1));

    let lines: Vec<Value> =
        std::fs::read_to_string(&record).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["cached"], false);
    assert_eq!(lines[1]["cached"], true);
    assert_eq!(lines[0]["request"]["messages"][1]["content"], "[[ ## question ## ]]\n4 and 4");
    assert_eq!(lines[1]["response"], first);

    // A new proxy on the same cache file answers without the upstream (resumed run).
    let proxy =
        Proxy::new(&ProxyOptions { upstream: "http://127.0.0.1:9".into(), record: None, cache: Some(cache) }).unwrap();
    assert_eq!(proxy.cached_entries(), 1);
}

#[tokio::test]
async fn promptsmith_client_and_chat_adapter_parse_the_fake_answers() {
    let root = start(0, ProxyOptions::default()).await;
    let mut config = LmConfig::new(format!("{root}/v1"), "fake-lm");
    config.concurrency = Some(4);
    let client = OpenAiClient::new(config).unwrap();
    let signature =
        Signature::parse("question -> answer: float").unwrap().with_instruction("Solve the math word problem.");
    let predictor = Predictor::chain_of_thought("solve", signature);
    let example = promptsmith_core::Example::from_inputs(
        [("question".to_string(), json!("Ava has 40 coins and gets 2 more. How many coins now?"))]
            .into_iter()
            .collect(),
    );
    let prediction = predictor.forward(&client, &example).await.unwrap();
    assert_eq!(prediction.fields["answer"], json!(42.0));
    assert_eq!(prediction.fields["reasoning"], json!("Adding up the numbers in the question gives 42."));
    assert_eq!(prediction.lm_calls, 1);
    let s = stats(&reqwest::Client::new(), &root).await;
    assert_eq!(s.chat_completions, 1);
}
