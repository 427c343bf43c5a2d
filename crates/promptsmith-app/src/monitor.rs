//! [`QualityMonitor`]: watches every program's production version for a drop in quality, from
//! the feedback its predictions get. The last `window` ratings are compared with the `window`
//! before them (count-based windows, so a quiet program is judged on as much evidence as a busy
//! one); degradation is a relative drop beyond the threshold (the program's policy's
//! `performance_degradation_threshold`, default 15%) that Welch's t-test
//! also finds significant ([`promptsmith_store::snapshots::degradation`]). An alert is logged,
//! emitted as a `monitor.degradation` event for webhooks, and returned to the caller (the server
//! counts it in `/metrics`); the same version alerts again only once its window has renewed.

use crate::error::Result;
use crate::health::{Breach, HealthLimits};
use crate::tenant::Tenant;
use crate::webhooks;
use promptsmith_store::snapshots::degradation;
use promptsmith_store::{DegradationPolicy, DegradationReport, Store, PRODUCTION};
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
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
    /// `feedback` (ratings) or `evaluation` (stored scores).
    pub source: String,
    /// Baseline against recent window (the p-value Holm-corrected over the sources tested).
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

/// A production version over one of its health limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthAlert {
    /// The tenant.
    pub tenant: String,
    /// The program (as the tenant names it).
    pub program: String,
    /// The production version.
    pub version: i64,
    /// Predictions in the window.
    pub predictions: usize,
    /// The exceeded limit.
    pub breach: Breach,
}

/// Program (registry name), version and source of an alert.
type AlertKey = (String, i64, &'static str);

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
    /// Per program, version and source, the newest row id at the last alert.
    alerted: Arc<Mutex<HashMap<AlertKey, i64>>>,
    /// Program, version and measure of the health limits exceeded at the last check.
    breached: Arc<Mutex<HashSet<AlertKey>>>,
}

impl QualityMonitor {
    /// A monitor over `store` with the defaults: windows of 50 ratings, a 15% drop at 0.05.
    pub fn new(store: Store) -> Self {
        let policy = DegradationPolicy { min_relative_drop: 0.15, alpha: 0.05 };
        Self { store, window: 50, policy, alerted: Arc::default(), breached: Arc::default() }
    }

