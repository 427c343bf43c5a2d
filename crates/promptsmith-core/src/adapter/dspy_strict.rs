//! DSPy-exact behaviour (`adapter: dspy`): the chat layout's prompts, DSPy 3.4.1's strict
//! parsing, and on a parse failure DSPy's own `JSONAdapter` retry, byte for byte. For
//! reproducing a DSPy program's predictions; `chat` keeps the same prompts but parses leniently
//! and retries with a schema-constrained JSON request.

use super::chat::{annotation_name, fields_from_sections, type_note, ChatAdapter};
use super::coerce::parse_json_repair;
use super::pyfmt::json_dumps_indented;
use super::pyvalue::{parse_json_value, parse_text};
use super::{fields_from_object, Adapter, AdapterKind, Demo};
use crate::error::ParseError;
use crate::lm::ChatMessage;
use crate::signature::{FieldType, Signature};
use serde_json::{Map, Value};

/// DSPy's `ChatAdapter` exactly: same prompts as [`ChatAdapter`], no stop sequence (DSPy sends
/// none), DSPy's `parse_value` rules, and [`DspyJsonAdapter`] as the retry.
#[derive(Debug, Clone, Copy, Default)]
pub struct DspyChatAdapter;

/// DSPy's `JSONAdapter` as its `ChatAdapter` falls back to it: JSON-object prompt without a
/// `response_format`, parsed the way DSPy does.
#[derive(Debug, Clone, Copy, Default)]
pub struct DspyJsonAdapter;

/// Python's `str.splitlines()` (every line boundary Python knows, separators dropped).
fn splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let boundary = matches!(
            c,
            '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        );
        if boundary {
            lines.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = iter.peek() {
                    iter.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Python's `str.strip()` whitespace (Unicode whitespace plus the separators 0x1c-0x1f).
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// DSPy's header match on the stripped line: `[[ ## name ## ]]` with `name` made of word
/// characters. Returns the name and the match length in characters.
fn header_match(stripped: &str) -> Option<(&str, usize)> {
    let rest = stripped.strip_prefix("[[ ## ")?;
    let name_len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    let name = &rest[..name_len];
    if name.is_empty() || !rest[name_len..].starts_with(" ## ]]") {
        return None;
    }
    Some((name, 6 + name.chars().count() + 6))
}

impl Adapter for DspyChatAdapter {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Dspy
    }

    fn format(&self, signature: &Signature, demos: &[Demo], inputs: &Map<String, Value>) -> Vec<ChatMessage> {
        ChatAdapter.format(signature, demos, inputs)
    }

    fn parse(&self, signature: &Signature, completion: &str) -> Result<Map<String, Value>, ParseError> {
        let mut sections: Vec<(Option<&str>, Vec<String>)> = vec![(None, Vec::new())];
        for line in splitlines(completion) {
            match header_match(py_strip(line)) {
                Some((name, match_chars)) => {
                    // DSPy slices the unstripped line at the match's end in the stripped one.
                    let remaining: String = line.chars().skip(match_chars).collect();
                    let remaining = py_strip(&remaining).to_string();
                    sections.push((Some(name), if remaining.is_empty() { vec![] } else { vec![remaining] }));
                }
                None => {
                    if let Some(last) = sections.last_mut() {
                        last.1.push(line.to_string());
                    }
                }
            }
        }
        fields_from_sections(signature, sections, completion, |text, ty| parse_text(py_strip(text), ty))
    }

    fn fallback(&self) -> Option<&'static dyn Adapter> {
        Some(&DspyJsonAdapter)
    }
}

impl DspyJsonAdapter {
    fn structure(signature: &Signature) -> String {
        let inputs = signature
            .inputs
            .iter()
            .map(|f| format!("[[ ## {} ## ]]\n{{{}}}", f.name, f.name))
            .collect::<Vec<_>>()
            .join("\n\n");
        let outputs: Map<String, Value> = signature
            .outputs
            .iter()
            .map(|f| (f.name.clone(), Value::String(format!("{{{}}}{}", f.name, type_note(&f.ty, false)))))
            .collect();
        [
            "All interactions will be structured in the following way, with the appropriate values filled in."
                .to_string(),
            "Inputs will have the following structure:".to_string(),
            inputs.trim().to_string(),
            "Outputs will be a JSON object with the following fields.".to_string(),
            json_dumps_indented(&Value::Object(outputs)),
        ]
        .join("\n\n")
        .trim()
        .to_string()
    }

    fn requirements(signature: &Signature) -> String {
        let fields = signature
            .outputs
            .iter()
            .map(|f| match f.ty {
                FieldType::Str => format!("`{}`", f.name),
                ref t => format!("`{}` (must be formatted as a valid Python {})", f.name, annotation_name(t)),
            })
            .collect::<Vec<_>>()
            .join(", then ");
        format!("Respond with a JSON object in the following order of fields: {fields}.")
    }

    fn assistant_message(signature: &Signature, values: &Map<String, Value>, missing: &str) -> String {
        let obj: Map<String, Value> = signature
            .outputs
            .iter()
            .map(|f| (f.name.clone(), values.get(&f.name).cloned().unwrap_or_else(|| Value::String(missing.into()))))
            .collect();
        json_dumps_indented(&Value::Object(obj))
    }
}

/// The first balanced `{...}` in the text, as DSPy's recursive regex finds it (strings are not
/// special to that regex, so neither are they here).
fn first_braced(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let mut depth = 0usize;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..start + i + 1]);
                }
            }
            _ => {}
        }
    }
    None
}

