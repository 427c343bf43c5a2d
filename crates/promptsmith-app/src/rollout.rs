//! [`RolloutService`]: gradual rollout of a winning version with automatic rollback. A rollout
//! is stored as an experiment row of kind `rollout` whose challenger share grows step by step
//! (10 → 25 → 50 → 75 → 100% by default), so serving routes it exactly like an experiment.
//!
//! Each step is held for a minimum of challenger predictions and of time, and gated by
//! guardrails on the challenger's predictions so far ([`check_guardrails`]): quality not
//! significantly worse than the control (the experiments' always-valid confidence sequence),
//! error rate, p95 latency and cost per call within limits. A breach rolls back at once: the
//! rollout ends, traffic returns to the control, `production` is pointed back at the control
//! through the registry (logged with the policy as actor and the guardrail as reason) and a
//! `rollout.rolled_back` event is emitted. After the last step the challenger becomes
//! `production`; the old version stays one `rollback` away.

use crate::error::{AppError, Result};
use crate::experiments::{arm_view, ArmView, CHALLENGER, CONTROL};
use crate::tenant::Tenant;
use crate::webhooks;
use promptsmith_eval::stats::sequential::{confidence_sequence, mixing_for, ArmStats};
use promptsmith_store::{ArmTotals, Experiment, NewExperiment, ProgramRef, Store, VersionSelector, PRODUCTION};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Who moves aliases for a rollout, in the registry's log.
pub const POLICY_ACTOR: &str = "policy";
/// Most recent challenger predictions the p95 latency is computed over.
const LATENCY_WINDOW: i64 = 1_000;

/// A rollout to start (the body of `POST /v1/rollouts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// The program.
    pub program: String,
    /// The version serving the rest of the traffic, number or alias (default `production`).
    #[serde(default = "production")]
    pub control: String,
    /// The version rolled out, number or alias.
    pub challenger: String,
    /// The rollout's settings.
    #[serde(flatten)]
    pub settings: RolloutSettings,
}

fn production() -> String {
    PRODUCTION.into()
}

/// How a rollout moves and what stops it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RolloutSettings {
    /// The challenger's share at each step, increasing, ending at 1 (default 0.1, 0.25, 0.5,
    /// 0.75, 1).
    #[serde(default = "default_steps")]
    pub steps: Vec<f64>,
    /// Challenger predictions each step must serve before the next (default 50).
    #[serde(default = "default_step_samples")]
    pub min_samples_per_step: u64,
    /// Minutes each step is held at least (default 10).
    #[serde(default = "default_step_minutes")]
    pub min_step_minutes: f64,
    /// `feedback` (default) or `evaluation`: the outcome quality is compared on.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The limits that roll back.
    #[serde(default)]
    pub guardrails: Guardrails,
}

impl Default for RolloutSettings {
    fn default() -> Self {
        RolloutSettings {
            steps: default_steps(),
            min_samples_per_step: default_step_samples(),
            min_step_minutes: default_step_minutes(),
            metric: default_metric(),
            guardrails: Guardrails::default(),
        }
    }
}

fn default_steps() -> Vec<f64> {
    vec![0.1, 0.25, 0.5, 0.75, 1.0]
}
fn default_step_samples() -> u64 {
    50
}
fn default_step_minutes() -> f64 {
    10.0
}
fn default_metric() -> String {
    "feedback".into()
}

/// Guardrails on the challenger's predictions during a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    /// Roll back when the challenger is significantly worse than the control (default true).
    #[serde(default = "yes")]
    pub quality: bool,
    /// Significance level of the quality check, valid at every look (default 0.05).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Highest share of failed predictions (default 0.05).
    #[serde(default = "default_error_rate")]
    pub max_error_rate: f64,
    /// Highest p95 latency, ms (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p95_latency_ms: Option<f64>,
    /// Highest mean cost per prediction, USD (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_per_call_usd: Option<f64>,
    /// Challenger predictions before the error, latency and cost limits apply (default 20).
    #[serde(default = "default_min_predictions")]
    pub min_predictions: u64,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            quality: true,
            alpha: default_alpha(),
            max_error_rate: default_error_rate(),
            max_p95_latency_ms: None,
            max_cost_per_call_usd: None,
            min_predictions: default_min_predictions(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_alpha() -> f64 {
    0.05
}
fn default_error_rate() -> f64 {
    0.05
}
fn default_min_predictions() -> u64 {
    20
}

/// One guardrail's reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuardrailCheck {
    /// `quality`, `error_rate`, `p95_latency_ms` or `cost_per_call_usd`.
    pub name: String,
    /// The reading (for quality: the upper end of challenger − control).
    pub value: f64,
    /// The limit it is held to.
    pub limit: f64,
    /// Whether it is breached.
    pub breached: bool,
}

