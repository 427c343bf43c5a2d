//! Shared helpers for the golden tests: the DSPy cases (`tests/golden/chat_adapter/cases.json`)
//! and the signatures they describe.

#![allow(dead_code, clippy::unwrap_used)]

use promptsmith_core::{Field, FieldType, Signature};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::PathBuf;

#[derive(Deserialize)]
pub(crate) struct FieldSpec {
    pub(crate) name: String,
    pub(crate) io: String,
    #[serde(rename = "type")]
    pub(crate) ty: String,
    #[serde(default)]
    pub(crate) labels: Vec<String>,
    pub(crate) desc: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) signature: String,
    pub(crate) instruction: Option<String>,
    pub(crate) fields: Vec<FieldSpec>,
    pub(crate) demos: Vec<Map<String, Value>>,
    pub(crate) inputs: Map<String, Value>,
}

pub(crate) fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/chat_adapter")
}

pub(crate) fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(golden_dir().join("cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub(crate) fn signature(case: &Case) -> Signature {
    let mut b = Signature::builder();
    for f in &case.fields {
        let ty = match f.ty.as_str() {
            "str" => FieldType::Str,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "bool" => FieldType::Bool,
            "list[str]" => FieldType::ListStr,
            "json" => FieldType::Json,
            "enum" => FieldType::Enum(f.labels.clone()),
            other => panic!("unknown type {other}"),
        };
        let mut field = Field::new(&f.name, ty);
        field.description = f.desc.clone();
        b = if f.io == "input" { b.input(field) } else { b.output(field) };
    }
    if let Some(i) = &case.instruction {
        b = b.instruction(i);
    }
    b.build().unwrap()
}