impl Adapter for DspyJsonAdapter {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Dspy
    }

    fn format(&self, signature: &Signature, demos: &[Demo], inputs: &Map<String, Value>) -> Vec<ChatMessage> {
        let system = ChatAdapter::system_message(signature, &Self::structure(signature));
        ChatAdapter::conversation(
            signature,
            demos,
            inputs,
            system,
            &Self::requirements(signature),
            Self::assistant_message,
        )
    }

    fn parse(&self, signature: &Signature, completion: &str) -> Result<Map<String, Value>, ParseError> {
        let object = match parse_json_repair(completion) {
            Some(Value::Object(m)) => Some(m),
            _ => match first_braced(completion).and_then(parse_json_repair) {
                Some(Value::Object(m)) => Some(m),
                _ => None,
            },
        };
        let object = object
            .ok_or_else(|| ParseError::whole("LM response cannot be serialized to a JSON object.", completion))?;
        fields_from_object(signature, &object, completion, parse_json_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_where_chat_is_lenient() {
        let sig = Signature::parse("question -> reasoning, answer: float").unwrap();
        let ok = "[[ ## reasoning ## ]]\nadd\n\n[[ ## answer ## ]]\n294.0\n\n[[ ## completed ## ]]";
        assert_eq!(DspyChatAdapter.parse(&sig, ok).unwrap().get("answer"), Some(&json!(294.0)));
        let prose = "[[ ## reasoning ## ]]\nadd\n\n[[ ## answer ## ]]\n$112.00\n\n[[ ## completed ## ]]";
        assert!(ChatAdapter.parse(&sig, prose).is_ok());
        let e = DspyChatAdapter.parse(&sig, prose).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("answer"));
    }

    #[test]
    fn python_line_rules() {
        assert_eq!(splitlines("a\r\nb\rc\n"), vec!["a", "b", "c"]);
        assert_eq!(splitlines("a\n\nb"), vec!["a", "", "b"]);
        assert_eq!(header_match("[[ ## answer ## ]] rest"), Some(("answer", 18)));
        assert_eq!(header_match("[[## answer ##]]"), None);
    }

    #[test]
    fn json_retry_prompt_and_parse() {
        let sig = Signature::parse("question -> reasoning, answer: float").unwrap();
        let inputs = json!({"question": "1+1?"}).as_object().cloned().unwrap();
        let m = DspyJsonAdapter.format(&sig, &[], &inputs);
        assert!(m[0].content.contains(
            "{\n  \"reasoning\": \"{reasoning}\",\n  \"answer\": \"{answer}        # note: the value you produce must be a single float value\"\n}"
        ));
        assert!(m[1].content.ends_with(
            "Respond with a JSON object in the following order of fields: `reasoning`, then `answer` (must be formatted as a valid Python float)."
        ));
        let out =
            DspyJsonAdapter.parse(&sig, "```json\n{\"reasoning\": \"two\nlines\", \"answer\": \"2\"}\n```").unwrap();
        assert_eq!(Value::Object(out), json!({"reasoning": "two\nlines", "answer": 2.0}));
        assert!(DspyJsonAdapter.parse(&sig, "{\"reasoning\": \"x\"}").is_err());
    }
}
