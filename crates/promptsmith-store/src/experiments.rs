//! A/B experiments: a program's control and challenger versions with the share of traffic the
//! challenger gets; at most one running per program. Predictions served in one record its id
//! and their arm, so each arm's outcomes (feedback ratings or evaluation scores), errors and
//! latency are summed from the evaluations table.

use crate::db::{now_ms, parse_json, to_json, with_pool, BeginWrite, RowExt, Store};
use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// An experiment to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewExperiment {
    /// Its id (made by the caller, unguessable).
    pub id: String,
    /// Owner.
    pub tenant: String,
    /// The program (its registry name).
    pub program: String,
    /// The version serving the control arm.
    pub control_version: i64,
    /// The version serving the challenger arm.
    pub challenger_version: i64,
    /// Share of traffic routed to the challenger, in (0, 1).
    pub traffic: f64,
    /// What an arm is judged on: `feedback` (ratings) or `evaluation` (stored scores).
    pub metric: String,
    /// The stopping rules and anything else the service keeps with it.
    pub settings: Value,
    /// `experiment` (an A/B test) or `rollout` (traffic moving to the challenger in steps).
    #[serde(default = "experiment_kind")]
    pub kind: String,
}

fn experiment_kind() -> String {
    "experiment".into()
}

/// A stored experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// What it was started with.
    #[serde(flatten)]
    pub spec: NewExperiment,
    /// `running`, `completed` (a decision was reached) or `stopped`.
    pub status: String,
    /// The final decision, once it ended.
    pub decision: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub ended_at: Option<i64>,
    /// When the current traffic share took effect (rollouts), Unix ms.
    pub step_started_at: Option<i64>,
}

/// Sums of one arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmTotals {
    /// Predictions served.
    pub predictions: i64,
    /// Of which failed.
    pub errors: i64,
    /// Sum of their latencies, ms.
    pub latency_ms_sum: f64,
    /// Sum of their costs, USD.
    pub cost_usd_sum: f64,
    /// Outcomes (ratings or scores) observed.
    pub n: i64,
    /// Their sum.
    pub sum: f64,
    /// Their sum of squares.
    pub sum_sq: f64,
}

fn experiment_from_row(r: &impl RowExt) -> Result<Experiment> {
    Ok(Experiment {
        spec: NewExperiment {
            id: r.string("id")?,
            tenant: r.string("tenant")?,
            program: r.string("program")?,
            control_version: r.i64("control_version")?,
            challenger_version: r.i64("challenger_version")?,
            traffic: r.f64("traffic")?,
            metric: r.string("metric")?,
            settings: parse_json(&r.string("settings_json")?, "experiment settings")?,
            kind: r.string("kind")?,
        },
        status: r.string("status")?,
        decision: r.opt_string("decision")?,
        created_at: r.i64("created_at")?,
        ended_at: r.opt_i64("ended_at")?,
        step_started_at: r.opt_i64("step_started_at")?,
    })
}

impl Store {
    /// Starts an experiment; a conflict when the program already has a running one.
    pub async fn insert_experiment(&self, e: &NewExperiment) -> Result<Experiment> {
        let settings = to_json(&e.settings, "experiment settings")?;
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let running: Option<(String,)> =
                sqlx::query_as("SELECT id FROM experiments WHERE program = $1 AND status = 'running'")
                    .bind(&e.program)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((id,)) = running {
                return Err(StoreError::Conflict(format!(
                    "program '{}' already has a running experiment or rollout ({id}); stop it first",
                    e.program
                )));
            }
            sqlx::query(
                "INSERT INTO experiments (id, tenant, program, control_version, challenger_version, traffic, metric, \
                 settings_json, status, created_at, kind, step_started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running', $9, $10, $9)",
            )
            .bind(&e.id)
            .bind(&e.tenant)
            .bind(&e.program)
            .bind(e.control_version)
            .bind(e.challenger_version)
            .bind(e.traffic)
            .bind(&e.metric)
            .bind(&settings)
            .bind(now)
            .bind(&e.kind)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.experiment(&e.id).await
    }

