//! A weighted composite of metrics (e.g. accuracy 50%, reasoning 30%, suggestions 20%).

use super::{Metric, MetricResult, PartScore};
use crate::error::{EvalError, Result};
use async_trait::async_trait;
use promptsmith_core::{Example, Prediction};
use std::sync::Arc;

/// One weighted part.
struct Part {
    name: String,
    weight: f64,
    metric: Arc<dyn Metric>,
}

/// Scores each part (concurrently) and combines them as a weighted mean; the weights are
/// normalized to sum to 1. The feedback lists every part's score and feedback, and the
/// [`MetricResult::breakdown`] keeps the part scores. If any part could not score (a judge
/// failed), the composite is a metric error too: a partial score would be misleading.
pub struct WeightedComposite {
    name: String,
    parts: Vec<Part>,
}

impl std::fmt::Debug for WeightedComposite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<(&str, f64, &str)> =
            self.parts.iter().map(|p| (p.name.as_str(), p.weight, p.metric.name())).collect();
        f.debug_struct("WeightedComposite").field("name", &self.name).field("parts", &parts).finish()
    }
}

impl WeightedComposite {
    /// An empty composite named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        WeightedComposite { name: name.into(), parts: Vec::new() }
    }

    /// Adds a part. The weight must be a positive finite number; names must be unique.
    pub fn part(mut self, name: impl Into<String>, weight: f64, metric: Arc<dyn Metric>) -> Result<Self> {
        let name = name.into();
        if !(weight.is_finite() && weight > 0.0) {
            return Err(invalid(format!("part '{name}': weight {weight} is not a positive number")));
        }
        if self.parts.iter().any(|p| p.name == name) {
            return Err(invalid(format!("part '{name}' appears twice")));
        }
        self.parts.push(Part { name, weight, metric });
        Ok(self)
    }

    /// Normalized weights by part name.
    pub fn weights(&self) -> Vec<(String, f64)> {
        let total: f64 = self.parts.iter().map(|p| p.weight).sum();
        self.parts.iter().map(|p| (p.name.clone(), p.weight / total)).collect()
    }
}

fn invalid(message: String) -> EvalError {
    EvalError::InvalidMetric { id: "composite".into(), message }
}

#[async_trait]
impl Metric for WeightedComposite {
    fn name(&self) -> &str {
        &self.name
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        if self.parts.is_empty() {
            return MetricResult::metric_error("composite metric has no parts");
        }
        let total: f64 = self.parts.iter().map(|p| p.weight).sum();
        let results = futures::future::join_all(self.parts.iter().map(|p| p.metric.score(example, prediction))).await;
        let mut out = MetricResult::default();
        let mut feedback = Vec::with_capacity(results.len());
        let mut errors = Vec::new();
        for (part, r) in self.parts.iter().zip(results) {
            let weight = part.weight / total;
            out.score += weight * r.score;
            out.spent += r.spent;
            out.breakdown.push(PartScore { name: part.name.clone(), weight, score: r.score });
            let text = r.feedback.unwrap_or_default();
            feedback.push(format!("{} ({:.0}%): {:.2}{}", part.name, weight * 100.0, r.score, sep(&text)));
            if let Some(e) = r.error {
                errors.push(format!("{}: {e}", part.name));
            }
        }
        out.score = super::clamp_score(out.score);
        out.feedback = Some(feedback.join("; "));
        if !errors.is_empty() {
            out.error = Some(errors.join("; "));
        }
        out
    }
}

fn sep(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" - {text}")
    }
}
