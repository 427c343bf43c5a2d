//! [`ExperimentService`]: A/B tests of a challenger version against the control on live traffic,
//! judged with always-valid statistics, so the status can be looked at after every prediction
//! without inflating false wins. The CLI's `experiment` commands and the server's
//! `/v1/experiments` both call it.
//!
//! - Assignment is sticky per caller: the arm is a hash of the caller key and the experiment id
//!   ([`assign`]); a prediction without a key is assigned at random and says so.
//! - Each arm's outcome is the feedback rating of its predictions (`metric: feedback`, the
//!   default) or their stored evaluation score (`evaluation`).
//! - The difference challenger − control gets an asymptotic confidence sequence
//!   ([`promptsmith_eval::stats::sequential`]) at level `1 − alpha`, with its always-valid
//!   p-value; [`decide`] turns it and the stopping rules into a decision.

use crate::error::{AppError, Result};
use crate::rollout::{check_guardrails, GuardrailCheck, Guardrails, RolloutSettings};
use crate::tenant::Tenant;
use promptsmith_eval::stats::sequential::{confidence_sequence, mixing_for, ArmStats, SequentialInterval};
use promptsmith_store::{ArmTotals, Experiment, NewExperiment, ProgramRef, Store, VersionSelector};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The control arm.
pub const CONTROL: &str = "control";
/// The challenger arm.
pub const CHALLENGER: &str = "challenger";

/// An experiment to start (the body of `POST /v1/experiments`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentRequest {
    /// The program.
    pub program: String,
    /// The control: a version number or alias (default `production`).
    #[serde(default = "production")]
    pub control: String,
    /// The challenger: a version number or alias (`candidate`, `7`).
    pub challenger: String,
    /// Share of traffic to the challenger, in (0, 1) (default 0.1).
    #[serde(default = "default_traffic")]
    pub traffic: f64,
    /// `feedback` (ratings of the arm's predictions, default) or `evaluation` (stored scores).
    #[serde(default = "default_metric")]
    pub metric: String,
    /// Outcomes each arm needs before a decision (default 100).
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// Smallest gain worth deploying, in score points (default 0).
    #[serde(default)]
    pub min_effect: f64,
    /// Hours after which an undecided experiment ends with no difference (default 24).
    #[serde(default = "default_hours")]
    pub max_duration_hours: f64,
    /// Significance level, valid at every look (default 0.05).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// When the challenger wins, start a gradual rollout of it at once (default true).
    #[serde(default = "yes")]
    pub auto_rollout: bool,
    /// Limits on the challenger's error rate, p95 latency and cost per call; a breach ends the
    /// experiment (`guardrail_breached`). Quality is the experiment's own test, so `quality`
    /// is not read here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<Guardrails>,
    /// How the winner's automatic rollout moves (default: the rollout defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSettings>,
}

fn yes() -> bool {
    true
}

fn production() -> String {
    promptsmith_store::PRODUCTION.into()
}
fn default_traffic() -> f64 {
    0.1
}
fn default_metric() -> String {
    "feedback".into()
}
fn default_min_samples() -> u64 {
    100
}
fn default_hours() -> f64 {
    24.0
}
fn default_alpha() -> f64 {
    0.05
}

/// The stopping rules kept with an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StoppingRules {
    /// Outcomes each arm needs before a decision.
    pub min_samples: u64,
    /// Smallest gain worth deploying.
    pub min_effect: f64,
    /// Undecided after this long: no difference.
    pub max_duration_ms: i64,
    /// Significance level.
    pub alpha: f64,
}

/// Where an experiment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Not enough evidence yet.
    Continue,
    /// The challenger is significantly better (by at least the minimum effect).
    ChallengerWins,
    /// The control is significantly better.
    ControlWins,
    /// The arms are within the minimum effect of each other, or time ran out undecided.
    NoDifference,
    /// Stopped by hand.
    Stopped,
    /// A guardrail on the challenger (errors, latency, cost) was breached.
    GuardrailBreached,
}

