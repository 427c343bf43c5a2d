//! The `LanguageModel` trait and the chat message types.
//!
//! Core calls models only through this trait; `promptsmith-lm` implements it over
//! HTTP (OpenAI-compatible), with caching, limits and record/replay, and provides a
//! scripted model for unit tests.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System prompt.
    System,
    /// User turn.
    User,
    /// Model turn.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author of the message.
    pub role: Role,
    /// Text content.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: Role::System, content: content.into() }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into() }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: Role::Assistant, content: content.into() }
    }
}

/// Structured-output request (OpenAI `response_format`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON constrained by a schema.
    JsonSchema {
        /// Schema name.
        name: String,
        /// The JSON schema.
        schema: serde_json::Value,
    },
}

/// A chat-completion request, independent of transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChatRequest {
    /// Messages in order.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature; `None` uses the model's configured default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Maximum tokens to generate; `None` uses the model's configured default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Number of completions wanted (emulated with separate calls where unsupported).
    #[serde(default = "one")]
    pub n: u32,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Structured output format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Distinguishes deliberate re-samples of the same request in the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<u64>,
}

fn one() -> u32 {
    1
}

impl ChatRequest {
    /// A request with these messages and default options.
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self { messages, n: 1, ..Default::default() }
    }
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

impl Usage {
    /// Sum of prompt and completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, rhs: Self) {
        self.prompt_tokens += rhs.prompt_tokens;
        self.completion_tokens += rhs.completion_tokens;
    }
}

/// One completion choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Generated text.
    pub text: String,
    /// Why generation stopped (`stop`, `length`, ...), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// A chat-completion response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The completions (`n` of them).
    pub choices: Vec<Choice>,
    /// Token usage.
    #[serde(default)]
    pub usage: Usage,
    /// Model name the server reported.
    #[serde(default)]
    pub model: String,
    /// Whether this came from a cache rather than the model.
    #[serde(default)]
    pub cached: bool,
    /// Cost in US dollars, when a price is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl ChatResponse {
    /// The first choice's text, or an empty string.
    pub fn text(&self) -> &str {
        self.choices.first().map(|c| c.text.as_str()).unwrap_or("")
    }
}

/// What went wrong calling a model. Messages say what happened and where.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LmError {
    /// The server could not be reached.
    #[error("connection to {url} failed: {message}")]
    Connect {
        /// Endpoint URL.
        url: String,
        /// Underlying error.
        message: String,
    },
    /// Connect or read timeout.
    #[error("request to {url} timed out after {seconds:.1}s")]
    Timeout {
        /// Endpoint URL.
        url: String,
        /// Timeout that elapsed.
        seconds: f64,
    },
    /// 401/403: the API key was refused.
    #[error("authentication failed at {url} (HTTP {status}): check the API key ({detail})")]
    Auth {
        /// Endpoint URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Server's message.
        detail: String,
    },
    /// The model name is unknown to the server.
    #[error("model '{model}' not found at {url}: {detail}")]
    ModelNotFound {
        /// Endpoint URL.
        url: String,
        /// Requested model.
        model: String,
        /// Server's message.
        detail: String,
    },
    /// The prompt does not fit the model's context.
    #[error("prompt too long: {prompt_tokens} prompt tokens + {max_tokens} max_tokens exceed the context of {context} tokens")]
    ContextTooLong {
        /// Tokens in the prompt.
        prompt_tokens: u64,
        /// Tokens reserved for generation.
        max_tokens: u64,
        /// Context size.
        context: u64,
    },
    /// Any other HTTP error status.
    #[error("HTTP {status} from {url}: {detail}")]
    Http {
        /// Endpoint URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body excerpt.
        detail: String,
    },
    /// The server answered with something that is not a chat completion.
    #[error("malformed response from {url}: {detail}")]
    MalformedResponse {
        /// Endpoint URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// Replay mode found no recording for a request.
    #[error("no recording for request {key} in cassette {cassette}")]
    MissingRecording {
        /// Request hash.
        key: String,
        /// Cassette path.
        cassette: String,
    },
    /// A call budget was exhausted.
    #[error("LM call budget of {limit} calls exhausted")]
    BudgetExhausted {
        /// The budget.
        limit: u64,
    },
    /// Anything else (configuration, cache I/O).
    #[error("{0}")]
    Other(String),
}

impl LmError {
    /// Whether retrying the same request may succeed (429, 5xx, timeouts, connection resets).
    pub fn is_transient(&self) -> bool {
        match self {
            LmError::Timeout { .. } | LmError::Connect { .. } => true,
            LmError::Http { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A chat model. Implementations must be cheap to share across tasks.
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// Sends one request and returns its completions.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError>;

    /// The model's name, for manifests and logs.
    fn model_name(&self) -> String;
}

#[async_trait]
impl<T: LanguageModel + ?Sized> LanguageModel for Arc<T> {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        (**self).chat(request).await
    }
    fn model_name(&self) -> String {
        (**self).model_name()
    }
}

#[async_trait]
impl<T: LanguageModel + ?Sized> LanguageModel for &T {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        (**self).chat(request).await
    }
    fn model_name(&self) -> String {
        (**self).model_name()
    }
}
