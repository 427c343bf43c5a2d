//! Service benchmark (BENCHMARKS.md, "Service"): predictions over loopback HTTP at several
//! concurrencies against a 0 ms scripted model, and optimization jobs through the queue.
//!
//! ```text
//! cargo run --release -p promptsmith-server --example service_bench -- predict DATABASE_URL [N]
//! cargo run --release -p promptsmith-server --example service_bench -- jobs DATABASE_URL [JOBS] [WORKERS] [SLOTS]
//! ```
//!
//! `predict` serves `N` predictions (default 20,000; 2,000 at concurrency 1) at concurrency 1,
//! 16, 256 and 1,000 and reports throughput, the client's round trip (p50/p99), the time in
//! the server (its `Server-Timing` header: from the request's arrival at the router to the
//! response's head, all of it promptsmith's with a 0 ms model) and the latency added by
//! promptsmith around the program (server time minus the time in the program), then checks that
//! every acknowledged prediction is in the store. `jobs` submits JOBS optimization jobs at once (default 100) to WORKERS in-process
//! workers with SLOTS slots each (default 1 worker, 10 slots), reports jobs/minute, then submits
//! past the queue limit and reports how many were turned away with 503.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use promptsmith_app::jobs::{JobService, QueueLimits, Worker, WorkerConfig};
use promptsmith_app::{StoreTarget, Tenant};
use promptsmith_core::{ChatRequest, LanguageModel, ProgramSpec};
use promptsmith_lm::{LmStack, ScriptedLm};
use promptsmith_server::{serve, ServeConfig, ServerSettings};
use promptsmith_store::{JobStatus, NewVersion, Store};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The allocator the `promptsmith` binary serves with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn answer(req: &ChatRequest) -> String {
    let last = &req.messages.last().map(|m| m.content.clone()).unwrap_or_default();
    let q = last.split("[[ ## question ## ]]").nth(1).unwrap_or("").trim().to_string();
    let nums: Vec<i64> = q.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let (a, b) = (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0));
    let demos = req.messages.len().saturating_sub(2) / 2;
    let v = if a % 2 == 0 || demos >= 2 { a + b } else { a + b + 1 };
    format!("[[ ## answer ## ]]\n{v}\n\n[[ ## completed ## ]]")
}

fn stack() -> Arc<LmStack> {
    let lm = ScriptedLm::from_fn(answer).with_model_name("scripted");
    Arc::new(LmStack::from_models(Arc::new(lm) as Arc<dyn LanguageModel>, [], 8))
}

async fn setup(url: &str) -> Store {
    let store = Store::open(url).await.unwrap();
    let spec = ProgramSpec::parse(
        r#"{"name": "add", "predictors": [{"name": "solve", "signature": "question -> answer: int"}]}"#,
        false,
        "bench",
    )
    .unwrap();
    let state = spec.build("bench").unwrap().state();
    let v = store.register_version(&NewVersion::new("add", spec, state, "bench")).await.unwrap();
    store.activate("add", v.version, "bench", "bench").await.unwrap();
    store
}

