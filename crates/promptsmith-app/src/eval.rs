//! [`EvalService`]: score a program on a dataset. Results stream into the run directory as they
//! finish (memory stays flat), the report and manifest sit beside them, and the run with one row
//! per example is recorded in the store.

use crate::data::DataRequest;
use crate::error::{invalid, AppError, Result};
use crate::metric::{check_labels, metric_field, metric_spec};
use crate::program::{self, file_sha256, ProgramSource, StoreTarget};
use crate::rundir::{create_run_dir, write_json, Manifest};
use promptsmith_core::Program;
use promptsmith_eval::{
    jsonl_to_csv, read_results_jsonl, Dataset, EvalSummary, Evaluator, JsonlWriter, MetricSpec, ResultsFormat,
};
use promptsmith_lm::{LmRole, LmStack};
use promptsmith_store::{NewRun, RecordOptions, RoleUsage, RunEnd, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// One evaluation job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalRequest {
    /// A program spec file, or `NAME@VERSION|ALIAS` in the registry.
    pub program: String,
    /// A state file applied to the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
    /// The dataset and its column mapping.
    pub data: DataRequest,
    /// A built-in metric id or a metric spec file.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The output field the metric compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Evaluate only the first N examples (after shuffling when `seed` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Shuffle with this seed before `limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Score of an example whose program run failed.
    #[serde(default)]
    pub failure_score: f64,
    /// Stop after this many failed examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<usize>,
    /// The per-example results file's format.
    #[serde(default)]
    pub results_format: ResultsFormat,
    /// The run directory (default `.promptsmith/runs/<time>-eval-<program>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

fn default_metric() -> String {
    "exact_match".to_string()
}

impl EvalRequest {
    /// A request with the defaults for `program` and `data`.
    pub fn new(program: impl Into<String>, data: DataRequest) -> Self {
        Self {
            program: program.into(),
            state: None,
            data,
            metric: default_metric(),
            field: None,
            limit: None,
            seed: None,
            failure_score: 0.0,
            max_errors: None,
            results_format: ResultsFormat::Jsonl,
            out: None,
        }
    }
}

/// An evaluation with its program, metric and examples loaded and checked.
#[derive(Debug)]
pub struct PreparedEval {
    /// The request.
    pub request: EvalRequest,
    source: ProgramSource,
    /// The program.
    pub program: Program,
    metric: MetricSpec,
    field: String,
    /// The examples.
    pub dataset: Dataset,
    /// Warnings met loading the data.
    pub warnings: Vec<String>,
}

/// How a run is driven: the models, live progress (done, total, running mean) and cancellation.
pub struct EvalContext<'a> {
    /// The models.
    pub lm: &'a LmStack,
    /// Called as examples finish.
    pub progress: Box<dyn Fn(usize, usize, f64) + Send + Sync>,
    /// Stops the run, keeping the finished results.
    pub cancel: CancellationToken,
}

impl std::fmt::Debug for EvalContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalContext").field("lm", self.lm).finish_non_exhaustive()
    }
}

/// A finished (or stopped) evaluation.
#[derive(Debug)]
pub struct EvalOutcome {
    /// Scores, failures, spending.
    pub summary: EvalSummary,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The dataset's name.
    pub dataset: String,
    /// The first failure's message, when any example failed.
    pub first_error: Option<String>,
    /// The store record, when a store is configured.
    pub recorded: Option<Result<RecordedEval>>,
}

/// An evaluation recorded in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEval {
    /// The run's id.
    pub run_id: i64,
    /// Per-example rows stored.
    pub evaluations: u64,
    /// The program name they were stored under.
    pub program: String,
    /// The registered version evaluated, when the program was one.
    pub version: Option<i64>,
    /// The store's URL.
    pub url: String,
}

/// `report.json`: the summary, and where the per-example results are (not repeated, so the
/// report stays small however many examples ran).
#[derive(Serialize)]
struct ReportFile<'a> {
    #[serde(flatten)]
    summary: &'a EvalSummary,
    results_file: &'a str,
}

/// Runs evaluations; records into `store` (none: nothing is recorded).
#[derive(Debug, Clone, Default)]
pub struct EvalService {
    store: Option<StoreTarget>,
}

impl EvalService {
    /// A service recording into `store` (`None`: as `--no-store`).
    pub fn new(store: Option<StoreTarget>) -> Self {
        Self { store }
    }

    /// Loads and checks the program, the metric and the examples, before any model call.
    pub async fn prepare(&self, request: EvalRequest) -> Result<PreparedEval> {
        if !(0.0..=1.0).contains(&request.failure_score) {
            invalid!("--failure-score {}: expected a score between 0 and 1", request.failure_score);
        }
        let source = ProgramSource::parse(&request.program);
        let store = self.store.clone().unwrap_or_default();
        let program = program::load(&source, request.state.as_deref(), &store).await?;
        let field = metric_field(&program, request.field.as_deref())?;
        let metric = metric_spec(&request.metric)?;
        let inputs = program.input_fields();
        let loaded =
            request.data.load_for_program(&program::sample_dirs(&source), &inputs, request.seed, request.limit)?;
        check_labels(&metric, &field, &request.data.data, loaded.dataset.examples().first())?;
        Ok(PreparedEval { request, source, program, metric, field, dataset: loaded.dataset, warnings: loaded.warnings })
    }

