//! The `Module` trait: anything that maps inputs to a prediction using a model.

use crate::error::PredictError;
use crate::example::{Example, Prediction};
use crate::lm::LanguageModel;
use async_trait::async_trait;

/// A runnable program or predictor.
#[async_trait]
pub trait Module: Send + Sync {
    /// Runs on the example's inputs (labels are ignored).
    async fn forward(&self, lm: &dyn LanguageModel, inputs: &Example) -> Result<Prediction, PredictError>;
}
