//! Datasets: loading examples from JSONL, JSON and CSV files, declarative dataset specs for
//! named benchmarks (`datasets/*.toml`, embedded in the binary), named-dataset resolution,
//! deterministic shuffles and seeded train/val/test splits, duplicate detection and a readiness
//! check.
//!
//! ```no_run
//! # fn main() -> promptsmith_eval::Result<()> {
//! use promptsmith_eval::dataset::{load_dataset, Dataset};
//! // A file with explicit input keys.
//! let ds = Dataset::load("data/qa.jsonl", &["question"])?;
//! // A named benchmark (its spec gives the input keys), shuffled and cut deterministically.
//! let gsm = load_dataset("gsm8k:test", &[], None)?.shuffle(7).take(100);
//! // Seeded 60/20/20 splits, and at least 50 labelled examples.
//! let parts = ds.splits(0.6, 0.2, 0.2, 42)?;
//! parts.train.check_ready(50)?;
//! # let _ = gsm; Ok(()) }
//! ```

mod check;
mod load;
mod resolve;
mod spec;
mod transform;

pub use check::{DuplicateGroup, Duplicates, FieldSummary, DEFAULT_MIN_LABELLED};
pub use load::{DataFormat, LoadOptions};
pub use resolve::{
    load_dataset, resolve_dataset, ColumnMapping, DataSearchPath, FieldMapping, ResolvedDataset, SearchDir,
    DATA_DIR_ENV,
};
pub use spec::{builtin_spec, builtin_specs, DatasetSpec, DerivedSplits};
pub use transform::{FieldTransform, MappingError, NamedTransform, TransformOp};

use crate::error::{EvalError, Result};
use promptsmith_core::Example;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A list of examples plus where they came from (for run manifests and error messages), which
/// fields are inputs and labels, and the category names when the labels are categorical.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    name: String,
    source: Option<PathBuf>,
    sha256: String,
    transforms: Vec<String>,
    examples: Vec<Example>,
    /// Where each example came from in its file (`line 3`, `$.examples[2]`), parallel to `examples`.
    places: Places,
    inputs: Vec<String>,
    labels: Vec<String>,
    categories: Option<Vec<String>>,
}

/// Where each example came from, as one number an example under a pattern shared by the whole
/// dataset (`line {n}`, `$.examples[{n}]`, `example {n}`): 4 bytes an example, not a string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Places {
    prefix: String,
    suffix: String,
    numbers: Vec<u32>,
}

impl Places {
    /// Sets the pattern the numbers are shown in.
    pub(crate) fn set_pattern(&mut self, prefix: &str, suffix: &str) {
        self.prefix = prefix.to_string();
        self.suffix = suffix.to_string();
    }

    /// The same pattern with no places.
    fn pattern_only(&self) -> Places {
        Places { prefix: self.prefix.clone(), suffix: self.suffix.clone(), numbers: Vec::new() }
    }

    /// `number` shown in the pattern.
    pub(crate) fn format(&self, number: usize) -> String {
        format!("{}{number}{}", self.prefix, self.suffix)
    }

    pub(crate) fn push(&mut self, number: usize) {
        self.numbers.push(u32::try_from(number).unwrap_or(u32::MAX));
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.numbers.reserve(n);
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.numbers.shrink_to_fit();
    }

    fn get(&self, index: usize) -> Option<String> {
        self.numbers.get(index).map(|&n| self.format(n as usize))
    }

    /// Keeps the places at `order`'s positions, in that order.
    fn reorder(&mut self, order: &[usize]) {
        self.numbers = order.iter().filter_map(|&i| self.numbers.get(i).copied()).collect();
    }

    fn truncate(&mut self, n: usize) {
        self.numbers.truncate(n);
    }

    /// Drops the first `n`.
    fn skip(&mut self, n: usize) {
        self.numbers.drain(..n.min(self.numbers.len()));
    }

    fn split_off(&mut self, at: usize) -> Places {
        let numbers = self.numbers.split_off(at.min(self.numbers.len()));
        Places { numbers, ..self.pattern_only() }
    }
}

/// The train, validation and test parts made by [`Dataset::splits`].
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// Training examples.
    pub train: Dataset,
    /// Validation examples.
    pub val: Dataset,
    /// Test examples.
    pub test: Dataset,
}

/// What a run manifest records about a dataset: enough to check the same data was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// Dataset name (`gsm8k:test`) or the path it was loaded from.
    pub name: String,
    /// The file it was loaded from, when it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// SHA-256 (hex) of the file bytes, or of the examples' JSON when built in memory.
    pub sha256: String,
    /// Number of examples after the transforms.
    pub examples: usize,
    /// Shuffles, splits and cuts applied after loading, in order (e.g. `shuffle(seed=7)`, `take(100)`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<String>,
}

