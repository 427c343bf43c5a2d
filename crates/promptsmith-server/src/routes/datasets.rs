//! `/v1/datasets`: upload (JSONL, CSV or JSON body, checked by the CLI's loader) and read.

use super::bodies::DatasetList;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use promptsmith_app::datasets::{upload as store_upload, DatasetUpload};
use promptsmith_app::keys::Principal;
use promptsmith_store::{DatasetInfo, Role};
use serde::Deserialize;

/// Name and format of an upload (the format defaults from the Content-Type).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadQuery {
    /// A name for it (default `dataset`).
    name: Option<String>,
    /// jsonl, csv or json (default: from the Content-Type; jsonl otherwise).
    format: Option<String>,
}

/// Stores the body as a dataset: 201 with its id, rows and columns.
#[utoipa::path(post, path = "/v1/datasets", tag = "datasets", params(UploadQuery),
    request_body(description = "The rows: JSON Lines, CSV (a header row) or a JSON array of objects",
        content((String = "application/x-ndjson"), (String = "text/csv"), (Vec<Object> = "application/json"))),
    responses((status = 201, body = DatasetInfo)))]
pub(super) async fn upload(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<DatasetInfo>)> {
    who.require(Role::Write)?;
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = q.format.unwrap_or_else(|| format_of(content_type).to_string());
    let content = String::from_utf8(body.to_vec()).map_err(|_| ApiError::invalid("dataset body is not UTF-8 text"))?;
    let upload = DatasetUpload { name: q.name.unwrap_or_else(|| "dataset".into()), format, content };
    let info = store_upload(&state.store, &who.tenant, &upload).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

fn format_of(content_type: &str) -> &'static str {
    if content_type.contains("csv") {
        "csv"
    } else if content_type.starts_with("application/json") {
        "json"
    } else {
        "jsonl"
    }
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Most datasets (default 100).
    limit: Option<i64>,
}

/// The tenant's datasets.
#[utoipa::path(get, path = "/v1/datasets", tag = "datasets", params(ListQuery), responses((status = 200, body = DatasetList)))]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<DatasetList>> {
    let datasets = state.store.datasets(who.tenant.name(), q.limit.unwrap_or(100)).await?;
    Ok(Json(DatasetList { datasets }))
}

/// One dataset's description.
#[utoipa::path(get, path = "/v1/datasets/{id}", tag = "datasets", params(("id" = String, Path, description = "The dataset id (`ds_…`)")),
    responses((status = 200, body = DatasetInfo)))]
pub(super) async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<DatasetInfo>> {
    Ok(Json(who.tenant.dataset(&state.store, &id).await?))
}
