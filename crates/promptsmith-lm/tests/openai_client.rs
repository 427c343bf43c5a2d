//! `OpenAiClient` against a real HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use common::{FakeServer, Reply};
use promptsmith_core::lm::{ChatMessage, ChatRequest, LanguageModel, LmError, ResponseFormat};
use promptsmith_lm::{CallHistory, OpenAiClient};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn req(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::system("be brief"), ChatMessage::user(text)])
}

#[tokio::test]
async fn success_shapes_request_and_response() {
    let fake = FakeServer::answering("hello").await;
    let mut config = fake.config();
    config.api_key = Some("sk-test".into());
    config.price_per_1m_prompt = Some(1.0);
    config.price_per_1m_completion = Some(2.0);
    config.temperature = 0.3;
    let client = OpenAiClient::new(config).unwrap();
    let mut r = req("hi");
    r.max_tokens = Some(12);
    r.stop = vec!["\n\n".into()];
    r.seed = Some(7);
    r.response_format = Some(ResponseFormat::JsonSchema { name: "answer".into(), schema: json!({"type": "object"}) });
    let resp = client.chat(&r).await.unwrap();
    assert_eq!(resp.text(), "hello");
    assert_eq!(resp.model, "fake-model");
    assert_eq!((resp.usage.prompt_tokens, resp.usage.completion_tokens), (10, 5));
    assert!((resp.cost_usd.unwrap() - 20e-6).abs() < 1e-12);
    assert!(!resp.cached);

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers.get("authorization").unwrap(), "Bearer sk-test");
    let body = &seen[0].body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 12);
    assert!((body["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(body["seed"], 7);
    assert_eq!(body["messages"][1], json!({"role": "user", "content": "hi"}));
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}})
    );
    assert!(body.get("n").is_none());

    let stats = client.stats().snapshot();
    assert_eq!((stats.calls, stats.http_requests, stats.retries, stats.errors), (1, 1, 0, 0));
    assert_eq!((stats.prompt_tokens, stats.completion_tokens), (10, 5));
    let history = client.history().records();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].request, r);
    assert_eq!(history[0].attempts, 1);
    assert!(history[0].error.is_none());
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let fake = FakeServer::start(|_, _, i| {
        if i == 0 {
            Reply::json(429, json!({"error": {"message": "slow down"}})).header("retry-after", "1")
        } else {
            Reply::completion(&["ok"])
        }
    })
    .await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    let start = Instant::now();
    let resp = client.chat(&req("x")).await.unwrap();
    assert_eq!(resp.text(), "ok");
    assert_eq!(fake.chat_calls(), 2);
    // The jittered backoff alone would be ~10 ms.
    assert!(start.elapsed() >= Duration::from_millis(950), "{:?}", start.elapsed());
    assert_eq!(client.stats().snapshot().retries, 1);
    assert_eq!(client.history().records()[0].attempts, 2);
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let fake =
        FakeServer::start(|_, _, i| if i < 2 { Reply::raw(500, "boom") } else { Reply::completion(&["ok"]) }).await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    assert_eq!(client.chat(&req("x")).await.unwrap().text(), "ok");
    assert_eq!(fake.chat_calls(), 3);
    assert_eq!(client.stats().snapshot().retries, 2);
}

