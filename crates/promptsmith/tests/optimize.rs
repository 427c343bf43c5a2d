//! End-to-end tests of `promptsmith optimize`: settings and data are checked before any model
//! call, `--dry-run` plans without calling, and a tiny BootstrapFewShot run on the REAL local
//! model (`PROMPTSMITH_TEST_LM_URL`, started by scripts/test.sh) writes a state that loads, a
//! report whose calls respect the budget, and resumes from its journal without a model call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{lm_url, promptsmith, text};
use serde_json::Value;

const PROGRAM: &str = "examples/gsm8k/program.json";

#[test]
fn settings_are_checked_before_any_model_call() {
    let tmp = tempfile::tempdir().unwrap();
    // An unreachable endpoint: any model call would fail with a connection error instead.
    let base = ["--lm-base-url", "http://127.0.0.1:9", "optimize", "--program", PROGRAM, "--data", "gsm8k:train"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--auto", "light", "--num-trials", "5", "--train-size", "10", "--val-size", "10"],
            "`auto` sets the number of candidates and trials itself",
        ),
        (&["--optimizer", "bootstrap", "--auto", "light"], "--auto applies to --optimizer mipro or gepa only"),
        (&["--optimizer", "gepa", "--num-trials", "5"], "--num-trials applies to --optimizer mipro only"),
        (&["--optimizer", "copro", "--max-metric-calls", "100"], "--max-metric-calls applies to --optimizer gepa only"),
        (&["--optimizer", "mipro", "--no-merge"], "--no-merge applies to --optimizer gepa only"),
        (
            &["--optimizer", "gepa", "--max-metric-calls", "20", "--train-size", "10", "--val-size", "10"],
            "gepa: a budget of 20 metric calls buys no proposal",
        ),
        (
            &[
                "--optimizer",
                "gepa",
                "--auto",
                "light",
                "--max-full-evals",
                "2",
                "--train-size",
                "10",
                "--val-size",
                "10",
            ],
            "set exactly one of auto, max_metric_calls and max_full_evals",
        ),
        // clap's ValueEnum lists the accepted values.
        (&["--optimizer", "simba"], "invalid value 'simba' for '--optimizer <OPTIMIZER>'"),
        (&["--optimizer", "bootstrap", "--train-size", "2", "--val-size", "3"], "an optimization needs at least 6"),
        (
            &["--optimizer", "bootstrap", "--metric-threshold", "2", "--train-size", "10", "--val-size", "10"],
            "metric_threshold 2 is outside [0, 1]",
        ),
        (&["--metric", "bleu"], "unknown metric 'bleu'"),
        (
            &["--metric", "ifeval", "--train-size", "10", "--val-size", "10"],
            "examples have no 'instruction_id_list' label",
        ),
        (&["--val-size", "100000"], "--val-size needs 100000 examples"),
        (&["--max-calls", "0"], "allow no LM call at all"),
        (&["--max-cost=-1"], "--max-cost -1: expected a positive number"),
    ];
    for (extra, want) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let out = promptsmith(&args, tmp.path());
        let (_, err) = text(&out);
        assert!(!out.status.success(), "{extra:?} should fail");
        assert!(err.contains(want), "{extra:?}: want {want:?} in:\n{err}");
        assert!(!err.contains("127.0.0.1:9"), "{extra:?} reached the model:\n{err}");
    }
    // --teacher-state: read and checked against the program before any model call.
    let wrong = tmp.path().join("wrong.json");
    std::fs::write(&wrong, r#"{"format_version": 1, "predictors": {"solver": {}}}"#).unwrap();
    let ok = tmp.path().join("ok.json");
    std::fs::write(&ok, r#"{"format_version": 1, "predictors": {"solve": {}}}"#).unwrap();
    let (wrong, ok) = (wrong.to_str().unwrap(), ok.to_str().unwrap());
    let cases: &[(&[&str], &str)] = &[
        (
            &["--optimizer", "bootstrap", "--teacher-state", wrong],
            "state has predictor 'solver', the program has: solve",
        ),
        (
            &["--optimizer", "bootstrap", "--teacher-state", "missing.json"],
            "--teacher-state missing.json: cannot read it",
        ),
        (&["--optimizer", "copro", "--teacher-state", ok], "--teacher-state applies to the optimizers that bootstrap"),
    ];
    for (extra, want) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let out = promptsmith(&args, tmp.path());
        let (_, err) = text(&out);
        assert!(!out.status.success() && err.contains(want), "{extra:?}: want {want:?} in:\n{err}");
        assert!(!err.contains("127.0.0.1:9"), "{extra:?} reached the model:\n{err}");
    }
}

