//! Value rendering that matches Python's `str()` and `json.dumps(..., ensure_ascii=False)`,
//! so prompts are byte-identical to DSPy's.

use serde_json::Value;

/// `json.dumps(value, ensure_ascii=False)` with Python's default separators (`", "`, `": "`).
pub fn json_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&python_number(n)),
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

/// `json.dumps(value, indent=2, ensure_ascii=False)`: one item per line, `", "` becoming `","`.
pub fn json_dumps_indented(value: &Value) -> String {
    let mut out = String::new();
    write_json_indented(value, 0, &mut out);
    out
}

fn write_json_indented(value: &Value, depth: usize, out: &mut String) {
    let pad = |d: usize| "  ".repeat(d);
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&pad(depth + 1));
                write_json_indented(item, depth + 1, out);
            }
            out.push('\n');
            out.push_str(&pad(depth));
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&pad(depth + 1));
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_json_indented(v, depth + 1, out);
            }
            out.push('\n');
            out.push_str(&pad(depth));
            out.push('}');
        }
        other => write_json(other, out),
    }
}

/// Python's `repr` of a number: floats always carry a fraction or exponent.
fn python_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or(0.0);
        if f.is_finite() && f == f.trunc() && f.abs() < 1e16 {
            format!("{f:.1}")
        } else {
            let s = format!("{f}");
            if s.contains('e') || s.contains('.') {
                s
            } else {
                format!("{s}.0")
            }
        }
    } else {
        n.to_string()
    }
}

/// Python's `str()` of a JSON-like value: strings verbatim, `True`/`False`/`None`,
/// numbers as Python prints them, and lists/objects as `json.dumps`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => python_number(n),
        other => json_dumps(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dumps_like_python() {
        assert_eq!(json_dumps(&json!(["a", "b"])), r#"["a", "b"]"#);
        assert_eq!(json_dumps(&json!({"k": [1, 2.5, true, null]})), r#"{"k": [1, 2.5, true, null]}"#);
        assert_eq!(json_dumps(&json!("é\n")), "\"é\\n\"");
        assert_eq!(py_str(&json!(3.0)), "3.0");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(42)), "42");
        assert_eq!(
            json_dumps_indented(&json!({"a": [1, "x"], "b": {}})),
            "{\n  \"a\": [\n    1,\n    \"x\"\n  ],\n  \"b\": {}\n}"
        );
    }
}
