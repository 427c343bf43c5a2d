//! `promptsmith eval`: score a program on a dataset.

use super::{file_sha256, load_program_with_state, sample_dirs};
use crate::lm_setup::{build_lm, LmArgs};
use crate::manifest::{run_dir, write_json, Manifest};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use promptsmith_eval::{load_dataset, metric_by_name, Evaluator};
use serde_json::json;
use std::io::Write;
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
    /// Dataset: a file (JSONL, JSON, CSV) or a name such as `gsm8k` / `gsm8k:train`, looked
    /// up in $PROMPTSMITH_DATA_DIR, ../shared/data, then the bundled samples.
    #[arg(long)]
    data: String,
    /// Metric id: exact_match, numeric_match, f1, contains, regex:<pattern>.
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
}

pub(crate) async fn eval(args: EvalArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let program = load_program_with_state(&args.program, args.state.as_deref())?;
    let outputs = program.output_fields();
    let field = match &args.field {
        Some(f) => f.clone(),
        None if outputs.iter().any(|o| o == "answer") => "answer".to_string(),
        None => outputs.last().cloned().unwrap_or_else(|| "answer".into()),
    };
    if !outputs.contains(&field) {
        bail!("--field '{field}' is not an output of program '{}' (outputs: {})", program.name, outputs.join(", "));
    }
    let metric = metric_by_name(&args.metric, &field).map_err(|e| anyhow::anyhow!("--metric: {e}"))?;
    let inputs = program.input_fields();
    let input_refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let mut dataset = load_dataset(&args.data, &sample_dirs(&args.program), Some(&input_refs))
        .map_err(|e| anyhow::anyhow!("--data {}: {e}", args.data))?;
    if let Some(seed) = args.seed {
        dataset = dataset.shuffle(seed);
    }
    if let Some(n) = args.limit {
        dataset = dataset.take(n);
    }
    if dataset.is_empty() {
        bail!("--data {}: no examples to evaluate", args.data);
    }
    if let Some(first) = dataset.examples().first() {
        let missing: Vec<&String> = inputs.iter().filter(|f| first.get(f).is_none()).collect();
        if !missing.is_empty() {
            bail!(
                "--data {}: examples lack the program's input field(s) {} (they have: {})",
                args.data,
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                first.fields.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if first.get(&field).is_none() {
            bail!("--data {}: examples have no '{field}' label for the metric to compare", args.data);
        }
    }

    let handle = build_lm(&lm_args).await?;
    let total = dataset.len();
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(total as u64) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress_bar = bar.clone();
    let evaluator = Evaluator::new(metric).with_concurrency(handle.concurrency).with_progress(move |done, _, mean| {
        progress_bar.set_position(done as u64);
        progress_bar.set_message(format!("{} {:.1}%", "score", mean * 100.0));
    });
    let report = evaluator.evaluate(&program, handle.lm.as_ref(), dataset.examples()).await;
    bar.finish_and_clear();
    let stats = handle.stats.snapshot();
    let info = handle.info.clone();
    handle.shutdown().await;

    if report.n > 0 && report.lm_errors == report.n {
        let first = report.results.iter().find_map(|r| r.error.as_ref()).map(|e| e.message.clone()).unwrap_or_default();
        bail!("every LM call failed; the first error: {first}");
    }
    let dir = run_dir(args.out.as_deref(), "eval", &program.name)?;
    let mut manifest = Manifest::new("eval");
    manifest.seed = args.seed;
    manifest.model = serde_json::to_value(&info)?;
    manifest.program = json!({
        "path": args.program.display().to_string(),
        "name": program.name,
        "hash": program.hash(),
        "state": args.state.as_ref().map(|p| json!({"path": p.display().to_string(), "sha256": file_sha256(p)})),
    });
    manifest.dataset = Some(serde_json::to_value(dataset.manifest())?);
    manifest.settings =
        json!({"metric": args.metric, "field": field, "limit": args.limit, "concurrency": report.concurrency});
    write_json(&dir, "manifest.json", &manifest)?;
    let results_path = dir.join("results.jsonl");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&results_path).with_context(|| format!("cannot write {}", results_path.display()))?,
    );
    for r in &report.results {
        writeln!(file, "{}", serde_json::to_string(r)?)?;
    }
    file.flush()?;
    write_json(&dir, "report.json", &report)?;

    let ci = report
        .stats
        .ci95
        .as_ref()
        .map(|c| format!(" (95% CI {:.1}–{:.1}%)", c.low * 100.0, c.high * 100.0))
        .unwrap_or_default();
    println!("{}: {:.1}%{} on {} examples of {}", report.metric, report.mean * 100.0, ci, report.n, dataset.name());
    println!(
        "parse failures: {}, LM errors: {}, other errors: {}; LM calls: {} ({} from cache); tokens: {} prompt + {} completion; {:.1}s",
        report.parse_failures,
        report.lm_errors,
        report.other_errors,
        report.lm_calls,
        stats.cache_hits,
        report.usage.prompt_tokens,
        report.usage.completion_tokens,
        report.wall_ms as f64 / 1000.0
    );
    if stats.cost_usd > 0.0 {
        println!("cost: ${:.4}", stats.cost_usd);
    }
    println!("results: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
