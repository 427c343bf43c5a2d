//! `promptsmith feedback`: the human review queue (pending, request, record, stats) and
//! corrected outputs as a dataset (`export`, also reachable as `data export --from-feedback`).

use super::registry::StoreArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use promptsmith_store::FeedbackInput;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `feedback` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum FeedbackCommand {
    /// Evaluations waiting for review, oldest first.
    Pending(PendingArgs),
    /// Put an evaluation in the review queue.
    Request(RequestArgs),
    /// Record a person's rating, corrected output, label or comment for an evaluation.
    Record(RecordArgs),
    /// Queue counts and judge/human agreement.
    Stats(StatsArgs),
    /// Write corrected outputs as a JSONL dataset (inputs + corrected outputs).
    Export(ExportArgs),
}

/// Arguments of `feedback pending`.
#[derive(Debug, Args)]
pub(crate) struct PendingArgs {
    /// Only this program.
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

/// Arguments of `feedback request`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// Evaluation id.
    evaluation: i64,
    /// Why it needs review.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `feedback record`.
#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    /// Evaluation id.
    evaluation: i64,
    /// Rating in [0, 1] (1: the output is right).
    #[arg(long)]
    rating: Option<f64>,
    /// The output it should have given, as a JSON object, e.g. '{"answer": "7"}'.
    #[arg(long)]
    correct: Option<String>,
    /// A label.
    #[arg(long)]
    label: Option<String>,
    /// A comment.
    #[arg(long)]
    comment: Option<String>,
    /// Who (default: $USER).
    #[arg(long)]
    reviewer: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `feedback stats`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Only this program.
    #[arg(long)]
    program: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of the feedback export.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Output JSONL file.
    #[arg(long)]
    out: PathBuf,
    /// Only this program.
    #[arg(long)]
    program: Option<String>,
    /// Replace the output file when it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs a `feedback` subcommand.
pub(crate) async fn feedback(command: FeedbackCommand) -> Result<ExitCode> {
    match command {
        FeedbackCommand::Pending(a) => {
            let store = a.store.open_existing().await?;
            let items = store.pending_reviews(a.program.as_deref(), a.limit).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(ExitCode::SUCCESS);
            }
            if items.is_empty() {
                println!("no pending reviews");
            }
            for it in items {
                let e = &it.evaluation;
                let version = e.version.map(|v| format!("@{v}")).unwrap_or_default();
                let reason = it.feedback.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
                println!("evaluation {}: {}{version} score {:.2}{reason}", e.id, e.program, e.score);
                println!("  inputs:  {}", Value::Object(e.inputs.clone()));
                let outputs = e.outputs.clone().map(Value::Object).unwrap_or(Value::Null);
                println!("  outputs: {outputs}");
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedbackCommand::Request(a) => {
            let store = a.store.open_existing().await?;
            let f = store.request_review(a.evaluation, a.reason.as_deref()).await?;
            println!("evaluation {}: review {:?}", f.evaluation_id, f.status);
            Ok(ExitCode::SUCCESS)
        }
        FeedbackCommand::Record(a) => {
            let corrected = match &a.correct {
                None => None,
                Some(text) => match serde_json::from_str::<Value>(text)
                    .with_context(|| format!("--correct is not valid JSON: {text}"))?
                {
                    Value::Object(m) => Some(m),
                    _ => bail!("--correct must be a JSON object such as '{{\"answer\": \"7\"}}'"),
                },
            };
            let reviewer = Some(promptsmith_app::actor(a.reviewer.as_deref()));
            let input = FeedbackInput { rating: a.rating, corrected, label: a.label, comment: a.comment, reviewer };
            let store = a.store.open_existing().await?;
            let f = store.record_feedback(a.evaluation, &input).await?;
            println!("evaluation {}: feedback recorded", f.evaluation_id);
            Ok(ExitCode::SUCCESS)
        }
        FeedbackCommand::Stats(a) => {
            let store = a.store.open_existing().await?;
            let s = store.feedback_stats(a.program.as_deref()).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("pending: {}, received: {}", s.pending, s.received);
            println!("rated: {}, corrected: {}, labelled: {}", s.rated, s.corrected, s.labelled);
            match (s.agreement, s.mean_abs_difference) {
                (Some(a), Some(d)) => println!(
                    "judge/human agreement: {:.1}% over {} rated (mean |score - rating| {:.3})",
                    a * 100.0,
                    s.rated,
                    d
                ),
                _ => println!("judge/human agreement: no ratings yet"),
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedbackCommand::Export(a) => export(&a).await,
    }
}

/// Arguments of `data export`.
#[derive(Debug, Args)]
pub(crate) struct DataExportArgs {
    /// Build the examples from the store's human feedback (corrected outputs and labels).
    #[arg(long, required = true)]
    from_feedback: bool,
    #[command(flatten)]
    export: ExportArgs,
}

/// `data export --from-feedback` (the `data` command is synchronous).
pub(crate) fn data_export(a: &DataExportArgs) -> Result<ExitCode> {
    debug_assert!(a.from_feedback, "clap requires --from-feedback");
    super::registry::block_on(export(&a.export))
}

/// Writes corrected outputs (and labels) from feedback as a JSONL dataset.
pub(crate) async fn export(a: &ExportArgs) -> Result<ExitCode> {
    if a.out.exists() && !a.force {
        bail!("{} exists; pass --force to replace it", a.out.display());
    }
    let store = a.store.open_existing().await?;
    let examples = store.feedback_examples(a.program.as_deref()).await?;
    let tmp = a.out.with_extension("jsonl.tmp");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?,
    );
    for e in &examples {
        let line: Map<String, Value> = e.example.clone();
        writeln!(file, "{}", serde_json::to_string(&line)?)?;
    }
    file.flush()?;
    drop(file);
    std::fs::rename(&tmp, &a.out).with_context(|| format!("cannot write {}", a.out.display()))?;
    println!("{} examples from feedback written to {}", examples.len(), a.out.display());
    Ok(ExitCode::SUCCESS)
}
