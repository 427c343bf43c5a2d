#![allow(clippy::unwrap_used)]
//! Resume after SIGKILL: a run killed during bootstrapping, proposal, a minibatch trial, a full
//! evaluation and a checkpoint write, and resumed each time, ends in the same state with the
//! same LM call count as a run never interrupted, and repeats no completed call.
//!
//! The killed runs are child processes: this test binary re-runs itself with
//! `PROMPTSMITH_RESUME_CHILD` set, and the child prints every event and every model call on
//! stdout so the parent can SIGKILL it at a chosen moment. The child is an `#[ignore]`d test
//! that the parent runs by name (`--ignored --exact`), so it never counts as a passing test
//! of its own.

mod common;

use promptsmith_core::{ChatRequest, ChatResponse, LanguageModel, LmError};
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::checkpoint::{NoCheckpoint, RunDirCheckpoint, JOURNAL_FILE};
use promptsmith_optimize::events::Event;
use promptsmith_optimize::optimizers::mipro::MiproV2;
use promptsmith_optimize::run::run;
use promptsmith_optimize::{Engine, EngineConfig, RoleModels};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const CHILD_ENV: &str = "PROMPTSMITH_RESUME_CHILD";

fn optimizer() -> MiproV2 {
    let mut m =
        MiproV2 { auto: None, num_candidates: Some(3), num_trials: Some(7), minibatch_size: 20, ..MiproV2::default() };
    m.minibatch_full_eval_steps = 3;
    m
}

fn task() -> promptsmith_optimize::OptimizeTask {
    common::task(16, 60)
}

/// Prints `call` after the model answered and before the engine journals the answer (a kill
/// then lands between a completed call and its checkpoint write).
struct Announcing {
    inner: Arc<dyn LanguageModel>,
}

#[async_trait::async_trait]
impl LanguageModel for Announcing {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let r = self.inner.chat(request).await;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "call");
        let _ = out.flush();
        r
    }
    fn model_name(&self) -> String {
        self.inner.model_name()
    }
}

/// The child: runs (or resumes) the optimization in the directory named by the env var.
#[tokio::test]
#[ignore = "child process of killed_and_resumed_runs_end_like_an_uninterrupted_run, which runs it with --ignored --exact"]
async fn resume_child_process() {
    let dir = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("{CHILD_ENV} is not set: this is the child process of killed_and_resumed_runs_end_like_an_uninterrupted_run; run that test")
    });
    let lm = Arc::new(
        promptsmith_lm::ScriptedLm::from_fn(common::answer)
            .with_model_name("scripted")
            .with_delay(Duration::from_millis(4)),
    );
    let events = |e: &Event| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "event {}", serde_json::to_string(e).unwrap());
        let _ = out.flush();
    };
    let engine = Engine::new(
        RoleModels::single(Arc::new(Announcing { inner: lm })),
        EngineConfig { concurrency: 3, seed: 4, budget: Budget::default(), failure_score: 0.0 },
        Arc::new(RunDirCheckpoint::open(std::path::Path::new(&dir)).unwrap()),
        Arc::new(events),
    )
    .unwrap();
    let (state, report) = run(&optimizer(), &engine, &task(), &[]).await.unwrap();
    println!("final {}", serde_json::to_string(&state).unwrap());
    println!("total_calls {}", report.spent.total().calls);
}

/// A kill point: the child is killed right after printing the `n`-th line matching `pattern`.
struct KillAt {
    what: &'static str,
    pattern: &'static str,
    n: usize,
}

