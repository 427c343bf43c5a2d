//! A fast fake OpenAI-compatible server: answers every chat request with the output fields
//! of the requested signature in DSPy's `[[ ## field ## ]]` layout (or as a JSON object when
//! the request asks for JSON), after a fixed latency.

use crate::answer::{apply_stop, approx_tokens, Answer};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// How the fake server behaves.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Fixed delay before every chat answer.
    pub latency: Duration,
    /// Model id listed at `/v1/models` (requests may name any model).
    pub model: String,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self { latency: Duration::ZERO, model: "fake-lm".into() }
    }
}

struct FakeState {
    options: FakeOptions,
    created: u64,
    served: AtomicU64,
}

/// The router: `POST /v1/chat/completions` (also without `/v1`), `GET /v1/models`, `GET /health`.
pub fn router(options: FakeOptions) -> Router {
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let state = Arc::new(FakeState { options, created, served: AtomicU64::new(0) });
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/health", get(health))
        .with_state(state)
}

/// Serves the fake model on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, options: FakeOptions) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(options)).await
}

/// The part of a chat request the fake reads.
#[derive(Debug, Deserialize)]
pub struct ChatBody {
    /// Model name, echoed back.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Stop sequences: one string or a list.
    #[serde(default)]
    pub stop: Option<Value>,
    /// Number of choices.
    #[serde(default)]
    pub n: Option<u32>,
    /// `{"type": "json_object" | "json_schema", ...}` asks for a JSON answer.
    #[serde(default)]
    pub response_format: Option<Value>,
    /// Streaming is not supported.
    #[serde(default)]
    pub stream: Option<bool>,
}

/// One chat message; `content` is a string or a list of `{"type": "text", "text": ...}` parts.
#[derive(Debug, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, ...
    pub role: String,
    /// Text content.
    #[serde(default)]
    pub content: Value,
}

impl Message {
    /// The text of the message (parts joined).
    pub fn text(&self) -> String {
        match &self.content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
            _ => String::new(),
        }
    }
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChoiceOut>,
    usage: UsageOut,
}

#[derive(Serialize)]
struct ChoiceOut {
    index: u32,
    message: MessageOut,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct MessageOut {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

/// The completion text for a request: the signature's fields (chat layout, or JSON when the
/// request has a `response_format`), cut at the first stop sequence. Requests without a
/// DSPy-style system prompt get a fixed sentence.
pub fn completion_text(body: &ChatBody) -> String {
    let system = body.messages.iter().find(|m| m.role == "system").map(Message::text).unwrap_or_default();
    let last_user = body.messages.iter().rev().find(|m| m.role == "user").map(Message::text).unwrap_or_default();
    let mut text = match Answer::for_request(&system, &last_user) {
        Some(a) if body.response_format.is_some() => a.json_text(),
        Some(a) => a.chat_text(),
        None => "This is the fake model's answer.".to_string(),
    };
    let stops: Vec<String> = match &body.stop {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    apply_stop(&mut text, &stops);
    text
}

async fn chat(State(state): State<Arc<FakeState>>, Json(body): Json<ChatBody>) -> Response {
    if body.stream == Some(true) {
        let err = serde_json::json!({"error": {"message": "fake-lm does not stream", "type": "invalid_request_error"}});
        return (StatusCode::BAD_REQUEST, Json(err)).into_response();
    }
    if !state.options.latency.is_zero() {
        tokio::time::sleep(state.options.latency).await;
    }
    let text = completion_text(&body);
    let prompt_bytes: usize = body.messages.iter().map(|m| m.text().len()).sum();
    let n = body.n.unwrap_or(1).clamp(1, 128);
    let completion_tokens = approx_tokens(text.len()) * u64::from(n);
    let prompt_tokens = approx_tokens(prompt_bytes);
    let choices = (0..n)
        .map(|index| ChoiceOut {
            index,
            message: MessageOut { role: "assistant", content: text.clone() },
            finish_reason: "stop",
        })
        .collect();
    let id = format!("chatcmpl-fake-{}", state.served.fetch_add(1, Ordering::Relaxed));
    let model = body.model.as_deref().unwrap_or(&state.options.model);
    let out = ChatCompletion {
        id,
        object: "chat.completion",
        created: state.created,
        model,
        choices,
        usage: UsageOut { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
    };
    Json(out).into_response()
}

async fn models(State(state): State<Arc<FakeState>>) -> Json<Value> {
    Json(serde_json::json!({
        "object": "list",
        "data": [{"id": state.options.model, "object": "model", "created": state.created, "owned_by": "promptsmith-bench"}]
    }))
}

async fn health() -> Json<Value> {
    Json(serde_json::json!({"status": "ok"}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> ChatBody {
        serde_json::from_value(v).unwrap()
    }

    const SYSTEM: &str = "Your input fields are:\n1. `question` (str):\nYour output fields are:\n1. `reasoning` (str): \n2. `answer` (float): the final number only\nAll interactions will be structured in the following way";

    #[test]
    fn chat_layout_without_stop_ends_with_the_completed_marker() {
        let b = body(json!({"model": "m", "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "[[ ## question ## ]]\nTom has 3 apples and gets 4 more."}
        ]}));
        assert_eq!(
            completion_text(&b),
            "[[ ## reasoning ## ]]\nAdding up the numbers in the question gives 7.\n\n[[ ## answer ## ]]\n7\n\n[[ ## completed ## ]]"
        );
    }

    #[test]
    fn stop_sequence_is_applied_and_parts_content_is_read() {
        let b = body(json!({"messages": [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": [{"type": "text", "text": "[[ ## question ## ]]\n1 and 2"}]}
        ], "stop": "[[ ## completed ## ]]"}));
        assert_eq!(
            completion_text(&b),
            "[[ ## reasoning ## ]]\nAdding up the numbers in the question gives 3.\n\n[[ ## answer ## ]]\n3\n\n"
        );
    }

    #[test]
    fn response_format_gives_json() {
        let b = body(json!({"messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "[[ ## question ## ]]\n10 + 5"}
        ], "response_format": {"type": "json_object"}}));
        let v: Value = serde_json::from_str(&completion_text(&b)).unwrap();
        assert_eq!(v["answer"], json!(15));
    }

    #[test]
    fn the_last_user_message_is_answered_not_the_demos() {
        let b = body(json!({"messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "[[ ## question ## ]]\n100 and 200"},
            {"role": "assistant", "content": "[[ ## answer ## ]]\n300"},
            {"role": "user", "content": "[[ ## question ## ]]\n1 and 1"}
        ]}));
        assert!(completion_text(&b).contains("[[ ## answer ## ]]\n2\n"));
    }

    #[test]
    fn without_a_signature_a_fixed_sentence() {
        let b = body(json!({"messages": [{"role": "user", "content": "hi"}]}));
        assert_eq!(completion_text(&b), "This is the fake model's answer.");
    }
}
