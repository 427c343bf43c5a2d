//! `GET /openapi.json` against the live server: schemathesis (from PyPI, installed by
//! `scripts/install-schemathesis.sh`; `scripts/test.sh` passes its path in
//! `PROMPTSMITH_TEST_SCHEMATHESIS`) generates requests for every operation from the document,
//! valid and invalid, sends them over loopback to `serve` on a real SQLite file, and checks that
//! no answer is a 5xx and every answer's status, content type and body fit the document.
//! Fails, never skips, without schemathesis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use promptsmith_app::jobs::{QueueLimits, WorkerConfig};
use promptsmith_app::StoreTarget;
use promptsmith_server::{serve, ServeConfig, ServerSettings};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn schemathesis() -> String {
    std::env::var("PROMPTSMITH_TEST_SCHEMATHESIS").ok().filter(|p| !p.trim().is_empty()).expect(
        "PROMPTSMITH_TEST_SCHEMATHESIS is not set: run scripts/install-schemathesis.sh and export the path it prints",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let bin = schemathesis();
    let world = common::world(ServerSettings::default()).await;
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
    let target = StoreTarget::new(Some(world.url.clone()));
    let handle = tokio::spawn(serve(config, world.store.clone(), target, lm, stop.clone(), Some(tx)));
    let base = format!("http://{}", rx.await.unwrap());

    // The document itself: OpenAPI 3.1 with every route.
    let doc: Value = reqwest::get(format!("{base}/openapi.json")).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    for path in ["/v1/optimizations", "/v1/programs/{name}/predict", "/v1/chat/completions", "/v1/datasets"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }

    // Real ids for the path parameters, so requests reach the handlers' logic, not only 404s.
    let ids = seed_data(&base).await;
    let config = world.dir.path().join("schemathesis.toml");
    std::fs::write(&config, config_toml(&ids)).unwrap();
    let report = world.dir.path().join("schemathesis");
    let output = tokio::process::Command::new(&bin)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{base}/openapi.json")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "40", "--seed", "7", "--workers", "2"])
        .args(["--request-timeout", "20", "--no-color", "--generation-database", "none"])
        .arg("--report-dir")
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(world.dir.path())
        .kill_on_drop(true)
        .output()
        .await
        .expect("cannot run schemathesis");
    stop.cancel();
    let _ = handle.await;
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis failed ({}):\n{out}\n{err}", output.status);
    // It tested every operation (none skipped for want of data).
    assert!(out.contains("passed"), "{out}");
}

/// Ids of a job, a dataset and a prediction made over the API.
struct Ids {
    job: String,
    dataset: String,
    prediction: i64,
}

async fn seed_data(base: &str) -> Ids {
    let client = reqwest::Client::new();
    let job: Value = client
        .post(format!("{base}/v1/optimizations"))
        .json(&common::job_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows: Vec<String> = common::rows(4).iter().map(Value::to_string).collect();
    let dataset: Value = client
        .post(format!("{base}/v1/datasets?name=sums"))
        .body(rows.join("\n"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prediction: Value = client
        .post(format!("{base}/v1/programs/add/predict"))
        .json(&serde_json::json!({"inputs": {"question": "What is 2 + 3?"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Ids {
        job: job["id"].as_str().unwrap().to_string(),
        dataset: dataset["id"].as_str().unwrap().to_string(),
        prediction: prediction["prediction_id"].as_i64().unwrap(),
    }
}

/// Schemathesis's settings: the program `add` and its version 1 everywhere a program is named,
/// and per operation the id it takes.
fn config_toml(ids: &Ids) -> String {
    let mut toml = String::from("parameters = { name = \"add\", version = \"1\", alias = \"staging\" }\n");
    let per_path = [
        ("/v1/optimizations/{id}", ids.job.clone()),
        ("/v1/optimizations/{id}/events", ids.job.clone()),
        ("/v1/optimizations/{id}/retry", ids.job.clone()),
        ("/ws/optimizations/{id}", ids.job.clone()),
        ("/v1/datasets/{id}", ids.dataset.clone()),
        ("/v1/predictions/{id}/feedback", ids.prediction.to_string()),
    ];
    for (path, id) in per_path {
        toml.push_str(&format!("\n[[operations]]\ninclude-path = \"{path}\"\nparameters = {{ id = \"{id}\" }}\n"));
    }
    toml
}
