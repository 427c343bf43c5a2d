//! `OpenAiClient`: a `LanguageModel` over an OpenAI-compatible `/v1/chat/completions`
//! endpoint (OpenAI, vLLM, llama.cpp's llama-server, ...).
//!
//! Per call it applies, in order: the optional context check (llama-server `/tokenize`),
//! `n` emulation, then per HTTP attempt the rpm/tpm buckets and the concurrency semaphore,
//! with jittered exponential backoff between attempts. Every call lands in the
//! `CallHistory` and the `LmStats` counters.

use crate::config::LmConfig;
use crate::history::{CallHistory, CallRecord};
use crate::http_error::{excerpt, parse_retry_after, status_error, transport_error};
use crate::limits::{Backoff, TokenBucket};
use crate::stats::LmStats;
use async_trait::async_trait;
use promptsmith_core::lm::{
    ChatMessage, ChatRequest, ChatResponse, Choice, LanguageModel, LmError, ResponseFormat, Usage,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, Semaphore};

/// Concurrency used when neither the config nor the server says.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Longest wait for the small llama-server side endpoints (`/props`, `/tokenize`).
const SIDE_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a llama-server reports about itself at `GET /props` (all optional: other servers
/// lack the endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerProps {
    /// Number of parallel slots (`total_slots`).
    pub total_slots: Option<usize>,
    /// Context size per slot (`default_generation_settings.n_ctx`).
    pub n_ctx: Option<u64>,
    /// Path of the loaded model file (`model_path`).
    pub model_path: Option<String>,
}

impl ServerProps {
    /// Extracts the known fields from a `/props` JSON body.
    pub fn from_json(v: &serde_json::Value) -> Self {
        let n_ctx = v
            .pointer("/default_generation_settings/n_ctx")
            .or_else(|| v.pointer("/default_generation_settings/params/n_ctx"))
            .or_else(|| v.get("n_ctx"))
            .and_then(|x| x.as_u64())
            .filter(|n| *n > 0);
        Self {
            total_slots: v.get("total_slots").and_then(|x| x.as_u64()).map(|n| n as usize).filter(|n| *n > 0),
            n_ctx,
            model_path: v.get("model_path").and_then(|x| x.as_str()).map(str::to_string),
        }
    }
}

/// A `LanguageModel` speaking the OpenAI chat-completions protocol.
#[derive(Debug)]
pub struct OpenAiClient {
    config: LmConfig,
    http: reqwest::Client,
    api_key: Option<String>,
    chat_url: String,
    backoff: Backoff,
    rpm: Option<TokenBucket>,
    tpm: Option<TokenBucket>,
    semaphore: OnceCell<(Arc<Semaphore>, usize)>,
    props: OnceCell<ServerProps>,
    tokenize_supported: AtomicBool,
    apply_template_supported: AtomicBool,
    stats: Arc<LmStats>,
    history: Arc<CallHistory>,
}

