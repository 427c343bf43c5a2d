//! End to end over real HTTP on loopback: `serve` with its in-process worker on a real SQLite
//! file and on a real PostgreSQL server; submit a job, follow its Server-Sent Events to the
//! result, see the result registered, serve predictions, post feedback and find it in the
//! queue, and call the OpenAI-compatible gateway with the `async-openai` client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use async_openai::config::OpenAIConfig;
use async_openai::types::{ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs};
use futures::StreamExt;
use promptsmith_app::jobs::{QueueLimits, WorkerConfig};
use promptsmith_app::StoreTarget;
use promptsmith_server::{serve, ServeConfig, ServerSettings};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Running {
    base: String,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), promptsmith_app::AppError>>,
    world: common::World,
}

async fn start(world: common::World) -> Running {
    let mut worker = WorkerConfig::new(world.dir.path().join("work"), 2);
    worker.poll = Duration::from_millis(50);
    let config = ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        settings: ServerSettings { sse_poll: Duration::from_millis(20), ..ServerSettings::default() },
        limits: QueueLimits::default(),
        worker: Some(worker),
        workdir: world.dir.path().join("work"),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let stop = CancellationToken::new();
    let lm = Arc::new(common::stack(world.calls.clone()));
    let handle = tokio::spawn(serve(
        config,
        world.store.clone(),
        StoreTarget::new(Some(world.url.clone())),
        lm,
        stop.clone(),
        Some(tx),
    ));
    let addr = rx.await.unwrap();
    Running { base: format!("http://{addr}"), stop, handle, world }
}

