//! `promptsmith compare`: which of two program states scores better on the same examples, and
//! how sure we can be. Either evaluates the program with each state (the same examples, the
//! same model and metric), or reads two finished `eval` runs' per-example results. The work is
//! [`CompareService`]'s; this module parses and prints.

use super::progress_bar;
use crate::lm_setup::{build_lm, LmArgs};
use anyhow::{bail, Result};
use clap::Args;
use promptsmith_app::compare::CompareOutcome;
use promptsmith_app::{CompareRequest, CompareService, DataRequest, StoreTarget};
use promptsmith_eval::stats::{score_interval, Interval, PairedTest};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `compare`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  promptsmith compare --program P --state old.json --state new.json --data D --metric exact_match
  promptsmith compare --program P --baseline --state new.json --data D --limit 200
  promptsmith compare --program P --baseline --state new.json --data t.csv --input q=question --label gold=answer
  promptsmith compare --results runs/a/results.jsonl --results runs/b   (no model calls)

The test is McNemar's exact test when every score is 0 or 1, else the Wilcoxon signed-rank
test; the difference A - B gets a paired bootstrap confidence interval. Without a significant
difference the verdict estimates how many examples would detect one of the observed size with
80% power. The exit status is 0 whichever side wins; bad input exits non-zero.")]
pub(crate) struct CompareArgs {
    /// Program spec file (JSON or YAML).
    #[arg(long, required_unless_present = "results")]
    program: Option<PathBuf>,
    /// A program state file. Give it twice (side A, then side B), or once with --baseline.
    #[arg(long = "state", value_name = "STATE")]
    states: Vec<PathBuf>,
    /// Side A is the program as written (its own instructions and demos, no state file); the
    /// one --state is side B.
    #[arg(long)]
    baseline: bool,
    /// Dataset: a file (JSONL, JSON, CSV) or a name such as `gsm8k` / `gsm8k:train`, looked up
    /// like `eval --data`.
    #[arg(long, required_unless_present = "results")]
    data: Option<String>,
    /// An input column of the data file: COLUMN, or COLUMN=FIELD to rename it (repeatable), as
    /// for `eval --input`.
    #[arg(long = "input", value_name = "COLUMN[=FIELD]", conflicts_with = "results")]
    inputs: Vec<String>,
    /// A label column: COLUMN, or COLUMN=FIELD to rename it (repeatable), as for `eval --label`.
    #[arg(long = "label", value_name = "COLUMN[=FIELD]", conflicts_with = "results")]
    labels: Vec<String>,
    /// Transform applied to every label, as for `eval --label-transform`.
    #[arg(long, value_name = "NAME|regex:PATTERN", conflicts_with = "results")]
    label_transform: Option<String>,
    /// Metric: a built-in id (exact_match, numeric_match[:tol], f1, contains, regex:<pattern>,
    /// ...) or a metric spec file (.yaml/.json), as for `eval`.
    #[arg(long, default_value = "exact_match")]
    metric: String,
    /// Field the metric compares (default: `answer`, else the program's last output).
    #[arg(long)]
    field: Option<String>,
    /// Evaluate only the first N examples (after shuffling when --seed is given).
    #[arg(long)]
    limit: Option<usize>,
    /// Shuffle the dataset with this seed before --limit; also seeds the bootstrap (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Confidence level of the intervals; 1 - confidence is the significance level.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Compare two finished evaluations instead: an `eval` run directory or its `results.jsonl`,
    /// given twice (side A, then side B). No model is called.
    #[arg(
        long = "results",
        value_name = "RESULTS",
        conflicts_with_all = ["program", "states", "baseline", "data", "field", "limit"]
    )]
    results: Vec<PathBuf>,
    /// Print the comparison as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(crate) async fn compare(args: CompareArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let service = CompareService::new(StoreTarget::default());
    let outcome = if args.results.is_empty() {
        let request = evaluate_request(&args)?;
        // Both programs, the metric and the data are checked before the model starts.
        let prepared = service.prepare(&request).await?;
        let lm = build_lm(&lm_args).await?;
        let bar = progress_bar(prepared.len(), args.quiet);
        let progress = bar.clone();
        let outcome = service
            .evaluate(
                &request,
                prepared,
                &lm,
                Arc::new(move |label: &str, done: usize, mean: f64| {
                    progress.set_position(done as u64);
                    progress.set_message(format!("{label}: score {:.1}%", mean * 100.0));
                }),
            )
            .await;
        bar.finish_and_clear();
        lm.shutdown().await;
        outcome?
    } else {
        let [a, b] = args.results.as_slice() else {
            bail!(
                "--results needs exactly two results files or run directories (side A, then side B), got {}",
                args.results.len()
            );
        };
        service.from_results(&CompareRequest::Results {
            paths: [a.clone(), b.clone()],
            seed: args.seed,
            confidence: args.confidence,
        })?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome.to_json())?);
    } else {
        for failures in [&outcome.a.failures, &outcome.b.failures].into_iter().flatten() {
            eprintln!("{failures}");
        }
        print_text(&outcome);
    }
    Ok(ExitCode::SUCCESS)
}