impl OpenAiClient {
    /// A client for `config`. Fails only on an unusable config (HTTP client setup, history
    /// file that cannot be opened); the server is not contacted until the first call.
    pub fn new(config: LmConfig) -> Result<Self, LmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| LmError::Other(format!("cannot build HTTP client: {e}")))?;
        let history = match &config.history_file {
            Some(path) => CallHistory::with_jsonl(config.history_capacity, path)
                .map_err(|e| LmError::Other(format!("cannot open history file {}: {e}", path.display())))?,
            None => CallHistory::new(config.history_capacity),
        };
        Ok(Self {
            api_key: config.resolve_api_key(),
            chat_url: config.chat_url(),
            backoff: Backoff { initial: config.initial_backoff, max: config.max_backoff },
            rpm: config.rpm.map(|r| TokenBucket::per_minute(u64::from(r))),
            tpm: config.tpm.map(TokenBucket::per_minute),
            semaphore: OnceCell::new(),
            props: OnceCell::new(),
            tokenize_supported: AtomicBool::new(true),
            apply_template_supported: AtomicBool::new(true),
            stats: Arc::new(LmStats::new()),
            history: Arc::new(history),
            http,
            config,
        })
    }

    /// Uses `stats` (e.g. shared with a `CachedLm`) instead of private counters.
    pub fn with_stats(mut self, stats: Arc<LmStats>) -> Self {
        self.stats = stats;
        self
    }

    /// Uses `history` (e.g. shared with a `CachedLm`) instead of a private one.
    pub fn with_history(mut self, history: Arc<CallHistory>) -> Self {
        self.history = history;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &LmConfig {
        &self.config
    }

    /// The call counters.
    pub fn stats(&self) -> &Arc<LmStats> {
        &self.stats
    }

    /// The call history.
    pub fn history(&self) -> &Arc<CallHistory> {
        &self.history
    }

    /// URL that chat requests go to.
    pub fn chat_url(&self) -> &str {
        &self.chat_url
    }

    /// The server's `/props`, fetched once. A server without the endpoint gives empty props;
    /// an unreachable one an error (and the next call tries again).
    pub async fn server_props(&self) -> Result<&ServerProps, LmError> {
        self.props.get_or_try_init(|| self.fetch_props()).await
    }

    async fn fetch_props(&self) -> Result<ServerProps, LmError> {
        let url = format!("{}/props", self.config.server_root());
        let timeout = self.config.read_timeout.min(SIDE_REQUEST_TIMEOUT);
        let resp = self
            .authorized(self.http.get(&url))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(&e, &url, self.config.connect_timeout, timeout))?;
        if !resp.status().is_success() {
            tracing::debug!("{url} answered {}: no server props", resp.status());
            return Ok(ServerProps::default());
        }
        let props = match resp.json::<serde_json::Value>().await {
            Ok(v) => ServerProps::from_json(&v),
            Err(e) => {
                tracing::debug!("{url}: unreadable props: {e}");
                ServerProps::default()
            }
        };
        Ok(props)
    }

    /// The concurrency limit in force: the config's, else the server's slot count, else 8.
    pub async fn concurrency(&self) -> usize {
        self.semaphore().await.1
    }

    /// The semaphore limiting concurrent requests and its size. When the server cannot be
    /// asked (unreachable), a default-sized one is used for now and not remembered.
    async fn semaphore(&self) -> (Arc<Semaphore>, usize) {
        if let Some((s, n)) = self.semaphore.get() {
            return (s.clone(), *n);
        }
        let size = match self.config.concurrency {
            Some(n) => n.max(1),
            None => match self.server_props().await {
                Ok(p) => p.total_slots.unwrap_or(DEFAULT_CONCURRENCY),
                Err(_) => return (Arc::new(Semaphore::new(DEFAULT_CONCURRENCY)), DEFAULT_CONCURRENCY),
            },
        };
        let (s, n) = self.semaphore.get_or_init(|| async move { (Arc::new(Semaphore::new(size)), size) }).await;
        (s.clone(), *n)
    }

    /// The context window: the config's, else the server's `n_ctx` (None if unknown).
    pub async fn context_window(&self) -> Option<u64> {
        match self.config.context_window {
            Some(c) => Some(c),
            None => self.server_props().await.ok().and_then(|p| p.n_ctx),
        }
    }

    /// Counts the tokens of `text` with the server's `POST /tokenize`. `Ok(None)` when the
    /// server lacks the endpoint (remembered, so later calls skip it).
    pub async fn count_tokens(&self, text: &str) -> Result<Option<u64>, LmError> {
        if !self.tokenize_supported.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let body = serde_json::json!({ "content": text });
        match self.side_post("tokenize", &body).await? {
            Some(v) => match v.get("tokens").and_then(|t| t.as_array()) {
                Some(tokens) => Ok(Some(tokens.len() as u64)),
                None => {
                    self.tokenize_supported.store(false, Ordering::Relaxed);
                    Ok(None)
                }
            },
            None => {
                self.tokenize_supported.store(false, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    /// Tokens of the prompt of `messages` as the server will see it: the chat template
    /// applied by `/apply-template` when available, else the contents concatenated plus a
    /// small per-message allowance.
    pub async fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Option<u64>, LmError> {
        if self.apply_template_supported.load(Ordering::Relaxed) {
            let body = serde_json::json!({ "messages": messages });
            match self.side_post("apply-template", &body).await? {
                Some(v) => {
                    if let Some(prompt) = v.get("prompt").and_then(|p| p.as_str()) {
                        return self.count_tokens(prompt).await;
                    }
                    self.apply_template_supported.store(false, Ordering::Relaxed);
                }
                None => self.apply_template_supported.store(false, Ordering::Relaxed),
            }
        }
        let joined: String = messages.iter().map(|m| format!("{:?}: {}\n", m.role, m.content)).collect();
        Ok(self.count_tokens(&joined).await?.map(|n| n + 4 * messages.len() as u64))
    }

    /// POSTs `body` to a llama-server side endpoint. `Ok(None)` on a non-success status or
    /// a non-JSON answer; `Err` only when the server cannot be reached.
    async fn side_post(&self, path: &str, body: &serde_json::Value) -> Result<Option<serde_json::Value>, LmError> {
        let url = format!("{}/{path}", self.config.server_root());
        let timeout = self.config.read_timeout.min(SIDE_REQUEST_TIMEOUT);
        let resp = self
            .authorized(self.http.post(&url))
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(&e, &url, self.config.connect_timeout, timeout))?;
        if !resp.status().is_success() {
            tracing::debug!("{url} answered {}; not using it", resp.status());
            return Ok(None);
        }
        Ok(resp.json::<serde_json::Value>().await.ok())
    }

    /// Refuses `request` before sending when its prompt plus `max_tokens` cannot fit the
    /// context. Costs nothing unless the prompt's byte length alone could overflow it.
    async fn check_context(&self, request: &ChatRequest, max_tokens: u64) -> Result<(), LmError> {
        if !self.config.context_check_enabled() {
            return Ok(());
        }
        let Some(context) = self.context_window().await else { return Ok(()) };
        // Tokens never outnumber bytes (byte-level BPE / byte fallback) much; allow for the
        // chat template's markup. Below this bound the prompt surely fits.
        let bytes: usize = request.messages.iter().map(|m| m.content.len()).sum();
        let upper_bound = bytes as u64 + 8 * request.messages.len() as u64 + 16;
        if upper_bound + max_tokens <= context {
            return Ok(());
        }
        let prompt_tokens = match self.count_prompt_tokens(&request.messages).await {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::debug!("context check skipped: {e}");
                return Ok(());
            }
        };
        if prompt_tokens + max_tokens > context {
            return Err(LmError::ContextTooLong { prompt_tokens, max_tokens, context });
        }
        Ok(())
    }

    fn authorized(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => rb.bearer_auth(key),
            None => rb,
        }
    }

    /// The whole call: context check, `n` emulation, retries. Returns attempts made.
    async fn run(&self, request: &ChatRequest, attempts: &AtomicU32) -> Result<ChatResponse, LmError> {
        if request.n == 0 {
            return Err(LmError::Other("request asks for n = 0 completions".into()));
        }
        let max_tokens = request.max_tokens.unwrap_or(self.config.max_tokens);
        self.check_context(request, u64::from(max_tokens)).await?;
        let result = if request.n > 1 && !self.config.supports_n {
            self.emulate_n(request, max_tokens, attempts).await
        } else {
            let body = self.wire_request(request, max_tokens, request.n, request.seed);
            self.send_with_retries(&body, attempts).await
        };
        result.map_err(|e| match e {
            // Fill in what the server did not say.
            LmError::ContextTooLong { prompt_tokens, context, .. } => LmError::ContextTooLong {
                prompt_tokens,
                max_tokens: u64::from(max_tokens),
                context: if context == 0 { self.config.context_window.unwrap_or(0) } else { context },
            },
            e => e,
        })
    }

    /// `n` completions as `n` concurrent single calls with seeds `seed, seed+1, ...` (when
    /// the request has a seed; otherwise the server samples each independently).
    async fn emulate_n(
        &self,
        request: &ChatRequest,
        max_tokens: u32,
        attempts: &AtomicU32,
    ) -> Result<ChatResponse, LmError> {
        let calls = (0..request.n).map(|i| {
            let seed = request.seed.map(|s| s.wrapping_add(u64::from(i)));
            let body = self.wire_request(request, max_tokens, 1, seed);
            async move { self.send_with_retries(&body, attempts).await }
        });
        let parts = futures::future::try_join_all(calls).await?;
        let mut merged = ChatResponse {
            choices: Vec::with_capacity(parts.len()),
            usage: Usage::default(),
            model: String::new(),
            cached: false,
            cost_usd: None,
        };
        for part in parts {
            merged.usage += part.usage;
            merged.cost_usd = match (merged.cost_usd, part.cost_usd) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
            };
            if merged.model.is_empty() {
                merged.model = part.model;
            }
            merged.choices.extend(part.choices);
        }
        Ok(merged)
    }

    fn wire_request<'a>(
        &'a self,
        request: &'a ChatRequest,
        max_tokens: u32,
        n: u32,
        seed: Option<u64>,
    ) -> WireRequest<'a> {
        WireRequest {
            model: &self.config.model,
            messages: &request.messages,
            temperature: request.temperature.unwrap_or(self.config.temperature),
            max_tokens,
            stop: &request.stop,
            n: (n > 1).then_some(n),
            seed,
            response_format: request.response_format.as_ref().map(wire_response_format),
        }
    }

    async fn send_with_retries(&self, body: &WireRequest<'_>, attempts: &AtomicU32) -> Result<ChatResponse, LmError> {
        let estimate = body.token_estimate();
        let mut retry_after = None;
        let mut retry = 0u32;
        loop {
            if retry > 0 {
                self.stats.record_retry();
                let delay = self.backoff.delay(retry - 1, retry_after);
                tracing::debug!("retry {retry}/{} in {delay:?}", self.config.max_retries);
                tokio::time::sleep(delay).await;
            }
            if let Some(b) = &self.rpm {
                b.take(1).await;
            }
            if let Some(b) = &self.tpm {
                b.take(estimate).await;
            }
            let (semaphore, _) = self.semaphore().await;
            let permit = semaphore.acquire_owned().await.map_err(|e| LmError::Other(e.to_string()))?;
            attempts.fetch_add(1, Ordering::Relaxed);
            self.stats.record_http_request();
            let outcome = self.send_once(body).await;
            drop(permit);
            match outcome {
                Ok(r) => return Ok(r),
                Err((e, after)) if should_retry(&e) && retry < self.config.max_retries => {
                    tracing::debug!("transient error from {}: {e}", self.chat_url);
                    retry_after = after;
                    retry += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// One HTTP attempt; on error also returns the server's `Retry-After`.
    async fn send_once(&self, body: &WireRequest<'_>) -> Result<ChatResponse, (LmError, Option<Duration>)> {
        let url = &self.chat_url;
        let timeout = self.config.read_timeout;
        let map = |e: reqwest::Error| (transport_error(&e, url, self.config.connect_timeout, timeout), None);
        let resp = self.authorized(self.http.post(url)).json(body).timeout(timeout).send().await.map_err(map)?;
        let status = resp.status();
        let retry_after =
            resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let text = resp.text().await.map_err(map)?;
        if !status.is_success() {
            return Err((status_error(status.as_u16(), &text, url, &self.config.model), retry_after));
        }
        let wire: WireResponse = serde_json::from_str(&text).map_err(|e| {
            let detail = format!("{e}; body: {}", excerpt(&text));
            (LmError::MalformedResponse { url: url.clone(), detail }, None)
        })?;
        self.to_response(wire).map_err(|e| (e, None))
    }

    fn to_response(&self, wire: WireResponse) -> Result<ChatResponse, LmError> {
        if wire.choices.is_empty() {
            return Err(LmError::MalformedResponse { url: self.chat_url.clone(), detail: "no choices".into() });
        }
        let mut choices = wire.choices;
        choices.sort_by_key(|c| c.index.unwrap_or(0));
        let choices = choices
            .into_iter()
            .map(|c| Choice {
                text: c.message.and_then(|m| m.content).or(c.text).unwrap_or_default(),
                finish_reason: c.finish_reason,
            })
            .collect();
        let usage = wire
            .usage
            .map(|u| Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens })
            .unwrap_or_default();
        Ok(ChatResponse {
            choices,
            usage,
            model: wire.model.filter(|m| !m.is_empty()).unwrap_or_else(|| self.config.model.clone()),
            cached: false,
            cost_usd: self.config.cost_usd(usage.prompt_tokens, usage.completion_tokens),
        })
    }
}

#[async_trait]
impl LanguageModel for OpenAiClient {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let start = Instant::now();
        self.stats.record_call();
        let attempts = AtomicU32::new(0);
        let result = self.run(request, &attempts).await;
        let latency_ms = start.elapsed().as_secs_f64() * 1e3;
        match &result {
            Ok(r) => self.stats.record_usage(r.usage, r.cost_usd),
            Err(_) => self.stats.record_error(),
        }
        let outcome = result.as_ref().map_err(|e| e as &dyn std::fmt::Display);
        self.history.push(CallRecord::new(
            &self.config.model,
            request,
            outcome,
            latency_ms,
            attempts.load(Ordering::Relaxed),
        ));
        result
    }

    fn model_name(&self) -> String {
        self.config.model.clone()
    }
}

/// Whether another attempt may help: transient errors, except a 429 that reports an
/// exhausted account quota (OpenAI's `insufficient_quota`), which waiting does not fix.
fn should_retry(e: &LmError) -> bool {
    match e {
        LmError::Http { status: 429, detail, .. } if detail.to_ascii_lowercase().contains("quota") => false,
        e => e.is_transient(),
    }
}

/// OpenAI's `response_format` object.
fn wire_response_format(f: &ResponseFormat) -> serde_json::Value {
    match f {
        ResponseFormat::JsonObject => serde_json::json!({ "type": "json_object" }),
        ResponseFormat::JsonSchema { name, schema } => serde_json::json!({
            "type": "json_schema",
            "json_schema": { "name": name, "schema": schema, "strict": true },
        }),
    }
}

/// The request body sent to `/v1/chat/completions`.
#[derive(Debug, Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    temperature: f32,
    max_tokens: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<serde_json::Value>,
}

