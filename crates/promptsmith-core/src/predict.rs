//! Predictors: Predict and ChainOfThought, the units an optimizer tunes, optionally wrapped
//! in an inference-time module ([`crate::wrap`]) and with output constraints
//! ([`crate::constraint`]).

use crate::adapter::{AdapterKind, Demo};
use crate::constraint::{Constraints, CustomCheck, FieldRules, RuleError};
use crate::error::{ParseError, PredictError};
use crate::example::{Example, Prediction, TraceStep};
use crate::lm::{ChatMessage, ChatRequest, LanguageModel, Usage};
use crate::module::Module;
use crate::signature::{Field, FieldType, Signature};
use crate::wrap::{Attempt, Reward, SharedReward, Wrap, WrapKind};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Default generation budget per call when neither the predictor nor the model sets one.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// What kind of predictor this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PredictorKind {
    /// Asks for the outputs directly.
    #[default]
    Predict,
    /// Adds a `reasoning` output before the others.
    ChainOfThought,
}

impl PredictorKind {
    /// Parses `predict` or `chain_of_thought` (also `cot`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "predict" => Some(Self::Predict),
            "chain_of_thought" | "cot" | "ChainOfThought" => Some(Self::ChainOfThought),
            _ => None,
        }
    }
}

/// Sampling options of one predictor; `None` leaves the model's own defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct CallOptions {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Maximum tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// A named predictor: signature (with instruction and field descriptions), demos,
/// prompt layout and sampling options; plus how it is called (a wrapper, constraints, a
/// reward), which optimizers leave alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictor {
    /// Name, unique within a program.
    pub name: String,
    /// Predict or ChainOfThought.
    pub kind: PredictorKind,
    /// The base signature (without the chain-of-thought `reasoning` field).
    pub signature: Signature,
    /// Few-shot demonstrations.
    pub demos: Vec<Demo>,
    /// Prompt layout.
    pub adapter: AdapterKind,
    /// Sampling options.
    pub options: CallOptions,
    /// Inference-time module around the calls (`None`: one call).
    pub wrap: Option<Wrap>,
    /// Rules and checks on the outputs; a violation is retried with feedback.
    pub constraints: Constraints,
    /// Reward ranking a wrapper's attempts (`None`: the built-in `constraints`).
    pub reward: Option<SharedReward>,
}

/// One successful model answer: typed outputs, the raw completion, tokens and calls.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub(crate) outputs: Map<String, Value>,
    pub(crate) raw: String,
    pub(crate) usage: Usage,
    pub(crate) calls: u32,
}

/// Name of the field chain of thought adds.
pub const REASONING_FIELD: &str = "reasoning";

impl Predictor {
    /// A Predict over `signature` with the chat adapter.
    pub fn new(name: impl Into<String>, signature: Signature) -> Self {
        Self {
            name: name.into(),
            kind: PredictorKind::Predict,
            signature,
            demos: Vec::new(),
            adapter: AdapterKind::Chat,
            options: CallOptions::default(),
            wrap: None,
            constraints: Constraints::default(),
            reward: None,
        }
    }

    /// A ChainOfThought over `signature`.
    pub fn chain_of_thought(name: impl Into<String>, signature: Signature) -> Self {
        Self { kind: PredictorKind::ChainOfThought, ..Self::new(name, signature) }
    }

    /// Builder: sets the adapter.
    pub fn with_adapter(mut self, adapter: AdapterKind) -> Self {
        self.adapter = adapter;
        self
    }

    /// Builder: sets the demos.
    pub fn with_demos(mut self, demos: Vec<Demo>) -> Self {
        self.demos = demos;
        self
    }

    /// Builder: wraps the predictor in an inference-time module (settings unchecked; see
    /// [`Wrap::validate`]).
    pub fn with_wrap(mut self, wrap: Wrap) -> Self {
        self.wrap = Some(wrap);
        self
    }

    /// Builder: adds rules on an output field, checked against its type.
    pub fn with_rules(mut self, field: &str, rules: &FieldRules) -> Result<Self, RuleError> {
        let sig = self.effective_signature();
        let Some(f) = sig.outputs.iter().find(|f| f.name == field) else {
            let outs = sig.outputs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
            return Err(RuleError {
                rule: String::new(),
                message: format!("no output field '{field}' (outputs: {outs})"),
            });
        };
        self.constraints.set_rules(rules.compile(f)?);
        Ok(self)
    }

    /// Builder: adds a custom check on the outputs.
    pub fn with_check(mut self, check: CustomCheck) -> Self {
        self.constraints.add_check(check);
        self
    }

