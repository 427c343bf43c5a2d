//! Operational limits on a production version's rolling health (error rate, p95 latency, cost
//! per call), outside any rollout: the quality monitor alerts when one is exceeded, once per
//! breach (again only after the version was back within its limits).

use crate::monitor::VersionHealth;
use serde::{Deserialize, Serialize};

/// Limits on a production version's last predictions (a program's policy's `health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthLimits {
    /// Highest share of failed predictions (default 0.05).
    #[serde(default = "default_error_rate")]
    pub max_error_rate: f64,
    /// Highest p95 latency, ms (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p95_latency_ms: Option<f64>,
    /// Highest mean cost per prediction, USD (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_per_call_usd: Option<f64>,
    /// Predictions in the window before the limits apply (default 50).
    #[serde(default = "default_min_predictions")]
    pub min_predictions: usize,
}

fn default_error_rate() -> f64 {
    0.05
}
fn default_min_predictions() -> usize {
    50
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits {
            max_error_rate: default_error_rate(),
            max_p95_latency_ms: None,
            max_cost_per_call_usd: None,
            min_predictions: default_min_predictions(),
        }
    }
}

/// One exceeded limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    /// `error_rate`, `p95_latency_ms` or `cost_per_call_usd`.
    pub measure: &'static str,
    /// What the window shows.
    pub observed: f64,
    /// The limit.
    pub limit: f64,
}

impl Breach {
    /// The breach in words (`error_rate 0.120 > 0.050`).
    pub fn describe(&self) -> String {
        format!("{} {:.3} > {:.3}", self.measure, self.observed, self.limit)
    }
}

impl HealthLimits {
    /// Checks the values.
    pub fn check(&self) -> Result<(), String> {
        let positive = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v > 0.0);
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err(format!("health.max_error_rate {}: expected a share between 0 and 1", self.max_error_rate));
        }
        if !positive(self.max_p95_latency_ms) || !positive(self.max_cost_per_call_usd) {
            return Err("health.max_p95_latency_ms and max_cost_per_call_usd: expected positive numbers".into());
        }
        Ok(())
    }

    /// The limits `h` exceeds (none while the window holds fewer than `min_predictions`).
    pub fn breaches(&self, h: &VersionHealth) -> Vec<Breach> {
        if h.predictions < self.min_predictions {
            return Vec::new();
        }
        let mut out = Vec::new();
        if h.error_rate > self.max_error_rate {
            out.push(Breach { measure: "error_rate", observed: h.error_rate, limit: self.max_error_rate });
        }
        if let Some(limit) = self.max_p95_latency_ms.filter(|l| h.p95_latency_ms > *l) {
            out.push(Breach { measure: "p95_latency_ms", observed: h.p95_latency_ms, limit });
        }
        if let Some(limit) = self.max_cost_per_call_usd.filter(|l| h.cost_per_call_usd > *l) {
            out.push(Breach { measure: "cost_per_call_usd", observed: h.cost_per_call_usd, limit });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(predictions: usize, error_rate: f64, p95: f64, cost: f64) -> VersionHealth {
        VersionHealth {
            stored: "qa".into(),
            version: 1,
            predictions,
            error_rate,
            p95_latency_ms: p95,
            cost_per_call_usd: cost,
            quality: None,
        }
    }

    #[test]
    fn each_limit_is_checked_once_the_window_is_full_enough() {
        let limits = HealthLimits {
            max_p95_latency_ms: Some(500.0),
            max_cost_per_call_usd: Some(0.01),
            ..HealthLimits::default()
        };
        assert!(limits.breaches(&health(49, 0.5, 900.0, 1.0)).is_empty());
        assert!(limits.breaches(&health(60, 0.05, 500.0, 0.01)).is_empty());
        let b = limits.breaches(&health(60, 0.2, 900.0, 0.02));
        let measures: Vec<&str> = b.iter().map(|b| b.measure).collect();
        assert_eq!(measures, ["error_rate", "p95_latency_ms", "cost_per_call_usd"]);
        assert_eq!(b[0].describe(), "error_rate 0.200 > 0.050");
        assert!(HealthLimits { max_error_rate: 2.0, ..HealthLimits::default() }.check().is_err());
    }
}
