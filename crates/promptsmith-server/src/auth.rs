//! Authentication, rate limits and auditing, as one middleware: the key (`Authorization:
//! Bearer psk_…` or `X-API-Key`) becomes the request's [`Principal`]; without `require_auth`
//! every request acts as the default tenant's admin. Mutating calls are audited with their
//! outcome.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use promptsmith_app::keys::{authenticate, Principal};
use promptsmith_store::AuditEntry;

/// Resolves the caller, applies its rate limit, runs the request and audits it.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/health" || path == "/openapi.json" {
        return next.run(req).await;
    }
    let presented = presented_key(&req);
    let principal = match principal(&state, presented).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Err(wait) = state.limiter.check(&principal.key_id, std::time::Instant::now()) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("key '{}' is over its rate limit; retry in {wait} s", principal.key_id),
        );
        e.retry_after = Some(wait);
        return e.into_response();
    }
    let method = req.method().clone();
    req.extensions_mut().insert(principal.clone());
    let response = next.run(req).await;
    if audited(&method, &path) {
        state.audit.record(AuditEntry {
            id: 0,
            tenant: principal.tenant.name().to_string(),
            actor: principal.key_id,
            method: method.to_string(),
            path,
            status: i64::from(response.status().as_u16()),
            detail: None,
            at: promptsmith_core::clock::now_ms(),
        });
    }
    response
}

/// The key in `Authorization: Bearer …` or `X-API-Key`, or, on the event streams only
/// (browsers' EventSource and WebSocket cannot set headers), in `?key=`.
fn presented_key(req: &Request) -> Option<String> {
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| req.headers().get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::to_string);
    header.or_else(|| stream_key(req))
}

/// `?key=` of a `/ws/…` or `…/events` request.
fn stream_key(req: &Request) -> Option<String> {
    let path = req.uri().path();
    if !(path.starts_with("/ws/") || path.ends_with("/events")) {
        return None;
    }
    req.uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .map(str::to_string)
        .filter(|k| !k.is_empty())
}

async fn principal(state: &AppState, presented: Option<String>) -> Result<Principal, ApiError> {
    match presented {
        // Without required auth, a key that is not ours (OpenAI SDKs always send one) acts as
        // the default tenant; a key of ours still scopes the request to its tenant and role.
        Some(secret) if !state.settings.require_auth => match authenticate(&state.store, &secret).await {
            Ok(p) => Ok(p),
            Err(e) if e.kind == promptsmith_core::ErrorKind::Unauthorized => Ok(Principal::local_admin()),
            Err(e) => Err(e.into()),
        },
        Some(secret) => Ok(authenticate(&state.store, &secret).await?),
        None if !state.settings.require_auth => Ok(Principal::local_admin()),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs an API key: send 'Authorization: Bearer psk_…' (promptsmith keys create makes one)",
        )),
    }
}

/// Mutating calls, except serving traffic (predictions are stored themselves).
fn audited(method: &Method, path: &str) -> bool {
    let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    mutating && !path.ends_with("/predict") && path != "/v1/chat/completions"
}