/// The request of a comparison that evaluates: `--state A --state B` or `--baseline --state B`.
fn evaluate_request(args: &CompareArgs) -> Result<CompareRequest> {
    let (Some(program), Some(data)) = (&args.program, &args.data) else {
        bail!("compare needs --program and --data (or two --results files)");
    };
    let mut states: Vec<Option<PathBuf>> = args.states.iter().cloned().map(Some).collect();
    if args.baseline {
        states.insert(0, None);
    }
    let Ok(states) = <[Option<PathBuf>; 2]>::try_from(states) else {
        bail!(
            "compare needs exactly two sides: --state A --state B, or --baseline --state B (got {} --state{})",
            args.states.len(),
            if args.baseline { " and --baseline" } else { "" }
        );
    };
    Ok(CompareRequest::Evaluate {
        program: program.display().to_string(),
        states,
        data: DataRequest {
            data: data.clone(),
            inputs: args.inputs.clone(),
            labels: args.labels.clone(),
            label_transform: args.label_transform.clone(),
        },
        metric: args.metric.clone(),
        field: args.field.clone(),
        limit: args.limit,
        seed: args.seed,
        confidence: args.confidence,
    })
}

/// A confidence level as a percentage: 0.95 -> "95", 0.999 -> "99.9".
fn level(confidence: f64) -> String {
    let s = format!("{:.3}", confidence * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// "  (95% CI 41.2–63.0%)", or nothing for fewer than two scores.
fn mean_ci(scores: &[f64], confidence: f64) -> String {
    score_interval(scores, confidence)
        .map(|c: Interval| format!("  ({}% CI {:.1}–{:.1}%)", level(confidence), c.low * 100.0, c.high * 100.0))
        .unwrap_or_default()
}

fn print_text(o: &CompareOutcome) {
    let (metric, dataset, a, b, c, confidence) =
        (&o.metric, o.dataset.as_deref(), &o.a, &o.b, &o.comparison, o.confidence);
    let verdict = o.verdict();
    let n = a.scores.len();
    let on = dataset.map(|d| format!(" of {d}")).unwrap_or_default();
    println!("{metric} on {n} paired examples{on}");
    let width = a.label.chars().count().max(b.label.chars().count());
    for (tag, side, summary) in [("A", a, &c.a), ("B", b, &c.b)] {
        let source = if side.source == side.label { String::new() } else { format!("  [{}]", side.source) };
        println!(
            "  {tag}  {:<width$}  {:5.1}%{}{source}",
            side.label,
            summary.mean * 100.0,
            mean_ci(&side.scores, confidence),
        );
    }
    let ci = c.bootstrap.ci;
    println!(
        "difference A - B: {:+.1} points ({}% paired bootstrap CI {:+.1} to {:+.1}); A ahead on {}, B ahead on {}, tied on {}",
        c.bootstrap.mean_diff * 100.0,
        level(confidence),
        ci.low * 100.0,
        ci.high * 100.0,
        c.sign.wins,
        c.sign.losses,
        c.sign.ties
    );
    match &c.test {
        PairedTest::McNemar(m) => println!(
            "test: {} on {} discordant examples ({} only A right, {} only B right): p = {:.4} \
             (chi-square with continuity correction: {:.3}, p = {:.4})",
            c.test.name(),
            m.a_only + m.b_only,
            m.a_only,
            m.b_only,
            m.p_value,
            m.chi2,
            m.chi2_p_value
        ),
        PairedTest::Wilcoxon(w) => println!(
            "test: {} on {} pairs with a difference: W = {}, p = {:.4}",
            c.test.name(),
            w.n_nonzero,
            w.statistic,
            w.p_value
        ),
        PairedTest::Identical => println!("test: none (every example scored the same on both sides)"),
    }
    println!("verdict: {verdict}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_print_without_trailing_zeros() {
        assert_eq!((level(0.95), level(0.999), level(0.9)), ("95".into(), "99.9".into(), "90".into()));
    }
}
