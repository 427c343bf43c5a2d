//! Error types of the program model.

use crate::constraint::Violation;
use crate::lm::{LmError, Usage};

/// A completion that could not be turned into typed outputs. Keeps the raw text so
/// evaluation can score it as a failure and optimizers can use it as feedback.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("could not parse {}: {message}", field.as_deref().map(|f| format!("field '{f}'")).unwrap_or_else(|| "completion".into()))]
pub struct ParseError {
    /// The field that failed, when one did.
    pub field: Option<String>,
    /// What was wrong.
    pub message: String,
    /// The raw completion text (the last one tried).
    pub raw: String,
}

impl ParseError {
    /// A parse error about one field.
    pub fn field(field: &str, message: impl Into<String>, raw: &str) -> Self {
        Self { field: Some(field.to_string()), message: message.into(), raw: raw.to_string() }
    }
    /// A parse error about the whole completion.
    pub fn whole(message: impl Into<String>, raw: &str) -> Self {
        Self { field: None, message: message.into(), raw: raw.to_string() }
    }
}

/// Why running a predictor or program failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    /// The model call failed.
    #[error("predictor '{predictor}': LM call failed: {source}")]
    Lm {
        /// Predictor name.
        predictor: String,
        /// Underlying error.
        source: LmError,
    },
    /// The completion could not be parsed (after the JSON retry).
    #[error("predictor '{predictor}': {source}")]
    Parse {
        /// Predictor name.
        predictor: String,
        /// Underlying error, with the raw completion.
        source: ParseError,
        /// Tokens spent by the run up to and including the failed parse.
        usage: Usage,
        /// LM calls made by the run, the failed ones included.
        lm_calls: u32,
    },
    /// The outputs broke the predictor's constraints on every attempt.
    #[error("predictor '{predictor}': {} (after {attempts} attempt{})", violations.first().map(ToString::to_string).unwrap_or_default(), if *attempts == 1 { "" } else { "s" })]
    Constraint {
        /// Predictor name.
        predictor: String,
        /// What the last attempt broke (at least one).
        violations: Vec<Violation>,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's raw completion.
        raw: String,
        /// Tokens spent by the run, the failed attempts included.
        usage: Usage,
        /// LM calls made by the run, the failed ones included.
        lm_calls: u32,
    },
    /// A required input was not provided.
    #[error("predictor '{predictor}': missing input field '{field}'")]
    MissingInput {
        /// Predictor name.
        predictor: String,
        /// Field name.
        field: String,
    },
    /// Program wiring problem found at run time.
    #[error("program error: {0}")]
    Program(String),
}

impl PredictError {
    /// Tokens and LM calls the failed run spent (known for parse and constraint failures;
    /// zero otherwise).
    pub fn spent(&self) -> (Usage, u32) {
        match self {
            PredictError::Parse { usage, lm_calls, .. } | PredictError::Constraint { usage, lm_calls, .. } => {
                (*usage, *lm_calls)
            }
            _ => (Usage::default(), 0),
        }
    }

    /// The error with `usage` and `calls` (spent before it, elsewhere in the run) added to
    /// what it reports.
    pub fn with_earlier_spend(mut self, usage: Usage, calls: u32) -> Self {
        if let PredictError::Parse { usage: u, lm_calls, .. } | PredictError::Constraint { usage: u, lm_calls, .. } =
            &mut self
        {
            *u += usage;
            *lm_calls += calls;
        }
        self
    }

    /// Sets what a parse or constraint failure reports as spent (the whole run's spend).
    pub(crate) fn set_spent(&mut self, total: Usage, calls: u32) {
        if let PredictError::Parse { usage, lm_calls, .. } | PredictError::Constraint { usage, lm_calls, .. } = self {
            (*usage, *lm_calls) = (total, calls);
        }
    }

    /// The raw completion, when the failure was a parse or constraint failure.
    pub fn raw_completion(&self) -> Option<&str> {
        match self {
            PredictError::Parse { source, .. } => Some(&source.raw),
            PredictError::Constraint { raw, .. } => Some(raw),
            _ => None,
        }
    }
}
