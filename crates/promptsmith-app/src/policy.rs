//! Continuous optimization: a [`Policy`] per program says when to re-optimize on its own and
//! what its result must show before it meets live traffic; [`PolicyEngine::tick`] (part of the
//! supervisor's pass) applies it. Each pass, per program with automatic optimization on:
//!
//! 1. An automatic optimization still running: wait. One that finished: deploy its result by an
//!    experiment against production when it was registered and beat the program offline by at
//!    least `min_offline_gain` with confidence at least `min_confidence_for_deployment`
//!    (`1 − p` of the paired test on the held-out split); otherwise say why not.
//! 2. Otherwise, at most once per `optimization_interval_hours`: when production's quality
//!    degraded (the quality monitor's alert) or `feedback_volume_threshold` new labelled
//!    feedback examples arrived, build a training set from the feedback (corrections become
//!    labels; predictions rated at least `approved_rating` keep their own outputs as labels)
//!    merged with the policy's stored dataset, deduplicated, and queue an optimization
//!    that starts from the production version (a warm start).
//!
//! Every decision goes to the program's timeline with its reason (`GET
//! /v1/programs/{name}/timeline`, `promptsmith policy timeline`); repeated identical "skipped"
//! decisions are written once.

use crate::error::{AppError, Result};
use crate::experiments::{ExperimentRequest, ExperimentService};
use crate::jobs::JobService;
use crate::optimize::OptimizerSpec;
use crate::tenant::Tenant;
use promptsmith_lm::LmConfig;
use promptsmith_store::{JobStatus, Store, StoredPolicy, TimelineEntry};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Fewest examples an automatic optimization starts with.
const MIN_EXAMPLES: usize = 8;

/// A program's continuous-optimization policy (`PUT /v1/programs/{name}/policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Re-optimize without a person (default false: the policy only records what it would do).
    #[serde(default)]
    pub enable_automatic_optimization: bool,
    /// Relative quality drop that counts as degradation (default 0.15).
    #[serde(default = "default_threshold")]
    pub performance_degradation_threshold: f64,
    /// New labelled feedback examples that trigger a re-optimization (default 50).
    #[serde(default = "default_volume")]
    pub feedback_volume_threshold: usize,
    /// At most one automatic optimization per this many hours (default 24).
    #[serde(default = "default_interval")]
    pub optimization_interval_hours: f64,
    /// Confidence (1 − p of the held-out paired test) a result needs to be deployed (default 0.8).
    #[serde(default = "default_confidence")]
    pub min_confidence_for_deployment: f64,
    /// Relative offline gain a result needs to be deployed (default 0.05).
    #[serde(default = "default_gain")]
    pub min_offline_gain: f64,
    /// The optimizer and its settings, as a job's `optimizer` (default BootstrapFewShot with its
    /// defaults).
    #[serde(default = "default_optimizer")]
    #[schema(value_type = Object)]
    pub optimizer: OptimizerSpec,
    /// The metric id (default `exact_match`).
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The output field the metric compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A stored dataset (`ds_…`) merged into the feedback examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Most LM calls one automatic optimization may make (default 500).
    #[serde(default = "default_max_calls")]
    pub max_calls: u64,
    /// Share of traffic the experiment of a deployed result gives it (default 0.1).
    #[serde(default = "default_traffic")]
    pub experiment_traffic: f64,
    /// Predictions rated at least this without a correction join the training set with their
    /// own outputs as labels (default 1.0: only those rated fully right).
    #[serde(default = "default_approved")]
    pub approved_rating: f64,
    /// Outcomes each arm of that experiment needs before a decision (default 100).
    #[serde(default = "default_experiment_samples")]
    pub experiment_min_samples: u64,
    /// How a winning result's rollout moves (default: the rollout defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollout::RolloutSettings>,
    /// Limits on the production version's error rate, p95 latency and cost per call that the
    /// monitor alerts on (default: at most 5% failed predictions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::HealthLimits>,
}

fn default_approved() -> f64 {
    1.0
}
fn default_experiment_samples() -> u64 {
    100
}

fn default_threshold() -> f64 {
    0.15
}
fn default_volume() -> usize {
    50
}
fn default_interval() -> f64 {
    24.0
}
fn default_confidence() -> f64 {
    0.8
}
fn default_gain() -> f64 {
    0.05
}
fn default_optimizer() -> OptimizerSpec {
    OptimizerSpec::Bootstrap(Default::default())
}
fn default_metric() -> String {
    "exact_match".into()
}
fn default_max_calls() -> u64 {
    500
}
fn default_traffic() -> f64 {
    0.1
}

