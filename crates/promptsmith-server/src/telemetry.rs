//! Prometheus metrics through the `metrics` crates: one recorder per process (installed the
//! first time a router is built), a middleware that counts every request by its matched route
//! template and status and times it, and the scrape-time readings of the store's job counts
//! and the models' call statistics that `GET /metrics` adds before rendering.
//!
//! The names:
//! - `promptsmith_http_requests_total{method, route, status}` (counter) and
//!   `promptsmith_http_request_duration_seconds{method, route}` (histogram, until the response
//!   head: an event stream's or WebSocket's lifetime is not in it). `route` is the route
//!   template (`/v1/optimizations/{id}`), never a raw path; unknown paths are `unmatched`.
//! - `promptsmith_predictions_served_total{endpoint}` (counter): successful `predict` and
//!   `gateway` calls.
//! - `promptsmith_jobs{status}` and `promptsmith_queue_depth` (gauges, from the store at
//!   scrape time), `promptsmith_store_up` (1 when that read worked).
//! - `promptsmith_lm_calls_total`, `promptsmith_lm_http_requests_total`,
//!   `promptsmith_lm_cache_hits_total`, `promptsmith_lm_retries_total`,
//!   `promptsmith_lm_errors_total`, `promptsmith_lm_tokens_total{kind=prompt|completion}`
//!   (counters) and `promptsmith_lm_cost_usd_total` (gauge: a float), each with a `role`
//!   label, from the LM stack's statistics at scrape time.
//! - `promptsmith_loop_actions_total{kind, action}` (counter): what the supervisor's passes did
//!   (`experiment`: challenger_wins, control_wins, no_difference; `rollout`: step, promoted,
//!   rolled_back; `monitor`: degraded), each also logged.
//! - `promptsmith_version_error_rate`, `promptsmith_version_latency_p95_ms`,
//!   `promptsmith_version_cost_per_call_usd` (last 200 predictions) and
//!   `promptsmith_version_quality` (mean of the last 50 ratings), gauges per `program` and
//!   `version`, for each production version, set by every supervisor pass.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use promptsmith_lm::StatsSnapshot;
use promptsmith_store::{JobCounts, JobStatus};
use std::sync::OnceLock;
use std::time::Instant;

/// The header saying how long the server took (W3C Server Timing).
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
/// Requests, by method, route template and status.
pub const HTTP_REQUESTS: &str = "promptsmith_http_requests_total";
/// Request latency until the response head, by method and route template.
pub const HTTP_DURATION: &str = "promptsmith_http_request_duration_seconds";
/// Successful predictions, by endpoint (`predict`, `gateway`).
pub const PREDICTIONS: &str = "promptsmith_predictions_served_total";
/// Jobs by status.
pub const JOBS: &str = "promptsmith_jobs";
/// Queued jobs.
pub const QUEUE_DEPTH: &str = "promptsmith_queue_depth";
/// Whether the store answered the last scrape.
pub const STORE_UP: &str = "promptsmith_store_up";
/// Logical LM calls (cache hits included).
pub const LM_CALLS: &str = "promptsmith_lm_calls_total";
/// HTTP requests to model endpoints (retries included).
pub const LM_HTTP_REQUESTS: &str = "promptsmith_lm_http_requests_total";
/// LM calls answered from the response cache.
pub const LM_CACHE_HITS: &str = "promptsmith_lm_cache_hits_total";
/// LM attempts that were retries.
pub const LM_RETRIES: &str = "promptsmith_lm_retries_total";
/// LM calls that failed.
pub const LM_ERRORS: &str = "promptsmith_lm_errors_total";
/// Tokens of live LM calls, by kind (`prompt`, `completion`).
pub const LM_TOKENS: &str = "promptsmith_lm_tokens_total";
/// Cost of live LM calls, USD.
pub const LM_COST: &str = "promptsmith_lm_cost_usd_total";

/// A production version's error rate over its last predictions.
pub const VERSION_ERROR_RATE: &str = "promptsmith_version_error_rate";
/// Their p95 latency, ms.
pub const VERSION_P95: &str = "promptsmith_version_latency_p95_ms";
/// Their mean cost, USD.
pub const VERSION_COST: &str = "promptsmith_version_cost_per_call_usd";
/// The mean of its last ratings.
pub const VERSION_QUALITY: &str = "promptsmith_version_quality";
/// Supervisor actions, by kind and action.
pub const LOOP_ACTIONS: &str = "promptsmith_loop_actions_total";

/// The `role` label of the LM clients' own statistics (HTTP requests and retries included),
/// which every role's client adds to; `task`, `teacher`, `proposer` and `judge` label what
/// each role's calls were (calls, cache hits, errors, tokens, cost).
pub const ALL_ROLES: &str = "all";

