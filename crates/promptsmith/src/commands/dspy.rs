//! `promptsmith dspy import|export`: DSPy `program.save()` interop.

use super::load_program_with_state;
use anyhow::{Context, Result};
use clap::Subcommand;
use promptsmith_core::dspy::{export_dspy, import_dspy};
use std::path::PathBuf;
use std::process::ExitCode;

/// DSPy interop commands.
#[derive(Debug, Subcommand)]
pub(crate) enum DspyCommand {
    /// Read a DSPy save file into a promptsmith state file.
    Import {
        /// Program spec the DSPy program corresponds to.
        #[arg(long)]
        program: PathBuf,
        /// The file DSPy's `program.save("x.json")` wrote.
        #[arg(long)]
        file: PathBuf,
        /// Where to write the state.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a program (and state) in DSPy's save format.
    Export {
        /// Program spec.
        #[arg(long)]
        program: PathBuf,
        /// State to apply first.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Where to write the DSPy JSON.
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) async fn dspy(cmd: DspyCommand) -> Result<ExitCode> {
    match cmd {
        DspyCommand::Import { program, file, out } => {
            let program = load_program_with_state(&program, None).await?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let saved: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: line {} column {}: {e}", file.display(), e.line(), e.column()))?;
            let state = import_dspy(&program, &saved, &file.display().to_string()).map_err(anyhow::Error::msg)?;
            std::fs::write(&out, state.to_json() + "\n").with_context(|| format!("cannot write {}", out.display()))?;
            println!("wrote {} ({} predictors)", out.display(), state.predictors.len());
        }
        DspyCommand::Export { program, state, out } => {
            let program = load_program_with_state(&program, state.as_deref()).await?;
            let text = serde_json::to_string_pretty(&export_dspy(&program))? + "\n";
            std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))?;
            println!("wrote {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
