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
//!
//! A predictor may also have a `wrap` (an inference-time module: `best_of_n`, `refine`,
//! `majority_vote`; see [`crate::wrap`]), `constraints` on its outputs with `max_retries`
//! (see [`crate::constraint`]), and the program an `ensemble` of states (see
//! [`crate::ensemble`]):
//!
//! ```json
//! {"name": "solve", "signature": "question -> answer: int",
//!  "wrap": {"module": "refine", "n": 3},
//!  "constraints": {"answer": {"min": 0, "max": 1000}}, "max_retries": 2}
//! ```

use crate::adapter::{AdapterKind, Demo};
use crate::constraint::{FieldRules, MAX_RETRIES_LIMIT};
use crate::ensemble::{Ensemble, Reducer};
use crate::predict::{CallOptions, Predictor, PredictorKind};
use crate::program::{Program, ProgramBuilder};
use crate::signature::Signature;
use crate::state::{ProgramState, STATE_FORMAT_VERSION};
use crate::wrap::{JudgeReward, SharedReward, Wrap};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

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
    /// Run the program under several states and reduce their predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleSpec>,
}

/// An ensemble in a spec: member states and the reducer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    /// State files (relative to the spec) or inline states (`{}`: the program's own state).
    pub members: Vec<Value>,
    /// `majority` (default) or `judge` (the member the model rates best against `rubric`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reducer: Option<String>,
    /// What the `judge` reducer rates the members' outputs against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
    /// Program outputs voted on (default every output but `reasoning`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
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
    /// Inference-time module around the predictor's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap: Option<Wrap>,
    /// Rules on output fields, by field name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constraints: BTreeMap<String, FieldRules>,
    /// Retries after a constraint violation (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
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
        let mut spec = Self::parse(&text, yaml, &file)?;
        spec.inline_members(&file)?;
        Ok(spec)
    }

    /// Replaces the ensemble's state-file members by the states they hold, so the spec
    /// stands alone (as the registry stores it).
    fn inline_members(&mut self, file: &str) -> Result<(), SpecError> {
        let Some(e) = &mut self.ensemble else { return Ok(()) };
        for (i, m) in e.members.iter_mut().enumerate() {
            if m.is_string() {
                let state = member_state(m, file).map_err(|message| SpecError {
                    file: file.into(),
                    location: format!("ensemble.members[{i}]: "),
                    message,
                })?;
                *m = serde_json::to_value(&state).unwrap_or_default();
            }
        }
        Ok(())
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
            let mut predictor =
                Predictor { kind, demos: p.demos.clone(), adapter, options, ..Predictor::new(&p.name, sig) };
            p.apply_calling(&mut predictor).map_err(|(location, message)| err(at(&location), message))?;
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
        let mut program = b.build().map_err(|e| err(e.location, e.message))?;
        if let Some(e) = &self.ensemble {
            program.ensemble = Some(e.build(&program, file).map_err(|(location, message)| err(location, message))?);
        }
        Ok(program)
    }
}

impl PredictorSpec {
    /// Sets the wrapper and constraints on `p`; errors name the key under the predictor.
    fn apply_calling(&self, p: &mut Predictor) -> Result<(), (String, String)> {
        let sig = p.effective_signature();
        if let Some(w) = &self.wrap {
            w.validate(&sig).map_err(|e| (format!("wrap.{}", e.rule), e.message))?;
            p.wrap = Some(w.clone());
        }
        for (field, rules) in &self.constraints {
            let at = format!("constraints.{field}");
            let Some(f) = sig.outputs.iter().find(|f| &f.name == field) else {
                let outs = sig.outputs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
                let why = if sig.inputs.iter().any(|f| &f.name == field) {
                    "is an input; constraints apply to outputs"
                } else {
                    "is not a field"
                };
                return Err((at, format!("'{field}' {why} (outputs: {outs})")));
            };
            let compiled = rules.compile(f).map_err(|e| (format!("{at}.{}", e.rule), e.message))?;
            p.constraints.set_rules(compiled);
        }
        if let Some(n) = self.max_retries {
            if n > MAX_RETRIES_LIMIT {
                return Err(("max_retries".into(), format!("expected at most {MAX_RETRIES_LIMIT}, got {n}")));
            }
            p.constraints.max_retries = n;
        }
        Ok(())
    }
}