    /// Builder: sets the retries after a constraint violation.
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.constraints.max_retries = retries;
        self
    }

    /// Builder: ranks a wrapper's attempts by `reward` instead of the built-in `constraints`
    /// (whatever reward the wrapper's settings name).
    pub fn with_reward(mut self, reward: Arc<dyn Reward>) -> Self {
        self.reward = Some(SharedReward(reward));
        self
    }

    /// The most model calls one [`Predictor::call`] can make (for budget plans): two per
    /// attempt (the fallback-layout retry), times the wrapper's `n` or the constraint retries.
    pub fn max_lm_calls(&self) -> u32 {
        let attempts = self.max_attempts();
        let per_attempt = if self.adapter.adapter().fallback().is_some() { 2 } else { 1 };
        attempts.saturating_mul(per_attempt)
    }

    /// Attempts one call makes at most: the wrapper's `n`, else the constraint retries and one.
    fn max_attempts(&self) -> u32 {
        match &self.wrap {
            Some(w) => w.n,
            None if self.constraints.is_empty() => 1,
            None => self.constraints.max_retries.saturating_add(1),
        }
    }

    /// The model calls one [`Predictor::call`] makes at most when every answer parses (for
    /// planned budgets; a JSON-mode retry after an unparsable answer comes on top): every
    /// attempt of the wrapper or of the constraint retries, and per attempt one more call when
    /// a judge ranks it (a custom Rust [`Reward`] is counted as making none).
    pub fn planned_calls(&self) -> u32 {
        let attempts = self.max_attempts();
        let judged = self.reward.is_none()
            && self
                .wrap
                .as_ref()
                .is_some_and(|w| w.module != WrapKind::MajorityVote && w.reward.as_deref() == Some("judge"));
        attempts.saturating_mul(if judged { 2 } else { 1 })
    }

    /// The signature sent to the model: for chain of thought, `reasoning` is prepended
    /// to the outputs and the instruction stays the base signature's (as DSPy does).
    pub fn effective_signature(&self) -> Signature {
        match self.kind {
            PredictorKind::Predict => self.signature.clone(),
            PredictorKind::ChainOfThought => {
                if self.signature.outputs.iter().any(|f| f.name == REASONING_FIELD) {
                    return self.signature.clone();
                }
                let mut base = self.signature.clone();
                base.instruction = Some(self.signature.instruction());
                base.prepend_output(Field::new(REASONING_FIELD, FieldType::Str))
            }
        }
    }

    /// The messages this predictor would send for `inputs`.
    pub fn format(&self, inputs: &Map<String, Value>) -> Vec<ChatMessage> {
        self.adapter.adapter().format(&self.effective_signature(), &self.demos, inputs)
    }

    /// The request this predictor would send for `inputs` (its first attempt).
    pub fn request(&self, inputs: &Map<String, Value>) -> ChatRequest {
        self.request_in(self.adapter.adapter(), inputs, &Attempt::default())
    }

    fn request_in(&self, adapter: &dyn crate::Adapter, inputs: &Map<String, Value>, attempt: &Attempt) -> ChatRequest {
        let sig = self.effective_signature();
        let mut req = ChatRequest::new(adapter.format(&sig, &self.demos, inputs));
        req.stop = adapter.stop();
        req.response_format = adapter.response_format(&sig);
        req.temperature = self.options.temperature;
        req.max_tokens = Some(self.options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
        attempt.apply(&mut req);
        req
    }

    /// Calls the model and returns the typed outputs, the tokens spent and the number of calls
    /// made. Unwrapped and unconstrained, that is one call (plus one retry in the adapter's
    /// fallback layout when parsing fails); a wrapper or constraints may make more.
    pub async fn call(
        &self,
        lm: &dyn LanguageModel,
        inputs: &Map<String, Value>,
    ) -> Result<(Map<String, Value>, Usage, u32), PredictError> {
        let a = crate::wrap::run(self, lm, inputs).await?;
        Ok((a.outputs, a.usage, a.calls))
    }

    /// One attempt: a model call plus the fallback-layout retry when parsing fails.
    pub(crate) async fn attempt(
        &self,
        lm: &dyn LanguageModel,
        inputs: &Map<String, Value>,
        attempt: &Attempt,
    ) -> Result<Answer, PredictError> {
        for f in &self.signature.inputs {
            if !inputs.contains_key(&f.name) {
                return Err(PredictError::MissingInput { predictor: self.name.clone(), field: f.name.clone() });
            }
        }
        let sig = self.effective_signature();
        let adapter = self.adapter.adapter();
        let lm_err = |source| PredictError::Lm { predictor: self.name.clone(), source };
        let req = self.request_in(adapter, inputs, attempt);
        let resp = lm.chat(&req).await.map_err(lm_err)?;
        let mut usage = resp.usage;
        let first = match adapter.parse(&sig, resp.text()) {
            Ok(outputs) => return Ok(Answer { outputs, raw: resp.text().to_string(), usage, calls: 1 }),
            Err(e) => e,
        };
        let Some(fallback) = adapter.fallback() else {
            return Err(PredictError::Parse { predictor: self.name.clone(), source: first, usage, lm_calls: 1 });
        };
        // Retry once in the adapter's fallback layout (JSON; schema-constrained where the
        // server supports it, or DSPy's own JSONAdapter prompt for `dspy`).
        let retry = self.request_in(fallback, inputs, attempt);
        let resp2 = lm.chat(&retry).await.map_err(lm_err)?;
        usage += resp2.usage;
        match fallback.parse(&sig, resp2.text()) {
            Ok(outputs) => Ok(Answer { outputs, raw: resp2.text().to_string(), usage, calls: 2 }),
            Err(second) => Err(PredictError::Parse {
                predictor: self.name.clone(),
                source: ParseError {
                    field: first.field.clone(),
                    message: format!("{} (JSON retry: {})", first.message, second.message),
                    raw: first.raw,
                },
                usage,
                lm_calls: 2,
            }),
        }
    }
}

#[async_trait]
impl Module for Predictor {
    async fn forward(&self, lm: &dyn LanguageModel, example: &Example) -> Result<Prediction, PredictError> {
        let inputs: Map<String, Value> = self
            .signature
            .inputs
            .iter()
            .filter_map(|f| example.get(&f.name).map(|v| (f.name.clone(), v.clone())))
            .collect();
        let (outputs, usage, calls) = self.call(lm, &inputs).await?;
        Ok(Prediction {
            fields: outputs.clone(),
            trace: vec![TraceStep { predictor: self.name.clone(), inputs, outputs }],
            usage,
            lm_calls: calls,
        })
    }
}
