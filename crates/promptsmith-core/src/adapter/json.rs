//! JSON layout: outputs as one JSON object, constrained by a schema in `response_format`.

use super::chat::format_value;
use super::coerce::{coerce_value, parse_json_object};
use super::{fields_from_object, Adapter, AdapterKind, Demo};
use crate::error::ParseError;
use crate::lm::{ChatMessage, ResponseFormat};
use crate::signature::{Field, FieldType, Signature};
use serde_json::{Map, Value};

/// Asks for a JSON object with the output fields; servers that support JSON-schema
/// `response_format` decode under a grammar, so the output always parses.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonAdapter;

fn describe(fields: &[Field]) -> String {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut s = format!("{}. `{}` ({})", i + 1, f.name, f.ty.type_name());
            if let Some(d) = &f.description {
                s.push_str(": ");
                s.push_str(d);
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn type_hint(ty: &FieldType) -> String {
    match ty {
        FieldType::Str => "string".into(),
        FieldType::Int => "integer".into(),
        FieldType::Float => "number".into(),
        FieldType::Bool => "true or false".into(),
        FieldType::ListStr => "array of strings".into(),
        FieldType::Enum(labels) => format!("one of: {}", labels.join("; ")),
        FieldType::Json => "JSON object".into(),
    }
}

fn inputs_block(signature: &Signature, values: &Map<String, Value>) -> String {
    signature
        .inputs
        .iter()
        .filter_map(|f| values.get(&f.name).map(|v| format!("[[ ## {} ## ]]\n{}", f.name, format_value(&f.ty, v))))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn outputs_object(signature: &Signature, values: &Map<String, Value>) -> String {
    let mut obj = Map::new();
    for f in &signature.outputs {
        if let Some(v) = values.get(&f.name) {
            obj.insert(f.name.clone(), v.clone());
        }
    }
    serde_json::to_string_pretty(&Value::Object(obj)).unwrap_or_default()
}

impl Adapter for JsonAdapter {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Json
    }

    fn format(&self, signature: &Signature, demos: &[Demo], inputs: &Map<String, Value>) -> Vec<ChatMessage> {
        let keys =
            signature.outputs.iter().map(|f| format!("\"{}\": <{}>", f.name, type_hint(&f.ty))).collect::<Vec<_>>();
        let system = format!(
            "Your input fields are:\n{}\nYour output fields are:\n{}\n\nInputs are given as:\n\n{}\n\nRespond with only a JSON object of this form:\n{{{}}}\n\nYour objective: {}",
            describe(&signature.inputs),
            describe(&signature.outputs),
            signature.inputs.iter().map(|f| format!("[[ ## {} ## ]]\n{{{}}}", f.name, f.name)).collect::<Vec<_>>().join("\n\n"),
            keys.join(", "),
            signature.instruction()
        );
        let mut messages = vec![ChatMessage::system(system)];
        for demo in demos {
            let has_outputs = signature.outputs.iter().any(|f| demo.contains_key(&f.name));
            if !has_outputs {
                continue;
            }
            messages.push(ChatMessage::user(inputs_block(signature, demo)));
            messages.push(ChatMessage::assistant(outputs_object(signature, demo)));
        }
        let order = signature.outputs.iter().map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ");
        messages.push(ChatMessage::user(format!(
            "{}\n\nRespond with a JSON object with the fields {order}.",
            inputs_block(signature, inputs)
        )));
        messages
    }

    fn parse(&self, signature: &Signature, completion: &str) -> Result<Map<String, Value>, ParseError> {
        let obj = parse_json_object(completion)
            .ok_or_else(|| ParseError::whole("expected a JSON object with the output fields", completion))?;
        fields_from_object(signature, &obj, completion, coerce_value)
    }

    fn response_format(&self, signature: &Signature) -> Option<ResponseFormat> {
        Some(ResponseFormat::JsonSchema { name: "outputs".into(), schema: signature.output_schema() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_typed_json() {
        let sig = Signature::parse("q -> answer: int, ok: bool, tags: list[str]").unwrap();
        let out =
            JsonAdapter.parse(&sig, "```json\n{\"answer\": \"12\", \"ok\": true, \"tags\": [\"a\"]}\n```").unwrap();
        assert_eq!(Value::Object(out), json!({"answer": 12, "ok": true, "tags": ["a"]}));
        let e = JsonAdapter.parse(&sig, "{\"answer\": 1}").unwrap_err();
        assert!(e.message.contains("'ok', 'tags'"), "{e}");
        assert!(JsonAdapter.parse(&sig, "no json").is_err());
    }

    #[test]
    fn demos_as_json_turns() {
        let sig = Signature::parse("q -> answer: int").unwrap();
        let demo: Demo = json!({"q": "1+1", "answer": 2}).as_object().cloned().unwrap();
        let inputs = json!({"q": "2+2"}).as_object().cloned().unwrap();
        let m = JsonAdapter.format(&sig, &[demo], &inputs);
        assert_eq!(m.len(), 4);
        assert_eq!(m[2].content, "{\n  \"answer\": 2\n}");
        assert!(JsonAdapter.response_format(&sig).is_some());
    }
}