impl Decision {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Continue => "continue",
            Decision::ChallengerWins => "challenger_wins",
            Decision::ControlWins => "control_wins",
            Decision::NoDifference => "no_difference",
            Decision::Stopped => "stopped",
            Decision::GuardrailBreached => "guardrail_breached",
        }
    }
}

/// The arm `caller` is in: the challenger when the hash of the experiment id and the caller
/// falls below `traffic`. The same caller always gets the same arm of an experiment.
pub fn assign(experiment: &str, caller: &str, traffic: f64) -> &'static str {
    let digest = Sha256::digest(format!("{experiment}:{caller}").as_bytes());
    let mut top = [0u8; 8];
    top.copy_from_slice(&digest[..8]);
    let unit = u64::from_be_bytes(top) as f64 / (u64::MAX as f64 + 1.0);
    if unit < traffic {
        CHALLENGER
    } else {
        CONTROL
    }
}

/// The always-valid p-value of the sequence: the smallest level at which it excludes 0
/// (closed form of Robbins' normal-mixture boundary).
pub fn always_valid_p(cs: &SequentialInterval, mixing: f64) -> f64 {
    let (v, m, d) = (cs.information, mixing, cs.difference);
    (((v + m) / m).sqrt() * (-(d * d * v * v) / (2.0 * (v + m))).exp()).min(1.0)
}

/// The mixing parameter for an experiment planned at `min_samples` per arm (outcomes in
/// [0, 1], so at most variance 0.25 each).
pub fn planned_mixing(rules: &StoppingRules) -> f64 {
    mixing_for(2.0 * rules.min_samples.max(2) as f64, rules.alpha)
}

/// The decision from the two arms' outcomes, the rules and the time since the start.
pub fn decide(
    control: &ArmStats,
    challenger: &ArmStats,
    rules: &StoppingRules,
    elapsed_ms: i64,
) -> (Decision, Option<SequentialInterval>) {
    let cs = confidence_sequence(control, challenger, rules.alpha, planned_mixing(rules)).ok();
    let enough = control.n >= rules.min_samples && challenger.n >= rules.min_samples;
    let decision = match cs {
        Some(cs) if enough && cs.lower > 0.0 && cs.difference >= rules.min_effect => Decision::ChallengerWins,
        Some(cs) if enough && cs.upper < 0.0 => Decision::ControlWins,
        Some(cs) if enough && rules.min_effect > 0.0 && cs.lower > -rules.min_effect && cs.upper < rules.min_effect => {
            Decision::NoDifference
        }
        _ if elapsed_ms >= rules.max_duration_ms => Decision::NoDifference,
        _ => Decision::Continue,
    };
    (decision, cs)
}

/// One arm as reported.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ArmView {
    /// The version serving it.
    pub version: i64,
    /// Predictions served.
    pub predictions: i64,
    /// Of which failed.
    pub errors: i64,
    /// Mean latency of its predictions, ms.
    pub mean_latency_ms: Option<f64>,
    /// Outcomes observed.
    pub n: u64,
    /// Their mean.
    pub mean: Option<f64>,
    /// A 95% normal interval of the mean (fixed-horizon, for reading only).
    pub interval: Option<[f64; 2]>,
}

/// The difference challenger − control.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DifferenceView {
    /// Its estimate.
    pub estimate: f64,
    /// The confidence sequence's lower end (valid at every look).
    pub lower: f64,
    /// Its upper end.
    pub upper: f64,
    /// The level, `1 − alpha`.
    pub confidence: f64,
}

