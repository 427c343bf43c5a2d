//! [`ApiError`]: every failure as an HTTP response, `{"error": {"kind", "message"}}`, with the
//! status chosen from the library's error kind in one place ([`status_of`]). Messages are the
//! application layer's (which file, field or id, what was expected); no internal details of a
//! server fault reach the client.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use promptsmith_app::AppError;
use promptsmith_core::ErrorKind;
use serde_json::json;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The kind (`invalid_input`, `not_found`, …, or `rate_limited`, `payload_too_large`).
    pub kind: String,
    /// What went wrong.
    pub message: String,
    /// Seconds to wait before retrying (429).
    pub retry_after: Option<u64>,
}

/// The HTTP status of each error kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Gone => StatusCode::GONE,
        ErrorKind::LimitExceeded | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// An error with an explicit status and kind (for HTTP-only conditions).
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self { status, kind: kind.into(), message: message.into(), retry_after: None }
    }

    /// 422 with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::from(AppError::invalid(message))
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status = status_of(e.kind);
        let message = if e.kind == ErrorKind::Internal {
            tracing::error!("internal error: {}", e.message);
            "internal error (the server's log has the details)".to_string()
        } else {
            e.message
        };
        Self { status, kind: e.kind.as_str().into(), message, retry_after: None }
    }
}

impl From<promptsmith_store::StoreError> for ApiError {
    fn from(e: promptsmith_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"kind": self.kind, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_client_or_server_status() {
        for kind in ErrorKind::ALL {
            let s = status_of(kind);
            assert!(s.is_client_error() || s.is_server_error(), "{kind}: {s}");
        }
        let e = ApiError::from(AppError::internal("/secret/path exploded"));
        assert!(!e.message.contains("/secret"), "no internals leak: {}", e.message);
    }
}
