//! End-to-end tests of the store commands (`registry`, `runs`, `feedback`, `eval` recording,
//! `NAME@alias` program references) on a real SQLite file, plus the registry commands on the
//! real PostgreSQL server that `scripts/test.sh` starts (`PROMPTSMITH_TEST_DATABASE_URL`; the
//! test fails, never skips, without it). No model is needed: evaluations replay a cassette
//! recorded from the local model.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::needless_pass_by_value)] // test helpers take json!() literals by value

mod common;

use common::root;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

/// Runs the CLI from the repository root against `db`.
fn ps(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args(args)
        .current_dir(root())
        .env("PROMPTSMITH_DATABASE_URL", db)
        .env("USER", "tester")
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

fn fails(out: &Output) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "command should have failed:\n{stdout}\n{stderr}");
    stderr.into_owned()
}

/// A state file for the gsm8k example with a given instruction and demos.
fn state_file(dir: &Path, name: &str, instruction: &str, demos: Value) -> String {
    let path = dir.join(name);
    let state = json!({"format_version": 1, "predictors": {"solve": {"instruction": instruction, "demos": demos}}});
    std::fs::write(&path, state.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

const SPEC: &str = "examples/gsm8k/program.json";

/// Registers three versions, moves aliases, rolls back, diffs; shared by both engines.
fn registry_flow(db: &str, dir: &Path) {
    let s1 = state_file(dir, "s1.json", "Solve it.", json!([]));
    let s2 = state_file(dir, "s2.json", "Solve it step by step.", json!([{"question": "1+1?", "answer": 2.0}]));
    assert!(ok(&ps(db, &["registry", "register", "math", "--program", SPEC, "--state", &s1]))
        .contains("registered math version 1"));
    assert!(ok(&ps(
        db,
        &[
            "registry",
            "register",
            "math",
            "--program",
            SPEC,
            "--state",
            &s2,
            "--parent",
            "1",
            "--scores",
            r#"{"dev": 0.6}"#
        ]
    ))
    .contains("registered math version 2"));
    assert!(ok(&ps(db, &["registry", "register", "math", "--program", SPEC, "--alias", "candidate"]))
        .contains("version 3 (candidate)"));

    assert!(
        ok(&ps(db, &["registry", "activate", "math", "1", "--reason", "first"])).contains("math@production: version 1")
    );
    assert!(ok(&ps(db, &["registry", "activate", "math", "2"])).contains("version 1 -> 2"));
    assert!(ok(&ps(db, &["registry", "activate", "math", "candidate"])).contains("version 2 -> 3"));
    assert!(ok(&ps(db, &["registry", "rollback", "math", "--reason", "regression"])).contains("version 3 -> 2"));
    assert!(ok(&ps(db, &["registry", "rollback", "math"])).contains("version 2 -> 1"));
    let err = fails(&ps(db, &["registry", "rollback", "math"]));
    assert!(err.contains("no earlier version"), "{err}");

    let list = ok(&ps(db, &["registry", "list"]));
    assert!(list.contains("math") && list.contains("candidate=3") && list.contains("production=1"), "{list}");
    let listed: Value = serde_json::from_str(&ok(&ps(db, &["registry", "list", "--json"]))).unwrap();
    assert_eq!(listed[0]["versions"], 3);

    let show = ok(&ps(db, &["registry", "show", "math"]));
    assert!(show.contains("math: 3 versions") && show.contains("alias log:"), "{show}");
    assert!(show.contains("(regression)") && show.contains("by tester"), "{show}");
    let v2 = ok(&ps(db, &["registry", "show", "math@2"]));
    assert!(v2.contains("parent:    1") && v2.contains("1 demos; instruction: Solve it step by step."), "{v2}");
    let state: Value = serde_json::from_str(&ok(&ps(db, &["registry", "show", "math@production", "--state"]))).unwrap();
    assert_eq!(state["predictors"]["solve"]["instruction"], "Solve it.");

    let diff = ok(&ps(db, &["registry", "diff", "math", "1", "2"]));
    assert!(diff.contains("- Solve it.") && diff.contains("+ Solve it step by step."), "{diff}");
    assert!(diff.contains("+ demo {\"question\":\"1+1?\",\"answer\":2.0}"), "{diff}");
    let diff: Value =
        serde_json::from_str(&ok(&ps(db, &["registry", "diff", "math", "production", "3", "--json"]))).unwrap();
    assert_eq!(diff["from"], 1);
    assert_eq!(diff["to"], 3);

    assert!(ok(&ps(db, &["registry", "alias", "math", "staging", "2"])).contains("math@staging: version 2"));
    assert!(ok(&ps(db, &["registry", "alias", "math"])).contains("staging -> 2"));
    assert!(ok(&ps(db, &["registry", "alias", "math", "staging", "--remove"])).contains("removed"));
}

#[test]
fn registry_commands_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("reg.db").display());
    registry_flow(&db, tmp.path());
}