/// Reads the SSE stream to its end; returns (event type, data) pairs.
async fn follow(client: &reqwest::Client, url: &str, last_id: Option<i64>) -> Vec<(String, Value)> {
    let mut req = client.get(url);
    if let Some(id) = last_id {
        req = req.header("last-event-id", id.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut kind = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            if !data.is_empty() {
                events.push((kind, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

async fn full_loop(world: common::World) {
    let server = start(world).await;
    let client = reqwest::Client::new();
    let base = &server.base;
    assert_eq!(client.get(format!("{base}/health")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{base}/ready")).send().await.unwrap().status(), 200);
    // Upload the data, then submit a job on it.
    let rows: String = common::rows(24).iter().map(|r| r.to_string() + "\n").collect();
    let ds: Value =
        client.post(format!("{base}/v1/datasets?name=adds")).body(rows).send().await.unwrap().json().await.unwrap();
    let mut body = common::job_body();
    body["dataset"] = ds["id"].clone();
    let resp = client.post(format!("{base}/v1/optimizations")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let job: Value = resp.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let events = follow(&client, &format!("{base}/v1/optimizations/{id}/events"), None).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"queued"), "{kinds:?}");
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"result"), "{kinds:?}");
    let (_, last) = events.last().unwrap();
    assert_eq!(last["id"], id.as_str());
    assert_eq!(last["data"]["progress"], 1.0);
    for (_, e) in &events {
        assert!(e["timestamp"].is_string() && e["data"].is_object(), "{e}");
    }
    // A client reconnecting after event 1 gets the rest, the same.
    let again = follow(&client, &format!("{base}/v1/optimizations/{id}/events"), Some(1)).await;
    assert_eq!(again.len(), events.len() - 1);
    let done: Value = client.get(format!("{base}/v1/optimizations/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let result = &done["result"];
    assert!(result["final_score"].as_f64().unwrap() >= result["baseline_score"].as_f64().unwrap(), "{result}");
    assert!(result["significance"].is_object(), "{result}");
    let version = result["registered"]["version"].as_i64().expect("registered");
    assert_eq!(result["registered"]["name"], "add");
    // With a completed job behind it, a new job gets an estimated completion time.
    let next: Value =
        client.post(format!("{base}/v1/optimizations")).json(&body).send().await.unwrap().json().await.unwrap();
    assert!(next["estimated_completion"].as_str().is_some_and(|t| t.ends_with('Z')), "{next}");
    client.delete(format!("{base}/v1/optimizations/{}", next["id"].as_str().unwrap())).send().await.unwrap();
    let versions: Value =
        client.get(format!("{base}/v1/programs/add/versions")).send().await.unwrap().json().await.unwrap();
    assert!(versions["versions"].as_array().unwrap().iter().any(|v| v["version"] == version));
    // The registration's alias move names the job that made it.
    let log: Value = client.get(format!("{base}/v1/programs/add/aliases")).send().await.unwrap().json().await.unwrap();
    let by_job = log["moves"].as_array().unwrap().iter().find(|m| m["to_version"] == version).expect("moved");
    assert_eq!(by_job["actor"], format!("job {id}"), "{log}");
    // Serve predictions and collect feedback.
    let p: Value = client
        .post(format!("{base}/v1/programs/add/predict"))
        .json(&json!({"inputs": {"question": "What is 3 + 3?"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(p["outputs"]["answer"].is_number(), "{p}");
    let pid = p["prediction_id"].as_i64().unwrap();
    let fb = client
        .post(format!("{base}/v1/predictions/{pid}/feedback"))
        .json(&json!({"score": 0.0, "correct_outputs": {"answer": 6}, "comment": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fb.status(), 201);
    let queue = server.world.store.feedback_examples(Some("add")).await.unwrap();
    assert_eq!(queue.len(), 1);
    // The gateway, through an OpenAI SDK.
    let config = OpenAIConfig::new().with_api_base(format!("{base}/v1")).with_api_key("unused");
    let openai = async_openai::Client::with_config(config);
    let request = CreateChatCompletionRequestArgs::default()
        .model("promptsmith/add@production")
        .messages([ChatCompletionRequestUserMessageArgs::default().content("What is 2 + 5?").build().unwrap().into()])
        .build()
        .unwrap();
    let reply = openai.chat().create(request).await.unwrap();
    assert_eq!(reply.choices[0].message.content.as_deref(), Some("7"));
    let stats = server.world.store.query_evaluations(&Default::default()).await.unwrap();
    assert!(stats.len() >= 2, "the gateway call is stored like a predict");
    // Graceful shutdown.
    server.stop.cancel();
    server.handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn sqlite_submit_follow_register_predict_feedback_gateway() {
    full_loop(common::world(ServerSettings::default()).await).await;
}

#[tokio::test]
async fn postgres_submit_follow_register_predict_feedback_gateway() {
    let url = common::fresh_postgres().await;
    full_loop(common::world_at(tempfile::tempdir().unwrap(), url, ServerSettings::default()).await).await;
}

/// Reads a WebSocket to its close frame; returns the messages and the close code.
async fn follow_ws(
    url: &str,
) -> (Vec<Value>, Option<tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode>) {
    use tokio_tungstenite::tungstenite::Message;
    let (mut socket, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(resp.status(), 101);
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next()).await.expect("the job ends in time");
        match next {
            Some(Ok(Message::Text(t))) => messages.push(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                // The close reply: the stream then ends.
                while let Some(Ok(_)) = socket.next().await {}
                return (messages, frame.map(|f| f.code));
            }
            Some(Ok(_)) => {}
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn sqlite_websocket_follows_a_job_to_its_result_and_replays_after() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let server = start(common::world(ServerSettings::default()).await).await;
    let client = reqwest::Client::new();
    let base = &server.base;
    let ws = base.replace("http://", "ws://");
    // Unknown jobs are refused before the upgrade.
    match tokio_tungstenite::connect_async(format!("{ws}/ws/optimizations/job_nosuch")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404),
        other => panic!("expected a 404 answer: {other:?}"),
    }
    let resp = client.post(format!("{base}/v1/optimizations")).json(&common::job_body()).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let job: Value = resp.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let (messages, code) = follow_ws(&format!("{ws}/ws/optimizations/{id}")).await;
    assert_eq!(code, Some(CloseCode::Normal));
    let kinds: Vec<&str> = messages.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"queued"), "{kinds:?}");
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"result"), "{kinds:?}");
    let seqs: Vec<i64> = messages.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for m in &messages {
        assert_eq!(m["id"], id.as_str());
        assert!(m["timestamp"].is_string() && m["data"].is_object(), "{m}");
    }
    assert_eq!(messages.last().unwrap()["data"]["progress"], 1.0);
    // The same messages as the SSE endpoint's.
    let sse = follow(&client, &format!("{base}/v1/optimizations/{id}/events"), None).await;
    assert_eq!(sse.into_iter().map(|(_, v)| v).collect::<Vec<_>>(), messages);
    // ?after=N replays from there on: the messages after sequence number N.
    let n = seqs[1];
    let (again, code) = follow_ws(&format!("{ws}/ws/optimizations/{id}?after={n}")).await;
    assert_eq!(code, Some(CloseCode::Normal));
    assert_eq!(again, messages[2..].to_vec());
    // The WebSocket and the requests are in the metrics, by route template.
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let line = |route: &str, status: &str| {
        text.lines().any(|l| {
            l.starts_with("promptsmith_http_requests_total{")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(line("/ws/optimizations/{id}", "101") && line("/ws/optimizations/{id}", "404"), "{text}");
    assert!(line("/v1/optimizations/{id}/events", "200"), "{text}");
    assert!(text.contains("promptsmith_jobs{status=\"completed\"} 1"), "{text}");
    server.stop.cancel();
    server.handle.await.unwrap().unwrap();
}

/// Several optimizers in one job: each runs under the one budget, the progress names the one
/// running, and the result reports every member and the one kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_several_algorithms_reports_each_and_keeps_the_best() {
    let server = start(common::world(ServerSettings::default()).await).await;
    let client = reqwest::Client::new();
    let base = &server.base;
    let mut body = common::job_body();
    body.as_object_mut().unwrap().remove("optimizer");
    body["algorithms"] = json!([{"name": "labeled", "k": 1}, {"name": "bootstrap", "max_bootstrapped_demos": 2, "max_labeled_demos": 2}]);
    let job: Value =
        client.post(format!("{base}/v1/optimizations")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(job["algorithm"], "portfolio", "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let events = follow(&client, &format!("{base}/v1/optimizations/{id}/events"), None).await;
    let running: Vec<&str> = events.iter().filter_map(|(_, e)| e["data"]["algorithm"].as_str()).collect();
    assert!(running.contains(&"labeled") && running.contains(&"bootstrap"), "{running:?}");
    let done: Value = client.get(format!("{base}/v1/optimizations/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let result = &done["result"]["algorithms"];
    let runs = result["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{result}");
    let best = runs.iter().map(|r| r["val_score"].as_f64().unwrap()).fold(f64::MIN, f64::max);
    assert_eq!(done["result"]["final_val"].as_f64().unwrap(), best, "{done}");
    assert!(result["best"] == "labeled" || result["best"] == "bootstrap", "{result}");
    server.stop.cancel();
    server.handle.await.unwrap().unwrap();
}
