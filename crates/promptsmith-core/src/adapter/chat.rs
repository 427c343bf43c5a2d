//! DSPy's ChatAdapter layout, byte-compatible with DSPy 3.4.1.

use super::coerce::coerce;
use super::pyfmt::{json_dumps, py_str};
use super::pyvalue::python_quote;
use super::{require_all_outputs, Adapter, AdapterKind, Demo};
use crate::error::ParseError;
use crate::lm::ChatMessage;
use crate::signature::{Field, FieldType, Signature};
use serde_json::{Map, Value};

/// The `[[ ## field ## ]]` layout ending with `[[ ## completed ## ]]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatAdapter;

/// The marker that ends every assistant turn; requests stop there.
pub(crate) const COMPLETED_MARKER: &str = "[[ ## completed ## ]]";

impl ChatAdapter {
    fn field_descriptions(fields: &[Field]) -> String {
        fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                // DSPy's default description is `${name}`, which it shows as empty.
                let placeholder = format!("${{{}}}", f.name);
                let desc = f.description.as_deref().filter(|d| *d != placeholder).unwrap_or("");
                format!("{}. `{}` ({}): {}", i + 1, f.name, annotation_name(&f.ty), desc)
            })
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    }

    fn structure(signature: &Signature) -> String {
        let block = |fields: &[Field], input: bool| {
            fields
                .iter()
                .map(|f| format!("[[ ## {} ## ]]\n{{{}}}{}", f.name, f.name, type_note(&f.ty, input)))
                .collect::<Vec<_>>()
                .join("\n\n")
                .trim()
                .to_string()
        };
        let parts = [
            "All interactions will be structured in the following way, with the appropriate values filled in."
                .to_string(),
            block(&signature.inputs, true),
            block(&signature.outputs, false),
            format!("{COMPLETED_MARKER}\n"),
        ];
        parts.join("\n\n").trim().to_string()
    }

    /// DSPy's system message: field descriptions, the layout's `structure`, the objective.
    pub(crate) fn system_message(signature: &Signature, structure: &str) -> String {
        format!(
            "Your input fields are:\n{}\nYour output fields are:\n{}\n{}\n{}",
            Self::field_descriptions(&signature.inputs),
            Self::field_descriptions(&signature.outputs),
            structure,
            Self::task_description(signature)
        )
    }

    fn task_description(signature: &Signature) -> String {
        let instruction = dedent(&signature.instruction());
        let mut objective = String::new();
        for line in instruction.lines() {
            objective.push('\n');
            objective.push_str("        ");
            objective.push_str(line);
        }
        format!("In adhering to this structure, your objective is: {objective}")
    }

    fn user_message(
        signature: &Signature,
        values: &Map<String, Value>,
        prefix: &str,
        requirements: Option<&str>,
    ) -> String {
        let mut parts = vec![prefix.to_string()];
        for f in &signature.inputs {
            if let Some(v) = values.get(&f.name) {
                parts.push(format!("[[ ## {} ## ]]\n{}", f.name, format_value(&f.ty, v)));
            }
        }
        if let Some(requirements) = requirements {
            parts.push(requirements.to_string());
        }
        parts.push(String::new());
        parts.join("\n\n").trim().to_string()
    }

    /// System message, demos (incomplete ones first, as DSPy orders them) and the request,
    /// with `assistant` rendering each demo's outputs.
    pub(crate) fn conversation(
        signature: &Signature,
        demos: &[Demo],
        inputs: &Map<String, Value>,
        system: String,
        requirements: &str,
        assistant: fn(&Signature, &Map<String, Value>, &str) -> String,
    ) -> Vec<ChatMessage> {
        let mut messages = vec![ChatMessage::system(system)];
        let present = |d: &Demo, f: &Field| d.get(&f.name).is_some_and(|v| !v.is_null());
        let all_fields = || signature.inputs.iter().chain(signature.outputs.iter());
        let complete: Vec<&Demo> = demos.iter().filter(|d| all_fields().all(|f| present(d, f))).collect();
        let incomplete: Vec<&Demo> = demos
            .iter()
            .filter(|d| !all_fields().all(|f| present(d, f)))
            .filter(|d| {
                signature.inputs.iter().any(|f| d.contains_key(&f.name))
                    && signature.outputs.iter().any(|f| d.contains_key(&f.name))
            })
            .collect();
        for demo in incomplete {
            messages.push(ChatMessage::user(Self::user_message(
                signature,
                demo,
                "This is an example of the task, though some input or output fields are not supplied.",
                None,
            )));
            messages.push(ChatMessage::assistant(assistant(
                signature,
                demo,
                "Not supplied for this particular example. ",
            )));
        }
        for demo in complete {
            messages.push(ChatMessage::user(Self::user_message(signature, demo, "", None)));
            messages.push(ChatMessage::assistant(assistant(
                signature,
                demo,
                "Not supplied for this conversation history message. ",
            )));
        }
        messages.push(ChatMessage::user(Self::user_message(signature, inputs, "", Some(requirements))));
        messages
    }

    fn assistant_message(signature: &Signature, values: &Map<String, Value>, missing: &str) -> String {
        let body = signature
            .outputs
            .iter()
            .map(|f| {
                let text = match values.get(&f.name) {
                    Some(v) => format_value(&f.ty, v),
                    None => missing.to_string(),
                };
                format!("[[ ## {} ## ]]\n{}", f.name, text)
            })
            .collect::<Vec<_>>()
            .join("\n\n")
            .trim()
            .to_string();
        format!("{body}\n\n{COMPLETED_MARKER}\n")
    }
}

