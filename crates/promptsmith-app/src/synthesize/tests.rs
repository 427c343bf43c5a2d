#![allow(clippy::unwrap_used)]

use super::*;
use promptsmith_core::{LmError, Role};
use promptsmith_lm::ScriptedLm;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

const SEEDS: &[(&str, &str)] = &[
    ("I was charged twice for one coffee", "billing"),
    ("Where can I find my card's PIN", "card"),
    ("Please refund the broken headphones", "billing"),
];

struct Files {
    _dir: tempfile::TempDir,
    program: PathBuf,
    seeds: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.json");
    let spec = json!({"name": "tickets", "predictors": [{"name": "classify", "module": "predict",
        "signature": "query -> label: enum(billing, card)", "instruction": "Route the support ticket."}]});
    std::fs::write(&program, spec.to_string()).unwrap();
    let seeds = dir.path().join("seeds.jsonl");
    let lines: Vec<String> = SEEDS.iter().map(|(q, l)| json!({"query": q, "label": l}).to_string()).collect();
    std::fs::write(&seeds, lines.join("\n")).unwrap();
    Files { _dir: dir, program, seeds }
}

fn request(f: &Files, n: usize) -> SynthesizeRequest {
    let mut r =
        SynthesizeRequest::new(f.program.display().to_string(), DataRequest::named(f.seeds.display().to_string()), n);
    r.per_call = 3;
    r
}

/// Answers each call with rows that carry the labels asked for, numbered by a counter, plus a
/// copy of a seed, a near-copy of the first row, an invalid label and a one-word input.
fn writer() -> ScriptedLm {
    let counter = AtomicUsize::new(0);
    ScriptedLm::from_fn(move |req| {
        let user = &req.messages.iter().find(|m| m.role == Role::User).unwrap().content;
        let labels = user.split("in this order: ").nth(1).unwrap().split('.').next().unwrap().to_string();
        let mut rows: Vec<serde_json::Value> = labels
            .split(", ")
            .map(|l| {
                let k = counter.fetch_add(1, Ordering::SeqCst);
                json!({"query": format!("ticket number {k} about a {l} question that needs routing"), "label": l})
            })
            .collect();
        rows.push(json!({"query": SEEDS[0].0, "label": "billing"}));
        rows.push(
            json!({"query": "ticket number 0 about a billing question that needs routing today", "label": "billing"}),
        );
        rows.push(json!({"query": "a question about loans and interest", "label": "loans"}));
        rows.push(json!({"query": "card", "label": "card"}));
        format!("Here you go:\n{}", serde_json::Value::Array(rows))
    })
}

async fn synthesize(req: SynthesizeRequest, lm: &ScriptedLm) -> Result<Synthesis> {
    let service = SynthesizeService::default();
    let prepared = service.prepare(req).await?;
    service.run(prepared, lm, 2, &|_| {}).await
}

#[tokio::test]
async fn keeps_valid_new_rows_balanced_across_labels_and_reports_every_drop() {
    let f = files();
    let lm = writer();
    let s = synthesize(request(&f, 8), &lm).await.unwrap();
    assert_eq!(s.rows.len(), 8);
    assert_eq!(s.report.kept, 8);
    assert_eq!(s.report.labels, BTreeMap::from([("billing".to_string(), 4), ("card".to_string(), 4)]));
    for key in ["copies_a_seed", "near_duplicate", "invalid_value", "low_quality"] {
        assert!(s.report.dropped.get(key).copied().unwrap_or(0) >= 1, "{key}: {:?}", s.report.dropped);
    }
    assert_eq!(s.report.calls, lm.calls());
    // Three calls: 3 + 3 rows asked for in the first round, the last 2 in the second.
    assert_eq!(s.report.calls, 3);
    assert_eq!(s.report.generated, (3 + 4) + (3 + 4) + (2 + 4));
    let dropped: usize = s.report.dropped.values().sum();
    assert_eq!(s.report.generated, s.report.kept + dropped + s.report.surplus);
    let low = s.report.dropped_examples.iter().find(|d| d.reason == "low_quality").unwrap();
    assert!(low.detail.contains("weakest part length_in_range 0.00"), "{low:?}");
    let first = lm.requests()[0].clone();
    assert_eq!(first.seed, Some(0));
    assert!(first.messages[0].content.contains("Route the support ticket."));
}

#[tokio::test]
async fn the_same_seed_writes_the_same_rows() {
    let f = files();
    let a = synthesize(request(&f, 6), &writer()).await.unwrap();
    let b = synthesize(request(&f, 6), &writer()).await.unwrap();
    assert_eq!(a, b);
}

#[tokio::test]
async fn stops_at_the_call_limit_and_says_so() {
    let f = files();
    let mut req = request(&f, 5);
    req.max_calls = Some(3);
    let lm = ScriptedLm::from_fn(|_| "I cannot help with that.".to_string());
    let s = synthesize(req, &lm).await.unwrap();
    assert_eq!((s.rows.len(), s.report.calls, s.report.unreadable_answers), (0, 3, 3));
    assert!(s.report.stopped.as_deref().unwrap().contains("3 calls made"), "{:?}", s.report.stopped);
}

#[tokio::test]
async fn fails_when_every_call_fails() {
    let f = files();
    let lm = ScriptedLm::from_result_fn(|_| {
        Err(LmError::Connect { url: "http://127.0.0.1:9".into(), message: "refused".into() })
    });
    let e = synthesize(request(&f, 5), &lm).await.unwrap_err();
    assert!(e.to_string().contains("every LM call failed"), "{e}");
}

#[tokio::test]
async fn bad_requests_and_seeds_are_refused_before_any_call() {
    let f = files();
    let mut req = request(&f, 0);
    let e = SynthesizeService::default().prepare(req.clone()).await.unwrap_err();
    assert!(e.to_string().contains("--n 0"), "{e}");
    req.n = 5;
    std::fs::write(&f.seeds, "{\"query\": \"a ticket about my card\"}\n").unwrap();
    let e = SynthesizeService::default().prepare(req.clone()).await.unwrap_err();
    assert!(e.to_string().contains("label none of the program's outputs (label)"), "{e}");
    std::fs::write(&f.seeds, "{\"query\": \"a ticket\", \"label\": \"card\"}\n{\"query\": \"b\", \"label\": \"x\"}\n")
        .unwrap();
    let e = SynthesizeService::default().prepare(req).await.unwrap_err();
    assert!(e.to_string().contains("example 2: field 'label'"), "{e}");
}

#[tokio::test]
async fn writes_jsonl() {
    let f = files();
    let s = synthesize(request(&f, 3), &writer()).await.unwrap();
    let out = f.seeds.with_file_name("out.jsonl");
    s.write_jsonl(&out).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["label"].is_string()));
}
