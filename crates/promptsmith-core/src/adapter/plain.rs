//! Plain layout: the model reasons freely and ends with labelled lines (`Answer: 42`).
//! Small models follow this much better than marker-based layouts.

use super::coerce::{coerce, extract_number};
use super::pyfmt::py_str;
use super::{field_label, require_all_outputs, Adapter, AdapterKind, Demo};
use crate::error::ParseError;
use crate::lm::ChatMessage;
use crate::signature::{Field, FieldType, Signature};
use serde_json::{Map, Value};

/// Free-form reasoning ending with `Label: value` lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainAdapter;

/// Name of the free-text output that, when first, holds the model's reasoning.
const REASONING: &str = "reasoning";

fn labelled(signature: &Signature) -> impl Iterator<Item = &Field> {
    let skip = usize::from(signature.outputs.first().is_some_and(|f| f.name == REASONING && f.ty == FieldType::Str));
    signature.outputs.iter().skip(skip)
}

fn has_reasoning(signature: &Signature) -> bool {
    signature.outputs.len() > labelled(signature).count()
}

fn placeholder(f: &Field) -> String {
    match &f.ty {
        FieldType::Str => {
            f.description.clone().unwrap_or_else(|| format!("your {}", field_label(&f.name).to_lowercase()))
        }
        FieldType::Int => "a single integer".into(),
        FieldType::Float => "a single number".into(),
        FieldType::Bool => "true or false".into(),
        FieldType::ListStr => "a comma-separated list".into(),
        FieldType::Enum(labels) => format!("one of: {}", labels.join(", ")),
        FieldType::Json => "a JSON object on one line".into(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Array(items) => items.iter().map(py_str).collect::<Vec<_>>().join(", "),
        Value::Object(_) => v.to_string(),
        Value::Bool(b) => b.to_string(),
        other => py_str(other),
    }
}

fn user_text(signature: &Signature, values: &Map<String, Value>) -> String {
    signature
        .inputs
        .iter()
        .filter_map(|f| {
            values.get(&f.name).map(|v| {
                let text = match v {
                    Value::Array(items) => {
                        items.iter().map(|i| format!("- {}", py_str(i))).collect::<Vec<_>>().join("\n")
                    }
                    other => value_text(other),
                };
                let sep = if text.contains('\n') { "\n" } else { " " };
                format!("{}:{sep}{text}", field_label(&f.name))
            })
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A demo's non-empty reasoning text.
fn reasoning_of(demo: &Demo) -> Option<String> {
    demo.get(REASONING).map(py_str).map(|r| r.trim().to_string()).filter(|r| !r.is_empty())
}

fn assistant_text(signature: &Signature, values: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    if has_reasoning(signature) {
        parts.extend(reasoning_of(values));
    }
    let lines: Vec<String> = labelled(signature)
        .filter_map(|f| values.get(&f.name).map(|v| format!("{}: {}", field_label(&f.name), value_text(v))))
        .collect();
    parts.push(lines.join("\n"));
    parts.join("\n\n")
}

/// Finds `Label: value` on a line (tolerating markdown bold and leading bullets).
fn find_label(line: &str, label: &str) -> Option<String> {
    let t = line.trim().trim_start_matches(['#', '-', '*', '>', ' ']);
    let t = t.strip_prefix("Final ").or_else(|| t.strip_prefix("final ")).unwrap_or(t);
    if t.len() < label.len() || !t.is_char_boundary(label.len()) || !t[..label.len()].eq_ignore_ascii_case(label) {
        return None;
    }
    let rest = t[label.len()..].trim_start_matches('*').trim_start();
    let rest = rest.strip_prefix(':')?;
    Some(rest.trim_start_matches('*').trim().to_string())
}

impl Adapter for PlainAdapter {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Plain
    }

    fn fallback(&self) -> Option<&'static dyn Adapter> {
        Some(&super::JsonAdapter)
    }

    fn format(&self, signature: &Signature, demos: &[Demo], inputs: &Map<String, Value>) -> Vec<ChatMessage> {
        let lines: Vec<String> =
            labelled(signature).map(|f| format!("{}: <{}>", field_label(&f.name), placeholder(f))).collect();
        let ending = if lines.len() == 1 { "this line" } else { "these lines" };
        let think = if has_reasoning(signature) {
            "Think step by step. Then end your reply with "
        } else {
            "End your reply with "
        };
        let mut system = format!("{}\n\n{think}{ending}:\n{}", signature.instruction(), lines.join("\n"));
        let usable: Vec<&Demo> =
            demos.iter().filter(|d| labelled(signature).any(|f| d.contains_key(&f.name))).collect();
        // With reasoning asked for, a demo without it would show the model an answer with no
        // working: such demos go to the system message as reference answers, not as turns to imitate.
        let (turns, references): (Vec<&Demo>, Vec<&Demo>) =
            usable.into_iter().partition(|d| !has_reasoning(signature) || reasoning_of(d).is_some());
        if !references.is_empty() {
            system.push_str("\n\nSolved examples (final answers only; still show your working):");
            for demo in references {
                system.push_str("\n\n");
                system.push_str(&user_text(signature, demo));
                system.push('\n');
                system.push_str(&assistant_text(signature, demo));
            }
        }
        let mut messages = vec![ChatMessage::system(system)];
        for demo in turns {
            messages.push(ChatMessage::user(user_text(signature, demo)));
            messages.push(ChatMessage::assistant(assistant_text(signature, demo)));
        }
        messages.push(ChatMessage::user(user_text(signature, inputs)));
        messages
    }

    fn parse(&self, signature: &Signature, completion: &str) -> Result<Map<String, Value>, ParseError> {
        let lines: Vec<&str> = completion.lines().collect();
        let mut fields = Map::new();
        let mut first_label_line = lines.len();
        let outputs: Vec<&Field> = labelled(signature).collect();
        for f in &outputs {
            let label = field_label(&f.name);
            // The last labelled line wins: models often restate the answer at the end.
            let found = lines.iter().enumerate().rev().find_map(|(i, l)| find_label(l, &label).map(|v| (i, v)));
            if let Some((i, mut text)) = found {
                if text.is_empty() {
                    text = lines[i + 1..].iter().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap_or("").to_string();
                }
                first_label_line = first_label_line.min(i);
                let value = coerce(&text, &f.ty).map_err(|m| ParseError::field(&f.name, m, completion))?;
                fields.insert(f.name.clone(), value);
            } else if outputs.len() == 1 && matches!(f.ty, FieldType::Int | FieldType::Float) {
                // Lenient fallback for a lone numeric answer: the last number stated.
                if let Some(n) = extract_number(completion) {
                    if let Ok(v) = coerce(&n.to_string(), &f.ty) {
                        fields.insert(f.name.clone(), v);
                    }
                }
            }
        }
        if has_reasoning(signature) {
            let reasoning = lines[..first_label_line.min(lines.len())].join("\n").trim().to_string();
            fields.insert(REASONING.to_string(), Value::String(reasoning));
        }
        require_all_outputs(signature, fields, completion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let sig = Signature::parse("question -> reasoning, answer: int").unwrap();
        let demo: Demo =
            json!({"question": "1+1?", "reasoning": "One plus one.", "answer": 2}).as_object().cloned().unwrap();
        let m = PlainAdapter.format(&sig, &[demo], json!({"question": "2+2?"}).as_object().unwrap());
        assert_eq!(m[0].content, "Given the fields `question`, produce the fields `reasoning`, `answer`.\n\nThink step by step. Then end your reply with this line:\nAnswer: <a single integer>");
        assert_eq!(m[1].content, "Question: 1+1?");
        assert_eq!(m[2].content, "One plus one.\n\nAnswer: 2");
        assert_eq!(m[3].content, "Question: 2+2?");
        let out = PlainAdapter.parse(&sig, "2 and 2 make 4.\n**Answer:** 4").unwrap();
        assert_eq!(Value::Object(out), json!({"reasoning": "2 and 2 make 4.", "answer": 4}));
    }

    #[test]
    fn chain_of_thought_demos_without_reasoning_are_references_not_turns() {
        let sig = Signature::parse("question -> reasoning, answer: int").unwrap();
        let worked: Demo = json!({"question": "1+1?", "reasoning": "One and one make two.", "answer": 2})
            .as_object()
            .cloned()
            .unwrap();
        let bare: Demo = json!({"question": "2+3?", "answer": 5}).as_object().cloned().unwrap();
        let inputs = json!({"question": "4+4?"}).as_object().cloned().unwrap();
        let m = PlainAdapter.format(&sig, &[worked, bare], &inputs);
        assert_eq!(m.len(), 4, "system, one worked demo (user + assistant), the question");
        assert_eq!(m[2].content, "One and one make two.\n\nAnswer: 2");
        assert!(m[0].content.ends_with("still show your working):\n\nQuestion: 2+3?\nAnswer: 5"), "{}", m[0].content);
        // Without reasoning in the signature every demo is a turn.
        let sig = Signature::parse("question -> answer: int").unwrap();
        let bare: Demo = json!({"question": "2+3?", "answer": 5}).as_object().cloned().unwrap();
        assert_eq!(PlainAdapter.format(&sig, &[bare], &inputs).len(), 4);
    }

    #[test]
    fn labelled_lines_and_fallbacks() {
        let sig = Signature::parse("text -> label: enum(pos, neg), confidence: float").unwrap();
        let out = PlainAdapter.parse(&sig, "Label: POS\nConfidence: 0.9").unwrap();
        assert_eq!(Value::Object(out), json!({"label": "pos", "confidence": 0.9}));
        let e = PlainAdapter.parse(&sig, "Label: pos").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("confidence"));
        let sig = Signature::parse("question -> reasoning, answer: float").unwrap();
        let out = PlainAdapter.parse(&sig, "So 3 + 4 = 7 dollars.").unwrap();
        assert_eq!(out.get("answer"), Some(&json!(7.0)));
        let out = PlainAdapter.parse(&sig, "Final Answer: 12\n").unwrap();
        assert_eq!(out.get("answer"), Some(&json!(12.0)));
        let out = PlainAdapter.parse(&sig, "Answer:\n\n  15").unwrap();
        assert_eq!(out.get("answer"), Some(&json!(15.0)));
    }
}