impl Dataset {
    /// Loads a data file, choosing the format from its extension (`.jsonl`/`.ndjson`, `.json`,
    /// `.csv`, `.tsv`). Every row must have each of `input_keys`.
    pub fn load(path: impl AsRef<Path>, input_keys: &[&str]) -> Result<Dataset> {
        Self::load_with(path, &LoadOptions::with_inputs(input_keys))
    }

    /// Loads a data file, mapping its rows to examples as `options` say (renames, transforms,
    /// inputs, labels). The format is `options.format`, else the file extension's.
    pub fn load_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Dataset> {
        let path = path.as_ref();
        let format = match options.format {
            Some(f) => f,
            None => DataFormat::from_path(path).ok_or_else(|| {
                EvalError::data(
                    path.display().to_string(),
                    "unknown data format: expected a .jsonl, .ndjson, .json, .csv or .tsv file",
                )
            })?,
        };
        let bytes = std::fs::read(path).map_err(|source| EvalError::Io { path: path.to_path_buf(), source })?;
        let shown = path.display().to_string();
        let load::Loaded { examples, places } = load::parse_examples(&shown, &bytes, format, options)?;
        Ok(Dataset {
            name: shown,
            source: Some(path.to_path_buf()),
            sha256: sha256_hex(&bytes),
            transforms: Vec::new(),
            examples,
            places,
            inputs: options.inputs.clone(),
            labels: options.labels.clone(),
            categories: options.categories.clone(),
        })
    }

    /// A dataset built in memory. Its hash is the SHA-256 of the examples' JSON; its input keys are
    /// the first example's; every non-input field counts as a label.
    pub fn from_examples(name: impl Into<String>, examples: Vec<Example>) -> Dataset {
        let json = serde_json::to_vec(&examples).unwrap_or_default();
        let inputs = examples.first().map(|e| e.input_keys.clone()).unwrap_or_default();
        let mut places = Places::default();
        places.set_pattern("example ", "");
        places.reserve(examples.len());
        for i in 1..=examples.len() {
            places.push(i);
        }
        Dataset {
            name: name.into(),
            source: None,
            sha256: sha256_hex(&json),
            transforms: Vec::new(),
            examples,
            places,
            inputs,
            labels: Vec::new(),
            categories: None,
        }
    }

    /// Renames the dataset (e.g. to its `name:split` selector).
    pub fn with_name(mut self, name: impl Into<String>) -> Dataset {
        self.name = name.into();
        self
    }

    /// Marks `keys` as the inputs of every example (e.g. a program's input fields). Fields that
    /// stop being inputs become labels, unless the label fields are named.
    pub fn with_inputs(mut self, keys: &[&str]) -> Dataset {
        self.inputs = keys.iter().map(|k| k.to_string()).collect();
        self.labels.retain(|l| !keys.contains(&l.as_str()));
        for e in &mut self.examples {
            e.input_keys.clone_from(&self.inputs);
        }
        self
    }

    /// Names the label fields (used by the readiness check and label statistics).
    pub fn with_labels(mut self, keys: &[&str]) -> Dataset {
        self.labels = keys.iter().map(|k| k.to_string()).collect();
        self
    }

    /// Dataset name, or the path it was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// SHA-256 (hex) of the source file's bytes (of the examples' JSON for in-memory datasets).
    pub fn content_hash(&self) -> &str {
        &self.sha256
    }

    /// Transforms applied since loading, in order.
    pub fn transforms(&self) -> &[String] {
        &self.transforms
    }

    /// The input fields.
    pub fn input_keys(&self) -> &[String] {
        &self.inputs
    }

    /// The label fields; empty when not named, in which case every non-input field counts as a label.
    pub fn label_keys(&self) -> &[String] {
        &self.labels
    }

    /// Category names, when the dataset's spec lists them.
    pub fn categories(&self) -> Option<&[String]> {
        self.categories.as_deref()
    }

    /// Where example `index` came from in its file (`line 3`, `$.examples[2]`, or `example 3`
    /// for in-memory datasets).
    pub fn place(&self, index: usize) -> Option<String> {
        self.places.get(index)
    }

    /// The examples.
    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// Takes the examples out.
    pub fn into_examples(self) -> Vec<Example> {
        self.examples
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Iterates over the examples.
    pub fn iter(&self) -> std::slice::Iter<'_, Example> {
        self.examples.iter()
    }

