//! Datasets: loading examples from JSONL, JSON and CSV files, named-dataset resolution,
//! known-format adapters for benchmark datasets, and deterministic shuffles and splits.
//!
//! ```no_run
//! # fn main() -> promptsmith_eval::Result<()> {
//! use promptsmith_eval::dataset::{load_dataset, Dataset};
//! // A file with explicit input keys.
//! let ds = Dataset::load("data/qa.jsonl", &["question"])?;
//! // A named benchmark (adapter gives the input keys), shuffled and cut deterministically.
//! let gsm = load_dataset("gsm8k:test", &[], None)?.shuffle(7).take(100);
//! # let _ = (ds, gsm); Ok(()) }
//! ```

mod adapters;
mod load;
mod resolve;

pub use adapters::{find_adapter, Adapter, RowTransform, ADAPTERS};
pub use load::DataFormat;
pub use resolve::{load_dataset, resolve_dataset, DataSearchPath, ResolvedDataset, SearchDir, DATA_DIR_ENV};

use crate::error::{EvalError, Result};
use promptsmith_core::Example;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A list of examples plus where they came from, for run manifests.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    name: String,
    source: Option<PathBuf>,
    sha256: String,
    transforms: Vec<String>,
    examples: Vec<Example>,
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
        let path = path.as_ref();
        let format = DataFormat::from_path(path).ok_or_else(|| {
            EvalError::data(
                path.display().to_string(),
                "unknown data format: expected a .jsonl, .ndjson, .json, .csv or .tsv file",
            )
        })?;
        Self::load_with(path, format, input_keys, None)
    }

    /// Loads a data file in the given format, passing each row through `transform` (when given)
    /// before checking the input keys.
    pub fn load_with(
        path: impl AsRef<Path>,
        format: DataFormat,
        input_keys: &[&str],
        transform: Option<RowTransform>,
    ) -> Result<Dataset> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| EvalError::Io { path: path.to_path_buf(), source })?;
        let shown = path.display().to_string();
        let examples = load::parse_examples(&shown, &bytes, format, input_keys, transform)?;
        Ok(Dataset {
            name: shown,
            source: Some(path.to_path_buf()),
            sha256: sha256_hex(&bytes),
            transforms: Vec::new(),
            examples,
        })
    }

    /// A dataset built in memory. Its hash is the SHA-256 of the examples' JSON.
    pub fn from_examples(name: impl Into<String>, examples: Vec<Example>) -> Dataset {
        let json = serde_json::to_vec(&examples).unwrap_or_default();
        Dataset { name: name.into(), source: None, sha256: sha256_hex(&json), transforms: Vec::new(), examples }
    }

    /// Renames the dataset (e.g. to its `name:split` selector).
    pub fn with_name(mut self, name: impl Into<String>) -> Dataset {
        self.name = name.into();
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
        self.examples.shuffle(&mut rng);
        self.transforms.push(format!("shuffle(seed={seed})"));
        self
    }

    /// Keeps the first `n` examples (all of them when there are fewer).
    pub fn take(mut self, n: usize) -> Dataset {
        self.examples.truncate(n);
        self.transforms.push(format!("take({n})"));
        self
    }

    /// Drops the first `n` examples.
    pub fn skip(mut self, n: usize) -> Dataset {
        let n = n.min(self.examples.len());
        self.examples.drain(..n);
        self.transforms.push(format!("skip({n})"));
        self
    }

    /// Shuffles with `seed`, then splits into a first part holding `round(len * fraction)` examples
    /// and a second part holding the rest. `fraction` is clamped to `[0, 1]`.
    pub fn split(self, fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        let shuffled = self.shuffle(seed);
        let cut = ((shuffled.examples.len() as f64) * fraction).round() as usize;
        let cut = cut.min(shuffled.examples.len());
        let mut first = shuffled;
        let rest = first.examples.split_off(cut);
        let mut second = Dataset {
            name: first.name.clone(),
            source: first.source.clone(),
            sha256: first.sha256.clone(),
            transforms: first.transforms.clone(),
            examples: rest,
        };
        first.transforms.push(format!("split({fraction}).first"));
        second.transforms.push(format!("split({fraction}).second"));
        (first, second)
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
