//! Turning completion text into typed values: numbers inside prose, booleans, enum
//! labels (case-insensitive), lists, and JSON with light repair.

use crate::numeric::last_number;
use crate::signature::FieldType;
use serde_json::{Map, Number, Value};

/// Converts `text` to a value of type `ty`, or says what was expected.
pub fn coerce(text: &str, ty: &FieldType) -> Result<Value, String> {
    let t = strip_wrappers(text);
    match ty {
        FieldType::Str => Ok(Value::String(text.trim().to_string())),
        FieldType::Int => {
            let n = extract_number(t).ok_or_else(|| format!("expected an integer, got {}", excerpt(text)))?;
            if (n - n.round()).abs() > 1e-9 {
                return Err(format!("expected an integer, got {n}"));
            }
            if n.abs() >= 9.0e15 {
                return Err(format!("integer out of range: {}", excerpt(text)));
            }
            Ok(Value::Number(Number::from(n.round() as i64)))
        }
        FieldType::Float => {
            let n = extract_number(t).ok_or_else(|| format!("expected a number, got {}", excerpt(text)))?;
            Number::from_f64(n).map(Value::Number).ok_or_else(|| format!("not a finite number: {n}"))
        }
        FieldType::Bool => {
            parse_bool(t).map(Value::Bool).ok_or_else(|| format!("expected true or false, got {}", excerpt(text)))
        }
        FieldType::Enum(labels) => match_label(t, labels)
            .map(Value::String)
            .ok_or_else(|| format!("expected one of {}, got {}", labels.join(", "), excerpt(text))),
        FieldType::ListStr => Ok(Value::Array(parse_list(t).into_iter().map(Value::String).collect())),
        FieldType::Json => match parse_json_repair(t) {
            Some(Value::Object(m)) => Ok(Value::Object(m)),
            Some(other) => Err(format!("expected a JSON object, got {}", excerpt(&other.to_string()))),
            None => Err(format!("expected a JSON object, got {}", excerpt(text))),
        },
    }
}

/// Checks a value already typed (from JSON output) against `ty`, converting where lossless.
pub fn coerce_value(value: &Value, ty: &FieldType) -> Result<Value, String> {
    match (value, ty) {
        (Value::String(s), FieldType::Str) => Ok(Value::String(s.trim().to_string())),
        (Value::String(s), _) => coerce(s, ty),
        (Value::Number(_), FieldType::Str) | (Value::Bool(_), FieldType::Str) => Ok(Value::String(value.to_string())),
        (Value::Number(n), FieldType::Int) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Value::Number(i.into())),
            (None, Some(f)) if (f - f.round()).abs() < 1e-9 => Ok(Value::Number((f.round() as i64).into())),
            _ => Err(format!("expected an integer, got {n}")),
        },
        (Value::Number(n), FieldType::Float) => {
            Number::from_f64(n.as_f64().unwrap_or(f64::NAN)).map(Value::Number).ok_or_else(|| format!("bad number {n}"))
        }
        (Value::Bool(b), FieldType::Bool) => Ok(Value::Bool(*b)),
        (Value::Array(items), FieldType::ListStr) => {
            Ok(Value::Array(items.iter().map(|v| Value::String(crate::example::value_to_text(v))).collect()))
        }
        (Value::Object(_), FieldType::Json) => Ok(value.clone()),
        (Value::Array(_), FieldType::Str) | (Value::Object(_), FieldType::Str) => Ok(Value::String(value.to_string())),
        (other, ty) => Err(format!("expected {}, got {}", ty.type_name(), excerpt(&other.to_string()))),
    }
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "an empty value".into();
    }
    let short: String = t.chars().take(80).collect();
    if short.len() < t.len() {
        format!("\"{short}...\"")
    } else {
        format!("\"{short}\"")
    }
}

/// Trims whitespace, markdown emphasis, surrounding quotes and a trailing period.
fn strip_wrappers(text: &str) -> &str {
    let mut t = text.trim();
    loop {
        let before = t;
        for (open, close) in [("**", "**"), ("`", "`"), ("\"", "\""), ("'", "'"), ("*", "*"), ("$$", "$$")] {
            if t.len() >= open.len() + close.len() && t.starts_with(open) && t.ends_with(close) {
                t = t[open.len()..t.len() - close.len()].trim();
            }
        }
        if t == before {
            return t;
        }
    }
}

