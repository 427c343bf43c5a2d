//! The shipped ready-made examples load and plan: each judge, the rubric scorer (with the
//! `judge` / `rubric` metrics on their own labels) and the classification example, checked by
//! `optimize --dry-run` without any model call.

#![allow(clippy::unwrap_used)]

mod common;

use common::{promptsmith, text};

fn plans(dir: &str, metric: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (program, train, test) =
        (format!("{dir}/program.json"), format!("{dir}/data/train.jsonl"), format!("{dir}/data/test.jsonl"));
    let args = [
        "--lm-base-url",
        "http://127.0.0.1:9",
        "optimize",
        "--program",
        &program,
        "--data",
        &train,
        "--test-data",
        &test,
        "--metric",
        metric,
        "--auto",
        "light",
        "--no-store",
        "--dry-run",
    ];
    let out = promptsmith(&args, tmp.path());
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{dir}: {err}");
    assert!(stdout.contains("planned LM calls (upper bounds):"), "{dir}: {stdout}");
}

#[test]
fn the_judges_and_the_rubric_scorer_plan_without_a_model() {
    for judge in ["relevance", "faithfulness", "minimality", "safety"] {
        plans(&format!("examples/judges/{judge}"), "judge");
    }
    plans("examples/rubric", "rubric");
}