impl EnsembleSpec {
    /// The ensemble over `program`; errors name the key under `ensemble`.
    fn build(&self, program: &Program, file: &str) -> Result<Ensemble, (String, String)> {
        if self.members.is_empty() {
            return Err(("ensemble.members".into(), "an ensemble needs at least one member".into()));
        }
        let mut members = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            let at = format!("ensemble.members[{i}]");
            let state = member_state(m, file).map_err(|e| (at.clone(), e))?;
            program.with_state(&state).map_err(|e| (at, e.to_string()))?;
            members.push(state);
        }
        let outputs = program.output_fields();
        for (i, f) in self.fields.iter().enumerate() {
            if !outputs.contains(f) {
                return Err((
                    format!("ensemble.fields[{i}]"),
                    format!("no program output '{f}' (outputs: {})", outputs.join(", ")),
                ));
            }
        }
        let judge = self.reducer.as_deref() == Some("judge");
        let at_rubric = |m: &str| Err(("ensemble.rubric".to_string(), m.to_string()));
        match &self.rubric {
            Some(_) if !judge => return at_rubric("needs \"reducer\": \"judge\""),
            Some(r) if r.trim().is_empty() => return at_rubric("expected a non-empty rubric"),
            None if judge => return at_rubric("the judge reducer needs a rubric"),
            _ => {}
        }
        if judge && !self.fields.is_empty() {
            return Err(("ensemble.fields".into(), "applies to the majority reducer, not judge".into()));
        }
        let reducer = match (self.reducer.as_deref(), &self.rubric) {
            (None | Some("majority"), _) => Reducer::Majority { fields: self.fields.clone() },
            (Some("judge"), Some(rubric)) => {
                Reducer::Best(SharedReward(Arc::new(JudgeReward { rubric: rubric.clone() })))
            }
            (Some(other), _) => {
                return Err((
                    "ensemble.reducer".into(),
                    format!(
                        "unknown reducer '{other}' (expected majority or judge; Rust programs may reduce by any reward with Reducer::Best)"
                    ),
                ))
            }
        };
        Ok(Ensemble { members, reducer, in_state: false })
    }
}

