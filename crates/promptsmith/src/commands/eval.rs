//! `promptsmith eval`: score a program on a dataset.

use super::{cancel_on_ctrl_c, file_sha256, load_program_with_state, progress_bar, sample_dirs};
use crate::data_args::DataArgs;
use crate::lm_setup::{build_lm, role_lm, LmArgs};
use crate::manifest::{run_dir, write_json, Manifest};
use anyhow::{bail, Context, Result};
use clap::Args;
use promptsmith_eval::{jsonl_to_csv, EvalSummary, Evaluator, JsonlWriter, ResultsFormat, StopReason};
use promptsmith_lm::LmRole;
use serde::Serialize;
use serde_json::json;
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

/// `report.json`: the summary, and where the per-example results are (not repeated here, so
/// the report stays small however many examples ran).
#[derive(Serialize)]
struct ReportFile<'a> {
    #[serde(flatten)]
    summary: &'a EvalSummary,
    /// The results file's name in the run directory.
    results_file: &'a str,
}

/// Exit status when the score is below `--min-score`.
pub(crate) const EXIT_BELOW_MIN_SCORE: u8 = 3;
/// Exit status when the run was stopped by Ctrl-C.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

pub(crate) async fn eval(args: EvalArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let program = load_program_with_state(&args.program, args.state.as_deref())?;
    let field = super::metric_field(&program, args.field.as_deref())?;
    let metric_spec = super::metric_spec(&args.metric)?;
    let results_format = ResultsFormat::parse(&args.results_format)
        .with_context(|| format!("--results-format '{}': expected jsonl or csv", args.results_format))?;
    if let Some(min) = args.min_score {
        if !(0.0..=1.0).contains(&min) {
            bail!("--min-score {min}: expected a score between 0 and 1 (e.g. 0.3 for 30%)");
        }
    }
    if !(0.0..=1.0).contains(&args.failure_score) {
        bail!("--failure-score {}: expected a score between 0 and 1", args.failure_score);
    }
    let inputs = program.input_fields();
    let dataset = args.data.load_for_program(&sample_dirs(&args.program), &inputs, args.seed, args.limit)?;
    super::check_labels(&metric_spec, &field, &args.data.data, dataset.examples().first())?;

    let handle = build_lm(&lm_args).await?;
    let judge_lm =
        if metric_spec.needs_judge() { Some(role_lm(&lm_args, &handle, LmRole::Judge).await?) } else { None };
    let metric = metric_spec.build(&field, judge_lm).map_err(|e| anyhow::anyhow!("--metric {}: {e}", args.metric))?;
    let total = dataset.len();
    let bar = progress_bar(total, args.quiet);
    let progress = bar.clone();
    let cancel = cancel_on_ctrl_c();
    let pricing = handle.pricing.clone();
    let evaluator = Evaluator::new(metric)
        .with_concurrency(handle.concurrency)
        .with_failure_score(args.failure_score)
        .with_max_errors(args.max_errors)
        .with_cancel(cancel.clone())
        .with_pricing(move |u| pricing.cost_usd(u.prompt_tokens, u.completion_tokens))
        .with_progress(move |done, _, mean| {
            progress.set_position(done as u64);
            progress.set_message(format!("score {:.1}%", mean * 100.0));
        });

    // The run directory and manifest come first: results stream into the directory as they
    // finish (in input order), so memory stays flat however large the dataset is. A CSV is
    // made from a JSONL spool at the end (its columns need every result), which also feeds
    // the store.
    let dir = run_dir(args.out.as_deref(), "eval", &program.name)?;
    let mut manifest = Manifest::new("eval");
    manifest.seed = args.seed;
    manifest.model = serde_json::to_value(&handle.info)?;
    manifest.program = json!({
        "path": args.program.display().to_string(),
        "name": program.name,
        "hash": program.hash(),
        "state": args.state.as_ref().map(|p| json!({"path": p.display().to_string(), "sha256": file_sha256(p)})),
    });
    manifest.dataset = Some(serde_json::to_value(dataset.manifest())?);
    manifest.settings =
        json!({"metric": args.metric, "field": field, "limit": args.limit, "concurrency": evaluator.concurrency()});
    write_json(&dir, "manifest.json", &manifest)?;
    let results_name = format!("results.{}", results_format.extension());
    let results_path = dir.join(&results_name);
    let spool = match results_format {
        ResultsFormat::Jsonl => results_path.clone(),
        ResultsFormat::Csv => dir.join(".results.jsonl.tmp"),
    };
    let mut writer = JsonlWriter::create(&spool)?;
    let mut write_error = None;
    let mut first_error: Option<String> = None;
    let stop = cancel.clone();
    let report = evaluator
        .evaluate_each(&program, handle.lm.as_ref(), dataset.examples(), |r| {
            if first_error.is_none() {
                first_error = r.error.as_ref().map(|e| e.message.clone());
            }
            if write_error.is_none() {
                if let Err(e) = writer.write(&r) {
                    write_error = Some(e);
                    stop.cancel();
                }
            }
        })
        .await;
    bar.finish_and_clear();
    // The examples are not needed any more: free them before the CSV and the store are made.
    let dataset_name = dataset.name().to_string();
    drop(dataset);
    let stats = handle.stats.snapshot();
    handle.shutdown().await;
    if let Some(e) = write_error {
        bail!("stopped: cannot write the results: {e}");
    }
    writer.finish()?;
    if results_format == ResultsFormat::Csv {
        jsonl_to_csv(&spool, &results_path)?;
    }
    write_json(&dir, "report.json", &ReportFile { summary: &report, results_file: &results_name })?;
    let remove_spool = || {
        if spool != results_path {
            let _ = std::fs::remove_file(&spool);
        }
    };

    if report.n > 0 && report.lm_errors == report.n {
        remove_spool();
        bail!("every LM call failed; the first error: {}", first_error.unwrap_or_default());
    }

    let ci = report
        .stats
        .ci95
        .as_ref()
        .map(|c| format!(" (95% CI {:.1}–{:.1}%)", c.low * 100.0, c.high * 100.0))
        .unwrap_or_default();
    println!("{}: {:.1}%{} on {} examples of {dataset_name}", report.metric, report.mean * 100.0, ci, report.n);
    println!(
        "failures: {} parse, {} LM, {} other (scored {}); metric errors: {}; LM calls: {} ({} from cache); tokens: {} prompt + {} completion; {:.1}s",
        report.parse_failures,
        report.lm_errors,
        report.other_errors,
        report.failure_score,
        report.metric_errors,
        report.lm_calls,
        stats.cache_hits,
        report.usage.prompt_tokens,
        report.usage.completion_tokens,
        report.wall_ms as f64 / 1000.0
    );
    if !report.metric_spend.is_zero() {
        println!("judge: {} calls, {} tokens", report.metric_spend.lm_calls, report.metric_spend.usage.total());
    }
    if stats.cost_usd > 0.0 {
        println!("cost: ${:.4}", stats.cost_usd);
    }
    println!("results: {}", dir.display());
    let run_info = json!({"run_dir": dir.display().to_string(), "dataset": dataset_name});
    let recorded =
        super::registry::record_eval(&args.store, &args.program, &program.name, &report, &spool, run_info).await;
    remove_spool();
    recorded?;
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
                dir.display()
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
