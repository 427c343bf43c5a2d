//! Signatures: typed input fields -> typed output fields, plus an instruction.
//!
//! String form: `"context: list[str], question -> reasoning, answer: int"`. Types are
//! `str` (default), `int`, `float`, `bool`, `list[str]`, `enum(a, b, c)` and `json`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a field's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "labels")]
pub enum FieldType {
    /// Free text.
    Str,
    /// Integer.
    Int,
    /// Floating-point number.
    Float,
    /// true/false.
    Bool,
    /// List of strings.
    ListStr,
    /// One of fixed labels.
    Enum(Vec<String>),
    /// A JSON object.
    Json,
}

impl FieldType {
    /// The string-form name of the type (`str`, `int`, `list[str]`, `enum(a, b)`...).
    pub fn type_name(&self) -> String {
        match self {
            FieldType::Str => "str".into(),
            FieldType::Int => "int".into(),
            FieldType::Float => "float".into(),
            FieldType::Bool => "bool".into(),
            FieldType::ListStr => "list[str]".into(),
            FieldType::Enum(labels) => format!("enum({})", labels.join(", ")),
            FieldType::Json => "json".into(),
        }
    }

    /// JSON schema describing values of this type.
    pub fn json_schema(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            FieldType::Str => json!({"type": "string"}),
            FieldType::Int => json!({"type": "integer"}),
            FieldType::Float => json!({"type": "number"}),
            FieldType::Bool => json!({"type": "boolean"}),
            FieldType::ListStr => json!({"type": "array", "items": {"type": "string"}}),
            FieldType::Enum(labels) => json!({"type": "string", "enum": labels}),
            FieldType::Json => json!({"type": "object"}),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.type_name())
    }
}

/// One named, typed field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    /// Field name (an identifier).
    pub name: String,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Optional description shown to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Field {
    /// A field of the given type without description.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        Self { name: name.into(), ty, description: None }
    }

    /// Builder: sets the description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// A malformed signature string, with the 1-based column where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signature \"{text}\" at column {column}: {message}")]
pub struct SignatureError {
    /// The signature text.
    pub text: String,
    /// 1-based column (characters).
    pub column: usize,
    /// What was expected.
    pub message: String,
}

/// Typed inputs -> typed outputs, plus an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Signature {
    /// Input fields, in order.
    pub inputs: Vec<Field>,
    /// Output fields, in order.
    pub outputs: Vec<Field>,
    /// Instruction; `None` means the default generated from the field names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

