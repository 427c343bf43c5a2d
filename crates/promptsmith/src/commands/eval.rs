//! `promptsmith eval`: score a program on a dataset. The flags become an
//! [`EvalRequest`] run by [`EvalService`]; this module parses, shows progress and prints.

use super::{cancel_on_ctrl_c, progress_bar};
use crate::data_args::DataArgs;
use crate::lm_setup::{build_lm, LmArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use promptsmith_app::eval::{EvalContext, EvalOutcome};
use promptsmith_app::{EvalRequest, EvalService, StoreTarget};
use promptsmith_eval::{ResultsFormat, StopReason};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Program spec file (JSON or YAML).
    #[arg(long)]
    program: PathBuf,
    /// Program state file (optimized instructions and demos).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Dataset and column mapping (--data, --input, --label, --label-transform).
    #[command(flatten)]
    data: DataArgs,
    /// Metric: a built-in id (exact_match, numeric_match[:tol], f1, contains, regex:<pattern>,
    /// label_match, rouge_l, set_f1, ifeval, ...) or a metric spec file (.yaml/.json) describing
    /// an LLM judge or a weighted composite.
    #[arg(long, default_value = "exact_match")]
    metric: String,
    /// Field the metric compares (default: `answer`, else the program's last output).
    #[arg(long)]
    field: Option<String>,
    /// Evaluate only the first N examples (after shuffling when --seed is given).
    #[arg(long)]
    limit: Option<usize>,
    /// Shuffle the dataset with this seed before --limit.
    #[arg(long)]
    seed: Option<u64>,
    /// Run directory for results and manifest (default: .promptsmith/runs/<time>-eval-<program>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Recording in the store (--no-store, --database-url).
    #[command(flatten)]
    store: super::registry::RecordArgs,
    /// Score given to examples whose program run failed (LM error after retries, parse error).
    #[arg(long, default_value_t = 0.0)]
    failure_score: f64,
    /// Stop after this many failed examples (the finished results are kept).
    #[arg(long)]
    max_errors: Option<usize>,
    /// Exit with status 3 when the mean score is below this (0-1), for CI pipelines.
    #[arg(long)]
    min_score: Option<f64>,
    /// Per-example results file format: jsonl or csv.
    #[arg(long, default_value = "jsonl")]
    results_format: String,
}

/// Exit status when the score is below `--min-score`.
pub(crate) const EXIT_BELOW_MIN_SCORE: u8 = 3;
/// Exit status when the run was stopped by Ctrl-C.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

pub(crate) async fn eval(args: EvalArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let results_format = ResultsFormat::parse(&args.results_format)
        .with_context(|| format!("--results-format '{}': expected jsonl or csv", args.results_format))?;
    if let Some(min) = args.min_score {
        if !(0.0..=1.0).contains(&min) {
            bail!("--min-score {min}: expected a score between 0 and 1 (e.g. 0.3 for 30%)");
        }
    }
    let request = EvalRequest {
        program: args.program.display().to_string(),
        state: args.state.clone(),
        data: args.data.request(),
        metric: args.metric.clone(),
        field: args.field.clone(),
        limit: args.limit,
        seed: args.seed,
        failure_score: args.failure_score,
        max_errors: args.max_errors,
        results_format,
        out: args.out.clone(),
    };
    let store = (!args.store.no_store).then(|| StoreTarget::new(args.store.database_url.clone()));
    let service = EvalService::new(store);
    let prepared = service.prepare(request).await?;
    for w in &prepared.warnings {
        eprintln!("warning: {w}");
    }
    let lm = build_lm(&lm_args).await?;
    let bar = progress_bar(prepared.dataset.len(), args.quiet);
    let progress = bar.clone();
    let ctx = EvalContext {
        lm: &lm,
        progress: Box::new(move |done, _, mean| {
            progress.set_position(done as u64);
            progress.set_message(format!("score {:.1}%", mean * 100.0));
        }),
        cancel: cancel_on_ctrl_c(),
    };
    let outcome = service.run(prepared, ctx).await;
    bar.finish_and_clear();
    let stats = lm.stats.snapshot();
    let (cache_hits, cost) = (stats.cache_hits, stats.cost_usd);
    lm.shutdown().await;
    let outcome = outcome?;
    print_summary(&outcome, cache_hits, cost);
    if let Some(recorded) = &outcome.recorded {
        match recorded {
            Ok(r) => {
                let v = r.version.map(|v| format!(" version {v}")).unwrap_or_default();
                println!("stored: {} evaluations of {}{v} as run {} in {}", r.evaluations, r.program, r.run_id, r.url);
            }
            Err(e) => bail!(
                "the results are saved on disk, but recording them in the store failed (--no-store skips it): {e}"
            ),
        }
    }
    exit_status(&outcome, &args)
}

/// The exit status: 130 after Ctrl-C, an error after `--max-errors`, 3 below `--min-score`.
fn exit_status(outcome: &EvalOutcome, args: &EvalArgs) -> Result<ExitCode> {
    let report = &outcome.summary;
    match report.stopped {
        Some(StopReason::Cancelled) => {
            eprintln!(
                "stopped by Ctrl-C after {} of {} examples; the finished results are saved",
                report.n, report.total
            );
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        Some(StopReason::TooManyErrors) => {
            bail!(
                "stopped after {} failed examples (--max-errors {}); {} of {} examples finished, results in {}",
                report.failure_count(),
                args.max_errors.unwrap_or_default(),
                report.n,
                report.total,
                outcome.run_dir.display()
            );
        }
        None => {}
    }
    if let Some(min) = args.min_score {
        if report.mean < min {
            eprintln!("score {:.1}% is below --min-score {:.1}%", report.mean * 100.0, min * 100.0);
            return Ok(ExitCode::from(EXIT_BELOW_MIN_SCORE));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(outcome: &EvalOutcome, cache_hits: u64, cost_usd: f64) {
    let report = &outcome.summary;
    let ci = report
        .stats
        .ci95
        .as_ref()
        .map(|c| format!(" (95% CI {:.1}–{:.1}%)", c.low * 100.0, c.high * 100.0))
        .unwrap_or_default();
    println!("{}: {:.1}%{} on {} examples of {}", report.metric, report.mean * 100.0, ci, report.n, outcome.dataset);
    println!(
        "failures: {} parse, {} LM, {} other (scored {}); metric errors: {}; LM calls: {} ({} from cache); tokens: {} prompt + {} completion; {:.1}s",
        report.parse_failures,
        report.lm_errors,
        report.other_errors,
        report.failure_score,
        report.metric_errors,
        report.lm_calls,
        cache_hits,
        report.usage.prompt_tokens,
        report.usage.completion_tokens,
        report.wall_ms as f64 / 1000.0
    );
    if !report.metric_spend.is_zero() {
        println!("judge: {} calls, {} tokens", report.metric_spend.lm_calls, report.metric_spend.usage.total());
    }
    if cost_usd > 0.0 {
        println!("cost: ${cost_usd:.4}");
    }
    println!("results: {}", outcome.run_dir.display());
}
