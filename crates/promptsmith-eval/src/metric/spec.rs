//! Metric specs: a metric described in a small YAML or JSON file, so a composite of metrics and
//! LLM judges needs no code.
//!
//! ```yaml
//! composite:
//!   - name: accuracy
//!     weight: 0.5
//!     metric: numeric_match
//!     field: answer
//!   - name: reasoning
//!     weight: 0.3
//!     judge:
//!       field: reasoning
//!       rubric: The reasoning is correct, complete and leads to the answer.
//!   - name: brevity
//!     weight: 0.2
//!     judge: { field: reasoning, rubric: "At most five short sentences.", min: 1, max: 5 }
//! ```
//!
//! A spec is exactly one of `metric` (a built-in id, with an optional `field`), `judge` or
//! `composite` (a list of specs, each with a `name` and a `weight`).

use super::composite::WeightedComposite;
use super::judge::LlmJudge;
use super::{metric_by_name, Metric};
use crate::error::{EvalError, Result};
use promptsmith_core::{AdapterKind, LanguageModel};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// A metric described declaratively.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// Name of this part inside a composite (also the report name of a composite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Weight inside a composite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// A built-in metric id (`exact_match`, `numeric_match:1e-3`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The prediction field a built-in metric compares (default: the command's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// An LLM judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSpec>,
    /// A weighted composite of parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite: Option<Vec<MetricSpec>>,
}

/// An LLM judge in a [`MetricSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    /// What a good response does.
    pub rubric: String,
    /// The prediction field graded (default: the command's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The label field shown as reference (default: the graded field; `""` for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_field: Option<String>,
    /// Lowest score the judge gives (default 0).
    #[serde(default)]
    pub min: f64,
    /// Highest score the judge gives (default 1).
    #[serde(default = "one")]
    pub max: f64,
    /// Replaces the judge instruction (`{min}`/`{max}` are filled in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Prompt layout of the judge: chat (default), json or plain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

fn one() -> f64 {
    1.0
}

