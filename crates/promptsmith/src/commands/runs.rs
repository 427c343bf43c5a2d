//! `promptsmith runs`: optimization and evaluation runs recorded in the store.

use super::registry::{format_time, StoreArgs};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// `runs` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// Recent runs, newest first.
    List(ListArgs),
    /// One run: settings, usage by role, trials, artifacts.
    Show(ShowArgs),
}

/// Arguments of `runs list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only runs of this program.
    #[arg(long)]
    program: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 20)]
    limit: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `runs show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// Run id.
    id: i64,
    /// Print the whole run as JSON (run, trials, lineage, artifacts).
    #[arg(long)]
    json: bool,
    /// Write the JSON export to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs a `runs` subcommand.
pub(crate) async fn runs(command: RunsCommand) -> Result<ExitCode> {
    match command {
        RunsCommand::List(a) => list(a).await,
        RunsCommand::Show(a) => show(a).await,
    }
}

/// `runs list`: recent runs, newest first.
async fn list(a: ListArgs) -> Result<ExitCode> {
    let store = a.store.open_existing().await?;
    let runs = store.list_runs(a.program.as_deref(), a.limit).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs in {}", store.url());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>6}  {:<19}  {:<8}  {:<20}  {:<10}  {:>9}  {:>8}",
        "id", "started", "kind", "program", "status", "score", "time"
    );
    for r in runs {
        let score = r.best_score.map(|s| format!("{:.1}%", s * 100.0)).unwrap_or_else(|| "-".into());
        println!(
            "{:>6}  {}  {:<8}  {:<20}  {:<10}  {:>9}  {:>7.1}s",
            r.id,
            format_time(r.started_at),
            r.kind,
            r.program,
            r.status.as_str(),
            score,
            r.duration_ms() as f64 / 1000.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `runs show ID`: one run, its usage, trials and artifacts.
async fn show(a: ShowArgs) -> Result<ExitCode> {
    let store = a.store.open_existing().await?;
    let export = store.export_run(a.id).await?;
    if let Some(path) = &a.out {
        let text = serde_json::to_string_pretty(&export)?;
        std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        println!("run {} written to {}", a.id, path.display());
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&export)?);
        return Ok(ExitCode::SUCCESS);
    }
    let run = store.run(a.id).await?;
    println!("run {}: {} of {} ({})", run.id, run.kind, run.program, run.status.as_str());
    println!("  started:  {}", format_time(run.started_at));
    if let Some(f) = run.finished_at {
        println!("  finished: {} ({:.1}s)", format_time(f), run.duration_ms() as f64 / 1000.0);
    }
    if let Some(o) = &run.optimizer {
        println!("  optimizer: {o}");
    }
    println!("  params:   {}", run.params);
    if let Some(s) = run.best_score {
        println!("  score:    {:.1}%", s * 100.0);
    }
    if let Some(v) = run.result_version {
        println!("  version:  {v}");
    }
    if let Some(e) = &run.error {
        println!("  error:    {e}");
    }
    for (role, u) in &run.usage {
        println!(
            "  {role:<9} {} calls, {} prompt + {} completion tokens, ${:.4}",
            u.calls, u.prompt_tokens, u.completion_tokens, u.cost_usd
        );
    }
    let trials = store.trials(a.id).await?;
    if !trials.is_empty() {
        println!("  trials:");
        for t in &trials {
            let score = t.score.map(|s| format!("{:.1}%", s * 100.0)).unwrap_or_else(|| "-".into());
            let parent = t.parent_candidate.as_ref().map(|p| format!(" <- {p}")).unwrap_or_default();
            println!("    {:>4}  {}{parent}  {score}", t.trial, t.candidate);
        }
    }
    for art in store.artifacts(a.id).await? {
        println!("  artifact: {} ({}, {} bytes)", art.name, art.kind, art.content.len());
    }
    Ok(ExitCode::SUCCESS)
}
