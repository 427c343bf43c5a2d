//! [`JobService`]: submitting, reading, listing and cancelling optimization jobs. A job is
//! checked in full when it is submitted (the same `prepare` the CLI runs, so a bad request
//! fails at once with the CLI's message) and planned, then queued in the store for a worker.

use super::progress::{queued_message, Progress};
use super::request::JobRequest;
use crate::error::{AppError, Result};
use crate::ids::new_id;
use crate::optimize::OptimizeService;
use crate::program::StoreTarget;
use crate::tenant::Tenant;
use promptsmith_core::ErrorKind;
use promptsmith_lm::LmConfig;
use promptsmith_store::{Job, JobEvent, JobQuery, JobStatus, NewJob, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;

/// How many jobs may wait, and how long finished ones are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most queued jobs (beyond: "limit exceeded").
    pub max_queued: i64,
    /// How long a finished job stays readable (then: "gone"), ms.
    pub retention_ms: i64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self { max_queued: 100, retention_ms: 7 * 24 * 3600 * 1000 }
    }
}

/// Jobs as the service shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    /// Id.
    pub id: String,
    /// queued, running, completed, failed or cancelled.
    pub status: JobStatus,
    /// The program (as the tenant names it).
    pub program: String,
    /// 0..1.
    pub progress: f64,
    /// Trials finished.
    pub current_trial: u64,
    /// Best validation score so far.
    pub best_score: Option<f64>,
    /// Calls made so far.
    pub calls_used: u64,
    /// Tokens used so far.
    pub tokens_used: u64,
    /// Calls planned (an upper bound).
    pub planned_calls: u64,
    /// Cost of the plan at the configured prices.
    pub estimated_cost: Option<f64>,
    /// The optimizer.
    pub algorithm: String,
    /// Claims by workers (above 1: it was resumed).
    pub attempts: i64,
    /// Submission time (RFC 3339).
    pub created_at: String,
    /// First start.
    pub started_at: Option<String>,
    /// End.
    pub finished_at: Option<String>,
    /// The result when done (or the partial result of a cancelled job).
    pub result: Option<Value>,
    /// The error when failed.
    pub error: Option<String>,
}

/// A page of jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobPage {
    /// Newest first.
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; none at the end.
    pub next_cursor: Option<String>,
}

/// Submits and reads jobs in one store.
#[derive(Debug, Clone)]
pub struct JobService {
    store: Store,
    target: StoreTarget,
    limits: QueueLimits,
    workdir: PathBuf,
    wake: Arc<Notify>,
}

impl JobService {
    /// Jobs in `store` (opened from `target`), checked in scratch directories under `workdir`.
    pub fn new(store: Store, target: StoreTarget, limits: QueueLimits, workdir: PathBuf) -> Self {
        Self { store, target, limits, workdir, wake: Arc::new(Notify::new()) }
    }

    /// Woken whenever a job is queued (in-process workers wait on it).
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Checks, plans and queues `request` for `tenant`.
    pub async fn submit(&self, tenant: &Tenant, request: JobRequest, pricing: &LmConfig) -> Result<JobView> {
        let queued = self.store.job_counts(None).await?.get(&JobStatus::Queued).copied().unwrap_or(0);
        if queued >= self.limits.max_queued {
            return Err(AppError::new(
                ErrorKind::LimitExceeded,
                format!("the queue is full: {queued} jobs are queued (max_queued = {})", self.limits.max_queued),
            ));
        }
        let id = new_id("job");
        let scratch = self.workdir.join("submit").join(&id);
        let planned = self.plan(tenant, &request, pricing, &scratch).await;
        let _ = std::fs::remove_dir_all(&scratch);
        let plan = planned?;
        let payload = json!({"tenant": tenant.name(), "request": request});
        let new = NewJob {
            id: id.clone(),
            tenant: tenant.name().to_string(),
            kind: "optimize".into(),
            program: request.program_name(),
            payload,
            plan: plan.clone(),
        };
        let job = self.store.enqueue_job(&new).await?;
        self.store.append_job_events(&id, &[("queued".into(), queued_message(&plan))]).await?;
        self.wake.notify_waiters();
        Ok(view(&job))
    }

    /// The dry run of `request`: everything checked, no model called.
    async fn plan(
        &self,
        tenant: &Tenant,
        request: &JobRequest,
        pricing: &LmConfig,
        dir: &std::path::Path,
    ) -> Result<Value> {
        let optimize = request.materialize(tenant, &self.store, dir).await?;
        let service = OptimizeService::new(Some(self.target.clone()));
        let prepared = service.prepare(optimize).await?;
        let dry = service.plan(&prepared, pricing);
        let mut plan = serde_json::to_value(&dry).map_err(|e| AppError::internal(format!("plan: {e}")))?;
        if let Value::Object(p) = &mut plan {
            p.insert("planned_calls".into(), json!(dry.plan.total_calls()));
        }
        Ok(plan)
    }

