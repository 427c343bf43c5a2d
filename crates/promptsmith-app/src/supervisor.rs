//! [`Supervisor`]: the scheduled pass of the self-improving loop. Every monitoring interval it
//! decides each running experiment (a winner starts its rollout) and advances each running
//! rollout (a step, a promotion or a rollback). Time is a parameter, so tests drive it with a
//! clock of their own; `promptsmith serve` runs [`Supervisor::run`] on the wall clock.

use crate::error::Result;
use crate::experiments::{Decision, ExperimentService};
use crate::rollout::{Move, RolloutService};
use promptsmith_store::Store;
use serde::Serialize;
use std::time::Duration;

/// What one pass did to one experiment or rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// The experiment or rollout.
    pub id: String,
    /// `experiment` or `rollout`.
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
}

impl Supervisor {
    /// A supervisor over `store`.
    pub fn new(store: Store) -> Self {
        Self { experiments: ExperimentService::new(store.clone()), rollouts: RolloutService::new(store.clone()), store }
    }

    /// One pass at time `now` (Unix ms) over every tenant's running experiments and rollouts.
    /// A failure on one is logged and does not stop the others.
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
        Ok(actions)
    }

    /// Runs a pass every `interval` on the wall clock until `shutdown` fires.
    pub async fn run(self, interval: Duration, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            match self.tick(promptsmith_core::clock::now_ms()).await {
                Ok(actions) => {
                    for a in actions.iter().filter(|a| a.what != "continue" && a.what != "hold") {
                        tracing::info!(id = %a.id, kind = %a.kind, what = %a.what, "supervisor");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "supervisor pass"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
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
