//! Output piped into a reader that stops early (`promptsmith registry show qa | head -3`): the
//! binary ends quietly with status 0 instead of panicking on the broken pipe. Each command here
//! prints far more than a pipe buffer holds (64 KiB on Linux), so it is still writing when the
//! reader goes away. No model needed.
#![allow(clippy::unwrap_used)]

mod common;

use common::root;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs the binary in `dir`, reads the first bytes of its stdout, closes the pipe and waits.
fn read_a_little_then_close(dir: &Path, args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args(args)
        .current_dir(dir)
        .env("PROMPTSMITH_CACHE_DIR", dir.join(".cache"))
        .env("PROMPTSMITH_DATABASE_URL", dir.join("store.db"))
        .env_remove("PROMPTSMITH_LM_BASE_URL")
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 200];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
}

/// `data show` writes with `writeln!` to a locked stdout: the error comes back up to `main`.
#[test]
fn data_show_into_a_closed_pipe_exits_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("big.jsonl");
    let rows: String = (0..5000)
        .map(|i| format!("{{\"question\": \"question {i}: {}\", \"answer\": \"{i}\"}}\n", "padding ".repeat(20)))
        .collect();
    std::fs::write(&data, rows).unwrap();
    let path = data.to_str().unwrap();
    read_a_little_then_close(tmp.path(), &["data", "show", "--data", path, "--input", "question", "--limit", "5000"]);
}

/// `registry show` prints with `println!` (the crate's own, which ends quietly on a broken pipe).
#[test]
fn registry_show_into_a_closed_pipe_exits_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("store.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = promptsmith_store::Store::open(db.to_str().unwrap()).await.unwrap();
        let spec = promptsmith_core::ProgramSpec::load(&root().join("examples/gsm8k/program.json")).unwrap();
        let state = spec.build("gsm8k").unwrap().state();
        for i in 0..600 {
            let mut v = promptsmith_store::NewVersion::new("qa", spec.clone(), state.clone(), "tester");
            v.scores = serde_json::json!({"dev": i as f64 / 600.0, "note": "x".repeat(200)});
            store.register_version(&v).await.unwrap();
        }
        store.close().await;
    });
    read_a_little_then_close(tmp.path(), &["registry", "show", "qa"]);
    read_a_little_then_close(tmp.path(), &["registry", "show", "qa", "--json"]);
}

/// `history` prints with `println!` too; its records come from a large history file.
#[test]
fn history_into_a_closed_pipe_exits_quietly() {
    use promptsmith_core::lm::{ChatMessage, ChatRequest, ChatResponse, Choice, Usage};
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("calls.jsonl");
    let history = promptsmith_lm::CallHistory::with_jsonl(0, &file).unwrap();
    let response = ChatResponse {
        choices: vec![Choice { text: "an answer ".repeat(50), finish_reason: None }],
        usage: Usage { prompt_tokens: 1, completion_tokens: 1 },
        model: "m".into(),
        cached: false,
        cost_usd: None,
    };
    for i in 0..300 {
        let request = ChatRequest::new(vec![ChatMessage::user(format!("question {i} {}", "words ".repeat(50)))]);
        history.push(promptsmith_lm::CallRecord::new("m", &request, Ok(&response), 1.0, 1));
    }
    drop(history);
    read_a_little_then_close(tmp.path(), &["history", "--file", file.to_str().unwrap(), "--last", "300"]);
}