    /// What a run manifest should record about this dataset.
    pub fn manifest(&self) -> DatasetManifest {
        DatasetManifest {
            name: self.name.clone(),
            path: self.source.clone(),
            sha256: self.sha256.clone(),
            examples: self.examples.len(),
            transforms: self.transforms.clone(),
        }
    }

    /// Shuffles deterministically: the same seed gives the same order on every platform (ChaCha8).
    pub fn shuffle(mut self, seed: u64) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        order.shuffle(&mut rng);
        let mut examples: Vec<Option<Example>> = std::mem::take(&mut self.examples).into_iter().map(Some).collect();
        self.examples = order.iter().filter_map(|&i| examples[i].take()).collect();
        self.places.reorder(&order);
        self.transforms.push(format!("shuffle(seed={seed})"));
        self
    }

    /// Keeps the first `n` examples (all of them when there are fewer).
    pub fn take(mut self, n: usize) -> Dataset {
        self.examples.truncate(n);
        self.places.truncate(n);
        self.transforms.push(format!("take({n})"));
        self
    }

    /// Drops the first `n` examples.
    pub fn skip(mut self, n: usize) -> Dataset {
        let n = n.min(self.examples.len());
        self.examples.drain(..n);
        self.places.skip(n);
        self.transforms.push(format!("skip({n})"));
        self
    }

    /// Splits off the examples from `at` on, as a dataset with the same provenance.
    fn split_off(&mut self, at: usize) -> Dataset {
        let at = at.min(self.examples.len());
        let mut rest = self.clone_meta();
        rest.examples = self.examples.split_off(at);
        rest.places = self.places.split_off(at);
        rest
    }

    /// A copy without the examples.
    fn clone_meta(&self) -> Dataset {
        Dataset {
            name: self.name.clone(),
            source: self.source.clone(),
            sha256: self.sha256.clone(),
            transforms: self.transforms.clone(),
            examples: Vec::new(),
            places: self.places.pattern_only(),
            inputs: self.inputs.clone(),
            labels: self.labels.clone(),
            categories: self.categories.clone(),
        }
    }

    /// Shuffles with `seed`, then splits into a first part holding `round(len * fraction)` examples
    /// and a second part holding the rest. `fraction` is clamped to `[0, 1]`.
    pub fn split(self, fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        let mut first = self.shuffle(seed);
        let cut = ((first.examples.len() as f64) * fraction).round() as usize;
        let mut second = first.split_off(cut);
        first.transforms.push(format!("split({fraction}).first"));
        second.transforms.push(format!("split({fraction}).second"));
        (first, second)
    }

    /// Seeded train/validation/test splits. Deterministic: the examples are shuffled with `seed`
    /// exactly as [`Dataset::shuffle`] does, then cut in order into `train` (the first
    /// `round(n * train)` examples), `val` (the next `round(n * val)`) and `test` (the rest when the
    /// fractions add up to 1, else the next `round(n * test)`). The parts never overlap. Fractions
    /// must be finite, non-negative and add up to at most 1. Each part records the shuffle and its
    /// role in [`Dataset::transforms`].
    pub fn splits(self, train: f64, val: f64, test: f64, seed: u64) -> Result<Splits> {
        let fractions = [train, val, test];
        if fractions.iter().any(|f| !f.is_finite() || *f < 0.0) || fractions.iter().sum::<f64>() > 1.0 + 1e-9 {
            return Err(EvalError::data(
                self.name.clone(),
                format!(
                    "split fractions train={train}, val={val}, test={test} should each be between 0 and 1 and add \
                     up to at most 1"
                ),
            ));
        }
        let n = self.examples.len();
        let count = |f: f64| ((n as f64) * f).round() as usize;
        let n_train = count(train).min(n);
        let n_val = count(val).min(n - n_train);
        let rest = n - n_train - n_val;
        let n_test = if (train + val + test - 1.0).abs() < 1e-9 { rest } else { count(test).min(rest) };
        let label = format!("splits(train={train}, val={val}, test={test})");
        let mut train_part = self.shuffle(seed);
        let mut val_part = train_part.split_off(n_train);
        let mut test_part = val_part.split_off(n_val);
        test_part.examples.truncate(n_test);
        test_part.places.truncate(n_test);
        train_part.transforms.push(format!("{label}.train"));
        val_part.transforms.push(format!("{label}.val"));
        test_part.transforms.push(format!("{label}.test"));
        Ok(Splits { train: train_part, val: val_part, test: test_part })
    }
}

impl<'a> IntoIterator for &'a Dataset {
    type Item = &'a Example;
    type IntoIter = std::slice::Iter<'a, Example>;
    fn into_iter(self) -> Self::IntoIter {
        self.examples.iter()
    }
}

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests;
