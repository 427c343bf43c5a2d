//! The parallel [`Evaluator`]: runs a program over examples with a concurrency limit, scores
//! each prediction with a [`Metric`], and reports per-example results in input order.
//!
//! Failures (an LM error after retries, a parse error) score the evaluator's failure score
//! (default 0) and are counted; the run stops early after `max_errors` failures or when its
//! cancellation token fires (Ctrl-C), keeping every finished result.

mod output;

pub use output::{write_results, ResultsFormat};

use crate::metric::{Metric, MetricSpend, PartScore};
use crate::stats::{self, PairedComparison, Summary};
use crate::Result;
use futures::StreamExt;
use promptsmith_core::{Example, LanguageModel, Module, PredictError, TraceStep, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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

/// The result of an evaluation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
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
    /// Examples that failed for other reasons (missing input, program errors).
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
    /// Per-example results, in input order.
    pub results: Vec<ExampleResult>,
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

    /// Examples whose program run failed (parse, LM and other errors).
    pub fn failure_count(&self) -> usize {
        self.parse_failures + self.lm_errors + self.other_errors
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
    pub async fn evaluate(&self, module: &dyn Module, lm: &dyn LanguageModel, examples: &[Example]) -> EvalReport {
        let started = Instant::now();
        let total = examples.len();
        let mut slots: Vec<Option<ExampleResult>> = (0..total).map(|_| None).collect();
        // The futures are built up front (they are lazy: nothing runs until polled) rather than
        // in a stream `map` closure, which would make this future fail `Send` checks
        // (rust-lang/rust#102211) and so unspawnable.
        let runs: Vec<_> =
            examples.iter().enumerate().map(|(index, example)| self.run_one(module, lm, index, example)).collect();
        let mut stream = futures::stream::iter(runs).buffer_unordered(self.concurrency);
        let (mut done, mut sum, mut failed) = (0usize, 0.0f64, 0usize);
        let cancel = self.cancel.clone().unwrap_or_default();
        let mut stopped = None;
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    stopped = Some(StopReason::Cancelled);
                    break;
                }
                next = stream.next() => next,
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
            let index = result.index;
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(result);
            }
            if self.max_errors.is_some_and(|max| failed > max) {
                stopped = Some(StopReason::TooManyErrors);
                break;
            }
        }
        // Dropping the stream cancels the examples still in flight.
        drop(stream);
        let results: Vec<ExampleResult> = slots.into_iter().flatten().collect();
        let mut report = self.report(results, started.elapsed().as_millis() as u64);
        report.total = total;
        report.stopped = stopped;
        report
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

    fn report(&self, results: Vec<ExampleResult>, wall_ms: u64) -> EvalReport {
        let scores: Vec<f64> = results.iter().map(|r| r.score).collect();
        let summary = stats::summarize(&scores);
        let mut usage = Usage::default();
        let mut lm_calls = 0u64;
        let mut metric_spend = MetricSpend::default();
        let mut cost: Option<f64> = None;
        let (mut parse_failures, mut lm_errors, mut other_errors, mut metric_errors) = (0, 0, 0, 0);
        for r in &results {
            usage += r.usage;
            lm_calls += u64::from(r.lm_calls);
            metric_spend += r.metric_spend;
            if let Some(c) = r.cost_usd {
                *cost.get_or_insert(0.0) += c;
            }
            if r.metric_error.is_some() {
                metric_errors += 1;
            }
            match r.error.as_ref().map(|e| e.kind) {
                Some(FailureKind::Parse) => parse_failures += 1,
                Some(FailureKind::Lm) => lm_errors += 1,
                Some(FailureKind::MissingInput | FailureKind::Program) => other_errors += 1,
                None => {}
            }
        }
        EvalReport {
            metric: self.metric.name().to_string(),
            n: results.len(),
            total: results.len(),
            stopped: None,
            failure_score: self.failure_score,
            mean: summary.mean,
            stats: summary,
            parse_failures,
            lm_errors,
            other_errors,
            metric_errors,
            usage,
            lm_calls,
            metric_spend,
            cost_usd: cost,
            wall_ms,
            concurrency: self.concurrency,
            results,
        }
    }
}

#[cfg(test)]
mod tests;