impl GuardrailCheck {
    fn new(name: &str, value: f64, limit: f64, breached: bool) -> Self {
        GuardrailCheck { name: name.into(), value, limit, breached }
    }

    /// `error_rate 0.31 > 0.05`.
    pub fn describe(&self) -> String {
        match self.name.as_str() {
            "quality" => format!(
                "quality: the challenger is significantly worse than the control (upper end of the difference {:.3} < 0)",
                self.value
            ),
            _ => format!("{} {:.4} > {:.4}", self.name, self.value, self.limit),
        }
    }
}

/// The guardrails' readings from the arms' totals and the challenger's p95 latency.
pub fn check_guardrails(
    g: &Guardrails,
    control: &ArmTotals,
    challenger: &ArmTotals,
    p95_ms: Option<f64>,
    planned_samples: u64,
) -> Vec<GuardrailCheck> {
    let mut checks = Vec::new();
    let stats = |t: &ArmTotals| ArmStats { n: t.n.max(0) as u64, sum: t.sum, sum_sq: t.sum_sq };
    if g.quality {
        let mixing = mixing_for(2.0 * planned_samples.max(2) as f64, g.alpha);
        if let Ok(cs) = confidence_sequence(&stats(control), &stats(challenger), g.alpha, mixing) {
            checks.push(GuardrailCheck::new("quality", cs.upper, 0.0, cs.upper < 0.0));
        }
    }
    let n = challenger.predictions.max(0) as u64;
    if n >= g.min_predictions.max(1) {
        let rate = challenger.errors as f64 / n as f64;
        checks.push(GuardrailCheck::new("error_rate", rate, g.max_error_rate, rate > g.max_error_rate));
        if let (Some(limit), Some(p95)) = (g.max_p95_latency_ms, p95_ms) {
            checks.push(GuardrailCheck::new("p95_latency_ms", p95, limit, p95 > limit));
        }
        if let Some(limit) = g.max_cost_per_call_usd {
            let cost = challenger.cost_usd_sum / n as f64;
            checks.push(GuardrailCheck::new("cost_per_call_usd", cost, limit, cost > limit));
        }
    }
    checks
}

/// What a rollout does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Move {
    /// Keep the current step.
    Hold,
    /// Go to step `index` (0-based).
    Advance(usize),
    /// The last step held: the challenger becomes production.
    Promote,
    /// A guardrail is breached.
    RollBack(GuardrailCheck),
}

/// The next move of a rollout at step `step` that served `step_predictions` challenger
/// predictions over `step_elapsed_ms`, given the guardrails' readings.
pub fn next_move(
    plan: &Plan,
    step: usize,
    checks: &[GuardrailCheck],
    step_predictions: i64,
    step_elapsed_ms: i64,
) -> Move {
    if let Some(breach) = checks.iter().find(|c| c.breached) {
        return Move::RollBack(breach.clone());
    }
    let held = step_predictions >= plan.settings.min_samples_per_step as i64 && step_elapsed_ms >= plan.min_step_ms();
    match (held, step + 1 < plan.settings.steps.len()) {
        (false, _) => Move::Hold,
        (true, true) => Move::Advance(step + 1),
        (true, false) => Move::Promote,
    }
}

/// What a rollout keeps in its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// How it moves.
    pub settings: RolloutSettings,
    /// The current step (0-based).
    pub step: usize,
    /// Challenger predictions served before the current step began.
    pub step_base: i64,
    /// The experiment that recommended it, if any.
    pub experiment_id: Option<String>,
    /// How it ended.
    pub reason: Option<String>,
}

impl Plan {
    fn min_step_ms(&self) -> i64 {
        (self.settings.min_step_minutes * 60_000.0) as i64
    }
}

