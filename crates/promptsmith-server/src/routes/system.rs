//! `/health`, `/ready`, `/metrics`, `/v1/optimizers`, `/v1/audit` and the 404 of unknown paths.

use super::bodies::{AuditLog, Health, OptimizerInfo, OptimizerList, ParameterInfo, Ready};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;
use crate::telemetry;
use axum::extract::{Extension, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use promptsmith_app::keys::Principal;
use promptsmith_app::optimize::OptimizerSpec;
use promptsmith_store::Role;
use serde::Deserialize;
use serde_json::{json, Value};

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "system", security(()), responses((status = 200, body = Health)))]
pub(super) async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// The database answers and its schema is current.
#[utoipa::path(get, path = "/ready", tag = "system", responses((status = 200, body = Ready)))]
pub(super) async fn ready(State(state): State<AppState>) -> ApiResult<Json<Ready>> {
    let counts = state
        .store
        .job_counts(None)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("database: {e}")))?;
    let queued = counts.get(&promptsmith_store::JobStatus::Queued).copied().unwrap_or(0);
    Ok(Json(Ready { status: "ready".into(), database: state.store.url().to_string(), queued_jobs: queued }))
}

/// Prometheus metrics: the request counters and histograms the middleware keeps, and the
/// job gauges and LM statistics read now (any valid key when keys are required).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let counts = match state.store.job_counts(None).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("metrics: job counts: {e}");
            None
        }
    };
    telemetry::record_jobs(counts.as_ref());
    telemetry::record_lm(telemetry::ALL_ROLES, &state.lm.stats.snapshot());
    for (role, stats) in &state.lm.role_stats {
        telemetry::record_lm(role.as_str(), &stats.snapshot());
    }
    let handle = telemetry::handle();
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

/// Every optimizer with its settings and their defaults: each is the request type read from
/// `{"name": ...}` alone, so the defaults listed are exactly those a request without settings gets.
#[utoipa::path(get, path = "/v1/optimizers", tag = "optimizations", responses((status = 200, body = OptimizerList)))]
pub(super) async fn optimizers() -> Json<OptimizerList> {
    let names = [
        ("labeled", "LabeledFewShot: k labeled demos per predictor"),
        ("bootstrap", "BootstrapFewShot"),
        ("random_search", "BootstrapFewShotWithRandomSearch"),
        ("mipro", "MIPROv2 (instructions and demos, TPE search)"),
        ("copro", "COPRO (coordinate ascent over instructions)"),
        ("gepa", "GEPA (reflective prompt evolution on a Pareto frontier)"),
        ("evolutionary", "Genetic search over instructions and demos (NSGA-II with several objectives)"),
    ];
    let optimizers: Vec<OptimizerInfo> = names
        .into_iter()
        .filter_map(|(name, description)| {
            let spec: OptimizerSpec = serde_json::from_value(json!({ "name": name })).ok()?;
            let defaults = serde_json::to_value(&spec).ok()?;
            let parameters = defaults
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "name")
                .map(|(k, v)| ParameterInfo { name: k.clone(), kind: type_of(v).into(), default: v.clone() })
                .collect();
            Some(OptimizerInfo { name: name.into(), description: description.into(), parameters })
        })
        .collect();
    Json(OptimizerList { optimizers })
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "optional",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    /// Entries older than this id.
    before: Option<i64>,
    /// Most entries (default 100).
    limit: Option<i64>,
}

/// The tenant's audit log, newest first (admin keys).
#[utoipa::path(get, path = "/v1/audit", tag = "system", params(AuditQuery), responses((status = 200, body = AuditLog)))]
pub(super) async fn audit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditLog>> {
    who.require(Role::Admin)?;
    let entries = state.store.audit_log(who.tenant.name(), q.before, q.limit.unwrap_or(100)).await?;
    Ok(Json(AuditLog { entries }))
}

/// 404 for unknown paths, in the API's error shape.
pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
