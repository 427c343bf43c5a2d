//! `/v1/optimizations`: submit, read, list, cancel, and follow a job's events as Server-Sent
//! Events or over a WebSocket (`/ws/optimizations/{id}`), both replayed from the store (from
//! `Last-Event-ID` or `?after=` on) by one reading loop, [`job_messages`].

use super::bodies::{ErrorBody, StreamEvent, Submitted};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use futures::{Stream, StreamExt};
use promptsmith_app::jobs::{JobPage, JobRequest, JobView};
use promptsmith_app::keys::Principal;
use promptsmith_store::{JobEvent, Role};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;

/// Queues an optimization: 202 with the job and its plan.
#[utoipa::path(post, path = "/v1/optimizations", tag = "optimizations", request_body = JobRequest,
    responses((status = 202, body = Submitted), (status = 503, description = "A queue limit is reached", body = ErrorBody)))]
pub(super) async fn submit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(request): Json<JobRequest>,
) -> ApiResult<(StatusCode, axum::Json<Submitted>)> {
    who.require(Role::Write)?;
    let job = state.jobs.submit(&who.tenant, request, &state.lm.pricing).await?;
    let plan = state.store.job(&job.id).await?.plan;
    let estimated_completion = state.jobs.estimate_completion(job.planned_calls).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(Submitted { job, plan, estimated_completion })))
}

/// One job.
#[utoipa::path(get, path = "/v1/optimizations/{id}", tag = "optimizations", params(("id" = String, Path, description = "The job id")),
    responses((status = 200, body = JobView), (status = 410, description = "Finished and past retention", body = ErrorBody)))]
pub(super) async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<JobView>> {
    Ok(axum::Json(state.jobs.get(&who.tenant, &id).await?))
}

/// Filters and paging of the job list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// queued, running, completed, failed or cancelled.
    status: Option<String>,
    /// The program's name.
    program: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size (default 50).
    limit: Option<i64>,
}

/// The tenant's jobs, newest first.
#[utoipa::path(get, path = "/v1/optimizations", tag = "optimizations", params(ListQuery), responses((status = 200, body = JobPage)))]
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
#[utoipa::path(delete, path = "/v1/optimizations/{id}", tag = "optimizations", params(("id" = String, Path, description = "The job id")),
    responses((status = 202, body = JobView), (status = 409, description = "The job has already ended", body = ErrorBody), (status = 410, description = "Finished and past retention", body = ErrorBody)))]
pub(super) async fn cancel(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<JobView>)> {
    who.require(Role::Write)?;
    Ok((StatusCode::ACCEPTED, axum::Json(state.jobs.cancel(&who.tenant, &id).await?)))
}

/// Queues a failed job again; it resumes from its journal.
#[utoipa::path(post, path = "/v1/optimizations/{id}/retry", tag = "optimizations", params(("id" = String, Path, description = "The job id")),
    responses((status = 202, body = JobView), (status = 409, description = "The job has not failed", body = ErrorBody),
        (status = 410, description = "Finished and past retention", body = ErrorBody)))]
pub(super) async fn retry(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<JobView>)> {
    who.require(Role::Write)?;
    Ok((StatusCode::ACCEPTED, axum::Json(state.jobs.retry(&who.tenant, &id).await?)))
}

/// Where an event stream starts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    /// Send the messages after this sequence number (default 0: all); `Last-Event-ID` wins.
    after: Option<i64>,
    /// The API key, for clients that cannot set headers (browsers' EventSource and WebSocket);
    /// read by the auth middleware.
    #[allow(dead_code)]
    key: Option<String>,
}

