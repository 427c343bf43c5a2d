//! Program spec files (JSON or YAML): predictors, steps and outputs.
//!
//! ```json
//! {
//!   "name": "qa",
//!   "adapter": "chat",
//!   "predictors": [
//!     {"name": "draft", "signature": "question -> answer"},
//!     {"name": "refine", "module": "chain_of_thought",
//!      "signature": "question, draft -> answer: int",
//!      "instruction": "Fix the draft.", "descriptions": {"answer": "a number"}}
//!   ],
//!   "steps": [
//!     {"predictor": "draft"},
//!     {"predictor": "refine", "inputs": {"draft": "draft.answer"}}
//!   ],
//!   "outputs": {"answer": "refine.answer"}
//! }
//! ```
//! `steps` defaults to every predictor in order, `outputs` to the last step's outputs.

use crate::adapter::{AdapterKind, Demo};
use crate::predict::{CallOptions, Predictor, PredictorKind};
use crate::program::{Program, ProgramBuilder};
use crate::signature::Signature;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;

/// A program spec as written in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// Program name.
    pub name: String,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default prompt layout for all predictors (`chat`, `json`, `plain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Default sampling options for all predictors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<CallOptions>,
    /// Predictors.
    pub predictors: Vec<PredictorSpec>,
    /// Steps; defaults to every predictor in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSpec>,
    /// Output name -> source (`predictor.field`); defaults to the last step's outputs.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub outputs: Map<String, Value>,
}

/// One predictor in a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictorSpec {
    /// Name, unique in the program.
    pub name: String,
    /// `predict` (default) or `chain_of_thought`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Signature in string form.
    pub signature: String,
    /// Instruction (default: generated from the field names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Field descriptions by field name.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub descriptions: Map<String, Value>,
    /// Prompt layout for this predictor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Sampling options for this predictor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<CallOptions>,
    /// Initial demos.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demos: Vec<Demo>,
}

/// One step in a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Predictor to run.
    pub predictor: String,
    /// Input field -> source (`field`, `example.field` or `predictor.field`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub inputs: Map<String, Value>,
}

/// A spec that could not be read or does not describe a valid program.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {location}{message}")]
pub struct SpecError {
    /// The file (or `<spec>` for in-memory specs).
    pub file: String,
    /// Where in the file: `line L column C: ` or `predictors[1].signature: `.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl ProgramSpec {
    /// Reads a JSON or YAML spec (by extension; `.yaml`/`.yml` are YAML).
    pub fn load(path: &Path) -> Result<ProgramSpec, SpecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: file.clone(),
            location: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        Self::parse(&text, yaml, &file)
    }

    /// Parses spec text; `file` names it in errors.
    pub fn parse(text: &str, yaml: bool, file: &str) -> Result<ProgramSpec, SpecError> {
        if yaml {
            serde_yaml::from_str(text).map_err(|e| {
                let location =
                    e.location().map(|l| format!("line {} column {}: ", l.line(), l.column())).unwrap_or_default();
                SpecError { file: file.into(), location, message: strip_location(&e.to_string()) }
            })
        } else {
            serde_json::from_str(text).map_err(|e| SpecError {
                file: file.into(),
                location: format!("line {} column {}: ", e.line(), e.column()),
                message: strip_location(&e.to_string()),
            })
        }
    }

    /// Builds the program, with errors that say which entry is wrong.
    pub fn build(&self, file: &str) -> Result<Program, SpecError> {
        let err = |location: String, message: String| SpecError {
            file: file.into(),
            location: format!("{location}: "),
            message,
        };
        let default_adapter = match &self.adapter {
            Some(a) => AdapterKind::parse(a).ok_or_else(|| {
                err("adapter".into(), format!("unknown adapter '{a}' (expected chat, json, plain or dspy)"))
            })?,
            None => AdapterKind::Chat,
        };
        let mut b = ProgramBuilder::new(&self.name);
        for (i, p) in self.predictors.iter().enumerate() {
            let at = |f: &str| format!("predictors[{i}].{f}");
            let mut sig = Signature::parse(&p.signature).map_err(|e| err(at("signature"), e.to_string()))?;
            sig.instruction = p.instruction.clone();
            for (field, desc) in &p.descriptions {
                let Some(desc) = desc.as_str() else {
                    return Err(err(at(&format!("descriptions.{field}")), "expected a string".into()));
                };
                if !sig.set_description(field, desc) {
                    return Err(err(
                        at(&format!("descriptions.{field}")),
                        format!("no field '{field}' in signature \"{}\"", p.signature),
                    ));
                }
            }
            let kind = match &p.module {
                Some(m) => PredictorKind::parse(m).ok_or_else(|| {
                    err(at("module"), format!("unknown module '{m}' (expected predict or chain_of_thought)"))
                })?,
                None => PredictorKind::Predict,
            };
            let adapter = match &p.adapter {
                Some(a) => AdapterKind::parse(a).ok_or_else(|| {
                    err(at("adapter"), format!("unknown adapter '{a}' (expected chat, json, plain or dspy)"))
                })?,
                None => default_adapter,
            };
            let base = self.options.unwrap_or_default();
            let own = p.options.unwrap_or_default();
            let options = CallOptions {
                temperature: own.temperature.or(base.temperature),
                max_tokens: own.max_tokens.or(base.max_tokens),
            };
            let predictor =
                Predictor { name: p.name.clone(), kind, signature: sig, demos: p.demos.clone(), adapter, options };
            b = b.predictor(predictor);
        }
        for (i, s) in self.steps.iter().enumerate() {
            let mut wiring = Vec::new();
            for (field, src) in &s.inputs {
                let Some(src) = src.as_str() else {
                    return Err(err(
                        format!("steps[{i}].inputs.{field}"),
                        "expected a source string such as \"question\" or \"draft.answer\"".into(),
                    ));
                };
                wiring.push((field.as_str(), src));
            }
            b = b.step(&s.predictor, &wiring);
        }
        for (name, src) in &self.outputs {
            let Some(src) = src.as_str() else {
                return Err(err(
                    format!("outputs.{name}"),
                    "expected a source string such as \"refine.answer\"".into(),
                ));
            };
            b = b.output(name, src);
        }
        b.build().map_err(|e| err(e.location, e.message))
    }
}

/// Loads and builds a program from a spec file.
pub fn load_program(path: &Path) -> Result<Program, SpecError> {
    ProgramSpec::load(path)?.build(&path.display().to_string())
}

fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_STEP: &str = r#"{
  "name": "qa",
  "predictors": [
    {"name": "draft", "signature": "question -> answer"},
    {"name": "refine", "module": "chain_of_thought", "signature": "question, draft -> answer: int",
     "instruction": "Fix the draft.", "descriptions": {"answer": "a number"}, "adapter": "plain"}
  ],
  "steps": [
    {"predictor": "draft"},
    {"predictor": "refine", "inputs": {"draft": "draft.answer"}}
  ],
  "outputs": {"answer": "refine.answer"}
}"#;

    #[test]
    fn builds_two_step() {
        let p = ProgramSpec::parse(TWO_STEP, false, "p.json").unwrap().build("p.json").unwrap();
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.input_fields(), vec!["question"]);
        assert_eq!(p.predictor("refine").unwrap().adapter, AdapterKind::Plain);
        assert_eq!(
            p.predictor("refine").unwrap().signature.field("answer").unwrap().description.as_deref(),
            Some("a number")
        );
    }

    #[test]
    fn yaml_equals_json() {
        let yaml = "name: qa\npredictors:\n  - name: solve\n    module: chain_of_thought\n    signature: 'question -> answer: float'\n";
        let p = ProgramSpec::parse(yaml, true, "p.yaml").unwrap().build("p.yaml").unwrap();
        assert_eq!(p.output_fields(), vec!["reasoning", "answer"]);
    }

    #[test]
    fn errors_say_where() {
        let e = ProgramSpec::parse("{\"name\": \"x\",\n \"predictors\": 3}", false, "p.json").unwrap_err();
        assert_eq!(e.to_string(), "p.json: line 2 column 16: invalid type: integer `3`, expected a sequence");
        let e = ProgramSpec::parse(r#"{"name": "x", "predictors": [], "stpes": []}"#, false, "p.json").unwrap_err();
        assert!(e.to_string().contains("unknown field `stpes`"), "{e}");
        let bad = TWO_STEP.replace("draft.answer", "draft.answr");
        let e = ProgramSpec::parse(&bad, false, "p.json").unwrap().build("p.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.json: steps[1].inputs.draft: predictor 'draft' has no output field 'answr' (outputs: answer)"
        );
        let bad = TWO_STEP.replace("question, draft -> answer: int", "question, draft -> answer: integer!");
        let e = ProgramSpec::parse(&bad, false, "p.json").unwrap().build("p.json").unwrap_err();
        assert!(e.to_string().starts_with("p.json: predictors[1].signature: invalid signature"), "{e}");
        let bad = TWO_STEP.replace("{\"predictor\": \"draft\"},", "");
        let e = ProgramSpec::parse(&bad, false, "p.json").unwrap().build("p.json").unwrap_err();
        assert!(e.to_string().contains("reads predictor 'draft' before it has run"), "{e}");
        let bad = TWO_STEP.replace("\"descriptions\": {\"answer\"", "\"descriptions\": {\"anser\"");
        let e = ProgramSpec::parse(&bad, false, "p.json").unwrap().build("p.json").unwrap_err();
        assert!(e.to_string().contains("predictors[1].descriptions.anser: no field 'anser'"), "{e}");
    }
}
