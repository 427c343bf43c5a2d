//! Webhooks: [`WebhookService`] registers a tenant's URLs per event type; [`emit`] queues an
//! event for them (a row per delivery, so emitting never waits on a receiver); [`Sender`]
//! posts due deliveries, signed, and retries failures with exponential backoff, logging every
//! attempt in the store.
//!
//! Each delivery is a `POST` of `{"id", "type", "timestamp", "data"}` with the headers
//! `Promptsmith-Event`, `Promptsmith-Delivery` and `Promptsmith-Signature: t=UNIX_SECONDS,v1=HEX`,
//! where `HEX` is HMAC-SHA256 with the webhook's secret over `UNIX_SECONDS.BODY`; a receiver
//! checks it with [`verify_signature`] (constant-time) and refuses old timestamps.

use crate::error::{AppError, Result};
use crate::tenant::Tenant;
use hmac::{Hmac, Mac};
use promptsmith_store::{AttemptResult, Delivery, Store, Webhook};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, Instant};

/// The event types a webhook can ask for (`*` is all of them).
pub const EVENT_TYPES: [&str; 5] =
    ["optimization.completed", "experiment.result", "rollout.step", "rollout.rolled_back", "monitor.degradation"];

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Promptsmith-Signature";

/// A webhook to register (the body of `POST /v1/webhooks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where to post events (`http://` or `https://`).
    pub url: String,
    /// Event types to receive (default `["*"]`, all).
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// The signing secret (default: a random one, returned once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn all_events() -> Vec<String> {
    vec!["*".into()]
}

/// A registered webhook as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// Where events go.
    pub url: String,
    /// Event types it receives.
    pub events: Vec<String>,
    /// The signing secret: only in the answer to the registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Registration time (RFC 3339).
    pub created_at: String,
}

impl WebhookView {
    fn of(w: &Webhook, with_secret: bool) -> Self {
        WebhookView {
            id: w.id.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            secret: with_secret.then(|| w.secret.clone()),
            created_at: promptsmith_core::clock::rfc3339(w.created_at),
        }
    }
}

/// One delivery as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// Id.
    pub id: i64,
    /// The event's id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// HTTP status of the last attempt.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Next attempt (RFC 3339), while pending.
    pub next_attempt_at: Option<String>,
    /// Queued (RFC 3339).
    pub created_at: String,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            next_attempt_at: (d.status == "pending").then(|| promptsmith_core::clock::rfc3339(d.next_attempt_at)),
            created_at: promptsmith_core::clock::rfc3339(d.created_at),
        }
    }
}

/// Registers, lists and removes webhooks.
#[derive(Debug, Clone)]
pub struct WebhookService {
    store: Store,
}

impl WebhookService {
    /// Webhooks in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Registers `req` for `tenant`; the answer carries the secret, once.
    pub async fn register(&self, tenant: &Tenant, req: &WebhookRequest) -> Result<WebhookView> {
        check_url(&req.url)?;
        check_events(&req.events)?;
        let secret = match &req.secret {
            Some(s) if s.len() < 16 => return Err(AppError::invalid("secret: expected at least 16 characters")),
            Some(s) => s.clone(),
            None => crate::ids::new_secret("whsec"),
        };
        let hook = Webhook {
            id: crate::ids::new_id("wh"),
            tenant: tenant.name().to_string(),
            url: req.url.clone(),
            events: req.events.clone(),
            secret,
            created_at: 0,
        };
        Ok(WebhookView::of(&self.store.insert_webhook(&hook).await?, true))
    }

    /// The tenant's webhooks (no secrets).
    pub async fn list(&self, tenant: &Tenant) -> Result<Vec<WebhookView>> {
        Ok(self.store.webhooks(tenant.name()).await?.iter().map(|w| WebhookView::of(w, false)).collect())
    }

    /// Removes a webhook (its pending deliveries go with it).
    pub async fn remove(&self, tenant: &Tenant, id: &str) -> Result<()> {
        self.owned(tenant, id).await?;
        self.store.delete_webhook(id).await?;
        Ok(())
    }

