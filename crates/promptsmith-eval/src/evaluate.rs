//! The parallel [`Evaluator`]: runs a program over examples with a concurrency limit, scores
//! each prediction with a [`Metric`], and reports per-example results in input order: all at
//! once in an [`EvalReport`] ([`Evaluator::evaluate`]), or streamed to a sink as they finish
//! with only an [`EvalSummary`] kept ([`Evaluator::evaluate_each`], for large datasets).
//!
//! Failures (an LM error after retries, a parse error) score the evaluator's failure score
//! (default 0) and are counted; the run stops early after `max_errors` failures or when its
//! cancellation token fires (Ctrl-C), keeping every finished result.

mod output;

pub use output::{jsonl_to_csv, read_results_jsonl, write_results, JsonlWriter, ResultsFormat};

use crate::metric::{Metric, MetricSpend, PartScore};
use crate::stats::{self, PairedComparison, Summary};
use crate::Result;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use promptsmith_core::{Example, LanguageModel, Module, PredictError, TraceStep, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Concurrency used when none is set.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Progress callback: `(done, total, running mean score of the finished examples)`.
pub type ProgressFn = dyn Fn(usize, usize, f64) + Send + Sync;

/// Prices a call's tokens in US dollars (`None`: no price configured).
pub type PricingFn = dyn Fn(&Usage) -> Option<f64> + Send + Sync;

/// Runs a program over examples and scores it.
#[derive(Clone)]
pub struct Evaluator {
    metric: Arc<dyn Metric>,
    concurrency: usize,
    progress: Option<Arc<ProgressFn>>,
    keep_traces: bool,
    failure_score: f64,
    max_errors: Option<usize>,
    cancel: Option<CancellationToken>,
    pricing: Option<Arc<PricingFn>>,
    reorder_window: Option<usize>,
}

/// How far ahead of the oldest unfinished example a run may start examples by default: 16
/// times the concurrency, at least 1,024.
fn default_reorder_window(concurrency: usize) -> usize {
    concurrency.saturating_mul(16).max(1024)
}

/// Why a run ended before every example was evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The cancellation token fired (Ctrl-C).
    Cancelled,
    /// More than `max_errors` examples failed.
    TooManyErrors,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("metric", &self.metric.name())
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress.is_some())
            .field("keep_traces", &self.keep_traces)
            .field("failure_score", &self.failure_score)
            .field("max_errors", &self.max_errors)
            .finish()
    }
}

/// What kind of failure stopped a program on one example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The completion could not be parsed into the output fields.
    Parse,
    /// The model call failed.
    Lm,
    /// A required input was missing.
    MissingInput,
    /// Program wiring problem.
    Program,
    /// The outputs broke the predictor's constraints on every attempt.
    Constraint,
}

/// Why a program produced no prediction for one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleError {
    /// The kind of failure.
    pub kind: FailureKind,
    /// The error message.
    pub message: String,
    /// The raw completion, for parse failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_completion: Option<String>,
}

impl From<&PredictError> for ExampleError {
    fn from(e: &PredictError) -> Self {
        let kind = match e {
            PredictError::Parse { .. } => FailureKind::Parse,
            PredictError::Lm { .. } => FailureKind::Lm,
            PredictError::MissingInput { .. } => FailureKind::MissingInput,
            PredictError::Program(_) => FailureKind::Program,
            PredictError::Constraint { .. } => FailureKind::Constraint,
        };
        ExampleError { kind, message: e.to_string(), raw_completion: e.raw_completion().map(str::to_string) }
    }
}

/// The outcome on one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleResult {
    /// Position of the example in the evaluated list.
    pub index: usize,
    /// The inputs given to the program.
    pub inputs: Map<String, Value>,
    /// The example's labels (non-input fields).
    pub labels: Map<String, Value>,
    /// The predicted output fields, when the program succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Map<String, Value>>,
    /// The failure, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExampleError>,
    /// Metric score in `[0, 1]` (the failure score for failures).
    pub score: f64,
    /// Metric feedback, or the error message for failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// The parts of a composite metric's score.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<PartScore>,
    /// Set when the metric itself could not score (e.g. an LLM judge failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_error: Option<String>,
    /// Calls and tokens the metric spent (an LLM judge).
    #[serde(default, skip_serializing_if = "MetricSpend::is_zero")]
    pub metric_spend: MetricSpend,
    /// Cost of the program's calls at the configured price, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// LM calls made (for failures: what the failed run reported; parse failures report theirs).
    pub lm_calls: u32,
    /// Tokens spent (for failures: what the failed run reported).
    pub usage: Usage,
    /// Time the program took on this example, in milliseconds.
    pub latency_ms: u64,
    /// Predictor calls, when the evaluator keeps traces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TraceStep>,
}