/// Runs the child in `dir`, killing it at `kill` (or letting it finish); returns its lines.
fn child(dir: &std::path::Path, kill: Option<&KillAt>) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe)
        .args(["resume_child_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = BufReader::new(c.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut seen = 0;
    let mut killed = false;
    for line in reader.lines() {
        // After the kill, what the child wrote before it died is still read (its calls count).
        let Ok(line) = line else { break };
        // A bare `call` line is a model call; other patterns are looked for inside event lines.
        let hit = !killed
            && kill.is_some_and(|k| if k.pattern == "call" { line == "call" } else { line.contains(k.pattern) });
        lines.push(line);
        if hit {
            seen += 1;
            if seen == kill.unwrap().n {
                c.kill().unwrap(); // SIGKILL
                killed = true;
            }
        }
    }
    let status = c.wait().unwrap();
    match kill {
        None => assert!(status.success(), "the final resumed run failed: {lines:?}"),
        Some(k) => assert!(!status.success(), "the child finished before reaching kill point {}", k.what),
    }
    lines
}

#[tokio::test]
async fn killed_and_resumed_runs_end_like_an_uninterrupted_run() {
    // The uninterrupted reference, in process.
    let lm = Arc::new(promptsmith_lm::ScriptedLm::from_fn(common::answer).with_model_name("scripted"));
    let engine = Engine::new(
        RoleModels::single(lm.clone()),
        EngineConfig { concurrency: 3, seed: 4, budget: Budget::default(), failure_score: 0.0 },
        Arc::new(NoCheckpoint),
        Arc::new(promptsmith_optimize::events::NoEvents),
    )
    .unwrap();
    let (reference, report) = run(&optimizer(), &engine, &task(), &[]).await.unwrap();
    let reference_calls = report.spent.total().calls;
    assert_eq!(lm.calls() as u64, reference_calls);

    let kills = [
        KillAt { what: "bootstrapping", pattern: "\"event\":\"step\"", n: 2 },
        KillAt { what: "proposal", pattern: "\"name\":\"propose\"", n: 1 },
        KillAt { what: "a minibatch trial", pattern: "\"kind\":\"minibatch\",\"n\"", n: 2 },
        KillAt { what: "a full evaluation", pattern: "\"event\":\"trial_started\",\"number\":", n: 9 },
        KillAt { what: "a checkpoint write", pattern: "call", n: 30 },
        KillAt { what: "a late trial", pattern: "\"event\":\"trial_finished\"", n: 10 },
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut live_calls = 0usize;
    for k in &kills {
        let lines = child(dir.path(), Some(k));
        let made = lines.iter().filter(|l| *l == "call").count();
        eprintln!("killed during {}: {made} calls made, {} lines", k.what, lines.len());
        live_calls += made;
    }
    let lines = child(dir.path(), None);
    live_calls += lines.iter().filter(|l| *l == "call").count();
    let final_state = lines.iter().find_map(|l| l.strip_prefix("final ")).unwrap();
    let total_calls: u64 = lines.iter().find_map(|l| l.strip_prefix("total_calls ")).unwrap().parse().unwrap();
    assert_eq!(serde_json::from_str::<promptsmith_core::ProgramState>(final_state).unwrap(), reference);
    assert_eq!(total_calls, reference_calls, "the resumed run counts the same calls as the uninterrupted one");
    // Every completed call is journaled once; a call is made again only when the kill landed
    // between its answer and its journal line (at most the calls in flight: 3 per kill).
    let journal = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
    let keys: std::collections::HashSet<String> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len() as u64, reference_calls);
    assert!(live_calls as u64 >= reference_calls);
    assert!(
        live_calls as u64 <= reference_calls + 3 * kills.len() as u64,
        "{live_calls} calls made for {reference_calls} needed: completed calls were repeated"
    );
}

#[test]
fn a_torn_journal_line_is_dropped_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    let good = r#"{"key":"k1","role":"task","response":{"choices":[{"text":"x"}],"usage":{"prompt_tokens":1,"completion_tokens":1},"model":"m","cached":false}}"#;
    std::fs::write(&path, format!("{good}\n{{\"key\":\"k2\",\"ro")).unwrap();
    let cp = RunDirCheckpoint::open(dir.path()).unwrap();
    let entries = promptsmith_optimize::checkpoint::Checkpoint::load_journal(&cp).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{good}\n"));
    // A corrupt line in the middle is an error naming the file and line, not a silent skip.
    std::fs::write(&path, format!("garbage\n{good}\n")).unwrap();
    let cp = RunDirCheckpoint::open(dir.path()).unwrap();
    let err = promptsmith_optimize::checkpoint::Checkpoint::load_journal(&cp).unwrap_err().to_string();
    assert!(err.contains("journal.jsonl line 1"), "{err}");
}
