//! promptsmith-eval: datasets, metrics, the parallel evaluator and statistics.
//!
//! - [`dataset`]: load examples from JSONL, JSON and CSV; resolve named benchmarks (`gsm8k:test`);
//!   deterministic shuffles and splits; content hashes for run manifests.
//! - [`metric`]: the [`Metric`] trait and the built-in metrics, looked up by id with [`metric_by_name`].
//! - [`evaluate`]: the [`Evaluator`], which runs a program over examples concurrently and scores it.
//! - [`stats`]: summaries, confidence intervals and paired significance tests.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod metric;
pub mod stats;

pub use dataset::{
    load_dataset, resolve_dataset, DataFormat, DataSearchPath, Dataset, DatasetManifest, ResolvedDataset,
};
pub use error::{EvalError, Result};
pub use evaluate::{
    jsonl_to_csv, read_results_jsonl, write_results, EvalReport, EvalSummary, EvalTally, Evaluator, ExampleError,
    ExampleResult, FailureKind, JsonlWriter, ResultsFormat, StopReason,
};
pub use metric::{metric_by_name, spec::MetricSpec, Metric, MetricResult};
pub use stats::Summary;