/// Everything an evaluation report says except the per-example results: totals kept while
/// the results stream past, plus the scores (8 bytes an example) that paired tests need. This
/// is what the CLI writes to `report.json`; the results themselves go to `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSummary {
    /// Metric id.
    pub metric: String,
    /// Number of examples evaluated (fewer than `total` when the run stopped early).
    pub n: usize,
    /// Number of examples the run was asked to evaluate.
    #[serde(default)]
    pub total: usize,
    /// Why the run stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    /// Score given to examples that failed.
    #[serde(default)]
    pub failure_score: f64,
    /// Mean score (0 for no examples).
    pub mean: f64,
    /// Summary statistics of the scores.
    pub stats: Summary,
    /// Examples whose completion could not be parsed.
    pub parse_failures: usize,
    /// Examples whose model call failed.
    pub lm_errors: usize,
    /// Examples that failed for other reasons (missing input, program errors, constraints).
    pub other_errors: usize,
    /// Examples the metric could not score (e.g. the judge failed).
    #[serde(default)]
    pub metric_errors: usize,
    /// Tokens spent by the program, failures included.
    pub usage: Usage,
    /// LM calls made by the program, failures included.
    pub lm_calls: u64,
    /// Calls and tokens the metric spent (an LLM judge).
    #[serde(default, skip_serializing_if = "MetricSpend::is_zero")]
    pub metric_spend: MetricSpend,
    /// Cost of the program's calls at the configured price, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Wall-clock time of the whole run, in milliseconds.
    pub wall_ms: u64,
    /// Concurrency the run used.
    pub concurrency: usize,
    /// Scores of the finished examples in input order (not serialized: the results file has
    /// them, and a report stays small however many examples ran).
    #[serde(skip)]
    pub scores: Vec<f64>,
}

impl EvalSummary {
    /// Examples whose program run failed (parse, LM and other errors).
    pub fn failure_count(&self) -> usize {
        self.parse_failures + self.lm_errors + self.other_errors
    }

    /// Paired comparison of this run (`a`) against another run over the same examples (`b`).
    pub fn compare_scores(&self, other: &EvalSummary, seed: u64) -> Result<PairedComparison> {
        stats::compare_paired(&self.scores, &other.scores, seed)
    }
}

/// Running totals of an evaluation, fed one [`ExampleResult`] at a time (in input order), so a
/// run of any size keeps only its scores in memory.
#[derive(Debug, Clone, Default)]
pub struct EvalTally {
    scores: Vec<f64>,
    usage: Usage,
    lm_calls: u64,
    metric_spend: MetricSpend,
    cost: Option<f64>,
    parse_failures: usize,
    lm_errors: usize,
    other_errors: usize,
    metric_errors: usize,
}

impl EvalTally {
    /// An empty tally with room for `capacity` scores.
    pub fn with_capacity(capacity: usize) -> Self {
        EvalTally { scores: Vec::with_capacity(capacity), ..EvalTally::default() }
    }

    /// Counts one finished example.
    pub fn add(&mut self, r: &ExampleResult) {
        self.scores.push(r.score);
        self.usage += r.usage;
        self.lm_calls += u64::from(r.lm_calls);
        self.metric_spend += r.metric_spend;
        if let Some(c) = r.cost_usd {
            *self.cost.get_or_insert(0.0) += c;
        }
        if r.metric_error.is_some() {
            self.metric_errors += 1;
        }
        match r.error.as_ref().map(|e| e.kind) {
            Some(FailureKind::Parse) => self.parse_failures += 1,
            Some(FailureKind::Lm) => self.lm_errors += 1,
            Some(FailureKind::MissingInput | FailureKind::Program | FailureKind::Constraint) => self.other_errors += 1,
            None => {}
        }
    }

    /// Examples counted so far.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The summary of the counted examples. `total` is the number the run was asked to
    /// evaluate; the stop reason is left unset.
    pub fn finish(
        self,
        metric: &str,
        failure_score: f64,
        concurrency: usize,
        total: usize,
        wall_ms: u64,
    ) -> EvalSummary {
        let summary = stats::summarize(&self.scores);
        EvalSummary {
            metric: metric.to_string(),
            n: self.scores.len(),
            total,
            stopped: None,
            failure_score,
            mean: summary.mean,
            stats: summary,
            parse_failures: self.parse_failures,
            lm_errors: self.lm_errors,
            other_errors: self.other_errors,
            metric_errors: self.metric_errors,
            usage: self.usage,
            lm_calls: self.lm_calls,
            metric_spend: self.metric_spend,
            cost_usd: self.cost,
            wall_ms,
            concurrency,
            scores: self.scores,
        }
    }
}