/// An experiment's status.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExperimentView {
    /// Id.
    pub id: String,
    /// The program (as the tenant names it).
    pub program: String,
    /// `running`, `completed` or `stopped`.
    pub status: String,
    /// Share of traffic to the challenger.
    pub traffic: f64,
    /// `feedback` or `evaluation`.
    pub metric: String,
    /// The control arm.
    pub control: ArmView,
    /// The challenger arm.
    pub challenger: ArmView,
    /// Challenger − control, once each arm has two outcomes.
    pub difference: Option<DifferenceView>,
    /// The always-valid p-value of no difference.
    pub p_value: Option<f64>,
    /// Where it stands.
    pub decision: Decision,
    /// Whether the challenger should be deployed.
    pub deployment_recommended: bool,
    /// The guardrails' readings, when the experiment has guardrails.
    pub guardrails: Vec<GuardrailCheck>,
    /// Start (RFC 3339).
    pub created_at: String,
    /// End (RFC 3339).
    pub ended_at: Option<String>,
}

pub(crate) fn arm_view(version: i64, t: &ArmTotals) -> ArmView {
    let stats = ArmStats { n: t.n.max(0) as u64, sum: t.sum, sum_sq: t.sum_sq };
    let mean = (stats.n > 0).then(|| stats.mean());
    let interval = (stats.n > 1).then(|| {
        let half = 1.96 * (stats.variance() / stats.n as f64).sqrt();
        [stats.mean() - half, stats.mean() + half]
    });
    ArmView {
        version,
        predictions: t.predictions,
        errors: t.errors,
        mean_latency_ms: (t.predictions > 0).then(|| t.latency_ms_sum / t.predictions as f64),
        n: stats.n,
        mean,
        interval,
    }
}

/// Starts, reads and stops experiments in one store.
#[derive(Debug, Clone)]
pub struct ExperimentService {
    store: Store,
}

impl ExperimentService {
    /// Experiments in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Starts `req` for `tenant`: both versions resolved now (aliases that move later do not
    /// move the experiment); 409 when the program already runs one.
    pub async fn start(&self, tenant: &Tenant, req: &ExperimentRequest) -> Result<ExperimentView> {
        self.start_for(tenant, req, None).await
    }

    /// [`ExperimentService::start`] of the result of optimization job `optimization_id` (named
    /// in its `experiment.result` event).
    pub async fn start_for(
        &self,
        tenant: &Tenant,
        req: &ExperimentRequest,
        optimization_id: Option<&str>,
    ) -> Result<ExperimentView> {
        if !(req.traffic > 0.0 && req.traffic < 1.0) {
            return Err(AppError::invalid(format!("traffic {}: expected a share in (0, 1) such as 0.1", req.traffic)));
        }
        if !(req.alpha > 0.0 && req.alpha < 0.5) {
            return Err(AppError::invalid(format!("alpha {}: expected a level in (0, 0.5) such as 0.05", req.alpha)));
        }
        if !(req.max_duration_hours > 0.0 && req.max_duration_hours.is_finite()) {
            return Err(AppError::invalid("max_duration_hours: expected a positive number of hours"));
        }
        if !(req.min_effect >= 0.0 && req.min_effect < 1.0) || req.min_samples < 2 {
            return Err(AppError::invalid("min_effect must be in [0, 1) and min_samples at least 2"));
        }
        if req.metric != "feedback" && req.metric != "evaluation" {
            return Err(AppError::invalid(format!("metric '{}': use feedback or evaluation", req.metric)));
        }
        if let Some(r) = &req.rollout {
            crate::rollout::check_settings(r).map_err(|e| e.context("rollout"))?;
        }
        let program = tenant.qualify(&req.program)?;
        let control = self.version(&program, &req.program, &req.control).await?;
        let challenger = self.version(&program, &req.program, &req.challenger).await?;
        if control == challenger {
            return Err(AppError::invalid(format!(
                "control ({}) and challenger ({}) are both version {control} of '{}'",
                req.control, req.challenger, req.program
            )));
        }
        let rules = StoppingRules {
            min_samples: req.min_samples,
            min_effect: req.min_effect,
            max_duration_ms: (req.max_duration_hours * 3_600_000.0) as i64,
            alpha: req.alpha,
        };
        let new = NewExperiment {
            id: crate::ids::new_id("exp"),
            tenant: tenant.name().to_string(),
            program,
            control_version: control,
            challenger_version: challenger,
            traffic: req.traffic,
            metric: req.metric.clone(),
            settings: json!({"rules": rules, "control": req.control, "challenger": req.challenger,
                "auto_rollout": req.auto_rollout, "optimization_id": optimization_id, "guardrails": req.guardrails,
                "rollout": req.rollout}),
            kind: "experiment".into(),
        };
        let e = self.store.insert_experiment(&new).await.map_err(|e| rename(e.into(), &new.program, &req.program))?;
        self.view(tenant, e, promptsmith_core::clock::now_ms()).await
    }

