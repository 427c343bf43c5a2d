//! [`Supervisor`]: the scheduled pass of the self-improving loop. Every monitoring interval it
//! decides each running experiment (a winner starts its rollout), advances each running
//! rollout (a step, a promotion or a rollback) and checks every production version's quality
//! ([`QualityMonitor`]). Time is a parameter, so tests drive it with a clock of their own;
//! `promptsmith serve` runs a pass every `--monitor-interval` on the wall clock, and `promptsmith
//! rollout tick` runs one.

use crate::error::Result;
use crate::experiments::{Decision, ExperimentService};
use crate::monitor::QualityMonitor;
use crate::policy::PolicyEngine;
use crate::rollout::{Move, RolloutService};
use promptsmith_store::Store;
use serde::Serialize;

/// What one pass did to one experiment or rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// The experiment or rollout.
    pub id: String,
    /// `experiment`, `rollout`, `monitor` or `policy`.
    pub kind: String,
    /// What happened (`continue`, `challenger_wins`, `hold`, `step 2`, `promoted`, `rolled_back: …`).
    pub what: String,
}

/// Decides experiments and advances rollouts.
#[derive(Debug, Clone)]
pub struct Supervisor {
    store: Store,
    experiments: ExperimentService,
    rollouts: RolloutService,
    monitor: QualityMonitor,
    policies: Option<PolicyEngine>,
}

impl Supervisor {
    /// A supervisor over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            experiments: ExperimentService::new(store.clone()),
            rollouts: RolloutService::new(store.clone()),
            monitor: QualityMonitor::new(store.clone()),
            policies: None,
            store,
        }
    }

    /// Every production version's rolling health (for `/metrics`).
    pub async fn health(&self) -> Result<Vec<crate::monitor::VersionHealth>> {
        self.monitor.health().await
    }

    /// Also applies the continuous-optimization policies with `engine` (it queues jobs).
    pub fn with_policies(mut self, engine: PolicyEngine) -> Self {
        self.policies = Some(engine);
        self
    }

    /// The quality monitor (its window and threshold can be changed).
    pub fn monitor_mut(&mut self) -> &mut QualityMonitor {
        &mut self.monitor
    }

    /// One pass at time `now` (Unix ms) over every tenant's running experiments and rollouts,
    /// then the quality of every production version. A failure on one is logged and does not
    /// stop the others.
    pub async fn tick(&self, now: i64) -> Result<Vec<Action>> {
        let mut actions = Vec::new();
        for e in self.store.running_experiments().await? {
            let (id, kind) = (e.spec.id.clone(), e.spec.kind.clone());
            let what = if kind == "rollout" {
                self.rollouts.advance(&e, now).await.map(|m| describe(&m))
            } else {
                self.experiments.decide_at(e, now).await.map(|d: Decision| d.as_str().to_string())
            };
            match what {
                Ok(what) => actions.push(Action { id, kind, what }),
                Err(err) => tracing::warn!(id = %id, kind = %kind, error = %err, "supervisor"),
            }
        }
        let alerts = self.monitor.check(now).await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "quality monitor");
            Vec::new()
        });
        let degraded: Vec<String> = alerts.iter().map(|a| a.stored.clone()).collect();
        actions.extend(alerts.into_iter().map(|a| Action {
            id: format!("{}@{}", a.program, a.version),
            kind: "monitor".into(),
            what: format!(
                "degraded: {:.1}% drop in {}, p = {:.2e}",
                a.report.relative_drop * 100.0,
                a.source,
                a.report.p_value.unwrap_or(1.0)
            ),
        }));
        let unhealthy = self.monitor.check_health(now).await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "health monitor");
            Vec::new()
        });
        actions.extend(unhealthy.into_iter().map(|a| Action {
            id: format!("{}@{}", a.program, a.version),
            kind: "monitor".into(),
            what: format!("unhealthy: {} over the last {} predictions", a.breach.describe(), a.predictions),
        }));
        if let Some(engine) = &self.policies {
            match engine.tick(now, &degraded).await {
                Ok(done) => {
                    actions.extend(done.into_iter().map(|(id, what)| Action { id, kind: "policy".into(), what }))
                }
                Err(err) => tracing::warn!(error = %err, "policies"),
            }
        }
        Ok(actions)
    }
}

fn describe(m: &Move) -> String {
    match m {
        Move::Hold => "hold".into(),
        Move::Advance(step) => format!("step {}", step + 1),
        Move::Promote => "promoted".into(),
        Move::RollBack(b) => format!("rolled_back: {}", b.describe()),
    }
}
