//! Serving: `POST /v1/programs/{name}/predict` and `POST /v1/predictions/{id}/feedback`.

use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use promptsmith_app::keys::Principal;
use promptsmith_app::predict::{FeedbackRequest, PredictRequest, PredictResponse};
use promptsmith_store::{Feedback, Role};

/// Runs the program's production version (or `version`) and stores the prediction.
#[utoipa::path(post, path = "/v1/programs/{name}/predict", tag = "serving", params(("name" = String, Path, description = "The program")),
    request_body = PredictRequest, responses((status = 200, body = PredictResponse)))]
pub(super) async fn predict(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(req): Json<PredictRequest>,
) -> ApiResult<axum::Json<PredictResponse>> {
    who.require(Role::Write)?;
    let lm = state.lm.task();
    let out = state.predict.predict(&who.tenant, &name, req, lm.as_ref(), &state.lm.pricing).await?;
    Ok(axum::Json(out))
}

/// Records feedback on a prediction (201).
#[utoipa::path(post, path = "/v1/predictions/{id}/feedback", tag = "serving", params(("id" = String, Path, description = "The prediction id")),
    request_body = FeedbackRequest, responses((status = 201, body = Feedback)))]
pub(super) async fn feedback(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Json(req): Json<FeedbackRequest>,
) -> ApiResult<(StatusCode, axum::Json<Feedback>)> {
    who.require(Role::Write)?;
    let id: i64 =
        id.parse().map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no prediction '{id}'")))?;
    let fb = state.predict.feedback(&who.tenant, id, &req, &who.key_id).await?;
    Ok((StatusCode::CREATED, axum::Json(fb)))
}