/// Python-style annotation name DSPy prints for a field type.
pub(crate) fn annotation_name(ty: &FieldType) -> String {
    match ty {
        FieldType::Str => "str".into(),
        FieldType::Int => "int".into(),
        FieldType::Float => "float".into(),
        FieldType::Bool => "bool".into(),
        FieldType::ListStr => "list[str]".into(),
        FieldType::Json => "dict[str, Any]".into(),
        FieldType::Enum(labels) => {
            format!("Literal[{}]", labels.iter().map(|l| python_quote(l)).collect::<Vec<_>>().join(", "))
        }
    }
}

/// The `# note: ...` DSPy appends to output fields in the structure block.
pub(crate) fn type_note(ty: &FieldType, input: bool) -> String {
    if input {
        return String::new();
    }
    let desc = match ty {
        FieldType::Str => return String::new(),
        FieldType::Bool => "must be True or False".to_string(),
        FieldType::Int => "must be a single int value".to_string(),
        FieldType::Float => "must be a single float value".to_string(),
        FieldType::Enum(labels) => format!("must exactly match (no extra characters) one of: {}", labels.join("; ")),
        FieldType::ListStr => {
            r#"must adhere to the JSON schema: {"type": "array", "items": {"type": "string"}}"#.to_string()
        }
        FieldType::Json => {
            r#"must adhere to the JSON schema: {"type": "object", "additionalProperties": true}"#.to_string()
        }
    };
    format!("        # note: the value you produce {desc}")
}

fn output_requirements(signature: &Signature) -> String {
    let fields = signature
        .outputs
        .iter()
        .map(|f| {
            let info = match f.ty {
                FieldType::Str => String::new(),
                ref t => format!(" (must be formatted as a valid Python {})", annotation_name(t)),
            };
            format!("`[[ ## {} ## ]]`{}", f.name, info)
        })
        .collect::<Vec<_>>()
        .join(", then ");
    format!(
        "Respond with the corresponding output fields, starting with the field {fields}, and then ending with the marker for `{COMPLETED_MARKER}`."
    )
}

/// DSPy's `format_field_value`: lists in a `str` field become a numbered list of blobs;
/// lists and objects otherwise are JSON; scalars are Python's `str()`.
pub(crate) fn format_value(ty: &FieldType, value: &Value) -> String {
    match value {
        Value::Array(items) if *ty == FieldType::Str => format_input_list(items),
        Value::Array(_) | Value::Object(_) => json_dumps(value),
        other => py_str(other),
    }
}