    /// A webhook's deliveries, newest first.
    pub async fn deliveries(&self, tenant: &Tenant, id: &str, limit: i64) -> Result<Vec<DeliveryView>> {
        self.owned(tenant, id).await?;
        Ok(self.store.deliveries(id, limit).await?.iter().map(DeliveryView::from).collect())
    }

    async fn owned(&self, tenant: &Tenant, id: &str) -> Result<Webhook> {
        match self.store.webhook(id).await {
            Ok(w) if w.tenant == tenant.name() => Ok(w),
            Ok(_) | Err(promptsmith_store::StoreError::NotFound(_)) => {
                Err(AppError::not_found(format!("no webhook '{id}'")))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn check_url(url: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url).map_err(|e| AppError::invalid(format!("url '{url}': {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::invalid(format!("url '{url}': expected an http:// or https:// URL with a host")));
    }
    Ok(())
}

fn check_events(events: &[String]) -> Result<()> {
    if events.is_empty() {
        return Err(AppError::invalid("events: expected at least one event type (or \"*\")"));
    }
    for e in events {
        if e != "*" && !EVENT_TYPES.contains(&e.as_str()) {
            return Err(AppError::invalid(format!(
                "events: unknown event type '{e}' (expected *, {})",
                EVENT_TYPES.join(", ")
            )));
        }
    }
    Ok(())
}

/// Queues event `event_type` with `data` for the tenant's webhooks that want it; returns the
/// event's id. Never contacts a receiver; a failure to queue is logged, not returned, so the
/// action that emitted the event is never undone by its notification.
pub async fn emit(store: &Store, tenant: &str, event_type: &str, data: Value, now_ms: i64) -> String {
    let id = crate::ids::new_id("evt");
    let body =
        json!({"id": id, "type": event_type, "timestamp": promptsmith_core::clock::rfc3339(now_ms), "data": data});
    match store.enqueue_event(tenant, &id, event_type, &body.to_string()).await {
        Ok(n) => tracing::info!(event = event_type, id = %id, deliveries = n, "event"),
        Err(e) => tracing::warn!(event = event_type, id = %id, error = %e, "event not queued for webhooks"),
    }
    id
}

/// The `Promptsmith-Signature` value for `body` sent at `unix_seconds`.
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    format!("t={unix_seconds},v1={}", hex::encode(mac(secret, unix_seconds, body).finalize().into_bytes()))
}

fn mac(secret: &str, unix_seconds: i64, body: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    m.update(format!("{unix_seconds}.{body}").as_bytes());
    m
}

/// Checks a `Promptsmith-Signature` header: the MAC matches (in constant time) and the
/// timestamp is within `tolerance_s` of `now_s`.
pub fn verify_signature(secret: &str, header: &str, body: &str, now_s: i64, tolerance_s: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    (now_s - t).abs() <= tolerance_s && mac(secret, t, body).verify_slice(&v1).is_ok()
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all before a delivery fails for good.
    pub max_attempts: i64,
    /// Wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// Time allowed for one request.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// When to retry after failed attempt number `attempt` (from 1) made at `at`; `None` to
    /// give up.
    pub fn retry_at(&self, attempt: i64, at: i64) -> Option<i64> {
        if attempt >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow((attempt - 1).clamp(0, 30) as u32);
        let wait = self.first_backoff.saturating_mul(factor).min(self.max_backoff);
        Some(at + wait.as_millis() as i64)
    }
}

/// Posts due deliveries. Several senders (processes) may run on one store: each delivery is
/// claimed before it is posted, so it goes out once per attempt.
#[derive(Debug, Clone)]
pub struct Sender {
    store: Store,
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl Sender {
    /// A sender over `store` with `policy`.
    pub fn new(store: Store, policy: RetryPolicy) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .build()
            .map_err(|e| AppError::internal(format!("webhook client: {e}")))?;
        Ok(Self { store, client, policy })
    }

    /// Delivers what is due at `now_ms` (at most `limit`); returns the deliveries attempted.
    pub async fn deliver_due(&self, now_ms: i64, limit: i64) -> Result<Vec<Delivery>> {
        let mut out = Vec::new();
        for d in self.store.due_deliveries(now_ms, limit).await? {
            let lease = now_ms + self.policy.timeout.as_millis() as i64 * 2;
            if !self.store.claim_delivery(d.id, d.next_attempt_at, lease).await? {
                continue;
            }
            out.push(self.attempt(&d, now_ms).await?);
        }
        Ok(out)
    }

    async fn attempt(&self, d: &Delivery, now_ms: i64) -> Result<Delivery> {
        let hook = self.store.webhook(&d.webhook_id).await?;
        let started = Instant::now();
        let sent = self
            .client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("Promptsmith-Event", &d.event_type)
            .header("Promptsmith-Delivery", d.id.to_string())
            .header(SIGNATURE_HEADER, signature(&hook.secret, now_ms.div_euclid(1000), &d.body))
            .body(d.body.clone())
            .send()
            .await;
        let (status_code, error) = match sent {
            Ok(r) if r.status().is_success() => (Some(i64::from(r.status().as_u16())), None),
            Ok(r) => (Some(i64::from(r.status().as_u16())), Some(format!("HTTP {}", r.status()))),
            Err(e) => (None, Some(describe(&e))),
        };
        let attempt = d.attempts + 1;
        let retry_at = error.as_ref().and_then(|_| self.policy.retry_at(attempt, now_ms));
        let result = AttemptResult {
            at: now_ms,
            status_code,
            error,
            duration_ms: started.elapsed().as_millis() as i64,
            retry_at,
        };
        match &result.error {
            None => tracing::info!(delivery = d.id, event = %d.event_type, attempt, "webhook delivered"),
            Some(e) => {
                tracing::warn!(delivery = d.id, event = %d.event_type, attempt, error = %e, retry = retry_at.is_some(), "webhook attempt failed")
            }
        }
        Ok(self.store.record_attempt(d.id, &result).await?)
    }

    /// Delivers due events until `shutdown` fires, looking every `poll`.
    pub async fn run(self, poll: Duration, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            if let Err(e) = self.deliver_due(promptsmith_core::clock::now_ms(), 100).await {
                tracing::warn!(error = %e, "webhook sender");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_the_body_and_a_fresh_time() {
        let h = signature("s3cret-s3cret-s3cret", 1_000, "{\"a\":1}");
        assert!(h.starts_with("t=1000,v1="));
        assert!(verify_signature("s3cret-s3cret-s3cret", &h, "{\"a\":1}", 1_010, 300));
        assert!(!verify_signature("other-secret-other", &h, "{\"a\":1}", 1_010, 300));
        assert!(!verify_signature("s3cret-s3cret-s3cret", &h, "{\"a\":2}", 1_010, 300));
        assert!(!verify_signature("s3cret-s3cret-s3cret", &h, "{\"a\":1}", 2_000, 300));
        assert!(!verify_signature("s3cret-s3cret-s3cret", "v1=zz", "{}", 0, 300));
    }

    #[test]
    fn retries_back_off_exponentially_then_give_up() {
        let p = RetryPolicy { max_attempts: 4, ..RetryPolicy::default() };
        assert_eq!(p.retry_at(1, 0), Some(10_000));
        assert_eq!(p.retry_at(2, 0), Some(20_000));
        assert_eq!(p.retry_at(3, 0), Some(40_000));
        assert_eq!(p.retry_at(4, 0), None);
        let capped = RetryPolicy { max_attempts: 100, ..RetryPolicy::default() };
        assert_eq!(capped.retry_at(40, 0), Some(3_600_000));
    }

    #[test]
    fn registration_checks_the_url_and_the_event_types() {
        assert!(check_url("https://example.com/hook").is_ok());
        assert!(check_url("ftp://example.com").unwrap_err().message.contains("http:// or https://"));
        assert!(check_url("not a url").is_err());
        assert!(check_events(&["rollout.step".into()]).is_ok());
        assert!(check_events(&["rollout.stp".into()])
            .unwrap_err()
            .message
            .contains("unknown event type 'rollout.stp'"));
        assert!(check_events(&[]).is_err());
    }
}
