//! Golden tests for `adapter: dspy`: DSPy 3.4.1's `JSONAdapter` prompt bytes, `parse_value`
//! over a table of texts and types, and `ChatAdapter.parse` / `JSONAdapter.parse` outcomes on
//! hand-written and real model completions (files written by
//! `scripts/dspy/gen_strict_goldens.py` from the real DSPy).

#![allow(clippy::unwrap_used)]

mod common;

use common::{cases, signature};
use promptsmith_core::adapter::{pyvalue, Adapter, DspyChatAdapter, DspyJsonAdapter};
use promptsmith_core::{ChatMessage, Field, FieldType, Signature};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::PathBuf;

#[derive(Deserialize)]
struct Outcome {
    case: String,
    completion: String,
    expected: Option<Map<String, Value>>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ValueCase {
    text: String,
    #[serde(rename = "type")]
    ty: String,
    expected: Option<Value>,
    error: Option<String>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/dspy_strict")
}

fn read<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).unwrap()).unwrap()
}

/// The gsm8k chain-of-thought signature the quality benchmark runs (`bench/programs/gsm8k_cot_chat.json`).
fn gsm8k_cot() -> Signature {
    let mut answer = Field::new("answer", FieldType::Float);
    answer.description = Some("the final number only, without units".into());
    Signature::builder()
        .input(Field::new("question", FieldType::Str))
        .output(Field::new("reasoning", FieldType::Str))
        .output(answer)
        .instruction("Solve the math word problem. Work it out step by step, then give the final numeric answer.")
        .build()
        .unwrap()
}

fn signature_for(name: &str) -> Signature {
    if name == "gsm8k_cot" {
        return gsm8k_cot();
    }
    signature(cases().iter().find(|c| c.name == name).unwrap())
}

fn same_values(got: &Map<String, Value>, want: &Map<String, Value>) -> bool {
    // DSPy's floats come back as JSON floats (22.0); compare numbers by value.
    got.len() == want.len()
        && got.iter().zip(want).all(|((gk, gv), (wk, wv))| {
            gk == wk
                && match (gv.as_f64(), wv.as_f64()) {
                    (Some(a), Some(b)) => a == b,
                    _ => gv == wv,
                }
        })
}

fn check(adapter: &dyn Adapter, file: &str) {
    let outcomes: Vec<Outcome> = read(file);
    assert!(outcomes.len() >= 20, "{file}");
    let mut mismatches = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let got = adapter.parse(&signature_for(&o.case), &o.completion);
        let agrees = match (&got, &o.expected) {
            (Ok(g), Some(w)) => same_values(g, w),
            (Err(_), None) => o.error.is_some(),
            _ => false,
        };
        if !agrees {
            mismatches.push(format!("#{i} ({}): DSPy {:?} / {:?}, promptsmith {got:?}", o.case, o.expected, o.error));
        }
    }
    assert!(mismatches.is_empty(), "{file}: {} disagreements:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn json_retry_prompt_matches_dspy_bytes() {
    for case in cases() {
        let want: Vec<ChatMessage> = read(&format!("{}.json_messages.json", case.name));
        let got = DspyJsonAdapter.format(&signature(&case), &case.demos, &case.inputs);
        assert_eq!(got.len(), want.len(), "case {}", case.name);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.role, w.role, "case {}", case.name);
            assert_eq!(g.content, w.content, "case {} ({:?})", case.name, w.role);
        }
    }
}

#[test]
fn values_parse_like_dspy() {
    let cases: Vec<ValueCase> = read("values.json");
    let mut mismatches = Vec::new();
    for c in &cases {
        let ty = match c.ty.as_str() {
            "enum" => FieldType::Enum(vec!["positive".into(), "negative".into()]),
            "str" => FieldType::Str,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "bool" => FieldType::Bool,
            "list[str]" => FieldType::ListStr,
            other => panic!("unknown type {other}"),
        };
        let got = pyvalue::parse_text(&c.text, &ty);
        let agrees = match (&got, &c.expected) {
            (Ok(g), Some(w)) => g == w || g.as_f64().zip(w.as_f64()).is_some_and(|(a, b)| a == b),
            (Err(_), None) => c.error.is_some(),
            _ => false,
        };
        if !agrees {
            mismatches
                .push(format!("{:?} as {}: DSPy {:?} / {:?}, promptsmith {got:?}", c.text, c.ty, c.expected, c.error));
        }
    }
    assert!(cases.len() >= 200);
    assert!(mismatches.is_empty(), "{} disagreements:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn chat_parse_matches_dspy() {
    check(&DspyChatAdapter, "chat_parse.json");
}

#[test]
fn json_parse_matches_dspy() {
    check(&DspyJsonAdapter, "json_parse.json");
}