fn format_input_list(items: &[Value]) -> String {
    match items.len() {
        0 => "N/A".into(),
        1 => format_blob(&py_str(&items[0])),
        _ => items
            .iter()
            .enumerate()
            .map(|(i, v)| format!("[{}] {}", i + 1, format_blob(&py_str(v))))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn format_blob(blob: &str) -> String {
    if !blob.contains('\n') && !blob.contains('«') && !blob.contains('»') {
        return format!("«{blob}»");
    }
    format!("«««\n    {}\n»»»", blob.replace('\n', "\n    "))
}

/// Python's `textwrap.dedent`: removes the common leading whitespace of non-blank lines.
fn dedent(text: &str) -> String {
    let indent =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    text.split('\n')
        .map(|l| if l.trim().is_empty() { "" } else { &l[indent.min(l.len())..] })
        .collect::<Vec<_>>()
        .join("\n")
}

fn header(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    let rest = t.strip_prefix("[[ ## ")?;
    let end = rest.find(" ## ]]")?;
    let name = &rest[..end];
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    Some((name, rest[end + 6..].trim()))
}

/// The output fields from `(header, lines)` sections: the first section of each output field,
/// its text read by `read`; then every output must be present.
pub(crate) fn fields_from_sections<S: AsRef<str>>(
    signature: &Signature,
    sections: Vec<(Option<&str>, Vec<S>)>,
    completion: &str,
    read: impl Fn(&str, &FieldType) -> Result<Value, String>,
) -> Result<Map<String, Value>, ParseError> {
    let mut fields = Map::new();
    for (name, lines) in sections {
        let Some(name) = name else { continue };
        if fields.contains_key(name) {
            continue;
        }
        if let Some(f) = signature.outputs.iter().find(|f| f.name == name) {
            let text = lines.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join("\n");
            let value = read(&text, &f.ty).map_err(|m| ParseError::field(name, m, completion))?;
            fields.insert(name.to_string(), value);
        }
    }
    require_all_outputs(signature, fields, completion)
}

impl Adapter for ChatAdapter {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Chat
    }

    fn format(&self, signature: &Signature, demos: &[Demo], inputs: &Map<String, Value>) -> Vec<ChatMessage> {
        let system = Self::system_message(signature, &Self::structure(signature));
        Self::conversation(signature, demos, inputs, system, &output_requirements(signature), Self::assistant_message)
    }

    fn parse(&self, signature: &Signature, completion: &str) -> Result<Map<String, Value>, ParseError> {
        let mut sections: Vec<(Option<&str>, Vec<&str>)> = vec![(None, Vec::new())];
        for line in completion.lines() {
            match header(line) {
                Some((name, rest)) => sections.push((Some(name), if rest.is_empty() { vec![] } else { vec![rest] })),
                None => {
                    if let Some(last) = sections.last_mut() {
                        last.1.push(line);
                    }
                }
            }
        }
        fields_from_sections(signature, sections, completion, |text, ty| coerce(text.trim(), ty))
    }

    fn stop(&self) -> Vec<String> {
        vec![COMPLETED_MARKER.to_string()]
    }

    fn fallback(&self) -> Option<&'static dyn Adapter> {
        Some(&super::JsonAdapter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_sections() {
        let sig = Signature::parse("question -> reasoning, answer: int").unwrap();
        let out = ChatAdapter
            .parse(&sig, "[[ ## reasoning ## ]]\nadd them\n\n[[ ## answer ## ]]\n$1,234\n\n[[ ## completed ## ]]")
            .unwrap();
        assert_eq!(out.get("answer"), Some(&json!(1234)));
        assert_eq!(out.get("reasoning"), Some(&json!("add them")));
        let err = ChatAdapter.parse(&sig, "[[ ## reasoning ## ]]\nhmm").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("answer"));
        assert!(err.raw.contains("hmm"));
    }

    #[test]
    fn python_quoting() {
        assert_eq!(python_quote("a"), "'a'");
        assert_eq!(python_quote("it's"), "\"it's\"");
        assert_eq!(dedent("  a\n    b\n"), "a\n  b\n");
    }
}
