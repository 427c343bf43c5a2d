//! Dataset options shared by every command that reads a dataset (`eval`, `data check`, ...).

use anyhow::{anyhow, Result};
use clap::Args;
use promptsmith_eval::dataset::{DataSearchPath, FieldMapping, ResolvedDataset};
use std::fmt;
use std::path::PathBuf;

/// `--data` and the column mapping options.
#[derive(Debug, Clone, Args)]
pub(crate) struct DataArgs {
    /// Dataset: a built-in name (`gsm8k`, `gsm8k:train`, `banking77`, `hotpotqa`, `bbh/<task>`,
    /// ...; see `promptsmith data list`), a dataset spec file (`my_set.toml[:split]`), or a data
    /// file (JSONL, JSON, CSV, TSV). Names are looked up in $PROMPTSMITH_DATA_DIR, ../shared/data,
    /// then the bundled samples.
    #[arg(long)]
    pub(crate) data: String,
    /// An input column of a data file: COLUMN, or COLUMN=FIELD to rename it (repeatable). For a
    /// named dataset, replaces the inputs its spec names.
    #[arg(long = "input", value_name = "COLUMN[=FIELD]")]
    pub(crate) inputs: Vec<String>,
    /// A label column: COLUMN, or COLUMN=FIELD to rename it (repeatable). For a named dataset,
    /// replaces the labels its spec names.
    #[arg(long = "label", value_name = "COLUMN[=FIELD]")]
    pub(crate) labels: Vec<String>,
    /// Transform applied to every label: gsm8k_final_answer, gsm8k_rationale, strip, lowercase,
    /// category_name, titled_paragraphs, or regex:PATTERN with one capture group.
    #[arg(long, value_name = "NAME|regex:PATTERN")]
    pub(crate) label_transform: Option<String>,
}

impl fmt::Display for DataArgs {
    /// The `--data` value, for messages (`--data {args}: ...`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.data)
    }
}

impl DataArgs {
    /// The application layer's request for the same dataset and mapping.
    pub(crate) fn request(&self) -> promptsmith_app::DataRequest {
        promptsmith_app::DataRequest {
            data: self.data.clone(),
            inputs: self.inputs.clone(),
            labels: self.labels.clone(),
            label_transform: self.label_transform.clone(),
        }
    }

    /// The column mapping the options give (the application layer's reading of them).
    pub(crate) fn mapping(&self) -> Result<FieldMapping> {
        Ok(self.request().mapping()?)
    }

    /// Resolves `--data` on the standard search path.
    pub(crate) fn resolve(&self, sample_dirs: &[PathBuf]) -> Result<ResolvedDataset> {
        DataSearchPath::from_env(sample_dirs).resolve(&self.data).map_err(|e| anyhow!("--data {}: {e}", self.data))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_eval::dataset::ColumnMapping;

    fn args(inputs: &[&str], labels: &[&str], transform: Option<&str>) -> DataArgs {
        DataArgs {
            data: "d.csv".into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            label_transform: transform.map(str::to_string),
        }
    }

    #[test]
    fn mapping_parses_columns_and_transform() {
        let m = args(&["text=question"], &["gold"], Some("strip")).mapping().unwrap();
        assert_eq!(m.inputs, vec![ColumnMapping { column: "text".into(), field: "question".into() }]);
        assert_eq!(m.labels, vec![ColumnMapping { column: "gold".into(), field: "gold".into() }]);
        assert_eq!(m.label_transform.map(|t| t.describe()).as_deref(), Some("strip"));
        assert_eq!(
            args(&["=x"], &[], None).mapping().unwrap_err().to_string(),
            "--input =x: '=x' should be COLUMN or COLUMN=FIELD"
        );
        assert!(args(&[], &[], Some("upper"))
            .mapping()
            .unwrap_err()
            .to_string()
            .starts_with("--label-transform upper: unknown transform 'upper'"));
        assert_eq!(args(&[], &[], None).to_string(), "d.csv");
    }
}
