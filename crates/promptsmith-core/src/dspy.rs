//! Import and export of DSPy's `program.save("x.json")` format (DSPy 3.x).
//!
//! DSPy stores, per predictor path (`draft`, or `refine.predict` for a ChainOfThought),
//! its demos and its signature's instructions and fields as `{prefix, description}` in
//! signature order (inputs, then outputs) without names, so fields map by position.
//!
//! What DSPy's save format has no place for is dropped from the export and listed in
//! `metadata.promptsmith_dropped` (see [`dropped_in_export`]): inference-time wrappers (DSPy
//! keeps `Refine`/`BestOfN` settings in code, not in the save file), output constraints and
//! ensembles. The exported predictor keys stay the inner predictors', so the demos and
//! instructions load into the DSPy program that wraps them the same way.

use crate::adapter::field_label;
use crate::predict::{PredictorKind, REASONING_FIELD};
use crate::program::Program;
use crate::state::{PredictorState, ProgramState, STATE_FORMAT_VERSION};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// DSPy version whose format we write.
pub const DSPY_VERSION: &str = "3.4.1";

fn dspy_key(kind: PredictorKind, name: &str) -> String {
    match kind {
        PredictorKind::Predict => name.to_string(),
        PredictorKind::ChainOfThought => format!("{name}.predict"),
    }
}

/// Writes the program's current state in DSPy's save format.
pub fn export_dspy(program: &Program) -> Value {
    let mut out = Map::new();
    for p in &program.predictors {
        let sig = p.effective_signature();
        let fields: Vec<Value> = sig
            .inputs
            .iter()
            .chain(&sig.outputs)
            .map(|f| {
                json!({
                    "prefix": format!("{}:", field_label(&f.name)),
                    "description": f.description.clone().unwrap_or_else(|| format!("${{{}}}", f.name)),
                })
            })
            .collect();
        out.insert(
            dspy_key(p.kind, &p.name),
            json!({
                "traces": [],
                "train": [],
                "demos": p.demos,
                "signature": {"instructions": p.signature.instruction(), "fields": fields},
                "lm": null,
            }),
        );
    }
    let mut metadata = json!({"dependency_versions": {"python": "3.11", "dspy": DSPY_VERSION, "cloudpickle": "3.1"}});
    let dropped = dropped_in_export(program);
    if !dropped.is_empty() {
        metadata["promptsmith_dropped"] = json!(dropped);
    }
    out.insert("metadata".into(), metadata);
    Value::Object(out)
}

/// What [`export_dspy`] leaves out because DSPy's save format cannot hold it, one line each:
/// wrappers, constraints, custom checks and rewards, and the ensemble.
pub fn dropped_in_export(program: &Program) -> Vec<String> {
    let mut out = Vec::new();
    for p in &program.predictors {
        if let Some(w) = &p.wrap {
            out.push(format!(
                "{}: wrap {} (n={}); in DSPy wrap the predictor in dspy.{} in code",
                p.name,
                w.module.name(),
                w.n,
                match w.module {
                    crate::wrap::WrapKind::BestOfN => "BestOfN",
                    crate::wrap::WrapKind::Refine => "Refine",
                    crate::wrap::WrapKind::MajorityVote => "majority over n completions",
                }
            ));
        }
        let rules: Vec<&str> = p.constraints.rules().iter().map(|r| r.field()).collect();
        if !rules.is_empty() {
            out.push(format!("{}: constraints on {}", p.name, rules.join(", ")));
        }
        for c in p.constraints.checks() {
            out.push(format!("{}: custom check '{}'", p.name, c.name()));
        }
        if let Some(r) = &p.reward {
            out.push(format!("{}: reward '{}'", p.name, r.0.name()));
        }
    }
    if let Some(e) = &program.ensemble {
        out.push(format!("ensemble of {} members (only the program's own state is exported)", e.members.len()));
    }
    out
}

/// A DSPy save file that does not fit the program; the message names the file and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DspyImportError(pub String);

impl crate::HasKind for DspyImportError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidInput
    }
}

/// Reads a DSPy save file into a state for `program`; every predictor of the file must
/// match one of the program's, field counts must agree.
pub fn import_dspy(program: &Program, saved: &Value, file: &str) -> Result<ProgramState, DspyImportError> {
    import_dspy_inner(program, saved, file).map_err(DspyImportError)
}

fn import_dspy_inner(program: &Program, saved: &Value, file: &str) -> Result<ProgramState, String> {
    let obj = saved.as_object().ok_or_else(|| format!("{file}: expected a JSON object of predictors"))?;
    let mut predictors = BTreeMap::new();
    for (key, entry) in obj {
        if key == "metadata" {
            continue;
        }
        let base = key.strip_suffix(".predict").unwrap_or(key);
        let p = program.predictor(base).or_else(|| program.predictor(key)).ok_or_else(|| {
            let known = program.predictors.iter().map(|p| dspy_key(p.kind, &p.name)).collect::<Vec<_>>().join(", ");
            format!(
                "{file}: DSPy predictor '{key}' has no counterpart in program '{}' (its predictors: {known})",
                program.name
            )
        })?;
        let at = |what: &str| format!("{file}: {key}.{what}");
        let sig = p.effective_signature();
        let all: Vec<_> = sig.inputs.iter().chain(&sig.outputs).collect();
        let fields = entry
            .pointer("/signature/fields")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{}: expected an array", at("signature.fields")))?;
        if fields.len() != all.len() {
            return Err(format!(
                "{}: {} fields, but predictor '{}' has {} ({})",
                at("signature.fields"),
                fields.len(),
                p.name,
                all.len(),
                sig.to_signature_string()
            ));
        }
        let mut descs = BTreeMap::new();
        for (i, (f, saved_field)) in all.iter().zip(fields).enumerate() {
            let desc = saved_field
                .get("description")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{}: expected a string", at(&format!("signature.fields[{i}].description"))))?;
            if desc != format!("${{{}}}", f.name)
                && !(f.name == REASONING_FIELD && p.kind == PredictorKind::ChainOfThought)
            {
                descs.insert(f.name.clone(), desc.to_string());
            }
        }
        let instructions = entry
            .pointer("/signature/instructions")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{}: expected a string", at("signature.instructions")))?;
        let instruction = (instructions != p.signature.default_instruction()).then(|| instructions.to_string());
        let demos = entry
            .get("demos")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{}: expected an array", at("demos")))?
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut m = d
                    .as_object()
                    .cloned()
                    .ok_or_else(|| format!("{}: expected an object", at(&format!("demos[{i}]"))))?;
                m.remove("augmented");
                Ok(m)
            })
            .collect::<Result<Vec<_>, String>>()?;
        predictors.insert(p.name.clone(), PredictorState { instruction, fields: descs, demos, adapter: None });
    }
    let state = ProgramState {
        format_version: STATE_FORMAT_VERSION,
        program: Some(program.name.clone()),
        predictors,
        ensemble: None,
    };
    program.with_state(&state).map_err(|e| format!("{file}: {e}"))?;
    Ok(state)
}