/// The result of an evaluation run held in memory: the summary and every per-example result.
/// Derefs to its [`EvalSummary`] (`report.mean`, `report.n`, ...). For large runs use
/// [`Evaluator::evaluate_each`], which hands each result on as it finishes instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "EvalReportRepr")]
pub struct EvalReport {
    /// Totals and statistics.
    #[serde(flatten)]
    pub summary: EvalSummary,
    /// Per-example results, in input order.
    pub results: Vec<ExampleResult>,
}

/// The serialized form; deserializing refills the summary's scores from the results.
#[derive(Deserialize)]
struct EvalReportRepr {
    #[serde(flatten)]
    summary: EvalSummary,
    results: Vec<ExampleResult>,
}

impl From<EvalReportRepr> for EvalReport {
    fn from(r: EvalReportRepr) -> Self {
        let mut summary = r.summary;
        summary.scores = r.results.iter().map(|x| x.score).collect();
        EvalReport { summary, results: r.results }
    }
}

impl std::ops::Deref for EvalReport {
    type Target = EvalSummary;
    fn deref(&self) -> &EvalSummary {
        &self.summary
    }
}

impl std::ops::DerefMut for EvalReport {
    fn deref_mut(&mut self) -> &mut EvalSummary {
        &mut self.summary
    }
}

impl EvalReport {
    /// Scores in input order.
    pub fn scores(&self) -> Vec<f64> {
        self.results.iter().map(|r| r.score).collect()
    }

    /// Examples that produced no prediction.
    pub fn failures(&self) -> impl Iterator<Item = &ExampleResult> {
        self.results.iter().filter(|r| r.error.is_some())
    }

    /// Paired comparison of this run (`a`) against another run over the same examples (`b`).
    pub fn compare(&self, other: &EvalReport, seed: u64) -> Result<PairedComparison> {
        stats::compare_paired(&self.scores(), &other.scores(), seed)
    }
}

impl Evaluator {
    /// An evaluator scoring with `metric`, running [`DEFAULT_CONCURRENCY`] examples at a time.
    pub fn new(metric: impl Into<Arc<dyn Metric>>) -> Self {
        Evaluator {
            metric: metric.into(),
            concurrency: DEFAULT_CONCURRENCY,
            progress: None,
            keep_traces: false,
            failure_score: 0.0,
            max_errors: None,
            cancel: None,
            pricing: None,
            reorder_window: None,
        }
    }

    /// An evaluator for a concrete metric type.
    pub fn for_metric(metric: impl Metric + 'static) -> Self {
        Evaluator::new(Arc::new(metric) as Arc<dyn Metric>)
    }

