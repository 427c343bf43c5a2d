//! What `eval` leaves in its run directory: results streamed to results.jsonl (or converted to
//! results.csv), a report.json that names the results file instead of repeating it, and the
//! store filled from the results file. No model: the evaluation replays a cassette recorded
//! from the local model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::root;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn replay_eval(tmp: &Path, out: &Path, extra: &[&str]) -> Output {
    let db = format!("sqlite://{}", tmp.join("evals.db").display());
    Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args([
            "eval",
            "--program",
            "examples/gsm8k/program.json",
            "--data",
            "crates/promptsmith/tests/data/gsm8k_easy5.jsonl",
            "--metric",
            "numeric_match",
            "--replay",
            "crates/promptsmith/tests/data/gsm8k_easy5.cassette.jsonl",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .args(extra)
        .current_dir(root())
        .env("PROMPTSMITH_CACHE_DIR", tmp.join("cache"))
        .env("PROMPTSMITH_DATABASE_URL", &db)
        .env_remove("PROMPTSMITH_LM_BASE_URL")
        .env_remove("PROMPTSMITH_MODEL")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "command failed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn results_stream_to_jsonl_and_the_report_only_names_them() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let stdout = ok(&replay_eval(tmp.path(), &run, &[]));
    assert!(stdout.contains("stored: 5 evaluations of gsm8k"), "{stdout}");
    let report = report(&run);
    assert_eq!((report["n"].as_u64(), report["results_file"].as_str()), (Some(5), Some("results.jsonl")));
    assert!(report.get("results").is_none() && report.get("scores").is_none(), "{report}");
    let lines: Vec<Value> = std::fs::read_to_string(run.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // In example order, every one scored.
    assert_eq!(lines.iter().map(|r| r["index"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert!(lines.iter().all(|r| r["score"] == 1.0));
    let mut files: Vec<String> =
        std::fs::read_dir(&run).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, vec!["manifest.json", "report.json", "results.jsonl"]);
}

#[test]
fn csv_results_are_made_from_a_spool_that_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let stdout = ok(&replay_eval(tmp.path(), &run, &["--results-format", "csv"]));
    assert!(stdout.contains("stored: 5 evaluations of gsm8k"), "the store is filled from the spool: {stdout}");
    assert_eq!(report(&run)["results_file"], "results.csv");
    let mut files: Vec<String> =
        std::fs::read_dir(&run).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, vec!["manifest.json", "report.json", "results.csv"]);
    let csv = std::fs::read_to_string(run.join("results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[..2], &["index", "input.question"]);
    assert!(header.contains(&"output.answer") && header.contains(&"score"), "{header:?}");
    assert!(csv.contains("\n4,"), "the fifth example's row: {csv}");

    // Without the store nothing is recorded, and the file is the same but for latencies.
    let run2 = tmp.path().join("run2");
    let stdout = ok(&replay_eval(tmp.path(), &run2, &["--results-format", "csv", "--no-store"]));
    assert!(!stdout.contains("stored:"), "{stdout}");
    let csv2 = std::fs::read_to_string(run2.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), csv2.lines().count());
    assert!(!run2.join(".results.jsonl.tmp").exists());
}