/// A rollout's status.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RolloutView {
    /// Id.
    pub id: String,
    /// The program (as the tenant names it).
    pub program: String,
    /// `running`, `completed` (promoted), `rolled_back` or `stopped`.
    pub status: String,
    /// The challenger's current share.
    pub traffic: f64,
    /// The current step, from 1.
    pub step: usize,
    /// The shares of all steps.
    pub steps: Vec<f64>,
    /// The control arm.
    pub control: ArmView,
    /// The challenger arm.
    pub challenger: ArmView,
    /// The guardrails' current readings.
    pub guardrails: Vec<GuardrailCheck>,
    /// The experiment that recommended it.
    pub experiment_id: Option<String>,
    /// Why it ended.
    pub reason: Option<String>,
    /// Start (RFC 3339).
    pub created_at: String,
    /// End (RFC 3339).
    pub ended_at: Option<String>,
}

/// Starts, advances, reads and stops rollouts.
#[derive(Debug, Clone)]
pub struct RolloutService {
    store: Store,
}

impl RolloutService {
    /// Rollouts in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Starts a rollout; 409 when the program runs an experiment or rollout already.
    pub async fn start(&self, tenant: &Tenant, req: &RolloutRequest, now: i64) -> Result<RolloutView> {
        check_settings(&req.settings)?;
        let program = tenant.qualify(&req.program)?;
        let control = self.version(&program, &req.program, &req.control).await?;
        let challenger = self.version(&program, &req.program, &req.challenger).await?;
        if control == challenger {
            return Err(AppError::invalid(format!(
                "control ({}) and challenger ({}) are both version {control} of '{}'",
                req.control, req.challenger, req.program
            )));
        }
        self.insert(tenant, &program, control, challenger, req.settings.clone(), None, now).await
    }

