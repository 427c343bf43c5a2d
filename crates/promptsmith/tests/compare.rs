//! End-to-end tests of `promptsmith compare`: per-example results files written here are
//! compared with no model at all (the expected p-values are SciPy's), bad input is a clear
//! error with a non-zero exit, and the evaluating mode runs from a recorded cassette.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{promptsmith, text};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

/// Writes a results file like `eval` does: one line per example with its inputs, labels and score.
fn write_results(path: &Path, scores: &[f64]) {
    write_results_for(path, scores, |i| format!("question {i}"));
}

fn write_results_for(path: &Path, scores: &[f64], question: impl Fn(usize) -> String) {
    let lines: Vec<String> = scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "index": i,
                "inputs": {"question": question(i)},
                "labels": {"answer": format!("{i}")},
                "prediction": {"answer": "x"},
                "score": s,
                "lm_calls": 1,
                "usage": {"prompt_tokens": 10, "completion_tokens": 2},
                "latency_ms": 5
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Paired 0/1 scores with the given counts of (both right, only A right, only B right, neither).
fn binary(both: usize, a_only: usize, b_only: usize, neither: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = vec![1.0; both + a_only];
    a.extend(vec![0.0; b_only + neither]);
    let mut b = vec![1.0; both];
    b.extend(vec![0.0; a_only]);
    b.extend(vec![1.0; b_only]);
    b.extend(vec![0.0; neither]);
    (a, b)
}

fn compare_files(dir: &Path, a: &[f64], b: &[f64], extra: &[&str]) -> Output {
    let (pa, pb) = (dir.join("old.jsonl"), dir.join("new.jsonl"));
    write_results(&pa, a);
    write_results(&pb, b);
    let mut args = vec!["compare", "--results", pa.to_str().unwrap(), "--results", pb.to_str().unwrap()];
    args.extend_from_slice(extra);
    promptsmith(&args, dir)
}

fn verdict_line(stdout: &str) -> &str {
    stdout.lines().find(|l| l.starts_with("verdict: ")).unwrap_or_else(|| panic!("no verdict in:\n{stdout}"))
}

#[test]
fn a_clear_winner_is_named_with_mcnemar() {
    let tmp = tempfile::tempdir().unwrap();
    // 30 both right, 3 only old right, 15 only new right, 12 neither.
    let (new, old) = binary(30, 15, 3, 12);
    let out = compare_files(tmp.path(), &old, &new, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("  A  old.jsonl   55.0%  (95% CI "), "{stdout}");
    assert!(stdout.contains("  B  new.jsonl   75.0%  (95% CI "), "{stdout}");
    assert!(stdout.contains("difference A - B: -20.0 points (95% paired bootstrap CI "), "{stdout}");
    // scipy.stats.binomtest(3, 18).pvalue = 0.007537841796875
    assert!(
        stdout.contains(
            "test: McNemar's exact test on 18 discordant examples (3 only A right, 15 only B right): p = 0.0075"
        ),
        "{stdout}"
    );
    let verdict = verdict_line(&stdout);
    assert!(verdict.starts_with("verdict: new.jsonl is better than old.jsonl by 20.0 points (95% CI "), "{verdict}");
    assert!(verdict.ends_with("McNemar's exact test p = 0.008 < 0.05)."), "{verdict}");
}

#[test]
fn no_significant_difference_says_how_many_examples_would_tell() {
    let tmp = tempfile::tempdir().unwrap();
    // 30 both, 10 only A, 7 only B, 13 neither: binomtest(7, 17).pvalue = 0.629.
    let (a, b) = binary(30, 10, 7, 13);
    let out = compare_files(tmp.path(), &a, &b, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let verdict = verdict_line(&stdout);
    assert!(
        verdict.starts_with(
            "verdict: No significant difference (McNemar's exact test p = 0.629 >= 0.05): old.jsonl - new.jsonl = +5.0 points"
        ),
        "{verdict}"
    );
    // Connor's formula with 17/60 discordant and a difference of 3/60, alpha 0.05, power 0.8.
    assert!(
        verdict
            .ends_with("detecting a difference of 5.0 points with 80% power would take about 888 examples (have 60)."),
        "{verdict}"
    );
}

#[test]
fn graded_scores_use_wilcoxon_and_run_directories_name_the_metric() {
    let tmp = tempfile::tempdir().unwrap();
    let a = [0.5, 0.75, 1.0, 0.25, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 1.0, 0.75];
    let b = [0.5, 0.5, 0.75, 0.5, 0.25, 1.0, 0.5, 0.5, 0.0, 0.0, 0.5, 0.5];
    for (name, scores) in [("run-a", &a[..]), ("run-b", &b[..])] {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        write_results(&dir.join("results.jsonl"), scores);
        std::fs::write(dir.join("report.json"), r#"{"metric": "f1", "n": 12}"#).unwrap();
    }
    let run_a = tmp.path().join("run-a");
    let results_b = tmp.path().join("run-b/results.jsonl");
    let out = promptsmith(
        &["compare", "--results", run_a.to_str().unwrap(), "--results", results_b.to_str().unwrap()],
        tmp.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("f1 on 12 paired examples\n"), "{stdout}");
    // scipy.stats.wilcoxon(a, b) = (statistic 4.0, pvalue 0.0625): 12 pairs with zeros and ties,
    // so SciPy runs its exact sign-flip permutation test.
    assert!(
        stdout.contains(
            "test: Wilcoxon signed-rank test (exact over sign flips) on 8 pairs with a difference: W = 4, p = 0.0625"
        ),
        "{stdout}"
    );
    assert!(verdict_line(&stdout).starts_with("verdict: No significant difference"), "{stdout}");

    // JSON for scripts; a looser confidence level makes the same difference significant.
    let out = promptsmith(
        &[
            "compare",
            "--results",
            run_a.to_str().unwrap(),
            "--results",
            results_b.to_str().unwrap(),
            "--json",
            "--confidence",
            "0.9",
        ],
        tmp.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["metric"], "f1");
    assert_eq!(v["n"], 12);
    assert_eq!(v["a"]["label"], "run-a");
    assert_eq!(v["b"]["label"], "run-b");
    assert_eq!(v["comparison"]["test"]["kind"], "wilcoxon");
    assert_eq!(v["comparison"]["test"]["method"], "sign_flip");
    assert!((v["comparison"]["test"]["p_value"].as_f64().unwrap() - 0.0625).abs() < 1e-12);
    assert_eq!(v["winner"], "run-a");
    assert!(v["verdict"].as_str().unwrap().starts_with("run-a is better than run-b by 14.6 points (90% CI "), "{v}");
}

#[test]
fn identical_runs_are_no_difference_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let scores = [1.0, 0.0, 1.0, 1.0];
    let out = compare_files(tmp.path(), &scores, &scores, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("test: none (every example scored the same on both sides)"), "{stdout}");
    assert_eq!(
        verdict_line(&stdout),
        "verdict: No difference: old.jsonl and new.jsonl score the same on all 4 examples."
    );
}

fn assert_fails(out: &Output, needle: &str) {
    let (stdout, stderr) = text(out);
    assert!(!out.status.success(), "expected failure; stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

#[test]
fn results_that_do_not_pair_up_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (a, b, c) = (dir.join("a.jsonl"), dir.join("b.jsonl"), dir.join("c.jsonl"));
    write_results(&a, &[1.0, 0.0, 1.0]);
    write_results(&b, &[1.0, 1.0]);
    write_results_for(
        &c,
        &[1.0, 0.0, 1.0],
        |i| if i == 1 { "another question".into() } else { format!("question {i}") },
    );
    let (sa, sb, sc) = (a.to_str().unwrap(), b.to_str().unwrap(), c.to_str().unwrap());

    let out = promptsmith(&["compare", "--results", sa, "--results", sb], dir);
    assert_fails(&out, "a.jsonl has 3 results and ");
    assert_fails(&out, "b.jsonl has 2: compare needs both runs on the same examples");

    let out = promptsmith(&["compare", "--results", sa, "--results", sc], dir);
    assert_fails(&out, "scored different examples: example 1 of ");
    assert_fails(&out, r#"has inputs {"question":"question 1"} but example 1 of "#);
    assert_fails(&out, r#"has inputs {"question":"another question"}"#);

    let missing = dir.join("missing.jsonl");
    let out = promptsmith(&["compare", "--results", sa, "--results", missing.to_str().unwrap()], dir);
    assert_fails(&out, "missing.jsonl: no such file or directory");

    let out = promptsmith(&["compare", "--results", sa], dir);
    assert_fails(&out, "--results needs exactly two results files or run directories (side A, then side B), got 1");

    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"index\": 0, \"score\": 1}\n{\"index\": 1, \"score\": \n").unwrap();
    let out = promptsmith(&["compare", "--results", sa, "--results", bad.to_str().unwrap()], dir);
    assert_fails(&out, "bad.jsonl line 2: not valid JSON");

    std::fs::write(&bad, "{\"index\": 0, \"inputs\": {}}\n").unwrap();
    let out = promptsmith(&["compare", "--results", sa, "--results", bad.to_str().unwrap()], dir);
    assert_fails(&out, "bad.jsonl line 1: no numeric 'score' (is this a results file written by `promptsmith eval`?)");

    let csv = dir.join("results.csv");
    std::fs::write(&csv, "index,score\n0,1\n").unwrap();
    let out = promptsmith(&["compare", "--results", sa, "--results", csv.to_str().unwrap()], dir);
    assert_fails(&out, "compare reads JSONL results (eval's default --results-format jsonl), not CSV");

    let empty_dir = dir.join("not-a-run");
    std::fs::create_dir(&empty_dir).unwrap();
    let out = promptsmith(&["compare", "--results", sa, "--results", empty_dir.to_str().unwrap()], dir);
    assert_fails(&out, "not-a-run: a directory without results.jsonl (is it an eval run directory?)");

    // Runs scored with different metrics.
    for (name, metric) in [("m1", "exact_match"), ("m2", "f1")] {
        let d = dir.join(name);
        std::fs::create_dir(&d).unwrap();
        write_results(&d.join("results.jsonl"), &[1.0, 0.0]);
        std::fs::write(d.join("report.json"), format!(r#"{{"metric": "{metric}"}}"#)).unwrap();
    }
    let (m1, m2) = (dir.join("m1"), dir.join("m2"));
    let out = promptsmith(&["compare", "--results", m1.to_str().unwrap(), "--results", m2.to_str().unwrap()], dir);
    assert_fails(&out, "with metric 'exact_match' and ");
    assert_fails(&out, "with 'f1': compare needs the same metric on both");

    let out = promptsmith(&["compare", "--results", sa, "--results", sa, "--confidence", "1.5"], dir);
    assert_fails(&out, "--confidence 1.5: expected a level between 0 and 1 (exclusive), e.g. 0.95");
}

#[test]
fn evaluating_needs_two_sides_and_valid_states_before_any_model_call() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let state = dir.join("state.json");
    std::fs::write(&state, r#"{"format_version": 1, "predictors": {"solve": {}}}"#).unwrap();
    let s = state.to_str().unwrap();
    let program = "examples/gsm8k/program.json";
    let data = "crates/promptsmith/tests/data/gsm8k_easy5.jsonl";
    // An unreachable endpoint: none of these may get as far as calling it.
    let lm = ["--lm-base-url", "http://127.0.0.1:9", "--no-cache"];

    let mut args = vec!["compare", "--program", program, "--data", data, "--state", s];
    args.extend_from_slice(&lm);
    assert_fails(
        &promptsmith(&args, dir),
        "compare needs exactly two sides: --state A --state B, or --baseline --state B (got 1 --state)",
    );
    let mut args = vec!["compare", "--program", program, "--data", data, "--baseline", "--state", s, "--state", s];
    args.extend_from_slice(&lm);
    assert_fails(&promptsmith(&args, dir), "(got 2 --state and --baseline)");

    let wrong = dir.join("wrong.json");
    std::fs::write(&wrong, r#"{"format_version": 1, "predictors": {"solver": {}}}"#).unwrap();
    let mut args =
        vec!["compare", "--program", program, "--data", data, "--baseline", "--state", wrong.to_str().unwrap()];
    args.extend_from_slice(&lm);
    assert_fails(&promptsmith(&args, dir), "state has predictor 'solver', the program has: solve");

    let mut args =
        vec!["compare", "--program", program, "--data", data, "--baseline", "--state", s, "--metric", "exactly"];
    args.extend_from_slice(&lm);
    assert_fails(&promptsmith(&args, dir), "exactly");

    // --results and --program are two different modes.
    let out = promptsmith(&["compare", "--program", program, "--results", s, "--results", s], dir);
    assert_fails(&out, "cannot be used with");
    let out = promptsmith(&["compare", "--state", s, "--state", s], dir);
    assert_fails(&out, "--program");
}

/// `compare --baseline --state STATE` of the gsm8k example on `data`, answered from the cassette
/// recorded from the real local model.
fn replay_baseline_compare(state: &Path, data: &str, extra: &[&str], dir: &Path) -> Output {
    let mut args = vec![
        "compare",
        "--program",
        "examples/gsm8k/program.json",
        "--baseline",
        "--state",
        state.to_str().unwrap(),
        "--data",
        data,
        "--metric",
        "numeric_match",
        "--replay",
        "crates/promptsmith/tests/data/gsm8k_easy5.cassette.jsonl",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    promptsmith(&args, dir)
}

/// The evaluating mode, answered from the cassette recorded from the real local model: a state
/// that changes nothing gives the same prompts, so the two sides score the same.
#[test]
fn evaluating_mode_runs_both_sides_on_the_same_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("same.json");
    std::fs::write(&state, r#"{"format_version": 1, "predictors": {"solve": {}}}"#).unwrap();
    let out = replay_baseline_compare(&state, "crates/promptsmith/tests/data/gsm8k_easy5.jsonl", &[], tmp.path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("numeric_match on 5 paired examples of "), "{stdout}");
    assert!(
        stdout.contains("  A  baseline   100.0%  (95% CI 56.6–100.0%)  [examples/gsm8k/program.json as written]"),
        "{stdout}"
    );
    assert!(stdout.contains("  B  same.json  100.0%  (95% CI 56.6–100.0%)  ["), "{stdout}");
    assert_eq!(
        verdict_line(&stdout),
        "verdict: No difference: baseline and same.json score the same on all 5 examples."
    );
}

/// `--input`/`--label` map a data file's own column names onto the program's fields, as for
/// `eval`; the prompts are then the same bytes as with the original file, so the cassette answers.
#[test]
fn evaluating_mode_maps_columns_like_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let original =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gsm8k_easy5.jsonl")).unwrap();
    let renamed: String = original
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{}\n", serde_json::json!({"problem": v["question"], "gold": v["answer"]}))
        })
        .collect();
    let data = tmp.path().join("renamed.jsonl");
    std::fs::write(&data, renamed).unwrap();
    let state = tmp.path().join("same.json");
    std::fs::write(&state, r#"{"format_version": 1, "predictors": {"solve": {}}}"#).unwrap();
    let data = data.to_str().unwrap();
    let out =
        replay_baseline_compare(&state, data, &["--input", "problem=question", "--label", "gold=answer"], tmp.path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("numeric_match on 5 paired examples of "), "{stdout}");
    assert!(stdout.contains("  A  baseline   100.0%"), "{stdout}");
    // Without the mapping the file's columns do not match the program's fields.
    let out = replay_baseline_compare(&state, data, &[], tmp.path());
    assert!(!out.status.success());
    assert!(text(&out).1.contains("question"), "{}", text(&out).1);
}
