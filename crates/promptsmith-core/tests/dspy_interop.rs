//! DSPy `program.save` interop, tested on files written by real DSPy 3.4.1
//! (`scripts/dspy/gen_fixtures.py`).

#![allow(clippy::unwrap_used)]

use promptsmith_core::dspy::{export_dspy, import_dspy};
use promptsmith_core::{Predictor, Program, ProgramBuilder, Signature};
use serde_json::{json, Value};
use std::path::PathBuf;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dspy").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn two_step() -> Program {
    ProgramBuilder::new("two_step")
        .predictor(Predictor::new("draft", Signature::parse("question -> answer").unwrap()))
        .predictor(Predictor::chain_of_thought("refine", Signature::parse("question, draft -> answer: int").unwrap()))
        .step("draft", &[])
        .step("refine", &[("draft", "draft.answer")])
        .output("answer", "refine.answer")
        .build()
        .unwrap()
}

#[test]
fn imports_real_dspy_file() {
    let program = two_step();
    let state = import_dspy(&program, &fixture("two_step_program.json"), "two_step_program.json").unwrap();
    let draft = &state.predictors["draft"];
    assert_eq!(draft.instruction.as_deref(), Some("Write a short first-draft answer to the question."));
    assert_eq!(draft.demos.len(), 2);
    assert_eq!(draft.demos[1].get("answer"), Some(&json!("7")));
    let refine = &state.predictors["refine"];
    assert_eq!(refine.instruction, None, "DSPy's default instruction maps to ours");
    assert_eq!(refine.demos[0].get("answer"), Some(&json!(42)));
    assert!(refine.demos[0].contains_key("reasoning"));
    let applied = program.with_state(&state).unwrap();
    assert_eq!(applied.predictor("draft").unwrap().demos.len(), 2);
}

#[test]
fn export_round_trips_to_the_same_bytes_as_dspy() {
    let program = two_step();
    let saved = fixture("two_step_program.json");
    let state = import_dspy(&program, &saved, "f").unwrap();
    let exported = export_dspy(&program.with_state(&state).unwrap());
    assert_eq!(exported, saved, "exported JSON equals the file DSPy wrote");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dspy/two_step_program.json");
    let bytes = std::fs::read_to_string(path).unwrap();
    assert_eq!(serde_json::to_string_pretty(&exported).unwrap() + "\n", bytes, "and the same bytes");
    let single = Program::single(Predictor::new("classify", Signature::parse("text -> label").unwrap()));
    assert_eq!(export_dspy(&single), fixture("single_predict.json"));
}

#[test]
fn mismatches_are_explained() {
    let other = Program::single(Predictor::new("classify", Signature::parse("text, context -> label").unwrap()));
    let e = import_dspy(&other, &fixture("single_predict.json"), "single.json").unwrap_err().to_string();
    assert_eq!(
        e,
        "single.json: classify.signature.fields: 2 fields, but predictor 'classify' has 3 (text, context -> label)"
    );
    let e = import_dspy(&other, &fixture("two_step_program.json"), "two.json").unwrap_err().to_string();
    assert!(e.contains("DSPy predictor 'draft' has no counterpart in program 'classify'"), "{e}");
}