/// Job `id`'s stored messages after sequence number `after`, in order: those already stored
/// first, then new ones as the store gets them (looked for every `sse_poll`), until the job
/// has ended and its last message was yielded. A failed read yields its error and ends the
/// stream. The one reading loop behind both the SSE and the WebSocket endpoint.
pub(super) fn job_messages(
    state: AppState,
    who: Principal,
    id: String,
    after: i64,
) -> impl Stream<Item = Result<JobEvent, ApiError>> + Send + 'static {
    struct Follow {
        state: AppState,
        who: Principal,
        id: String,
        seen: i64,
        ready: VecDeque<JobEvent>,
        ended: bool,
    }
    let start = Follow { state, who, id, seen: after, ready: VecDeque::new(), ended: false };
    futures::stream::unfold(start, |mut f| async move {
        loop {
            if let Some(e) = f.ready.pop_front() {
                return Some((Ok(e), f));
            }
            if f.ended {
                return None;
            }
            match f.state.jobs.events(&f.who.tenant, &f.id, f.seen, 500).await {
                Ok((job, events)) => match events.last() {
                    Some(last) => {
                        f.seen = last.seq;
                        f.ready.extend(events);
                    }
                    // Nothing new: the job's messages are all out once it has ended.
                    None if job.status.is_final() => f.ended = true,
                    None => tokio::time::sleep(f.state.settings.sse_poll).await,
                },
                Err(e) => {
                    f.ended = true;
                    return Some((Err(ApiError::from(e)), f));
                }
            }
        }
    })
}

/// One stored message as the client sees it, over SSE and WebSocket alike.
pub(super) fn message(job: &str, e: &JobEvent) -> Value {
    json!({
        "type": e.kind,
        "id": job,
        "seq": e.seq,
        "timestamp": promptsmith_core::clock::rfc3339(e.created_at),
        "data": e.data,
    })
}

/// The message that ends a stream whose read failed.
pub(super) fn error_message(job: &str, e: &ApiError) -> Value {
    json!({"type": "error", "id": job, "data": {"error": e.message}})
}

/// The job's messages as Server-Sent Events: what was missed first (after `Last-Event-ID` or
/// `?after=`), then live ones, until the job has ended and its last message was sent.
#[utoipa::path(get, path = "/v1/optimizations/{id}/events", tag = "optimizations",
    params(("id" = String, Path, description = "The job id"), EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The last sequence number received")),
    responses((status = 200, description = "Server-Sent Events: progress, result and error messages", body = StreamEvent, content_type = "text/event-stream")))]
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
    let job = id.clone();
    let stream = job_messages(state, who, id, last_seen).map(move |m| {
        Ok(match m {
            // `id` is the sequence number, for `Last-Event-ID`.
            Ok(e) => Event::default().id(e.seq.to_string()).event(e.kind.clone()).data(message(&job, &e).to_string()),
            Err(e) => Event::default().event("error").data(error_message(&job, &e).to_string()),
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The job's messages over a WebSocket (`GET /ws/optimizations/{id}?after=N`): the same JSON
/// text frames as the SSE endpoint's data, what is stored after `N` first (default 0: all),
/// then live ones, then a normal close frame after the job's final message. Another tenant's
/// or an unknown job answers 404 before the upgrade.
#[utoipa::path(get, path = "/ws/optimizations/{id}", tag = "optimizations",
    params(("id" = String, Path, description = "The job id"), EventsQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol: one JSON text frame per message"),
        (status = 426, description = "Not a WebSocket upgrade request", body = ErrorBody)))]
pub(super) async fn websocket(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let after = q.after.unwrap_or(0);
    state.jobs.events(&who.tenant, &id, after, 0).await?;
    let upgrade = upgrade.map_err(|r| {
        ApiError::new(r.status(), "websocket_required", format!("this endpoint is a WebSocket: {}", r.body_text()))
    })?;
    let messages = job_messages(state, who, id.clone(), after);
    Ok(upgrade.on_upgrade(move |socket| send_messages(socket, id, messages)))
}

/// Sends each message as a text frame until the stream ends, then closes normally; stops
/// early when the client goes away. Pings every 15 s keep idle connections open.
async fn send_messages(
    mut socket: WebSocket,
    job: String,
    messages: impl Stream<Item = Result<JobEvent, ApiError>> + Send,
) {
    let mut messages = std::pin::pin!(messages);
    let mut ping = tokio::time::interval(std::time::Duration::from_secs(15));
    ping.tick().await;
    let (code, reason) = loop {
        tokio::select! {
            next = messages.next() => match next {
                Some(Ok(e)) => {
                    if socket.send(Message::Text(message(&job, &e).to_string().into())).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    let _ = socket.send(Message::Text(error_message(&job, &e).to_string().into())).await;
                    break (close_code::ERROR, "cannot read the job's messages");
                }
                None => break (close_code::NORMAL, "job ended"),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    };
    if socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await.is_err() {
        return;
    }
    // Waits briefly for the client's close reply, so the close handshake completes.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