#[test]
fn dry_run_plans_calls_by_role_without_calling() {
    let tmp = tempfile::tempdir().unwrap();
    let out = promptsmith(
        &[
            "--lm-base-url",
            "http://127.0.0.1:9",
            "optimize",
            "--program",
            PROGRAM,
            "--data",
            "gsm8k:train",
            "--train-size",
            "40",
            "--val-size",
            "120",
            "--metric",
            "numeric_match",
            "--auto",
            "light",
            "--dry-run",
        ],
        tmp.path(),
    );
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("mipro on 40 training / 120 validation / 0 test examples"), "{stdout}");
    assert!(
        stdout.contains(
            "3 instruction and 9 demo-set candidates per predictor, 10 trials on minibatches of 35, validation set 100"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("planned LM calls (upper bounds):"), "{stdout}");
}

#[test]
fn gepa_dry_run_says_how_many_proposals_the_budget_buys() {
    let tmp = tempfile::tempdir().unwrap();
    let out = promptsmith(
        &[
            "--lm-base-url",
            "http://127.0.0.1:9",
            "optimize",
            "--program",
            PROGRAM,
            "--data",
            "gsm8k:train",
            "--train-size",
            "10",
            "--val-size",
            "20",
            "--metric",
            "numeric_match",
            "--optimizer",
            "gepa",
            "--max-metric-calls",
            "100",
            "--dry-run",
        ],
        tmp.path(),
    );
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("gepa on 10 training / 20 validation / 0 test examples"), "{stdout}");
    assert!(stdout.contains("it buys between 3 and 10 proposals"), "{stdout}");
    // 100 metric calls of a one-step program; 10 proposals, each asked again at most once, each
    // ask with at most one JSON-mode retry.
    assert!(stdout.contains("100 task, 0 teacher, 40 proposer"), "{stdout}");
}