#[test]
fn registry_commands_on_postgres() {
    let admin = std::env::var("PROMPTSMITH_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "PROMPTSMITH_TEST_DATABASE_URL is not set: run the suite with scripts/test.sh, which starts a \
             throwaway PostgreSQL (scripts/start-test-postgres.sh)"
        )
    });
    // A fresh database for this test (psql comes with the PostgreSQL packages).
    let name = format!(
        "ps_cli_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000
    );
    let status = Command::new("psql")
        .args([admin.as_str(), "-qAtc", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql (PostgreSQL client) is needed for this test");
    assert!(status.success());
    let base = admin.rsplit_once('/').unwrap().0;
    let tmp = tempfile::tempdir().unwrap();
    registry_flow(&format!("{base}/{name}"), tmp.path());
}

#[test]
fn registered_versions_run_where_programs_are_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("ref.db").display());
    let s = state_file(tmp.path(), "s.json", "Registered instruction.", json!([]));
    ok(&ps(&db, &["registry", "register", "math", "--program", SPEC, "--state", &s, "--alias", "production"]));
    let out = tmp.path().join("dspy.json");
    ok(&ps(&db, &["dspy", "export", "--program", "math@production", "--out", out.to_str().unwrap()]));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("Registered instruction."), "{text}");
    let err = fails(&ps(&db, &["dspy", "export", "--program", "math@7", "--out", out.to_str().unwrap()]));
    assert!(err.contains("program 'math' has no version 7 (it has versions 1 to 1)"), "{err}");
    let err = fails(&ps(&db, &["dspy", "export", "--program", "nope@production", "--out", out.to_str().unwrap()]));
    assert!(err.contains("no program named 'nope'"), "{err}");
    let err = fails(&ps(&db, &["dspy", "export", "--program", "math@production", "--state", &s, "--out", "x.json"]));
    assert!(err.contains("cannot be combined"), "{err}");
}

#[test]
fn bad_input_is_refused_and_nothing_is_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("bad.db").display());
    // A state that does not fit the program.
    let bad = tmp.path().join("bad_state.json");
    std::fs::write(&bad, r#"{"format_version": 1, "predictors": {"summarize": {"instruction": "x"}}}"#).unwrap();
    let err = fails(&ps(&db, &["registry", "register", "math", "--program", SPEC, "--state", bad.to_str().unwrap()]));
    assert!(err.contains("bad_state.json") && err.contains("summarize") && err.contains("solve"), "{err}");
    let err = fails(&ps(&db, &["registry", "show", "math"]));
    assert!(err.contains("no program named 'math'"), "{err}");
    ok(&ps(&db, &["registry", "register", "math", "--program", SPEC]));
    let err = fails(&ps(&db, &["registry", "activate", "math", "4"]));
    assert!(err.contains("no version 4"), "{err}");
    let err = fails(&ps(&db, &["registry", "activate", "math", "gamma"]));
    assert!(err.contains("no alias 'gamma'"), "{err}");
    let err = fails(&ps(&db, &["runs", "show", "99"]));
    assert!(err.contains("no run with id 99"), "{err}");

    // A file that is not a database: a clear error naming it, and the file is left as it was.
    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, "my notes\n".repeat(50)).unwrap();
    let before = std::fs::read(&notes).unwrap();
    let err = fails(&ps(notes.to_str().unwrap(), &["registry", "list"]));
    assert!(err.contains("notes.txt") && err.contains("not a usable promptsmith database"), "{err}");
    assert_eq!(std::fs::read(&notes).unwrap(), before);
    let err = fails(&ps("mysql://host/db", &["registry", "list"]));
    assert!(err.contains("unsupported scheme"), "{err}");
}

fn replay_eval(db: &str, program: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "eval",
        "--program",
        program,
        "--data",
        "crates/promptsmith/tests/data/gsm8k_easy5.jsonl",
        "--metric",
        "numeric_match",
        "--replay",
        "crates/promptsmith/tests/data/gsm8k_easy5.cassette.jsonl",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ps(db, &args)
}