#[tokio::test]
async fn permanent_server_error_gives_up_after_max_retries() {
    let fake = FakeServer::start(|_, _, _| Reply::json(503, json!({"error": {"message": "overloaded"}}))).await;
    let mut config = fake.config();
    config.max_retries = 2;
    let client = OpenAiClient::new(config).unwrap();
    let err = client.chat(&req("x")).await.unwrap_err();
    match &err {
        LmError::Http { status, detail, url } => {
            assert_eq!(*status, 503);
            assert_eq!(detail, "overloaded");
            assert!(url.ends_with("/v1/chat/completions"));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(fake.chat_calls(), 3);
    let stats = client.stats().snapshot();
    assert_eq!((stats.errors, stats.retries), (1, 2));
    assert!(client.history().records()[0].error.as_deref().unwrap().contains("503"));
}

#[tokio::test]
async fn slow_answer_times_out() {
    let fake = FakeServer::start(|_, _, _| Reply::completion(&["late"]).delayed(Duration::from_secs(2))).await;
    let mut config = fake.config();
    config.read_timeout = Duration::from_millis(200);
    config.max_retries = 1;
    let client = OpenAiClient::new(config).unwrap();
    let start = Instant::now();
    let err = client.chat(&req("x")).await.unwrap_err();
    assert!(matches!(err, LmError::Timeout { seconds, .. } if (seconds - 0.2).abs() < 1e-9), "{err:?}");
    assert!(err.to_string().contains("timed out"));
    assert_eq!(fake.chat_calls(), 2, "timeouts are retried");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn malformed_json_is_reported_with_an_excerpt() {
    let fake = FakeServer::start(|_, _, _| Reply::raw(200, "<html>gateway says hi</html>")).await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    let err = client.chat(&req("x")).await.unwrap_err();
    match &err {
        LmError::MalformedResponse { detail, .. } => assert!(detail.contains("gateway says hi"), "{detail}"),
        e => panic!("{e:?}"),
    }
    assert_eq!(fake.chat_calls(), 1, "not retried");

    let fake = FakeServer::start(|_, _, _| Reply::json(200, json!({"choices": []}))).await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    assert!(matches!(client.chat(&req("x")).await, Err(LmError::MalformedResponse { .. })));
}

#[tokio::test]
async fn auth_failure_is_not_retried() {
    let fake =
        FakeServer::start(|_, _, _| Reply::json(401, json!({"error": {"message": "Incorrect API key provided"}})))
            .await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    let err = client.chat(&req("x")).await.unwrap_err();
    assert!(
        matches!(&err, LmError::Auth { status: 401, detail, .. } if detail.contains("Incorrect API key")),
        "{err:?}"
    );
    assert_eq!(fake.chat_calls(), 1);
}

#[tokio::test]
async fn unknown_model_is_reported() {
    let fake = FakeServer::start(|_, _, _| {
        Reply::json(
            404,
            json!({"error": {"message": "The model `test-model` does not exist", "code": "model_not_found"}}),
        )
    })
    .await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    let err = client.chat(&req("x")).await.unwrap_err();
    assert!(matches!(&err, LmError::ModelNotFound { model, .. } if model == "test-model"), "{err:?}");
    assert!(err.to_string().contains("does not exist"));
    assert_eq!(fake.chat_calls(), 1);
}

#[tokio::test]
async fn context_overflow_reported_by_server() {
    let fake = FakeServer::start(|_, _, _| {
        Reply::json(
            400,
            json!({"error": {"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096,
                   "message": "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it"}}),
        )
    })
    .await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    let mut r = req("x");
    r.max_tokens = Some(100);
    let err = client.chat(&r).await.unwrap_err();
    assert_eq!(err, LmError::ContextTooLong { prompt_tokens: 5000, max_tokens: 100, context: 4096 });
    assert_eq!(fake.chat_calls(), 1);
}

#[tokio::test]
async fn n_is_emulated_with_distinct_seeds() {
    let fake = FakeServer::start(|_, body, _| {
        let seed = body["seed"].as_u64().unwrap_or(0);
        Reply::completion(&[&format!("seed {seed}")])
    })
    .await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    let mut r = req("x");
    r.n = 3;
    r.seed = Some(40);
    let resp = client.chat(&r).await.unwrap();
    assert_eq!(fake.chat_calls(), 3);
    let mut texts: Vec<&str> = resp.choices.iter().map(|c| c.text.as_str()).collect();
    texts.sort();
    assert_eq!(texts, ["seed 40", "seed 41", "seed 42"]);
    assert_eq!((resp.usage.prompt_tokens, resp.usage.completion_tokens), (30, 15));
    assert!(fake.chat_bodies().iter().all(|b| b.get("n").is_none()));
    assert_eq!(client.stats().snapshot().calls, 1);
    assert_eq!(client.stats().snapshot().http_requests, 3);

    // A server that supports n gets one request.
    let fake = FakeServer::start(|_, _, _| Reply::completion(&["a", "b", "c"])).await;
    let mut config = fake.config();
    config.supports_n = true;
    let client = OpenAiClient::new(config).unwrap();
    let resp = client.chat(&r).await.unwrap();
    assert_eq!(resp.choices.len(), 3);
    assert_eq!(fake.chat_calls(), 1);
    assert_eq!(fake.chat_bodies()[0]["n"], 3);
}

#[tokio::test]
async fn connection_refused_names_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = promptsmith_lm::LmConfig::new(format!("http://127.0.0.1:{port}"), "m");
    config.max_retries = 1;
    config.initial_backoff = Duration::from_millis(5);
    config.concurrency = Some(1);
    let client = OpenAiClient::new(config).unwrap();
    let err = client.chat(&req("x")).await.unwrap_err();
    match &err {
        LmError::Connect { url, message } => {
            assert_eq!(url, &format!("http://127.0.0.1:{port}/v1/chat/completions"));
            assert!(message.to_lowercase().contains("refused"), "{message}");
        }
        e => panic!("{e:?}"),
    }
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")));
    assert_eq!(client.stats().snapshot().http_requests, 2, "connection errors are retried");
}

/// A llama-server look-alike: `/props` says 64 tokens of context and 2 slots, `/tokenize`
/// counts whitespace-separated words, `/apply-template` is missing.
async fn llama_like(tokenize: bool) -> FakeServer {
    FakeServer::start(move |path, body, _| match path {
        "/props" => Reply::json(
            200,
            json!({"total_slots": 2, "default_generation_settings": {"n_ctx": 64}, "model_path": "/m/q.gguf"}),
        ),
        "/tokenize" if tokenize => {
            let n = body["content"].as_str().unwrap_or("").split_whitespace().count();
            Reply::json(200, json!({"tokens": vec![1; n]}))
        }
        "/v1/chat/completions" => Reply::completion(&["fits"]),
        _ => Reply::raw(404, "File Not Found"),
    })
    .await
}

#[tokio::test]
async fn context_check_refuses_before_sending() {
    let fake = llama_like(true).await;
    let mut config = fake.config();
    config.check_context = None; // default: on for 127.0.0.1
    config.concurrency = None; // from /props
    let client = OpenAiClient::new(config).unwrap();
    assert_eq!(client.concurrency().await, 2);
    assert_eq!(client.context_window().await, Some(64));

    // Short prompt: fits by its byte length alone, /tokenize is not consulted.
    let mut r = ChatRequest::new(vec![ChatMessage::user("hi")]);
    r.max_tokens = Some(20);
    assert_eq!(client.chat(&r).await.unwrap().text(), "fits");
    assert!(!fake.seen_paths().iter().any(|p| p == "/tokenize"));

    // 40 words (~200 bytes): the byte bound overflows, tokenizing shows it fits.
    let words = vec!["word"; 40].join(" ");
    let mut r = ChatRequest::new(vec![ChatMessage::user(words)]);
    r.max_tokens = Some(10);
    assert_eq!(client.chat(&r).await.unwrap().text(), "fits");
    assert!(fake.seen_paths().iter().any(|p| p == "/tokenize"));

    // Same prompt with a larger budget: refused without a chat request.
    let calls_before = fake.chat_calls();
    r.max_tokens = Some(30);
    let err = client.chat(&r).await.unwrap_err();
    match err {
        LmError::ContextTooLong { prompt_tokens, max_tokens, context } => {
            assert!((40..50).contains(&prompt_tokens), "{prompt_tokens}");
            assert_eq!((max_tokens, context), (30, 64));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(fake.chat_calls(), calls_before);
}

#[tokio::test]
async fn context_check_skips_without_tokenize() {
    let fake = llama_like(false).await;
    let mut config = fake.config();
    config.check_context = Some(true);
    let client = OpenAiClient::new(config).unwrap();
    let mut r = ChatRequest::new(vec![ChatMessage::user(vec!["word"; 40].join(" "))]);
    r.max_tokens = Some(30);
    assert_eq!(client.chat(&r).await.unwrap().text(), "fits");
    assert_eq!(client.chat(&r).await.unwrap().text(), "fits");
    // Unsupported /tokenize is tried once, then remembered.
    assert_eq!(fake.seen_paths().iter().filter(|p| *p == "/tokenize").count(), 1);
}

#[tokio::test]
async fn concurrency_is_limited() {
    let fake = FakeServer::start(|_, _, _| Reply::completion(&["ok"]).delayed(Duration::from_millis(100))).await;
    let mut config = fake.config();
    config.concurrency = Some(2);
    let client = Arc::new(OpenAiClient::new(config).unwrap());
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.chat(&req(&format!("q{i}"))).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(fake.chat_calls(), 6);
    assert_eq!(fake.max_in_flight(), 2);
}

#[tokio::test]
async fn rpm_limit_allows_a_burst() {
    let fake = FakeServer::answering("ok").await;
    let mut config = fake.config();
    config.rpm = Some(600); // a full bucket of 600 (then one per 100 ms): no waiting here
    let client = OpenAiClient::new(config).unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        client.chat(&req("x")).await.unwrap();
    }
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn history_goes_to_jsonl() {
    let fake = FakeServer::answering("ok").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.jsonl");
    let mut config = fake.config();
    config.history_file = Some(path.clone());
    config.history_capacity = 1;
    let client = OpenAiClient::new(config).unwrap();
    client.chat(&req("a")).await.unwrap();
    client.chat(&req("b")).await.unwrap();
    assert_eq!(client.history().len(), 1);
    let lines = CallHistory::read_jsonl(&path).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].request.messages[1].content, "a");
    assert_eq!(lines[1].response.as_ref().unwrap().text(), "ok");
}

#[tokio::test]
async fn exhausted_quota_is_not_retried() {
    let fake = FakeServer::start(|_, _, _| {
        Reply::json(
            429,
            json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                             "type": "insufficient_quota"}}),
        )
    })
    .await;
    let client = OpenAiClient::new(fake.config()).unwrap();
    let err = client.chat(&req("x")).await.unwrap_err();
    assert!(matches!(err, LmError::Http { status: 429, .. }), "{err:?}");
    assert_eq!(fake.chat_calls(), 1);
}
