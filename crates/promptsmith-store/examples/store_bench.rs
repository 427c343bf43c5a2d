//! Store benchmark: batched evaluation inserts up to N rows (default 1,000,000), then the main
//! queries at that size, on whichever database the URL names.
//!
//! ```text
//! cargo run --release -p promptsmith-store --example store_bench -- sqlite:///tmp/bench.db
//! cargo run --release -p promptsmith-store --example store_bench -- postgres://…/db [ROWS] [BATCH]
//! ```
//!
//! Use an empty database: rows go to 5 programs × 4 versions spread over 30 days, with inputs,
//! outputs, labels, metrics and metadata of realistic size. After the load the planner
//! statistics are refreshed once (`Store::analyze`, what PostgreSQL's autovacuum does on its
//! own), then each query runs 30 times. Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use promptsmith_store::{EvalQuery, NewEvaluation, Store};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

const PROGRAMS: i64 = 5;
const VERSIONS: i64 = 4;
const DAY_MS: i64 = 86_400_000;
const SPAN_DAYS: i64 = 30;
const T0: i64 = 1_790_000_000_000;

fn row(i: i64, rows: i64) -> NewEvaluation {
    // Deterministic pseudo-random numbers from the row index.
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xA5A5_5A5A;
    let program = format!("program{}", i % PROGRAMS);
    let version = 1 + (i / PROGRAMS) % VERSIONS;
    let mut inputs = Map::new();
    inputs.insert(
        "question".into(),
        json!(format!("Natalia sold clips to {} of her friends in April, and then she sold half as many in May. How many in all? (#{i})", h % 97)),
    );
    let mut outputs = Map::new();
    outputs.insert("reasoning".into(), json!("She sold 48 in April and 24 in May, so 72 in all."));
    outputs.insert("answer".into(), json!((h % 1000) as f64));
    let mut labels = Map::new();
    labels.insert("answer".into(), json!(72.0));
    let score = if h % 10 < 7 { 1.0 } else { 0.0 };
    let mut metrics = Map::new();
    metrics.insert("numeric_match".into(), json!(score));
    NewEvaluation {
        program,
        version: Some(version),
        run_id: None,
        example_index: Some(i % 1000),
        inputs,
        outputs: Some(outputs),
        labels: Some(labels),
        score,
        metrics: Some(metrics),
        judge_reasoning: None,
        error: None,
        latency_ms: 200 + (h % 1800) as i64,
        prompt_tokens: 300 + (h % 200) as i64,
        completion_tokens: 40 + (h % 120) as i64,
        cost_usd: 0.0002,
        metadata: Some(json!({"model": "qwen2.5-coder-0.5b", "seed": 7})),
        // Rows arrive in time order over the span.
        created_at: Some(T0 + i * (SPAN_DAYS * DAY_MS) / rows),
        experiment_id: None,
        arm: None,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn time_query<F, Fut, T>(reps: usize, mut f: F) -> (f64, f64, T)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(reps);
    let mut last = None;
    for r in 0..reps {
        let t = Instant::now();
        let out = f(r).await;
        times.push(ms(t.elapsed()));
        last = Some(out);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    (median, worst, last.unwrap())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("usage: store_bench DATABASE_URL [ROWS] [BATCH]");
    let rows: i64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let batch: i64 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(1_000);
    let store = Store::open(url).await.unwrap();
    assert_eq!(store.count_evaluations().await.unwrap(), 0, "use an empty database");
    eprintln!("{:?} store at {}: inserting {rows} evaluations in batches of {batch}", store.kind(), store.url());

    let start = Instant::now();
    let mut done = 0;
    let mut slowest_batch = Duration::ZERO;
    while done < rows {
        let n = batch.min(rows - done);
        let chunk: Vec<NewEvaluation> = (done..done + n).map(|i| row(i, rows)).collect();
        let t = Instant::now();
        store.insert_evaluations(&chunk).await.unwrap();
        slowest_batch = slowest_batch.max(t.elapsed());
        done += n;
        if done % 100_000 == 0 {
            eprintln!("  {done} rows, {:.0} rows/s so far", done as f64 / start.elapsed().as_secs_f64());
        }
    }
    let insert_secs = start.elapsed().as_secs_f64();
    let total = store.count_evaluations().await.unwrap();
    assert_eq!(total, rows);

    let t = Instant::now();
    store.analyze().await.unwrap();
    let analyze_secs = t.elapsed().as_secs_f64();

    let mut lines = Vec::new();
    lines.push(format!(
        "| batched inserts ({batch} rows/transaction) | {:.0} rows/s | {rows} rows in {insert_secs:.1} s; slowest batch {:.0} ms |",
        rows as f64 / insert_secs,
        ms(slowest_batch)
    ));
    lines.push(format!("| ANALYZE after the load (planner statistics) | {analyze_secs:.1} s | once |"));
    let reps = 30;
    let name = |r: usize| format!("program{}", r as i64 % PROGRAMS);
    let (med, worst, stats) = time_query(reps, |r| {
        let s = store.clone();
        let p = name(r);
        async move { s.version_stats(&p, Some(1 + r as i64 % VERSIONS)).await.unwrap().unwrap() }
    })
    .await;
    lines.push(format!("| per-version stats (n, mean, std, latency, tokens, cost) | {med:.2} ms | worst {worst:.2} ms; n = {} per version |", stats.n));
    let (med, worst, all) = time_query(reps, |r| {
        let s = store.clone();
        let p = name(r);
        async move { s.program_stats(&p).await.unwrap() }
    })
    .await;
    lines.push(format!(
        "| stats of every version of a program | {med:.2} ms | worst {worst:.2} ms; {} versions |",
        all.len()
    ));
    let window = |r: usize| T0 + (r as i64 * 7 % (SPAN_DAYS - 1)) * DAY_MS + 13 * 3_600_000;
    let (med, worst, got) = time_query(reps, |r| {
        let s = store.clone();
        let q = EvalQuery {
            program: Some(name(r)),
            since: Some(window(r)),
            until: Some(window(r) + 3_600_000),
            limit: Some(100),
            ..EvalQuery::default()
        };
        async move { s.query_evaluations(&q).await.unwrap() }
    })
    .await;
    lines.push(format!(
        "| time-range query (program, 1 h window, newest 100) | {med:.2} ms | worst {worst:.2} ms; {} rows returned |",
        got.len()
    ));
    let (med, worst, got) = time_query(reps, |r| {
        let s = store.clone();
        let q = EvalQuery {
            program: Some(name(r)),
            version: Some(Some(2)),
            since: Some(window(r)),
            until: Some(window(r) + DAY_MS),
            limit: Some(1000),
            ..EvalQuery::default()
        };
        async move { s.query_evaluations(&q).await.unwrap() }
    })
    .await;
    lines.push(format!("| time-range query (program + version, 1 day, up to 1000 rows) | {med:.2} ms | worst {worst:.2} ms; {} rows returned |", got.len()));
    let (med, worst, got) = time_query(reps, |r| {
        let s = store.clone();
        let q = EvalQuery {
            program: Some(name(r)),
            version: Some(Some(3)),
            min_score: Some(0.0),
            max_score: Some(0.5),
            limit: Some(100),
            ..EvalQuery::default()
        };
        async move { s.query_evaluations(&q).await.unwrap() }
    })
    .await;
    lines.push(format!("| score-range query (program + version, score ≤ 0.5, newest 100) | {med:.2} ms | worst {worst:.2} ms; {} rows returned |", got.len()));
    let (med, worst, snap) = time_query(10, |r| {
        let s = store.clone();
        let p = name(r);
        async move { s.take_snapshot(&p, Some(1), window(r), window(r) + DAY_MS).await.unwrap() }
    })
    .await;
    lines.push(format!("| performance snapshot (1 day: score, p50/p95 latency, cost) | {med:.2} ms | worst {worst:.2} ms; {} rows in the window |", snap.n));
    let (med, worst, got) = time_query(reps, |r| {
        let s = store.clone();
        async move { s.evaluation(1 + (r as i64 * 33_331) % rows).await.unwrap() }
    })
    .await;
    let _: Value = json!(got.id);
    lines.push(format!("| one evaluation by id | {med:.2} ms | worst {worst:.2} ms |"));

    println!("{:?}, {rows} evaluations ({}):", store.kind(), store.url());
    println!("| operation | median | notes |");
    println!("|---|---|---|");
    for l in lines {
        println!("{l}");
    }
}