    async fn version(&self, qualified: &str, name: &str, selector: &str) -> Result<i64> {
        let reference = ProgramRef { name: qualified.to_string(), selector: VersionSelector::parse(selector) };
        let v = self.store.resolve(&reference).await.map_err(|e| rename(e.into(), qualified, name))?;
        Ok(v.version)
    }

    /// The experiment's status now; a decision other than `continue` ends it (it is persisted,
    /// and traffic goes back to the control).
    pub async fn status(&self, tenant: &Tenant, id: &str) -> Result<ExperimentView> {
        let e = self.owned(tenant, id).await?;
        self.view(tenant, e, promptsmith_core::clock::now_ms()).await
    }

    /// Stops a running experiment by hand.
    pub async fn stop(&self, tenant: &Tenant, id: &str) -> Result<ExperimentView> {
        let e = self.owned(tenant, id).await?;
        if e.status != "running" {
            return Err(AppError::conflict(format!("experiment '{id}' has already ended ({})", e.status)));
        }
        self.store.end_experiment(id, "stopped", Decision::Stopped.as_str()).await?;
        let e = self.store.experiment(id).await?;
        self.view(tenant, e, promptsmith_core::clock::now_ms()).await
    }

    /// The tenant's experiments, newest first.
    pub async fn list(&self, tenant: &Tenant, limit: i64) -> Result<Vec<ExperimentView>> {
        let now = promptsmith_core::clock::now_ms();
        let mut out = Vec::new();
        for e in self.store.experiments(tenant.name(), limit).await? {
            out.push(self.view(tenant, e, now).await?);
        }
        Ok(out)
    }

