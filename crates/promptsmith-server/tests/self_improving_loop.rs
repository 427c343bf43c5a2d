//! The self-improving loop with no person in it, on a clock the test controls. First the whole
//! loop: feedback arrives, the program's policy queues an optimization from it, the result is
//! registered, wins its experiment, rolls out and becomes production. Then the deployment half
//! in detail: an experiment's winner is rolled out step by step to 100% and becomes
//! `production`; then a bad version's rollout is rolled back by its quality guardrail; then the
//! inputs drift and the quality monitor raises a degradation alert. Every event reaches a real
//! HTTP receiver on loopback, signed, and a failing receiver is retried.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use common::{world, World};
use http_body_util::BodyExt;
use promptsmith_app::jobs::WorkerConfig;
use promptsmith_app::policy::PolicyEngine;
use promptsmith_app::supervisor::Supervisor;
use promptsmith_app::webhooks::{verify_signature, RetryPolicy, Sender};
use promptsmith_app::StoreTarget;
use promptsmith_server::{router, ServerSettings};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

async fn call(w: &World, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = Request::builder().method(method).uri(path);
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = router(w.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// What the receiver got: the signature header and the body of each request.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on loopback that answers 500 to its first request and 204 after.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let sig = headers.get("promptsmith-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let mut all = seen.lock().unwrap();
                all.push((sig, body));
                if all.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// Registers a version of `add` with `demos` two-demo sets (the scripted model answers every
/// question right with two demos, only even first numbers without).
async fn version(w: &World, demos: bool) -> i64 {
    version_over(&w.store, demos).await
}

async fn version_over(store: &promptsmith_store::Store, demos: bool) -> i64 {
    let spec = promptsmith_core::ProgramSpec::parse(&common::spec_json().to_string(), false, "test").unwrap();
    let mut state = spec.build("test").unwrap().state();
    if demos {
        let demo = |q: &str, a: i64| serde_json::from_value(json!({"question": q, "answer": a})).unwrap();
        state.predictors.get_mut("solve").unwrap().demos = vec![demo("What is 1 + 1?", 2), demo("What is 3 + 4?", 7)];
    } else {
        state.predictors.get_mut("solve").unwrap().instruction = Some("Answer fast.".into());
    }
    let new = promptsmith_store::NewVersion::new("add", spec, state, "tester");
    store.register_version(&new).await.unwrap().version
}

/// `n` predictions on odd first numbers from distinct callers, each rated by whether it was
/// right; returns how many the challenger arm served.
async fn traffic(w: &World, round: usize, n: usize) -> usize {
    let mut challenger = 0;
    for i in 0..n {
        let a = 2 * (i % 25) + 1;
        let q = json!({"inputs": {"question": format!("What is {a} + 2?")}, "caller_key": format!("u{round}-{i}")});
        let (s, p) = call(w, "POST", "/v1/programs/add/predict", Some(q)).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        challenger += usize::from(p["experiment"]["arm"] == "challenger");
        let fb = json!({"score": if p["outputs"]["answer"] == a + 2 { 1.0 } else { 0.0 }});
        let path = format!("/v1/predictions/{}/feedback", p["prediction_id"]);
        assert_eq!(call(w, "POST", &path, Some(fb)).await.0, StatusCode::CREATED);
    }
    challenger
}

/// Ticks the supervisor every 11 simulated minutes, with traffic in between, until `done`
/// says so (at most `rounds` times); returns the simulated time reached.
async fn drive(w: &World, mut now: i64, rounds: usize, done: impl Fn(&[Value]) -> bool) -> (i64, Vec<Value>) {
    let supervisor = Supervisor::new(w.store.clone());
    for round in 0..rounds {
        traffic(w, round, 30).await;
        now += 11 * 60_000;
        supervisor.tick(now).await.unwrap();
        let (_, list) = call(w, "GET", "/v1/rollouts", None).await;
        let rollouts = list["rollouts"].as_array().cloned().unwrap_or_default();
        if done(&rollouts) {
            return (now, rollouts);
        }
    }
    panic!("not done after {rounds} rounds");
}

#[tokio::test]
async fn a_winner_rolls_out_to_production_and_a_bad_version_rolls_back_with_signed_webhooks() {
    let settings =
        ServerSettings { monitor_interval: Duration::ZERO, webhook_poll: Duration::ZERO, ..ServerSettings::default() };
    let w = world(settings).await;
    let (url, received) = receiver().await;
    let (s, hook) = call(&w, "POST", "/v1/webhooks", Some(json!({"url": url}))).await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    let (s, bad) = call(&w, "POST", "/v1/webhooks", Some(json!({"url": "ftp://x", "events": ["*"]}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // An experiment the challenger (two demos) wins; the supervisor's pass ends it and
    // starts the winner's rollout at 10%.
    let good = version(&w, true).await;
    let body = json!({"program": "add", "challenger": good.to_string(), "traffic": 0.5, "min_samples": 15});
    let (s, exp) = call(&w, "POST", "/v1/experiments", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{exp}");
    traffic(&w, 100, 80).await;
    let mut now = promptsmith_core::clock::now_ms();
    let actions = Supervisor::new(w.store.clone()).tick(now).await.unwrap();
    assert_eq!(actions[0].what, "challenger_wins", "{actions:?}");

    // Steps held for 50 challenger predictions and 10 minutes each, then production.
    let (t, rollouts) = drive(&w, now, 60, |r| r.first().is_some_and(|r| r["status"] != "running")).await;
    now = t;
    let r = &rollouts[0];
    assert_eq!((r["status"].as_str(), r["experiment_id"].as_str()), (Some("completed"), exp["id"].as_str()), "{r}");
    let (_, program) = call(&w, "GET", "/v1/programs/add", None).await;
    assert_eq!(program["aliases"]["production"], good, "{program}");
    let (_, log) = call(&w, "GET", "/v1/programs/add/aliases", None).await;
    let last = log["moves"].as_array().and_then(|m| m.last().cloned()).unwrap_or(log.clone());
    assert_eq!(last["actor"], "policy", "{log}");

    // A bad version (no demos) rolled out against it: quality drops, it rolls back.
    let worse = version(&w, false).await;
    let body = json!({"program": "add", "challenger": worse.to_string(), "min_samples_per_step": 10,
        "min_step_minutes": 1, "steps": [0.5, 1.0]});
    let (s, ro) = call(&w, "POST", "/v1/rollouts", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{ro}");
    let (_, rollouts) = drive(&w, now, 20, |r| r.first().is_some_and(|r| r["status"] != "running")).await;
    let r = &rollouts[0];
    assert_eq!((r["id"].as_str(), r["status"].as_str()), (ro["id"].as_str(), Some("rolled_back")), "{r}");
    assert!(r["reason"].as_str().unwrap().contains("quality"), "{r}");
    let (_, program) = call(&w, "GET", "/v1/programs/add", None).await;
    assert_eq!(program["aliases"]["production"], good, "production stays on the good version: {program}");

    // Drift: questions with a third term the program ignores. Production's ratings fall, and
    // the quality monitor in the supervisor's pass says so.
    for i in 0..60 {
        let a = 2 * (i % 25) + 1;
        let q = json!({"inputs": {"question": format!("What is {a} + 2 + 1?")}, "caller_key": format!("d{i}")});
        let (_, p) = call(&w, "POST", "/v1/programs/add/predict", Some(q)).await;
        let fb = json!({"score": if p["outputs"]["answer"] == a + 3 { 1.0 } else { 0.0 }});
        call(&w, "POST", &format!("/v1/predictions/{}/feedback", p["prediction_id"]), Some(fb)).await;
    }
    let actions = Supervisor::new(w.store.clone()).tick(now + 60_000).await.unwrap();
    let alert = actions.iter().find(|a| a.kind == "monitor").expect("a degradation alert");
    let drop: f64 = alert.what.trim_start_matches("degraded: ").split('%').next().unwrap().parse().unwrap();
    assert!(drop > 50.0, "{alert:?}");
    assert_eq!(alert.id, format!("add@{good}"));

    // Deliveries: the first attempt fails (500) and is retried after its backoff.
    let policy = RetryPolicy { first_backoff: Duration::from_secs(10), ..RetryPolicy::default() };
    let sender = Sender::new(w.store.clone(), policy).unwrap();
    let t0 = promptsmith_core::clock::now_ms() + 1;
    let first = sender.deliver_due(t0, 1000).await.unwrap();
    assert!(first.len() >= 8, "{} deliveries", first.len());
    assert_eq!((first[0].status.as_str(), first[0].last_status_code), ("pending", Some(500)));
    assert!(sender.deliver_due(t0 + 5_000, 1000).await.unwrap().is_empty(), "not before the backoff");
    let retried = sender.deliver_due(t0 + 10_000, 1000).await.unwrap();
    assert_eq!((retried.len(), retried[0].status.as_str(), retried[0].attempts), (1, "delivered", 2));

    let got = received.lock().unwrap().clone();
    let mut types = Vec::new();
    for (sig, body) in &got {
        assert!(verify_signature(&secret, sig, body, t0.div_euclid(1000) + 10, 300), "bad signature {sig}");
        assert!(!verify_signature("whsec_wrong_secret_0000", sig, body, t0.div_euclid(1000), 300));
        types.push(serde_json::from_str::<Value>(body).unwrap()["type"].as_str().unwrap().to_string());
    }
    for t in ["experiment.result", "rollout.step", "rollout.rolled_back", "monitor.degradation"] {
        assert!(types.iter().any(|x| x == t), "{t} not received: {types:?}");
    }
    let events: Vec<Value> = got.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    let result = events.iter().find(|e| e["type"] == "experiment.result").unwrap();
    assert_eq!(
        (result["data"]["winner"].as_str(), result["data"]["deployment_recommended"].as_bool()),
        (Some("challenger"), Some(true))
    );
    let promoted = events.iter().filter(|e| e["type"] == "rollout.step" && e["data"]["promoted"] == true).count();
    assert_eq!(promoted, 1, "{types:?}");
    let (_, deliveries) =
        call(&w, "GET", &format!("/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()), None).await;
    assert!(deliveries["deliveries"].as_array().unwrap().iter().all(|d| d["status"] == "delivered"), "{deliveries}");
}

/// Polls `check` until it holds (at most 60 s).
async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client of the server on loopback.
struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A prediction of `a + b` from `caller`, rated by whether it was right, with the right
    /// answer as the correction; whether it was right.
    async fn rated(&self, a: i64, b: i64, caller: &str) -> bool {
        let q = json!({"inputs": {"question": format!("What is {a} + {b}?")}, "caller_key": caller});
        let (s, p) = self.send(reqwest::Method::POST, "/v1/programs/add/predict", Some(q)).await;
        assert_eq!(s, 200, "{p}");
        let right = p["outputs"]["answer"] == a + b;
        let fb = json!({"score": if right { 1.0 } else { 0.0 }, "correct_outputs": {"answer": a + b}});
        let path = format!("/v1/predictions/{}/feedback", p["prediction_id"]);
        assert_eq!(self.send(reqwest::Method::POST, &path, Some(fb)).await.0, 201);
        right
    }

    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await.1
    }
}

/// The scripted model: right on every question until `drifted`, then (as the common world's
/// model) only on even first numbers unless the prompt shows two demos.
fn drifting_model(drifted: Arc<std::sync::atomic::AtomicBool>) -> promptsmith_lm::LmStack {
    use std::sync::atomic::Ordering;
    let lm = promptsmith_lm::ScriptedLm::from_fn(move |req| {
        let answer = common::answer(req);
        if drifted.load(Ordering::SeqCst) {
            return answer;
        }
        let last = &req.messages.last().unwrap().content;
        let q = last.split("[[ ## question ## ]]").nth(1).unwrap_or("");
        let nums: Vec<i64> = q.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
        format!("[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]", nums.iter().take(2).sum::<i64>())
    })
    .with_model_name("scripted");
    promptsmith_lm::LmStack::from_models(Arc::new(lm) as Arc<dyn promptsmith_core::LanguageModel>, [], 2)
}

/// The whole loop over real HTTP with no person: the model drifts, the monitor sees production's
/// ratings fall, the policy re-optimizes from the corrected feedback, the result wins its
/// experiment, rolls out to 100% and becomes production; then a bad version pushed by hand is
/// rolled back by its guardrail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_triggers_a_reoptimization_whose_result_becomes_production_and_a_bad_push_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = promptsmith_store::Store::open(&url).await.unwrap();
    common::register(&store, "add").await;
    let drifted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lm = Arc::new(drifting_model(drifted.clone()));
    let config = promptsmith_server::ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        settings: ServerSettings {
            monitor_interval: Duration::ZERO,
            webhook_poll: Duration::ZERO,
            ..ServerSettings::default()
        },
        limits: promptsmith_app::jobs::QueueLimits::default(),
        worker: Some(WorkerConfig::new(dir.path().join("work"), 1)),
        workdir: dir.path().join("work"),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let target = StoreTarget::new(Some(url.clone()));
    let server =
        tokio::spawn(promptsmith_server::serve(config, store.clone(), target.clone(), lm, stop.clone(), Some(tx)));
    let http = Http { base: format!("http://{}", rx.await.unwrap()), client: reqwest::Client::new() };
    let jobs =
        promptsmith_app::jobs::JobService::new(store.clone(), target, Default::default(), dir.path().join("work"));
    let supervisor =
        Supervisor::new(store.clone()).with_policies(PolicyEngine::new(store.clone(), jobs, Default::default()));

    // Only degradation triggers here: the feedback-volume threshold is out of reach.
    let policy = json!({"enable_automatic_optimization": true, "feedback_volume_threshold": 100000,
        "optimization_interval_hours": 0, "optimizer": {"name": "labeled", "k": 2},
        "metric": "numeric_match", "field": "answer", "experiment_traffic": 0.5, "experiment_min_samples": 15});
    let (s, set) = http.send(reqwest::Method::PUT, "/v1/programs/add/policy", Some(policy)).await;
    assert_eq!(s, 200, "{set}");
    let mut now = promptsmith_core::clock::now_ms();
    for i in 0..50 {
        assert!(http.rated(i, 2, &format!("a{i}")).await, "before the drift every answer is right");
    }
    assert!(supervisor.tick(now).await.unwrap().iter().all(|a| a.kind != "monitor"), "no alert before the drift");
    drifted.store(true, std::sync::atomic::Ordering::SeqCst);
    for i in 50..100 {
        http.rated(i, 3, &format!("b{i}")).await;
    }
    now += 60_000;
    let actions = supervisor.tick(now).await.unwrap();
    assert!(actions.iter().any(|a| a.kind == "monitor" && a.what.starts_with("degraded")), "{actions:?}");
    let health = supervisor.health().await.unwrap();
    let h = health.iter().find(|h| h.stored == "add").expect("production's health");
    assert_eq!((h.version, h.predictions, h.error_rate), (1, 100, 0.0), "{h:?}");
    assert!(h.quality.unwrap() < 0.8 && h.p95_latency_ms >= 0.0 && h.cost_per_call_usd == 0.0, "{h:?}");
    let started = actions.iter().find(|a| a.kind == "policy").expect("the policy acted on the alert");
    assert!(started.what.starts_with("started: production's quality degraded"), "{actions:?}");
    let job = started.what.split("(job ").nth(1).unwrap().trim_end_matches(')').to_string();
    wait_for("the automatic optimization", async || store.job(&job).await.unwrap().status.as_str() == "completed")
        .await;
    now += 60_000;
    let actions = supervisor.tick(now).await.unwrap();
    assert!(actions.iter().any(|a| a.kind == "policy" && a.what.starts_with("experiment exp_")), "{actions:?}");

    // Live traffic decides the experiment; the winner rolls out step by step to production.
    let challenger = http.get("/v1/experiments").await["experiments"][0]["challenger"]["version"].as_i64().unwrap();
    let mut round = 0;
    let mut status = String::new();
    while status != "completed" {
        round += 1;
        assert!(round < 80, "the rollout did not complete: {status}");
        for i in 0..30 {
            http.rated(2 * i + 1, 2, &format!("r{round}-{i}")).await;
        }
        now += 11 * 60_000;
        supervisor.tick(now).await.unwrap();
        status = http.get("/v1/rollouts").await["rollouts"][0]["status"].as_str().unwrap_or("").to_string();
    }
    assert_eq!(http.get("/v1/programs/add").await["aliases"]["production"], challenger);

    // A bad version (no demos) pushed by hand rolls back on its own.
    let bad = version_over(&store, false).await;
    let body =
        json!({"program": "add", "challenger": bad.to_string(), "steps": [0.5, 1.0], "min_samples_per_step": 10});
    let (s, ro) = http.send(reqwest::Method::POST, "/v1/rollouts", Some(body)).await;
    assert_eq!(s, 201, "{ro}");
    let path = format!("/v1/rollouts/{}", ro["id"].as_str().unwrap());
    for round in 0..20 {
        for i in 0..30 {
            http.rated(2 * i + 1, 2, &format!("x{round}-{i}")).await;
        }
        now += 11 * 60_000;
        supervisor.tick(now).await.unwrap();
        if http.get(&path).await["status"] != "running" {
            break;
        }
    }
    let r = http.get(&path).await;
    assert_eq!(r["status"], "rolled_back", "{r}");
    assert_eq!(http.get("/v1/programs/add").await["aliases"]["production"], challenger, "production kept the winner");

    let timeline = http.get("/v1/programs/add/timeline").await;
    let decisions: Vec<String> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}/{}", e["kind"].as_str().unwrap(), e["decision"].as_str().unwrap()))
        .collect();
    for d in ["trigger/skipped", "optimization/started", "optimization/finished", "deployment/experiment_started"] {
        assert!(decisions.iter().any(|x| x == d), "{d} not in {decisions:?}");
    }
    stop.cancel();
    server.await.unwrap().unwrap();
}

/// An experiment's guardrail: a challenger whose every prediction fails (its output constraint
/// can never hold) ends the experiment as `guardrail_breached` at the next pass, whatever the
/// quality test says, and starts no rollout.
#[tokio::test]
async fn an_experiment_guardrail_ends_it_when_the_challenger_fails() {
    let settings =
        ServerSettings { monitor_interval: Duration::ZERO, webhook_poll: Duration::ZERO, ..ServerSettings::default() };
    let w = world(settings).await;
    let mut spec_json = common::spec_json();
    spec_json["predictors"][0]["constraints"] = json!({"answer": {"max": -1}});
    spec_json["predictors"][0]["max_retries"] = json!(0);
    let spec = promptsmith_core::ProgramSpec::parse(&spec_json.to_string(), false, "test").unwrap();
    let state = spec.build("test").unwrap().state();
    let broken =
        w.store.register_version(&promptsmith_store::NewVersion::new("add", spec, state, "tester")).await.unwrap();
    let body = json!({"program": "add", "challenger": broken.version.to_string(), "traffic": 0.5,
        "guardrails": {"max_error_rate": 0.2, "min_predictions": 5}});
    let (s, exp) = call(&w, "POST", "/v1/experiments", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{exp}");
    let mut failed = 0;
    for i in 0..30 {
        let q = json!({"inputs": {"question": format!("What is {i} + 1?")}, "caller_key": format!("g{i}")});
        let (s, _) = call(&w, "POST", "/v1/programs/add/predict", Some(q)).await;
        failed += usize::from(s != StatusCode::OK);
    }
    assert!(failed >= 5, "the challenger's predictions fail: {failed}");
    let actions = Supervisor::new(w.store.clone()).tick(promptsmith_core::clock::now_ms()).await.unwrap();
    assert_eq!(actions[0].what, "guardrail_breached", "{actions:?}");
    let (_, st) = call(&w, "GET", &format!("/v1/experiments/{}", exp["id"].as_str().unwrap()), None).await;
    assert_eq!(
        (st["status"].as_str(), st["decision"].as_str()),
        (Some("completed"), Some("guardrail_breached")),
        "{st}"
    );
    let g = st["guardrails"].as_array().unwrap().iter().find(|g| g["name"] == "error_rate").unwrap().clone();
    assert_eq!((g["value"].as_f64(), g["breached"].as_bool()), (Some(1.0), Some(true)), "{st}");
    let (_, rollouts) = call(&w, "GET", "/v1/rollouts", None).await;
    assert!(rollouts["rollouts"].as_array().unwrap().is_empty(), "{rollouts}");
}
