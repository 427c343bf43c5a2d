//! The routes: thin handlers that read the request, call the application layer and write
//! its answer. Each group of endpoints has its own module.

mod bodies;
mod datasets;
mod experiments;
mod gateway;
mod jobs;
mod openapi;
mod policy;
mod programs;
mod rollouts;
mod serving;
mod system;
mod webhooks;

use crate::state::AppState;
use axum::routing::{delete, get, post, put};
use axum::Router;

/// Every route of the API, over `state`.
pub fn router(state: AppState) -> Router {
    // The metrics recorder, once per process, before the first request is counted.
    crate::telemetry::handle();
    let max_body = state.settings.max_body_bytes;
    Router::new()
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/v1/optimizers", get(system::optimizers))
        .route("/v1/audit", get(system::audit))
        .route("/v1/optimizations", post(jobs::submit).get(jobs::list))
        .route("/v1/optimizations/{id}", get(jobs::get).delete(jobs::cancel))
        .route("/v1/optimizations/{id}/events", get(jobs::events))
        .route("/v1/optimizations/{id}/retry", post(jobs::retry))
        .route("/ws/optimizations/{id}", get(jobs::websocket))
        .route("/v1/datasets", post(datasets::upload).get(datasets::list))
        .route("/v1/datasets/{id}", get(datasets::get))
        .route("/v1/programs", get(programs::list))
        .route("/v1/programs/{name}", get(programs::show))
        .route("/v1/programs/{name}/versions", get(programs::versions))
        .route("/v1/programs/{name}/versions/{version}", get(programs::version))
        .route("/v1/programs/{name}/diff", get(programs::diff))
        .route("/v1/programs/{name}/aliases", get(programs::alias_log))
        .route("/v1/programs/{name}/aliases/{alias}", put(programs::set_alias))
        .route("/v1/programs/{name}/activate", post(programs::activate))
        .route("/v1/programs/{name}/rollback", post(programs::rollback))
        .route("/v1/programs/{name}/policy", put(policy::set).get(policy::get))
        .route("/v1/programs/{name}/timeline", get(policy::timeline))
        .route("/v1/programs/{name}/predict", post(serving::predict))
        .route("/v1/predictions/{id}/feedback", post(serving::feedback))
        .route("/v1/chat/completions", post(gateway::chat_completions))
        .route("/v1/experiments", post(experiments::start).get(experiments::list))
        .route("/v1/experiments/{id}", get(experiments::get))
        .route("/v1/experiments/{id}/stop", post(experiments::stop))
        .route("/v1/rollouts", post(rollouts::start).get(rollouts::list))
        .route("/v1/rollouts/{id}", get(rollouts::get))
        .route("/v1/rollouts/{id}/stop", post(rollouts::stop))
        .route("/v1/webhooks", post(webhooks::register).get(webhooks::list))
        .route("/v1/webhooks/{id}", delete(webhooks::remove))
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .fallback(system::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::middleware))
        // Outside the keys' middleware, so refused requests are counted too.
        .layer(axum::middleware::from_fn(crate::telemetry::record))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}
