//! LLM-as-judge: a judge predictor grades a prediction against a rubric and returns a score in
//! `[0, 1]` with its reasoning (which becomes the feedback text optimizers read).

use super::{clamp_score, Metric, MetricResult, MetricSpend};
use crate::error::{EvalError, Result};
use async_trait::async_trait;
use promptsmith_core::{
    value_to_text, AdapterKind, Example, Field, FieldType, LanguageModel, Prediction, Predictor, Signature,
};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Instruction of the judge predictor; `{min}` and `{max}` are replaced by the scale.
pub const DEFAULT_JUDGE_INSTRUCTION: &str = "You are a careful, strict grader. Read the task, the reference answer \
(it may be empty) and the response. Judge the response only against the rubric. Explain your judgement briefly, \
then give a score from {min} to {max}, where {max} means the rubric is fully met and {min} means it is not met at all.";

/// What the judge writes when the example has no reference answer.
const NO_REFERENCE: &str = "(no reference answer)";

/// A metric that asks a model to grade the prediction.
///
/// The judge sees the example's inputs (`task`), the reference label when there is one
/// (`reference`), the predicted field (`response`) and the rubric, and answers `reasoning` and a
/// numeric `score` on the configured scale (default 0 to 1), which is mapped linearly to `[0, 1]`.
/// A judge call that fails, or answers no usable score, is a metric error (see
/// [`MetricResult::metric_error`]), never a silent zero.
pub struct LlmJudge {
    name: String,
    lm: Arc<dyn LanguageModel>,
    predictor: Predictor,
    rubric: String,
    field: String,
    reference_field: Option<String>,
    scale: (f64, f64),
    instruction: String,
}

impl std::fmt::Debug for LlmJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmJudge")
            .field("name", &self.name)
            .field("model", &self.lm.model_name())
            .field("rubric", &self.rubric)
            .field("field", &self.field)
            .field("scale", &self.scale)
            .finish()
    }
}

impl LlmJudge {
    /// A judge grading `field` against `rubric` with `lm`, on a 0-to-1 scale.
    pub fn new(lm: Arc<dyn LanguageModel>, rubric: impl Into<String>, field: impl Into<String>) -> Result<Self> {
        let field = field.into();
        let mut judge = LlmJudge {
            name: "judge".into(),
            lm,
            predictor: Predictor::new("judge", judge_signature(DEFAULT_JUDGE_INSTRUCTION, (0.0, 1.0))?),
            rubric: rubric.into(),
            reference_field: Some(field.clone()),
            field,
            scale: (0.0, 1.0),
            instruction: DEFAULT_JUDGE_INSTRUCTION.to_string(),
        };
        if judge.rubric.trim().is_empty() {
            return Err(invalid("the rubric is empty: say what a good response does"));
        }
        judge.predictor.options.temperature = Some(0.0);
        Ok(judge)
    }

    /// The judge answers on `min..=max` (e.g. 1 to 5); scores are mapped to `[0, 1]`.
    pub fn with_scale(mut self, min: f64, max: f64) -> Result<Self> {
        if !(min.is_finite() && max.is_finite() && max > min) {
            return Err(invalid(format!("scale {min}..{max} is not a range with max > min")));
        }
        self.scale = (min, max);
        self.predictor.signature = judge_signature(&self.instruction, self.scale)?;
        Ok(self)
    }

    /// Replaces the judge's instruction (`{min}`/`{max}` are filled in).
    pub fn with_instruction(mut self, instruction: &str) -> Result<Self> {
        self.instruction = instruction.to_string();
        self.predictor.signature = judge_signature(instruction, self.scale)?;
        Ok(self)
    }

    /// Which label field is shown as the reference (`None`: no reference).
    pub fn with_reference_field(mut self, field: Option<String>) -> Self {
        self.reference_field = field;
        self
    }

    /// Prompt layout of the judge (chat by default).
    pub fn with_adapter(mut self, adapter: AdapterKind) -> Self {
        self.predictor.adapter = adapter;
        self
    }

    /// Reports under this name (default `judge`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The judge predictor (its instruction and demos could themselves be optimized).
    pub fn predictor(&self) -> &Predictor {
        &self.predictor
    }

    fn inputs(&self, example: &Example, response: String) -> Map<String, Value> {
        let task =
            example.inputs().iter().map(|(k, v)| format!("{k}: {}", value_to_text(v))).collect::<Vec<_>>().join("\n");
        let reference = self
            .reference_field
            .as_deref()
            .filter(|f| !example.is_input(f))
            .and_then(|f| example.get(f))
            .filter(|v| !v.is_null())
            .map(value_to_text)
            .unwrap_or_else(|| NO_REFERENCE.to_string());
        let mut m = Map::new();
        m.insert("task".into(), Value::String(task));
        m.insert("reference".into(), Value::String(reference));
        m.insert("response".into(), Value::String(response));
        m.insert("rubric".into(), Value::String(self.rubric.clone()));
        m
    }
}

fn invalid(message: impl Into<String>) -> EvalError {
    EvalError::InvalidMetric { id: "judge".into(), message: message.into() }
}

fn judge_signature(instruction: &str, (min, max): (f64, f64)) -> Result<Signature> {
    let fmt = |x: f64| if x.fract() == 0.0 { format!("{x:.0}") } else { x.to_string() };
    let instruction = instruction.replace("{min}", &fmt(min)).replace("{max}", &fmt(max));
    Signature::builder()
        .input(Field::new("task", FieldType::Str).describe("the task the response answers"))
        .input(Field::new("reference", FieldType::Str).describe("a reference answer, if any"))
        .input(Field::new("response", FieldType::Str).describe("the response to grade"))
        .input(Field::new("rubric", FieldType::Str).describe("what a good response does"))
        .output(Field::new("reasoning", FieldType::Str).describe("why the response deserves its score"))
        .output(Field::new("score", FieldType::Float).describe(format!("from {} to {}", fmt(min), fmt(max))))
        .instruction(instruction)
        .build()
        .map_err(|e| invalid(format!("judge signature: {e}")))
}

#[async_trait]
impl Metric for LlmJudge {
    fn name(&self) -> &str {
        &self.name
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        let response = match prediction.get(&self.field) {
            None | Some(Value::Null) => return MetricResult::fail(format!("prediction has no field '{}'", self.field)),
            Some(v) => value_to_text(v),
        };
        let inputs = self.inputs(example, response);
        match self.predictor.call(self.lm.as_ref(), &inputs).await {
            Ok((outputs, usage, lm_calls)) => {
                let spent = MetricSpend { usage, lm_calls };
                let reasoning = outputs.get("reasoning").map(value_to_text).unwrap_or_default();
                let Some(raw) = outputs.get("score").and_then(Value::as_f64) else {
                    let mut r = MetricResult::metric_error("judge answered no numeric score");
                    r.spent = spent;
                    return r;
                };
                let (min, max) = self.scale;
                let score = clamp_score((raw - min) / (max - min));
                let mut r = MetricResult::new(score, format!("judge: {} (score {raw})", reasoning.trim()));
                r.spent = spent;
                r
            }
            Err(e) => {
                let (usage, lm_calls) = e.spent();
                let mut r = MetricResult::metric_error(format!("judge failed: {e}"));
                r.spent = MetricSpend { usage, lm_calls };
                r
            }
        }
    }
}
