//! `/v1/webhooks`: register a URL for event types (the answer carries the signing secret,
//! once), list, remove, and read a webhook's deliveries with their attempts' outcomes. Thin over
//! [`WebhookService`].
//!
//! [`WebhookService`]: promptsmith_app::webhooks::WebhookService

use super::bodies::{DeliveryList, WebhookList};
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use promptsmith_app::keys::Principal;
use promptsmith_app::webhooks::{WebhookRequest, WebhookView};
use promptsmith_store::Role;
use serde::Deserialize;

/// Registers a webhook: 201 with its id and secret.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookRequest,
    responses((status = 201, body = WebhookView)))]
pub(super) async fn register(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(req): Json<WebhookRequest>,
) -> ApiResult<(StatusCode, axum::Json<WebhookView>)> {
    who.require(Role::Admin)?;
    Ok((StatusCode::CREATED, axum::Json(state.webhooks.register(&who.tenant, &req).await?)))
}

/// The tenant's webhooks (without secrets).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", responses((status = 200, body = WebhookList)))]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> ApiResult<axum::Json<WebhookList>> {
    who.require(Role::Admin)?;
    Ok(axum::Json(WebhookList { webhooks: state.webhooks.list(&who.tenant).await? }))
}

/// Removes a webhook and its pending deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")), responses((status = 204, description = "Removed")))]
pub(super) async fn remove(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(Role::Admin)?;
    state.webhooks.remove(&who.tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct DeliveryQuery {
    /// Most deliveries (default 50).
    limit: Option<i64>,
}

/// A webhook's deliveries, newest first: status, attempts, last HTTP status and error.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", params(DeliveryQuery,
    ("id" = String, Path, description = "The webhook id")), responses((status = 200, body = DeliveryList)))]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<axum::Json<DeliveryList>> {
    who.require(Role::Admin)?;
    let deliveries = state.webhooks.deliveries(&who.tenant, &id, q.limit.unwrap_or(50)).await?;
    Ok(axum::Json(DeliveryList { deliveries }))
}
