//! `promptsmith run`: one input, one prediction.

use super::load_program_with_state;
use crate::lm_setup::{build_lm, LmArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use promptsmith_core::{Example, Module};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Program spec file (JSON or YAML).
    #[arg(long)]
    program: PathBuf,
    /// Program state file (optimized instructions and demos).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Input as a JSON object, e.g. '{"question": "..."}'.
    #[arg(long)]
    input: String,
    /// Print the whole prediction (with trace and usage) as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: RunArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let program = load_program_with_state(&args.program, args.state.as_deref()).await?;
    let input: Value =
        serde_json::from_str(&args.input).with_context(|| format!("--input is not valid JSON: {}", args.input))?;
    let Value::Object(fields) = input else {
        bail!("--input must be a JSON object such as '{{\"question\": \"...\"}}'");
    };
    let missing: Vec<String> = program.input_fields().into_iter().filter(|f| !fields.contains_key(f)).collect();
    if !missing.is_empty() {
        bail!(
            "--input lacks field(s) {} that program '{}' reads (it reads: {})",
            missing.join(", "),
            program.name,
            program.input_fields().join(", ")
        );
    }
    let handle = build_lm(&lm_args).await?;
    let result = program.forward(handle.task().as_ref(), &Example::from_inputs(fields)).await;
    handle.shutdown().await;
    let prediction = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&prediction)?);
    } else {
        for (k, v) in &prediction.fields {
            println!("{k}: {}", promptsmith_core::value_to_text(v));
        }
    }
    Ok(ExitCode::SUCCESS)
}
