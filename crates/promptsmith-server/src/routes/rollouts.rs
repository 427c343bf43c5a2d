//! `/v1/rollouts`: start a gradual rollout of a version, read its step and guardrails, list,
//! stop. Thin over [`RolloutService`]; the supervisor advances running rollouts on a schedule.
//!
//! [`RolloutService`]: promptsmith_app::rollout::RolloutService

use super::bodies::{ErrorBody, RolloutList};
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use promptsmith_app::keys::Principal;
use promptsmith_app::rollout::{RolloutRequest, RolloutView};
use promptsmith_store::Role;
use serde::Deserialize;

/// Starts a rollout at its first step: 201 with its status.
#[utoipa::path(post, path = "/v1/rollouts", tag = "rollouts", request_body = RolloutRequest,
    responses((status = 201, body = RolloutView),
        (status = 409, description = "The program already runs an experiment or rollout", body = ErrorBody)))]
pub(super) async fn start(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(req): Json<RolloutRequest>,
) -> ApiResult<(StatusCode, axum::Json<RolloutView>)> {
    who.require(Role::Admin)?;
    let now = promptsmith_core::clock::now_ms();
    Ok((StatusCode::CREATED, axum::Json(state.rollouts.start(&who.tenant, &req, now).await?)))
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Most rollouts (default 50).
    limit: Option<i64>,
}

/// The tenant's rollouts, newest first.
#[utoipa::path(get, path = "/v1/rollouts", tag = "rollouts", params(ListQuery),
    responses((status = 200, body = RolloutList)))]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<RolloutList>> {
    Ok(axum::Json(RolloutList { rollouts: state.rollouts.list(&who.tenant, q.limit.unwrap_or(50)).await? }))
}

/// One rollout: its step, both arms and the guardrails' readings.
#[utoipa::path(get, path = "/v1/rollouts/{id}", tag = "rollouts",
    params(("id" = String, Path, description = "The rollout id")), responses((status = 200, body = RolloutView)))]
pub(super) async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RolloutView>> {
    Ok(axum::Json(state.rollouts.status(&who.tenant, &id).await?))
}

/// Stops a running rollout (traffic goes back to the control; aliases stay).
#[utoipa::path(post, path = "/v1/rollouts/{id}/stop", tag = "rollouts",
    params(("id" = String, Path, description = "The rollout id")),
    responses((status = 200, body = RolloutView), (status = 409, description = "It has already ended", body = ErrorBody)))]
pub(super) async fn stop(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RolloutView>> {
    who.require(Role::Admin)?;
    Ok(axum::Json(state.rollouts.stop(&who.tenant, &id).await?))
}