    async fn owned(&self, tenant: &Tenant, id: &str) -> Result<Experiment> {
        match self.store.experiment(id).await {
            Ok(e) if e.spec.tenant == tenant.name() => Ok(e),
            Ok(_) | Err(promptsmith_store::StoreError::NotFound(_)) => {
                Err(AppError::not_found(format!("no experiment '{id}'")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The view at time `now`, ending a running experiment whose decision is final.
    async fn view(&self, tenant: &Tenant, mut e: Experiment, now: i64) -> Result<ExperimentView> {
        let rules: StoppingRules = serde_json::from_value(e.spec.settings["rules"].clone())
            .map_err(|err| AppError::internal(format!("experiment {}: stored rules: {err}", e.spec.id)))?;
        let totals = self.store.arm_totals(&e.spec.id, &e.spec.metric).await?;
        let (c, h) =
            (totals.get(CONTROL).copied().unwrap_or_default(), totals.get(CHALLENGER).copied().unwrap_or_default());
        let stats = |t: &ArmTotals| ArmStats { n: t.n.max(0) as u64, sum: t.sum, sum_sq: t.sum_sq };
        let (mut decision, cs) = decide(&stats(&c), &stats(&h), &rules, now - e.created_at);
        let guardrails = self.guardrails(&e, &c, &h, &rules).await?;
        if decision == Decision::Continue && guardrails.iter().any(|g| g.breached) {
            decision = Decision::GuardrailBreached;
        }
        match e.status.as_str() {
            "running" if decision != Decision::Continue => {
                if self.store.end_experiment(&e.spec.id, "completed", decision.as_str()).await? {
                    e = self.store.experiment(&e.spec.id).await?;
                    self.ended(tenant, &e, decision, cs.as_ref(), &rules, now).await;
                }
            }
            "running" => {}
            _ => decision = parse_decision(e.decision.as_deref()),
        }
        Ok(ExperimentView {
            id: e.spec.id.clone(),
            program: tenant.unqualify(&e.spec.program).unwrap_or(&e.spec.program).to_string(),
            status: e.status.clone(),
            traffic: e.spec.traffic,
            metric: e.spec.metric.clone(),
            control: arm_view(e.spec.control_version, &c),
            challenger: arm_view(e.spec.challenger_version, &h),
            difference: cs.map(|cs| DifferenceView {
                estimate: cs.difference,
                lower: cs.lower,
                upper: cs.upper,
                confidence: 1.0 - rules.alpha,
            }),
            p_value: cs.map(|cs| always_valid_p(&cs, planned_mixing(&rules))),
            decision,
            deployment_recommended: decision == Decision::ChallengerWins,
            guardrails,
            created_at: promptsmith_core::clock::rfc3339(e.created_at),
            ended_at: e.ended_at.map(promptsmith_core::clock::rfc3339),
        })
    }
}

impl ExperimentService {
    /// After a decision: the `experiment.result` event, and the rollout of a winner.
    async fn ended(
        &self,
        tenant: &Tenant,
        e: &Experiment,
        decision: Decision,
        cs: Option<&SequentialInterval>,
        rules: &StoppingRules,
        now: i64,
    ) {
        let winner = match decision {
            Decision::ChallengerWins => Some(CHALLENGER),
            Decision::ControlWins => Some(CONTROL),
            _ => None,
        };
        let p = cs.map(|cs| always_valid_p(cs, planned_mixing(rules)));
        let data = json!({
            "experiment_id": e.spec.id,
            "optimization_id": e.spec.settings.get("optimization_id"),
            "program": tenant.unqualify(&e.spec.program).unwrap_or(&e.spec.program),
            "decision": decision.as_str(),
            "winner": winner,
            "confidence": p.map(|p| 1.0 - p),
            "deployment_recommended": decision == Decision::ChallengerWins,
        });
        crate::webhooks::emit(&self.store, tenant.name(), "experiment.result", data, now).await;
        let auto = e.spec.settings.get("auto_rollout").and_then(|v| v.as_bool()).unwrap_or(false);
        if decision == Decision::ChallengerWins && auto {
            let rollouts = crate::rollout::RolloutService::new(self.store.clone());
            if let Err(err) = rollouts.start_after(tenant, e, now).await {
                tracing::warn!(experiment = %e.spec.id, error = %err, "the winner's rollout did not start");
            }
        }
    }

    /// Decides a running experiment at time `now` (the scheduled pass); the decision.
    pub async fn decide_at(&self, e: Experiment, now: i64) -> Result<Decision> {
        let tenant = Tenant::new(&e.spec.tenant)?;
        Ok(self.view(&tenant, e, now).await?.decision)
    }
}

impl ExperimentService {
    /// The readings of the experiment's guardrails (none configured: none).
    async fn guardrails(
        &self,
        e: &Experiment,
        c: &ArmTotals,
        h: &ArmTotals,
        rules: &StoppingRules,
    ) -> Result<Vec<GuardrailCheck>> {
        let Some(g) = e.spec.settings.get("guardrails").filter(|g| !g.is_null()) else { return Ok(Vec::new()) };
        let g: Guardrails = serde_json::from_value(g.clone())
            .map_err(|err| AppError::internal(format!("experiment {}: stored guardrails: {err}", e.spec.id)))?;
        let g = Guardrails { quality: false, ..g };
        let p95 = crate::rollout::challenger_p95(&self.store, &e.spec.id).await?;
        Ok(check_guardrails(&g, c, h, p95, rules.min_samples))
    }
}

fn parse_decision(s: Option<&str>) -> Decision {
    match s {
        Some("challenger_wins") => Decision::ChallengerWins,
        Some("control_wins") => Decision::ControlWins,
        Some("no_difference") => Decision::NoDifference,
        Some("continue") => Decision::Continue,
        Some("guardrail_breached") => Decision::GuardrailBreached,
        _ => Decision::Stopped,
    }
}

/// An error with the tenant's own name for the program.
fn rename(e: AppError, qualified: &str, name: &str) -> AppError {
    if qualified == name {
        return e;
    }
    AppError::new(e.kind, e.message.replace(qualified, name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const RULES: StoppingRules =
        StoppingRules { min_samples: 50, min_effect: 0.0, max_duration_ms: 1_000, alpha: 0.05 };

    fn arm(rng: &mut rand_chacha::ChaCha8Rng, p: f64, n: u64) -> ArmStats {
        let mut a = ArmStats::default();
        for _ in 0..n {
            a.push(f64::from(u8::from(rng.gen_bool(p))));
        }
        a
    }

    #[test]
    fn assignment_is_sticky_and_splits_traffic_as_asked() {
        assert_eq!(assign("exp_1", "alice", 0.3), assign("exp_1", "alice", 0.3));
        let share = (0..10_000).filter(|i| assign("exp_1", &format!("caller{i}"), 0.3) == CHALLENGER).count();
        assert!((2_800..3_200).contains(&share), "{share} of 10,000 to the challenger at 0.3");
    }

    #[test]
    fn decisions_follow_the_confidence_sequence_and_the_rules() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (a, b) = (arm(&mut rng, 0.5, 400), arm(&mut rng, 0.8, 400));
        let (d, cs) = decide(&a, &b, &RULES, 0);
        assert_eq!(d, Decision::ChallengerWins, "{cs:?}");
        assert_eq!(decide(&b, &a, &RULES, 0).0, Decision::ControlWins);
        // Too few samples: no decision however large the gap.
        assert_eq!(decide(&arm(&mut rng, 0.1, 10), &arm(&mut rng, 0.9, 10), &RULES, 0).0, Decision::Continue);
        // Undecided at the deadline: no difference.
        let same = (arm(&mut rng, 0.6, 60), arm(&mut rng, 0.6, 60));
        assert_eq!(decide(&same.0, &same.1, &RULES, 0).0, Decision::Continue);
        assert_eq!(decide(&same.0, &same.1, &RULES, 1_000).0, Decision::NoDifference);
        // A gain below the minimum effect is not a win.
        let rules = StoppingRules { min_effect: 0.5, ..RULES };
        assert_ne!(decide(&a, &b, &rules, 0).0, Decision::ChallengerWins);
    }

    #[test]
    fn the_always_valid_p_value_is_below_alpha_exactly_when_the_sequence_excludes_zero() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let m = planned_mixing(&RULES);
        for (pa, pb, n) in [(0.5, 0.8, 200), (0.5, 0.55, 200), (0.5, 0.5, 300), (0.7, 0.6, 500)] {
            let (a, b) = (arm(&mut rng, pa, n), arm(&mut rng, pb, n));
            let cs = confidence_sequence(&a, &b, 0.05, m).unwrap();
            let p = always_valid_p(&cs, m);
            assert_eq!(p < 0.05, cs.decision() != 0, "{pa} vs {pb}: p {p}, {cs:?}");
            // At level p itself the sequence touches 0.
            if p > 1e-9 && p < 0.999 {
                let at_p = confidence_sequence(&a, &b, p, m).unwrap();
                assert!(at_p.lower.abs() < 1e-9 || at_p.upper.abs() < 1e-9, "{at_p:?}");
            }
        }
    }
}
