//! promptsmith's HTTP service: axum routes over the application layer (jobs, registry,
//! predictions, feedback, datasets), API keys with tenants and roles, rate limits, an audit
//! log, Server-Sent Events and WebSockets for live progress, Prometheus metrics
//! ([`telemetry`]), and an OpenAI-compatible gateway. The handlers
//! only translate HTTP to the application layer's requests and back; errors map to statuses
//! in one place ([`error::status_of`]).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod audit;
pub mod auth;
pub mod error;
pub mod extract;
pub mod limit;
mod routes;
pub mod serve;
pub mod state;
pub mod telemetry;

pub use routes::router;
pub use serve::{serve, ServeConfig};
pub use state::{AppState, ServerSettings, Services};
