//! End-to-end tests of the `promptsmith` binary: bad input gives clear errors and a
//! non-zero exit (no model needed), and the gsm8k example runs against the REAL local
//! model that `scripts/test.sh` starts (`PROMPTSMITH_TEST_LM_URL`). These tests are never
//! skipped: without the server they fail and say how to start it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{lm_url, model_sha256, promptsmith, root, text};
use serde_json::Value;
use std::path::Path;

/// The per-example results of an `eval` run directory, in order.
fn results_jsonl(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path();
    let spec = tmp.path().join("bad.json");
    std::fs::write(
        &spec,
        "{\n  \"name\": \"x\",\n  \"predictors\": [{\"name\": \"a\", \"signature\": \"q -> a: integr\"}]\n}",
    )
    .unwrap();
    let out = promptsmith(&["run", "--program", spec.to_str().unwrap(), "--input", "{}"], cache);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("bad.json: predictors[0].signature: invalid signature \"q -> a: integr\" at column 9: unknown type 'integr'"), "{err}");

    std::fs::write(&spec, "{\n  \"name\": \"x\",\n  \"predictors\": [,]\n}").unwrap();
    let out = promptsmith(&["eval", "--program", spec.to_str().unwrap(), "--data", "gsm8k"], cache);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("bad.json: line 3 column"), "{err}");

    let out = promptsmith(&["run", "--program", "examples/gsm8k/program.json", "--input", "{\"question\": "], cache);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("--input is not valid JSON"));

    let data = tmp.path().join("d.jsonl");
    std::fs::write(&data, "{\"question\": \"1+1\", \"answer\": \"2\"}\n{\"question\": \"2+2\" \"answer\": \"4\"}\n")
        .unwrap();
    let out = promptsmith(
        &[
            "eval",
            "--program",
            "examples/gsm8k/program.json",
            "--data",
            data.to_str().unwrap(),
            "--metric",
            "numeric_match",
        ],
        cache,
    );
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("d.jsonl line 2"), "{err}");

    let out = promptsmith(
        &["eval", "--program", "examples/gsm8k/program.json", "--data", "gsm8k", "--metric", "exactly"],
        cache,
    );
    assert!(!out.status.success());
    assert!(text(&out).1.contains("exactly"), "{}", text(&out).1);

    let state = tmp.path().join("state.json");
    std::fs::write(&state, r#"{"format_version": 1, "predictors": {"solver": {}}}"#).unwrap();
    let out = promptsmith(
        &[
            "run",
            "--program",
            "examples/gsm8k/program.json",
            "--state",
            state.to_str().unwrap(),
            "--input",
            "{\"question\": \"1+1\"}",
        ],
        cache,
    );
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("state has predictor 'solver', the program has: solve"), "{err}");
}

#[test]
fn unreachable_endpoint_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = promptsmith(
        &[
            "run",
            "--program",
            "examples/gsm8k/program.json",
            "--input",
            "{\"question\": \"1+1\"}",
            "--lm-base-url",
            "http://127.0.0.1:9",
            "--no-cache",
        ],
        tmp.path(),
    );
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("127.0.0.1:9"), "{err}");

    // The endpoint can also come from promptsmith.toml.
    let config = tmp.path().join("promptsmith.toml");
    std::fs::write(&config, "[lm]\nbase_url = \"http://127.0.0.1:7\"\nmodel = \"m\"\n").unwrap();
    let out = promptsmith(
        &[
            "run",
            "--program",
            "examples/gsm8k/program.json",
            "--input",
            "{\"question\": \"1+1\"}",
            "--config",
            config.to_str().unwrap(),
            "--no-cache",
        ],
        tmp.path(),
    );
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("127.0.0.1:7"), "{err}");
    std::fs::write(&config, "[lm]\nbase_urll = 1\n").unwrap();
    let out = promptsmith(
        &[
            "run",
            "--program",
            "examples/gsm8k/program.json",
            "--input",
            "{\"question\": \"1\"}",
            "--config",
            config.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("promptsmith.toml") && err.contains("base_urll"), "{err}");
}

