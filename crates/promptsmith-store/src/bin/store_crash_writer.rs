//! Test helper for the crash-safety test (`tests/crash.rs`): writes to a store in a loop and
//! prints every write once it is acknowledged (committed), one line each, so that a test can
//! kill it with SIGKILL at a random moment and check that every acknowledged write is there.
//!
//! Usage: `store-crash-writer DATABASE_URL PROGRAM`
//!
//! Lines: `version PROGRAM N`, `alias PROGRAM ALIAS N`, `evals FIRST_ID LAST_ID`.

use promptsmith_core::{ProgramSpec, ProgramState};
use promptsmith_store::{NewEvaluation, NewVersion, Store};
use serde_json::{json, Map};
use std::io::Write;
use std::process::ExitCode;

fn ack(line: impl std::fmt::Display) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(line.to_string().as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

async fn write_forever(url: &str, program: &str) -> Result<(), String> {
    let store = Store::open(url).await.map_err(|e| e.to_string())?;
    let spec = ProgramSpec::parse(
        &format!(r#"{{"name": "{program}", "predictors": [{{"name": "answer", "signature": "question -> answer"}}]}}"#),
        false,
        "crash-writer spec",
    )
    .map_err(|e| e.to_string())?;
    let mut i: u64 = 0;
    loop {
        i += 1;
        let state: ProgramState = serde_json::from_value(json!({
            "format_version": 1,
            "predictors": {"answer": {"instruction": format!("Answer, attempt {i}."), "demos": []}}
        }))
        .map_err(|e| e.to_string())?;
        let v = store
            .register_version(&NewVersion::new(program, spec.clone(), state, "crash-writer"))
            .await
            .map_err(|e| e.to_string())?;
        ack(format!("version {program} {}", v.version)).map_err(|e| e.to_string())?;
        let alias = match i % 2 {
            0 => "production",
            _ => "candidate",
        };
        store.set_alias(program, alias, v.version, "crash-writer", "loop").await.map_err(|e| e.to_string())?;
        ack(format!("alias {program} {alias} {}", v.version)).map_err(|e| e.to_string())?;
        let batch: Vec<NewEvaluation> = (0..50)
            .map(|k| {
                let mut inputs = Map::new();
                inputs.insert("question".into(), json!(format!("q{i}-{k}")));
                NewEvaluation {
                    program: program.to_string(),
                    version: Some(v.version),
                    inputs,
                    score: (k % 2) as f64,
                    latency_ms: k,
                    ..NewEvaluation::default()
                }
            })
            .collect();
        let ids = store.insert_evaluations(&batch).await.map_err(|e| e.to_string())?;
        if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
            ack(format!("evals {first} {last}")).map_err(|e| e.to_string())?;
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, program] = args.as_slice() else {
        eprintln!("usage: store-crash-writer DATABASE_URL PROGRAM");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(write_forever(url, program)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