    /// When a job of `planned_calls` calls would finish if it started now, estimated from the
    /// call rate of the last (up to 20) completed jobs: RFC 3339, or `None` without history.
    pub async fn estimate_completion(&self, planned_calls: u64) -> Result<Option<String>> {
        let q = JobQuery { status: Some(JobStatus::Completed), limit: 20, ..JobQuery::default() };
        let (mut ms, mut calls) = (0i64, 0u64);
        for j in self.store.jobs(&q).await? {
            if let (Some(start), Some(end)) = (j.started_at, j.finished_at) {
                ms += end - start;
                calls += view(&j).calls_used;
            }
        }
        if calls == 0 {
            return Ok(None);
        }
        let eta = (ms as f64 / calls as f64 * planned_calls as f64) as i64;
        Ok(Some(promptsmith_core::clock::rfc3339(promptsmith_core::clock::now_ms() + eta)))
    }

    /// `tenant`'s job `id`; gone once its retention time has passed.
    pub async fn get(&self, tenant: &Tenant, id: &str) -> Result<JobView> {
        let job = tenant.job(&self.store, id).await?;
        self.check_retained(&job)?;
        Ok(view(&job))
    }

    fn check_retained(&self, job: &Job) -> Result<()> {
        let expired = job.finished_at.is_some_and(|t| promptsmith_core::clock::now_ms() - t > self.limits.retention_ms);
        if expired {
            return Err(AppError::new(
                ErrorKind::Gone,
                format!("job '{}' finished more than the retention time ago; its record was removed", job.id),
            ));
        }
        Ok(())
    }

    /// `tenant`'s jobs, newest first, filtered; `cursor` continues a previous page.
    pub async fn list(
        &self,
        tenant: &Tenant,
        status: Option<&str>,
        program: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<JobPage> {
        let before = match cursor {
            Some(c) => Some(decode_cursor(c)?),
            None => None,
        };
        let q = JobQuery {
            tenant: Some(tenant.name().to_string()),
            status: status.map(JobStatus::parse).transpose().map_err(|e| AppError::from(e).context("status"))?,
            program: program.map(str::to_string),
            before,
            limit: limit.clamp(1, 200),
        };
        let jobs = self.store.jobs(&q).await?;
        let next_cursor =
            (jobs.len() as i64 == q.limit).then(|| jobs.last().map(|j| format!("{}.{}", j.created_at, j.id))).flatten();
        Ok(JobPage { jobs: jobs.iter().map(view).collect(), next_cursor })
    }

    /// Asks `tenant`'s job `id` to stop (a queued job stops at once; a running one keeps its
    /// partial result).
    pub async fn cancel(&self, tenant: &Tenant, id: &str) -> Result<JobView> {
        let job = tenant.job(&self.store, id).await?;
        self.check_retained(&job)?;
        if job.status.is_final() {
            return Err(AppError::conflict(format!("job '{id}' is already {}", job.status.as_str())));
        }
        let job = self.store.cancel_job(id).await?;
        if job.status == JobStatus::Cancelled {
            self.store.append_job_events(id, &[("cancelled".into(), json!({"status": "cancelled"}))]).await?;
        }
        Ok(view(&job))
    }

    /// Queues `tenant`'s failed job `id` again; it resumes from its journal (no completed call
    /// is made again).
    pub async fn retry(&self, tenant: &Tenant, id: &str) -> Result<JobView> {
        let job = tenant.job(&self.store, id).await?;
        self.check_retained(&job)?;
        let job = self.store.requeue_job(id).await?;
        self.store.append_job_events(id, &[("queued".into(), json!({"status": "queued", "retry": true}))]).await?;
        self.wake.notify_waiters();
        Ok(view(&job))
    }

    /// `tenant`'s job `id`'s messages after `after`, and the job.
    pub async fn events(&self, tenant: &Tenant, id: &str, after: i64, limit: i64) -> Result<(Job, Vec<JobEvent>)> {
        let job = tenant.job(&self.store, id).await?;
        self.check_retained(&job)?;
        let events = self.store.job_events(id, after, limit).await?;
        Ok((job, events))
    }

    /// Removes jobs whose retention ran out; returns how many.
    pub async fn purge_expired(&self) -> Result<u64> {
        Ok(self.store.purge_jobs(promptsmith_core::clock::now_ms() - self.limits.retention_ms).await?)
    }
}

fn decode_cursor(c: &str) -> Result<(i64, String)> {
    let bad = || AppError::invalid(format!("cursor '{c}' is not one this service returned"));
    let (at, id) = c.split_once('.').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

/// The service's view of a stored job.
pub fn view(job: &Job) -> JobView {
    let p: Progress = serde_json::from_value(job.progress.clone()).unwrap_or_default();
    let tenant = Tenant::new(&job.tenant).unwrap_or_default();
    let time = |t: i64| promptsmith_core::clock::rfc3339(t);
    let done = job.status == JobStatus::Completed;
    JobView {
        id: job.id.clone(),
        status: job.status,
        program: tenant.unqualify(&job.program).unwrap_or(&job.program).to_string(),
        progress: if done { 1.0 } else { p.progress },
        current_trial: p.current_iteration,
        best_score: p.best_score,
        calls_used: p.calls,
        tokens_used: p.tokens,
        planned_calls: job.plan.get("planned_calls").and_then(Value::as_u64).unwrap_or(0),
        estimated_cost: job.plan.get("estimated_cost_usd").and_then(Value::as_f64),
        algorithm: job.plan.get("optimizer").and_then(Value::as_str).unwrap_or("").to_string(),
        attempts: job.attempts,
        created_at: time(job.created_at),
        started_at: job.started_at.map(time),
        finished_at: job.finished_at.map(time),
        result: job.result.clone(),
        error: job.error.clone(),
    }
}
