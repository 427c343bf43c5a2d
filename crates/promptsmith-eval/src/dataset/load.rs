//! Parsing data files (JSONL, JSON, CSV/TSV) into examples, with precise error locations.

use super::adapters::RowTransform;
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
        match ext.as_str() {
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

/// Keys under which a top-level JSON object may hold its list of examples, in preference order.
const LIST_KEYS: &[&str] = &["examples", "data", "rows", "items", "records", "instances"];

/// One parsed row and where it came from (`file line 3`, `file $.examples[2]`).
struct Row {
    location: String,
    fields: Map<String, Value>,
}

/// Parses `bytes` (the content of the file shown as `shown`) into examples.
pub(crate) fn parse_examples(
    shown: &str,
    bytes: &[u8],
    format: DataFormat,
    input_keys: &[&str],
    transform: Option<RowTransform>,
) -> Result<Vec<Example>> {
    let text = decode_utf8(shown, bytes)?;
    let rows = match format {
        DataFormat::Jsonl => parse_jsonl(shown, text)?,
        DataFormat::Json => parse_json(shown, text)?,
        DataFormat::Csv => parse_csv(shown, text, b',', input_keys, transform.is_none())?,
        DataFormat::Tsv => parse_csv(shown, text, b'\t', input_keys, transform.is_none())?,
    };
    if rows.is_empty() {
        return Err(EvalError::data(shown, "no examples found"));
    }
    rows.into_iter()
        .map(|row| {
            let fields = match transform {
                Some(f) => f(row.fields).map_err(|message| EvalError::data(&row.location, message))?,
                None => row.fields,
            };
            check_inputs(&row.location, &fields, input_keys)?;
            Ok(Example::new(fields, input_keys))
        })
        .collect()
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

fn check_inputs(location: &str, fields: &Map<String, Value>, input_keys: &[&str]) -> Result<()> {
    for key in input_keys {
        match fields.get(*key) {
            None => return Err(EvalError::data(location, format!("field '{key}' missing"))),
            Some(Value::Null) => return Err(EvalError::data(location, format!("field '{key}' is null"))),
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

fn parse_jsonl(shown: &str, text: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{shown} line {}", i + 1);
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => rows.push(Row { location, fields }),
            Ok(other) => {
                return Err(EvalError::data(location, format!("expected a JSON object, found {}", kind(&other))))
            }
            Err(e) => {
                return Err(EvalError::data(
                    location,
                    format!("invalid JSON at col {}: {}", e.column(), json_message(&e)),
                ))
            }
        }
    }
    Ok(rows)
}

fn parse_json(shown: &str, text: &str) -> Result<Vec<Row>> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            // A `.json` file that is really JSON Lines: the first document parses, then more follow.
            if json_message(&e).starts_with("trailing characters") {
                if let Ok(rows) = parse_jsonl(shown, text) {
                    return Ok(rows);
                }
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
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let location = format!("{shown} {prefix}[{i}]");
            match item {
                Value::Object(fields) => Ok(Row { location, fields }),
                other => Err(EvalError::data(location, format!("expected a JSON object, found {}", kind(&other)))),
            }
        })
        .collect()
}

fn parse_csv(shown: &str, text: &str, delimiter: u8, input_keys: &[&str], check_header: bool) -> Result<Vec<Row>> {
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
    if check_header {
        if let Some(key) = input_keys.iter().find(|k| !headers.iter().any(|h| h == **k)) {
            let found: Vec<&str> = headers.iter().collect();
            return Err(EvalError::data(
                &header_location,
                format!("column '{key}' missing from header (found: {})", found.join(", ")),
            ));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(shown, &e))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let fields: Map<String, Value> =
            headers.iter().zip(record.iter()).map(|(h, v)| (h.to_string(), Value::String(v.to_string()))).collect();
        rows.push(Row { location: format!("{shown} line {line}"), fields });
    }
    Ok(rows)
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