impl MetricSpec {
    /// Reads a spec from a `.yaml`/`.yml` or `.json` file; errors name the file and the place.
    pub fn from_file(path: &Path) -> Result<MetricSpec> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.into(), source })?;
        let shown = path.display().to_string();
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let spec: MetricSpec = if is_json {
            serde_json::from_str(&text).map_err(|e| {
                EvalError::data(format!("{shown} line {} column {}", e.line(), e.column()), e.to_string())
            })?
        } else {
            serde_yaml::from_str(&text).map_err(|e| {
                let place = match e.location() {
                    Some(l) => format!("{shown} line {} column {}", l.line(), l.column()),
                    None => shown.clone(),
                };
                EvalError::data(place, e.to_string())
            })?
        };
        spec.validate("").map_err(|e| EvalError::data(shown, e))?;
        Ok(spec)
    }

    /// The label fields this spec reads from each example when it scores output `field` (checked
    /// before any model call): the compared field (its own `field` when it names one), IFEval's
    /// instruction list and kwargs, `pass` for `judge`, `score` for `rubric`, nothing for a fixed
    /// regex without a capture group.
    pub fn required_labels(&self, field: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(id) = &self.metric {
            let (base, param) = id.split_once(':').map(|(b, p)| (b, Some(p))).unwrap_or((id.as_str(), None));
            let f = self.field.clone().unwrap_or_else(|| field.to_string());
            match base {
                "ifeval" => out.extend(["instruction_id_list".to_string(), "kwargs".to_string()]),
                // The evaluators' metrics read fixed labels, whatever the compared field.
                "judge" => out.push("pass".into()),
                "rubric" => out.push("score".into()),
                "regex" if param.is_some_and(|p| !p.contains('(')) => {}
                _ => out.push(f),
            }
        }
        for part in self.composite.iter().flatten() {
            for l in part.required_labels(field) {
                if !out.contains(&l) {
                    out.push(l);
                }
            }
        }
        out
    }

    /// Whether building this spec needs a judge model.
    pub fn needs_judge(&self) -> bool {
        self.judge.is_some() || self.composite.iter().flatten().any(MetricSpec::needs_judge)
    }

    /// Checks the shape: exactly one kind, composites with named, weighted parts.
    pub fn validate(&self, at: &str) -> std::result::Result<(), String> {
        let here = if at.is_empty() { "metric spec".to_string() } else { at.to_string() };
        let kinds = [self.metric.is_some(), self.judge.is_some(), self.composite.is_some()];
        match kinds.iter().filter(|k| **k).count() {
            1 => {}
            0 => return Err(format!("{here}: give one of `metric`, `judge` or `composite`")),
            _ => return Err(format!("{here}: give only one of `metric`, `judge` or `composite`")),
        }
        if let Some(judge) = &self.judge {
            if judge.rubric.trim().is_empty() {
                return Err(format!("{here}.judge.rubric: empty; say what a good response does"));
            }
            if judge.max <= judge.min || judge.max.is_nan() || judge.min.is_nan() {
                return Err(format!("{here}.judge: max ({}) must be above min ({})", judge.max, judge.min));
            }
            if let Some(a) = &judge.adapter {
                parse_adapter(a).map_err(|e| format!("{here}.judge.adapter: {e}"))?;
            }
        }
        if let Some(parts) = &self.composite {
            if parts.is_empty() {
                return Err(format!("{here}.composite: no parts"));
            }
            for (i, part) in parts.iter().enumerate() {
                let at = format!("{}composite[{i}]", if at.is_empty() { String::new() } else { format!("{at}.") });
                if part.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
                    return Err(format!("{at}: missing `name`"));
                }
                match part.weight {
                    Some(w) if w.is_finite() && w > 0.0 => {}
                    Some(w) => return Err(format!("{at}.weight: {w} is not a positive number")),
                    None => return Err(format!("{at}: missing `weight`")),
                }
                part.validate(&at)?;
            }
        }
        Ok(())
    }

    /// Builds the metric. `default_field` is used where the spec names no field; `judge_lm` is
    /// required when [`MetricSpec::needs_judge`].
    #[allow(clippy::needless_pass_by_value)] // the judge is shared into every part that needs one
    pub fn build(&self, default_field: &str, judge_lm: Option<Arc<dyn LanguageModel>>) -> Result<Arc<dyn Metric>> {
        self.validate("").map_err(|message| EvalError::InvalidMetric { id: "spec".into(), message })?;
        self.build_inner(default_field, &judge_lm)
    }

    fn build_inner(&self, default_field: &str, judge_lm: &Option<Arc<dyn LanguageModel>>) -> Result<Arc<dyn Metric>> {
        let field = self.field.as_deref().unwrap_or(default_field);
        if let Some(id) = &self.metric {
            return Ok(Arc::from(metric_by_name(id, field)?));
        }
        if let Some(j) = &self.judge {
            let lm = judge_lm.clone().ok_or_else(|| EvalError::InvalidMetric {
                id: "judge".into(),
                message: "this metric uses an LLM judge but no judge model is configured".into(),
            })?;
            let field = j.field.as_deref().unwrap_or(field);
            let reference = match j.reference_field.as_deref() {
                Some("") => None,
                Some(r) => Some(r.to_string()),
                None => Some(field.to_string()),
            };
            let mut judge = LlmJudge::new(lm, j.rubric.clone(), field)?.with_scale(j.min, j.max)?;
            if let Some(instruction) = &j.instruction {
                judge = judge.with_instruction(instruction)?;
            }
            if let Some(a) = &j.adapter {
                judge = judge.with_adapter(
                    parse_adapter(a).map_err(|message| EvalError::InvalidMetric { id: "judge".into(), message })?,
                );
            }
            judge = judge.with_reference_field(reference);
            if let Some(name) = &self.name {
                judge = judge.with_name(name.clone());
            }
            return Ok(Arc::new(judge));
        }
        let mut composite = WeightedComposite::new(self.name.clone().unwrap_or_else(|| "composite".into()));
        for part in self.composite.iter().flatten() {
            let metric = part.build_inner(field, judge_lm)?;
            composite = composite.part(part.name.clone().unwrap_or_default(), part.weight.unwrap_or(1.0), metric)?;
        }
        Ok(Arc::new(composite))
    }
}

fn parse_adapter(name: &str) -> std::result::Result<AdapterKind, String> {
    AdapterKind::parse(name).ok_or_else(|| format!("unknown adapter '{name}' (expected chat, json, plain or dspy)"))
}

#[cfg(test)]
mod tests;