impl Default for Policy {
    fn default() -> Self {
        serde_json::from_value(json!({})).unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

impl Policy {
    fn check(&self) -> Result<()> {
        if !(self.performance_degradation_threshold > 0.0 && self.performance_degradation_threshold < 1.0) {
            return Err(AppError::invalid(
                "performance_degradation_threshold: expected a share in (0, 1) such as 0.15",
            ));
        }
        if !(self.min_confidence_for_deployment >= 0.0 && self.min_confidence_for_deployment < 1.0) {
            return Err(AppError::invalid("min_confidence_for_deployment: expected a value in [0, 1) such as 0.8"));
        }
        if !(self.optimization_interval_hours >= 0.0 && self.optimization_interval_hours.is_finite()) {
            return Err(AppError::invalid("optimization_interval_hours: expected a number of hours >= 0"));
        }
        if !(self.experiment_traffic > 0.0 && self.experiment_traffic < 1.0) || self.feedback_volume_threshold == 0 {
            return Err(AppError::invalid(
                "experiment_traffic must be in (0, 1) and feedback_volume_threshold at least 1",
            ));
        }
        if let Some(h) = &self.health {
            h.check().map_err(AppError::invalid)?;
        }
        Ok(())
    }
}

/// One timeline entry as shown.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimelineView {
    /// When (RFC 3339).
    pub at: String,
    /// `trigger`, `optimization` or `deployment`.
    pub kind: String,
    /// What was decided.
    pub decision: String,
    /// Why.
    pub reason: String,
    /// Details.
    pub data: Value,
}

impl From<&TimelineEntry> for TimelineView {
    fn from(e: &TimelineEntry) -> Self {
        TimelineView {
            at: promptsmith_core::clock::rfc3339(e.at),
            kind: e.kind.clone(),
            decision: e.decision.clone(),
            reason: e.reason.clone(),
            data: e.data.clone(),
        }
    }
}

/// Sets and reads policies and timelines.
#[derive(Debug, Clone)]
pub struct PolicyService {
    store: Store,
}

impl PolicyService {
    /// Policies in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Sets `name`'s policy (the program must be registered).
    pub async fn set(&self, tenant: &Tenant, name: &str, policy: &Policy) -> Result<Policy> {
        policy.check()?;
        let program = tenant.qualify(name)?;
        self.store.program(&program).await.map_err(|e| {
            let e = AppError::from(e);
            AppError::new(e.kind, e.message.replace(&program, name))
        })?;
        let value = serde_json::to_value(policy).map_err(|e| AppError::internal(e.to_string()))?;
        self.store.put_policy(&program, tenant.name(), &value).await?;
        Ok(policy.clone())
    }

    /// `name`'s policy (the defaults when none was set).
    pub async fn get(&self, tenant: &Tenant, name: &str) -> Result<Policy> {
        match self.store.policy(&tenant.qualify(name)?).await? {
            Some(p) => parse(&p),
            None => Ok(Policy::default()),
        }
    }

    /// `name`'s last `limit` decisions, newest first.
    pub async fn timeline(&self, tenant: &Tenant, name: &str, limit: i64) -> Result<Vec<TimelineView>> {
        let entries = self.store.timeline(&tenant.qualify(name)?, limit).await?;
        Ok(entries.iter().map(TimelineView::from).collect())
    }
}

fn parse(p: &StoredPolicy) -> Result<Policy> {
    serde_json::from_value(p.policy.clone())
        .map_err(|e| AppError::internal(format!("policy of '{}': stored value: {e}", p.program)))
}

/// Applies the policies: queues automatic optimizations and deploys their results.
#[derive(Debug, Clone)]
pub struct PolicyEngine {
    store: Store,
    jobs: JobService,
    pricing: LmConfig,
}

impl PolicyEngine {
    /// An engine that queues jobs on `jobs` (priced with `pricing`).
    pub fn new(store: Store, jobs: JobService, pricing: LmConfig) -> Self {
        Self { store, jobs, pricing }
    }

    /// One pass at `now`; `degraded` names the programs (registry names) whose production
    /// quality the monitor found degraded in this pass. Returns `(program, decision)` pairs.
    pub async fn tick(&self, now: i64, degraded: &[String]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for stored in self.store.policies().await? {
            let policy = parse(&stored)?;
            if !policy.enable_automatic_optimization {
                continue;
            }
            let degraded = degraded.contains(&stored.program);
            match self.step(&stored, &policy, now, degraded).await {
                Ok(Some(decision)) => out.push((stored.program.clone(), decision)),
                Ok(None) => {}
                Err(e) => tracing::warn!(program = %stored.program, error = %e, "policy"),
            }
        }
        Ok(out)
    }

