//! What changed between two registered versions: instructions, demos, field descriptions and
//! prompt layout per predictor, compared on the *effective* state (the spec with the state
//! applied), so a state that leaves an instruction unset is compared with the spec's.

use crate::error::Result;
use crate::registry::ProgramVersion;
use promptsmith_core::PredictorState;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Changes in one predictor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PredictorDiff {
    /// Predictor name.
    pub predictor: String,
    /// `(old, new)` instruction when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Option<String>>>)]
    pub instruction: Option<(Option<String>, Option<String>)>,
    /// Demos only the new version has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demos_added: Vec<Value>,
    /// Demos only the old version has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demos_removed: Vec<Value>,
    /// Whether the demos are the same set in a different order.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demos_reordered: bool,
    /// Field descriptions that changed: field -> (old, new).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, Vec<Option<String>>>)]
    pub fields: BTreeMap<String, (Option<String>, Option<String>)>,
    /// `(old, new)` prompt layout when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Option<String>>>)]
    pub adapter: Option<(Option<String>, Option<String>)>,
}

impl PredictorDiff {
    fn is_empty(&self) -> bool {
        self.instruction.is_none()
            && self.demos_added.is_empty()
            && self.demos_removed.is_empty()
            && !self.demos_reordered
            && self.fields.is_empty()
            && self.adapter.is_none()
    }
}

/// Differences between two versions of a program.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionDiff {
    /// Program name.
    pub program: String,
    /// Old version.
    pub from: i64,
    /// New version.
    pub to: i64,
    /// Whether the program spec itself changed (signatures, steps...).
    pub spec_changed: bool,
    /// Predictors only the new version has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predictors_added: Vec<String>,
    /// Predictors only the old version has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predictors_removed: Vec<String>,
    /// Predictors whose parameters changed.
    pub changed: Vec<PredictorDiff>,
}

impl VersionDiff {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        !self.spec_changed
            && self.predictors_added.is_empty()
            && self.predictors_removed.is_empty()
            && self.changed.is_empty()
    }

    /// A human-readable rendering.
    pub fn render(&self) -> String {
        let mut out = format!("{} version {} -> {}\n", self.program, self.from, self.to);
        if self.is_empty() {
            out.push_str("  no differences\n");
            return out;
        }
        if self.spec_changed {
            out.push_str("  program spec changed\n");
        }
        for p in &self.predictors_added {
            out.push_str(&format!("  + predictor {p}\n"));
        }
        for p in &self.predictors_removed {
            out.push_str(&format!("  - predictor {p}\n"));
        }
        let text = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
        for c in &self.changed {
            out.push_str(&format!("  predictor {}:\n", c.predictor));
            if let Some((old, new)) = &c.instruction {
                out.push_str(&format!("    instruction:\n      - {}\n      + {}\n", text(old), text(new)));
            }
            for d in &c.demos_removed {
                out.push_str(&format!("    - demo {d}\n"));
            }
            for d in &c.demos_added {
                out.push_str(&format!("    + demo {d}\n"));
            }
            if c.demos_reordered {
                out.push_str("    demos reordered\n");
            }
            for (field, (old, new)) in &c.fields {
                out.push_str(&format!("    field {field}: {} -> {}\n", text(old), text(new)));
            }
            if let Some((old, new)) = &c.adapter {
                out.push_str(&format!("    adapter: {} -> {}\n", text(old), text(new)));
            }
        }
        out
    }
}

fn adapter_name(p: &PredictorState) -> Option<String> {
    p.adapter.and_then(|a| serde_json::to_value(a).ok()).and_then(|v| v.as_str().map(str::to_string))
}