impl Signature {
    /// Parses the string form.
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        Parser::new(text).signature()
    }

    /// Starts a builder.
    pub fn builder() -> SignatureBuilder {
        SignatureBuilder::default()
    }

    /// The instruction: the explicit one, or DSPy's default from the field names.
    pub fn instruction(&self) -> String {
        match &self.instruction {
            Some(i) => i.clone(),
            None => self.default_instruction(),
        }
    }

    /// DSPy's default instruction: "Given the fields `a`, `b`, produce the fields `c`."
    pub fn default_instruction(&self) -> String {
        let names = |fs: &[Field]| fs.iter().map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ");
        format!("Given the fields {}, produce the fields {}.", names(&self.inputs), names(&self.outputs))
    }

    /// Builder: sets the instruction.
    pub fn with_instruction(mut self, instruction: impl Into<String>) -> Self {
        self.instruction = Some(instruction.into());
        self
    }

    /// A field by name, input or output.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.inputs.iter().chain(self.outputs.iter()).find(|f| f.name == name)
    }

    /// A mutable field by name, input or output.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Field> {
        self.inputs.iter_mut().chain(self.outputs.iter_mut()).find(|f| f.name == name)
    }

    /// Sets the description of a field; false when there is no such field.
    pub fn set_description(&mut self, name: &str, description: impl Into<String>) -> bool {
        match self.field_mut(name) {
            Some(f) => {
                f.description = Some(description.into());
                true
            }
            None => false,
        }
    }

    /// A copy with `field` prepended to the outputs (used by chain of thought).
    pub fn prepend_output(&self, field: Field) -> Self {
        let mut s = self.clone();
        s.outputs.retain(|f| f.name != field.name);
        s.outputs.insert(0, field);
        s
    }

    /// JSON schema of the outputs as one object (for structured output).
    pub fn output_schema(&self) -> serde_json::Value {
        let mut props = serde_json::Map::new();
        for f in &self.outputs {
            props.insert(f.name.clone(), f.ty.json_schema());
        }
        let required: Vec<_> = self.outputs.iter().map(|f| f.name.clone()).collect();
        serde_json::json!({
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// The string form (types included, descriptions and instruction not).
    pub fn to_signature_string(&self) -> String {
        let side = |fs: &[Field]| {
            fs.iter()
                .map(|f| match f.ty {
                    FieldType::Str => f.name.clone(),
                    ref t => format!("{}: {}", f.name, t),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("{} -> {}", side(&self.inputs), side(&self.outputs))
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_signature_string())
    }
}

impl std::str::FromStr for Signature {
    type Err = SignatureError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Signature::parse(s)
    }
}

/// Builds a signature field by field.
#[derive(Debug, Default, Clone)]
pub struct SignatureBuilder {
    sig: Signature,
}

impl SignatureBuilder {
    /// Adds an input field.
    pub fn input(mut self, field: Field) -> Self {
        self.sig.inputs.push(field);
        self
    }
    /// Adds an output field.
    pub fn output(mut self, field: Field) -> Self {
        self.sig.outputs.push(field);
        self
    }
    /// Sets the instruction.
    pub fn instruction(mut self, instruction: impl Into<String>) -> Self {
        self.sig.instruction = Some(instruction.into());
        self
    }
    /// Validates and returns the signature.
    pub fn build(self) -> Result<Signature, SignatureError> {
        let text = self.sig.to_signature_string();
        validate(&self.sig, &text)?;
        Ok(self.sig)
    }
}

fn validate(sig: &Signature, text: &str) -> Result<(), SignatureError> {
    let err = |message: String| SignatureError { text: text.to_string(), column: 1, message };
    if sig.inputs.is_empty() {
        return Err(err("a signature needs at least one input field".into()));
    }
    if sig.outputs.is_empty() {
        return Err(err("a signature needs at least one output field".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for f in sig.inputs.iter().chain(&sig.outputs) {
        if !is_identifier(&f.name) {
            return Err(err(format!("'{}' is not a valid field name (letters, digits, _)", f.name)));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(err(format!("field '{}' appears twice", f.name)));
        }
        if let FieldType::Enum(labels) = &f.ty {
            if labels.is_empty() {
                return Err(err(format!("enum field '{}' needs at least one label", f.name)));
            }
        }
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, chars: text.chars().collect(), pos: 0 }
    }

    fn err<T>(&self, column: usize, message: impl Into<String>) -> Result<T, SignatureError> {
        Err(SignatureError { text: self.text.to_string(), column: column + 1, message: message.into() })
    }

    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_arrow(&self) -> bool {
        self.peek() == Some('-') && self.chars.get(self.pos + 1) == Some(&'>')
    }

    fn signature(mut self) -> Result<Signature, SignatureError> {
        let arrows: Vec<usize> = (0..self.chars.len().saturating_sub(1))
            .filter(|&i| self.chars[i] == '-' && self.chars[i + 1] == '>')
            .collect();
        match arrows.len() {
            0 => return self.err(self.chars.len(), "expected '->' between input and output fields"),
            1 => {}
            _ => return self.err(arrows[1], "only one '->' is allowed"),
        }
        let inputs = self.fields(true)?;
        self.skip_ws();
        if !self.at_arrow() {
            return self.err(self.pos, "expected ',' or '->'");
        }
        self.pos += 2;
        let outputs = self.fields(false)?;
        self.skip_ws();
        if self.pos < self.chars.len() {
            return self.err(self.pos, "expected ',' or end of signature");
        }
        let sig = Signature { inputs, outputs, instruction: None };
        let mut seen = std::collections::HashSet::new();
        for f in sig.inputs.iter().chain(&sig.outputs) {
            if !seen.insert(f.name.clone()) {
                let col = self.text.find(&f.name).map(|b| self.text[..b].chars().count()).unwrap_or(0);
                return self.err(col, format!("field '{}' appears twice", f.name));
            }
        }
        Ok(sig)
    }

    fn fields(&mut self, inputs: bool) -> Result<Vec<Field>, SignatureError> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            let start = self.pos;
            let name = self.ident();
            if name.is_empty() {
                let what = if inputs { "an input field name" } else { "an output field name" };
                let found = match self.peek() {
                    None => "end of signature".to_string(),
                    Some('-') if self.at_arrow() => "'->'".to_string(),
                    Some(c) => format!("'{c}'"),
                };
                return self.err(start, format!("expected {what}, found {found}"));
            }
            self.skip_ws();
            let ty = if self.peek() == Some(':') {
                self.pos += 1;
                self.skip_ws();
                self.field_type()?
            } else {
                FieldType::Str
            };
            out.push(Field::new(name, ty));
            self.skip_ws();
            if self.peek() == Some(',') {
                self.pos += 1;
                continue;
            }
            return Ok(out);
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = if self.pos == start {
                c.is_ascii_alphabetic() || c == '_'
            } else {
                c.is_ascii_alphanumeric() || c == '_'
            };
            if !ok {
                break;
            }
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn field_type(&mut self) -> Result<FieldType, SignatureError> {
        let start = self.pos;
        let word = self.ident();
        let ty = match word.to_ascii_lowercase().as_str() {
            "str" | "string" => FieldType::Str,
            "int" | "integer" => FieldType::Int,
            "float" | "number" => FieldType::Float,
            "bool" | "boolean" => FieldType::Bool,
            "json" | "dict" => FieldType::Json,
            "list" => {
                self.skip_ws();
                if self.peek() == Some('[') {
                    self.pos += 1;
                    self.skip_ws();
                    let inner_start = self.pos;
                    let inner = self.ident();
                    if !matches!(inner.as_str(), "str" | "string") {
                        return self.err(inner_start, "only list[str] is supported as a list type");
                    }
                    self.skip_ws();
                    if self.peek() != Some(']') {
                        return self.err(self.pos, "expected ']' to close list[str]");
                    }
                    self.pos += 1;
                }
                FieldType::ListStr
            }
            "enum" | "literal" => {
                self.skip_ws();
                let (open, close) = match self.peek() {
                    Some('(') => ('(', ')'),
                    Some('[') => ('[', ']'),
                    _ => return self.err(self.pos, "expected '(' after enum, as in enum(a, b, c)"),
                };
                let _ = open;
                self.pos += 1;
                let mut labels = Vec::new();
                loop {
                    self.skip_ws();
                    let lstart = self.pos;
                    let label = self.label(close)?;
                    if label.is_empty() {
                        return self.err(lstart, "expected an enum label");
                    }
                    if labels.contains(&label) {
                        return self.err(lstart, format!("enum label '{label}' appears twice"));
                    }
                    labels.push(label);
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(c) if c == close => {
                            self.pos += 1;
                            break;
                        }
                        _ => return self.err(self.pos, format!("expected ',' or '{close}' in enum labels")),
                    }
                }
                FieldType::Enum(labels)
            }
            "" => return self.err(start, "expected a type (str, int, float, bool, list[str], enum(...), json)"),
            other => {
                return self.err(
                    start,
                    format!("unknown type '{other}' (expected str, int, float, bool, list[str], enum(...), json)"),
                )
            }
        };
        Ok(ty)
    }

    fn label(&mut self, close: char) -> Result<String, SignatureError> {
        if let Some(q @ ('"' | '\'')) = self.peek() {
            let start = self.pos;
            self.pos += 1;
            let mut s = String::new();
            while let Some(c) = self.peek() {
                self.pos += 1;
                if c == q {
                    return Ok(s);
                }
                s.push(c);
            }
            return self.err(start, "unterminated quoted enum label");
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ',' || c == close {
                break;
            }
            self.pos += 1;
        }
        Ok(self.chars[start..self.pos].iter().collect::<String>().trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple() {
        let s = Signature::parse("question -> answer").unwrap();
        assert_eq!(s.inputs, vec![Field::new("question", FieldType::Str)]);
        assert_eq!(s.outputs, vec![Field::new("answer", FieldType::Str)]);
        assert_eq!(s.instruction(), "Given the fields `question`, produce the fields `answer`.");
    }

    #[test]
    fn parses_types() {
        let s = Signature::parse("context: list[str], question -> reasoning, answer: int").unwrap();
        assert_eq!(s.inputs[0].ty, FieldType::ListStr);
        assert_eq!(s.inputs[1].ty, FieldType::Str);
        assert_eq!(s.outputs[0].ty, FieldType::Str);
        assert_eq!(s.outputs[1].ty, FieldType::Int);
        let s = Signature::parse("text -> label: enum(positive, negative, neutral)").unwrap();
        assert_eq!(s.outputs[0].ty, FieldType::Enum(vec!["positive".into(), "negative".into(), "neutral".into()]));
        let s = Signature::parse("a: float, b: bool, c: json -> d: enum('x y', \"z\")").unwrap();
        assert_eq!(
            s.inputs.iter().map(|f| f.ty.clone()).collect::<Vec<_>>(),
            vec![FieldType::Float, FieldType::Bool, FieldType::Json]
        );
        assert_eq!(s.outputs[0].ty, FieldType::Enum(vec!["x y".into(), "z".into()]));
    }

    #[test]
    fn round_trips_string_form() {
        for text in [
            "question -> answer",
            "context: list[str], question -> reasoning, answer: int",
            "text -> label: enum(positive, negative, neutral)",
        ] {
            assert_eq!(Signature::parse(text).unwrap().to_signature_string(), text);
        }
    }

    #[test]
    fn errors_point_at_column() {
        let e = Signature::parse("question answer").unwrap_err();
        assert_eq!(e.column, 16);
        assert!(e.message.contains("'->'"), "{e}");
        let e = Signature::parse("question -> answer: integr").unwrap_err();
        assert_eq!(e.column, 21);
        assert!(e.message.contains("unknown type 'integr'"), "{e}");
        let e = Signature::parse("question, -> answer").unwrap_err();
        assert_eq!(e.column, 11);
        assert!(e.message.contains("expected an input field name, found '->'"), "{e}");
        let e = Signature::parse(" -> answer").unwrap_err();
        assert_eq!(e.column, 2);
        let e = Signature::parse("q -> a -> b").unwrap_err();
        assert_eq!(e.column, 8);
        let e = Signature::parse("q -> a: enum(x, y").unwrap_err();
        assert!(e.message.contains("expected ',' or ')'"), "{e}");
        let e = Signature::parse("q -> q").unwrap_err();
        assert!(e.message.contains("appears twice"), "{e}");
        let e = Signature::parse("q -> a: list[int]").unwrap_err();
        assert_eq!(e.column, 14);
        assert!(e.to_string().contains("column 14"));
    }

    #[test]
    fn builder_validates() {
        let s = Signature::builder()
            .input(Field::new("question", FieldType::Str).describe("a question"))
            .output(Field::new("answer", FieldType::Float))
            .instruction("Solve it.")
            .build()
            .unwrap();
        assert_eq!(s.instruction(), "Solve it.");
        assert_eq!(s.inputs[0].description.as_deref(), Some("a question"));
        assert!(Signature::builder().input(Field::new("q", FieldType::Str)).build().is_err());
        assert!(Signature::builder()
            .input(Field::new("bad name", FieldType::Str))
            .output(Field::new("a", FieldType::Str))
            .build()
            .is_err());
    }

    #[test]
    fn prepend_output_for_cot() {
        let s = Signature::parse("question -> answer: int").unwrap();
        let cot = s.prepend_output(Field::new("reasoning", FieldType::Str));
        assert_eq!(cot.to_signature_string(), "question -> reasoning, answer: int");
    }
}