#[test]
fn eval_records_runs_and_feedback_becomes_a_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("evals.db");
    let db = format!("sqlite://{}", db_path.display());
    // The spec's own state, registered: same prompts as the recorded cassette.
    ok(&ps(&db, &["registry", "register", "gsm8k", "--program", SPEC, "--alias", "production"]));
    let stdout = ok(&replay_eval(&db, "gsm8k@production", &tmp.path().join("r1"), &[]));
    assert!(stdout.contains("stored: 5 evaluations of gsm8k version 1 as run 1"), "{stdout}");
    let stdout = ok(&replay_eval(&db, SPEC, &tmp.path().join("r2"), &[]));
    assert!(stdout.contains("stored: 5 evaluations of gsm8k as run 2"), "{stdout}");
    let stdout = ok(&replay_eval(&db, SPEC, &tmp.path().join("r3"), &["--no-store"]));
    assert!(!stdout.contains("stored:"), "{stdout}");

    let runs = ok(&ps(&db, &["runs", "list"]));
    assert_eq!(runs.lines().filter(|l| l.contains(" eval ")).count(), 2, "{runs}");
    assert!(runs.contains("100.0%"), "{runs}");
    let show = ok(&ps(&db, &["runs", "show", "1"]));
    assert!(show.contains("run 1: eval of gsm8k (succeeded)") && show.contains("task"), "{show}");
    let export_path = tmp.path().join("run1.json");
    ok(&ps(&db, &["runs", "show", "1", "--out", export_path.to_str().unwrap()]));
    let export: Value = serde_json::from_str(&std::fs::read_to_string(&export_path).unwrap()).unwrap();
    assert_eq!(export["run"]["params"]["version"], 1);
    assert_eq!(export["run"]["usage"]["task"]["completion_tokens"], 922);

    // Review queue: ask for two reviews, answer one with a correction.
    ok(&ps(&db, &["feedback", "request", "1", "--reason", "spot check"]));
    ok(&ps(&db, &["feedback", "request", "2"]));
    let pending = ok(&ps(&db, &["feedback", "pending"]));
    assert!(pending.contains("evaluation 1: gsm8k@1 score 1.00 (spot check)"), "{pending}");
    assert!(pending.contains("evaluation 2:"), "{pending}");
    ok(&ps(
        &db,
        &["feedback", "record", "1", "--rating", "0", "--correct", r#"{"answer": 361}"#, "--comment", "off by one"],
    ));
    let err = fails(&ps(&db, &["feedback", "record", "2", "--correct", r#"{"verdict": 1}"#]));
    assert!(err.contains("verdict"), "{err}");
    let err = fails(&ps(&db, &["feedback", "record", "2", "--rating", "3"]));
    assert!(err.contains("outside [0, 1]"), "{err}");
    let stats = ok(&ps(&db, &["feedback", "stats"]));
    assert!(stats.contains("pending: 1, received: 1"), "{stats}");
    assert!(stats.contains("agreement: 0.0% over 1 rated"), "{stats}");

    let data = tmp.path().join("fixes.jsonl");
    let out = ok(&ps(&db, &["data", "export", "--from-feedback", "--out", data.to_str().unwrap()]));
    assert!(out.contains("1 examples from feedback"), "{out}");
    let line: Value = serde_json::from_str(std::fs::read_to_string(&data).unwrap().trim()).unwrap();
    assert_eq!(line["answer"], 361);
    assert!(line["question"].as_str().unwrap().len() > 10);
    let err = fails(&ps(&db, &["feedback", "export", "--out", data.to_str().unwrap()]));
    assert!(err.contains("--force"), "{err}");
    let again = ok(&ps(&db, &["feedback", "export", "--out", data.to_str().unwrap(), "--force", "--program", "other"]));
    assert!(again.contains("0 examples"), "{again}");
    let err = fails(&ps(&db, &["data", "export", "--out", data.to_str().unwrap()]));
    assert!(err.contains("--from-feedback"), "{err}");
}

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

#[test]
fn monitor_snapshots_trend_and_degradation_from_recorded_evaluations() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("monitor.db").display());
    ok(&ps(&db, &["registry", "register", "gsm8k", "--program", SPEC, "--alias", "production"]));
    let t0 = now_ms().to_string();
    // Three evaluations scoring 100%, then three under a stricter metric: only the three-digit
    // answers (360, 720, 540 of the five) pass, so the version's recent mean is 60%.
    for i in 0..3 {
        ok(&replay_eval(&db, "gsm8k@production", &tmp.path().join(format!("good{i}")), &[]));
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    let t1 = now_ms().to_string();
    for i in 0..3 {
        let out = tmp.path().join(format!("strict{i}"));
        let mut args =
            vec!["eval", "--program", "gsm8k@production", "--data", "crates/promptsmith/tests/data/gsm8k_easy5.jsonl"];
        args.extend([
            "--metric",
            r"regex:^\d{3}\.0$",
            "--replay",
            "crates/promptsmith/tests/data/gsm8k_easy5.cassette.jsonl",
        ]);
        args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
        ok(&ps(&db, &args));
    }
    let baseline = format!("{t0}..{t1}");
    let recent = format!("{t1}..now");

    let s = ok(&ps(&db, &["monitor", "snapshot", "gsm8k@production", "--window", &baseline]));
    assert!(s.starts_with("snapshot 1 of gsm8k@1: ") && s.contains("n=15") && s.contains("score 100.0%"), "{s}");
    let s = ok(&ps(&db, &["monitor", "snapshot", "gsm8k@1", "--window", &recent, "--json"]));
    let snap: Value = serde_json::from_str(&s).unwrap();
    assert_eq!((snap["n"].as_i64(), snap["mean_score"].as_f64()), (Some(15), Some(0.6)), "{s}");
    let list = ok(&ps(&db, &["monitor", "snapshots", "gsm8k@production"]));
    assert_eq!(list.lines().filter(|l| l.contains(" n=15 ")).count(), 2, "{list}");
    assert!(list.contains("trend over 2 snapshots:") && list.contains("(100.0% -> 60.0%)"), "{list}");

    let args = ["monitor", "degradation", "gsm8k@production", "--baseline", &baseline, "--recent", &recent];
    let report = ok(&ps(&db, &args));
    assert!(report.contains("verdict: DEGRADED: the score dropped 40.0%"), "{report}");
    let mut strict = args.to_vec();
    strict.push("--fail-on-degradation");
    let out = ps(&db, &strict);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    // The same windows the other way round: the score went up, which is no degradation.
    let args = ["monitor", "degradation", "gsm8k@1", "--baseline", &recent, "--recent", &baseline];
    let report = ok(&ps(&db, &[&args[..], &["--fail-on-degradation"]].concat()));
    assert!(report.contains("verdict: no degradation: change +66.7%"), "{report}");
    let report = ok(&ps(&db, &["monitor", "degradation", "gsm8k@unregistered"]));
    assert!(report.contains("not enough evaluations to tell"), "{report}");

    let err = fails(&ps(&db, &["monitor", "snapshot", "gsm8k@production", "--window", "yesterday"]));
    assert!(err.contains("--window yesterday: expected START..END"), "{err}");
    let err = fails(&ps(&db, &["monitor", "snapshot", "gsm8k@staging"]));
    assert!(err.contains("staging"), "{err}");
    let err = fails(&ps(&db, &["monitor", "snapshot", "gsm8k@unregistered"]));
    assert!(err.contains("no evaluations of 'gsm8k'"), "{err}");
    let err = fails(&ps(&db, &["monitor", "degradation", "gsm8k@1", "--baseline", "2d..now"]));
    assert!(err.contains("--baseline 2d..now and --recent 1d..now overlap"), "{err}");
    let err = fails(&ps(&db, &["monitor", "degradation", "gsm8k@1", "--alpha", "2"]));
    assert!(err.contains("--alpha 2: expected a level between 0 and 1"), "{err}");
}

/// Commands that only read the store (or change what is already in it) never create one: in an
/// empty folder they say there is none and exit non-zero, leaving the folder empty. Commands
/// that record something new still create it.
#[test]
fn reading_commands_create_no_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_in = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_promptsmith"))
            .args(args)
            .current_dir(dir)
            .env_remove("PROMPTSMITH_DATABASE_URL")
            .env("PROMPTSMITH_CACHE_DIR", dir.join(".cache"))
            .env_remove("PROMPTSMITH_LM_BASE_URL")
            .env_remove("PROMPTSMITH_MODEL")
            .output()
            .unwrap()
    };
    let cassette = root().join("crates/promptsmith/tests/data/gsm8k_easy5.cassette.jsonl");
    let data = root().join("crates/promptsmith/tests/data/gsm8k_easy5.jsonl");
    let (cassette, data) = (cassette.to_str().unwrap(), data.to_str().unwrap());
    let reading: &[&[&str]] = &[
        &["registry", "list"],
        &["registry", "list", "--json"],
        &["registry", "show", "nosuch"],
        &["registry", "show", "qa@3", "--state"],
        &["registry", "diff", "qa", "1", "2"],
        &["registry", "alias", "qa"],
        &["registry", "alias", "qa", "staging"],
        &["registry", "alias", "qa", "staging", "1"],
        &["registry", "alias", "qa", "staging", "--remove"],
        &["registry", "activate", "qa", "1"],
        &["registry", "rollback", "qa"],
        &["runs", "list"],
        &["runs", "show", "1"],
        &["feedback", "pending"],
        &["feedback", "stats"],
        &["feedback", "request", "1"],
        &["feedback", "record", "1", "--rating", "1"],
        &["monitor", "snapshot", "qa@production"],
        &["monitor", "snapshots", "qa@1"],
        &["monitor", "degradation", "qa@1"],
        &["data", "export", "--from-feedback", "--out", "fixes.jsonl"],
        &["dspy", "export", "--program", "qa@production", "--out", "qa.json"],
        &["eval", "--program", "qa@production", "--data", data, "--metric", "numeric_match", "--replay", cassette],
    ];
    let message = "no store at ./promptsmith.db (nothing has been recorded yet; --database-url to use another)";
    for args in reading {
        let err = fails(&run_in(args));
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let left: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.iter().all(|n| n == ".cache"), "{args:?} left {left:?}");
    }
    // Another database named on the command line: the message names it.
    let other = dir.join("sub/other.db");
    let err = fails(&run_in(&["runs", "list", "--database-url", other.to_str().unwrap()]));
    assert!(err.contains(&format!("no store at {}", other.display())), "{err}");
    assert!(!dir.join("sub").exists());

    // Registering creates it; then the same reading commands work.
    let spec = root().join(SPEC);
    ok(&run_in(&["registry", "register", "qa", "--program", spec.to_str().unwrap(), "--alias", "production"]));
    assert!(dir.join("promptsmith.db").is_file());
    assert!(ok(&run_in(&["registry", "show", "qa"])).contains("qa: 1 versions"));
    assert!(ok(&run_in(&["runs", "list"])).contains("no runs in"));
    let err = fails(&run_in(&["registry", "show", "nosuch"]));
    assert!(err.contains("no program named 'nosuch'"), "{err}");
}

