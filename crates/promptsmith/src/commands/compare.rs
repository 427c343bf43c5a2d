//! `promptsmith compare`: which of two program states scores better on the same examples, and
//! how sure we can be. Either evaluates the program with each state (the same examples, the
//! same model and metric), or reads two finished `eval` runs' per-example results.

use super::{load_program_with_state, progress_bar, sample_dirs};
use crate::data_args::DataArgs;
use crate::lm_setup::{build_lm, role_lm, LmArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use promptsmith_eval::stats::{compare_paired_at, t_interval, Interval, PairedComparison, PairedTest};
use promptsmith_eval::Evaluator;
use promptsmith_lm::LmRole;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

/// One side of the comparison: a name and its scores, in example order.
struct Side {
    label: String,
    /// What produced it: a state file, "program as written", or a results file.
    source: String,
    scores: Vec<f64>,
}

pub(crate) async fn compare(args: CompareArgs, lm_args: LmArgs) -> Result<ExitCode> {
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        bail!("--confidence {}: expected a level between 0 and 1 (exclusive), e.g. 0.95", args.confidence);
    }
    let (metric, dataset_name, mut sides) = if args.results.is_empty() {
        evaluate_sides(&args, &lm_args).await?
    } else {
        read_result_sides(&args.results)?
    };
    disambiguate(&mut sides);
    let [a, b] = sides;
    let comparison = compare_paired_at(&a.scores, &b.scores, args.confidence, args.seed.unwrap_or(0))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let verdict = comparison.verdict(&a.label, &b.label);
    if args.json {
        let side = |s: &Side| {
            json!({
                "label": s.label,
                "source": s.source,
                "mean": promptsmith_eval::stats::mean(&s.scores),
                "ci": t_interval(&s.scores, args.confidence).ok(),
            })
        };
        let out = json!({
            "metric": metric,
            "dataset": dataset_name,
            "n": a.scores.len(),
            "a": side(&a),
            "b": side(&b),
            "comparison": comparison,
            "winner": comparison.winner().map(|w| match w {
                promptsmith_eval::stats::Side::A => a.label.clone(),
                promptsmith_eval::stats::Side::B => b.label.clone(),
            }),
            "verdict": verdict,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(&metric, dataset_name.as_deref(), &a, &b, &comparison, &verdict, args.confidence);
    }
    Ok(ExitCode::SUCCESS)
}

/// A confidence level as a percentage: 0.95 -> "95", 0.999 -> "99.9".
fn level(confidence: f64) -> String {
    let s = format!("{:.3}", confidence * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// "  (95% CI 41.2–63.0%)", or nothing for fewer than two scores.
fn mean_ci(scores: &[f64], confidence: f64) -> String {
    t_interval(scores, confidence)
        .map(|c: Interval| format!("  ({}% CI {:.1}–{:.1}%)", level(confidence), c.low * 100.0, c.high * 100.0))
        .unwrap_or_default()
}

fn print_text(
    metric: &str,
    dataset: Option<&str>,
    a: &Side,
    b: &Side,
    c: &PairedComparison,
    verdict: &str,
    confidence: f64,
) {
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

/// Gives the sides distinct labels (file names first, then the full paths, then A/B).
fn disambiguate(sides: &mut [Side; 2]) {
    if sides[0].label == sides[1].label {
        for s in sides.iter_mut() {
            s.label = s.source.clone();
        }
    }
    if sides[0].label == sides[1].label {
        sides[0].label.push_str(" (A)");
        sides[1].label.push_str(" (B)");
    }
}

fn file_label(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// Runs the program with each state on the same examples.
async fn evaluate_sides(args: &CompareArgs, lm_args: &LmArgs) -> Result<(String, Option<String>, [Side; 2])> {
    let (Some(program_path), Some(data)) = (&args.program, &args.data) else {
        bail!("compare needs --program and --data (or two --results files)");
    };
    let states: Vec<Option<&Path>> = if args.baseline {
        std::iter::once(None).chain(args.states.iter().map(|p| Some(p.as_path()))).collect()
    } else {
        args.states.iter().map(|p| Some(p.as_path())).collect()
    };
    if states.len() != 2 {
        bail!(
            "compare needs exactly two sides: --state A --state B, or --baseline --state B (got {} --state{})",
            args.states.len(),
            if args.baseline { " and --baseline" } else { "" }
        );
    }
    // Load both programs first, so a bad state file fails before any model call.
    let mut programs = Vec::new();
    for state in &states {
        programs.push(load_program_with_state(program_path, *state)?);
    }
    let field = super::metric_field(&programs[0], args.field.as_deref())?;
    let metric_spec = super::metric_spec(&args.metric)?;
    let inputs = programs[0].input_fields();
    let data_args = DataArgs {
        data: data.to_string(),
        inputs: args.inputs.clone(),
        labels: args.labels.clone(),
        label_transform: args.label_transform.clone(),
    };
    let dataset = data_args.load_for_program(&sample_dirs(program_path), &inputs, args.seed, args.limit)?;
    super::check_labels(&metric_spec, &field, data, dataset.examples().first())?;

    let handle = build_lm(lm_args).await?;
    let judge_lm = if metric_spec.needs_judge() { Some(role_lm(lm_args, &handle, LmRole::Judge).await?) } else { None };
    let metric = metric_spec.build(&field, judge_lm).map_err(|e| anyhow::anyhow!("--metric {}: {e}", args.metric))?;
    let mut sides = Vec::new();
    for (state, program) in states.iter().zip(&programs) {
        let (label, source) = match state {
            None => ("baseline".to_string(), format!("{} as written", program_path.display())),
            Some(p) => (file_label(p), p.display().to_string()),
        };
        let bar = progress_bar(dataset.len(), args.quiet);
        let progress = bar.clone();
        let name = label.clone();
        let evaluator =
            Evaluator::new(metric.clone()).with_concurrency(handle.concurrency).with_progress(move |done, _, mean| {
                progress.set_position(done as u64);
                progress.set_message(format!("{name}: score {:.1}%", mean * 100.0));
            });
        // Only the scores are kept (and the first error, for the message below).
        let mut first_error: Option<String> = None;
        let report = evaluator
            .evaluate_each(program, handle.lm.as_ref(), dataset.examples(), |r| {
                if first_error.is_none() {
                    first_error = r.error.map(|e| e.message);
                }
            })
            .await;
        bar.finish_and_clear();
        if report.n > 0 && report.lm_errors == report.n {
            handle.shutdown().await;
            bail!("{label}: every LM call failed; the first error: {}", first_error.unwrap_or_default());
        }
        if report.failure_count() > 0 && !args.json {
            eprintln!(
                "{label}: {} of {} examples failed (parse {}, LM {}, other {}) and score {}",
                report.failure_count(),
                report.n,
                report.parse_failures,
                report.lm_errors,
                report.other_errors,
                report.failure_score
            );
        }
        sides.push(Side { label, source, scores: report.scores });
    }
    handle.shutdown().await;
    let [a, b]: [Side; 2] = sides.try_into().map_err(|_| anyhow::anyhow!("internal: expected two sides"))?;
    Ok((args.metric.clone(), Some(dataset.name().to_string()), [a, b]))
}

/// One example's identity and score from a results file.
struct ResultRow {
    index: u64,
    inputs: Value,
    labels: Value,
    score: f64,
}

/// A results file's rows (sorted by example index) and the metric named in the run's
/// `report.json`, when there is one beside it.
struct ResultsFile {
    path: PathBuf,
    rows: Vec<ResultRow>,
    metric: Option<String>,
}

/// Reads two finished evaluations and checks they scored the same examples.
fn read_result_sides(paths: &[PathBuf]) -> Result<(String, Option<String>, [Side; 2])> {
    let [pa, pb] = paths else {
        bail!(
            "--results needs exactly two results files or run directories (side A, then side B), got {}",
            paths.len()
        );
    };
    let (fa, fb) = (read_results(pa)?, read_results(pb)?);
    let (ra, rb) = (fa.path.display(), fb.path.display());
    if fa.rows.len() != fb.rows.len() {
        bail!(
            "{ra} has {} results and {rb} has {}: compare needs both runs on the same examples \
             (the same --data, --seed and --limit)",
            fa.rows.len(),
            fb.rows.len()
        );
    }
    for (x, y) in fa.rows.iter().zip(&fb.rows) {
        if x.index != y.index || x.inputs != y.inputs || x.labels != y.labels {
            bail!(
                "{ra} and {rb} scored different examples: example {} of {ra} has inputs {} but example {} of {rb} \
                 has inputs {}; compare needs both runs on the same examples (the same --data, --seed and --limit)",
                x.index,
                preview(&x.inputs),
                y.index,
                preview(&y.inputs)
            );
        }
    }
    let metric = match (&fa.metric, &fb.metric) {
        (Some(x), Some(y)) if x != y => {
            bail!("{ra} was scored with metric '{x}' and {rb} with '{y}': compare needs the same metric on both")
        }
        (Some(x), _) | (_, Some(x)) => x.clone(),
        (None, None) => "score".to_string(),
    };
    let side = |f: ResultsFile| Side {
        label: results_label(&f.path),
        source: f.path.display().to_string(),
        scores: f.rows.iter().map(|r| r.score).collect(),
    };
    Ok((metric, None, [side(fa), side(fb)]))
}

/// The run directory's name for `<dir>/results.jsonl`, else the file name.
fn results_label(path: &Path) -> String {
    match (path.file_name().and_then(|n| n.to_str()), path.parent()) {
        (Some("results.jsonl"), Some(dir)) if dir.file_name().is_some() => file_label(dir),
        _ => file_label(path),
    }
}

/// Compact JSON, cut to about 120 characters for error messages.
fn preview(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

fn read_results(arg: &Path) -> Result<ResultsFile> {
    let path = if arg.is_dir() {
        let jsonl = arg.join("results.jsonl");
        if !jsonl.is_file() && arg.join("results.csv").is_file() {
            bail!(
                "--results {}: holds results.csv; compare reads JSONL results (eval's default --results-format jsonl)",
                arg.display()
            );
        }
        if !jsonl.is_file() {
            bail!("--results {}: a directory without results.jsonl (is it an eval run directory?)", arg.display());
        }
        jsonl
    } else if arg.is_file() {
        if arg.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            bail!(
                "--results {}: compare reads JSONL results (eval's default --results-format jsonl), not CSV",
                arg.display()
            );
        }
        arg.to_path_buf()
    } else {
        bail!("--results {}: no such file or directory", arg.display());
    };
    // Line by line: a large run's results file is not read into memory whole.
    let file = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufRead::lines(std::io::BufReader::new(file)).enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{} line {}", path.display(), i + 1);
        let value: Value = serde_json::from_str(&line).with_context(|| format!("{at}: not valid JSON"))?;
        let Value::Object(obj) = value else {
            bail!("{at}: expected a JSON object (one example's result)");
        };
        let score = match obj.get("score").and_then(Value::as_f64) {
            Some(s) if s.is_finite() => s,
            _ => bail!("{at}: no numeric 'score' (is this a results file written by `promptsmith eval`?)"),
        };
        let index = match obj.get("index") {
            None => rows.len() as u64,
            Some(v) => v.as_u64().with_context(|| format!("{at}: 'index' must be a non-negative integer"))?,
        };
        let field = |name: &str| obj.get(name).cloned().unwrap_or(Value::Object(Map::new()));
        rows.push(ResultRow { index, inputs: field("inputs"), labels: field("labels"), score });
    }
    if rows.is_empty() {
        bail!("{}: no results in it", path.display());
    }
    rows.sort_by_key(|r| r.index);
    if let Some(w) = rows.windows(2).find(|w| w[0].index == w[1].index) {
        bail!("{}: example index {} appears twice", path.display(), w[0].index);
    }
    let metric = path
        .parent()
        .map(|dir| dir.join("report.json"))
        .filter(|p| p.is_file())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("metric").and_then(Value::as_str).map(str::to_string));
    Ok(ResultsFile { path, rows, metric })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_labelled_by_run_directory() {
        assert_eq!(results_label(Path::new("runs/2026-eval-gsm8k/results.jsonl")), "2026-eval-gsm8k");
        assert_eq!(results_label(Path::new("a.jsonl")), "a.jsonl");
        assert_eq!(results_label(Path::new("results.jsonl")), "results.jsonl");
    }

    #[test]
    fn equal_labels_are_made_distinct() {
        let side = |label: &str, source: &str| Side { label: label.into(), source: source.into(), scores: vec![] };
        let mut sides = [side("results.jsonl", "x/results.jsonl"), side("results.jsonl", "y/results.jsonl")];
        disambiguate(&mut sides);
        assert_eq!((sides[0].label.as_str(), sides[1].label.as_str()), ("x/results.jsonl", "y/results.jsonl"));
        let mut same = [side("a", "a.jsonl"), side("a", "a.jsonl")];
        disambiguate(&mut same);
        assert_eq!((same[0].label.as_str(), same[1].label.as_str()), ("a.jsonl (A)", "a.jsonl (B)"));
    }

    #[test]
    fn levels_print_without_trailing_zeros() {
        assert_eq!((level(0.95), level(0.999), level(0.9)), ("95".into(), "99.9".into(), "90".into()));
    }

    #[test]
    fn long_inputs_are_cut_in_messages() {
        let v = json!({"question": "x".repeat(300)});
        assert_eq!(preview(&v).chars().count(), 121);
        assert_eq!(preview(&json!({"q": 1})), r#"{"q":1}"#);
    }
}
