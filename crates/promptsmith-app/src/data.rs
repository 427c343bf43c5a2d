//! Datasets as jobs name them: a dataset name, spec file or data file, with the column mapping
//! of `--input`, `--label` and `--label-transform`.

use crate::error::{invalid, AppError, Result};
use promptsmith_eval::dataset::{ColumnMapping, DataSearchPath, FieldMapping, TransformOp};
use promptsmith_eval::Dataset;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How many duplicate groups a warning shows.
const DUPLICATES_SHOWN: usize = 3;

/// A dataset and how its columns map to fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRequest {
    /// A built-in name (`gsm8k:train`), a dataset spec file (`my.toml[:split]`) or a data file.
    pub data: String,
    /// Input columns, `COLUMN` or `COLUMN=FIELD`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Label columns, `COLUMN` or `COLUMN=FIELD`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// A transform applied to every label (`gsm8k_final_answer`, `regex:PATTERN`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_transform: Option<String>,
}

/// A loaded dataset and what a user should know about it (repeated inputs).
#[derive(Debug)]
pub struct Loaded {
    /// The examples.
    pub dataset: Dataset,
    /// Warnings, each starting with `--data NAME:`.
    pub warnings: Vec<String>,
}

impl DataRequest {
    /// A request for `data` with no column mapping.
    pub fn named(data: impl Into<String>) -> Self {
        Self { data: data.into(), ..Self::default() }
    }

    /// The same mapping over another dataset (validation or test data).
    pub fn with_data(&self, data: &str) -> Self {
        Self { data: data.to_string(), ..self.clone() }
    }

    /// The column mapping; errors name the flag.
    pub fn mapping(&self) -> Result<FieldMapping> {
        let parse = |flag: &str, values: &[String]| -> Result<Vec<ColumnMapping>> {
            values
                .iter()
                .map(|v| ColumnMapping::parse(v).map_err(|e| AppError::invalid(format!("--{flag} {v}: {e}"))))
                .collect()
        };
        let label_transform = match &self.label_transform {
            None => None,
            Some(t) => {
                Some(TransformOp::parse(t).map_err(|e| AppError::invalid(format!("--label-transform {t}: {e}")))?)
            }
        };
        Ok(FieldMapping {
            inputs: parse("input", &self.inputs)?,
            labels: parse("label", &self.labels)?,
            label_transform,
        })
    }

    /// Loads the dataset. `default_inputs` (a program's input fields) are the inputs when no
    /// `inputs` are given: the columns of a data file, or the fields a named dataset marks.
    pub fn load(&self, sample_dirs: &[PathBuf], default_inputs: &[&str]) -> Result<Loaded> {
        let mut mapping = self.mapping()?;
        let resolved = DataSearchPath::from_env(sample_dirs)
            .resolve(&self.data)
            .map_err(|e| AppError::from(e).context(format!("--data {}", self.data)))?;
        let use_defaults = mapping.inputs.is_empty() && !default_inputs.is_empty();
        if use_defaults && resolved.spec.is_none() {
            mapping.inputs = FieldMapping::inputs(default_inputs).inputs;
        }
        let mut dataset =
            resolved.load_mapped(&mapping).map_err(|e| AppError::from(e).context(format!("--data {}", self.data)))?;
        if use_defaults && resolved.spec.is_some() {
            dataset = dataset.with_inputs(default_inputs);
        }
        let duplicates = dataset.duplicates();
        let warnings = if duplicates.is_empty() {
            Vec::new()
        } else {
            vec![format!("--data {}: {}", self.data, duplicates.summary(DUPLICATES_SHOWN))]
        };
        Ok(Loaded { dataset, warnings })
    }

    /// The examples a program runs on: loaded with the program's `inputs` as the default input
    /// fields, shuffled with `seed`, cut to `limit`; an error when none are left or when they
    /// lack one of the program's inputs.
    pub fn load_for_program(
        &self,
        sample_dirs: &[PathBuf],
        inputs: &[String],
        seed: Option<u64>,
        limit: Option<usize>,
    ) -> Result<Loaded> {
        let input_refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let mut loaded = self.load(sample_dirs, &input_refs)?;
        if let Some(seed) = seed {
            loaded.dataset = loaded.dataset.shuffle(seed);
        }
        if let Some(n) = limit {
            loaded.dataset = loaded.dataset.take(n);
        }
        let Some(first) = loaded.dataset.examples().first() else {
            invalid!("--data {}: no examples to evaluate", self.data);
        };
        let missing: Vec<&str> = inputs.iter().filter(|f| first.get(f).is_none()).map(String::as_str).collect();
        if !missing.is_empty() {
            invalid!(
                "--data {}: examples lack the program's input field(s) {} (they have: {})",
                self.data,
                missing.join(", "),
                first.fields.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(loaded)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn req(inputs: &[&str], labels: &[&str], transform: Option<&str>) -> DataRequest {
        DataRequest {
            data: "d.csv".into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            label_transform: transform.map(str::to_string),
        }
    }

    #[test]
    fn mapping_parses_columns_and_transform() {
        let m = req(&["text=question"], &["gold"], Some("strip")).mapping().unwrap();
        assert_eq!(m.inputs, vec![ColumnMapping { column: "text".into(), field: "question".into() }]);
        assert_eq!(m.label_transform.map(|t| t.describe()).as_deref(), Some("strip"));
        let err = req(&["=x"], &[], None).mapping().unwrap_err();
        assert_eq!(err.message, "--input =x: '=x' should be COLUMN or COLUMN=FIELD");
        assert_eq!(err.kind, promptsmith_core::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_data_file_loads_with_the_program_inputs_and_warns_on_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.jsonl");
        std::fs::write(
            &file,
            "{\"q\": \"a\", \"answer\": 1}\n{\"q\": \"a\", \"answer\": 2}\n{\"q\": \"b\", \"answer\": 3}\n",
        )
        .unwrap();
        let loaded = DataRequest::named(file.display().to_string())
            .load_for_program(&[], &["q".to_string()], None, None)
            .unwrap();
        assert_eq!(loaded.dataset.examples().len(), 3);
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        let err = DataRequest::named(file.display().to_string())
            .load_for_program(&[], &["question".to_string()], None, None)
            .unwrap_err();
        assert!(err.message.contains("line 1: field 'question' missing"), "{err}");
    }
}
