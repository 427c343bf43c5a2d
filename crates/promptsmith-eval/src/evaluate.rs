//! The parallel [`Evaluator`]: runs a program over examples with a concurrency limit, scores
//! each prediction with a [`Metric`], and reports per-example results in input order.

use crate::metric::Metric;
use crate::stats::{self, PairedComparison, Summary};
use crate::Result;
use futures::StreamExt;
use promptsmith_core::{Example, LanguageModel, Module, PredictError, TraceStep, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

/// Concurrency used when none is set.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Progress callback: `(done, total, running mean score of the finished examples)`.
pub type ProgressFn = dyn Fn(usize, usize, f64) + Send + Sync;

/// Runs a program over examples and scores it.
#[derive(Clone)]
pub struct Evaluator {
    metric: Arc<dyn Metric>,
    concurrency: usize,
    progress: Option<Arc<ProgressFn>>,
    keep_traces: bool,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("metric", &self.metric.name())
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress.is_some())
            .field("keep_traces", &self.keep_traces)
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
    /// Metric score in `[0, 1]` (0 for failures).
    pub score: f64,
    /// Metric feedback, or the error message for failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// LM calls made (for failures: what the failed run reported; parse failures report theirs).
    pub lm_calls: u32,
    /// Tokens spent (zero when the program failed).
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
    /// Number of examples.
    pub n: usize,
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
    /// Tokens spent by successful examples.
    pub usage: Usage,
    /// LM calls made by successful examples.
    pub lm_calls: u64,
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

    /// Paired comparison of this run (`a`) against another run over the same examples (`b`).
    pub fn compare(&self, other: &EvalReport, seed: u64) -> Result<PairedComparison> {
        stats::compare_paired(&self.scores(), &other.scores(), seed)
    }
}

impl Evaluator {
    /// An evaluator scoring with `metric`, running [`DEFAULT_CONCURRENCY`] examples at a time.
    pub fn new(metric: impl Into<Arc<dyn Metric>>) -> Self {
        Evaluator { metric: metric.into(), concurrency: DEFAULT_CONCURRENCY, progress: None, keep_traces: false }
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

    /// The metric.
    pub fn metric(&self) -> &dyn Metric {
        self.metric.as_ref()
    }

    /// The concurrency limit.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Runs `module` on every example (inputs only; labels are withheld) and scores the outputs.
    /// Failures are scored 0 and recorded; they never abort the run.
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
        let (mut done, mut sum) = (0usize, 0.0f64);
        while let Some(result) = stream.next().await {
            done += 1;
            sum += result.score;
            if let Some(progress) = &self.progress {
                progress(done, total, sum / done as f64);
            }
            let index = result.index;
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(result);
            }
        }
        let results: Vec<ExampleResult> = slots.into_iter().flatten().collect();
        self.report(results, started.elapsed().as_millis() as u64)
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
        match outcome {
            Ok(prediction) => {
                let scored = self.metric.score(example, &prediction).await;
                ExampleResult {
                    index,
                    inputs,
                    labels,
                    score: scored.score,
                    feedback: scored.feedback,
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
                    score: 0.0,
                    feedback: Some(error.message.clone()),
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
        let (mut parse_failures, mut lm_errors, mut other_errors) = (0, 0, 0);
        for r in &results {
            usage += r.usage;
            lm_calls += u64::from(r.lm_calls);
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
            mean: summary.mean,
            stats: summary,
            parse_failures,
            lm_errors,
            other_errors,
            usage,
            lm_calls,
            wall_ms,
            concurrency: self.concurrency,
            results,
        }
    }
}

#[cfg(test)]
mod tests;
