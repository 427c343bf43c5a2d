//! Turning HTTP failures into `LmError`s that say what happened.

use promptsmith_core::lm::LmError;
use std::time::Duration;

/// Longest body excerpt quoted in an error.
const EXCERPT_CHARS: usize = 300;

/// The first `EXCERPT_CHARS` characters of `s`, whitespace collapsed, with `...` if cut.
pub(crate) fn excerpt(s: &str) -> String {
    let collapsed: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= EXCERPT_CHARS {
        if collapsed.is_empty() {
            "(empty body)".to_string()
        } else {
            collapsed
        }
    } else {
        let cut: String = collapsed.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}...")
    }
}

/// Maps a transport-level `reqwest` error (no HTTP status) for `url`.
pub(crate) fn transport_error(
    err: &reqwest::Error,
    url: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> LmError {
    if err.is_timeout() {
        let seconds = if err.is_connect() { connect_timeout } else { timeout }.as_secs_f64();
        return LmError::Timeout { url: url.to_string(), seconds };
    }
    // The innermost cause is the informative one ("Connection refused (os error 111)").
    let mut root: &dyn std::error::Error = err;
    while let Some(src) = root.source() {
        root = src;
    }
    let cause = root.to_string();
    if err.is_connect() {
        let hint = if cause.to_ascii_lowercase().contains("refused") {
            " (is the server running? `promptsmith lm serve` starts a local one)"
        } else {
            ""
        };
        return LmError::Connect { url: url.to_string(), message: format!("{cause}{hint}") };
    }
    if err.is_decode() || err.is_body() {
        return LmError::MalformedResponse { url: url.to_string(), detail: format!("could not read body: {cause}") };
    }
    // Resets mid-request etc. are connection trouble too (and therefore retried).
    LmError::Connect { url: url.to_string(), message: format!("{err}: {cause}") }
}

/// Maps a non-success HTTP status with response `body` from `url` for `model`.
pub(crate) fn status_error(status: u16, body: &str, url: &str, model: &str) -> LmError {
    let detail = server_message(body);
    let lower = body.to_ascii_lowercase();
    match status {
        401 | 403 => LmError::Auth { url: url.to_string(), status, detail },
        404 => {
            let detail = if lower.contains("model") {
                detail
            } else {
                format!("HTTP 404 (wrong base_url or endpoint?): {detail}")
            };
            LmError::ModelNotFound { url: url.to_string(), model: model.to_string(), detail }
        }
        _ if status < 500 && says_model_not_found(&lower) => {
            LmError::ModelNotFound { url: url.to_string(), model: model.to_string(), detail }
        }
        400 | 413 | 422 if says_context_too_long(&lower) => {
            let (prompt_tokens, context) = context_counts(body);
            LmError::ContextTooLong {
                prompt_tokens: prompt_tokens.unwrap_or(0),
                max_tokens: 0,
                context: context.unwrap_or(0),
            }
        }
        _ => LmError::Http { url: url.to_string(), status, detail },
    }
}

/// The server's error message: `error.message` / `message` / `error` of a JSON body, else an excerpt.
fn server_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("detail"))
            .and_then(|m| m.as_str());
        if let Some(m) = msg {
            return excerpt(m);
        }
    }
    excerpt(body)
}

fn says_model_not_found(lower: &str) -> bool {
    lower.contains("model_not_found")
        || (lower.contains("model") && (lower.contains("not found") || lower.contains("does not exist")))
}

fn says_context_too_long(lower: &str) -> bool {
    [
        "context length",
        "context size",
        "context window",
        "context_length_exceeded",
        "exceed_context_size",
        "maximum context",
        "prompt is too long",
        "too many tokens",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// `(prompt_tokens, context)` from a context-overflow error body, where stated.
///
/// Understands llama-server (`n_prompt_tokens`/`n_ctx` fields, or "request (N tokens)
/// exceeds the available context size (C tokens)") and OpenAI/vLLM ("maximum context length
/// is C tokens ... (N in the messages").
pub(crate) fn context_counts(body: &str) -> (Option<u64>, Option<u64>) {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let err = v.get("error").unwrap_or(&v);
        let p = err.get("n_prompt_tokens").and_then(|x| x.as_u64());
        let c = err.get("n_ctx").and_then(|x| x.as_u64());
        if p.is_some() || c.is_some() {
            return (p, c);
        }
    }
    let lower = body.to_ascii_lowercase();
    let context = number_after(&lower, "context size (")
        .or_else(|| number_after(&lower, "maximum context length is"))
        .or_else(|| number_after(&lower, "context length of"));
    let prompt = number_after(&lower, "request (")
        .or_else(|| number_before(&lower, " in the messages"))
        .or_else(|| number_after(&lower, "resulted in"));
    (prompt, context)
}

/// The integer right after `pat` (spaces skipped).
fn number_after(text: &str, pat: &str) -> Option<u64> {
    let start = text.find(pat)? + pat.len();
    let digits: String = text[start..].trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// The integer right before `pat`.
fn number_before(text: &str, pat: &str) -> Option<u64> {
    let end = text.find(pat)?;
    let head = &text[..end];
    let digits: String = head.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

/// Parses a `Retry-After` header value given in seconds (fractions accepted).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, std::time::SystemTime::now())
}

/// `Retry-After` as delay seconds or an HTTP date (a date in the past means no wait).
fn parse_retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses() {
        assert!(matches!(status_error(401, "{}", "u", "m"), LmError::Auth { status: 401, .. }));
        assert!(matches!(status_error(403, "no", "u", "m"), LmError::Auth { status: 403, .. }));
        assert!(matches!(status_error(404, "nope", "u", "m"), LmError::ModelNotFound { .. }));
        let e = status_error(400, r#"{"error":{"message":"The model `x` does not exist"}}"#, "u", "x");
        assert!(matches!(e, LmError::ModelNotFound { .. }), "{e:?}");
        let e = status_error(500, "oops", "u", "m");
        assert!(matches!(e, LmError::Http { status: 500, .. }));
        assert!(e.is_transient());
        assert!(!status_error(400, "bad", "u", "m").is_transient());
    }

    #[test]
    fn context_counts_from_known_servers() {
        let llama = r#"{"error":{"code":400,"message":"request (9000 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":4096}}"#;
        assert_eq!(context_counts(llama), (Some(9000), Some(4096)));
        let llama_text = "request (9000 tokens) exceeds the available context size (4096 tokens)";
        assert_eq!(context_counts(llama_text), (Some(9000), Some(4096)));
        let openai = "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens (8000 in the messages, 1000 in the completion).";
        assert_eq!(context_counts(openai), (Some(8000), Some(8192)));
        match status_error(400, openai, "u", "m") {
            LmError::ContextTooLong { prompt_tokens, context, .. } => {
                assert_eq!((prompt_tokens, context), (8000, 8192))
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn excerpts_and_retry_after() {
        assert_eq!(excerpt("  a \n b "), "a b");
        assert!(excerpt(&"x".repeat(1000)).ends_with("..."));
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a past date: no wait");
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after_at("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