/// A cassette recorded from the real local model (`--record`) replays exactly, with no
/// model at all; a request that was not recorded is an error, never a live call.
#[test]
fn replayed_cassette_reproduces_a_recorded_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let cassette = "crates/promptsmith/tests/data/gsm8k_easy5.cassette.jsonl";
    let out_dir = tmp.path().join("replay");
    let out = promptsmith(
        &[
            "eval",
            "--program",
            "examples/gsm8k/program.json",
            "--data",
            "crates/promptsmith/tests/data/gsm8k_easy5.jsonl",
            "--metric",
            "numeric_match",
            "--replay",
            cassette,
            "--out",
            out_dir.to_str().unwrap(),
            "--quiet",
        ],
        tmp.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    // The per-example results are in results.jsonl only (report.json names the file).
    assert_eq!(report["results_file"], "results.jsonl");
    assert!(report.get("results").is_none());
    let answers: Vec<f64> =
        results_jsonl(&out_dir).iter().map(|r| r["prediction"]["answer"].as_f64().unwrap()).collect();
    // What Qwen2.5-Coder-0.5B answered when the cassette was recorded (all five right).
    assert_eq!(answers, vec![360.0, 720.0, 540.0, 4.0, 3.0]);
    assert_eq!(report["mean"], 1.0);
    assert_eq!(report["usage"]["completion_tokens"], 922);

    let out = promptsmith(
        &[
            "run",
            "--program",
            "examples/gsm8k/program.json",
            "--input",
            "{\"question\": \"What is 2+2?\"}",
            "--replay",
            cassette,
        ],
        tmp.path(),
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("no recording for request") && stderr.contains("gsm8k_easy5.cassette.jsonl"), "{stderr}");
}

#[test]
fn roles_come_from_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("promptsmith.toml");
    std::fs::write(&config, "[lm]\nbase_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"small\"\n[judge]\nmodel = \"big\"\ntemperature = 0.5\n").unwrap();
    let out = promptsmith(&["lm", "roles", "--config", config.to_str().unwrap()], tmp.path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("task: model small at http://127.0.0.1:8000/v1"), "{stdout}");
    assert!(stdout.contains("teacher: model small at http://127.0.0.1:8000/v1"), "{stdout}");
    assert!(stdout.contains("judge: model big at http://127.0.0.1:8000/v1 (temperature 0.5"), "{stdout}");
    std::fs::write(&config, "[lm]\nmodel = \"x\"\n[juge]\nmodel = \"y\"\n").unwrap();
    let out = promptsmith(&["lm", "roles", "--config", config.to_str().unwrap()], tmp.path());
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown table [juge]"), "{stderr}");
}