/// Finds the number a text states: the whole text when it is a number (with `$`, `,`,
/// `%` and units tolerated), else the last number in it. Fractions `a/b` are divided.
pub fn extract_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if let Some(n) = parse_plain_number(t) {
        return Some(n);
    }
    let boxed = t.rfind("\\boxed{").map(|i| &t[i + 7..]).and_then(|rest| rest.find('}').map(|j| &rest[..j]));
    if let Some(n) = boxed.and_then(last_number) {
        return Some(n);
    }
    last_number(t)
}

fn parse_plain_number(t: &str) -> Option<f64> {
    let cleaned: String = t
        .trim_end_matches('.')
        .trim_start_matches('$')
        .trim_end_matches('%')
        .chars()
        .filter(|c| *c != ',' && *c != '$' && *c != ' ')
        .collect();
    if cleaned.is_empty() {
        return None;
    }
    if let Some((a, b)) = cleaned.split_once('/') {
        let (a, b) = (a.parse::<f64>().ok()?, b.parse::<f64>().ok()?);
        return if b != 0.0 { Some(a / b) } else { None };
    }
    if cleaned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')) {
        cleaned.parse::<f64>().ok().filter(|f| f.is_finite())
    } else {
        None
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    let w = t.trim_end_matches('.').trim().to_ascii_lowercase();
    match w.as_str() {
        "true" | "yes" | "y" | "1" | "correct" => Some(true),
        "false" | "no" | "n" | "0" | "incorrect" => Some(false),
        _ => {
            let first = w.split(|c: char| !c.is_ascii_alphanumeric()).find(|s| !s.is_empty())?;
            match first {
                "true" | "yes" => Some(true),
                "false" | "no" => Some(false),
                _ => None,
            }
        }
    }
}

/// Matches an enum label case-insensitively; falls back to the one label that occurs
/// as a whole word in the text when exactly one does.
pub fn match_label(text: &str, labels: &[String]) -> Option<String> {
    let t = text.trim().trim_end_matches('.').trim();
    if let Some(l) = labels.iter().find(|l| l.as_str() == t) {
        return Some(l.clone());
    }
    if let Some(l) = labels.iter().find(|l| l.eq_ignore_ascii_case(t)) {
        return Some(l.clone());
    }
    let norm = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
    let nt = norm(t);
    if let Some(l) = labels.iter().find(|l| norm(l) == nt && !nt.is_empty()) {
        return Some(l.clone());
    }
    let lower = t.to_lowercase();
    let found: Vec<&String> = labels.iter().filter(|l| contains_word(&lower, &l.to_lowercase())).collect();
    // Prefer the longest label when one contains another ("very positive" vs "positive").
    let found: Vec<&String> = found
        .iter()
        .filter(|l| !found.iter().any(|o| o.len() > l.len() && o.to_lowercase().contains(&l.to_lowercase())))
        .copied()
        .collect();
    if found.len() == 1 {
        return Some(found[0].clone());
    }
    None
}

fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let mut start = 0;
    while let Some(pos) = hay[start..].find(needle) {
        let a = start + pos;
        let b = a + needle.len();
        let before_ok = hay[..a].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after_ok = hay[b..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            return true;
        }
        start = a + needle.len().max(1);
        if start >= hay.len() {
            break;
        }
    }
    false
}

/// A list from a JSON array, a Python-style list, bullet/numbered lines, or commas.
pub fn parse_list(text: &str) -> Vec<String> {
    let t = text.trim();
    if t.is_empty() {
        return Vec::new();
    }
    if t.starts_with('[') && t.ends_with(']') {
        if let Some(Value::Array(items)) = parse_json_repair(t) {
            return items.iter().map(crate::example::value_to_text).collect();
        }
    }
    let lines: Vec<&str> = t.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.len() > 1 {
        return lines.iter().map(|l| strip_bullet(l).to_string()).collect();
    }
    let single = strip_bullet(lines[0]);
    single.split(',').map(|s| strip_wrappers(s).to_string()).filter(|s| !s.is_empty()).collect()
}

fn strip_bullet(line: &str) -> &str {
    let l = line.trim();
    for p in ["- ", "* ", "• "] {
        if let Some(rest) = l.strip_prefix(p) {
            return rest.trim();
        }
    }
    let digits = l.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        let rest = &l[digits..];
        for p in [". ", ") ", "] "] {
            if let Some(r) = rest.strip_prefix(p) {
                return r.trim();
            }
        }
    }
    if l.starts_with('[') {
        if let Some(end) = l.find("] ") {
            if l[1..end].chars().all(|c| c.is_ascii_digit()) {
                return l[end + 2..].trim();
            }
        }
    }
    l
}

