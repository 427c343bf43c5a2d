//! promptsmith-core: the program model.
//!
//! Signatures, examples and predictions, adapters (chat, JSON, plain), modules
//! (Predict, ChainOfThought, multi-step programs), program state and DSPy interop,
//! and the [`LanguageModel`] trait that every model implementation satisfies.
#![warn(missing_docs)]

pub mod adapter;
pub mod error;
pub mod example;
pub mod lm;
pub mod module;
pub mod signature;

pub use error::{ParseError, PredictError};
pub use example::{value_to_text, Example, Prediction, TraceStep};
pub use lm::{ChatMessage, ChatRequest, ChatResponse, Choice, LanguageModel, LmError, ResponseFormat, Role, Usage};
pub use module::Module;
pub use signature::{Field, FieldType, Signature, SignatureBuilder, SignatureError};
