//! Subcommands.

mod dspy;
mod eval;
mod history;
mod lm;
mod run;

use crate::lm_setup::LmArgs;
use anyhow::{Context, Result};
use clap::Subcommand;
use promptsmith_core::{load_program, Program, ProgramState};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a program on one input and print the prediction.
    Run(run::RunArgs),
    /// Evaluate a program on a dataset with a metric.
    Eval(eval::EvalArgs),
    /// Print recent LM calls (the exact messages sent and received).
    History(history::HistoryArgs),
    /// Install, serve and stop the local model.
    #[command(subcommand)]
    Lm(lm::LmCommand),
    /// Import or export DSPy `program.save()` JSON files.
    #[command(subcommand)]
    Dspy(dspy::DspyCommand),
}

/// Runs one subcommand.
pub(crate) async fn dispatch(command: Command, lm: LmArgs) -> Result<ExitCode> {
    match command {
        Command::Run(a) => run::run(a, lm).await,
        Command::Eval(a) => eval::eval(a, lm).await,
        Command::History(a) => history::history(a),
        Command::Lm(c) => lm::lm(c, lm).await,
        Command::Dspy(c) => dspy::dspy(c),
    }
}

/// Loads a program spec and applies a state file when given.
pub(crate) fn load_program_with_state(program: &Path, state: Option<&Path>) -> Result<Program> {
    let base = load_program(program).map_err(|e| anyhow::anyhow!("{e}"))?;
    match state {
        None => Ok(base),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read state {}", path.display()))?;
            let st = ProgramState::from_json(&text, &path.display().to_string()).map_err(anyhow::Error::msg)?;
            base.with_state(&st).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
    }
}

/// Directories searched for bundled sample data: `<program dir>/data`, then `examples/*/data`.
pub(crate) fn sample_dirs(program: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(parent) = program.parent() {
        let d = parent.join("data");
        if d.is_dir() {
            dirs.push(d);
        }
    }
    if let Ok(entries) = std::fs::read_dir("examples") {
        let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("data")).filter(|p| p.is_dir()).collect();
        found.sort();
        for d in found {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

/// SHA-256 of a file's bytes.
pub(crate) fn file_sha256(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    std::fs::read(path).ok().map(|b| hex::encode(Sha256::digest(b)))
}