    /// At most `n` examples run at once (0 is treated as 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Called after each example finishes with `(done, total, running mean)`.
    pub fn with_progress(mut self, f: impl Fn(usize, usize, f64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Keeps each prediction's trace in the results (off by default: traces make reports large).
    pub fn with_traces(mut self, keep: bool) -> Self {
        self.keep_traces = keep;
        self
    }

    /// Score given to an example whose program run failed (default 0; clamped to `[0, 1]`).
    pub fn with_failure_score(mut self, score: f64) -> Self {
        self.failure_score = crate::metric::clamp_score(score);
        self
    }

    /// Stops the run once more than `n` examples have failed (`None`: never).
    pub fn with_max_errors(mut self, n: Option<usize>) -> Self {
        self.max_errors = n;
        self
    }

    /// Stops the run, keeping finished results, when `token` is cancelled.
    pub fn with_cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Prices each example's tokens (per-example and total cost in the report).
    pub fn with_pricing(mut self, f: impl Fn(&Usage) -> Option<f64> + Send + Sync + 'static) -> Self {
        self.pricing = Some(Arc::new(f));
        self
    }

    /// [`Evaluator::evaluate_each`] hands results on in input order; an example starts only
    /// when it is fewer than `n` places after the oldest unfinished one, so at most `n` finished
    /// results wait for a slow one (default: 16 times the concurrency, at least 1,024).
    pub fn with_reorder_window(mut self, n: usize) -> Self {
        self.reorder_window = Some(n.max(1));
        self
    }

    /// The metric.
    pub fn metric(&self) -> &dyn Metric {
        self.metric.as_ref()
    }

    /// The concurrency limit.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Runs `module` on every example (inputs only; labels are withheld) and scores the outputs.
    /// Failures score the failure score and are recorded; the run stops early only after
    /// `max_errors` failures or on cancellation, and then reports the examples that finished.
    /// Keeps every result in memory; [`Evaluator::evaluate_each`] streams them instead.
    pub async fn evaluate(&self, module: &dyn Module, lm: &dyn LanguageModel, examples: &[Example]) -> EvalReport {
        let mut results = Vec::with_capacity(examples.len());
        let summary = self.evaluate_each(module, lm, examples, |r| results.push(r)).await;
        EvalReport { summary, results }
    }

    /// Like [`Evaluator::evaluate`], but hands each finished result to `sink` (in input order)
    /// instead of keeping it, and returns only the summary. Memory stays flat in the number of
    /// examples: results that finish ahead of an earlier, slower example wait in a reorder
    /// buffer of at most the reorder window (see [`Evaluator::with_reorder_window`]); no example
    /// starts more than that far ahead of the oldest unfinished one. When the run stops early
    /// (cancellation, `max_errors`), the finished results are still handed on, in order, with
    /// gaps where examples never finished.
    pub async fn evaluate_each<F>(
        &self,
        module: &dyn Module,
        lm: &dyn LanguageModel,
        examples: &[Example],
        mut sink: F,
    ) -> EvalSummary
    where
        F: FnMut(ExampleResult) + Send,
    {
        let started = Instant::now();
        let total = examples.len();
        let window = self.reorder_window.unwrap_or_else(|| default_reorder_window(self.concurrency)).max(1);
        let mut tally = EvalTally::with_capacity(total);
        // Finished results waiting for an earlier example, by index.
        let mut waiting: BTreeMap<usize, ExampleResult> = BTreeMap::new();
        let mut next_out = 0usize; // lowest index not yet handed on
        let mut next_start = 0usize;
        let mut running = FuturesUnordered::new();
        let (mut done, mut sum, mut failed) = (0usize, 0.0f64, 0usize);
        let cancel = self.cancel.clone().unwrap_or_default();
        let mut stopped = None;
        loop {
            // Futures are created only as slots free up, so their memory is bounded by the
            // concurrency, not the dataset.
            while running.len() < self.concurrency && next_start < total && next_start < next_out + window {
                running.push(self.run_one(module, lm, next_start, &examples[next_start]));
                next_start += 1;
            }
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    stopped = Some(StopReason::Cancelled);
                    break;
                }
                next = running.next() => next,
            };
            let Some(result) = next else { break };
            done += 1;
            sum += result.score;
            if result.error.is_some() {
                failed += 1;
            }
            if let Some(progress) = &self.progress {
                progress(done, total, sum / done as f64);
            }
            waiting.insert(result.index, result);
            while let Some(r) = waiting.remove(&next_out) {
                tally.add(&r);
                sink(r);
                next_out += 1;
            }
            if self.max_errors.is_some_and(|max| failed > max) {
                stopped = Some(StopReason::TooManyErrors);
                break;
            }
        }
        // Dropping the futures cancels the examples still in flight.
        drop(running);
        for r in std::mem::take(&mut waiting).into_values() {
            tally.add(&r);
            sink(r);
        }
        let mut summary = tally.finish(
            self.metric.name(),
            self.failure_score,
            self.concurrency,
            total,
            started.elapsed().as_millis() as u64,
        );
        summary.stopped = stopped;
        summary
    }

    async fn run_one(
        &self,
        module: &dyn Module,
        lm: &dyn LanguageModel,
        index: usize,
        example: &Example,
    ) -> ExampleResult {
        let inputs = example.inputs();
        let labels = example.labels();
        let call = Example { fields: inputs.clone(), input_keys: example.input_keys.clone() };
        let started = Instant::now();
        let outcome = module.forward(lm, &call).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let price = |usage: &Usage| self.pricing.as_ref().and_then(|f| f(usage));
        match outcome {
            Ok(prediction) => {
                let scored = self.metric.score(example, &prediction).await;
                ExampleResult {
                    index,
                    inputs,
                    labels,
                    score: scored.score,
                    feedback: scored.feedback,
                    breakdown: scored.breakdown,
                    metric_error: scored.error,
                    metric_spend: scored.spent,
                    cost_usd: price(&prediction.usage),
                    lm_calls: prediction.lm_calls,
                    usage: prediction.usage,
                    latency_ms,
                    trace: if self.keep_traces { prediction.trace } else { Vec::new() },
                    prediction: Some(prediction.fields),
                    error: None,
                }
            }
            Err(e) => {
                tracing::debug!(index, error = %e, "example failed");
                let error = ExampleError::from(&e);
                let (usage, lm_calls) = e.spent();
                ExampleResult {
                    index,
                    inputs,
                    labels,
                    prediction: None,
                    score: self.failure_score,
                    feedback: Some(error.message.clone()),
                    breakdown: Vec::new(),
                    metric_error: None,
                    metric_spend: MetricSpend::default(),
                    cost_usd: price(&usage),
                    error: Some(error),
                    lm_calls,
                    usage,
                    latency_ms,
                    trace: Vec::new(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