    /// Starts the rollout an experiment recommended, with the experiment's `rollout` settings
    /// (default: the defaults, on the experiment's metric).
    pub(crate) async fn start_after(&self, tenant: &Tenant, e: &Experiment, now: i64) -> Result<RolloutView> {
        let asked = e.spec.settings.get("rollout").filter(|r| !r.is_null()).cloned();
        let settings = match asked {
            Some(r) => serde_json::from_value(r).map_err(|err| {
                AppError::internal(format!("experiment {}: stored rollout settings: {err}", e.spec.id))
            })?,
            None => RolloutSettings { metric: e.spec.metric.clone(), ..RolloutSettings::default() },
        };
        let (c, h) = (e.spec.control_version, e.spec.challenger_version);
        self.insert(tenant, &e.spec.program, c, h, settings, Some(e.spec.id.clone()), now).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert(
        &self,
        tenant: &Tenant,
        program: &str,
        control: i64,
        challenger: i64,
        settings: RolloutSettings,
        experiment_id: Option<String>,
        now: i64,
    ) -> Result<RolloutView> {
        let traffic = settings.steps[0];
        let plan = Plan { settings, step: 0, step_base: 0, experiment_id, reason: None };
        let new = NewExperiment {
            id: crate::ids::new_id("ro"),
            tenant: tenant.name().to_string(),
            program: program.to_string(),
            control_version: control,
            challenger_version: challenger,
            traffic,
            metric: plan.settings.metric.clone(),
            settings: serde_json::to_value(&plan).map_err(|e| AppError::internal(e.to_string()))?,
            kind: "rollout".into(),
        };
        let e = self.store.insert_experiment(&new).await?;
        self.store.set_traffic(&e.spec.id, traffic, now, &new.settings).await?;
        emit_step(&self.store, tenant, &e, &plan, traffic, now).await;
        self.status_of(tenant, self.store.experiment(&e.spec.id).await?).await
    }

    async fn version(&self, qualified: &str, name: &str, selector: &str) -> Result<i64> {
        let reference = ProgramRef { name: qualified.to_string(), selector: VersionSelector::parse(selector) };
        let v = self.store.resolve(&reference).await.map_err(|e| {
            let e = AppError::from(e);
            AppError::new(e.kind, e.message.replace(qualified, name))
        })?;
        Ok(v.version)
    }

    /// Advances a running rollout at time `now`: holds, moves a step, promotes or rolls back.
    /// Returns the move made.
    pub async fn advance(&self, e: &Experiment, now: i64) -> Result<Move> {
        let tenant = Tenant::new(&e.spec.tenant)?;
        let mut plan = plan_of(e)?;
        let totals = self.store.arm_totals(&e.spec.id, &e.spec.metric).await?;
        let (c, h) = arms(&totals);
        let checks = self.checks(e, &plan, &c, &h).await?;
        let elapsed = now - e.step_started_at.unwrap_or(e.created_at);
        let mv = next_move(&plan, plan.step, &checks, h.predictions - plan.step_base, elapsed);
        match &mv {
            Move::Hold => {}
            Move::Advance(next) => {
                plan.step = *next;
                plan.step_base = h.predictions;
                let traffic = plan.settings.steps[*next];
                let settings = serde_json::to_value(&plan).map_err(|e| AppError::internal(e.to_string()))?;
                if self.store.set_traffic(&e.spec.id, traffic, now, &settings).await? {
                    emit_step(&self.store, &tenant, e, &plan, traffic, now).await;
                }
            }
            Move::Promote => self.promote(&tenant, e, plan, now).await?,
            Move::RollBack(breach) => self.roll_back(&tenant, e, plan, breach, now).await?,
        }
        Ok(mv)
    }

    async fn promote(&self, tenant: &Tenant, e: &Experiment, mut plan: Plan, now: i64) -> Result<()> {
        let reason = format!(
            "rollout {}: every step held, guardrails passed; version {} promoted",
            e.spec.id, e.spec.challenger_version
        );
        plan.reason = Some(reason.clone());
        if !self.end(e, "completed", "promoted", &plan).await? {
            return Ok(());
        }
        self.store.activate(&e.spec.program, e.spec.challenger_version, POLICY_ACTOR, &reason).await?;
        tracing::info!(rollout = %e.spec.id, version = e.spec.challenger_version, "rollout promoted");
        let data = json!({"rollout_id": e.spec.id, "program": shown(tenant, e), "step": plan.settings.steps.len(),
            "traffic": 1.0, "promoted": true, "version": e.spec.challenger_version});
        webhooks::emit(&self.store, tenant.name(), "rollout.step", data, now).await;
        Ok(())
    }

    async fn roll_back(
        &self,
        tenant: &Tenant,
        e: &Experiment,
        mut plan: Plan,
        b: &GuardrailCheck,
        now: i64,
    ) -> Result<()> {
        let reason =
            format!("rollout {}: rolled back to version {}: {}", e.spec.id, e.spec.control_version, b.describe());
        plan.reason = Some(reason.clone());
        if !self.end(e, "rolled_back", "rolled_back", &plan).await? {
            return Ok(());
        }
        self.store.activate(&e.spec.program, e.spec.control_version, POLICY_ACTOR, &reason).await?;
        tracing::warn!(rollout = %e.spec.id, guardrail = %b.name, value = b.value, limit = b.limit, "rollout rolled back");
        let data = json!({"rollout_id": e.spec.id, "program": shown(tenant, e), "version": e.spec.challenger_version,
            "restored_version": e.spec.control_version, "guardrail": b.name, "value": b.value, "limit": b.limit,
            "reason": reason});
        webhooks::emit(&self.store, tenant.name(), "rollout.rolled_back", data, now).await;
        Ok(())
    }

    async fn end(&self, e: &Experiment, status: &str, decision: &str, plan: &Plan) -> Result<bool> {
        let settings = serde_json::to_value(plan).map_err(|e| AppError::internal(e.to_string()))?;
        Ok(self.store.finish_experiment(&e.spec.id, status, decision, &settings).await?)
    }

    async fn checks(&self, e: &Experiment, plan: &Plan, c: &ArmTotals, h: &ArmTotals) -> Result<Vec<GuardrailCheck>> {
        let p95 = challenger_p95(&self.store, &e.spec.id).await?;
        Ok(check_guardrails(&plan.settings.guardrails, c, h, p95, plan.settings.min_samples_per_step))
    }

    /// A rollout's status.
    pub async fn status(&self, tenant: &Tenant, id: &str) -> Result<RolloutView> {
        let e = self.owned(tenant, id).await?;
        self.status_of(tenant, e).await
    }

    /// Stops a running rollout by hand: traffic returns to the control; aliases stay.
    pub async fn stop(&self, tenant: &Tenant, id: &str) -> Result<RolloutView> {
        let e = self.owned(tenant, id).await?;
        let mut plan = plan_of(&e)?;
        plan.reason = Some("stopped by hand".into());
        if !self.end(&e, "stopped", "stopped", &plan).await? {
            return Err(AppError::conflict(format!("rollout '{id}' has already ended ({})", e.status)));
        }
        self.status(tenant, id).await
    }

    /// The tenant's rollouts, newest first.
    pub async fn list(&self, tenant: &Tenant, limit: i64) -> Result<Vec<RolloutView>> {
        let mut out = Vec::new();
        for e in self.store.experiments_of_kind(tenant.name(), "rollout", limit).await? {
            out.push(self.status_of(tenant, e).await?);
        }
        Ok(out)
    }

    async fn owned(&self, tenant: &Tenant, id: &str) -> Result<Experiment> {
        match self.store.experiment(id).await {
            Ok(e) if e.spec.tenant == tenant.name() && e.spec.kind == "rollout" => Ok(e),
            Ok(_) | Err(promptsmith_store::StoreError::NotFound(_)) => {
                Err(AppError::not_found(format!("no rollout '{id}'")))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn status_of(&self, tenant: &Tenant, e: Experiment) -> Result<RolloutView> {
        let plan = plan_of(&e)?;
        let totals = self.store.arm_totals(&e.spec.id, &e.spec.metric).await?;
        let (c, h) = arms(&totals);
        let guardrails = self.checks(&e, &plan, &c, &h).await?;
        Ok(RolloutView {
            id: e.spec.id.clone(),
            program: shown(tenant, &e),
            status: e.status.clone(),
            traffic: e.spec.traffic,
            step: plan.step + 1,
            steps: plan.settings.steps.clone(),
            control: arm_view(e.spec.control_version, &c),
            challenger: arm_view(e.spec.challenger_version, &h),
            guardrails,
            experiment_id: plan.experiment_id.clone(),
            reason: plan.reason.clone(),
            created_at: promptsmith_core::clock::rfc3339(e.created_at),
            ended_at: e.ended_at.map(promptsmith_core::clock::rfc3339),
        })
    }
}

/// The p95 latency of the challenger's last predictions in experiment or rollout `id`.
pub(crate) async fn challenger_p95(store: &Store, id: &str) -> Result<Option<f64>> {
    let mut latencies = store.arm_latencies(id, CHALLENGER, LATENCY_WINDOW).await?;
    latencies.sort_unstable();
    Ok((!latencies.is_empty()).then(|| {
        let rank = ((latencies.len() as f64) * 0.95).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1] as f64
    }))
}

fn arms(totals: &std::collections::BTreeMap<String, ArmTotals>) -> (ArmTotals, ArmTotals) {
    (totals.get(CONTROL).copied().unwrap_or_default(), totals.get(CHALLENGER).copied().unwrap_or_default())
}

fn plan_of(e: &Experiment) -> Result<Plan> {
    serde_json::from_value(e.spec.settings.clone())
        .map_err(|err| AppError::internal(format!("rollout {}: stored plan: {err}", e.spec.id)))
}

fn shown(tenant: &Tenant, e: &Experiment) -> String {
    tenant.unqualify(&e.spec.program).unwrap_or(&e.spec.program).to_string()
}

async fn emit_step(store: &Store, tenant: &Tenant, e: &Experiment, plan: &Plan, traffic: f64, now: i64) {
    tracing::info!(rollout = %e.spec.id, step = plan.step + 1, traffic, "rollout step");
    let data = json!({"rollout_id": e.spec.id, "program": shown(tenant, e), "step": plan.step + 1,
        "traffic": traffic, "promoted": false, "version": e.spec.challenger_version});
    webhooks::emit(store, tenant.name(), "rollout.step", data, now).await;
}

pub(crate) fn check_settings(s: &RolloutSettings) -> Result<()> {
    let increasing = s.steps.windows(2).all(|w| w[0] < w[1]);
    let in_range = s.steps.iter().all(|x| *x > 0.0 && *x <= 1.0);
    if s.steps.is_empty() || !increasing || !in_range || s.steps.last() != Some(&1.0) {
        return Err(AppError::invalid(format!(
            "steps {:?}: expected increasing shares in (0, 1] ending at 1, such as [0.1, 0.25, 0.5, 0.75, 1]",
            s.steps
        )));
    }
    if !(s.min_step_minutes >= 0.0 && s.min_step_minutes.is_finite()) {
        return Err(AppError::invalid("min_step_minutes: expected a number of minutes >= 0"));
    }
    if s.metric != "feedback" && s.metric != "evaluation" {
        return Err(AppError::invalid(format!("metric '{}': use feedback or evaluation", s.metric)));
    }
    let g = &s.guardrails;
    if !(g.alpha > 0.0 && g.alpha < 0.5 && (0.0..=1.0).contains(&g.max_error_rate)) {
        return Err(AppError::invalid("guardrails: alpha must be in (0, 0.5) and max_error_rate in [0, 1]"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(predictions: i64, errors: i64, outcomes: &[f64]) -> ArmTotals {
        ArmTotals {
            predictions,
            errors,
            latency_ms_sum: 0.0,
            cost_usd_sum: predictions as f64 * 0.01,
            n: outcomes.len() as i64,
            sum: outcomes.iter().sum(),
            sum_sq: outcomes.iter().map(|x| x * x).sum(),
        }
    }

    fn plan() -> Plan {
        let settings =
            RolloutSettings { min_samples_per_step: 10, min_step_minutes: 1.0, ..RolloutSettings::default() };
        Plan { settings, step: 0, step_base: 0, experiment_id: None, reason: None }
    }

    #[test]
    fn steps_are_held_for_samples_and_time_then_advance_and_promote() {
        let p = plan();
        assert_eq!(next_move(&p, 0, &[], 9, 120_000), Move::Hold, "too few predictions");
        assert_eq!(next_move(&p, 0, &[], 10, 59_000), Move::Hold, "too soon");
        assert_eq!(next_move(&p, 0, &[], 10, 60_000), Move::Advance(1));
        assert_eq!(next_move(&p, 4, &[], 10, 60_000), Move::Promote);
    }

    #[test]
    fn a_breached_guardrail_rolls_back_whatever_the_step() {
        let g =
            Guardrails { max_p95_latency_ms: Some(500.0), max_cost_per_call_usd: Some(0.05), ..Guardrails::default() };
        let good = vec![1.0; 40];
        let ok = check_guardrails(&g, &totals(100, 0, &good), &totals(40, 1, &good), Some(200.0), 50);
        assert!(ok.iter().all(|c| !c.breached), "{ok:?}");
        assert_eq!(next_move(&plan(), 2, &ok, 0, 0), Move::Hold);
        let failing = check_guardrails(&g, &totals(100, 0, &good), &totals(40, 12, &good), Some(200.0), 50);
        let breach = failing.iter().find(|c| c.breached).unwrap();
        assert_eq!(breach.name, "error_rate");
        assert!(breach.describe().starts_with("error_rate 0.3000 > 0.0500"), "{}", breach.describe());
        assert!(matches!(next_move(&plan(), 2, &failing, 100, 1 << 40), Move::RollBack(_)));
        let slow = check_guardrails(&g, &totals(100, 0, &good), &totals(40, 0, &good), Some(900.0), 50);
        assert!(slow.iter().any(|c| c.name == "p95_latency_ms" && c.breached));
    }

    #[test]
    fn a_significantly_worse_challenger_breaches_quality_but_noise_does_not() {
        let g = Guardrails::default();
        let control: Vec<f64> = (0..200).map(|i| f64::from(u8::from(i % 10 < 8))).collect();
        let worse: Vec<f64> = (0..200).map(|i| f64::from(u8::from(i % 10 < 3))).collect();
        let close: Vec<f64> = (0..60).map(|i| f64::from(u8::from(i % 10 < 7))).collect();
        let c = totals(200, 0, &control);
        let bad = check_guardrails(&g, &c, &totals(200, 0, &worse), None, 50);
        assert!(bad.iter().any(|x| x.name == "quality" && x.breached), "{bad:?}");
        let fine = check_guardrails(&g, &c, &totals(60, 0, &close), None, 50);
        assert!(fine.iter().all(|x| !x.breached), "{fine:?}");
    }

    #[test]
    fn settings_are_checked() {
        let bad = RolloutSettings { steps: vec![0.5, 0.25, 1.0], ..RolloutSettings::default() };
        assert!(check_settings(&bad).unwrap_err().message.contains("increasing"));
        let no_end = RolloutSettings { steps: vec![0.1, 0.5], ..RolloutSettings::default() };
        assert!(check_settings(&no_end).is_err());
        assert!(check_settings(&RolloutSettings::default()).is_ok());
    }
}