    async fn step(&self, p: &StoredPolicy, policy: &Policy, now: i64, degraded: bool) -> Result<Option<String>> {
        let started = self.store.last_decision(&p.program, "optimization", "started").await?;
        if let Some(started) = &started {
            let finished = self.store.last_decision(&p.program, "optimization", "finished").await?;
            if finished.is_none_or(|f| f.data["job_id"] != started.data["job_id"]) {
                return self.follow(p, policy, started, now).await;
            }
            let hours = (now - started.at) as f64 / 3_600_000.0;
            if hours < policy.optimization_interval_hours {
                let reason = format!(
                    "skipped: the last automatic optimization started {hours:.1} h ago (at most one per {} h)",
                    policy.optimization_interval_hours
                );
                return self.note(&p.program, now, "trigger", "skipped", &reason, json!({})).await;
            }
        }
        let since = started.as_ref().and_then(|s| s.data["max_evaluation_id"].as_i64()).unwrap_or(0);
        let feedback = self.store.feedback_examples(Some(&p.program)).await?;
        let new = feedback.iter().filter(|f| f.evaluation_id > since).count();
        if !degraded && new < policy.feedback_volume_threshold {
            let reason = format!("skipped: {new} of {} new feedback examples", policy.feedback_volume_threshold);
            return self.note(&p.program, now, "trigger", "skipped", &reason, json!({"new_feedback": new})).await;
        }
        let why = if degraded {
            "production's quality degraded".to_string()
        } else {
            format!("{new} new feedback examples (threshold {})", policy.feedback_volume_threshold)
        };
        let mut rows: Vec<Map<String, Value>> = Vec::new();
        if let Some(id) = &policy.dataset {
            rows.extend(crate::datasets::stored_rows(&self.store, id).await?);
        }
        rows.extend(feedback.iter().map(|f| f.example.clone()));
        let approved = self.store.approved_examples(&p.program, policy.approved_rating).await?;
        rows.extend(approved.into_iter().map(|f| f.example));
        let rows = dedup(rows);
        if rows.len() < MIN_EXAMPLES {
            let reason = format!("skipped: {why}, but only {} examples (at least {MIN_EXAMPLES})", rows.len());
            return self.note(&p.program, now, "trigger", "skipped", &reason, json!({"examples": rows.len()})).await;
        }
        let max_id = feedback.iter().map(|f| f.evaluation_id).max().unwrap_or(since);
        self.start(p, policy, rows, &why, max_id, now).await.map(Some)
    }

    async fn start(
        &self,
        p: &StoredPolicy,
        policy: &Policy,
        rows: Vec<Map<String, Value>>,
        why: &str,
        max_id: i64,
        now: i64,
    ) -> Result<String> {
        let tenant = Tenant::new(&p.tenant)?;
        let name = tenant.unqualify(&p.program).unwrap_or(&p.program).to_string();
        let n = rows.len();
        // Registered without promotion: deployment goes through an experiment.
        let request = serde_json::from_value(json!({
            "program": format!("{name}@production"),
            "dataset": rows,
            "optimizer": policy.optimizer,
            "metric": policy.metric,
            "field": policy.field,
            "budget": {"max_calls": policy.max_calls},
            "register": {"name": name, "promote": false},
        }))
        .map_err(|e| AppError::internal(format!("automatic optimization request: {e}")))?;
        let job = self.jobs.submit(&tenant, request, &self.pricing).await?;
        let reason = format!("started: {why}; {n} examples, from production (job {})", job.id);
        let data = json!({"job_id": job.id, "examples": n, "max_evaluation_id": max_id});
        self.store.append_timeline(&p.program, now, "optimization", "started", &reason, &data).await?;
        Ok(reason)
    }

    /// Follows the running automatic optimization: nothing while it runs; once it ended, the
    /// deployment decision.
    async fn follow(
        &self,
        p: &StoredPolicy,
        policy: &Policy,
        started: &TimelineEntry,
        now: i64,
    ) -> Result<Option<String>> {
        let job_id = started.data["job_id"].as_str().unwrap_or_default().to_string();
        let job = self.store.job(&job_id).await?;
        if matches!(job.status, JobStatus::Queued | JobStatus::Running) {
            return Ok(None);
        }
        let result = job.result.clone().unwrap_or(Value::Null);
        let reason = match job.status {
            JobStatus::Completed => format!("finished: job {job_id} completed"),
            other => format!("finished: job {job_id} {} ({})", other.as_str(), job.error.clone().unwrap_or_default()),
        };
        let data = json!({"job_id": job_id, "status": job.status.as_str()});
        self.store.append_timeline(&p.program, now, "optimization", "finished", &reason, &data).await?;
        if job.status != JobStatus::Completed {
            return Ok(Some(reason));
        }
        self.deploy(p, policy, &job_id, &result, now).await.map(Some)
    }

