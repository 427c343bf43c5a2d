//! promptsmith-core: the program model.
//!
//! Signatures, examples and predictions, adapters (chat, JSON, plain), modules
//! (Predict, ChainOfThought, multi-step programs), inference-time modules (best-of-n, refine,
//! majority vote, ensembles) and output constraints, program state and DSPy interop, and the
//! [`LanguageModel`] trait that every model implementation satisfies.
#![warn(missing_docs)]

pub mod adapter;
pub mod clock;
pub mod constraint;
pub mod dspy;
pub mod ensemble;
pub mod error;
pub mod example;
pub mod kind;
pub mod lm;
pub mod module;
pub mod numeric;
pub mod predict;
pub mod program;
pub mod signature;
pub mod spec;
pub mod state;
pub mod wrap;

pub use adapter::{Adapter, AdapterKind, Demo};
pub use constraint::{Constraints, CustomCheck, FieldRules, Violation};
pub use ensemble::{Ensemble, Reducer};
pub use error::{ParseError, PredictError};
pub use example::{value_to_text, Example, Prediction, TraceStep};
pub use kind::{ErrorKind, HasKind};
pub use lm::{ChatMessage, ChatRequest, ChatResponse, Choice, LanguageModel, LmError, ResponseFormat, Role, Usage};
pub use module::Module;
pub use predict::{CallOptions, Predictor, PredictorKind};
pub use program::{Program, ProgramBuilder, Source, Step};
pub use signature::{Field, FieldType, Signature, SignatureBuilder, SignatureError};
pub use spec::{load_program, ProgramSpec, SpecError};
pub use state::{EnsembleState, PredictorState, ProgramState, StateError, StateFileError, STATE_FORMAT_VERSION};
pub use wrap::{Reward, Scored, Wrap, WrapKind};