#[test]
fn dspy_round_trip_through_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("two.yaml");
    std::fs::write(
        &spec,
        "name: two_step\npredictors:\n  - {name: draft, signature: 'question -> answer'}\n  - {name: refine, module: chain_of_thought, signature: 'question, draft -> answer: int'}\nsteps:\n  - {predictor: draft}\n  - {predictor: refine, inputs: {draft: draft.answer}}\noutputs: {answer: refine.answer}\n",
    )
    .unwrap();
    let fixture = root().join("crates/promptsmith-core/tests/fixtures/dspy/two_step_program.json");
    let state = tmp.path().join("state.json");
    let out = promptsmith(
        &[
            "dspy",
            "import",
            "--program",
            spec.to_str().unwrap(),
            "--file",
            fixture.to_str().unwrap(),
            "--out",
            state.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let exported = tmp.path().join("dspy.json");
    let out = promptsmith(
        &[
            "dspy",
            "export",
            "--program",
            spec.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--out",
            exported.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(std::fs::read_to_string(exported).unwrap(), std::fs::read_to_string(fixture).unwrap());
}

/// The number a completion states as its final answer on its last non-empty line: an
/// `Answer: ...` line or a `\boxed{...}`. `None` when the last line states no answer, which is
/// where the plain adapter's last-number fallback would pick some number out of the working.
fn stated_answer(completion: &str) -> Option<f64> {
    let last = completion.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let bare = last.trim_start_matches(['#', '-', '*', '>', ' ']);
    let bare = bare.strip_prefix("Final ").unwrap_or(bare);
    let stated = if bare.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("answer:")) {
        &bare[7..]
    } else {
        let start = last.find("\\boxed{")? + "\\boxed{".len();
        let len = last[start..].find('}')?;
        &last[start..start + len]
    };
    let start = stated.find(|c: char| c.is_ascii_digit())?;
    let negative = stated[..start].ends_with('-');
    let digits: String = stated[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    let n: f64 = digits.trim_end_matches('.').parse().ok()?;
    Some(if negative { -n } else { n })
}

#[test]
fn stated_answer_reads_only_an_explicit_final_answer() {
    assert_eq!(stated_answer("6 pairs x $60 = $360.\n\nAnswer: \\boxed{360}\n"), Some(360.0));
    assert_eq!(stated_answer("**Answer:** 1,250.5"), Some(1250.5));
    assert_eq!(stated_answer("So:\n\\[ \\boxed{-4} \\]"), Some(-4.0));
    assert_eq!(stated_answer("Therefore, there are \\boxed{4} blue golf balls."), Some(4.0));
    // Numbers in the working are not an answer.
    assert_eq!(stated_answer("Answer: 3\nThen 4 more make 7 apples."), None);
    assert_eq!(stated_answer("2 + 2 = 4"), None);
}

/// The acceptance check: the gsm8k example on 5 easy questions against the real local
/// model, which at temperature 0 gets all 5 right. At least 4 must be right, and every raw
/// completion (read from the call history) must end by stating its answer (an `Answer:`
/// line or a `\boxed{}`) with the prediction being that number, so a pass is never the
/// adapter's last-number fallback guessing from the working. A second run is served
/// entirely from the response cache with identical results.
#[test]
fn gsm8k_example_on_local_model() {
    let url = lm_url();
    let model_sha = model_sha256();
    let tmp = tempfile::tempdir().unwrap();
    let cache_db = tmp.path().join("cache.sqlite");
    let run = |out_dir: &Path| {
        promptsmith(
            &[
                "eval",
                "--program",
                "examples/gsm8k/program.json",
                "--data",
                "crates/promptsmith/tests/data/gsm8k_easy5.jsonl",
                "--metric",
                "numeric_match",
                "--lm-base-url",
                &url,
                "--cache-path",
                cache_db.to_str().unwrap(),
                "--out",
                out_dir.to_str().unwrap(),
                "--quiet",
            ],
            tmp.path(),
        )
    };
    let first_dir = tmp.path().join("run1");
    let out = run(&first_dir);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "eval failed:\n{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(first_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["n"], 5);
    assert_eq!(report["parse_failures"], 0, "every answer must parse: {stdout}");
    assert_eq!(report["lm_errors"], 0, "{stdout}");
    let results = results_jsonl(&first_dir);
    let correct = results.iter().filter(|r| r["score"].as_f64() == Some(1.0)).count();
    assert!(correct >= 4, "only {correct}/5 right (the model gets 5/5 at temperature 0):\n{stdout}");
    // The raw completions, from the call history the run kept in its cache directory.
    let calls = promptsmith_lm::CallHistory::read_jsonl(tmp.path().join("history.jsonl")).unwrap();
    assert_eq!(calls.len(), 5, "one call per question");
    for r in &results {
        let question = format!("Question: {}", r["inputs"]["question"].as_str().unwrap());
        let call = calls
            .iter()
            .find(|c| c.request.messages.last().is_some_and(|m| m.content == question))
            .unwrap_or_else(|| panic!("no call for {question}"));
        let completion = call.response.as_ref().unwrap().text();
        let answer = r["prediction"]["answer"].as_f64().unwrap_or_else(|| panic!("typed numeric answer: {r}"));
        assert_eq!(stated_answer(completion), Some(answer), "the completion must state its answer:\n{completion}");
    }

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(first_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["command"], "eval");
    assert_eq!(manifest["model"]["local"], true);
    assert_eq!(manifest["model"]["model_sha256"], Value::String(model_sha), "the installed model's checksum");
    assert_eq!(manifest["dataset"]["examples"], 5);
    assert_eq!(manifest["dataset"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["program"]["hash"].as_str().unwrap().len(), 64);
    assert!(manifest["promptsmith_version"].is_string());
    assert_eq!(std::fs::read_to_string(first_dir.join("results.jsonl")).unwrap().lines().count(), 5);

    let second_dir = tmp.path().join("run2");
    let out = run(&second_dir);
    let (stdout2, stderr2) = text(&out);
    assert!(out.status.success(), "{stdout2}\n{stderr2}");
    assert!(stdout2.contains("(5 from cache)"), "second run is served from the cache: {stdout2}");
    let answers = |dir: &Path| results_jsonl(dir).iter().map(|x| x["prediction"].clone()).collect::<Vec<_>>();
    assert_eq!(answers(&first_dir), answers(&second_dir));

    // The exact messages sent are in the history.
    let out = promptsmith(&["history", "--last", "1"], tmp.path());
    let (hist, _) = text(&out);
    assert!(hist.contains("--- System") && hist.contains("Answer: <a single number>"), "{hist}");
    assert!(hist.contains("--- response"), "{hist}");
}

#[test]
fn run_prints_a_prediction_from_local_model() {
    let url = lm_url();
    let tmp = tempfile::tempdir().unwrap();
    let out = promptsmith(
        &[
            "run",
            "--program",
            "examples/gsm8k/program.yaml",
            "--input",
            "{\"question\": \"Tom has 3 apples and buys 4 more. How many apples does he have?\"}",
            "--lm-base-url",
            &url,
            "--no-cache",
            "--show-prompt",
        ],
        tmp.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("reasoning: "), "{stdout}");
    // 3 + 4: the model answers 7 at temperature 0 (every time, checked on the local model).
    let answer = stdout.lines().find_map(|l| l.strip_prefix("answer: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(answer.parse::<f64>().ok(), Some(7.0), "{stdout}");
    assert!(stderr.contains("──── prompt ────") && stderr.contains("Question: Tom has 3 apples"), "{stderr}");
}

/// The call history follows `[history]` in promptsmith.toml: rotated past `max_bytes` keeping
/// `keep` old files, read back across them by `history`, and not written at all when turned off
/// (in the file or with PROMPTSMITH_HISTORY=off). Failed calls are recorded too, so an
/// unreachable endpoint is enough.
#[test]
fn history_file_is_capped_rotated_and_can_be_turned_off() {
    let tmp = tempfile::tempdir().unwrap();
    let calls = tmp.path().join("h/calls.jsonl");
    let config = tmp.path().join("promptsmith.toml");
    let lm = "[lm]\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\nmax_retries = 0\n";
    // A limit of one byte rotates before every line: the file holds the last call, .1 the one before.
    std::fs::write(&config, format!("{lm}[history]\npath = \"{}\"\nmax_bytes = \"1B\"\nkeep = 1\n", calls.display()))
        .unwrap();
    let cfg = config.to_str().unwrap();
    let run = |cfg: &str| {
        let input = "{\"question\": \"1+1\"}";
        let out = promptsmith(
            &["run", "--program", "examples/gsm8k/program.json", "--input", input, "--config", cfg, "--no-cache"],
            tmp.path(),
        );
        assert!(!out.status.success(), "the endpoint is unreachable");
    };
    for _ in 0..3 {
        run(cfg);
    }
    let rotated = tmp.path().join("h/calls.jsonl.1");
    assert!(calls.is_file() && rotated.is_file(), "rotated to calls.jsonl.1");
    assert!(!tmp.path().join("h/calls.jsonl.2").exists(), "keep = 1");
    let on_disk = promptsmith_lm::CallHistory::read_jsonl(&rotated).unwrap().len()
        + promptsmith_lm::CallHistory::read_jsonl(&calls).unwrap().len();
    assert!(on_disk >= 2);
    assert!(!tmp.path().join("history.jsonl").exists(), "[history] path replaces the cache dir's file");
    let out = promptsmith(&["history", "--config", cfg, "--last", "100", "--summary"], tmp.path());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("=== ")).count(), on_disk, "{stdout}");
    assert!(stdout.lines().all(|l| l.contains("| m |") && l.contains("| error: ")), "{stdout}");

    // Turned off in the file: nothing is written, and `history` says why there is nothing.
    let off = tmp.path().join("off.toml");
    let quiet = tmp.path().join("quiet.jsonl");
    std::fs::write(&off, format!("{lm}[history]\nenabled = false\npath = \"{}\"\n", quiet.display())).unwrap();
    run(off.to_str().unwrap());
    assert!(!quiet.exists());
    let out = promptsmith(&["history", "--config", off.to_str().unwrap()], tmp.path());
    let (stdout, _) = text(&out);
    assert!(stdout.contains("no LM calls recorded yet") && stdout.contains("the history is turned off"), "{stdout}");

    // Turned off by the environment, with the default file in the cache directory.
    let plain = tmp.path().join("plain.toml");
    std::fs::write(&plain, lm).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args(["run", "--program", "examples/gsm8k/program.json", "--input", "{\"question\": \"1\"}", "--no-cache"])
        .args(["--config", plain.to_str().unwrap()])
        .current_dir(root())
        .env("PROMPTSMITH_CACHE_DIR", tmp.path())
        .env("PROMPTSMITH_HISTORY", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!tmp.path().join("history.jsonl").exists(), "PROMPTSMITH_HISTORY=off writes no file");
    // ... and on by default.
    run(plain.to_str().unwrap());
    assert!(tmp.path().join("history.jsonl").is_file(), "the CLI keeps a history by default");

    std::fs::write(&plain, format!("{lm}[history]\nmax_bytes = \"lots\"\n")).unwrap();
    let out = promptsmith(&["history", "--config", plain.to_str().unwrap()], tmp.path());
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("[history]") && stderr.contains("'lots' is not a size"),
        "{stderr}"
    );
}
