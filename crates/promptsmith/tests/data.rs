//! End-to-end tests of `promptsmith data`: listing the built-in datasets, checking real and
//! small hand-written data, showing examples and specs, writing splits, and the messages users
//! get when the data is missing or malformed. No model needed. The real data is the samples the
//! repository ships in `crates/promptsmith-eval/tests/data` (a few rows of each benchmark set,
//! with their licences), passed as `$PROMPTSMITH_DATA_DIR`, so the tests pass from a plain clone;
//! the full sets in `../shared/data` are for benchmarks.

#![allow(clippy::unwrap_used)]

mod common;

use common::root;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary in `dir` without $PROMPTSMITH_DATA_DIR.
fn promptsmith_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args(args)
        .current_dir(dir)
        .env_remove("PROMPTSMITH_DATA_DIR")
        .output()
        .unwrap()
}

/// The shipped samples, laid out as a data directory.
fn samples() -> std::path::PathBuf {
    root().join("crates/promptsmith-eval/tests/data")
}

/// Runs the binary from the repository root with the samples as $PROMPTSMITH_DATA_DIR (searched
/// first, so `../shared/data`, when it is there, is never reached).
fn promptsmith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args(args)
        .current_dir(root())
        .env("PROMPTSMITH_DATA_DIR", samples())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn list_names_every_shipped_dataset_and_where_it_is() {
    let out = promptsmith(&["data", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "gsm8k               [test*, train]  found in $PROMPTSMITH_DATA_DIR",
        "banking77           [test*, train]  found in $PROMPTSMITH_DATA_DIR",
        "hotpotqa            [all*, train, val, test]  found in $PROMPTSMITH_DATA_DIR",
        "hotpotqa_questions  [all*, train, val, test]  found in $PROMPTSMITH_DATA_DIR",
        "bbh/<task>          [all*, train, val, test]  found in $PROMPTSMITH_DATA_DIR (3 of 23 tasks)",
        "ifeval              [all*, train, val, test]  found in $PROMPTSMITH_DATA_DIR",
        "math500             [all*, train, val, test]  found in $PROMPTSMITH_DATA_DIR",
    ] {
        assert!(text.lines().any(|l| l == line), "missing line {line:?} in:\n{text}");
    }
    assert!(text.contains("tasks: boolean_expressions, causal_judgement,"), "{text}");
    assert!(text.contains(&format!("Searched: $PROMPTSMITH_DATA_DIR ({})", samples().display())), "{text}");
}

#[test]
fn list_without_data_says_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = promptsmith_in(tmp.path(), &["data", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("gsm8k               [test*, train]  NOT FOUND"), "{text}");
    assert!(text.contains("get the files from github openai/grade-school-math"), "{text}");
    assert!(text.contains("$PROMPTSMITH_DATA_DIR is unset; ../shared/data does not exist"), "{text}");
}

#[test]
fn check_real_datasets() {
    let out = promptsmith(&["data", "check", "--data", "gsm8k:train"]);
    assert!(out.status.success() || stdout(&out).contains("ready       no"), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("dataset     gsm8k:train\n"), "{text}");
    assert!(text.contains(&format!("file        {}\n", samples().join("gsm8k/train.jsonl").display())), "{text}");
    assert!(text.contains("examples    8 (8 labelled)\n"), "{text}");
    assert!(text.contains("answer     label       8  string"), "{text}");
    assert!(text.contains("duplicates  no duplicate inputs\n"), "{text}");
    assert!(text.contains("ready       no: 8 labelled examples (at least 50 needed)\n"), "{text}");
    let out = promptsmith(&["data", "check", "--data", "gsm8k:train", "--min-labelled", "8"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ready       yes: 8 labelled examples (at least 8 needed)\n"), "{}", stdout(&out));

    let out = promptsmith(&["data", "check", "--data", "banking77", "--min-labelled", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("examples    32 (32 labelled)\n"), "{text}");
    assert!(
        text.contains("label       category: 31 categories of 77 listed; 46 without examples: card_linking,"),
        "{text}"
    );
    assert!(text.contains("... 21 more categories with 21 examples"), "{text}");
    assert!(
        text.contains("duplicates  1 example repeats the inputs of an earlier one (1 group, 0 with different labels): line 5 = line 33\n"),
        "{text}"
    );

    let out = promptsmith(&["data", "check", "--data", "bbh/snarks:train", "--min-labelled", "1"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("made by     shuffle(seed=0), splits(train=0.4, val=0.2, test=0.4).train\n"), "{text}");
    assert!(text.contains("examples    4 (4 labelled)\n"), "{text}");
    assert!(text.contains("label       target: 2 categories\n"), "{text}");

    let out = promptsmith(&["data", "check", "--data", "bbh"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("dataset 'bbh' is a family of tasks; no task given: use bbh/<task> (tasks: boolean_expressions,"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_a_small_file_with_column_mapping() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tickets.csv");
    std::fs::write(
        &data,
        "body,gold\nMy card broke,Label: card\nRefund please,Label: refund\nMy card broke,Label: card\nWhere is it?,\n",
    )
    .unwrap();
    let path = data.to_str().unwrap();
    let args = [
        "data",
        "check",
        "--data",
        path,
        "--input",
        "body=text",
        "--label",
        "gold=intent",
        "--label-transform",
        "regex:Label: (\\w+)",
    ];
    let out = promptsmith(&args);
    assert!(!out.status.success(), "3 labelled examples are not ready by default");
    let text = stdout(&out);
    assert!(text.contains("examples    4 (3 labelled)\n"), "{text}");
    assert!(text.contains("text    input       4  string"), "{text}");
    assert!(
        text.contains(
            "duplicates  1 example repeats the inputs of an earlier one (1 group, 0 with different labels): line 2 = line 4\n"
        ),
        "{text}"
    );
    assert!(text.contains("ready       no: 3 labelled examples (at least 50 needed)\n"), "{text}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: dataset '{path}' is not ready: 3 of its 4 examples are labelled (a labelled example has a value in \
             'intent'), and at least 50 are needed"
        )),
        "{err}"
    );
    assert!(err.contains("(or lower --min-labelled)"), "{err}");

    let mut ready = args.to_vec();
    ready.extend(["--min-labelled", "3"]);
    let out = promptsmith(&ready);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ready       yes: 3 labelled examples (at least 3 needed)\n"));

    let out = promptsmith(&["data", "show", "--data", path, "--input", "body=text", "--label", "gold", "--limit", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("# {path}: 4 examples; inputs: text; labels: gold\nline 2: {{\"text\":\"My card broke\",\"gold\":\"Label: card\"}}\n")
    );
}

#[test]
fn bad_data_names_file_line_and_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d.jsonl");
    std::fs::write(&data, "{\"q\": \"a\", \"a\": \"1\"}\n{\"q\": \"b\", \"a\": }\n").unwrap();
    let out = promptsmith(&["data", "check", "--data", data.to_str().unwrap(), "--input", "q"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("{} line 2: invalid JSON at col 17: expected value", data.display())),
        "{}",
        stderr(&out)
    );

    let out = promptsmith(&["data", "check", "--data", data.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no input fields given: name the input columns (--input COLUMN)"),
        "{}",
        stderr(&out)
    );

    let spec = tmp.path().join("mine.toml");
    std::fs::write(
        &spec,
        "name = \"mine\"\ndescription = \"x\"\ninputs = [\"q\"]\nlabel = [\"a\"]\n[files]\nall = \"d.jsonl\"\n",
    )
    .unwrap();
    let out = promptsmith(&["data", "check", "--data", spec.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("{} line 4 column 1: unknown field `label`", spec.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_files_say_where_they_were_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let out = promptsmith_in(tmp.path(), &["data", "check", "--data", "gsm8k"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("dataset 'gsm8k:test' not found: looked for gsm8k/test.jsonl in"), "{err}");
    assert!(err.contains("the files come from github openai/grade-school-math"), "{err}");
    assert!(err.contains("set $PROMPTSMITH_DATA_DIR to that directory"), "{err}");

    // With the variable set, the same name works from anywhere.
    let out = Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args(["data", "check", "--data", "hotpotqa", "--min-labelled", "5"])
        .current_dir(tmp.path())
        .env("PROMPTSMITH_DATA_DIR", samples())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("examples    5 (5 labelled)\n"), "{}", stdout(&out));
}

#[test]
fn show_examples_and_specs() {
    let out = promptsmith(&["data", "show", "--data", "hotpotqa", "--limit", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("# hotpotqa:all: 5 examples; inputs: question, context; labels: answer\nline 1: {"),
        "{text}"
    );
    assert!(text.contains("VIVA Media: "), "{text}");
    assert_eq!(text.lines().count(), 2);

    let out = promptsmith(&["data", "show", "--data", "bbh/snarks", "--spec"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), std::fs::read_to_string(root().join("datasets/bbh.toml")).unwrap());

    let out = promptsmith(&["data", "show", "--data", "nope", "--spec"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--data nope: no spec: not a built-in dataset (gsm8k, banking77,"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn split_writes_seeded_jsonl_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("parts");
    let dir = out_dir.to_str().unwrap();
    let args = [
        "data", "split", "--data", "math500", "--train", "0.6", "--val", "0.2", "--test", "0.2", "--seed", "4",
        "--out", dir,
    ];
    let out = promptsmith(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = |part: &str| std::fs::read_to_string(out_dir.join(format!("{part}.jsonl"))).unwrap();
    let train = lines("train");
    assert_eq!((train.lines().count(), lines("val").lines().count(), lines("test").lines().count()), (6, 2, 2));
    assert!(train.lines().all(|l| l.contains("\"problem\"") && l.contains("\"level\"")));
    // Same seed, same files.
    promptsmith(&args);
    assert_eq!(lines("train"), train);
}
