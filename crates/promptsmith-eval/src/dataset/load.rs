//! Parsing data files (JSONL, JSON, CSV/TSV) into examples, with precise error locations, and
//! the row pipeline that maps columns to fields: renames, then transforms, then the input check.
//! A transform of a label field skips rows whose label is missing, null or blank (unlabelled rows).

use super::transform::FieldTransform;
use super::Places;
use crate::error::{EvalError, Result};
use promptsmith_core::Example;
use serde_json::{Map, Value};
use std::path::Path;

/// File format of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// A JSON array of objects, or an object holding such an array (`.json`).
    Json,
    /// Comma-separated values with a header row (`.csv`). All values are strings.
    Csv,
    /// Tab-separated values with a header row (`.tsv`). All values are strings.
    Tsv,
}

impl DataFormat {
    /// The format a file name's extension implies, if any.
    pub fn from_path(path: &Path) -> Option<DataFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        DataFormat::from_name(&ext)
    }

    /// The format named `jsonl`, `ndjson`, `json`, `csv` or `tsv`.
    pub fn from_name(name: &str) -> Option<DataFormat> {
        match name {
            "jsonl" | "ndjson" => Some(DataFormat::Jsonl),
            "json" => Some(DataFormat::Json),
            "csv" => Some(DataFormat::Csv),
            "tsv" => Some(DataFormat::Tsv),
            _ => None,
        }
    }

    /// File extensions this crate recognises, in lookup order.
    pub const EXTENSIONS: &'static [&'static str] = &["jsonl", "json", "csv", "tsv", "ndjson"];
}

/// How the rows of a data file become examples. Each row goes through, in order: the renames,
/// the transforms, and a check that every input field is present and not null. Label fields
/// may be missing (such rows count as unlabelled).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The file format; `None` chooses it from the file's extension.
    pub format: Option<DataFormat>,
    /// Column renames `(column, field)`, applied first. A row without the column is left as is.
    pub rename: Vec<(String, String)>,
    /// Transforms, applied after the renames in order (skipping unlabelled rows for label fields).
    pub transforms: Vec<FieldTransform>,
    /// Input fields; every row must have each of them.
    pub inputs: Vec<String>,
    /// Label fields; empty means every non-input field is a label.
    pub labels: Vec<String>,
    /// Category names, for the `category_name` transform and label distributions.
    pub categories: Option<Vec<String>>,
}

impl LoadOptions {
    /// Options that only name the input fields.
    pub fn with_inputs(inputs: &[&str]) -> LoadOptions {
        LoadOptions { inputs: inputs.iter().map(|s| s.to_string()).collect(), ..LoadOptions::default() }
    }

    /// The column a field comes from, following renames back; `None` when a transform makes it.
    fn source_column<'a>(&'a self, field: &'a str) -> Option<&'a str> {
        if self.transforms.iter().any(|t| t.into.as_deref() == Some(field)) {
            return None;
        }
        Some(self.rename.iter().find(|(_, to)| to == field).map(|(from, _)| from.as_str()).unwrap_or(field))
    }
}

/// The examples of a file and, parallel to them, where each came from (`line 3`,
/// `$.examples[2]`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Loaded {
    pub(crate) examples: Vec<Example>,
    pub(crate) places: Places,
}

/// Keys under which a top-level JSON object may hold its list of examples, in preference order.
const LIST_KEYS: &[&str] = &["examples", "data", "rows", "items", "records", "instances"];

/// Where the parsers hand each row as they read it (so a file's rows never exist twice): maps
/// it, checks its inputs and keeps it as an example.
struct Collector<'a> {
    shown: &'a str,
    options: &'a LoadOptions,
    inputs: Vec<&'a str>,
    out: Loaded,
}

impl Collector<'_> {
    /// Keeps one row; `number` is its place under the pattern of `out.places` (a line number,
    /// an array index).
    fn push(&mut self, number: usize, fields: Map<String, Value>) -> Result<()> {
        let fields = map_row(fields, self.options)
            .and_then(|fields| check_inputs(&fields, &self.inputs).map(|()| fields))
            .map_err(|message| {
                EvalError::data(format!("{} {}", self.shown, self.out.places.format(number)), message)
            })?;
        self.out.examples.push(Example::new(fields, &self.inputs));
        self.out.places.push(number);
        Ok(())
    }
}

