//! `/v1/programs`: the registry, as the CLI's `registry` commands show it: programs, versions,
//! diffs, the alias log, moving aliases, activating and rolling back. Names are the tenant's
//! own; the registry stores other tenants' programs as `TENANT:NAME`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use promptsmith_app::keys::Principal;
use promptsmith_store::{diff_versions, ProgramVersion, Role, VersionSelector};
use serde::Deserialize;
use serde_json::{json, Value};

type JsonValue = axum::Json<Value>;

/// Programs of the tenant.
pub(super) async fn list(State(state): State<AppState>, Extension(who): Extension<Principal>) -> ApiResult<JsonValue> {
    let programs: Vec<Value> = state
        .store
        .list_programs()
        .await?
        .into_iter()
        .filter_map(|mut p| {
            let own = who.tenant.unqualify(&p.name)?.to_string();
            p.name = own;
            Some(serde_json::to_value(p).unwrap_or(Value::Null))
        })
        .collect();
    Ok(axum::Json(json!({"programs": programs})))
}

/// One program: versions and aliases.
pub(super) async fn show(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<JsonValue> {
    let mut p = state.store.program(&who.tenant.qualify(&name)?).await.map_err(|e| renamed(e, &who, &name))?;
    p.name = name;
    Ok(axum::Json(serde_json::to_value(p).unwrap_or(Value::Null)))
}

/// Every version.
pub(super) async fn versions(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<JsonValue> {
    let list = state.store.list_versions(&who.tenant.qualify(&name)?).await.map_err(|e| renamed(e, &who, &name))?;
    let list: Vec<Value> = list.into_iter().map(|v| version_json(v, &name)).collect();
    Ok(axum::Json(json!({"versions": list})))
}

/// One version (a number, an alias or `latest`).
pub(super) async fn version(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((name, selector)): Path<(String, String)>,
) -> ApiResult<JsonValue> {
    let v = fetch(&state, &who, &name, &selector).await?;
    Ok(axum::Json(version_json(v, &name)))
}

async fn fetch(state: &AppState, who: &Principal, name: &str, selector: &str) -> ApiResult<ProgramVersion> {
    let qualified = who.tenant.qualify(name)?;
    state.store.version(&qualified, &VersionSelector::parse(selector)).await.map_err(|e| renamed(e, who, name))
}

fn version_json(mut v: ProgramVersion, name: &str) -> Value {
    v.program = name.to_string();
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A store error with the tenant's own name for the program (not its registry name).
fn renamed(e: promptsmith_store::StoreError, who: &Principal, name: &str) -> ApiError {
    let e = promptsmith_app::AppError::from(e);
    let message = match who.tenant.qualify(name) {
        Ok(qualified) if qualified != name => e.message.replace(&qualified, name),
        _ => e.message,
    };
    promptsmith_app::AppError::new(e.kind, message).into()
}

/// The two sides of a diff.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiffQuery {
    from: String,
    to: String,
}

/// What changed between two versions.
pub(super) async fn diff(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<JsonValue> {
    let old = fetch(&state, &who, &name, &q.from).await?;
    let new = fetch(&state, &who, &name, &q.to).await?;
    let d = diff_versions(&old, &new)?;
    Ok(axum::Json(serde_json::to_value(d).unwrap_or(Value::Null)))
}

/// The alias history.
pub(super) async fn alias_log(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<JsonValue> {
    let log = state.store.alias_log(&who.tenant.qualify(&name)?).await.map_err(|e| renamed(e, &who, &name))?;
    let log: Vec<Value> = log
        .into_iter()
        .map(|mut m| {
            m.program = name.clone();
            serde_json::to_value(m).unwrap_or(Value::Null)
        })
        .collect();
    Ok(axum::Json(json!({"moves": log})))
}

/// Moving an alias (or activating a version).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MoveBody {
    version: i64,
    #[serde(default)]
    reason: Option<String>,
}

/// Points an alias at a version.
pub(super) async fn set_alias(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((name, alias)): Path<(String, String)>,
    Json(body): Json<MoveBody>,
) -> ApiResult<JsonValue> {
    who.require(Role::Admin)?;
    let qualified = who.tenant.qualify(&name)?;
    let reason = body.reason.unwrap_or_else(|| "set over the API".into());
    let previous = state
        .store
        .set_alias(&qualified, &alias, body.version, &who.key_id, &reason)
        .await
        .map_err(|e| renamed(e, &who, &name))?;
    Ok(axum::Json(json!({"program": name, "alias": alias, "version": body.version, "previous": previous})))
}

/// Makes a version production.
pub(super) async fn activate(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(body): Json<MoveBody>,
) -> ApiResult<JsonValue> {
    who.require(Role::Admin)?;
    let qualified = who.tenant.qualify(&name)?;
    let reason = body.reason.unwrap_or_else(|| "activated over the API".into());
    let previous = state
        .store
        .activate(&qualified, body.version, &who.key_id, &reason)
        .await
        .map_err(|e| renamed(e, &who, &name))?;
    Ok(axum::Json(json!({"program": name, "alias": "production", "version": body.version, "previous": previous})))
}

/// Rolling an alias back.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RollbackBody {
    #[serde(default = "production")]
    alias: String,
    #[serde(default)]
    reason: Option<String>,
}

fn production() -> String {
    promptsmith_store::PRODUCTION.into()
}

/// Moves an alias back to the version it pointed at before.
pub(super) async fn rollback(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(body): Json<RollbackBody>,
) -> ApiResult<JsonValue> {
    who.require(Role::Admin)?;
    let qualified = who.tenant.qualify(&name)?;
    let reason = body.reason.unwrap_or_else(|| "rolled back over the API".into());
    let version = state
        .store
        .rollback(&qualified, &body.alias, &who.key_id, &reason)
        .await
        .map_err(|e| renamed(e, &who, &name))?;
    Ok(axum::Json(json!({"program": name, "alias": body.alias, "version": version})))
}
