//! `LmConfig`: how to reach and drive one OpenAI-compatible model endpoint.
//!
//! Deserializable from TOML/JSON; every field has a default, so a config file only
//! names what differs. Durations are given in seconds (integers or fractions).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Default port of the local llama-server that `promptsmith lm serve` starts.
pub const DEFAULT_LOCAL_PORT: u16 = 8088;

/// Configuration of one model endpoint (see the field docs for defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmConfig {
    /// Server root or API base, e.g. `http://127.0.0.1:8088` or `https://api.openai.com/v1`.
    /// Chat requests go to `<root>/v1/chat/completions` (a trailing `/v1` is accepted).
    pub base_url: String,
    /// Name of the environment variable holding the API key (default `OPENAI_API_KEY`).
    /// A missing variable means no `Authorization` header (fine for local servers).
    pub api_key_env: String,
    /// The API key itself; takes precedence over `api_key_env`.
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    /// Model name sent to the server.
    pub model: String,
    /// Default sampling temperature when a request leaves it unset (default 0.0).
    pub temperature: f32,
    /// Default `max_tokens` when a request leaves it unset (default 1024).
    pub max_tokens: u32,
    /// TCP connect timeout (default 10 s).
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// Time allowed for a whole response (default 300 s: local servers queue requests).
    #[serde(with = "secs")]
    pub read_timeout: Duration,
    /// Retries after the first attempt on 429, 5xx, timeouts and connection errors (default 4).
    pub max_retries: u32,
    /// First backoff delay; doubles per retry, with jitter (default 0.5 s).
    #[serde(with = "secs")]
    pub initial_backoff: Duration,
    /// Upper bound of one backoff delay, also applied to `Retry-After` (default 60 s).
    #[serde(with = "secs")]
    pub max_backoff: Duration,
    /// Maximum concurrent requests. `None`: the server's `total_slots` from llama-server's
    /// `GET /props` when it reports one, else 8.
    pub concurrency: Option<usize>,
    /// Requests-per-minute limit.
    pub rpm: Option<u32>,
    /// Tokens-per-minute limit (prompt estimate + `max_tokens` are reserved per request).
    pub tpm: Option<u64>,
    /// Price in USD per 1M prompt tokens.
    pub price_per_1m_prompt: Option<f64>,
    /// Price in USD per 1M completion tokens.
    pub price_per_1m_completion: Option<f64>,
    /// Whether the server accepts `n > 1` (llama-server does not: `n` is then emulated with
    /// separate calls, each with a distinct seed).
    pub supports_n: bool,
    /// Context window in tokens. `None`: asked from llama-server's `GET /props`
    /// (`default_generation_settings.n_ctx`) when the context check runs.
    pub context_window: Option<u64>,
    /// Refuse prompts that cannot fit the context before sending them (uses `POST /tokenize`).
    /// `None`: on for local servers (host `127.0.0.1`/`localhost`), off otherwise.
    pub check_context: Option<bool>,
    /// How many recent calls the in-memory history keeps (default 1000).
    pub history_capacity: usize,
    /// Append every call as one JSON line to this file (default: none), rotated to `<file>.1` at
    /// 20 MB. For other limits build the history with [`crate::HistoryConfig::open`] and pass it
    /// to `OpenAiClient::with_history`.
    pub history_file: Option<PathBuf>,
}

impl Default for LmConfig {
    fn default() -> Self {
        Self {
            base_url: format!("http://127.0.0.1:{DEFAULT_LOCAL_PORT}"),
            api_key_env: "OPENAI_API_KEY".to_string(),
            api_key: None,
            model: "local".to_string(),
            temperature: 0.0,
            max_tokens: 1024,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(300),
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            concurrency: None,
            rpm: None,
            tpm: None,
            price_per_1m_prompt: None,
            price_per_1m_completion: None,
            supports_n: false,
            context_window: None,
            check_context: None,
            history_capacity: 1000,
            history_file: None,
        }
    }
}

