//! DSPy 3.4.1's `parse_value`, reproduced for the DSPy-strict adapters: a field's text is read
//! as JSON (`json_repair.loads`), else as a Python literal (`ast.literal_eval`), else kept as a
//! string, and the result is validated the way pydantic's lax mode does. Unlike
//! [`super::coerce`], nothing is dug out of prose: `240 dozens` is not a number here.
//!
//! Limits: `json_repair`'s repair of malformed JSON is approximated by
//! [`super::coerce::parse_json_repair`] (fences, prose around the object, trailing commas, single
//! quotes, unescaped newlines, unclosed brackets); the golden table in
//! `tests/golden/dspy_strict/` pins the cases checked against the real DSPy.

use super::coerce::parse_json_repair;
use super::pyfmt::py_str;
use crate::signature::FieldType;
use serde_json::{Map, Number, Value};

/// DSPy's `parse_value(text, annotation)` for a value given as text (a chat-layout section).
pub fn parse_text(text: &str, ty: &FieldType) -> Result<Value, String> {
    match ty {
        FieldType::Str => Ok(Value::String(text.to_string())),
        FieldType::Enum(labels) => literal_label(text, labels),
        _ => {
            let candidate = python_candidate(text);
            validate(&candidate, ty)
        }
    }
}

/// DSPy's `parse_value(value, annotation)` for a value taken from a JSON object.
pub fn parse_json_value(value: &Value, ty: &FieldType) -> Result<Value, String> {
    match (value, ty) {
        (Value::String(s), _) => parse_text(s, ty),
        (_, FieldType::Str) => Ok(Value::String(py_repr_str(value))),
        (_, FieldType::Enum(labels)) => Err(format!("expected one of {}, got {}", labels.join(", "), value)),
        _ => validate(value, ty),
    }
}

/// `Literal[...]`: exact label, also after stripping `Literal[...]`/`str[...]` and matching quotes.
fn literal_label(text: &str, labels: &[String]) -> Result<Value, String> {
    if labels.iter().any(|l| l == text) {
        return Ok(Value::String(text.to_string()));
    }
    let mut v = text.trim();
    if (v.starts_with("Literal[") || v.starts_with("str[")) && v.ends_with(']') {
        if let Some(open) = v.find('[') {
            v = &v[open + 1..v.len() - 1];
        }
    }
    let chars: Vec<char> = v.chars().collect();
    if chars.len() > 1 && chars[0] == chars[chars.len() - 1] && (chars[0] == '"' || chars[0] == '\'') {
        v = &v[1..v.len() - 1];
    }
    if labels.iter().any(|l| l == v) {
        return Ok(Value::String(v.to_string()));
    }
    Err(format!("expected exactly one of {}, got {:?}", labels.join(", "), text))
}

/// `json_repair.loads(text)`, then `ast.literal_eval(text)`, then the text itself.
fn python_candidate(text: &str) -> Value {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return v;
    }
    // json_repair skips leading text up to the first bracket and repairs from there.
    if t.contains(['{', '[']) {
        if let Some(v) = parse_json_repair(t) {
            return v;
        }
    }
    if let Some(v) = literal_eval(text) {
        return v;
    }
    Value::String(text.to_string())
}

/// `ast.literal_eval` for the scalars a field holds: numbers (with sign, `_`, `0x`/`0o`/`0b`,
/// `42.`, `.5`, exponents), quoted strings, `True`/`False`/`None`.
fn literal_eval(text: &str) -> Option<Value> {
    let t = text.trim_matches(|c| c == ' ' || c == '\t');
    match t {
        "True" => return Some(Value::Bool(true)),
        "False" => return Some(Value::Bool(false)),
        "None" => return Some(Value::Null),
        _ => {}
    }
    if let Some(s) = python_string(t) {
        return Some(Value::String(s));
    }
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t.strip_prefix('+').map(str::trim_start).unwrap_or(t)),
    };
    let n = python_number(body)?;
    Some(match n {
        PyNum::Int(i) => Value::Number(Number::from(if negative { -i } else { i })),
        PyNum::Float(f) => Value::Number(Number::from_f64(if negative { -f } else { f })?),
    })
}

enum PyNum {
    Int(i64),
    Float(f64),
}

fn python_number(t: &str) -> Option<PyNum> {
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            let digits = digits.strip_prefix('_').unwrap_or(digits).replace('_', "");
            return i64::from_str_radix(&digits, radix).ok().map(PyNum::Int);
        }
    }
    let clean = t.replace('_', "");
    if clean.chars().all(|c| c.is_ascii_digit()) {
        // Python rejects leading zeros in non-zero decimal integers.
        if clean.len() > 1 && clean.starts_with('0') && clean.chars().any(|c| c != '0') {
            return None;
        }
        return clean.parse::<i64>().ok().map(PyNum::Int);
    }
    if !clean.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) {
        return None;
    }
    if !clean.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    clean.parse::<f64>().ok().filter(|f| f.is_finite()).map(PyNum::Float)
}