    /// The experiment `id`.
    pub async fn experiment(&self, id: &str) -> Result<Experiment> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM experiments WHERE id = $1").bind(id).fetch_optional(pool).await?;
            match row {
                Some(r) => experiment_from_row(&r),
                None => Err(StoreError::NotFound(format!("no experiment '{id}'"))),
            }
        })
    }

    /// The program's running experiment, if any.
    pub async fn running_experiment(&self, program: &str) -> Result<Option<Experiment>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM experiments WHERE program = $1 AND status = 'running'")
                .bind(program)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(experiment_from_row).transpose()
        })
    }

    /// The tenant's experiments (`kind` `experiment`), newest first.
    pub async fn experiments(&self, tenant: &str, limit: i64) -> Result<Vec<Experiment>> {
        self.experiments_of_kind(tenant, "experiment", limit).await
    }

    /// The tenant's rows of `kind` (`experiment` or `rollout`), newest first.
    pub async fn experiments_of_kind(&self, tenant: &str, kind: &str, limit: i64) -> Result<Vec<Experiment>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM experiments WHERE tenant = $1 AND kind = $2 ORDER BY created_at DESC, id LIMIT $3",
            )
                .bind(tenant)
                .bind(kind)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?;
            rows.iter().map(experiment_from_row).collect()
        })
    }

    /// Ends a running experiment with `status` (`completed` or `stopped`) and its decision;
    /// false when it had already ended.
    pub async fn end_experiment(&self, id: &str, status: &str, decision: &str) -> Result<bool> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE experiments SET status = $1, decision = $2, ended_at = $3 WHERE id = $4 AND status = 'running'",
            )
            .bind(status)
            .bind(decision)
            .bind(now_ms())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// The running rows of every tenant (rollouts to advance, experiments to decide).
    pub async fn running_experiments(&self) -> Result<Vec<Experiment>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM experiments WHERE status = 'running' ORDER BY created_at, id")
                .fetch_all(pool)
                .await?;
            rows.iter().map(experiment_from_row).collect()
        })
    }

    /// Moves a running rollout to a new challenger share from `at` (Unix ms), keeping what it
    /// learned in `settings`; false when it is no longer running.
    pub async fn set_traffic(&self, id: &str, traffic: f64, at: i64, settings: &Value) -> Result<bool> {
        let settings = to_json(settings, "experiment settings")?;
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE experiments SET traffic = $1, step_started_at = $2, settings_json = $3 \
                 WHERE id = $4 AND status = 'running'",
            )
            .bind(traffic)
            .bind(at)
            .bind(&settings)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Ends a running row with `status` and `decision`, replacing its settings (a rollout's
    /// plan with its reason); false when it had already ended.
    pub async fn finish_experiment(&self, id: &str, status: &str, decision: &str, settings: &Value) -> Result<bool> {
        let settings = to_json(settings, "experiment settings")?;
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE experiments SET status = $1, decision = $2, ended_at = $3, settings_json = $4 \
                 WHERE id = $5 AND status = 'running'",
            )
            .bind(status)
            .bind(decision)
            .bind(now_ms())
            .bind(&settings)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Each arm's totals: predictions, errors and latency, and the outcomes `metric` names
    /// (`feedback`: ratings given to its predictions; `evaluation`: their stored scores).
    pub async fn arm_totals(&self, id: &str, metric: &str) -> Result<BTreeMap<String, ArmTotals>> {
        let outcomes = match metric {
            "feedback" => {
                "SELECT e.arm AS arm, COUNT(*) AS n, SUM(f.rating) AS s, SUM(f.rating * f.rating) AS ss \
                 FROM evaluations e JOIN feedback f ON f.evaluation_id = e.id \
                 WHERE e.experiment_id = $1 AND f.rating IS NOT NULL GROUP BY e.arm"
            }
            "evaluation" => {
                "SELECT arm, COUNT(*) AS n, SUM(score) AS s, SUM(score * score) AS ss FROM evaluations \
                 WHERE experiment_id = $1 AND unscored = 0 GROUP BY arm"
            }
            other => {
                return Err(StoreError::Invalid(format!("experiment metric '{other}': use feedback or evaluation")))
            }
        };
        let mut arms: BTreeMap<String, ArmTotals> = BTreeMap::new();
        with_pool!(self, pool => {
            let served = sqlx::query(
                "SELECT arm, COUNT(*) AS n, SUM(CASE WHEN error IS NULL THEN 0 ELSE 1 END) AS errors, \
                 CAST(SUM(latency_ms) AS DOUBLE PRECISION) AS latency, SUM(cost_usd) AS cost FROM evaluations \
                 WHERE experiment_id = $1 GROUP BY arm",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            for r in &served {
                let a = arms.entry(r.opt_string("arm")?.unwrap_or_default()).or_default();
                a.predictions = r.i64("n")?;
                a.errors = r.opt_i64("errors")?.unwrap_or(0);
                a.latency_ms_sum = r.opt_f64("latency")?.unwrap_or(0.0);
                a.cost_usd_sum = r.opt_f64("cost")?.unwrap_or(0.0);
            }
            for r in &sqlx::query(outcomes).bind(id).fetch_all(pool).await? {
                let a = arms.entry(r.opt_string("arm")?.unwrap_or_default()).or_default();
                a.n = r.i64("n")?;
                a.sum = r.opt_f64("s")?.unwrap_or(0.0);
                a.sum_sq = r.opt_f64("ss")?.unwrap_or(0.0);
            }
        });
        Ok(arms)
    }

    /// The latencies (ms) of the last `limit` predictions an arm served, newest first.
    pub async fn arm_latencies(&self, id: &str, arm: &str, limit: i64) -> Result<Vec<i64>> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT latency_ms FROM evaluations WHERE experiment_id = $1 AND arm = $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(id)
            .bind(arm)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?)
        })
    }
}