/// Parses JSON, repairing common model slips: code fences, prose around the object,
/// trailing commas, single quotes, Python literals (`True`, `False`, `None`).
pub fn parse_json_repair(text: &str) -> Option<Value> {
    let t = strip_fences(text.trim());
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Some(v);
    }
    let span = balanced_span(t).unwrap_or(t);
    if let Ok(v) = serde_json::from_str::<Value>(span) {
        return Some(v);
    }
    let repaired = repair(span);
    serde_json::from_str::<Value>(&repaired).ok()
}

fn strip_fences(t: &str) -> &str {
    if let Some(rest) = t.strip_prefix("```") {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
        let rest = rest.strip_suffix("```").unwrap_or(rest);
        return rest.trim();
    }
    t
}

/// The first balanced `{...}` or `[...]` in the text, respecting strings.
fn balanced_span(t: &str) -> Option<&str> {
    let start = t.find(['{', '['])?;
    let bytes = t.as_bytes();
    let mut depth = 0i32;
    let mut in_str: Option<u8> = None;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if let Some(q) = in_str {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == q {
                in_str = None;
            }
            continue;
        }
        match b {
            b'"' | b'\'' => in_str = Some(b),
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&t[start..=i]);
                }
            }
            _ => {}
        }
    }
    Some(&t[start..])
}

fn repair(t: &str) -> String {
    let mut out = String::with_capacity(t.len() + 8);
    let chars: Vec<char> = t.chars().collect();
    let mut i = 0;
    let mut stack: Vec<char> = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        // A value that follows another with no comma between (`"a": "x"\n "b": 1`).
        let after_value = out.trim_end().ends_with(|p: char| p == '"' || p == '}' || p == ']' || p.is_ascii_digit());
        if after_value && matches!(c, '"' | '\'') && !stack.is_empty() {
            out.push(',');
        }
        match c {
            '-' | '0'..='9' if out.trim_end().ends_with([':', '[', ',']) => {
                // A number in value position; anything after it up to the next separator is
                // dropped (`"answer": 3.5 * 8` -> 3.5).
                while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    out.push(chars[i]);
                    i += 1;
                }
                while i < chars.len() && !matches!(chars[i], ',' | '}' | ']' | '\n') {
                    i += 1;
                }
                continue;
            }
            '"' => {
                out.push('"');
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    let d = chars[i];
                    i += 1;
                    match d {
                        '\\' if i < chars.len() => {
                            out.push(d);
                            out.push(chars[i]);
                            i += 1;
                        }
                        '"' => {
                            out.push(d);
                            closed = true;
                            break;
                        }
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        d if d.is_control() => out.push_str(&format!("\\u{:04x}", d as u32)),
                        d => out.push(d),
                    }
                }
                if !closed {
                    out.push('"');
                }
                continue;
            }
            '\'' => {
                out.push('"');
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    match chars[i] {
                        '"' => out.push_str("\\\""),
                        '\\' if i + 1 < chars.len() => {
                            out.push('\\');
                            out.push(chars[i + 1]);
                            i += 1;
                        }
                        d => out.push(d),
                    }
                    i += 1;
                }
                out.push('"');
                i += 1;
                continue;
            }
            ',' => {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if matches!(next, Some('}') | Some(']') | None) {
                    i += 1;
                    continue;
                }
                out.push(',');
            }
            '{' | '[' => {
                stack.push(if c == '{' { '}' } else { ']' });
                out.push(c);
            }
            '}' | ']' => {
                stack.pop();
                out.push(c);
            }
            _ if c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push_str(match word.as_str() {
                    "True" => "true",
                    "False" => "false",
                    "None" => "null",
                    w => w,
                });
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    while let Some(close) = stack.pop() {
        out.push(close);
    }
    out
}

