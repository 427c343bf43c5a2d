//! `/v1/optimizations`: submit, read, list, cancel, and follow a job's events as Server-Sent
//! Events (replayed from the store, from `Last-Event-ID` or `?after=` on).

use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use promptsmith_app::jobs::{JobPage, JobRequest, JobView};
use promptsmith_app::keys::Principal;
use promptsmith_store::{JobEvent, Role};
use serde::Deserialize;
use serde_json::{json, Value};
use std::convert::Infallible;

/// Queues an optimization: 202 with the job and its plan.
pub(super) async fn submit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(request): Json<JobRequest>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    who.require(Role::Write)?;
    let job = state.jobs.submit(&who.tenant, request, &state.lm.pricing).await?;
    let plan = state.store.job(&job.id).await?.plan;
    let mut body = serde_json::to_value(&job).unwrap_or(Value::Null);
    if let Value::Object(b) = &mut body {
        b.insert("plan".into(), plan);
        b.insert("estimated_completion".into(), Value::Null);
    }
    Ok((StatusCode::ACCEPTED, axum::Json(body)))
}

/// One job.
pub(super) async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(state.jobs.get(&who.tenant, &id).await?))
}

/// Filters and paging of the job list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    status: Option<String>,
    program: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// The tenant's jobs, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<JobPage>> {
    let page = state
        .jobs
        .list(&who.tenant, q.status.as_deref(), q.program.as_deref(), q.cursor.as_deref(), q.limit.unwrap_or(50))
        .await?;
    Ok(axum::Json(page))
}

/// Cancels a job (its partial result is kept).
pub(super) async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<JobView>)> {
    who.require(Role::Write)?;
    Ok((StatusCode::ACCEPTED, axum::Json(state.jobs.cancel(&who.tenant, &id).await?)))
}

/// Where an event stream starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    after: Option<i64>,
}

/// The job's messages as Server-Sent Events: what was missed first, then live ones, until
/// the job has ended and its last message was sent.
pub(super) async fn events(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(q.after)
        .unwrap_or(0);
    // Checks the job exists for this tenant before the stream starts (404 otherwise).
    state.jobs.events(&who.tenant, &id, last_seen, 0).await?;
    let stream = futures::stream::unfold(
        (state, who, id, last_seen, Vec::<Event>::new(), false),
        |(state, who, id, mut seen, mut ready, mut ended)| async move {
            loop {
                if let Some(e) = ready.pop() {
                    return Some((Ok(e), (state, who, id, seen, ready, ended)));
                }
                if ended {
                    return None;
                }
                match state.jobs.events(&who.tenant, &id, seen, 500).await {
                    Ok((job, events)) => {
                        if events.is_empty() && job.status.is_final() {
                            ended = true;
                            continue;
                        }
                        if let Some(last) = events.last() {
                            seen = last.seq;
                        }
                        ready = events.iter().rev().map(|e| sse_event(&id, e)).collect();
                        if ready.is_empty() {
                            tokio::time::sleep(state.settings.sse_poll).await;
                        }
                    }
                    Err(e) => {
                        let data = json!({"type": "error", "id": id, "data": {"error": e.message}});
                        ended = true;
                        ready.push(Event::default().event("error").data(data.to_string()));
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One stored message as an SSE event: `id` is its sequence number (for `Last-Event-ID`).
fn sse_event(job: &str, e: &JobEvent) -> Event {
    let data = json!({
        "type": e.kind,
        "id": job,
        "seq": e.seq,
        "timestamp": promptsmith_core::clock::rfc3339(e.created_at),
        "data": e.data,
    });
    Event::default().id(e.seq.to_string()).event(e.kind.clone()).data(data.to_string())
}
