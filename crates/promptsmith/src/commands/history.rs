//! `promptsmith history`: the recorded LM calls.

use crate::lm_setup::history_path;
use anyhow::{Context, Result};
use clap::Args;
use promptsmith_lm::CallRecord;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `history`.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// How many of the most recent calls to show.
    #[arg(long, short = 'n', default_value_t = 5)]
    last: usize,
    /// History file (default: <cache dir>/history.jsonl).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Only a one-line summary per call, without messages.
    #[arg(long)]
    summary: bool,
}

pub(crate) fn history(args: HistoryArgs) -> Result<ExitCode> {
    let path = match args.file {
        Some(p) => p,
        None => history_path()?,
    };
    if !path.is_file() {
        println!("no LM calls recorded yet ({} does not exist)", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut records = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: CallRecord = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not a call record", path.display(), i + 1))?;
        records.push(rec);
    }
    let start = records.len().saturating_sub(args.last);
    for rec in &records[start..] {
        println!(
            "=== {} | {} | {:.0} ms | {} prompt + {} completion tokens{}{}",
            crate::manifest::utc_timestamp(rec.timestamp_ms / 1000),
            rec.model,
            rec.latency_ms,
            rec.usage.prompt_tokens,
            rec.usage.completion_tokens,
            if rec.cached { " | cached" } else { "" },
            rec.error.as_ref().map(|e| format!(" | error: {e}")).unwrap_or_default()
        );
        if args.summary {
            continue;
        }
        for m in &rec.request.messages {
            println!("--- {:?}\n{}", m.role, m.content);
        }
        if let Some(r) = &rec.response {
            println!("--- response\n{}", r.text());
        }
    }
    Ok(ExitCode::SUCCESS)
}