fn diff_predictor(name: &str, old: &PredictorState, new: &PredictorState) -> PredictorDiff {
    let mut d = PredictorDiff { predictor: name.to_string(), ..PredictorDiff::default() };
    if old.instruction != new.instruction {
        d.instruction = Some((old.instruction.clone(), new.instruction.clone()));
    }
    let old_demos: Vec<Value> = old.demos.iter().cloned().map(Value::Object).collect();
    let new_demos: Vec<Value> = new.demos.iter().cloned().map(Value::Object).collect();
    d.demos_added = new_demos.iter().filter(|x| !old_demos.contains(x)).cloned().collect();
    d.demos_removed = old_demos.iter().filter(|x| !new_demos.contains(x)).cloned().collect();
    d.demos_reordered = d.demos_added.is_empty() && d.demos_removed.is_empty() && old_demos != new_demos;
    let names: std::collections::BTreeSet<&String> = old.fields.keys().chain(new.fields.keys()).collect();
    for f in names {
        let (a, b) = (old.fields.get(f).cloned(), new.fields.get(f).cloned());
        if a != b {
            d.fields.insert(f.clone(), (a, b));
        }
    }
    let (a, b) = (adapter_name(old), adapter_name(new));
    if a != b {
        d.adapter = Some((a, b));
    }
    d
}

/// Compares two versions (normally of the same program) on their effective states.
pub fn diff_versions(old: &ProgramVersion, new: &ProgramVersion) -> Result<VersionDiff> {
    let old_state = old.program()?.state();
    let new_state = new.program()?.state();
    let mut diff = VersionDiff {
        program: new.program.clone(),
        from: old.version,
        to: new.version,
        spec_changed: old.spec != new.spec,
        ..VersionDiff::default()
    };
    for (name, n) in &new_state.predictors {
        match old_state.predictors.get(name) {
            None => diff.predictors_added.push(name.clone()),
            Some(o) => {
                let d = diff_predictor(name, o, n);
                if !d.is_empty() {
                    diff.changed.push(d);
                }
            }
        }
    }
    diff.predictors_removed =
        old_state.predictors.keys().filter(|k| !new_state.predictors.contains_key(*k)).cloned().collect();
    Ok(diff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use promptsmith_core::{ProgramSpec, ProgramState};
    use serde_json::json;

    fn version(n: i64, state: serde_json::Value) -> ProgramVersion {
        let spec = ProgramSpec::parse(
            r#"{"name": "qa", "predictors": [{"name": "answer", "signature": "question -> answer", "instruction": "Answer."}]}"#,
            false,
            "spec",
        )
        .unwrap();
        let state: ProgramState = serde_json::from_value(state).unwrap();
        ProgramVersion {
            program: "qa".into(),
            version: n,
            state,
            spec,
            parent_version: None,
            optimizer: None,
            params: json!({}),
            scores: json!({}),
            dataset_hash: None,
            run_id: None,
            created_by: "t".into(),
            note: String::new(),
            created_at: 0,
        }
    }

    #[test]
    fn shows_changed_instruction_and_demos() {
        let a = version(
            1,
            json!({"format_version": 1, "predictors": {"answer": {"demos": [{"question": "1+1", "answer": "2"}]}}}),
        );
        let b = version(
            2,
            json!({"format_version": 1, "predictors": {"answer": {"instruction": "Answer briefly.",
                "demos": [{"question": "2+2", "answer": "4"}]}}}),
        );
        let d = diff_versions(&a, &b).unwrap();
        assert!(!d.spec_changed);
        assert_eq!(d.changed.len(), 1);
        let p = &d.changed[0];
        // The old state leaves the instruction unset: compared with the spec's.
        assert_eq!(p.instruction, Some((Some("Answer.".into()), Some("Answer briefly.".into()))));
        assert_eq!(p.demos_added, vec![json!({"question": "2+2", "answer": "4"})]);
        assert_eq!(p.demos_removed, vec![json!({"question": "1+1", "answer": "2"})]);
        let text = d.render();
        assert!(text.contains("+ Answer briefly.") && text.contains("- demo"), "{text}");
    }

    #[test]
    fn identical_versions_have_no_diff_and_reorders_are_seen() {
        let s =
            json!({"format_version": 1, "predictors": {"answer": {"demos": [{"question": "a"}, {"question": "b"}]}}});
        let a = version(1, s.clone());
        let d = diff_versions(&a, &version(2, s)).unwrap();
        assert!(d.is_empty(), "{d:?}");
        assert!(d.render().contains("no differences"));
        let r = version(
            3,
            json!({"format_version": 1, "predictors": {"answer": {"demos": [{"question": "b"}, {"question": "a"}]}}}),
        );
        let d = diff_versions(&a, &r).unwrap();
        assert!(d.changed[0].demos_reordered);
    }
}
