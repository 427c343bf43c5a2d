//! Per-example results files: JSONL (one [`ExampleResult`] per line, lossless) or CSV (one row
//! per example, input/label/output fields flattened into `input.<name>`, `label.<name>` and
//! `output.<name>` columns, for spreadsheets).

use super::ExampleResult;
use crate::error::{EvalError, Result};
use promptsmith_core::value_to_text;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::Path;

/// Format of a results file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

impl ResultsFormat {
    /// Parses `jsonl` or `csv`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "jsonl" | "json" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }
}

/// Writes `results` to `path` in `format`.
pub fn write_results(path: &Path, results: &[ExampleResult], format: ResultsFormat) -> Result<()> {
    let io = |source| EvalError::Io { path: path.into(), source };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    match format {
        ResultsFormat::Jsonl => {
            for r in results {
                let line =
                    serde_json::to_string(r).map_err(|e| EvalError::data(path.display().to_string(), e.to_string()))?;
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        ResultsFormat::Csv => write_csv(&mut out, results).map_err(|e| match e {
            CsvOrIo::Io(e) => io(e),
            CsvOrIo::Csv(e) => EvalError::data(path.display().to_string(), e.to_string()),
        })?,
    }
    out.flush().map_err(io)
}

enum CsvOrIo {
    Io(std::io::Error),
    Csv(csv::Error),
}

impl From<csv::Error> for CsvOrIo {
    fn from(e: csv::Error) -> Self {
        CsvOrIo::Csv(e)
    }
}

/// Field names in order of first appearance across `maps`.
fn columns<'a>(maps: impl Iterator<Item = &'a Map<String, Value>>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for m in maps {
        for k in m.keys() {
            if !seen.contains(k) {
                seen.push(k.clone());
            }
        }
    }
    seen
}

fn write_csv(out: &mut impl Write, results: &[ExampleResult]) -> std::result::Result<(), CsvOrIo> {
    let inputs = columns(results.iter().map(|r| &r.inputs));
    let labels = columns(results.iter().map(|r| &r.labels));
    let outputs = columns(results.iter().filter_map(|r| r.prediction.as_ref()));
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = vec!["index".into()];
    header.extend(inputs.iter().map(|c| format!("input.{c}")));
    header.extend(labels.iter().map(|c| format!("label.{c}")));
    header.extend(outputs.iter().map(|c| format!("output.{c}")));
    header.extend(
        [
            "score",
            "feedback",
            "error_kind",
            "error",
            "latency_ms",
            "prompt_tokens",
            "completion_tokens",
            "lm_calls",
            "cost_usd",
        ]
        .map(String::from),
    );
    w.write_record(&header)?;
    let cell =
        |m: Option<&Map<String, Value>>, k: &str| m.and_then(|m| m.get(k)).map(value_to_text).unwrap_or_default();
    for r in results {
        let mut row: Vec<String> = vec![r.index.to_string()];
        row.extend(inputs.iter().map(|c| cell(Some(&r.inputs), c)));
        row.extend(labels.iter().map(|c| cell(Some(&r.labels), c)));
        row.extend(outputs.iter().map(|c| cell(r.prediction.as_ref(), c)));
        row.push(r.score.to_string());
        row.push(r.feedback.clone().unwrap_or_default());
        row.push(
            r.error
                .as_ref()
                .map(|e| serde_json::to_value(e.kind).ok().map(|v| value_to_text(&v)).unwrap_or_default())
                .unwrap_or_default(),
        );
        row.push(r.error.as_ref().map(|e| e.message.clone()).or_else(|| r.metric_error.clone()).unwrap_or_default());
        row.push(r.latency_ms.to_string());
        row.push(r.usage.prompt_tokens.to_string());
        row.push(r.usage.completion_tokens.to_string());
        row.push(r.lm_calls.to_string());
        row.push(r.cost_usd.map(|c| format!("{c:.8}")).unwrap_or_default());
        w.write_record(&row)?;
    }
    w.flush().map_err(CsvOrIo::Io)
}