/// A member's state: a state file (relative to the spec file's directory) or an inline state,
/// whose `format_version` and `predictors` may be left out.
fn member_state(member: &Value, file: &str) -> Result<ProgramState, String> {
    match member {
        Value::String(path) => {
            let full = Path::new(file).parent().unwrap_or(Path::new("")).join(path);
            let text = std::fs::read_to_string(&full)
                .map_err(|e| format!("cannot read state file {}: {e}", full.display()))?;
            ProgramState::from_json(&text, &full.display().to_string()).map_err(|e| e.message)
        }
        Value::Object(obj) => {
            let mut obj = obj.clone();
            obj.entry("format_version").or_insert(Value::from(STATE_FORMAT_VERSION));
            obj.entry("predictors").or_insert(Value::Object(Map::new()));
            ProgramState::from_json(&Value::Object(obj).to_string(), "inline state").map_err(|e| {
                e.message
                    .strip_prefix("inline state: line 1 column ")
                    .and_then(|m| m.split_once(": "))
                    .map(|(_, m)| m.to_string())
                    .unwrap_or(e.message)
            })
        }
        _ => Err("expected a state file name or an inline state object".into()),
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

    #[test]
    fn planned_calls_count_steps_attempts_judges_and_members() {
        let build = |v: serde_json::Value| {
            ProgramSpec::parse(&v.to_string(), false, "p.json").unwrap().build("p.json").unwrap()
        };
        let pred = |extra: serde_json::Value| {
            let mut p = serde_json::json!({"name": "solve", "signature": "question -> answer: int"});
            p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            p
        };
        let one = |extra| build(serde_json::json!({"name": "x", "predictors": [pred(extra)]}));
        assert_eq!(one(serde_json::json!({})).planned_calls_per_run(), 1);
        assert_eq!(one(serde_json::json!({"wrap": {"module": "majority_vote", "n": 5}})).planned_calls_per_run(), 5);
        let judged = serde_json::json!({"wrap": {"module": "best_of_n", "n": 3, "reward": "judge", "rubric": "right"}});
        assert_eq!(one(judged).planned_calls_per_run(), 6, "each attempt and its rating");
        let constrained = serde_json::json!({"constraints": {"answer": {"min": 0}}, "max_retries": 2});
        assert_eq!(one(constrained).planned_calls_per_run(), 3);
        let two = ProgramSpec::parse(TWO_STEP, false, "p.json").unwrap().build("p.json").unwrap();
        assert_eq!(two.planned_calls_per_run(), 2);
        let ensemble = |reducer: serde_json::Value| {
            let mut e = serde_json::json!({"members": [{}, {}, {}]});
            e.as_object_mut().unwrap().extend(reducer.as_object().unwrap().clone());
            build(serde_json::json!({"name": "x", "predictors": [pred(serde_json::json!({}))], "ensemble": e}))
        };
        assert_eq!(ensemble(serde_json::json!({"reducer": "majority"})).planned_calls_per_run(), 3);
        assert_eq!(ensemble(serde_json::json!({"reducer": "judge", "rubric": "best"})).planned_calls_per_run(), 6);
    }

    const WRAPPED: &str = r#"{
  "name": "w",
  "predictors": [
    {"name": "solve", "module": "chain_of_thought", "signature": "question -> answer: int, unit",
     "wrap": {"module": "refine", "n": 3, "reward": "constraints", "threshold": 1.0},
     "constraints": {"answer": {"min": 0, "max": 100}, "unit": {"regex": "[a-z]+", "max_length": 5}},
     "max_retries": 1}
  ]
}"#;

    fn build_err(text: &str) -> String {
        ProgramSpec::parse(text, false, "p.json").unwrap().build("p.json").unwrap_err().to_string()
    }

    #[test]
    fn wrappers_and_constraints_build_and_round_trip() {
        let spec = ProgramSpec::parse(WRAPPED, false, "p.json").unwrap();
        let p = spec.build("p.json").unwrap();
        let solve = p.predictor("solve").unwrap();
        assert_eq!(solve.wrap.as_ref().unwrap().module, crate::wrap::WrapKind::Refine);
        assert_eq!(solve.constraints.rules().len(), 2);
        assert_eq!(solve.constraints.max_retries, 1);
        assert_eq!(solve.max_lm_calls(), 6, "three attempts, each with its JSON retry");
        assert_eq!(solve.planned_calls(), 3, "three attempts, ranked by the constraints (no call)");
        assert_eq!(p.planned_calls_per_run(), 3);
        let text = serde_json::to_string(&spec).unwrap();
        let back = ProgramSpec::parse(&text, false, "p.json").unwrap();
        assert_eq!(back, spec);
        assert_eq!(back.build("p.json").unwrap(), p);
        let yaml = serde_yaml::to_string(&spec).unwrap();
        assert_eq!(ProgramSpec::parse(&yaml, true, "p.yaml").unwrap(), spec);
        let plain =
            WRAPPED.replace(r#""wrap": {"module": "refine", "n": 3, "reward": "constraints", "threshold": 1.0},"#, "");
        assert_ne!(p.hash(), ProgramSpec::parse(&plain, false, "p.json").unwrap().build("p.json").unwrap().hash());
        // The state holds what optimizers tune; the wrapper and constraints stay in the spec.
        let state = p.state();
        assert_eq!(p.with_state(&state).unwrap(), p);
        let dropped = crate::dspy::dropped_in_export(&p);
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert_eq!(
            crate::dspy::export_dspy(&p)["metadata"]["promptsmith_dropped"][1],
            "solve: constraints on answer, unit"
        );
    }

    #[test]
    fn wrapper_and_constraint_errors_say_where() {
        let bad = WRAPPED.replace("\"regex\": \"[a-z]+\"", "\"regex\": \"[a-z\"");
        let e = build_err(&bad);
        assert!(e.starts_with("p.json: predictors[0].constraints.unit.regex: invalid regex: regex parse error"), "{e}");
        let e = build_err(&WRAPPED.replace("\"n\": 3", "\"n\": 0"));
        assert_eq!(e, "p.json: predictors[0].wrap.n: expected 1 to 64, got 0");
        let e = build_err(&WRAPPED.replace(r#""reward": "constraints""#, r#""reward": "f1""#));
        assert!(
            e.starts_with("p.json: predictors[0].wrap.reward: unknown reward 'f1' (built in: constraints, judge"),
            "{e}"
        );
        let e = build_err(&WRAPPED.replace(r#""reward": "constraints""#, r#""reward": "judge""#));
        assert_eq!(e, "p.json: predictors[0].wrap.rubric: the judge reward needs a rubric");
        let e = build_err(&WRAPPED.replace("\"unit\": {", "\"question\": {"));
        assert_eq!(e, "p.json: predictors[0].constraints.question: 'question' is an input; constraints apply to outputs (outputs: reasoning, answer, unit)");
        let e = build_err(&WRAPPED.replace("\"min\": 0, ", "\"min_length\": 0, "));
        assert_eq!(
            e,
            "p.json: predictors[0].constraints.answer.min_length: applies to text and list fields; 'answer' is int"
        );
        let e = build_err(&WRAPPED.replace("\"max_retries\": 1", "\"max_retries\": 99"));
        assert_eq!(e, "p.json: predictors[0].max_retries: expected at most 10, got 99");
        let e =
            ProgramSpec::parse(&WRAPPED.replace("\"module\": \"refine\"", "\"module\": \"refin\""), false, "p.json")
                .unwrap_err();
        assert!(
            e.to_string().contains("unknown variant `refin`, expected one of `best_of_n`, `refine`, `majority_vote`"),
            "{e}"
        );
        let e = ProgramSpec::parse(&WRAPPED.replace("\"max\": 100", "\"maximum\": 100"), false, "p.json").unwrap_err();
        assert!(e.to_string().contains("unknown field `maximum`"), "{e}");
    }
}
