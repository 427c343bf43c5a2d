//! [`CompareService`]: which of two program states scores better on the same examples, and how
//! sure we can be. It either evaluates the program with each state (same examples, model and
//! metric) or reads two finished evaluations' per-example results (no model call).

use crate::data::DataRequest;
use crate::error::{invalid, io_error, AppError, Result};
use crate::metric::{check_labels, metric_field, metric_spec};
use crate::program::{self, ProgramSource, StoreTarget};
use promptsmith_core::Program;
use promptsmith_eval::stats::{compare_paired_at, t_interval, PairedComparison};
use promptsmith_eval::{Dataset, Evaluator, MetricSpec};
use promptsmith_lm::{LmRole, LmStack};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// One comparison job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum CompareRequest {
    /// Evaluate the program with each state on the same examples.
    Evaluate {
        /// A program spec file, or `NAME@VERSION|ALIAS`.
        program: String,
        /// Side A's and side B's state files; `None` is the program as written.
        states: [Option<PathBuf>; 2],
        /// The dataset and its column mapping.
        data: DataRequest,
        /// A built-in metric id or a metric spec file.
        metric: String,
        /// The output field the metric compares.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        /// Evaluate only the first N examples (after shuffling when `seed` is given).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        /// Shuffles the data before `limit`, and seeds the bootstrap.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        /// Confidence level of the intervals.
        confidence: f64,
    },
    /// Compare two finished evaluations: run directories or their `results.jsonl`.
    Results {
        /// Side A's and side B's results.
        paths: [PathBuf; 2],
        /// Seeds the bootstrap.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        /// Confidence level of the intervals.
        confidence: f64,
    },
}

impl CompareRequest {
    fn confidence(&self) -> f64 {
        match self {
            CompareRequest::Evaluate { confidence, .. } | CompareRequest::Results { confidence, .. } => *confidence,
        }
    }

    fn seed(&self) -> u64 {
        match self {
            CompareRequest::Evaluate { seed, .. } | CompareRequest::Results { seed, .. } => seed.unwrap_or(0),
        }
    }
}

/// One side: a label, what produced it, and its scores in example order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// A short name (the state or run directory's file name, or `baseline`).
    pub label: String,
    /// What produced it: a state file, "<program> as written", or a results file.
    pub source: String,
    /// Per-example scores.
    #[serde(skip)]
    pub scores: Vec<f64>,
    /// Failed examples (they scored the failure score), when the side was evaluated.
    #[serde(skip)]
    pub failures: Option<String>,
}

/// The comparison.
#[derive(Debug, Clone)]
pub struct CompareOutcome {
    /// The metric's name.
    pub metric: String,
    /// The dataset's name, when the sides were evaluated.
    pub dataset: Option<String>,
    /// Side A.
    pub a: Side,
    /// Side B.
    pub b: Side,
    /// The paired statistics.
    pub comparison: PairedComparison,
    /// Confidence level used.
    pub confidence: f64,
}

impl CompareOutcome {
    /// The verdict in words.
    pub fn verdict(&self) -> String {
        self.comparison.verdict(&self.a.label, &self.b.label)
    }

    /// The comparison as one JSON document (what `compare --json` prints and the API returns).
    pub fn to_json(&self) -> Value {
        let side = |s: &Side| {
            json!({
                "label": s.label,
                "source": s.source,
                "mean": promptsmith_eval::stats::mean(&s.scores),
                "ci": t_interval(&s.scores, self.confidence).ok(),
            })
        };
        json!({
            "metric": self.metric,
            "dataset": self.dataset,
            "n": self.a.scores.len(),
            "a": side(&self.a),
            "b": side(&self.b),
            "comparison": self.comparison,
            "winner": self.comparison.winner().map(|w| match w {
                promptsmith_eval::stats::Side::A => self.a.label.clone(),
                promptsmith_eval::stats::Side::B => self.b.label.clone(),
            }),
            "verdict": self.verdict(),
        })
    }
}

/// Called as examples finish: (side label, done, running mean).
pub type CompareProgress = std::sync::Arc<dyn Fn(&str, usize, f64) + Send + Sync>;