impl LmConfig {
    /// A config for `model` at `base_url`, other fields default.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self { base_url: base_url.into(), model: model.into(), ..Self::default() }
    }

    /// The server root without a trailing `/` or `/v1` (where `/props`, `/tokenize` live).
    pub fn server_root(&self) -> &str {
        let trimmed = self.base_url.trim_end_matches('/');
        trimmed.strip_suffix("/v1").unwrap_or(trimmed)
    }

    /// Full URL of the chat-completions endpoint.
    pub fn chat_url(&self) -> String {
        format!("{}/v1/chat/completions", self.server_root())
    }

    /// Whether `base_url` points at this machine (`127.0.0.1`, `localhost`, `[::1]`).
    pub fn is_local(&self) -> bool {
        let rest = self.base_url.split_once("://").map(|(_, r)| r).unwrap_or(&self.base_url);
        let authority = rest.split('/').next().unwrap_or("");
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            authority.split(':').next().unwrap_or("")
        };
        matches!(host, "127.0.0.1" | "localhost" | "::1")
    }

    /// Whether the pre-send context check is on (explicit setting, else local servers only).
    pub fn context_check_enabled(&self) -> bool {
        self.check_context.unwrap_or_else(|| self.is_local())
    }

    /// The API key: `api_key` if set, else the value of `api_key_env` if set and non-empty.
    pub fn resolve_api_key(&self) -> Option<String> {
        if let Some(key) = self.api_key.as_ref().filter(|k| !k.is_empty()) {
            return Some(key.clone());
        }
        std::env::var(&self.api_key_env).ok().filter(|k| !k.is_empty())
    }

    /// Cost in USD of a call with these token counts, when a price is configured.
    pub fn cost_usd(&self, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        if self.price_per_1m_prompt.is_none() && self.price_per_1m_completion.is_none() {
            return None;
        }
        let p = self.price_per_1m_prompt.unwrap_or(0.0) * prompt_tokens as f64;
        let c = self.price_per_1m_completion.unwrap_or(0.0) * completion_tokens as f64;
        Some((p + c) / 1e6)
    }

    /// A string naming the request defaults that change answers (model, temperature,
    /// max_tokens). Pass it to `CachedLm::with_namespace` so that changing a default in
    /// the config does not reuse answers cached under the old one.
    pub fn cache_namespace(&self) -> String {
        format!("{}|t={}|max={}", self.model, self.temperature, self.max_tokens)
    }
}

/// Serde helper: a `Duration` as (possibly fractional) seconds.
pub(crate) mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(|e| serde::de::Error::custom(format!("invalid duration {v}: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_locality() {
        let c = LmConfig::new("http://127.0.0.1:8088/v1/", "m");
        assert_eq!(c.server_root(), "http://127.0.0.1:8088");
        assert_eq!(c.chat_url(), "http://127.0.0.1:8088/v1/chat/completions");
        assert!(c.is_local());
        assert!(c.context_check_enabled());
        let c = LmConfig::new("https://api.openai.com/v1", "gpt");
        assert_eq!(c.chat_url(), "https://api.openai.com/v1/chat/completions");
        assert!(!c.is_local());
        assert!(!c.context_check_enabled());
        assert!(LmConfig::new("http://localhost", "m").is_local());
        assert!(LmConfig::new("http://[::1]:80", "m").is_local());
    }

    #[test]
    fn deserializes_from_json_with_defaults() {
        let c: LmConfig =
            serde_json::from_str(r#"{"model":"x","read_timeout":2.5,"connect_timeout":1,"concurrency":3}"#).unwrap();
        assert_eq!(c.model, "x");
        assert_eq!(c.read_timeout, Duration::from_millis(2500));
        assert_eq!(c.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.concurrency, Some(3));
        assert_eq!(c.max_tokens, 1024);
        assert!(serde_json::from_str::<LmConfig>(r#"{"modle":"x"}"#).is_err());
    }

    #[test]
    fn cost() {
        let mut c = LmConfig::default();
        assert_eq!(c.cost_usd(10, 10), None);
        c.price_per_1m_prompt = Some(1.0);
        c.price_per_1m_completion = Some(2.0);
        let cost = c.cost_usd(1_000_000, 500_000).unwrap();
        assert!((cost - 2.0).abs() < 1e-9);
    }
}
