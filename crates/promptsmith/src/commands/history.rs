//! `promptsmith history`: the recorded LM calls.

use crate::lm_setup::{history_config, LmArgs};
use anyhow::Result;
use clap::Args;
use promptsmith_lm::history::{history_files, read_recent};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `history`.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// How many of the most recent calls to show.
    #[arg(long, short = 'n', default_value_t = 5)]
    last: usize,
    /// History file (default: `[history] path` in promptsmith.toml, else <cache dir>/history.jsonl);
    /// its rotated files (FILE.1, FILE.2, ...) are read too.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Only a one-line summary per call, without messages.
    #[arg(long)]
    summary: bool,
}

pub(crate) fn history(args: HistoryArgs, lm: &LmArgs) -> Result<ExitCode> {
    let config = history_config(lm)?;
    let path = match args.file.or(config.path.clone()) {
        Some(p) => p,
        None => anyhow::bail!("cannot determine the promptsmith cache directory (set PROMPTSMITH_CACHE_DIR or --file)"),
    };
    if history_files(&path).is_empty() {
        let off = if config.enabled {
            ""
        } else {
            "; the history is turned off ([history] enabled = false in promptsmith.toml, or PROMPTSMITH_HISTORY=off)"
        };
        println!("no LM calls recorded yet ({} does not exist{off})", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let records = read_recent(&path, args.last)?;
    for rec in &records {
        println!(
            "=== {} | {} | {:.0} ms | {} prompt + {} completion tokens{}{}",
            promptsmith_app::rundir::utc_timestamp(rec.timestamp_ms / 1000),
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
