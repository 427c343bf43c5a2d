//! `/v1/programs/{name}/policy` and `/timeline`: a program's continuous-optimization policy
//! and the policy engine's decisions with their reasons. Thin over [`PolicyService`].
//!
//! [`PolicyService`]: promptsmith_app::policy::PolicyService

use super::bodies::Timeline;
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use promptsmith_app::keys::Principal;
use promptsmith_app::policy::Policy;
use promptsmith_store::Role;
use serde::Deserialize;

/// Sets the program's policy (every field optional; defaults from the seeds).
#[utoipa::path(put, path = "/v1/programs/{name}/policy", tag = "programs", request_body = Policy,
    params(("name" = String, Path, description = "The program")), responses((status = 200, body = Policy)))]
pub(super) async fn set(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(policy): Json<Policy>,
) -> ApiResult<axum::Json<Policy>> {
    who.require(Role::Admin)?;
    Ok(axum::Json(state.policies.set(&who.tenant, &name, &policy).await?))
}

/// The program's policy (the defaults when none was set).
#[utoipa::path(get, path = "/v1/programs/{name}/policy", tag = "programs",
    params(("name" = String, Path, description = "The program")), responses((status = 200, body = Policy)))]
pub(super) async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Policy>> {
    Ok(axum::Json(state.policies.get(&who.tenant, &name).await?))
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct TimelineQuery {
    /// Most entries (default 100).
    limit: Option<i64>,
}

/// The policy engine's decisions on the program, newest first, each with its reason.
#[utoipa::path(get, path = "/v1/programs/{name}/timeline", tag = "programs", params(TimelineQuery,
    ("name" = String, Path, description = "The program")), responses((status = 200, body = Timeline)))]
pub(super) async fn timeline(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> ApiResult<axum::Json<Timeline>> {
    let entries = state.policies.timeline(&who.tenant, &name, q.limit.unwrap_or(100)).await?;
    Ok(axum::Json(Timeline { entries }))
}
