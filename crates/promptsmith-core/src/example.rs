//! Examples (labelled data rows) and predictions (typed model outputs).

use crate::lm::Usage;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A data row: named values, some of which are inputs; the rest are labels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Example {
    /// All fields, in insertion order.
    pub fields: Map<String, Value>,
    /// Names of the fields that are inputs to the program.
    #[serde(default)]
    pub input_keys: Vec<String>,
}

impl Example {
    /// An example from a JSON object, with the given input keys.
    pub fn new(fields: Map<String, Value>, input_keys: &[&str]) -> Self {
        Self { fields, input_keys: input_keys.iter().map(|s| s.to_string()).collect() }
    }

    /// An example whose fields are all inputs.
    pub fn from_inputs(fields: Map<String, Value>) -> Self {
        let input_keys = fields.keys().cloned().collect();
        Self { fields, input_keys }
    }

    /// Builder: sets a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// Builder: marks these keys as inputs.
    pub fn with_inputs(mut self, keys: &[&str]) -> Self {
        self.input_keys = keys.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// A field's value as text (strings verbatim, other values as JSON).
    pub fn get_text(&self, key: &str) -> Option<String> {
        self.fields.get(key).map(value_to_text)
    }

    /// Whether `key` is an input.
    pub fn is_input(&self, key: &str) -> bool {
        self.input_keys.iter().any(|k| k == key)
    }

    /// The input fields only.
    pub fn inputs(&self) -> Map<String, Value> {
        self.fields.iter().filter(|(k, _)| self.is_input(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The label (non-input) fields only.
    pub fn labels(&self) -> Map<String, Value> {
        self.fields.iter().filter(|(k, _)| !self.is_input(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Text form of a value: strings verbatim, everything else as compact JSON.
pub fn value_to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One predictor call inside a program run: what went in and what came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    /// Predictor name.
    pub predictor: String,
    /// Inputs given to the predictor.
    pub inputs: Map<String, Value>,
    /// Parsed outputs.
    pub outputs: Map<String, Value>,
}

/// A program's output: typed values per output field, plus the trace and usage.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Prediction {
    /// Output values by field name, in signature order.
    pub fields: Map<String, Value>,
    /// Every predictor call made, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TraceStep>,
    /// Tokens spent.
    #[serde(default)]
    pub usage: Usage,
    /// Number of LM calls made (retries for parsing included).
    #[serde(default)]
    pub lm_calls: u32,
}

impl Prediction {
    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// A field's value as text.
    pub fn get_text(&self, key: &str) -> Option<String> {
        self.fields.get(key).map(value_to_text)
    }
}