/// Parses `bytes` (the content of the file shown as `shown`) into examples. Each row becomes
/// an example as soon as it is read (no second copy of the rows), in vectors sized to fit.
pub(crate) fn parse_examples(shown: &str, bytes: &[u8], format: DataFormat, options: &LoadOptions) -> Result<Loaded> {
    let text = decode_utf8(shown, bytes)?;
    let inputs: Vec<&str> = options.inputs.iter().map(String::as_str).collect();
    let mut rows = Collector { shown, options, inputs, out: Loaded::default() };
    if matches!(format, DataFormat::Jsonl | DataFormat::Csv | DataFormat::Tsv) {
        let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
        rows.out.examples.reserve(lines);
        rows.out.places.reserve(lines);
    }
    match format {
        DataFormat::Jsonl => parse_jsonl(shown, text, &mut rows)?,
        DataFormat::Json => parse_json(shown, text, &mut rows)?,
        DataFormat::Csv => parse_csv(shown, text, b',', options, &mut rows)?,
        DataFormat::Tsv => parse_csv(shown, text, b'\t', options, &mut rows)?,
    }
    let mut out = rows.out;
    if out.examples.is_empty() {
        return Err(EvalError::data(shown, "no examples found"));
    }
    out.examples.shrink_to_fit();
    out.places.shrink_to_fit();
    Ok(out)
}

/// Applies the renames and transforms of `options` to one row.
fn map_row(mut fields: Map<String, Value>, options: &LoadOptions) -> std::result::Result<Map<String, Value>, String> {
    if !options.rename.is_empty() {
        let mut renamed = Map::new();
        for (key, value) in fields {
            let target = options.rename.iter().find(|(from, _)| *from == key).map_or(key.as_str(), |(_, to)| to);
            if renamed.contains_key(target) {
                let column = options.rename.iter().find(|(_, to)| to == target).map_or(target, |(from, _)| from);
                return Err(format!(
                    "column '{column}' is renamed to '{target}', but the row also has a '{target}' column"
                ));
            }
            renamed.insert(target.to_string(), value);
        }
        fields = renamed;
    }
    let categories = options.categories.as_deref();
    for t in &options.transforms {
        // An unlabelled row (label missing, null or blank) stays unlabelled.
        let blank = match fields.get(&t.field) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        };
        if blank && options.labels.contains(&t.field) {
            continue;
        }
        t.apply(&mut fields, categories).map_err(|e| e.0)?;
    }
    Ok(fields)
}

fn decode_utf8<'a>(shown: &str, bytes: &'a [u8]) -> Result<&'a str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(e) => {
            let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(EvalError::data(format!("{shown} line {line}"), "not valid UTF-8"))
        }
    }
}

fn check_inputs(fields: &Map<String, Value>, input_keys: &[&str]) -> std::result::Result<(), String> {
    for key in input_keys {
        match fields.get(*key) {
            None => return Err(format!("field '{key}' missing")),
            Some(Value::Null) => return Err(format!("field '{key}' is null")),
            Some(_) => {}
        }
    }
    Ok(())
}

/// serde_json's message without its trailing " at line L column C".
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The JSON type name of a value, for "expected X, found Y" messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_jsonl(shown: &str, text: &str, rows: &mut Collector<'_>) -> Result<()> {
    rows.out.places.set_pattern("line ", "");
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = || format!("{shown} line {}", i + 1);
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => rows.push(i + 1, fields)?,
            Ok(other) => {
                return Err(EvalError::data(location(), format!("expected a JSON object, found {}", kind(&other))))
            }
            Err(e) => {
                return Err(EvalError::data(
                    location(),
                    format!("invalid JSON at col {}: {}", e.column(), json_message(&e)),
                ))
            }
        }
    }
    Ok(())
}