    /// Runs the evaluation, writing `manifest.json`, `results.jsonl` (or `.csv`) and
    /// `report.json` into the run directory, then records it in the store.
    pub async fn run(&self, p: PreparedEval, ctx: EvalContext<'_>) -> Result<EvalOutcome> {
        let PreparedEval { request, source, program, metric, field, dataset, .. } = p;
        let judge = metric.needs_judge().then(|| ctx.lm.role(LmRole::Judge));
        let metric = metric
            .build(&field, judge)
            .map_err(|e| AppError::from(e).context(format!("--metric {}", request.metric)))?;
        let pricing = ctx.lm.pricing.clone();
        let progress = ctx.progress;
        let evaluator = Evaluator::new(metric)
            .with_concurrency(ctx.lm.concurrency)
            .with_failure_score(request.failure_score)
            .with_max_errors(request.max_errors)
            .with_cancel(ctx.cancel.clone())
            .with_pricing(move |u| pricing.cost_usd(u.prompt_tokens, u.completion_tokens))
            .with_progress(progress);
        // The run directory and manifest come first: results stream into it as they finish (in
        // input order). A CSV is made from a JSONL spool at the end (its columns need every
        // result); the spool also feeds the store.
        let dir = create_run_dir(request.out.as_deref(), "eval", &program.name)?;
        let mut manifest = Manifest::new("eval");
        manifest.seed = request.seed;
        manifest.model = serde_json::to_value(&ctx.lm.info).unwrap_or_default();
        manifest.program = program_manifest(&request, &program);
        manifest.dataset = serde_json::to_value(dataset.manifest()).ok();
        manifest.settings = json!({"metric": request.metric, "field": field, "limit": request.limit, "concurrency": evaluator.concurrency()});
        write_json(&dir, "manifest.json", &manifest)?;
        let results_name = format!("results.{}", request.results_format.extension());
        let results_path = dir.join(&results_name);
        let spool = match request.results_format {
            ResultsFormat::Jsonl => results_path.clone(),
            ResultsFormat::Csv => dir.join(".results.jsonl.tmp"),
        };
        let mut writer = JsonlWriter::create(&spool).map_err(AppError::from)?;
        let (mut write_error, mut first_error) = (None, None::<String>);
        let stop = ctx.cancel.clone();
        let summary = evaluator
            .evaluate_each(&program, ctx.lm.task().as_ref(), dataset.examples(), |r| {
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
        // The examples are not needed any more: free them before the CSV and the store are made.
        let dataset_name = dataset.name().to_string();
        drop(dataset);
        if let Some(e) = write_error {
            return Err(AppError::from(e).context("stopped: cannot write the results"));
        }
        writer.finish().map_err(AppError::from)?;
        if request.results_format == ResultsFormat::Csv {
            jsonl_to_csv(&spool, &results_path).map_err(AppError::from)?;
        }
        write_json(&dir, "report.json", &ReportFile { summary: &summary, results_file: &results_name })?;
        let outcome = if summary.n > 0 && summary.lm_errors == summary.n {
            Err(AppError::unavailable(format!(
                "every LM call failed; the first error: {}",
                first_error.clone().unwrap_or_default()
            )))
        } else {
            let metadata = json!({"run_dir": dir.display().to_string(), "dataset": dataset_name});
            let recorded = match &self.store {
                Some(target) => Some(record_eval(target, &source, &program.name, &summary, &spool, metadata).await),
                None => None,
            };
            Ok(EvalOutcome { summary, run_dir: dir, dataset: dataset_name, first_error, recorded })
        };
        if spool != results_path {
            let _ = std::fs::remove_file(&spool);
        }
        outcome
    }
}

fn program_manifest(request: &EvalRequest, program: &Program) -> serde_json::Value {
    json!({
        "path": request.program,
        "name": program.name,
        "hash": program.hash(),
        "state": request.state.as_ref().map(|p| json!({"path": p.display().to_string(), "sha256": file_sha256(p)})),
    })
}

/// Records a finished evaluation as an `eval` run with one row per example, read back from the
/// JSONL file `results` (streamed, not held in memory). A registered program is recorded under
/// its name and version.
async fn record_eval(
    target: &StoreTarget,
    source: &ProgramSource,
    program_name: &str,
    summary: &EvalSummary,
    results: &Path,
    metadata: serde_json::Value,
) -> Result<RecordedEval> {
    let store = target.open().await?;
    let (name, version) = match source {
        ProgramSource::Registered(r) => {
            let v = store.resolve(r).await?;
            (v.program.clone(), Some(v.version))
        }
        ProgramSource::File(_) => (program_name.to_string(), None),
    };
    let run = store
        .create_run(&NewRun {
            kind: "eval".into(),
            program: name.clone(),
            optimizer: None,
            params: json!({"metric": summary.metric, "n": summary.n, "version": version}),
            metadata: metadata.clone(),
        })
        .await?;
    let options = RecordOptions { version, run_id: Some(run.id), metadata: Some(metadata), ..RecordOptions::default() };
    let rows = read_results_jsonl(results)?;
    let stored = store.record_eval_results(&name, &summary.metric, rows, &options).await?;
    let usage = [(
        "task".to_string(),
        RoleUsage {
            calls: summary.lm_calls,
            prompt_tokens: summary.usage.prompt_tokens,
            completion_tokens: summary.usage.completion_tokens,
            cost_usd: summary.cost_usd.unwrap_or(0.0),
        },
    )]
    .into_iter()
    .collect();
    let end = RunEnd {
        status: RunStatus::Succeeded,
        usage,
        best_score: Some(summary.mean),
        result_version: version,
        error: None,
    };
    store.finish_run(run.id, &end).await?;
    store.close().await;
    Ok(RecordedEval {
        run_id: run.id,
        evaluations: stored as u64,
        program: name,
        version,
        url: store.url().to_string(),
    })
}