/// Runs comparisons.
#[derive(Debug, Clone, Default)]
pub struct CompareService {
    store: StoreTarget,
}

impl CompareService {
    /// A service that reads registered programs from `store`.
    pub fn new(store: StoreTarget) -> Self {
        Self { store }
    }

    /// Compares two finished evaluations (`CompareRequest::Results`): no model is called.
    pub fn from_results(&self, request: &CompareRequest) -> Result<CompareOutcome> {
        check_confidence(request.confidence())?;
        let CompareRequest::Results { paths, .. } = request else {
            invalid!("an evaluating comparison needs a model: prepare it, then evaluate");
        };
        let (metric, dataset, sides) = read_result_sides(paths)?;
        finish(request, metric, dataset, sides)
    }

    /// Evaluates both sides of a prepared comparison with `lm` and compares them.
    pub async fn evaluate(
        &self,
        request: &CompareRequest,
        prepared: PreparedCompare,
        lm: &LmStack,
        progress: CompareProgress,
    ) -> Result<CompareOutcome> {
        let (metric, dataset, sides) = prepared.evaluate(lm, &progress).await?;
        finish(request, metric, dataset, sides)
    }

    /// Loads and checks both programs, the metric and the examples, before any model call.
    pub async fn prepare(&self, request: &CompareRequest) -> Result<PreparedCompare> {
        check_confidence(request.confidence())?;
        let CompareRequest::Evaluate { program, states, data, metric, field, limit, seed, .. } = request else {
            invalid!("only an evaluating comparison is prepared");
        };
        let source = ProgramSource::parse(program);
        let mut programs = Vec::new();
        for state in states {
            programs.push(program::load(&source, state.as_deref(), &self.store).await?);
        }
        let field = metric_field(&programs[0], field.as_deref())?;
        let spec = metric_spec(metric)?;
        let inputs = programs[0].input_fields();
        let loaded = data.load_for_program(&program::sample_dirs(&source), &inputs, *seed, *limit)?;
        check_labels(&spec, &field, &data.data, loaded.dataset.examples().first())?;
        let sides = states
            .iter()
            .map(|s| match s {
                None => ("baseline".to_string(), format!("{program} as written")),
                Some(p) => (file_label(p), p.display().to_string()),
            })
            .zip(programs)
            .collect();
        Ok(PreparedCompare { metric_name: metric.clone(), spec, field, dataset: loaded.dataset, sides })
    }
}

/// Two programs and the examples to score them on.
#[derive(Debug)]
pub struct PreparedCompare {
    metric_name: String,
    spec: MetricSpec,
    field: String,
    dataset: Dataset,
    sides: Vec<((String, String), Program)>,
}

impl PreparedCompare {
    /// Examples each side is scored on.
    pub fn len(&self) -> usize {
        self.dataset.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.dataset.len() == 0
    }

    /// Evaluates each side on the same examples, keeping only the scores.
    async fn evaluate(self, lm: &LmStack, progress: &CompareProgress) -> Result<(String, Option<String>, [Side; 2])> {
        let judge = self.spec.needs_judge().then(|| lm.role(LmRole::Judge));
        let metric = self
            .spec
            .build(&self.field, judge)
            .map_err(|e| AppError::from(e).context(format!("--metric {}", self.metric_name)))?;
        let mut sides = Vec::new();
        for ((label, source), program) in &self.sides {
            let name = label.clone();
            let progress = progress.clone();
            let evaluator = Evaluator::new(metric.clone())
                .with_concurrency(lm.concurrency)
                .with_progress(move |done, _, mean| progress(&name, done, mean));
            let mut first_error: Option<String> = None;
            let report = evaluator
                .evaluate_each(program, lm.task().as_ref(), self.dataset.examples(), |r| {
                    if first_error.is_none() {
                        first_error = r.error.map(|e| e.message);
                    }
                })
                .await;
            if report.n > 0 && report.lm_errors == report.n {
                return Err(AppError::unavailable(format!(
                    "{label}: every LM call failed; the first error: {}",
                    first_error.unwrap_or_default()
                )));
            }
            let failures = (report.failure_count() > 0).then(|| {
                format!(
                    "{label}: {} of {} examples failed (parse {}, LM {}, other {}) and score {}",
                    report.failure_count(),
                    report.n,
                    report.parse_failures,
                    report.lm_errors,
                    report.other_errors,
                    report.failure_score
                )
            });
            sides.push(Side { label: label.clone(), source: source.clone(), scores: report.scores, failures });
        }
        let [a, b]: [Side; 2] = sides.try_into().map_err(|_| AppError::internal("expected two sides"))?;
        Ok((self.metric_name, Some(self.dataset.name().to_string()), [a, b]))
    }
}

