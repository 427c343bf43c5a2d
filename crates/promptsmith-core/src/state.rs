//! ProgramState: what an optimizer produces and the registry stores. Per predictor:
//! instruction, field descriptions, demos (and optionally the adapter), plus a format
//! version. Applying a state returns a new program; the original is never mutated.

use crate::adapter::{AdapterKind, Demo};
use crate::predict::REASONING_FIELD;
use crate::program::Program;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Current state format version.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// Learned parameters of one predictor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PredictorState {
    /// Instruction (`None`: keep the program's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Field descriptions by field name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Demos.
    #[serde(default)]
    pub demos: Vec<Demo>,
    /// Prompt layout (`None`: keep the program's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterKind>,
}

/// Learned parameters of a whole program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramState {
    /// Format version ([`STATE_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Name of the program it was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Per predictor, by name.
    pub predictors: BTreeMap<String, PredictorState>,
}

/// A state file that cannot be read: malformed JSON or an unsupported format version. The
/// message names the file and the place.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StateFileError {
    /// The file, as named by the caller.
    pub file: String,
    /// What is wrong, starting with the file name.
    pub message: String,
}

/// A state that does not fit the program.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("state does not fit program '{program}': {message}")]
pub struct StateError {
    /// Program name.
    pub program: String,
    /// Which predictor or field is wrong.
    pub message: String,
}

impl ProgramState {
    /// Reads a state from JSON text; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<ProgramState, StateFileError> {
        let fail = |message: String| StateFileError { file: file.to_string(), message };
        let state: ProgramState = serde_json::from_str(text)
            .map_err(|e| fail(format!("{file}: line {} column {}: {}", e.line(), e.column(), strip(&e.to_string()))))?;
        if state.format_version == 0 || state.format_version > STATE_FORMAT_VERSION {
            return Err(fail(format!(
                "{file}: format_version {} is not supported (this promptsmith reads version {STATE_FORMAT_VERSION})",
                state.format_version
            )));
        }
        Ok(state)
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn strip(msg: &str) -> String {
    msg.rfind(" at line ").map(|i| msg[..i].to_string()).unwrap_or_else(|| msg.to_string())
}

impl Program {
    /// The program's current learned parameters.
    pub fn state(&self) -> ProgramState {
        let predictors = self
            .predictors
            .iter()
            .map(|p| {
                let fields = p
                    .signature
                    .inputs
                    .iter()
                    .chain(&p.signature.outputs)
                    .filter_map(|f| f.description.clone().map(|d| (f.name.clone(), d)))
                    .collect();
                let st = PredictorState {
                    instruction: p.signature.instruction.clone(),
                    fields,
                    demos: p.demos.clone(),
                    adapter: Some(p.adapter),
                };
                (p.name.clone(), st)
            })
            .collect();
        ProgramState { format_version: STATE_FORMAT_VERSION, program: Some(self.name.clone()), predictors }
    }

    /// A copy of the program with `state` applied. Predictors absent from the state keep
    /// their parameters; anything in the state the program lacks is an error.
    pub fn with_state(&self, state: &ProgramState) -> Result<Program, StateError> {
        let err = |message: String| StateError { program: self.name.clone(), message };
        if state.format_version == 0 || state.format_version > STATE_FORMAT_VERSION {
            return Err(err(format!("unsupported format_version {}", state.format_version)));
        }
        let mut out = self.clone();
        for (name, ps) in &state.predictors {
            let known = self.predictors.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
            let p = out
                .predictor_mut(name)
                .ok_or_else(|| err(format!("state has predictor '{name}', the program has: {known}")))?;
            if let Some(i) = &ps.instruction {
                p.signature.instruction = Some(i.clone());
            }
            for (field, desc) in &ps.fields {
                if !p.signature.set_description(field, desc.clone()) {
                    return Err(err(format!(
                        "predictor '{name}': field '{field}' is not in its signature \"{}\"",
                        p.signature.to_signature_string()
                    )));
                }
            }
            let sig = p.effective_signature();
            for (i, demo) in ps.demos.iter().enumerate() {
                if !demo.keys().any(|k| sig.field(k).is_some()) {
                    return Err(err(format!(
                        "predictor '{name}': demo {i} has none of the signature's fields ({}); it has {}",
                        sig.to_signature_string(),
                        demo.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
                if demo.contains_key(REASONING_FIELD) && sig.field(REASONING_FIELD).is_none() && demo.len() == 1 {
                    return Err(err(format!("predictor '{name}': demo {i} has only a reasoning field")));
                }
            }
            p.demos = ps.demos.clone();
            if let Some(a) = ps.adapter {
                p.adapter = a;
            }
        }
        Ok(out)
    }
}

impl crate::HasKind for StateFileError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidInput
    }
}

impl crate::HasKind for StateError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::Predictor;
    use crate::signature::Signature;
    use serde_json::json;

    fn program() -> Program {
        Program::single(Predictor::chain_of_thought("solve", Signature::parse("question -> answer: int").unwrap()))
    }

    #[test]
    fn round_trips() {
        let p = program();
        let mut st = p.state();
        st.predictors.get_mut("solve").unwrap().instruction = Some("Be careful.".into());
        st.predictors.get_mut("solve").unwrap().demos =
            vec![json!({"question": "1+1", "reasoning": "add", "answer": 2}).as_object().cloned().unwrap()];
        let text = st.to_json();
        let back = ProgramState::from_json(&text, "s.json").unwrap();
        assert_eq!(back, st);
        let p2 = p.with_state(&back).unwrap();
        assert_eq!(p2.state(), st);
        assert_eq!(p.predictor("solve").unwrap().demos.len(), 0, "original untouched");
    }

    #[test]
    fn mismatches_are_named() {
        let p = program();
        let st: ProgramState =
            serde_json::from_value(json!({"format_version": 1, "predictors": {"slove": {}}})).unwrap();
        assert_eq!(
            p.with_state(&st).unwrap_err().to_string(),
            "state does not fit program 'solve': state has predictor 'slove', the program has: solve"
        );
        let st: ProgramState =
            serde_json::from_value(json!({"format_version": 1, "predictors": {"solve": {"fields": {"answr": "x"}}}}))
                .unwrap();
        assert!(p.with_state(&st).unwrap_err().message.contains("field 'answr' is not in its signature"));
        let st: ProgramState =
            serde_json::from_value(json!({"format_version": 1, "predictors": {"solve": {"demos": [{"foo": 1}]}}}))
                .unwrap();
        assert!(p.with_state(&st).unwrap_err().message.contains("demo 0 has none of the signature's fields"));
        let e = ProgramState::from_json(r#"{"format_version": 9, "predictors": {}}"#, "s.json").unwrap_err().message;
        assert!(e.contains("format_version 9 is not supported"), "{e}");
        let e = ProgramState::from_json(
            "{\"format_version\": 1,\n \"predictors\": {\"solve\": {\"demoz\": []}}}",
            "s.json",
        )
        .unwrap_err()
        .message;
        assert!(e.starts_with("s.json: line 2 column"), "{e}");
        assert!(e.contains("unknown field `demoz`"), "{e}");
    }
}