/// Latency buckets, seconds.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder the first time. When another
/// global recorder is already installed, the handle renders an empty recorder (and says so in
/// the log) rather than failing the server.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = || {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_string()), &BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new())
        };
        match builder().install_recorder() {
            Ok(handle) => {
                describe();
                handle
            }
            Err(e) => {
                tracing::warn!("metrics: cannot install the Prometheus recorder ({e}); /metrics stays empty");
                builder().build_recorder().handle()
            }
        }
    })
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route template and status");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency until the response head");
    describe_counter!(PREDICTIONS, "Predictions served, by endpoint (predict, gateway)");
    describe_gauge!(JOBS, "Optimization jobs in the store, by status");
    describe_gauge!(QUEUE_DEPTH, "Optimization jobs waiting for a worker");
    describe_gauge!(STORE_UP, "1 when the store answered the last scrape");
    describe_counter!(LM_CALLS, "Logical LM calls (cache hits included)");
    describe_counter!(LM_HTTP_REQUESTS, "HTTP requests to model endpoints (retries included)");
    describe_counter!(LM_CACHE_HITS, "LM calls answered from the response cache");
    describe_counter!(LM_RETRIES, "LM attempts that were retries");
    describe_counter!(LM_ERRORS, "LM calls that failed");
    describe_counter!(LM_TOKENS, "Tokens of live LM calls, by kind");
    describe_gauge!(LM_COST, "Cost of live LM calls, USD");
    describe_counter!(LOOP_ACTIONS, "Experiment decisions, rollout moves and quality alerts of the supervisor");
    describe_gauge!(VERSION_ERROR_RATE, "Production version: share of its last predictions that failed");
    describe_gauge!(VERSION_P95, "Production version: p95 latency of its last predictions, ms");
    describe_gauge!(VERSION_COST, "Production version: mean cost of its last predictions, USD");
    describe_gauge!(VERSION_QUALITY, "Production version: mean of its last feedback ratings");
}

/// Sets the production versions' health gauges.
pub fn record_health(health: &[promptsmith_app::monitor::VersionHealth]) {
    for h in health {
        let labels = [("program", h.stored.clone()), ("version", h.version.to_string())];
        gauge!(VERSION_ERROR_RATE, &labels).set(h.error_rate);
        gauge!(VERSION_P95, &labels).set(h.p95_latency_ms);
        gauge!(VERSION_COST, &labels).set(h.cost_per_call_usd);
        if let Some(q) = h.quality {
            gauge!(VERSION_QUALITY, &labels).set(q);
        }
    }
}

/// Logs and counts what a supervisor pass did (waiting is neither).
pub fn record_actions(actions: &[promptsmith_app::supervisor::Action]) {
    for a in actions.iter().filter(|a| a.what != "continue" && a.what != "hold") {
        tracing::info!(id = %a.id, kind = %a.kind, what = %a.what, "supervisor");
        // The action's first word (`step 2` -> step, `rolled_back: …` -> rolled_back) keeps labels few.
        let action = a.what.split([' ', ':']).next().unwrap_or("").to_string();
        counter!(LOOP_ACTIONS, "kind" => a.kind.clone(), "action" => action).increment(1);
    }
}

/// The middleware: counts and times every request under its route template, and says the time
/// in the server in a `Server-Timing: total;dur=MS` header.
pub async fn record(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let method = method_label(req.method());
    let start = Instant::now();
    let mut response = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    // The time in the server (to the response's head), for clients and load tests to tell the
    // server's share of a round trip from the network's and their own.
    if let Ok(v) = HeaderValue::from_str(&format!("total;dur={:.3}", elapsed * 1000.0)) {
        response.headers_mut().insert(SERVER_TIMING, v);
    }
    let status = response.status();
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    if status.is_success() {
        let endpoint = match route.as_str() {
            "/v1/programs/{name}/predict" => Some("predict"),
            "/v1/chat/completions" => Some("gateway"),
            _ => None,
        };
        if let Some(endpoint) = endpoint {
            counter!(PREDICTIONS, "endpoint" => endpoint).increment(1);
        }
    }
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.as_u16().to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route).record(elapsed);
    response
}

/// The method as a label, unusual ones folded into `other` (labels stay few).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Sets the job gauges from the store's counts (`None`: the store did not answer).
pub fn record_jobs(counts: Option<&JobCounts>) {
    gauge!(STORE_UP).set(if counts.is_some() { 1.0 } else { 0.0 });
    let Some(counts) = counts else { return };
    for status in JobStatus::ALL {
        let n = counts.get(&status).copied().unwrap_or(0);
        gauge!(JOBS, "status" => status.as_str()).set(n as f64);
    }
    gauge!(QUEUE_DEPTH).set(counts.get(&JobStatus::Queued).copied().unwrap_or(0) as f64);
}

/// Sets the LM counters of `role` from a statistics snapshot.
pub fn record_lm(role: &'static str, s: &StatsSnapshot) {
    counter!(LM_CALLS, "role" => role).absolute(s.calls);
    counter!(LM_HTTP_REQUESTS, "role" => role).absolute(s.http_requests);
    counter!(LM_CACHE_HITS, "role" => role).absolute(s.cache_hits);
    counter!(LM_RETRIES, "role" => role).absolute(s.retries);
    counter!(LM_ERRORS, "role" => role).absolute(s.errors);
    counter!(LM_TOKENS, "role" => role, "kind" => "prompt").absolute(s.prompt_tokens);
    counter!(LM_TOKENS, "role" => role, "kind" => "completion").absolute(s.completion_tokens);
    gauge!(LM_COST, "role" => role).set(s.cost_usd);
}