fn check_confidence(confidence: f64) -> Result<()> {
    if !(confidence > 0.0 && confidence < 1.0) {
        invalid!("--confidence {confidence}: expected a level between 0 and 1 (exclusive), e.g. 0.95");
    }
    Ok(())
}

/// The paired statistics over two sides.
fn finish(
    request: &CompareRequest,
    metric: String,
    dataset: Option<String>,
    sides: [Side; 2],
) -> Result<CompareOutcome> {
    let [mut a, mut b] = sides;
    disambiguate(&mut a, &mut b);
    let confidence = request.confidence();
    let comparison = compare_paired_at(&a.scores, &b.scores, confidence, request.seed())?;
    Ok(CompareOutcome { metric, dataset, a, b, comparison, confidence })
}

/// Gives the sides distinct labels (file names first, then the full paths, then A/B).
fn disambiguate(a: &mut Side, b: &mut Side) {
    if a.label == b.label {
        a.label = a.source.clone();
        b.label = b.source.clone();
    }
    if a.label == b.label {
        a.label.push_str(" (A)");
        b.label.push_str(" (B)");
    }
}

fn file_label(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
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

/// Reads two finished evaluations and checks they scored the same examples with one metric.
fn read_result_sides(paths: &[PathBuf; 2]) -> Result<(String, Option<String>, [Side; 2])> {
    let (fa, fb) = (read_results(&paths[0])?, read_results(&paths[1])?);
    let (ra, rb) = (fa.path.display(), fb.path.display());
    if fa.rows.len() != fb.rows.len() {
        invalid!(
            "{ra} has {} results and {rb} has {}: compare needs both runs on the same examples \
             (the same --data, --seed and --limit)",
            fa.rows.len(),
            fb.rows.len()
        );
    }
    for (x, y) in fa.rows.iter().zip(&fb.rows) {
        if x.index != y.index || x.inputs != y.inputs || x.labels != y.labels {
            invalid!(
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
            invalid!("{ra} was scored with metric '{x}' and {rb} with '{y}': compare needs the same metric on both")
        }
        (Some(x), _) | (_, Some(x)) => x.clone(),
        (None, None) => "score".to_string(),
    };
    let side = |f: ResultsFile| Side {
        label: results_label(&f.path),
        source: f.path.display().to_string(),
        scores: f.rows.iter().map(|r| r.score).collect(),
        failures: None,
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

/// The JSONL results file an argument names (a run directory or the file itself).
fn results_path(arg: &Path) -> Result<PathBuf> {
    if arg.is_dir() {
        let jsonl = arg.join("results.jsonl");
        if !jsonl.is_file() && arg.join("results.csv").is_file() {
            invalid!(
                "--results {}: holds results.csv; compare reads JSONL results (eval's default --results-format jsonl)",
                arg.display()
            );
        }
        if !jsonl.is_file() {
            invalid!("--results {}: a directory without results.jsonl (is it an eval run directory?)", arg.display());
        }
        return Ok(jsonl);
    }
    if arg.is_file() {
        if arg.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            invalid!(
                "--results {}: compare reads JSONL results (eval's default --results-format jsonl), not CSV",
                arg.display()
            );
        }
        return Ok(arg.to_path_buf());
    }
    Err(AppError::not_found(format!("--results {}: no such file or directory", arg.display())))
}

fn read_results(arg: &Path) -> Result<ResultsFile> {
    let path = results_path(arg)?;
    // Line by line: a large run's results file is not read into memory whole.
    let cannot = |e: &std::io::Error| io_error(format!("cannot read {}", path.display()), e);
    let file = std::fs::File::open(&path).map_err(|e| cannot(&e))?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufRead::lines(std::io::BufReader::new(file)).enumerate() {
        let line = line.map_err(|e| cannot(&e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{} line {}", path.display(), i + 1);
        rows.push(result_row(&line, &at, rows.len() as u64)?);
    }
    if rows.is_empty() {
        invalid!("{}: no results in it", path.display());
    }
    rows.sort_by_key(|r| r.index);
    if let Some(w) = rows.windows(2).find(|w| w[0].index == w[1].index) {
        invalid!("{}: example index {} appears twice", path.display(), w[0].index);
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

/// One line of a results file; `at` names it in errors, `position` is its index when it has none.
fn result_row(line: &str, at: &str, position: u64) -> Result<ResultRow> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| AppError::invalid(format!("{at}: not valid JSON ({e})")))?;
    let Value::Object(obj) = value else {
        invalid!("{at}: expected a JSON object (one example's result)");
    };
    let score = match obj.get("score").and_then(Value::as_f64) {
        Some(s) if s.is_finite() => s,
        _ => invalid!("{at}: no numeric 'score' (is this a results file written by `promptsmith eval`?)"),
    };
    let index = match obj.get("index") {
        None => position,
        Some(v) => {
            v.as_u64().ok_or_else(|| AppError::invalid(format!("{at}: 'index' must be a non-negative integer")))?
        }
    };
    let field = |name: &str| obj.get(name).cloned().unwrap_or(Value::Object(Map::new()));
    Ok(ResultRow { index, inputs: field("inputs"), labels: field("labels"), score })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn side(label: &str, source: &str) -> Side {
        Side { label: label.into(), source: source.into(), scores: vec![], failures: None }
    }

    #[test]
    fn results_are_labelled_by_run_directory() {
        assert_eq!(results_label(Path::new("runs/2026-eval-gsm8k/results.jsonl")), "2026-eval-gsm8k");
        assert_eq!(results_label(Path::new("a.jsonl")), "a.jsonl");
        assert_eq!(results_label(Path::new("results.jsonl")), "results.jsonl");
    }

    #[test]
    fn equal_labels_are_made_distinct() {
        let (mut a, mut b) = (side("results.jsonl", "x/results.jsonl"), side("results.jsonl", "y/results.jsonl"));
        disambiguate(&mut a, &mut b);
        assert_eq!((a.label.as_str(), b.label.as_str()), ("x/results.jsonl", "y/results.jsonl"));
        let (mut a, mut b) = (side("a", "a.jsonl"), side("a", "a.jsonl"));
        disambiguate(&mut a, &mut b);
        assert_eq!((a.label.as_str(), b.label.as_str()), ("a.jsonl (A)", "a.jsonl (B)"));
    }

    #[test]
    fn long_inputs_are_cut_in_messages() {
        let v = json!({"question": "x".repeat(300)});
        assert_eq!(preview(&v).chars().count(), 121);
        assert_eq!(preview(&json!({"q": 1})), r#"{"q":1}"#);
    }

    #[test]
    fn two_results_files_compare_without_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, scores: &[f64]| {
            let lines: Vec<String> = scores
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"index": i, "inputs": {"q": i}, "labels": {}, "score": s}).to_string())
                .collect();
            let p = dir.path().join(name);
            std::fs::write(&p, lines.join("\n")).unwrap();
            p
        };
        let a = write("a.jsonl", &[1.0; 40]);
        let b = write("b.jsonl", &[0.0; 40]);
        let req = CompareRequest::Results { paths: [a, b.clone()], seed: None, confidence: 0.95 };
        let out = CompareService::default().from_results(&req).unwrap();
        assert_eq!(out.to_json()["winner"], "a.jsonl");
        let short = write("c.jsonl", &[1.0; 3]);
        let req = CompareRequest::Results { paths: [short, b], seed: None, confidence: 0.95 };
        let err = CompareService::default().from_results(&req).unwrap_err();
        assert_eq!(err.kind, promptsmith_core::ErrorKind::InvalidInput);
        assert!(err.message.contains("has 3 results"), "{err}");
    }
}