fn parse_json(shown: &str, text: &str, rows: &mut Collector<'_>) -> Result<()> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            // A `.json` file that is really JSON Lines: the first document parses, then more follow.
            // Nothing has been handed on yet, so trying it as JSON Lines is safe; a JSONL parse
            // error is reported as this file's JSON error.
            if json_message(&e).starts_with("trailing characters") && jsonl_parses(text) {
                return parse_jsonl(shown, text, rows);
            }
            return Err(EvalError::data(
                shown,
                format!("invalid JSON at line {} col {}: {}", e.line(), e.column(), json_message(&e)),
            ));
        }
    };
    let (prefix, items) = match value {
        Value::Array(items) => ("$".to_string(), items),
        Value::Object(mut map) => {
            let key = LIST_KEYS.iter().find(|k| matches!(map.get(**k), Some(Value::Array(_)))).map(|k| k.to_string());
            let key = key.or_else(|| {
                let arrays: Vec<&String> = map
                    .iter()
                    .filter(|(_, v)| matches!(v, Value::Array(a) if a.iter().all(Value::is_object)))
                    .map(|(k, _)| k)
                    .collect();
                (arrays.len() == 1).then(|| arrays[0].clone())
            });
            match key.and_then(|k| map.remove(&k).map(|v| (k, v))) {
                Some((k, Value::Array(items))) => (format!("$.{k}"), items),
                _ => {
                    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                    return Err(EvalError::data(
                        shown,
                        format!(
                            "expected a JSON array of objects, or an object with a list of objects under 'examples' \
                             (found keys: {})",
                            keys.join(", ")
                        ),
                    ));
                }
            }
        }
        other => {
            return Err(EvalError::data(
                shown,
                format!("expected a JSON array of objects or an object, found {}", kind(&other)),
            ))
        }
    };
    rows.out.places.set_pattern(&format!("{prefix}["), "]");
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(fields) => rows.push(i, fields)?,
            other => {
                return Err(EvalError::data(
                    format!("{shown} {prefix}[{i}]"),
                    format!("expected a JSON object, found {}", kind(&other)),
                ))
            }
        }
    }
    Ok(())
}

/// Whether every non-blank line of `text` is a JSON object (a `.json` file that is really
/// JSON Lines).
fn jsonl_parses(text: &str) -> bool {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| matches!(serde_json::from_str::<Value>(l), Ok(Value::Object(_))))
}

fn parse_csv(shown: &str, text: &str, delimiter: u8, options: &LoadOptions, rows: &mut Collector<'_>) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| csv_error(shown, &e))?.clone();
    let header_location = format!("{shown} line 1");
    let mut seen = std::collections::HashSet::new();
    for (i, name) in headers.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(EvalError::data(&header_location, format!("column {} has an empty name", i + 1)));
        }
        if !seen.insert(name) {
            return Err(EvalError::data(&header_location, format!("duplicate column '{name}'")));
        }
    }
    let needed = options.inputs.iter().chain(&options.labels).filter_map(|f| options.source_column(f));
    for column in needed {
        if !headers.iter().any(|h| h == column) {
            let found: Vec<&str> = headers.iter().collect();
            return Err(EvalError::data(
                &header_location,
                format!("column '{column}' missing from header (found: {})", found.join(", ")),
            ));
        }
    }
    rows.out.places.set_pattern("line ", "");
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(shown, &e))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let fields: Map<String, Value> =
            headers.iter().zip(record.iter()).map(|(h, v)| (h.to_string(), Value::String(v.to_string()))).collect();
        rows.push(line as usize, fields)?;
    }
    Ok(())
}

fn csv_error(shown: &str, e: &csv::Error) -> EvalError {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            let line = pos.as_ref().map(|p| p.line()).unwrap_or(0);
            EvalError::data(format!("{shown} line {line}"), format!("expected {expected_len} fields, found {len}"))
        }
        _ => match e.position() {
            Some(p) => EvalError::data(format!("{shown} line {}", p.line()), e.to_string()),
            None => EvalError::data(shown, e.to_string()),
        },
    }
}
