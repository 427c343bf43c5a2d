//! `/v1/experiments`: start an A/B experiment of a challenger version against the control, read
//! its always-valid statistics and decision, list, stop. Thin over [`ExperimentService`].
//!
//! [`ExperimentService`]: promptsmith_app::experiments::ExperimentService

use super::bodies::{ErrorBody, ExperimentList, StartedExperiment};
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use promptsmith_app::experiments::{ExperimentRequest, ExperimentView};
use promptsmith_app::keys::Principal;
use promptsmith_store::Role;
use serde::Deserialize;

/// Starts an experiment: 201 with its status.
#[utoipa::path(post, path = "/v1/experiments", tag = "experiments", request_body = ExperimentRequest,
    responses((status = 201, body = StartedExperiment),
        (status = 409, description = "The program already runs an experiment", body = ErrorBody)))]
pub(super) async fn start(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(req): Json<ExperimentRequest>,
) -> ApiResult<(StatusCode, axum::Json<StartedExperiment>)> {
    who.require(Role::Admin)?;
    let experiment = state.experiments.start(&who.tenant, &req).await?;
    let monitoring_url = format!("/v1/experiments/{}", experiment.id);
    Ok((StatusCode::CREATED, axum::Json(StartedExperiment { experiment, monitoring_url })))
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Most experiments (default 50).
    limit: Option<i64>,
}

/// The tenant's experiments, newest first.
#[utoipa::path(get, path = "/v1/experiments", tag = "experiments", params(ListQuery),
    responses((status = 200, body = ExperimentList)))]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<ExperimentList>> {
    let experiments = state.experiments.list(&who.tenant, q.limit.unwrap_or(50)).await?;
    Ok(axum::Json(ExperimentList { experiments }))
}

/// One experiment: each arm's n, mean and interval, the difference with its confidence
/// sequence, the always-valid p-value and the decision.
#[utoipa::path(get, path = "/v1/experiments/{id}", tag = "experiments",
    params(("id" = String, Path, description = "The experiment id")), responses((status = 200, body = ExperimentView)))]
pub(super) async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ExperimentView>> {
    Ok(axum::Json(state.experiments.status(&who.tenant, &id).await?))
}

/// Stops a running experiment (traffic goes back to the control).
#[utoipa::path(post, path = "/v1/experiments/{id}/stop", tag = "experiments",
    params(("id" = String, Path, description = "The experiment id")),
    responses((status = 200, body = ExperimentView), (status = 409, description = "It has already ended", body = ErrorBody)))]
pub(super) async fn stop(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ExperimentView>> {
    who.require(Role::Admin)?;
    Ok(axum::Json(state.experiments.stop(&who.tenant, &id).await?))
}