    async fn deploy(&self, p: &StoredPolicy, policy: &Policy, job_id: &str, r: &Value, now: i64) -> Result<String> {
        let (before, after) = (r["baseline_score"].as_f64(), r["final_score"].as_f64());
        let gain = before.zip(after).map(|(b, f)| if b > 0.0 { (f - b) / b } else { f - b });
        let confidence = r["p_value"].as_f64().map(|p| 1.0 - p);
        let version = r["registered"]["version"].as_i64();
        let data = json!({"job_id": job_id, "offline_gain": gain, "confidence": confidence, "version": version});
        let refuse = match (version, gain, confidence) {
            (None, _, _) => {
                Some("not deployed: the result was not registered (it did not beat the program as written)".to_string())
            }
            (_, Some(g), _) if g < policy.min_offline_gain => {
                Some(format!("not deployed: offline gain {:.1}% < {:.1}%", g * 100.0, policy.min_offline_gain * 100.0))
            }
            (_, _, Some(c)) if c < policy.min_confidence_for_deployment => {
                Some(format!("not deployed: confidence {c:.2} < {:.2}", policy.min_confidence_for_deployment))
            }
            (_, None, _) | (_, _, None) => Some("not deployed: no held-out comparison in the result".to_string()),
            _ => None,
        };
        if let Some(reason) = refuse {
            self.store.append_timeline(&p.program, now, "deployment", "not_deployed", &reason, &data).await?;
            return Ok(reason);
        }
        let tenant = Tenant::new(&p.tenant)?;
        let name = tenant.unqualify(&p.program).unwrap_or(&p.program).to_string();
        let req: ExperimentRequest = serde_json::from_value(json!({
            "program": name, "challenger": version.unwrap_or_default().to_string(),
            "traffic": policy.experiment_traffic, "min_samples": policy.experiment_min_samples,
            "rollout": policy.rollout,
        }))
        .map_err(|e| AppError::internal(format!("experiment request: {e}")))?;
        let experiments = ExperimentService::new(self.store.clone());
        let (decision, reason) = match experiments.start_for(&tenant, &req, Some(job_id)).await {
            Ok(e) => (
                "experiment_started",
                format!(
                    "experiment {} started against production: offline gain {:.1}%, confidence {:.2}",
                    e.id,
                    gain.unwrap_or(0.0) * 100.0,
                    confidence.unwrap_or(0.0)
                ),
            ),
            Err(e) => ("not_deployed", format!("not deployed: the experiment did not start: {}", e.message)),
        };
        self.store.append_timeline(&p.program, now, "deployment", decision, &reason, &data).await?;
        Ok(reason)
    }

    /// Records a decision unless the last one said the same.
    async fn note(
        &self,
        program: &str,
        now: i64,
        kind: &str,
        decision: &str,
        reason: &str,
        data: Value,
    ) -> Result<Option<String>> {
        let last = self.store.timeline(program, 1).await?;
        if last.first().is_some_and(|l| l.reason == reason) {
            return Ok(None);
        }
        self.store.append_timeline(program, now, kind, decision, reason, &data).await?;
        Ok(Some(reason.to_string()))
    }
}

/// Rows with the same content (strings trimmed and lower-cased) kept once, first first.
fn dedup(rows: Vec<Map<String, Value>>) -> Vec<Map<String, Value>> {
    let mut seen = BTreeSet::new();
    rows.into_iter()
        .filter(|r| {
            let key: Vec<(String, String)> = r
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), |s| s.trim().to_lowercase())))
                .collect();
            seen.insert(key)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_seeds() {
        let p = Policy::default();
        assert!(!p.enable_automatic_optimization);
        assert_eq!((p.performance_degradation_threshold, p.feedback_volume_threshold), (0.15, 50));
        assert_eq!((p.optimization_interval_hours, p.min_confidence_for_deployment), (24.0, 0.8));
        assert!(p.check().is_ok());
        let bad = Policy { min_confidence_for_deployment: 1.5, ..Policy::default() };
        assert!(bad.check().unwrap_err().message.contains("min_confidence_for_deployment"));
    }

    #[test]
    fn duplicates_are_dropped_by_normalised_content() {
        let row = |q: &str, a: &str| json!({"question": q, "answer": a}).as_object().cloned().unwrap();
        let rows = vec![row("What is 1+1?", "2"), row("  what is 1+1? ", "2"), row("What is 1+2?", "3")];
        assert_eq!(dedup(rows).len(), 2);
    }
}
