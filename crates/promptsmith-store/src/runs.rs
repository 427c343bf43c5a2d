//! Run tracking: optimization and evaluation runs (optimizer, parameters, status, timings,
//! calls/tokens/cost by role), their trials with candidate lineage, and artifacts (states,
//! reports). A run exports as one JSON document.

use crate::db::{now_ms, parse_json, to_json, with_pool, BeginWrite, RowExt, Store};
use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going (or died without saying so).
    Running,
    /// Finished.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl RunStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Result<RunStatus> {
        match s {
            "running" => Ok(RunStatus::Running),
            "succeeded" => Ok(RunStatus::Succeeded),
            "failed" => Ok(RunStatus::Failed),
            "cancelled" => Ok(RunStatus::Cancelled),
            other => Err(StoreError::Invalid(format!("unknown run status '{other}'"))),
        }
    }
}

/// LM use of one role (task, teacher, proposer, judge).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RoleUsage {
    /// Calls.
    pub calls: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost (USD).
    pub cost_usd: f64,
}

/// A run to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// `optimize`, `eval`, …
    pub kind: String,
    /// Program name.
    pub program: String,
    /// Optimizer.
    pub optimizer: Option<String>,
    /// Parameters.
    pub params: Value,
    /// Free-form metadata (seed, dataset, model…).
    pub metadata: Value,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Id.
    pub id: i64,
    /// Kind.
    pub kind: String,
    /// Program.
    pub program: String,
    /// Optimizer.
    pub optimizer: Option<String>,
    /// Parameters.
    pub params: Value,
    /// Status.
    pub status: RunStatus,
    /// Start (Unix ms).
    pub started_at: i64,
    /// End (Unix ms).
    pub finished_at: Option<i64>,
    /// Usage by role.
    pub usage: BTreeMap<String, RoleUsage>,
    /// Best score reached.
    pub best_score: Option<f64>,
    /// Version registered from it.
    pub result_version: Option<i64>,
    /// Error message when it failed.
    pub error: Option<String>,
    /// Metadata.
    pub metadata: Value,
}

impl Run {
    /// Wall time in milliseconds (until now while running).
    pub fn duration_ms(&self) -> i64 {
        self.finished_at.unwrap_or_else(now_ms) - self.started_at
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// Final status (not `Running`).
    pub status: RunStatus,
    /// Usage by role.
    pub usage: BTreeMap<String, RoleUsage>,
    /// Best score.
    pub best_score: Option<f64>,
    /// Registered version.
    pub result_version: Option<i64>,
    /// Error message.
    pub error: Option<String>,
}

/// One trial (a candidate evaluated) of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Trial number in the run (0, 1, …).
    pub trial: i64,
    /// Candidate id.
    pub candidate: String,
    /// The candidate it was derived from.
    pub parent_candidate: Option<String>,
    /// Score.
    pub score: Option<f64>,
    /// Parameters tried.
    pub params: Value,
    /// The candidate's state.
    pub state: Option<Value>,
    /// When (Unix ms); ignored on insert.
    #[serde(default)]
    pub created_at: i64,
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// Name, unique in the run (`best_state.json`, `report.json`).
    pub name: String,
    /// Kind (`state`, `report`, `log`…).
    pub kind: String,
    /// Content (text, usually JSON).
    pub content: String,
    /// When (Unix ms).
    pub created_at: i64,
}

fn run_from_row(r: &impl RowExt) -> Result<Run> {
    Ok(Run {
        id: r.i64("id")?,
        kind: r.string("kind")?,
        program: r.string("program")?,
        optimizer: r.opt_string("optimizer")?,
        params: parse_json(&r.string("params_json")?, "run params")?,
        status: RunStatus::parse(&r.string("status")?)?,
        started_at: r.i64("started_at")?,
        finished_at: r.opt_i64("finished_at")?,
        usage: parse_json(&r.string("usage_json")?, "run usage")?,
        best_score: r.opt_f64("best_score")?,
        result_version: r.opt_i64("result_version")?,
        error: r.opt_string("error")?,
        metadata: parse_json(&r.string("metadata_json")?, "run metadata")?,
    })
}

fn no_run(id: i64) -> StoreError {
    StoreError::NotFound(format!("no run with id {id}"))
}

