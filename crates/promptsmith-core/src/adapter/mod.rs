//! Adapters turn a signature, demos and inputs into chat messages, and a completion
//! back into typed outputs. Three layouts, chosen per program or predictor:
//! - [`ChatAdapter`]: DSPy's `[[ ## field ## ]]` layout, byte-compatible with DSPy 3.4.1;
//! - [`JsonAdapter`]: asks for a JSON object and sends a JSON schema as `response_format`
//!   so grammar-constrained servers (llama-server, vLLM, OpenAI) always produce parseable output;
//! - [`PlainAdapter`]: free reasoning that ends with labelled lines (`Answer: 42`), which
//!   small models follow far better than marker-based layouts;
//! - [`DspyChatAdapter`]: DSPy exactly: the chat prompts, DSPy's strict value parsing and its
//!   `JSONAdapter` retry ([`DspyJsonAdapter`]), for reproducing a DSPy program's predictions.

mod chat;
pub mod coerce;
mod dspy_strict;
mod json;
mod plain;
pub mod pyfmt;
pub mod pyvalue;

pub use chat::ChatAdapter;
pub use dspy_strict::{DspyChatAdapter, DspyJsonAdapter};
pub use json::JsonAdapter;
pub use plain::PlainAdapter;

use crate::error::ParseError;
use crate::lm::{ChatMessage, ResponseFormat};
use crate::signature::Signature;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A few-shot demonstration: field name -> value.
pub type Demo = Map<String, Value>;

/// Formats prompts and parses completions for one prompt layout.
pub trait Adapter: Send + Sync {
    /// Which layout this is.
    fn kind(&self) -> AdapterKind;
    /// The messages for one call.
    fn format(&self, signature: &Signature, demos: &[Demo], inputs: &Map<String, Value>) -> Vec<ChatMessage>;
    /// Typed outputs from a completion, in signature order.
    fn parse(&self, signature: &Signature, completion: &str) -> Result<Map<String, Value>, ParseError>;
    /// Stop sequences to send with requests.
    fn stop(&self) -> Vec<String> {
        Vec::new()
    }
    /// Structured-output constraint to send with requests.
    fn response_format(&self, _signature: &Signature) -> Option<ResponseFormat> {
        None
    }
    /// The layout to retry with once when a completion does not parse (`None`: no retry).
    fn fallback(&self) -> Option<&'static dyn Adapter> {
        None
    }
}

/// The available prompt layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdapterKind {
    /// DSPy-compatible `[[ ## field ## ]]` chat layout.
    #[default]
    Chat,
    /// JSON object output with a schema-constrained `response_format`.
    Json,
    /// Free reasoning ending in labelled lines.
    Plain,
    /// DSPy 3.4.1 exactly: chat prompts, strict parsing, DSPy's JSONAdapter retry.
    Dspy,
}

impl AdapterKind {
    /// The kinds an optimizer searches over (`dspy` shares `chat`'s prompts, so it is left out).
    pub const ALL: [AdapterKind; 3] = [AdapterKind::Chat, AdapterKind::Json, AdapterKind::Plain];

    /// The adapter implementing this layout.
    pub fn adapter(self) -> &'static dyn Adapter {
        match self {
            AdapterKind::Chat => &ChatAdapter,
            AdapterKind::Json => &JsonAdapter,
            AdapterKind::Plain => &PlainAdapter,
            AdapterKind::Dspy => &DspyChatAdapter,
        }
    }

    /// Parses `chat`, `json`, `plain` or `dspy`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "chat" => Some(Self::Chat),
            "dspy" | "dspy_strict" => Some(Self::Dspy),
            "json" => Some(Self::Json),
            "plain" | "text" => Some(Self::Plain),
            _ => None,
        }
    }

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            AdapterKind::Chat => "chat",
            AdapterKind::Json => "json",
            AdapterKind::Plain => "plain",
            AdapterKind::Dspy => "dspy",
        }
    }
}

impl std::fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// DSPy's `infer_prefix`: `some_field` -> `Some Field`, `questionText` -> `Question Text`.
pub fn field_label(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        let next = chars.get(i + 1).copied();
        let boundary = match prev {
            None => false,
            Some(p) => {
                (c.is_ascii_uppercase() && (p.is_ascii_lowercase() || p.is_ascii_digit()))
                    || (c.is_ascii_uppercase()
                        && p.is_ascii_uppercase()
                        && next.is_some_and(|n| n.is_ascii_lowercase()))
                    || (c.is_ascii_digit() && p.is_ascii_alphabetic())
                    || (c.is_ascii_alphabetic() && p.is_ascii_digit())
            }
        };
        if c == '_' {
            words.push(std::mem::take(&mut cur));
            continue;
        }
        if boundary && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    words.push(cur);
    words
        .into_iter()
        .map(|w| {
            if !w.is_empty() && w.chars().any(|c| c.is_alphabetic()) && w.chars().all(|c| !c.is_lowercase()) {
                w
            } else {
                let mut cs = w.chars();
                match cs.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + &cs.as_str().to_lowercase(),
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The output fields of a JSON object, each value read by `read`; then every output must be
/// present. Keys that are not output fields are ignored.
pub(crate) fn fields_from_object(
    signature: &Signature,
    object: &Map<String, Value>,
    completion: &str,
    read: impl Fn(&Value, &crate::signature::FieldType) -> Result<Value, String>,
) -> Result<Map<String, Value>, ParseError> {
    let mut fields = Map::new();
    for f in &signature.outputs {
        if let Some(v) = object.get(&f.name) {
            let value = read(v, &f.ty).map_err(|m| ParseError::field(&f.name, m, completion))?;
            fields.insert(f.name.clone(), value);
        }
    }
    require_all_outputs(signature, fields, completion)
}

/// Checks that every output field is present, in signature order.
pub(crate) fn require_all_outputs(
    signature: &Signature,
    fields: Map<String, Value>,
    completion: &str,
) -> Result<Map<String, Value>, ParseError> {
    let missing: Vec<&str> =
        signature.outputs.iter().filter(|f| !fields.contains_key(&f.name)).map(|f| f.name.as_str()).collect();
    if !missing.is_empty() {
        let msg = format!(
            "missing output field(s) {}",
            missing.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", ")
        );
        return Err(ParseError {
            field: if missing.len() == 1 { Some(missing[0].to_string()) } else { None },
            message: msg,
            raw: completion.to_string(),
        });
    }
    let mut ordered = Map::new();
    let mut fields = fields;
    for f in &signature.outputs {
        if let Some(v) = fields.remove(&f.name) {
            ordered.insert(f.name.clone(), v);
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_like_dspy() {
        assert_eq!(field_label("question"), "Question");
        assert_eq!(field_label("some_field"), "Some Field");
        assert_eq!(field_label("questionText"), "Question Text");
        assert_eq!(field_label("HTMLParser"), "HTML Parser");
        assert_eq!(field_label("step2answer"), "Step 2 Answer");
    }
}