    /// Checks every production version at time `now`; the new alerts.
    pub async fn check(&self, now: i64) -> Result<Vec<Alert>> {
        let mut alerts = Vec::new();
        for p in self.store.list_programs().await? {
            let Some(&version) = p.aliases.get(PRODUCTION) else { continue };
            alerts.extend(self.check_one(&p.name, version, now).await?);
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

    /// Checks every production version's health against its program's policy's `health`
    /// limits (default: at most 5% failed predictions); a limit alerts when it is first exceeded,
    /// and again only after the version was back within it.
    pub async fn check_health(&self, now: i64) -> Result<Vec<HealthAlert>> {
        let mut alerts = Vec::new();
        let mut still = HashSet::new();
        for h in self.health().await? {
            let limits = self.limits_of(&h.stored).await?;
            for breach in limits.breaches(&h) {
                let key: AlertKey = (h.stored.clone(), h.version, breach.measure);
                let new = self.breached.lock().map(|b| !b.contains(&key)).unwrap_or(true);
                still.insert(key);
                if new {
                    alerts.push(self.health_alert(&h, breach, now).await);
                }
            }
        }
        if let Ok(mut b) = self.breached.lock() {
            *b = still;
        }
        Ok(alerts)
    }

    async fn limits_of(&self, stored: &str) -> Result<HealthLimits> {
        let asked = self.store.policy(stored).await?.map(|p| p.policy["health"].clone()).filter(|v| !v.is_null());
        Ok(asked.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
    }

    async fn health_alert(&self, h: &VersionHealth, breach: Breach, now: i64) -> HealthAlert {
        let (tenant, program) = split_stored(&h.stored);
        tracing::warn!(program = %h.stored, version = h.version, breach = %breach.describe(), "health limit exceeded");
        let data = json!({"program": program, "version": h.version, "source": breach.measure,
            "observed": breach.observed, "limit": breach.limit, "window": h.predictions});
        webhooks::emit(&self.store, &tenant, "monitor.degradation", data, now).await;
        HealthAlert { tenant, program, version: h.version, predictions: h.predictions, breach }
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

    /// Both sources of `stored`'s production version (feedback ratings, evaluation scores),
    /// each on fresh windows; the two p-values are Holm-corrected when both tests ran.
    async fn check_one(&self, stored: &str, version: i64, now: i64) -> Result<Vec<Alert>> {
        let w = self.window as i64;
        let sources = [
            ("feedback", self.store.recent_ratings(stored, version, 2 * w).await?),
            ("evaluation", self.store.recent_scores(stored, version, 2 * w).await?),
        ];
        let policy = self.policy_of(stored).await?;
        let mut tested = Vec::new();
        for (source, rows) in sources {
            if rows.len() < 2 * self.window || !self.renewed(stored, version, source, &rows) {
                continue;
            }
            let recent: Vec<f64> = rows[..self.window].iter().map(|r| r.1).collect();
            let baseline: Vec<f64> = rows[self.window..].iter().map(|r| r.1).collect();
            let report = degradation(&baseline, &recent, &DegradationPolicy { alpha: 1.0, ..policy });
            if let Some(p) = report.p_value {
                tested.push((source, rows[0].0, report, p));
            }
        }
        let adjusted = promptsmith_eval::stats::multiple::holm(&tested.iter().map(|t| t.3).collect::<Vec<_>>());
        let mut alerts = Vec::new();
        for ((source, newest, mut report, _), p) in tested.into_iter().zip(adjusted) {
            report.p_value = Some(p);
            report.degraded = report.relative_drop >= policy.min_relative_drop && p < policy.alpha;
            if !report.degraded {
                continue;
            }
            if let Ok(mut a) = self.alerted.lock() {
                a.insert((stored.to_string(), version, source), newest);
            }
            alerts.push(self.alert(stored, version, source, report, &policy, now).await);
        }
        Ok(alerts)
    }

    /// Whether every row of the recent window is newer than the last alert on this source.
    fn renewed(&self, stored: &str, version: i64, source: &'static str, rows: &[(i64, f64)]) -> bool {
        let key = (stored.to_string(), version, source);
        self.alerted.lock().ok().and_then(|a| a.get(&key).copied()).is_none_or(|last| rows[self.window - 1].0 > last)
    }

    async fn alert(
        &self,
        stored: &str,
        version: i64,
        source: &str,
        report: DegradationReport,
        policy: &DegradationPolicy,
        now: i64,
    ) -> Alert {
        let (tenant, program) = split_stored(stored);
        tracing::warn!(program = %stored, version, source, drop = report.relative_drop, p = ?report.p_value, "quality degraded");
        let data = json!({"program": program, "version": version, "source": source, "window": self.window,
            "baseline_mean": report.baseline_mean, "recent_mean": report.recent_mean,
            "relative_drop": report.relative_drop, "p_value": report.p_value,
            "threshold": policy.min_relative_drop});
        webhooks::emit(&self.store, &tenant, "monitor.degradation", data, now).await;
        Alert { tenant, program, version, stored: stored.to_string(), source: source.to_string(), report }
    }
}

/// A registry name's tenant and program (`TENANT:NAME`, or the default tenant's `NAME`).
fn split_stored(stored: &str) -> (String, String) {
    match stored.split_once(':') {
        Some((t, p)) => (t.to_string(), p.to_string()),
        None => (Tenant::default().name().to_string(), stored.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_core::ProgramSpec;
    use promptsmith_store::{NewEvaluation, NewVersion};

    #[tokio::test]
    async fn stored_evaluation_scores_are_watched_too_and_alert_once_per_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).await.unwrap();
        let spec =
            ProgramSpec::parse(r#"{"name": "qa", "predictors": [{"name": "p", "signature": "q -> a"}]}"#, false, "t")
                .unwrap();
        let state = spec.build("t").unwrap().state();
        let v = store.register_version(&NewVersion::new("qa", spec, state, "me")).await.unwrap();
        store.activate("qa", v.version, "me", "test").await.unwrap();
        let row = |score: f64| NewEvaluation {
            program: "qa".into(),
            version: Some(v.version),
            score,
            ..NewEvaluation::default()
        };
        let mut rows: Vec<NewEvaluation> = (0..50).map(|_| row(1.0)).collect();
        rows.extend((0..50).map(|i| row(if i % 2 == 0 { 1.0 } else { 0.0 })));
        store.insert_evaluations(&rows).await.unwrap();
        let monitor = QualityMonitor::new(store.clone());
        let alerts = monitor.check(0).await.unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!((alerts[0].source.as_str(), alerts[0].version), ("evaluation", v.version));
        assert!((alerts[0].report.relative_drop - 0.5).abs() < 1e-9, "{:?}", alerts[0].report);
        assert!(monitor.check(0).await.unwrap().is_empty(), "the same window alerts once");
    }

    #[tokio::test]
    async fn health_limits_alert_once_per_breach_and_again_after_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).await.unwrap();
        let spec =
            ProgramSpec::parse(r#"{"name": "qa", "predictors": [{"name": "p", "signature": "q -> a"}]}"#, false, "t")
                .unwrap();
        let state = spec.build("t").unwrap().state();
        let v = store.register_version(&NewVersion::new("qa", spec, state, "me")).await.unwrap();
        store.activate("qa", v.version, "me", "test").await.unwrap();
        let served = |failed: bool| NewEvaluation {
            program: "qa".into(),
            version: Some(v.version),
            error: failed.then(|| "timeout".to_string()),
            latency_ms: 40,
            ..NewEvaluation::default()
        };
        let monitor = QualityMonitor::new(store.clone());
        // 40 predictions with 20 failures: too few for the limits to apply.
        store.insert_evaluations(&(0..40).map(|i| served(i % 2 == 0)).collect::<Vec<_>>()).await.unwrap();
        assert!(monitor.check_health(0).await.unwrap().is_empty());
        store.insert_evaluations(&(0..20).map(|_| served(false)).collect::<Vec<_>>()).await.unwrap();
        let alerts = monitor.check_health(0).await.unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!((alerts[0].breach.measure, alerts[0].predictions), ("error_rate", 60));
        assert!((alerts[0].breach.observed - 20.0 / 60.0).abs() < 1e-9);
        assert!(monitor.check_health(0).await.unwrap().is_empty(), "one alert per breach");
        store.insert_evaluations(&(0..200).map(|_| served(false)).collect::<Vec<_>>()).await.unwrap();
        assert!(monitor.check_health(0).await.unwrap().is_empty(), "recovered");
        store.insert_evaluations(&(0..40).map(|_| served(true)).collect::<Vec<_>>()).await.unwrap();
        assert_eq!(monitor.check_health(0).await.unwrap().len(), 1, "a new breach alerts again");
    }
}