#[test]
fn a_model_that_stops_answering_fails_the_run_with_a_resume_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = promptsmith(
        &[
            "--lm-base-url",
            "http://127.0.0.1:9",
            "--no-cache",
            "--concurrency",
            "4",
            "optimize",
            "--program",
            PROGRAM,
            "--data",
            "gsm8k:train",
            "--train-size",
            "10",
            "--val-size",
            "10",
            "--optimizer",
            "bootstrap",
            "--metric",
            "numeric_match",
            "--no-store",
            "--quiet",
            "--run-dir",
            run.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let (stdout, err) = text(&out);
    // A model that does not answer is an "unavailable" failure: exit status 6.
    assert_eq!(out.status.code(), Some(6), "{stdout}\n{err}");
    assert!(err.contains("the model stopped answering: 8 calls in a row failed"), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(err.contains(&format!("continue with --resume {}", run.display())), "{err}");
    assert!(!stdout.contains("validation:"), "no scores are reported for a run whose model was gone: {stdout}");
}

#[test]
fn tiny_bootstrap_run_on_local_model_then_resume_from_journal() {
    let url = lm_url();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let state = tmp.path().join("state.json");
    let db = tmp.path().join("store.db");
    let args = [
        "--lm-base-url",
        &url,
        "--no-cache",
        "optimize",
        "--program",
        PROGRAM,
        "--data",
        "gsm8k:train",
        "--train-size",
        "3",
        "--val-size",
        "3",
        "--optimizer",
        "bootstrap",
        "--max-bootstrapped-demos",
        "1",
        "--max-labeled-demos",
        "1",
        "--metric",
        "numeric_match",
        "--seed",
        "3",
        "--max-calls",
        "12",
        "--run-dir",
        run.to_str().unwrap(),
        "--out",
        state.to_str().unwrap(),
        "--quiet",
        "--database-url",
        db.to_str().unwrap(),
        "--register",
        "gsm8k_e2e",
    ];
    let out = promptsmith(&args, tmp.path());
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    assert!(stdout.contains("validation: "), "{stdout}");
    assert!(stdout.contains(&format!("optimized state: {}", state.display())), "{stdout}");
    // The first registered version of a program becomes production; the run is in the store.
    assert!(stdout.contains("registered gsm8k_e2e version 1 as production"), "{stdout}");
    assert!(stdout.contains("stored: run 1 with"), "{stdout}");
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    // What comes back never scores below the program as written on validation: a worse result
    // is set aside (rejected-state.json) and the program as written is kept.
    let val = |k: &str| report[k]["score"].as_f64().unwrap();
    assert!(val("final_val") >= val("baseline_val"), "{report}");
    let demos = |s: &Value| s["predictors"]["solve"]["demos"].as_array().unwrap().len();
    let optimizer_result = if report["rejected"].is_object() {
        assert!(report["rejected"]["val"]["score"].as_f64().unwrap() < val("baseline_val"), "{report}");
        assert!(stdout.contains("kept the program as written"), "{stdout}");
        assert_eq!(demos(&st), 0, "{st}");
        // The registered version says it holds the program as written.
        let show =
            promptsmith(&["registry", "show", "gsm8k_e2e@1", "--database-url", db.to_str().unwrap()], tmp.path());
        let (show_out, show_err) = text(&show);
        assert!(show_out.contains("below the program as written"), "{show_out}\n{show_err}");
        serde_json::from_str(&std::fs::read_to_string(run.join("rejected-state.json")).unwrap()).unwrap()
    } else {
        assert!(!run.join("rejected-state.json").exists());
        st.clone()
    };
    // The optimizer's state holds one demo.
    assert_eq!(demos(&optimizer_result), 1, "{optimizer_result}");
    let total =
        report["spent"]["task"]["calls"].as_u64().unwrap() + report["spent"]["teacher"]["calls"].as_u64().unwrap();
    assert!(total <= 12, "budget exceeded: {report}");
    assert!(report["spent"]["teacher"]["calls"].as_u64().unwrap() >= 1);
    assert_eq!(report["live_calls"].as_u64().unwrap(), total);
    assert!(!report["trials"].as_array().unwrap().is_empty());
    for f in ["config.json", "journal.jsonl", "trials.jsonl", "state.json", "manifest.json"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // Resuming a finished run replays it from the journal: same state, no model call.
    let out = promptsmith(
        &[
            "--lm-base-url",
            "http://127.0.0.1:9",
            "--no-cache",
            "optimize",
            "--resume",
            run.to_str().unwrap(),
            "--quiet",
            "--database-url",
            db.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let (stdout2, err2) = text(&out);
    assert!(out.status.success(), "{stdout2}\n{err2}");
    assert!(stdout2.contains("(0 sent to the model"), "{stdout2}");
    let again: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(again, st);
    // Registering the same state again cannot beat production: it becomes the candidate.
    assert!(stdout2.contains("registered gsm8k_e2e version 2 as candidate: "), "{stdout2}");
    // Resuming with another model would miss every journaled call: refused, nothing changed.
    let journal = std::fs::read(run.join("journal.jsonl")).unwrap();
    let out = promptsmith(
        &[
            "--lm-base-url",
            "http://127.0.0.1:9",
            "--model",
            "another-model",
            "optimize",
            "--resume",
            run.to_str().unwrap(),
            "--database-url",
            db.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let (stdout3, err3) = text(&out);
    // Resuming with other models conflicts with the run's journal: exit status 5.
    assert_eq!(out.status.code(), Some(5), "{stdout3}\n{err3}");
    assert!(err3.contains("the run was started with ") && err3.contains("task 'another-model'"), "{err3}");
    assert!(err3.contains("Resume with the same --model"), "{err3}");
    assert_eq!(std::fs::read(run.join("journal.jsonl")).unwrap(), journal);
}

/// GEPA end to end on the real local model with a tiny budget (the baseline on 2 validation
/// questions and one reflection on a minibatch of 2): it reflects, stays within its metric-call
/// budget and writes a state that loads.
#[test]
fn tiny_gepa_run_on_local_model() {
    let url = lm_url();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let state = tmp.path().join("state.json");
    let args = [
        "--lm-base-url",
        &url,
        "--no-cache",
        "optimize",
        "--program",
        PROGRAM,
        "--data",
        "gsm8k:train",
        "--train-size",
        "4",
        "--val-size",
        "2",
        "--optimizer",
        "gepa",
        "--max-metric-calls",
        "8",
        "--max-instruction-chars",
        "300",
        "--reflection-minibatch-size",
        "2",
        "--metric",
        "numeric_match",
        "--seed",
        "1",
        "--run-dir",
        run.to_str().unwrap(),
        "--out",
        state.to_str().unwrap(),
        "--quiet",
        "--no-store",
    ];
    let out = promptsmith(&args, tmp.path());
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    assert!(stdout.contains("gepa finished in"), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    let task = report["spent"]["task"]["calls"].as_u64().unwrap();
    assert!(task <= 8, "metric-call budget exceeded: {report}");
    assert!(report["spent"]["proposer"]["calls"].as_u64().unwrap() >= 1, "it reflected at least once: {report}");
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(st["predictors"]["solve"].is_object(), "{st}");
    assert!(!report["trials"].as_array().unwrap().is_empty(), "{report}");
}
