//! `promptsmith data synthesize`: the flags become a [`SynthesizeRequest`] run by
//! [`SynthesizeService`] on the teacher model; this module shows progress and prints the report.

use super::progress_bar;
use crate::lm_setup::{build_lm, LmArgs};
use anyhow::{Context, Result};
use clap::Args;
use promptsmith_app::data::DataRequest;
use promptsmith_app::synthesize::{SynthesisReport, SynthesizeRequest, SynthesizeService};
use promptsmith_app::StoreTarget;
use promptsmith_lm::LmRole;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `data synthesize`.
#[derive(Debug, Args)]
pub(crate) struct SynthesizeArgs {
    /// Program spec file, or NAME@VERSION|ALIAS in the registry: its fields and types shape the rows.
    #[arg(long)]
    program: String,
    /// Seed examples (JSONL, JSON, CSV): the program's inputs and at least one labelled output.
    #[arg(long)]
    seeds: String,
    /// Examples wanted.
    #[arg(long)]
    n: usize,
    /// The JSONL file to write; the report goes beside it as FILE.report.json.
    #[arg(long)]
    out: PathBuf,
    /// Examples asked for per call.
    #[arg(long, default_value_t = 5)]
    per_call: usize,
    /// Seeds shown in each call.
    #[arg(long, default_value_t = 3)]
    seeds_shown: usize,
    /// Most calls made (default: three times the calls --n needs, plus two).
    #[arg(long)]
    max_calls: Option<usize>,
    /// Seed of the choices and of the model's sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.9)]
    temperature: f32,
    /// Rows whose inputs share at least this share of word pairs with an earlier row are dropped.
    #[arg(long, default_value_t = 0.7)]
    max_similarity: f64,
    /// Rows scoring below this on the quality heuristic (0-1) are dropped.
    #[arg(long, default_value_t = 0.75)]
    min_quality: f64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(crate) async fn synthesize(args: SynthesizeArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let request = SynthesizeRequest {
        per_call: args.per_call,
        seeds_shown: args.seeds_shown,
        max_calls: args.max_calls,
        seed: args.seed,
        temperature: args.temperature,
        max_similarity: args.max_similarity,
        min_quality: args.min_quality,
        ..SynthesizeRequest::new(&args.program, DataRequest::named(&args.seeds), args.n)
    };
    let service = SynthesizeService::new(StoreTarget::default());
    let prepared = service.prepare(request).await?;
    eprintln!(
        "{} seeds; rows with fields {}; at most {} calls",
        prepared.seed_count(),
        prepared.field_names().join(", "),
        prepared.max_calls()
    );
    let lm = build_lm(&lm_args).await?;
    let bar = progress_bar(args.n, args.quiet);
    let shown = bar.clone();
    let progress = move |r: &SynthesisReport| {
        shown.set_position((r.generated - r.surplus - r.dropped.values().sum::<usize>()) as u64);
        shown.set_message(format!("{} calls", r.calls));
    };
    let teacher = lm.role(LmRole::Teacher);
    let outcome = service.run(prepared, teacher.as_ref(), lm.concurrency, &progress).await;
    bar.finish_and_clear();
    lm.shutdown().await;
    let synthesis = outcome?;
    synthesis.write_jsonl(&args.out)?;
    let report_path = PathBuf::from(format!("{}.report.json", args.out.display()));
    std::fs::write(&report_path, serde_json::to_string_pretty(&synthesis.report)?)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    print_report(&synthesis.report);
    println!("wrote {} examples to {} (report: {})", synthesis.rows.len(), args.out.display(), report_path.display());
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &SynthesisReport) {
    let dropped: usize = r.dropped.values().sum();
    println!(
        "generated {} rows in {} calls ({} failed, {} unreadable answers); kept {}, dropped {dropped}; tokens: {} prompt + {} completion",
        r.generated, r.calls, r.failed_calls, r.unreadable_answers, r.kept, r.usage.prompt_tokens, r.usage.completion_tokens
    );
    for (reason, n) in &r.dropped {
        println!("  dropped {n}: {reason}");
    }
    if !r.labels.is_empty() {
        let counts: Vec<String> = r.labels.iter().map(|(l, n)| format!("{l} {n}")).collect();
        println!("labels: {}", counts.join(", "));
    }
    if let Some(why) = &r.stopped {
        println!("stopped early: {why}");
    }
}
