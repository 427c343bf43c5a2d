//! Predictors: Predict and ChainOfThought, the units an optimizer tunes.

use crate::adapter::{AdapterKind, Demo};
use crate::error::{ParseError, PredictError};
use crate::example::{Example, Prediction, TraceStep};
use crate::lm::{ChatMessage, ChatRequest, LanguageModel, Usage};
use crate::module::Module;
use crate::signature::{Field, FieldType, Signature};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
/// prompt layout and sampling options.
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

    /// The request this predictor would send for `inputs`.
    pub fn request(&self, inputs: &Map<String, Value>) -> ChatRequest {
        let sig = self.effective_signature();
        let adapter = self.adapter.adapter();
        let mut req = ChatRequest::new(adapter.format(&sig, &self.demos, inputs));
        req.stop = adapter.stop();
        req.response_format = adapter.response_format(&sig);
        req.temperature = self.options.temperature;
        req.max_tokens = Some(self.options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
        req
    }

    /// Calls the model once (plus one retry in the adapter's fallback layout when parsing fails) and returns the
    /// typed outputs, the tokens spent and the number of calls made.
    pub async fn call(
        &self,
        lm: &dyn LanguageModel,
        inputs: &Map<String, Value>,
    ) -> Result<(Map<String, Value>, Usage, u32), PredictError> {
        for f in &self.signature.inputs {
            if !inputs.contains_key(&f.name) {
                return Err(PredictError::MissingInput { predictor: self.name.clone(), field: f.name.clone() });
            }
        }
        let sig = self.effective_signature();
        let adapter = self.adapter.adapter();
        let lm_err = |source| PredictError::Lm { predictor: self.name.clone(), source };
        let req = self.request(inputs);
        let resp = lm.chat(&req).await.map_err(lm_err)?;
        let mut usage = resp.usage;
        let first = match adapter.parse(&sig, resp.text()) {
            Ok(fields) => return Ok((fields, usage, 1)),
            Err(e) => e,
        };
        let Some(fallback) = adapter.fallback() else {
            return Err(PredictError::Parse { predictor: self.name.clone(), source: first, usage, lm_calls: 1 });
        };
        // Retry once in the adapter's fallback layout (JSON; schema-constrained where the
        // server supports it, or DSPy's own JSONAdapter prompt for `dspy`).
        let mut retry = ChatRequest::new(fallback.format(&sig, &self.demos, inputs));
        retry.stop = fallback.stop();
        retry.response_format = fallback.response_format(&sig);
        retry.temperature = req.temperature;
        retry.max_tokens = req.max_tokens;
        let resp2 = lm.chat(&retry).await.map_err(lm_err)?;
        usage += resp2.usage;
        match fallback.parse(&sig, resp2.text()) {
            Ok(fields) => Ok((fields, usage, 2)),
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