#[test]
fn experiment_commands_start_read_and_stop_one_per_program() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("store.db").display());
    let s1 = state_file(dir.path(), "s1.json", "Solve it.", json!([]));
    let s2 = state_file(dir.path(), "s2.json", "Solve it step by step.", json!([]));
    ok(&ps(&db, &["registry", "register", "math", "--program", SPEC, "--state", &s1, "--alias", "production"]));
    ok(&ps(&db, &["registry", "register", "math", "--program", SPEC, "--state", &s2]));
    let started: Value = serde_json::from_str(&ok(&ps(
        &db,
        &["experiment", "start", "--program", "math", "--challenger", "2", "--traffic", "0.2", "--json"],
    )))
    .unwrap();
    let id = started["id"].as_str().unwrap();
    assert_eq!((started["control"]["version"].as_i64(), started["challenger"]["version"].as_i64()), (Some(1), Some(2)));
    assert_eq!(started["decision"], "continue");
    let again = fails(&ps(&db, &["experiment", "start", "--program", "math", "--challenger", "2"]));
    assert!(again.contains("already has a running experiment"), "{again}");
    let status = ok(&ps(&db, &["experiment", "status", id]));
    assert!(status.contains("decision:   continue") && status.contains("not yet"), "{status}");
    assert!(ok(&ps(&db, &["experiment", "stop", id])).contains("decision:   stopped"));
    assert!(ok(&ps(&db, &["experiment", "list"])).contains(&format!("{id}\tmath\t1 vs 2\tstopped\tstopped")));
    let unknown = fails(&ps(&db, &["experiment", "status", "exp_nope"]));
    assert!(unknown.contains("no experiment 'exp_nope'"), "{unknown}");
    let bad = fails(&ps(&db, &["experiment", "start", "--program", "math", "--challenger", "2", "--traffic", "1.5"]));
    assert!(bad.contains("traffic 1.5"), "{bad}");
}
