//! `promptsmith data synthesize`: refused seeds before any model call, and a small run on the
//! real local model whose every kept row has the program's fields.

#![allow(clippy::unwrap_used)]

mod common;

use common::{lm_url, promptsmith, text};
use serde_json::Value;

/// The first `n` rows of the banking77 example's training data, as a seeds file in `dir`.
fn seeds(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let train = std::fs::read_to_string(common::root().join("examples/banking77/data/train.jsonl")).unwrap();
    let path = dir.join("seeds.jsonl");
    std::fs::write(&path, train.lines().take(n).collect::<Vec<_>>().join("\n")).unwrap();
    path
}

#[test]
fn seeds_without_the_programs_fields_are_refused_before_any_call() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("seeds.jsonl");
    std::fs::write(&bad, "{\"query\": \"where is my card\"}\n").unwrap();
    let out = promptsmith(
        &[
            "data",
            "synthesize",
            "--program",
            "examples/banking77/program.json",
            "--seeds",
            bad.to_str().unwrap(),
            "--n",
            "5",
            "--out",
            tmp.path().join("out.jsonl").to_str().unwrap(),
            "--lm-base-url",
            "http://127.0.0.1:9",
        ],
        tmp.path(),
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("the seeds label none of the program's outputs (label)"), "{stderr}");
    assert!(!tmp.path().join("out.jsonl").exists());
}

#[test]
fn synthesizes_banking_queries_on_the_local_model() {
    let url = lm_url();
    let tmp = tempfile::tempdir().unwrap();
    let seeds = seeds(tmp.path(), 6);
    let out_path = tmp.path().join("synthetic.jsonl");
    let out = promptsmith(
        &[
            "data",
            "synthesize",
            "--program",
            "examples/banking77/program.json",
            "--seeds",
            seeds.to_str().unwrap(),
            "--n",
            "5",
            "--max-calls",
            "4",
            "--out",
            out_path.to_str().unwrap(),
            "--lm-base-url",
            &url,
            "--quiet",
        ],
        tmp.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("synthetic.jsonl.report.json")).unwrap())
            .unwrap();
    let rows: Vec<Value> =
        std::fs::read_to_string(&out_path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!rows.is_empty(), "no row kept: {report}");
    assert_eq!(report["kept"].as_u64().unwrap() as usize, rows.len());
    assert!(report["calls"].as_u64().unwrap() <= 4);
    let seed_text = std::fs::read_to_string(&seeds).unwrap().to_lowercase();
    for row in &rows {
        let query = row["query"].as_str().unwrap();
        assert!(query.split_whitespace().count() >= 3, "{row}");
        assert!(!seed_text.contains(&query.to_lowercase()), "copies a seed: {row}");
        assert!(!row["label"].as_str().unwrap().trim().is_empty(), "{row}");
    }
    assert!(stdout.contains(&format!("wrote {} examples", rows.len())), "{stdout}");
}
