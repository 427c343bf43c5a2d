//! Every endpoint's answers and errors through the router, without a socket
//! (`tower::ServiceExt::oneshot`), on a real SQLite store and the scripted model.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{job_body, world, World};
use http_body_util::BodyExt;
use promptsmith_app::keys;
use promptsmith_app::Tenant;
use promptsmith_server::{router, AppState, ServerSettings};
use promptsmith_store::Role;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(w: &World, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    send(w, req).await
}

async fn send(w: &World, req: Request<Body>) -> (StatusCode, Value) {
    let resp = router(w.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn kind(v: &Value) -> &str {
    v["error"]["kind"].as_str().unwrap_or("")
}

async fn key(w: &World, tenant: &str, role: Role) -> String {
    keys::create(&w.store, &Tenant::new(tenant).unwrap(), role, "test").await.unwrap().secret
}

fn auth() -> ServerSettings {
    ServerSettings { require_auth: true, ..ServerSettings::default() }
}

#[tokio::test]
async fn keys_roles_and_health() {
    let w = world(auth()).await;
    assert_eq!(call(&w, "GET", "/health", None, None).await.0, StatusCode::OK);
    let (s, v) = call(&w, "GET", "/v1/programs", None, None).await;
    assert_eq!((s, kind(&v)), (StatusCode::UNAUTHORIZED, "unauthorized"), "{v}");
    let (s, _) = call(&w, "GET", "/v1/programs", Some("psk_wrong"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let read = key(&w, "default", Role::Read).await;
    let (s, v) = call(&w, "GET", "/v1/programs", Some(&read), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["programs"][0]["name"], "add");
    let (s, v) = call(&w, "POST", "/v1/optimizations", Some(&read), Some(job_body())).await;
    assert_eq!((s, kind(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (s, v) = call(&w, "POST", "/v1/programs/add/rollback", Some(&read), Some(json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // A revoked key stops working.
    let keys = w.store.api_keys(Some("default")).await.unwrap();
    w.store.revoke_api_key(&keys[0].id).await.unwrap();
    assert_eq!(call(&w, "GET", "/v1/programs", Some(&read), None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tenants_never_see_each_others_things() {
    let w = world(auth()).await;
    let a = key(&w, "default", Role::Admin).await;
    let b = key(&w, "beta", Role::Admin).await;
    let (s, job) = call(&w, "POST", "/v1/optimizations", Some(&a), Some(job_body())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap();
    assert_eq!(call(&w, "GET", &format!("/v1/optimizations/{id}"), Some(&a), None).await.0, StatusCode::OK);
    let (s, v) = call(&w, "GET", &format!("/v1/optimizations/{id}"), Some(&b), None).await;
    assert_eq!((s, kind(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    assert_eq!(call(&w, "DELETE", &format!("/v1/optimizations/{id}"), Some(&b), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&w, "GET", &format!("/v1/optimizations/{id}/events"), Some(&b), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = call(&w, "GET", "/v1/optimizations", Some(&b), None).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 0);
    // beta has no program 'add'; its own 'add' is separate.
    let (s, _) =
        call(&w, "POST", "/v1/programs/add/predict", Some(&b), Some(json!({"inputs": {"question": "1+1"}}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, programs) = call(&w, "GET", "/v1/programs", Some(&b), None).await;
    assert_eq!(programs["programs"], json!([]));
    // A prediction of default's is not beta's to give feedback on.
    let (s, p) =
        call(&w, "POST", "/v1/programs/add/predict", Some(&a), Some(json!({"inputs": {"question": "What is 2 + 2?"}})))
            .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let pid = p["prediction_id"].as_i64().unwrap();
    let fb = json!({"score": 1.0});
    assert_eq!(
        call(&w, "POST", &format!("/v1/predictions/{pid}/feedback"), Some(&b), Some(fb.clone())).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&w, "POST", &format!("/v1/predictions/{pid}/feedback"), Some(&a), Some(fb)).await.0,
        StatusCode::CREATED
    );
    // Datasets too.
    let up = Request::post("/v1/datasets?name=adds")
        .header("authorization", format!("Bearer {a}"))
        .body(Body::from("{\"question\": \"q\", \"answer\": 1}\n"))
        .unwrap();
    let (s, ds) = send(&w, up).await;
    assert_eq!(s, StatusCode::CREATED, "{ds}");
    let ds_id = ds["id"].as_str().unwrap();
    assert_eq!(call(&w, "GET", &format!("/v1/datasets/{ds_id}"), Some(&a), None).await.0, StatusCode::OK);
    assert_eq!(call(&w, "GET", &format!("/v1/datasets/{ds_id}"), Some(&b), None).await.0, StatusCode::NOT_FOUND);
    let mut body = job_body();
    body["dataset"] = json!(ds_id);
    let (s, v) = call(&w, "POST", "/v1/optimizations", Some(&b), Some(body)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test]
async fn bad_job_requests_get_specific_errors() {
    let w = world(ServerSettings::default()).await;
    let mut unknown = job_body();
    unknown["optimiser"] = json!("typo");
    let (s, v) = call(&w, "POST", "/v1/optimizations", None, Some(unknown)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"]["message"].as_str().unwrap().contains("optimiser"), "{v}");
    let bad = Request::post("/v1/optimizations")
        .header("content-type", "application/json")
        .body(Body::from("{\"program\": "))
        .unwrap();
    let (s, v) = send(&w, bad).await;
    assert_eq!((s, kind(&v)), (StatusCode::BAD_REQUEST, "invalid_json"), "{v}");
    let mut missing = job_body();
    missing["program"] = json!("nosuch@production");
    let (s, v) = call(&w, "POST", "/v1/optimizations", None, Some(missing)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let mut metric = job_body();
    metric["metric"] = json!("no_such_metric");
    let (s, v) = call(&w, "POST", "/v1/optimizations", None, Some(metric)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("no_such_metric"), "{v}");
    let mut nolabel = job_body();
    nolabel["dataset"] = json!([{"question": "q"}, {"question": "r"}]);
    let (s, v) = call(&w, "POST", "/v1/optimizations", None, Some(nolabel)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = call(&w, "GET", "/v1/optimizations/job_nope", None, None).await;
    assert_eq!((s, kind(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = call(&w, "GET", "/v1/optimizations?status=sleeping", None, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = call(&w, "GET", "/v1/nothing-here", None, None).await;
    assert_eq!((s, kind(&v)), (StatusCode::NOT_FOUND, "not_found"));
    // A job is accepted with its plan, listed and cancelled while queued.
    let (s, job) = call(&w, "POST", "/v1/optimizations", None, Some(job_body())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["status"], "queued");
    assert!(job["planned_calls"].as_u64().unwrap() > 0, "{job}");
    let id = job["id"].as_str().unwrap();
    let (_, list) = call(&w, "GET", "/v1/optimizations?status=queued", None, None).await;
    assert_eq!(list["jobs"][0]["id"], id);
    let (s, c) = call(&w, "DELETE", &format!("/v1/optimizations/{id}"), None, None).await;
    assert_eq!((s, c["status"].as_str()), (StatusCode::ACCEPTED, Some("cancelled")), "{c}");
    let (s, _) = call(&w, "DELETE", &format!("/v1/optimizations/{id}"), None, None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Only a failed job can be retried.
    let (s, v) = call(&w, "POST", &format!("/v1/optimizations/{id}/retry"), None, None).await;
    assert_eq!((s, kind(&v)), (StatusCode::CONFLICT, "conflict"), "{v}");
    assert_eq!(call(&w, "POST", "/v1/optimizations/job_nope/retry", None, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn limits_answer_503_413_and_429() {
    let mut w =
        world(ServerSettings { max_body_bytes: 64 << 10, rate_limit_per_s: 1.0, ..ServerSettings::default() }).await;
    // Queue limit.
    let jobs = promptsmith_app::jobs::JobService::new(
        w.store.clone(),
        promptsmith_app::StoreTarget::new(Some(w.url.clone())),
        promptsmith_app::jobs::QueueLimits { max_queued: 1, ..Default::default() },
        w.dir.path().join("work"),
    );
    w.state = AppState::new(w.store.clone(), jobs, w.state.lm.clone(), (*w.state.settings).clone());
    let (s, v) = call(&w, "POST", "/v1/optimizations", None, Some(job_body())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (s, v) = call(&w, "POST", "/v1/optimizations", None, Some(job_body())).await;
    assert_eq!((s, kind(&v)), (StatusCode::SERVICE_UNAVAILABLE, "limit_exceeded"), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("max_queued"), "{v}");
    // Rate limit: the bucket holds two requests; the third waits.
    let (s, v) = call(&w, "GET", "/v1/programs", None, None).await;
    assert_eq!((s, kind(&v)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{v}");
    let req = Request::get("/v1/programs").body(Body::empty()).unwrap();
    let resp = router(w.state.clone()).oneshot(req).await.unwrap();
    assert!(resp.headers().get("retry-after").is_some());
    // Body limit.
    let w = world(ServerSettings { max_body_bytes: 1024, ..ServerSettings::default() }).await;
    let big = json!({"inputs": {"question": "x".repeat(4096)}});
    let (s, v) = call(&w, "POST", "/v1/programs/add/predict", None, Some(big)).await;
    assert_eq!((s, kind(&v)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"), "{v}");
}

#[tokio::test]
async fn predict_feedback_gateway_and_registry() {
    let w = world(ServerSettings::default()).await;
    let (s, p) = call(
        &w,
        "POST",
        "/v1/programs/add/predict",
        None,
        Some(json!({"inputs": {"question": "What is 2 + 3?"}, "caller_key": "u1"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["outputs"]["answer"], 5);
    assert_eq!(p["version"], 1);
    let stored = w.store.evaluation(p["prediction_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(stored.outputs.unwrap()["answer"], 5);
    let (s, v) = call(&w, "POST", "/v1/programs/add/predict", None, Some(json!({"inputs": {"q": "x"}}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"]["message"].as_str().unwrap().contains("question"), "{v}");
    let pid = p["prediction_id"].as_i64().unwrap();
    let (s, v) = call(
        &w,
        "POST",
        &format!("/v1/predictions/{pid}/feedback"),
        None,
        Some(json!({"score": 0.0, "correct_outputs": {"answer": 6}, "comment": "off"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let queue = w.store.feedback_examples(Some("add")).await.unwrap();
    assert_eq!(queue.len(), 1);
    let (s, _) = call(&w, "POST", "/v1/predictions/999999/feedback", None, Some(json!({"score": 1.0}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(&w, "POST", &format!("/v1/predictions/{pid}/feedback"), None, Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Gateway: plain text for a one-input program.
    let chat = json!({"model": "promptsmith/add", "messages": [{"role": "system", "content": "ignored"}, {"role": "user", "content": "What is 4 + 4?"}]});
    let (s, c) = call(&w, "POST", "/v1/chat/completions", None, Some(chat)).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(c["choices"][0]["message"]["content"], "8");
    let (s, v) = call(&w, "POST", "/v1/chat/completions", None, Some(json!({"model": "gpt-4", "messages": []}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Registry.
    common::register(&w.store, "add").await;
    let (s, v) = call(&w, "GET", "/v1/programs/add/versions", None, None).await;
    assert_eq!((s, v["versions"].as_array().unwrap().len()), (StatusCode::OK, 2));
    let (s, v) = call(&w, "GET", "/v1/programs/add/diff?from=1&to=2", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(&w, "POST", "/v1/programs/add/rollback", None, Some(json!({"reason": "test"}))).await;
    assert_eq!((s, v["version"].as_i64()), (StatusCode::OK, Some(1)), "{v}");
    let (s, v) = call(&w, "POST", "/v1/programs/add/activate", None, Some(json!({"version": 7}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = call(&w, "PUT", "/v1/programs/add/aliases/staging", None, Some(json!({"version": 2}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, log) = call(&w, "GET", "/v1/programs/add/aliases", None, None).await;
    assert!(log["moves"].as_array().unwrap().len() >= 3, "{log}");
    assert_eq!(call(&w, "GET", "/v1/programs/nosuch", None, None).await.0, StatusCode::NOT_FOUND);
    let (s, o) = call(&w, "GET", "/v1/optimizers", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["optimizers"].as_array().unwrap().len(), 7, "every optimizer is listed: {o}");
    let mipro = o["optimizers"].as_array().unwrap().iter().find(|x| x["name"] == "mipro").unwrap().clone();
    assert!(mipro["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "minibatch"), "{mipro}");
}

#[tokio::test]
async fn bad_datasets_name_the_line() {
    let w = world(ServerSettings::default()).await;
    let body = "{\"question\": \"a\", \"answer\": 1}\n{\"question\": \"b\", \"answer\": \n";
    let req = Request::post("/v1/datasets?name=broken&format=jsonl").body(Body::from(body)).unwrap();
    let (s, v) = send(&w, req).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("line 2") && msg.contains("broken") && !msg.contains("/tmp"), "{msg}");
    let req = Request::post("/v1/datasets?format=xml").body(Body::from("<a/>")).unwrap();
    assert_eq!(send(&w, req).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let csv = "question,answer\nWhat is 1 + 1?,2\n";
    let req = Request::post("/v1/datasets?name=c").header("content-type", "text/csv").body(Body::from(csv)).unwrap();
    let (s, v) = send(&w, req).await;
    assert_eq!((s, v["rows"].as_i64(), v["format"].as_str()), (StatusCode::CREATED, Some(1), Some("csv")), "{v}");
}

/// The value of the first sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_read_job_gauges() {
    let w = world(auth()).await;
    let admin = key(&w, "default", Role::Admin).await;
    let read = key(&w, "default", Role::Read).await;
    // /metrics is like any other GET: a key is needed, and any valid key will do.
    assert_eq!(call(&w, "GET", "/metrics", None, None).await.0, StatusCode::UNAUTHORIZED);
    let (s, job) = call(&w, "POST", "/v1/optimizations", Some(&admin), Some(job_body())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap();
    assert_eq!(call(&w, "GET", &format!("/v1/optimizations/{id}"), Some(&read), None).await.0, StatusCode::OK);
    let missing = "job_not_there_metrics_test";
    assert_eq!(
        call(&w, "GET", &format!("/v1/optimizations/{missing}"), Some(&read), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, p) = call(
        &w,
        "POST",
        "/v1/programs/add/predict",
        Some(&admin),
        Some(json!({"inputs": {"question": "What is 2 + 2?"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let req = Request::get("/metrics").header("authorization", format!("Bearer {read}")).body(Body::empty()).unwrap();
    let resp = router(w.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let requests = "promptsmith_http_requests_total";
    let by_template = ["route=\"/v1/optimizations/{id}\"", "method=\"GET\""];
    for status in ["status=\"200\"", "status=\"404\""] {
        let labels = [by_template[0], by_template[1], status];
        assert!(sample(&text, requests, &labels).unwrap_or(0.0) >= 1.0, "{status}:\n{text}");
    }
    assert!(
        sample(&text, requests, &["route=\"/v1/optimizations\"", "method=\"POST\"", "status=\"202\""]).unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    // Refused requests are counted too, and raw ids never become labels.
    assert!(sample(&text, requests, &["route=\"/metrics\"", "status=\"401\""]).unwrap_or(0.0) >= 1.0, "{text}");
    assert!(!text.contains(missing) && !text.contains(id), "{text}");
    assert!(text.contains("# TYPE promptsmith_http_request_duration_seconds histogram"), "{text}");
    assert!(
        sample(&text, "promptsmith_http_request_duration_seconds_count", &[by_template[0]]).unwrap_or(0.0) >= 2.0,
        "{text}"
    );
    assert!(
        sample(&text, "promptsmith_predictions_served_total", &["endpoint=\"predict\""]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    // Job gauges come from the store at scrape time (other tests share the process's
    // recorder, so only presence and this world's lower bound are checked).
    for status in ["queued", "running", "completed", "failed", "cancelled"] {
        assert!(sample(&text, "promptsmith_jobs", &[&format!("status=\"{status}\"")]).is_some(), "{status}:\n{text}");
    }
    let queued = sample(&text, "promptsmith_jobs", &["status=\"queued\""]).unwrap();
    assert_eq!(sample(&text, "promptsmith_queue_depth", &[]), Some(queued), "{text}");
    assert_eq!(sample(&text, "promptsmith_store_up", &[]), Some(1.0), "{text}");
    for name in ["promptsmith_lm_calls_total", "promptsmith_lm_cost_usd_total"] {
        assert!(sample(&text, name, &["role=\"all\""]).is_some(), "{name}:\n{text}");
    }
    assert!(sample(&text, "promptsmith_lm_tokens_total", &["role=\"all\"", "kind=\"prompt\""]).is_some(), "{text}");
    // By role: the prediction above was one task call.
    assert!(sample(&text, "promptsmith_lm_calls_total", &["role=\"task\""]).unwrap_or(0.0) >= 1.0, "{text}");
    assert!(sample(&text, "promptsmith_lm_calls_total", &["role=\"proposer\""]).is_some(), "{text}");
}

#[tokio::test]
async fn websocket_answers_404_for_other_tenants_before_the_upgrade() {
    let w = world(auth()).await;
    let a = key(&w, "default", Role::Admin).await;
    let b = key(&w, "beta", Role::Read).await;
    let (s, job) = call(&w, "POST", "/v1/optimizations", Some(&a), Some(job_body())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap();
    let upgrade = |key: &str, path: &str| {
        Request::get(path)
            .header("authorization", format!("Bearer {key}"))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .body(Body::empty())
            .unwrap()
    };
    let (s, v) = send(&w, upgrade(&b, &format!("/ws/optimizations/{id}"))).await;
    assert_eq!((s, kind(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    let (s, v) = send(&w, upgrade(&a, "/ws/optimizations/job_nosuch")).await;
    assert_eq!((s, kind(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    assert_eq!(call(&w, "GET", &format!("/ws/optimizations/{id}"), None, None).await.0, StatusCode::UNAUTHORIZED);
    let (s, v) = send(&w, upgrade(&a, &format!("/ws/optimizations/{id}?after=x"))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Browsers cannot set headers on a WebSocket or EventSource: the key may come in ?key=,
    // there only.
    let (s, v) = call(&w, "GET", &format!("/ws/optimizations/{id}?key={a}"), None, None).await;
    assert_eq!(kind(&v), "websocket_required", "authenticated by ?key=: {s} {v}");
    let (s, _) = call(&w, "GET", &format!("/v1/optimizations/{id}?key={a}"), None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "?key= is not read elsewhere");
    // The owner's plain GET (no upgrade, as through oneshot) is told it is a WebSocket.
    let (s, v) = call(&w, "GET", &format!("/ws/optimizations/{id}"), Some(&a), None).await;
    assert!(s.is_client_error() && kind(&v) == "websocket_required", "{s} {v}");
}

/// An experiment end to end through the router: started on two versions, a second one for the
/// same program refused (409), predictions routed sticky per caller key (random without one)
/// and recorded with their arm, feedback ratings deciding it with the always-valid test, after
/// which traffic goes back to the control and stopping it answers 409.
#[tokio::test]
async fn experiments_route_sticky_by_caller_and_decide_on_feedback() {
    let w = world(ServerSettings::default()).await;
    // Version 2 shows two demos, so the scripted model answers every question right.
    let spec = promptsmith_core::ProgramSpec::parse(&common::spec_json().to_string(), false, "test").unwrap();
    let mut state = spec.build("test").unwrap().state();
    let demo = |q: &str, a: i64| serde_json::from_value(json!({"question": q, "answer": a})).unwrap();
    state.predictors.get_mut("solve").unwrap().demos = vec![demo("What is 1 + 1?", 2), demo("What is 3 + 4?", 7)];
    let v2 = w.store.register_version(&promptsmith_store::NewVersion::new("add", spec, state, "tester")).await.unwrap();
    let body = json!({"program": "add", "challenger": v2.version.to_string(), "traffic": 0.5, "min_samples": 15});
    let (s, exp) = call(&w, "POST", "/v1/experiments", None, Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{exp}");
    assert_eq!((exp["decision"].as_str(), exp["control"]["version"].as_i64()), (Some("continue"), Some(1)));
    let id = exp["id"].as_str().unwrap().to_string();
    assert_eq!(exp["monitoring_url"], format!("/v1/experiments/{id}"));
    let (s, again) = call(&w, "POST", "/v1/experiments", None, Some(body)).await;
    assert_eq!((s, kind(&again)), (StatusCode::CONFLICT, "conflict"), "{again}");
    let bad = json!({"program": "add", "challenger": "production"});
    let (s, same) = call(&w, "POST", "/v1/experiments", None, Some(bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{same}");

    let mut arms = std::collections::HashMap::new();
    for i in 0..80 {
        let caller = format!("user{}", i % 40);
        // Odd first numbers: the control (no demos) is wrong, the challenger right.
        let a = 2 * (i % 25) + 1;
        let q = json!({"inputs": {"question": format!("What is {a} + 2?")}, "caller_key": caller});
        let (s, p) = call(&w, "POST", "/v1/programs/add/predict", None, Some(q)).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let arm = p["experiment"]["arm"].as_str().unwrap().to_string();
        assert_eq!(p["experiment"]["assignment"], "sticky");
        assert_eq!(p["version"], if arm == "challenger" { v2.version } else { 1 }, "{p}");
        assert_eq!(arms.entry(caller).or_insert_with(|| arm.clone()), &arm, "a caller keeps its arm");
        let right = p["outputs"]["answer"] == a + 2;
        let fb = json!({"score": if right { 1.0 } else { 0.0 }});
        let path = format!("/v1/predictions/{}/feedback", p["prediction_id"]);
        assert_eq!(call(&w, "POST", &path, None, Some(fb)).await.0, StatusCode::CREATED);
    }
    let anonymous = json!({"inputs": {"question": "What is 2 + 2?"}});
    let (_, p) = call(&w, "POST", "/v1/programs/add/predict", None, Some(anonymous.clone())).await;
    assert_eq!(p["experiment"]["assignment"], "random", "{p}");

    let (s, st) = call(&w, "GET", &format!("/v1/experiments/{id}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["challenger"]["mean"], 1.0, "{st}");
    assert_eq!(st["control"]["mean"], 0.0, "{st}");
    assert!(st["control"]["n"].as_u64().unwrap() >= 15 && st["challenger"]["n"].as_u64().unwrap() >= 15, "{st}");
    assert_eq!(
        (st["decision"].as_str(), st["deployment_recommended"].as_bool()),
        (Some("challenger_wins"), Some(true))
    );
    assert_eq!(st["status"], "completed");
    assert!(st["p_value"].as_f64().unwrap() < 0.05 && st["difference"]["lower"].as_f64().unwrap() > 0.0, "{st}");
    // Ended: predictions are no longer routed (after the one-second cache), stopping is refused.
    let (s, stop) = call(&w, "POST", &format!("/v1/experiments/{id}/stop"), None, None).await;
    assert_eq!((s, kind(&stop)), (StatusCode::CONFLICT, "conflict"), "{stop}");
    let (_, list) = call(&w, "GET", "/v1/experiments", None, None).await;
    assert_eq!(list["experiments"][0]["id"], id.as_str());
    assert_eq!(call(&w, "GET", "/v1/experiments/exp_nope", None, None).await.0, StatusCode::NOT_FOUND);
}

/// An answer that breaks the program's output constraints after its retries is a 422 naming
/// the violation and the stored prediction (whose tokens and error are kept), not a 503.
#[tokio::test]
async fn a_constraint_failure_is_422_and_stored() {
    let w = world(ServerSettings::default()).await;
    let spec = json!({"name": "small", "predictors": [{"name": "solve", "signature": "question -> answer: int",
        "constraints": {"answer": {"max": 3}}, "max_retries": 1}]});
    let spec = promptsmith_core::ProgramSpec::parse(&spec.to_string(), false, "test").unwrap();
    let program = spec.build("test").unwrap();
    let v = w
        .store
        .register_version(&promptsmith_store::NewVersion::new("small", spec, program.state(), "t"))
        .await
        .unwrap();
    w.store.activate("small", v.version, "t", "test").await.unwrap();
    let (s, v) =
        call(&w, "POST", "/v1/programs/small/predict", None, Some(json!({"inputs": {"question": "What is 4 + 4?"}})))
            .await;
    assert_eq!((s, kind(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"), "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("breaks max") && message.contains("after 2 attempts"), "{message}");
    let id: i64 = message.trim_start_matches("prediction ").split(':').next().unwrap().parse().unwrap();
    let stored = w.store.evaluation(id).await.unwrap();
    assert!(stored.error.unwrap().contains("breaks max"));
    assert!(stored.prompt_tokens > 0, "the failed attempts' tokens are counted");
    // Within its constraints the same program answers.
    let (s, v) =
        call(&w, "POST", "/v1/programs/small/predict", None, Some(json!({"inputs": {"question": "What is 2 + 1?"}})))
            .await;
    assert_eq!((s, v["outputs"]["answer"].as_i64()), (StatusCode::OK, Some(3)), "{v}");
}