/// A Python string literal in single or double quotes (no prefixes, no triple quotes).
fn python_string(t: &str) -> Option<String> {
    let q = t.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    if t.len() < 2 || !t.ends_with(q) {
        return None;
    }
    let body = &t[1..t.len() - 1];
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            c if c == q || c == '\n' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// pydantic's lax validation of a candidate against the field type.
fn validate(candidate: &Value, ty: &FieldType) -> Result<Value, String> {
    let bad = |what: &str| format!("expected {what}, got {}", short(candidate));
    match ty {
        FieldType::Str => match candidate {
            Value::String(s) => Ok(Value::String(s.clone())),
            _ => Err(bad("a string")),
        },
        FieldType::Int => lax_int(candidate).map(|i| Value::Number(Number::from(i))).ok_or_else(|| bad("an int")),
        FieldType::Float => {
            lax_float(candidate).and_then(Number::from_f64).map(Value::Number).ok_or_else(|| bad("a float"))
        }
        FieldType::Bool => lax_bool(candidate).map(Value::Bool).ok_or_else(|| bad("a bool")),
        FieldType::ListStr => match candidate {
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(candidate.clone()),
            _ => Err(bad("a list of strings")),
        },
        FieldType::Json => match candidate {
            Value::Object(_) => Ok(candidate.clone()),
            _ => Err(bad("a dict")),
        },
        FieldType::Enum(labels) => match candidate {
            Value::String(s) if labels.contains(s) => Ok(candidate.clone()),
            _ => Err(bad(&format!("one of {}", labels.join(", ")))),
        },
    }
}

fn lax_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64))
        }
        Value::String(s) => {
            let t = s.trim();
            let (sign, digits) = match t.strip_prefix('-') {
                Some(d) => (-1, d),
                None => (1, t.strip_prefix('+').unwrap_or(t)),
            };
            let (int_part, frac) = digits.split_once('.').unwrap_or((digits, ""));
            if !frac.chars().all(|c| c == '0')
                || int_part.is_empty()
                || int_part.starts_with('_')
                || int_part.ends_with('_')
            {
                return None;
            }
            let clean = int_part.replace('_', "");
            if !clean.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            clean.parse::<i64>().ok().map(|i| sign * i)
        }
        _ => None,
    }
}

fn lax_float(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
                return None;
            }
            let clean = t.replace('_', "");
            let body = clean.trim_start_matches(['+', '-']);
            if !body.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                return None; // inf/nan are not finite JSON numbers either way
            }
            clean.parse::<f64>().ok()
        }
        _ => None,
    }
}

fn lax_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Python's `str()` of a JSON value: strings verbatim, containers as Python `repr`.
fn py_repr_str(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Object(_) => py_repr(value),
        other => py_str(other),
    }
}

fn py_repr(value: &Value) -> String {
    match value {
        Value::String(s) => python_quote(s),
        Value::Array(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!("{{{}}}", map_items(map)),
        other => py_str(other),
    }
}

fn map_items(map: &Map<String, Value>) -> String {
    map.iter().map(|(k, v)| format!("{}: {}", python_quote(k), py_repr(v))).collect::<Vec<_>>().join(", ")
}

/// Python's `repr()` of a string (single quotes unless the text holds one and no double).
pub(crate) fn python_quote(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::new();
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(text: &str) -> Result<Value, String> {
        parse_text(text, &FieldType::Float)
    }

    #[test]
    fn numbers_only_when_the_whole_text_is_one() {
        assert_eq!(f("32.0"), Ok(json!(32.0)));
        assert_eq!(f("42."), Ok(json!(42.0)));
        assert_eq!(f("'42'"), Ok(json!(42.0)));
        assert_eq!(f("1_000"), Ok(json!(1000.0)));
        assert_eq!(f("0x10"), Ok(json!(16.0)));
        for prose in ["$112.00", "240 dozens of eggs", "1,234", "1. 4.0", "3.5 * 8 = 28 miles", "two", ""] {
            assert!(f(prose).is_err(), "{prose}");
        }
        let int = |t: &str| parse_text(t, &FieldType::Int);
        assert_eq!(int("1200.00000000000002"), Ok(json!(1200)));
        assert_eq!(int("42.0"), Ok(json!(42)));
        assert!(int("-1.25").is_err());
        assert!(int("1e3x").is_err());
    }

    #[test]
    fn bools_labels_lists_like_pydantic() {
        let b = |t: &str| parse_text(t, &FieldType::Bool);
        assert_eq!(b("yes"), Ok(json!(true)));
        assert_eq!(b("True"), Ok(json!(true)));
        assert!(b("2").is_err());
        let labels = FieldType::Enum(vec!["positive".into(), "negative".into()]);
        assert_eq!(parse_text("'negative'", &labels), Ok(json!("negative")));
        assert_eq!(parse_text("Literal['negative']", &labels), Ok(json!("negative")));
        assert!(parse_text("Negative", &labels).is_err());
        let l = |t: &str| parse_text(t, &FieldType::ListStr);
        assert_eq!(l("['a', 'b']"), Ok(json!(["a", "b"])));
        assert!(l("[1]").is_err());
        assert!(l("a, b").is_err());
    }

    #[test]
    fn json_values_keep_python_semantics() {
        assert_eq!(parse_json_value(&json!(5), &FieldType::Str), Ok(json!("5")));
        assert_eq!(parse_json_value(&json!(["a"]), &FieldType::Str), Ok(json!("['a']")));
        assert_eq!(parse_json_value(&json!("7"), &FieldType::Float), Ok(json!(7.0)));
        assert_eq!(parse_json_value(&json!(2.0), &FieldType::Int), Ok(json!(2)));
        assert!(parse_json_value(&json!(0.5), &FieldType::Int).is_err());
    }
}
