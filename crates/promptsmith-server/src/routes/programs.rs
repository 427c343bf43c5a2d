//! `/v1/programs`: the registry, as the CLI's `registry` commands show it: programs, versions,
//! diffs, the alias log, moving aliases, activating and rolling back. Names are the tenant's
//! own; the registry stores other tenants' programs as `TENANT:NAME`.

use super::bodies::{AliasLog, AliasMoved, ProgramList, VersionList};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use axum::Json as Out;
use promptsmith_app::keys::Principal;
use promptsmith_store::{diff_versions, ProgramVersion, Role, VersionSelector};
use promptsmith_store::{AliasMove, ProgramSummary, VersionDiff};
use serde::Deserialize;

/// Programs of the tenant.
#[utoipa::path(get, path = "/v1/programs", tag = "programs", responses((status = 200, body = ProgramList)))]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> ApiResult<Out<ProgramList>> {
    let programs: Vec<ProgramSummary> = state
        .store
        .list_programs()
        .await?
        .into_iter()
        .filter_map(|mut p| {
            let own = who.tenant.unqualify(&p.name)?.to_string();
            p.name = own;
            Some(p)
        })
        .collect();
    Ok(Out(ProgramList { programs }))
}

/// One program: versions and aliases.
#[utoipa::path(get, path = "/v1/programs/{name}", tag = "programs", params(("name" = String, Path, description = "The program")), responses((status = 200, body = ProgramSummary)))]
pub(super) async fn show(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Out<ProgramSummary>> {
    let mut p = state.store.program(&who.tenant.qualify(&name)?).await.map_err(|e| renamed(e, &who, &name))?;
    p.name = name;
    Ok(Out(p))
}

/// Every version.
#[utoipa::path(get, path = "/v1/programs/{name}/versions", tag = "programs", params(("name" = String, Path, description = "The program")), responses((status = 200, body = VersionList)))]
pub(super) async fn versions(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Out<VersionList>> {
    let list = state.store.list_versions(&who.tenant.qualify(&name)?).await.map_err(|e| renamed(e, &who, &name))?;
    let versions = list.into_iter().map(|v| own_name(v, &name)).collect();
    Ok(Out(VersionList { versions }))
}

/// One version (a number, an alias or `latest`).
#[utoipa::path(get, path = "/v1/programs/{name}/versions/{version}", tag = "programs",
    params(("name" = String, Path, description = "The program"), ("version" = String, Path, description = "A number, an alias or `latest`")),
    responses((status = 200, body = ProgramVersion)))]
pub(super) async fn version(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((name, selector)): Path<(String, String)>,
) -> ApiResult<Out<ProgramVersion>> {
    let v = fetch(&state, &who, &name, &selector).await?;
    Ok(Out(own_name(v, &name)))
}

async fn fetch(state: &AppState, who: &Principal, name: &str, selector: &str) -> ApiResult<ProgramVersion> {
    let qualified = who.tenant.qualify(name)?;
    state.store.version(&qualified, &VersionSelector::parse(selector)).await.map_err(|e| renamed(e, who, name))
}

/// The version under the tenant's own name for its program.
fn own_name(mut v: ProgramVersion, name: &str) -> ProgramVersion {
    v.program = name.to_string();
    v
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct DiffQuery {
    /// The old version (a number, an alias or `latest`).
    from: String,
    /// The new version.
    to: String,
}

/// What changed between two versions.
#[utoipa::path(get, path = "/v1/programs/{name}/diff", tag = "programs", params(("name" = String, Path, description = "The program"), DiffQuery),
    responses((status = 200, body = VersionDiff)))]
pub(super) async fn diff(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Out<VersionDiff>> {
    let old = fetch(&state, &who, &name, &q.from).await?;
    let new = fetch(&state, &who, &name, &q.to).await?;
    let mut d = diff_versions(&old, &new)?;
    d.program = name;
    Ok(Out(d))
}

/// The alias history.
#[utoipa::path(get, path = "/v1/programs/{name}/aliases", tag = "programs", params(("name" = String, Path, description = "The program")), responses((status = 200, body = AliasLog)))]
pub(super) async fn alias_log(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Out<AliasLog>> {
    let log = state.store.alias_log(&who.tenant.qualify(&name)?).await.map_err(|e| renamed(e, &who, &name))?;
    let moves: Vec<AliasMove> = log
        .into_iter()
        .map(|mut m| {
            m.program = name.clone();
            m
        })
        .collect();
    Ok(Out(AliasLog { moves }))
}

/// Moving an alias (or activating a version).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MoveBody {
    /// The version to point at.
    version: i64,
    /// Why (kept in the alias log).
    #[serde(default)]
    reason: Option<String>,
}

/// Points an alias at a version.
#[utoipa::path(put, path = "/v1/programs/{name}/aliases/{alias}", tag = "programs",
    params(("name" = String, Path, description = "The program"), ("alias" = String, Path, description = "The alias")), request_body = MoveBody,
    responses((status = 200, body = AliasMoved)))]
pub(super) async fn set_alias(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((name, alias)): Path<(String, String)>,
    Json(body): Json<MoveBody>,
) -> ApiResult<Out<AliasMoved>> {
    who.require(Role::Admin)?;
    let qualified = who.tenant.qualify(&name)?;
    let reason = body.reason.unwrap_or_else(|| "set over the API".into());
    let previous = state
        .store
        .set_alias(&qualified, &alias, body.version, &who.key_id, &reason)
        .await
        .map_err(|e| renamed(e, &who, &name))?;
    Ok(Out(AliasMoved { program: name, alias, version: body.version, previous }))
}

/// Makes a version production.
#[utoipa::path(post, path = "/v1/programs/{name}/activate", tag = "programs", params(("name" = String, Path, description = "The program")), request_body = MoveBody,
    responses((status = 200, body = AliasMoved)))]
pub(super) async fn activate(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(body): Json<MoveBody>,
) -> ApiResult<Out<AliasMoved>> {
    who.require(Role::Admin)?;
    let qualified = who.tenant.qualify(&name)?;
    let reason = body.reason.unwrap_or_else(|| "activated over the API".into());
    let previous = state
        .store
        .activate(&qualified, body.version, &who.key_id, &reason)
        .await
        .map_err(|e| renamed(e, &who, &name))?;
    Ok(Out(AliasMoved { program: name, alias: promptsmith_store::PRODUCTION.into(), version: body.version, previous }))
}

/// Rolling an alias back.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RollbackBody {
    /// The alias (default `production`).
    #[serde(default = "production")]
    alias: String,
    /// Why (kept in the alias log).
    #[serde(default)]
    reason: Option<String>,
}

fn production() -> String {
    promptsmith_store::PRODUCTION.into()
}

/// Moves an alias back to the version it pointed at before.
#[utoipa::path(post, path = "/v1/programs/{name}/rollback", tag = "programs", params(("name" = String, Path, description = "The program")), request_body = RollbackBody,
    responses((status = 200, body = AliasMoved)))]
pub(super) async fn rollback(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(body): Json<RollbackBody>,
) -> ApiResult<Out<AliasMoved>> {
    who.require(Role::Admin)?;
    let qualified = who.tenant.qualify(&name)?;
    let reason = body.reason.unwrap_or_else(|| "rolled back over the API".into());
    let version = state
        .store
        .rollback(&qualified, &body.alias, &who.key_id, &reason)
        .await
        .map_err(|e| renamed(e, &who, &name))?;
    Ok(Out(AliasMoved { program: name, alias: body.alias, version, previous: None }))
}
