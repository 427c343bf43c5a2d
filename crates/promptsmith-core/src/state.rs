//! ProgramState: what an optimizer produces and the registry stores. Per predictor:
//! instruction, field descriptions, demos (and optionally the adapter), plus a format
//! version. Applying a state returns a new program; the original is never mutated.

use crate::adapter::{AdapterKind, Demo};
use crate::ensemble::{Ensemble, Reducer};
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
    /// An ensemble of states (an optimizer's best candidates, `optimize --ensemble K`): the
    /// program then runs once per member and keeps the majority answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleState>,
}

/// The members of an ensemble kept in a state, and what they vote on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleState {
    /// Each member's state, applied over the program's own.
    pub members: Vec<ProgramState>,
    /// Outputs voted on (empty: every output but `reasoning`); a spec's own ensemble keeps its
    /// reducer instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
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
        let ensemble = self.ensemble.as_ref().filter(|e| e.in_state).map(|e| EnsembleState {
            members: e.members.clone(),
            fields: match &e.reducer {
                Reducer::Majority { fields } => fields.clone(),
                Reducer::Best(_) => Vec::new(),
            },
        });
        ProgramState { format_version: STATE_FORMAT_VERSION, program: Some(self.name.clone()), predictors, ensemble }
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
        if let Some(e) = &state.ensemble {
            out.ensemble = Some(self.state_ensemble(e).map_err(err)?);
        }
        Ok(out)
    }

    /// The ensemble a state's members make: each must fit the program and be no ensemble
    /// itself; a spec's own reducer is kept, else the majority vote over `fields`.
    fn state_ensemble(&self, e: &EnsembleState) -> Result<Ensemble, String> {
        let members = &e.members;
        if members.is_empty() {
            return Err("ensemble: no member".into());
        }
        let outputs = self.output_fields();
        if let Some(f) = e.fields.iter().find(|f| !outputs.contains(f)) {
            return Err(format!("ensemble: '{f}' is not an output of the program (outputs: {})", outputs.join(", ")));
        }
        let base = Program { ensemble: None, ..self.clone() };
        for (i, m) in members.iter().enumerate() {
            if m.ensemble.is_some() {
                return Err(format!("ensemble member {i} is an ensemble itself"));
            }
            base.with_state(m).map_err(|e| format!("ensemble member {i}: {}", e.message))?;
        }
        let reducer = match &self.ensemble {
            Some(spec) => spec.reducer.clone(),
            None => Reducer::Majority { fields: e.fields.clone() },
        };
        Ok(Ensemble { members: members.to_vec(), reducer, in_state: true })
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
    fn an_ensemble_of_states_applies_and_round_trips() {
        let p = program();
        let member = |i: &str| {
            let mut st = p.state();
            st.predictors.get_mut("solve").unwrap().instruction = Some(i.into());
            st
        };
        let mut st = member("Base.");
        st.ensemble = Some(EnsembleState { members: vec![member("A."), member("B.")], fields: vec!["answer".into()] });
        let text = st.to_json();
        assert_eq!(ProgramState::from_json(&text, "s.json").unwrap(), st);
        let p2 = p.with_state(&st).unwrap();
        let e = p2.ensemble.as_ref().unwrap();
        assert_eq!((e.members.len(), e.in_state), (2, true));
        assert_eq!(e.reducer, Reducer::Majority { fields: vec!["answer".into()] });
        assert_eq!(p2.state(), st, "the state carries its members");
        assert!(p.ensemble.is_none() && p.state().ensemble.is_none());
        // Members must fit, be no ensembles, and vote on outputs.
        let mut bad = st.clone();
        bad.ensemble.as_mut().unwrap().fields = vec!["question".into()];
        assert!(p.with_state(&bad).unwrap_err().to_string().contains("'question' is not an output"));
        let mut nested = st.clone();
        nested.ensemble.as_mut().unwrap().members[1] = st.clone();
        assert!(p.with_state(&nested).unwrap_err().to_string().contains("member 1 is an ensemble itself"));
        let mut unknown = st.clone();
        unknown.ensemble.as_mut().unwrap().members[0].predictors.insert("nope".into(), PredictorState::default());
        assert!(p.with_state(&unknown).unwrap_err().to_string().contains("ensemble member 0"));
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