impl Store {
    /// Starts a run (status `running`) and returns it.
    pub async fn create_run(&self, new: &NewRun) -> Result<Run> {
        if new.kind.trim().is_empty() || new.program.trim().is_empty() {
            return Err(StoreError::Invalid("a run needs a kind and a program".into()));
        }
        let params = to_json(&new.params, "run params")?;
        let metadata = to_json(&new.metadata, "run metadata")?;
        let now = now_ms();
        let id = with_pool!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO runs (kind, program, optimizer, params_json, status, started_at, usage_json, metadata_json) \
                 VALUES ($1, $2, $3, $4, 'running', $5, '{}', $6) RETURNING id",
            )
            .bind(&new.kind)
            .bind(&new.program)
            .bind(new.optimizer.as_deref())
            .bind(&params)
            .bind(now)
            .bind(&metadata)
            .fetch_one(pool)
            .await?;
            row.i64("id")?
        });
        self.run(id).await
    }

    /// Records how a run ended.
    pub async fn finish_run(&self, id: i64, end: &RunEnd) -> Result<Run> {
        if end.status == RunStatus::Running {
            return Err(StoreError::Invalid("a finished run needs a final status, not 'running'".into()));
        }
        let usage = to_json(&end.usage, "run usage")?;
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE runs SET status = $2, finished_at = $3, usage_json = $4, best_score = $5, result_version = $6, \
                 error = $7 WHERE id = $1",
            )
            .bind(id)
            .bind(end.status.as_str())
            .bind(now_ms())
            .bind(&usage)
            .bind(end.best_score)
            .bind(end.result_version)
            .bind(end.error.as_deref())
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(no_run(id));
        }
        self.run(id).await
    }

    /// Updates the usage of a running run (progress).
    pub async fn update_run_usage(&self, id: i64, usage: &BTreeMap<String, RoleUsage>) -> Result<()> {
        let usage = to_json(usage, "run usage")?;
        let done = with_pool!(self, pool => {
            sqlx::query("UPDATE runs SET usage_json = $2 WHERE id = $1")
                .bind(id)
                .bind(&usage)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(no_run(id));
        }
        Ok(())
    }

    /// One run.
    pub async fn run(&self, id: i64) -> Result<Run> {
        let found = with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM runs WHERE id = $1").bind(id).fetch_optional(pool).await?;
            row.as_ref().map(run_from_row).transpose()?
        });
        found.ok_or_else(|| no_run(id))
    }

    /// Recent runs, newest first, optionally of one program.
    pub async fn list_runs(&self, program: Option<&str>, limit: i64) -> Result<Vec<Run>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM runs WHERE ($1 = '' OR program = $1) ORDER BY started_at DESC, id DESC LIMIT $2",
            )
            .bind(program.unwrap_or(""))
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?;
            rows.iter().map(run_from_row).collect()
        })
    }

    /// Records a trial; trial numbers are unique per run.
    pub async fn add_trial(&self, run_id: i64, trial: &Trial) -> Result<()> {
        self.run(run_id).await?;
        let params = to_json(&trial.params, "trial params")?;
        let state = trial.state.as_ref().map(|s| self.keyring.seal(&to_json(s, "trial state")?)).transpose()?;
        let result = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO trials (run_id, trial, candidate, parent_candidate, score, params_json, state_json, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(run_id)
            .bind(trial.trial)
            .bind(&trial.candidate)
            .bind(trial.parent_candidate.as_deref())
            .bind(trial.score)
            .bind(&params)
            .bind(state.as_deref())
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ())
        });
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                Err(StoreError::Invalid(format!("run {run_id} already has a trial {}", trial.trial)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A run's trials in order.
    pub async fn trials(&self, run_id: i64) -> Result<Vec<Trial>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM trials WHERE run_id = $1 ORDER BY trial")
                .bind(run_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Trial {
                        trial: r.i64("trial")?,
                        candidate: r.string("candidate")?,
                        parent_candidate: r.opt_string("parent_candidate")?,
                        score: r.opt_f64("score")?,
                        params: parse_json(&r.string("params_json")?, "trial params")?,
                        state: r
                            .opt_string("state_json")?
                            .map(|s| parse_json(&self.keyring.open(&s)?, "trial state"))
                            .transpose()?,
                        created_at: r.i64("created_at")?,
                    })
                })
                .collect()
        })
    }

    /// Stores (or replaces) a named artifact of a run.
    pub async fn put_artifact(&self, run_id: i64, name: &str, kind: &str, content: &str) -> Result<()> {
        self.run(run_id).await?;
        // Artifacts are states and reports: sealed like program states.
        let content = self.keyring.seal(content)?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO artifacts (run_id, name, kind, content, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (run_id, name) DO UPDATE SET kind = excluded.kind, content = excluded.content, \
                 created_at = excluded.created_at",
            )
            .bind(run_id)
            .bind(name)
            .bind(kind)
            .bind(&content)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// A run's artifacts by name.
    pub async fn artifacts(&self, run_id: i64) -> Result<Vec<Artifact>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM artifacts WHERE run_id = $1 ORDER BY name")
                .bind(run_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Artifact {
                        name: r.string("name")?,
                        kind: r.string("kind")?,
                        content: self.keyring.open(&r.string("content")?)?,
                        created_at: r.i64("created_at")?,
                    })
                })
                .collect()
        })
    }

    /// A run as one JSON document: the run, its trials, the candidate lineage (candidate ->
    /// parent) and its artifacts (JSON artifacts inlined as JSON).
    pub async fn export_run(&self, id: i64) -> Result<Value> {
        let run = self.run(id).await?;
        let trials = self.trials(id).await?;
        let artifacts = self.artifacts(id).await?;
        let lineage: BTreeMap<&str, Option<&str>> =
            trials.iter().map(|t| (t.candidate.as_str(), t.parent_candidate.as_deref())).collect();
        let artifacts: Vec<Value> = artifacts
            .iter()
            .map(|a| {
                let content =
                    serde_json::from_str::<Value>(&a.content).unwrap_or_else(|_| Value::String(a.content.clone()));
                json!({"name": a.name, "kind": a.kind, "created_at": a.created_at, "content": content})
            })
            .collect();
        Ok(json!({
            "run": run,
            "duration_ms": run.duration_ms(),
            "trials": trials,
            "lineage": lineage,
            "artifacts": artifacts,
        }))
    }
}
