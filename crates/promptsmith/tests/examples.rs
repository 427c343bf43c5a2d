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
    plans("examples/modules", "numeric_match");
}

#[test]
fn the_four_judges_plan_as_one_family() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "--lm-base-url",
        "http://127.0.0.1:9",
        "optimize",
        "--program",
        "examples/judges",
        "--metric",
        "judge",
        "--auto",
        "light",
        "--max-calls",
        "2000",
        "--no-store",
        "--dry-run",
    ];
    let out = promptsmith(&args, tmp.path());
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    for judge in ["faithfulness", "minimality", "relevance", "safety"] {
        assert!(stdout.contains(&format!("== {judge} (examples/judges/{judge}/program.json)")), "{stdout}");
    }
    assert!(stdout.contains("the family shares one budget"), "{stdout}");
    // A member without its training data, or a directory without members, is refused with the
    // reason before anything runs.
    let out = promptsmith(&["optimize", "--program", "examples", "--metric", "judge", "--dry-run"], tmp.path());
    let (_, err) = text(&out);
    assert!(!out.status.success() && err.contains("member 'gsm8k' has no data/train.jsonl"), "{err}");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = promptsmith(&["optimize", "--program", empty.to_str().unwrap(), "--dry-run"], tmp.path());
    let (_, err) = text(&out);
    assert!(!out.status.success() && err.contains("no subdirectory holds a program.json"), "{err}");
}

#[test]
fn the_extraction_and_hotpotqa_examples_plan_without_a_model() {
    // The metric's field defaults to the program's last output: `entities`, `relations`, and
    // the two-step HotpotQA program's `answer`.
    plans("examples/entities", "set_f1");
    plans("examples/relations", "set_f1");
    plans("examples/hotpotqa", "f1");
}