impl WireRequest<'_> {
    /// Tokens to reserve in the tpm bucket: ~4 bytes per prompt token plus the completion budget.
    fn token_estimate(&self) -> u64 {
        let bytes: usize = self.messages.iter().map(|m| m.content.len()).sum();
        (bytes as u64).div_ceil(4) + u64::from(self.max_tokens) * u64::from(self.n.unwrap_or(1))
    }
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    message: Option<WireMessage>,
    /// Legacy completions field, accepted for lenient servers.
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wire_request_shape() {
        let client = OpenAiClient::new(LmConfig::new("http://127.0.0.1:1", "m")).unwrap();
        let mut req = ChatRequest::new(vec![ChatMessage::user("hi")]);
        req.response_format =
            Some(ResponseFormat::JsonSchema { name: "out".into(), schema: serde_json::json!({"type": "object"}) });
        let body = serde_json::to_value(client.wire_request(&req, 7, 1, Some(3))).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.0,
                "max_tokens": 7,
                "seed": 3,
                "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}},
            })
        );
    }

    #[test]
    fn props_parsing() {
        let v = serde_json::json!({"total_slots": 2, "default_generation_settings": {"n_ctx": 4096}, "model_path": "/m.gguf"});
        assert_eq!(
            ServerProps::from_json(&v),
            ServerProps { total_slots: Some(2), n_ctx: Some(4096), model_path: Some("/m.gguf".into()) }
        );
        assert_eq!(ServerProps::from_json(&serde_json::json!({})), ServerProps::default());
    }
}
