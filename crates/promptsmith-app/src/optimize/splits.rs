//! Training, validation and test examples of an optimization, as its [`SplitRequest`] says.

use super::request::{OptimizeRequest, SplitRequest};
use crate::error::{invalid, AppError, Result};
use promptsmith_core::Example;
use promptsmith_optimize::run::split_like_dspy;
use std::path::PathBuf;

/// The three splits and the data warnings met loading them.
#[derive(Debug)]
pub struct Splits {
    /// Training examples.
    pub train: Vec<Example>,
    /// Validation examples.
    pub val: Vec<Example>,
    /// Held-out test examples (maybe none).
    pub test: Vec<Example>,
    /// Warnings (repeated inputs).
    pub warnings: Vec<String>,
}

/// Splits the request's data: test first (from `test_data` or `test_size` of the pool), then
/// validation (`val_data`, `val_size`, or DSPy's 80/20 split), then `train_size` trims training.
pub(crate) fn split(req: &OptimizeRequest, sample_dirs: &[PathBuf], inputs: &[&str]) -> Result<Splits> {
    let s: &SplitRequest = &req.splits;
    let data = &req.data.data;
    let mut warnings = Vec::new();
    let mut load = |name: Option<&str>| -> Result<Vec<Example>> {
        let request = name.map(|n| req.data.with_data(n)).unwrap_or_else(|| req.data.clone());
        let loaded = request.load(sample_dirs, inputs)?;
        warnings.extend(loaded.warnings);
        Ok(loaded.dataset.shuffle(req.seed).into_examples())
    };
    let mut pool = load(None)?;
    let take = |pool: &mut Vec<Example>, n: usize, what: &str| -> Result<Vec<Example>> {
        if pool.len() < n {
            invalid!("--data {data}: {what} needs {n} examples but only {} are left", pool.len());
        }
        let rest = pool.split_off(n);
        Ok(std::mem::replace(pool, rest))
    };
    let test = match (&s.test_data, s.test_size) {
        (Some(t), n) => truncated(load(Some(t))?, n),
        (None, Some(n)) => take(&mut pool, n, "--test-size")?,
        (None, None) => Vec::new(),
    };
    let (mut train, val) = match (&s.val_data, s.val_size) {
        (Some(v), n) => (pool, truncated(load(Some(v))?, n)),
        (None, Some(n)) => {
            let val = take(&mut pool, n, "--val-size")?;
            (pool, val)
        }
        (None, None) => {
            split_like_dspy(pool, req.seed).map_err(|e| AppError::from(e).context(format!("--data {data}")))?
        }
    };
    if let Some(n) = s.train_size {
        if train.len() < n {
            invalid!("--train-size {n}: only {} training examples are available", train.len());
        }
        train.truncate(n);
    }
    Ok(Splits { train, val, test, warnings })
}

fn truncated(mut examples: Vec<Example>, n: Option<usize>) -> Vec<Example> {
    if let Some(n) = n {
        examples.truncate(n);
    }
    examples
}
