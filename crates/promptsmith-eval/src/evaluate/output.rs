//! Per-example results files: JSONL (one [`ExampleResult`] per line, lossless) or CSV (one row
//! per example, input/label/output fields flattened into `input.<name>`, `label.<name>` and
//! `output.<name>` columns, for spreadsheets).
//!
//! Large runs stream: [`JsonlWriter`] appends each result as it finishes, [`read_results_jsonl`]
//! reads them back one at a time, and [`jsonl_to_csv`] makes the CSV from the JSONL file in two
//! passes (its columns need every result's fields), so neither keeps the results in memory.

use super::ExampleResult;
use crate::error::{EvalError, Result};
use promptsmith_core::value_to_text;
use serde_json::{Map, Value};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Format of a results file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultsFormat {
    /// One JSON object per line.
    #[default]
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
    match format {
        ResultsFormat::Jsonl => {
            let mut w = JsonlWriter::create(path)?;
            for r in results {
                w.write(r)?;
            }
            w.finish().map(|_| ())
        }
        ResultsFormat::Csv => {
            let columns = Columns::of(results.iter().map(Ok))?;
            write_csv_file(path, &columns, results.iter().map(Ok))
        }
    }
}

/// Appends results to a JSONL file, one line each, as they arrive.
#[derive(Debug)]
pub struct JsonlWriter {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    written: usize,
}

impl JsonlWriter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|source| EvalError::Io { path: path.into(), source })?;
        Ok(JsonlWriter { path: path.into(), out: std::io::BufWriter::new(file), written: 0 })
    }

    /// Writes one result as a line.
    pub fn write(&mut self, r: &ExampleResult) -> Result<()> {
        let io = |source| EvalError::Io { path: self.path.clone(), source };
        serde_json::to_writer(&mut self.out, r).map_err(|e| {
            if e.is_io() {
                io(std::io::Error::other(e.to_string()))
            } else {
                EvalError::data(self.path.display().to_string(), e.to_string())
            }
        })?;
        self.out.write_all(b"\n").map_err(io)?;
        self.written += 1;
        Ok(())
    }

    /// Results written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Flushes the file; returns the number of results written.
    pub fn finish(mut self) -> Result<usize> {
        self.out.flush().map_err(|source| EvalError::Io { path: self.path.clone(), source })?;
        Ok(self.written)
    }
}

/// The results of a JSONL results file, one at a time (blank lines are skipped).
pub fn read_results_jsonl(path: &Path) -> Result<impl Iterator<Item = Result<ExampleResult>>> {
    let file = std::fs::File::open(path).map_err(|source| EvalError::Io { path: path.into(), source })?;
    let path = path.to_path_buf();
    let lines = std::io::BufReader::new(file).lines().enumerate();
    Ok(lines.filter_map(move |(i, line)| {
        let line = match line {
            Ok(line) => line,
            Err(source) => return Some(Err(EvalError::Io { path: path.clone(), source })),
        };
        if line.trim().is_empty() {
            return None;
        }
        Some(
            serde_json::from_str(&line)
                .map_err(|e| EvalError::data(format!("{} line {}", path.display(), i + 1), e.to_string())),
        )
    }))
}

/// Writes the CSV form of the JSONL results file `jsonl` to `csv`, reading it twice (once for
/// the columns, once for the rows) rather than holding the results.
pub fn jsonl_to_csv(jsonl: &Path, csv: &Path) -> Result<()> {
    let columns = Columns::of(read_results_jsonl(jsonl)?)?;
    write_csv_file(csv, &columns, read_results_jsonl(jsonl)?)
}

/// The input, label and output field names of a set of results, in order of first appearance.
#[derive(Debug, Default)]
struct Columns {
    inputs: Vec<String>,
    labels: Vec<String>,
    outputs: Vec<String>,
}

impl Columns {
    fn of<R: std::borrow::Borrow<ExampleResult>>(results: impl Iterator<Item = Result<R>>) -> Result<Self> {
        let mut c = Columns::default();
        for r in results {
            let r = r?;
            let r = r.borrow();
            add_keys(&mut c.inputs, &r.inputs);
            add_keys(&mut c.labels, &r.labels);
            if let Some(p) = &r.prediction {
                add_keys(&mut c.outputs, p);
            }
        }
        Ok(c)
    }
}

/// Adds the keys of `m` not yet in `seen`, in order.
fn add_keys(seen: &mut Vec<String>, m: &Map<String, Value>) {
    for k in m.keys() {
        if !seen.contains(k) {
            seen.push(k.clone());
        }
    }
}

fn write_csv_file<R: std::borrow::Borrow<ExampleResult>>(
    path: &Path,
    columns: &Columns,
    results: impl Iterator<Item = Result<R>>,
) -> Result<()> {
    let io = |source| EvalError::Io { path: path.into(), source };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    write_csv(&mut out, columns, results).map_err(|e| match e {
        CsvOrIo::Io(e) => io(e),
        CsvOrIo::Csv(e) => EvalError::data(path.display().to_string(), e.to_string()),
        CsvOrIo::Read(e) => e,
    })?;
    out.flush().map_err(io)
}

enum CsvOrIo {
    Io(std::io::Error),
    Csv(csv::Error),
    /// Reading the results back failed.
    Read(EvalError),
}

impl From<csv::Error> for CsvOrIo {
    fn from(e: csv::Error) -> Self {
        CsvOrIo::Csv(e)
    }
}

fn write_csv<R: std::borrow::Borrow<ExampleResult>>(
    out: &mut impl Write,
    columns: &Columns,
    results: impl Iterator<Item = Result<R>>,
) -> std::result::Result<(), CsvOrIo> {
    let Columns { inputs, labels, outputs } = columns;
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
        let r = r.map_err(CsvOrIo::Read)?;
        let r = r.borrow();
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
