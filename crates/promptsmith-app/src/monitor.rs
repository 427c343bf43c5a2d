//! [`QualityMonitor`]: watches every program's production version for a drop in quality, from
//! the feedback its predictions get. The last `window` ratings are compared with the `window`
//! before them (count-based windows, so a quiet program is judged on as much evidence as a busy
//! one); degradation is a relative drop beyond the threshold (the program's policy's
//! `performance_degradation_threshold`, default 15%) that Welch's t-test
//! also finds significant ([`promptsmith_store::snapshots::degradation`]). An alert is logged,
//! emitted as a `monitor.degradation` event for webhooks, and returned to the caller (the server
//! counts it in `/metrics`); the same version alerts again only once its window has renewed.

use crate::error::Result;
use crate::tenant::Tenant;
use crate::webhooks;
use promptsmith_store::snapshots::degradation;
use promptsmith_store::{DegradationPolicy, DegradationReport, Store, PRODUCTION};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A degradation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The tenant.
    pub tenant: String,
    /// The program (as the tenant names it).
    pub program: String,
    /// The production version.
    pub version: i64,
    /// The program's registry name.
    pub stored: String,
    /// Baseline against recent ratings.
    pub report: DegradationReport,
}

/// A production version's rolling health: its last predictions and ratings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionHealth {
    /// The program's registry name.
    pub stored: String,
    /// The production version.
    pub version: i64,
    /// Predictions in the window.
    pub predictions: usize,
    /// Share of them that failed.
    pub error_rate: f64,
    /// Their p95 latency, ms.
    pub p95_latency_ms: f64,
    /// Their mean cost, USD.
    pub cost_per_call_usd: f64,
    /// Mean of the last ratings, when there are any.
    pub quality: Option<f64>,
}

/// Predictions the rolling health is computed over.
const HEALTH_WINDOW: i64 = 200;

/// The monitor's settings and the versions it alerted on.
#[derive(Debug, Clone)]
pub struct QualityMonitor {
    store: Store,
    /// Ratings in each window.
    pub window: usize,
    /// Threshold and significance level.
    pub policy: DegradationPolicy,
    /// Per program and version, the newest feedback id at the last alert.
    alerted: Arc<Mutex<HashMap<(String, i64), i64>>>,
}

impl QualityMonitor {
    /// A monitor over `store` with the defaults: windows of 50 ratings, a 15% drop at 0.05.
    pub fn new(store: Store) -> Self {
        let policy = DegradationPolicy { min_relative_drop: 0.15, alpha: 0.05 };
        Self { store, window: 50, policy, alerted: Arc::default() }
    }

    /// Checks every production version at time `now`; the new alerts.
    pub async fn check(&self, now: i64) -> Result<Vec<Alert>> {
        let mut alerts = Vec::new();
        for p in self.store.list_programs().await? {
            let Some(&version) = p.aliases.get(PRODUCTION) else { continue };
            if let Some(alert) = self.check_one(&p.name, version, now).await? {
                alerts.push(alert);
            }
        }
        Ok(alerts)
    }

    /// The degradation test for `stored`: its policy's `performance_degradation_threshold` when
    /// it has one, else the monitor's.
    async fn policy_of(&self, stored: &str) -> Result<DegradationPolicy> {
        let threshold =
            self.store.policy(stored).await?.and_then(|p| p.policy["performance_degradation_threshold"].as_f64());
        Ok(DegradationPolicy { min_relative_drop: threshold.unwrap_or(self.policy.min_relative_drop), ..self.policy })
    }

    /// Every production version's rolling health (versions that served nothing left out).
    pub async fn health(&self) -> Result<Vec<VersionHealth>> {
        let mut out = Vec::new();
        for p in self.store.list_programs().await? {
            let Some(&version) = p.aliases.get(PRODUCTION) else { continue };
            let served = self.store.recent_serving(&p.name, version, HEALTH_WINDOW).await?;
            if served.is_empty() {
                continue;
            }
            let mut latencies: Vec<f64> = served.iter().map(|s| s.0 as f64).collect();
            latencies.sort_by(f64::total_cmp);
            let ratings = self.store.recent_ratings(&p.name, version, self.window as i64).await?;
            let n = served.len() as f64;
            out.push(VersionHealth {
                stored: p.name.clone(),
                version,
                predictions: served.len(),
                error_rate: served.iter().filter(|s| s.1).count() as f64 / n,
                p95_latency_ms: promptsmith_store::snapshots::percentile_sorted(&latencies, 0.95),
                cost_per_call_usd: served.iter().map(|s| s.2).sum::<f64>() / n,
                quality: (!ratings.is_empty()).then(|| ratings.iter().map(|r| r.1).sum::<f64>() / ratings.len() as f64),
            });
        }
        Ok(out)
    }

    async fn check_one(&self, stored: &str, version: i64, now: i64) -> Result<Option<Alert>> {
        let ratings = self.store.recent_ratings(stored, version, 2 * self.window as i64).await?;
        if ratings.len() < 2 * self.window {
            return Ok(None);
        }
        let newest = ratings[0].0;
        let key = (stored.to_string(), version);
        let renewed = self.alerted.lock().ok().and_then(|a| a.get(&key).copied()).is_none_or(|last| {
            // The window renewed when every rating in it is newer than the last alert's.
            ratings[self.window - 1].0 > last
        });
        if !renewed {
            return Ok(None);
        }
        let recent: Vec<f64> = ratings[..self.window].iter().map(|r| r.1).collect();
        let baseline: Vec<f64> = ratings[self.window..].iter().map(|r| r.1).collect();
        let report = degradation(&baseline, &recent, &self.policy_of(stored).await?);
        if !report.degraded {
            return Ok(None);
        }
        if let Ok(mut a) = self.alerted.lock() {
            a.insert(key, newest);
        }
        let (tenant, program) = match stored.split_once(':') {
            Some((t, p)) => (t.to_string(), p.to_string()),
            None => (Tenant::default().name().to_string(), stored.to_string()),
        };
        tracing::warn!(program = %stored, version, drop = report.relative_drop, p = ?report.p_value, "quality degraded");
        let data = json!({"program": program, "version": version, "window": self.window,
            "baseline_mean": report.baseline_mean, "recent_mean": report.recent_mean,
            "relative_drop": report.relative_drop, "p_value": report.p_value,
            "threshold": self.policy.min_relative_drop});
        webhooks::emit(&self.store, &tenant, "monitor.degradation", data, now).await;
        Ok(Some(Alert { tenant, program, version, stored: stored.to_string(), report }))
    }
}