/// Parses a JSON object from text (repairing), for adapters that ask for JSON.
pub fn parse_json_object(text: &str) -> Option<Map<String, Value>> {
    match parse_json_repair(text)? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(ls: &[&str]) -> Vec<String> {
        ls.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn numbers_in_text() {
        assert_eq!(coerce("$1,234.50", &FieldType::Float).unwrap(), json!(1234.5));
        assert_eq!(coerce("1,234", &FieldType::Int).unwrap(), json!(1234));
        assert_eq!(coerce("18.", &FieldType::Int).unwrap(), json!(18));
        assert_eq!(coerce("18.00", &FieldType::Int).unwrap(), json!(18));
        assert_eq!(coerce("The answer is 42 apples.", &FieldType::Int).unwrap(), json!(42));
        assert_eq!(coerce("16 - 3 - 4 = 9", &FieldType::Int).unwrap(), json!(9));
        assert_eq!(coerce("-7", &FieldType::Int).unwrap(), json!(-7));
        assert_eq!(coerce("**5**", &FieldType::Int).unwrap(), json!(5));
        assert_eq!(coerce("3/4", &FieldType::Float).unwrap(), json!(0.75));
        assert_eq!(coerce("50%", &FieldType::Float).unwrap(), json!(50.0));
        assert_eq!(coerce("\\boxed{12} and then 7", &FieldType::Int).unwrap(), json!(12));
        assert!(coerce("2.5", &FieldType::Int).unwrap_err().contains("expected an integer"));
        assert!(coerce("no digits", &FieldType::Float).unwrap_err().contains("expected a number"));
        assert!(coerce("", &FieldType::Int).unwrap_err().contains("empty"));
        assert_eq!(coerce("x-3 and -4, 1.5.", &FieldType::Float).unwrap(), json!(1.5));
        assert_eq!(coerce("1,234,567 people", &FieldType::Int).unwrap(), json!(1234567));
    }

    #[test]
    fn booleans() {
        for t in ["True", "true", "yes", "Yes.", "TRUE"] {
            assert_eq!(coerce(t, &FieldType::Bool).unwrap(), json!(true), "{t}");
        }
        for t in ["False", "no", "No, it is not"] {
            assert_eq!(coerce(t, &FieldType::Bool).unwrap(), json!(false), "{t}");
        }
        assert!(coerce("maybe", &FieldType::Bool).is_err());
    }

    #[test]
    fn enums() {
        let ty = FieldType::Enum(labels(&["positive", "negative", "neutral"]));
        assert_eq!(coerce("Positive", &ty).unwrap(), json!("positive"));
        assert_eq!(coerce("'negative'", &ty).unwrap(), json!("negative"));
        assert_eq!(coerce("The sentiment is neutral.", &ty).unwrap(), json!("neutral"));
        let e = coerce("positive or negative", &ty).unwrap_err();
        assert!(e.contains("expected one of positive, negative, neutral"), "{e}");
        let ty = FieldType::Enum(labels(&["positive", "very positive"]));
        assert_eq!(coerce("very positive", &ty).unwrap(), json!("very positive"));
        assert_eq!(coerce("it is very positive", &ty).unwrap(), json!("very positive"));
        let ty = FieldType::Enum(labels(&["card_arrival", "card_linking"]));
        assert_eq!(coerce("Card Arrival", &ty).unwrap(), json!("card_arrival"));
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list(r#"["a", "b"]"#), vec!["a", "b"]);
        assert_eq!(parse_list("['a', 'b']"), vec!["a", "b"]);
        assert_eq!(parse_list("- a\n- b\n"), vec!["a", "b"]);
        assert_eq!(parse_list("1. a\n2. b"), vec!["a", "b"]);
        assert_eq!(parse_list("[1] a\n[2] b"), vec!["a", "b"]);
        assert_eq!(parse_list("a, b, c"), vec!["a", "b", "c"]);
        assert_eq!(parse_list(""), Vec::<String>::new());
        assert_eq!(coerce("[1, 2]", &FieldType::ListStr).unwrap(), json!(["1", "2"]));
    }

    #[test]
    fn json_repair() {
        assert_eq!(parse_json_repair("```json\n{\"a\": 1}\n```"), Some(json!({"a": 1})));
        assert_eq!(parse_json_repair("Sure! {\"a\": [1, 2,],} hope it helps"), Some(json!({"a": [1, 2]})));
        assert_eq!(parse_json_repair("{'a': True, 'b': None}"), Some(json!({"a": true, "b": null})));
        assert_eq!(parse_json_repair("{\"a\": {\"b\": 1"), Some(json!({"a": {"b": 1}})));
        assert_eq!(parse_json_repair("{\"it's\": \"don't\"}"), Some(json!({"it's": "don't"})));
        assert!(parse_json_repair("not json at all").is_none());
        assert!(coerce("[1]", &FieldType::Json).unwrap_err().contains("expected a JSON object"));
    }

    #[test]
    fn typed_json_values() {
        assert_eq!(coerce_value(&json!(3.0), &FieldType::Int).unwrap(), json!(3));
        assert_eq!(coerce_value(&json!("4"), &FieldType::Int).unwrap(), json!(4));
        assert_eq!(coerce_value(&json!(4), &FieldType::Str).unwrap(), json!("4"));
        assert!(coerce_value(&json!([1]), &FieldType::Bool).is_err());
    }
}
