//! A scriptable OpenAI-compatible HTTP server on 127.0.0.1 for the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]
#![allow(clippy::needless_pass_by_value)] // test helpers take json!() literals by value

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use promptsmith_lm::LmConfig;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, headers: vec![], body: body.to_string(), delay: Duration::ZERO }
    }
    pub fn raw(status: u16, body: &str) -> Self {
        Self { status, headers: vec![], body: body.to_string(), delay: Duration::ZERO }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    /// A chat completion with one choice per text.
    pub fn completion(texts: &[&str]) -> Self {
        let choices: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}))
            .collect();
        Self::json(
            200,
            json!({"id": "x", "object": "chat.completion", "model": "fake-model", "choices": choices,
                   "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        )
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

type Handler = dyn Fn(&str, &Value, usize) -> Reply + Send + Sync;

#[derive(Clone)]
struct Shared {
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<Seen>>>,
    chat_calls: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

/// The running fake server.
pub struct FakeServer {
    pub addr: SocketAddr,
    shared: Shared,
}

impl FakeServer {
    /// Starts a server; `handler(path, body, chat_call_index)` decides each reply
    /// (`chat_call_index` counts requests to `/v1/chat/completions` only, from 0).
    pub async fn start(handler: impl Fn(&str, &Value, usize) -> Reply + Send + Sync + 'static) -> Self {
        let shared = Shared {
            handler: Arc::new(handler),
            seen: Arc::default(),
            chat_calls: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared }
    }

    /// A server answering every chat call with `text`.
    pub async fn answering(text: &'static str) -> Self {
        Self::start(move |path, _, _| {
            if path == "/v1/chat/completions" {
                Reply::completion(&[text])
            } else {
                Reply::raw(404, "not found")
            }
        })
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A test config: short timeouts and backoffs, fixed concurrency, no context check.
    pub fn config(&self) -> LmConfig {
        let mut c = LmConfig::new(self.url(), "test-model");
        c.api_key_env = "PROMPTSMITH_TEST_NO_SUCH_KEY".into();
        c.initial_backoff = Duration::from_millis(10);
        c.max_backoff = Duration::from_secs(2);
        c.max_retries = 3;
        c.connect_timeout = Duration::from_secs(1);
        c.read_timeout = Duration::from_secs(5);
        c.concurrency = Some(4);
        c.check_context = Some(false);
        c
    }

    pub fn chat_calls(&self) -> usize {
        self.shared.chat_calls.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn seen_paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.path).collect()
    }

    pub fn chat_bodies(&self) -> Vec<Value> {
        self.seen().into_iter().filter(|s| s.path == "/v1/chat/completions").map(|s| s.body).collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn handle(State(s): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let bytes = axum::body::to_bytes(req.into_body(), usize::MAX).await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    s.seen.lock().unwrap().push(Seen { path: path.clone(), headers, body: body.clone() });
    let index = if path == "/v1/chat/completions" { s.chat_calls.fetch_add(1, Ordering::SeqCst) } else { 0 };
    let reply = (s.handler)(&path, &body, index);
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in reply.headers {
        headers.insert(HeaderName::from_static(k), HeaderValue::from_str(&v).unwrap());
    }
    (StatusCode::from_u16(reply.status).unwrap(), headers, Body::from(reply.body)).into_response()
}