/// The server's own time from its `Server-Timing: total;dur=MS` header.
fn server_ms(headers: &reqwest::header::HeaderMap) -> f64 {
    headers
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("dur=").nth(1))
        .and_then(|d| d.parse().ok())
        .unwrap_or(f64::NAN)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn predict_bench(url: &str, n: usize) {
    let store = setup(url).await;
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        settings: ServerSettings::default(),
        limits: QueueLimits::default(),
        worker: None,
        workdir: dir.path().join("work"),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let stop = CancellationToken::new();
    let server =
        tokio::spawn(serve(config, store.clone(), StoreTarget::new(Some(url.into())), stack(), stop.clone(), Some(tx)));
    let addr = rx.await.unwrap();
    let target = format!("http://{addr}/v1/programs/add/predict");
    let before = store.count_evaluations().await.unwrap();
    let mut acknowledged = 0usize;
    println!(
        "| concurrency | predictions | throughput (/s) | round trip p50 / p99 (ms) | server p50 / p99 (ms) | added p50 / p99 (ms) | errors |"
    );
    println!("|---|---|---|---|---|---|---|");
    for c in [1usize, 16, 256, 1000] {
        let count = if c == 1 { n / 10 } else { n };
        let client = reqwest::Client::builder().pool_max_idle_per_host(c).build().unwrap();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..c {
            let (client, target, next) = (client.clone(), target.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0usize;
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                    let i = lat.len() + errors;
                    let body = json!({"inputs": {"question": format!("What is {} + 2?", i % 50)}});
                    let t = Instant::now();
                    match client.post(&target).json(&body).send().await {
                        Ok(r) if r.status().is_success() => {
                            let server = server_ms(r.headers());
                            let v: Value = r.json().await.unwrap();
                            let rtt = t.elapsed().as_secs_f64() * 1000.0;
                            let inside = v["latency_ms"].as_f64().unwrap_or(0.0);
                            lat.push((rtt, server, (server - inside).max(0.0)));
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            all.extend(l);
            errors += e;
        }
        let secs = started.elapsed().as_secs_f64();
        acknowledged += all.len();
        let sorted = |f: fn(&(f64, f64, f64)) -> f64| {
            let mut v: Vec<f64> = all.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let (rtt, server, added) = (sorted(|x| x.0), sorted(|x| x.1), sorted(|x| x.2));
        println!(
            "| {c} | {} | {:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {errors} |",
            all.len(),
            all.len() as f64 / secs,
            pct(&rtt, 0.5),
            pct(&rtt, 0.99),
            pct(&server, 0.5),
            pct(&server, 0.99),
            pct(&added, 0.5),
            pct(&added, 0.99)
        );
    }
    let stored = store.count_evaluations().await.unwrap() - before;
    println!(
        "\nacknowledged {acknowledged}, stored {stored}: {}",
        if stored as usize == acknowledged { "all there" } else { "MISSING" }
    );
    stop.cancel();
    server.await.unwrap().unwrap();
}

fn job_request() -> promptsmith_app::jobs::JobRequest {
    let rows: Vec<Value> =
        (0..24).map(|i| json!({"question": format!("What is {} + {}?", i, i % 7), "answer": i + i % 7})).collect();
    serde_json::from_value(json!({
        "program": "add@production",
        "dataset": rows,
        "optimizer": {"name": "random_search", "bootstrap": {"max_bootstrapped_demos": 2, "max_labeled_demos": 2}, "num_candidate_programs": 3},
        "metric": "numeric_match",
        "val_size": 10,
        "test_size": 6,
        "register": {"name": "add", "promotion_margin": 1000.0}
    }))
    .unwrap()
}

async fn jobs_bench(url: &str, jobs: usize, workers: usize, slots: usize) {
    let store = setup(url).await;
    let dir = tempfile::tempdir().unwrap();
    let target = StoreTarget::new(Some(url.into()));
    let limits = QueueLimits { max_queued: jobs as i64, ..QueueLimits::default() };
    let service = JobService::new(store.clone(), target.clone(), limits, dir.path().join("submit"));
    let started = Instant::now();
    for _ in 0..jobs {
        service.submit(&Tenant::default(), job_request(), &Default::default()).await.unwrap();
    }
    let submitted = started.elapsed().as_secs_f64();
    // Past the limit: every further submission is turned away while the queue is full.
    let mut refused = 0;
    for _ in 0..20 {
        if let Err(e) = service.submit(&Tenant::default(), job_request(), &Default::default()).await {
            assert_eq!(e.kind, promptsmith_core::ErrorKind::LimitExceeded);
            refused += 1;
        }
    }
    let stop = CancellationToken::new();
    let run_started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let mut config = WorkerConfig::new(dir.path().join("work"), slots);
        config.poll = Duration::from_millis(50);
        let w = Worker::new(store.clone(), target.clone(), stack(), config).woken_by(service.wake());
        let s = stop.clone();
        handles.push(tokio::spawn(async move { w.run(s).await }));
    }
    loop {
        let c = store.job_counts(None).await.unwrap();
        let done = c[&JobStatus::Completed] + c[&JobStatus::Failed] + c[&JobStatus::Cancelled];
        if done as usize >= jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = run_started.elapsed().as_secs_f64();
    stop.cancel();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let c = store.job_counts(None).await.unwrap();
    println!(
        "{jobs} jobs on {} with {workers} worker(s) x {slots} slots: submitted in {submitted:.1} s, ran in {secs:.1} s = {:.0} jobs/minute; completed {}, failed {}; {refused}/20 submissions past the limit of {jobs} queued answered limit_exceeded",
        store.url(),
        jobs as f64 / secs * 60.0,
        c[&JobStatus::Completed],
        c[&JobStatus::Failed]
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(2).expect("usage: service_bench predict|jobs DATABASE_URL ...").clone();
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.get(1).map(String::as_str) {
        Some("predict") => predict_bench(&url, num(3, 20_000)).await,
        Some("jobs") => jobs_bench(&url, num(3, 100), num(4, 1), num(5, 10)).await,
        _ => eprintln!("usage: service_bench predict|jobs DATABASE_URL ..."),
    }
}
