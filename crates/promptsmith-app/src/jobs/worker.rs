//! [`Worker`]: claims jobs from the store and runs them, several at a time. `promptsmith serve`
//! runs one in process; `promptsmith worker` runs one per machine against a shared PostgreSQL.
//! A worker renews its lease on every running job by heartbeat (saving the job's progress and
//! hearing cancellation); a worker that dies stops renewing, and once the lease runs out
//! another worker claims the job and resumes it from its journal in the database. On shutdown a
//! worker stops claiming, lets running jobs finish for a grace period, then hands the rest back
//! to the queue.

use super::checkpoint::StoreCheckpoint;
use super::progress::JobProgress;
use super::request::JobRequest;
use crate::error::{AppError, Result};
use crate::optimize::{OptimizeOutcome, OptimizeService, RunContext};
use crate::program::StoreTarget;
use crate::tenant::Tenant;
use promptsmith_lm::LmStack;
use promptsmith_store::{Job, JobStatus, Store};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Its name in leases (unique per process).
    pub owner: String,
    /// Jobs run at once.
    pub slots: usize,
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// How often to look for work when not woken.
    pub poll: Duration,
    /// How long running jobs may finish after shutdown is asked.
    pub grace: Duration,
    /// Where job directories go.
    pub workdir: PathBuf,
}

impl WorkerConfig {
    /// Defaults: `slots` jobs, 30 s leases, 1 s polls, 30 s grace, a unique owner name.
    pub fn new(workdir: PathBuf, slots: usize) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        Self {
            owner: format!("{host}-{}-{}", std::process::id(), crate::ids::new_id("w")),
            slots: slots.max(1),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(30),
            workdir,
        }
    }
}

/// Claims and runs jobs.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    target: StoreTarget,
    lm: Arc<LmStack>,
    config: WorkerConfig,
    wake: Option<Arc<Notify>>,
    /// Set once shutdown's grace period is over: running jobs are being stopped to be handed back.
    stopping: Arc<AtomicBool>,
    /// The cancellation token of each running job.
    running: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

impl Worker {
    /// A worker over `store` (reachable again at `target` by the optimize service) and `lm`.
    pub fn new(store: Store, target: StoreTarget, lm: Arc<LmStack>, config: WorkerConfig) -> Self {
        Self { store, target, lm, config, wake: None, stopping: Arc::default(), running: Arc::default() }
    }

    /// Also look for work whenever `wake` is notified (an in-process job service).
    pub fn woken_by(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Runs until `shutdown`; then finishes or hands back its jobs and returns.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<()> {
        let mut running: JoinSet<String> = JoinSet::new();
        loop {
            while running.len() < self.config.slots && !shutdown.is_cancelled() {
                let Some(job) = self.store.claim_job(&self.config.owner, self.lease_ms()).await? else { break };
                tracing::info!(job = %job.id, attempt = job.attempts, "claimed");
                let me = self.clone();
                running.spawn(async move {
                    let id = job.id.clone();
                    me.run_job(job).await;
                    id
                });
            }
            let wake = self.wake.clone();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = async { match wake { Some(w) => w.notified().await, None => std::future::pending().await } } => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
        self.drain(running).await;
        Ok(())
    }

    /// After shutdown: waits up to the grace period, then stops what is left at its next step
    /// (each hands its job back to the queue: its journal is in the store, the next worker
    /// resumes it), and as a last resort aborts a job that does not stop within a minute.
    /// Stopping cooperatively matters: a task aborted inside a database call can leave its
    /// connection in a transaction that swallows later writes.
    async fn drain(&self, mut running: JoinSet<String>) {
        let deadline = tokio::time::Instant::now() + self.config.grace;
        while !running.is_empty() {
            tokio::select! {
                _ = running.join_next() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(tokens) = self.running.lock() {
            tokens.values().for_each(CancellationToken::cancel);
        }
        let last_resort = tokio::time::Instant::now() + Duration::from_secs(60);
        while !running.is_empty() {
            tokio::select! {
                _ = running.join_next() => {}
                _ = tokio::time::sleep_until(last_resort) => break,
            }
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
        let query = promptsmith_store::JobQuery { status: Some(JobStatus::Running), limit: 1000, ..Default::default() };
        if let Ok(jobs) = self.store.jobs(&query).await {
            for job in jobs.iter().filter(|j| j.lease_owner.as_deref() == Some(self.config.owner.as_str())) {
                tracing::info!(job = %job.id, "handed back to the queue");
                let _ = self.store.release_job(&job.id, &self.config.owner).await;
            }
        }
    }

    fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    /// Runs one claimed job to its end and records how it ended.
    async fn run_job(&self, job: Job) {
        let algorithm = job.plan.get("optimizer").and_then(Value::as_str).unwrap_or("").to_string();
        let planned = job.plan.get("planned_calls").and_then(Value::as_u64).unwrap_or(1);
        let progress = JobProgress::start(self.store.clone(), &job.id, &algorithm, planned);
        let cancel = CancellationToken::new();
        if let Ok(mut tokens) = self.running.lock() {
            tokens.insert(job.id.clone(), cancel.clone());
        }
        let lost = Arc::new(AtomicBool::new(false));
        let beat = tokio::spawn(self.clone().heartbeat(job.id.clone(), progress.clone(), cancel.clone(), lost.clone()));
        let outcome = self.execute(&job, &progress, cancel).await;
        beat.abort();
        // The heartbeat holds a clone of `progress`: once it is gone, `finish` below waits for
        // every queued message (the final one included) before the job is marked finished,
        // so a client following the events never sees the job end without its last message.
        let _ = beat.await;
        if let Ok(mut tokens) = self.running.lock() {
            tokens.remove(&job.id);
        }
        if lost.load(Ordering::SeqCst) {
            tracing::warn!(job = %job.id, "lease lost; another worker has the job");
            progress.finish().await;
            return;
        }
        if self.stopping.load(Ordering::SeqCst) {
            tracing::info!(job = %job.id, "stopped for shutdown; handed back to the queue");
            progress.finish().await;
            let _ = self.store.release_job(&job.id, &self.config.owner).await;
            return;
        }
        let (status, result, error) = match outcome {
            Ok(o) => {
                let status = if o.cancelled() { JobStatus::Cancelled } else { JobStatus::Completed };
                let result = result_json(&o, &job);
                progress.push_final(if o.cancelled() { "cancelled" } else { "result" }, json!({ "result": result }));
                (status, Some(result), None)
            }
            Err(e) => {
                let message = service_message(&e, &job.id);
                progress.push_final("error", json!({"error": message, "kind": e.kind}));
                (JobStatus::Failed, None, Some(message))
            }
        };
        let saved = progress.snapshot();
        let _ = self.store.heartbeat_job(&job.id, &self.config.owner, self.lease_ms(), &json!(saved)).await;
        progress.finish().await;
        if let Err(e) =
            self.store.finish_job(&job.id, &self.config.owner, status, result.as_ref(), error.as_deref()).await
        {
            tracing::warn!(job = %job.id, "could not record the end: {e}");
        } else if let (JobStatus::Completed, Some(result)) = (status, &result) {
            let data = completed_event(&job.id, result);
            crate::webhooks::emit(
                &self.store,
                &job.tenant,
                "optimization.completed",
                data,
                promptsmith_core::clock::now_ms(),
            )
            .await;
        }
    }

    /// Materializes the job's inputs and runs it with its journal in the store.
    async fn execute(&self, job: &Job, progress: &JobProgress, cancel: CancellationToken) -> Result<OptimizeOutcome> {
        let tenant = Tenant::new(job.payload.get("tenant").and_then(Value::as_str).unwrap_or_default())?;
        let request: JobRequest = serde_json::from_value(job.payload.get("request").cloned().unwrap_or_default())
            .map_err(|e| AppError::internal(format!("job '{}': stored request is not valid: {e}", job.id)))?;
        let dir = self.config.workdir.join(&job.id);
        let mut optimize = request.materialize(&tenant, &self.store, &dir.join("input")).await?;
        if let Some(r) = optimize.register.as_mut() {
            r.actor = Some(format!("job {}", job.id));
        }
        let service = OptimizeService::new(Some(self.target.clone()));
        let prepared = service.prepare(optimize).await?;
        let run_dir = dir.join("run");
        let checkpoint = Arc::new(StoreCheckpoint::open(self.store.clone(), &job.id, &run_dir).await?);
        let ctx = RunContext { lm: &self.lm, run_dir, events: Arc::new(progress.clone()), cancel };
        service.run_with_checkpoint(prepared, ctx, Some(checkpoint)).await
    }

    /// Renews the lease every third of it, saving progress; cancels on request or lost lease.
    async fn heartbeat(self, id: String, progress: JobProgress, cancel: CancellationToken, lost: Arc<AtomicBool>) {
        let every = self.config.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let p = json!(progress.snapshot());
            match self.store.heartbeat_job(&id, &self.config.owner, self.lease_ms(), &p).await {
                Ok(true) => cancel.cancel(),
                Ok(false) => {}
                Err(e) if promptsmith_core::HasKind::kind(&e) == promptsmith_core::ErrorKind::Conflict => {
                    lost.store(true, Ordering::SeqCst);
                    cancel.cancel();
                    return;
                }
                Err(e) => tracing::warn!(job = %id, "heartbeat failed: {e}"),
            }
        }
    }
}

/// The error as a service client reads it: an unavailable model's message says how to go on
/// through the API (the CLI's says `--resume DIR`).
fn service_message(e: &AppError, id: &str) -> String {
    if e.kind != promptsmith_core::ErrorKind::Unavailable {
        return e.message.clone();
    }
    let first = e.message.lines().next().unwrap_or_default();
    format!(
        "{first}\nthe completed calls are kept in the job's journal: POST /v1/optimizations/{id}/retry resumes it once the model answers"
    )
}

/// What a finished job reports: scores before and after (test split when there is one) with
/// the paired test, the registration, the state, spending and how it stopped.
/// The `optimization.completed` event's data: the gain in percent of the baseline.
fn completed_event(id: &str, result: &Value) -> Value {
    let (before, after) = (result["baseline_score"].as_f64(), result["final_score"].as_f64());
    let pct = before.zip(after).and_then(|(b, f)| (b > 0.0).then(|| (f - b) / b * 100.0));
    json!({
        "id": id,
        "improvement_percentage": pct,
        "baseline_score": before,
        "final_score": after,
        "algorithm_used": result["algorithm"],
        "statistical_significance": result["significance"],
        "registered": result["registered"],
    })
}

fn result_json(o: &OptimizeOutcome, job: &Job) -> Value {
    let r = &o.report;
    // Result against baseline on the held-out split: a positive difference is a gain.
    let held = crate::optimize::family::held_out(r);
    let split = held.as_ref().map_or("validation", |h| h.split);
    let (before, after) = (held.as_ref().map(|h| h.baseline), held.as_ref().map(|h| h.result));
    let p_value = held.as_ref().and_then(|h| h.comparison.as_ref()).map(|c| c.test.p_value());
    let significance = held.and_then(|h| h.comparison).map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
    let tenant = Tenant::new(&job.tenant).unwrap_or_default();
    let registered = o.registration.as_ref().map(|reg| match reg {
        Ok(reg) => json!({
            "name": tenant.unqualify(&reg.name).unwrap_or(&reg.name),
            "version": reg.version,
            "alias": reg.alias,
            "reason": reg.reason,
        }),
        Err(e) => json!({"error": e.message}),
    });
    // A portfolio reports each member's validation score and which one was kept.
    let algorithms = (r.optimizer == "portfolio").then(|| {
        let runs = r.details["algorithms"].as_array().cloned().unwrap_or_default();
        let runs: Vec<Value> = runs
            .into_iter()
            .map(|m| json!({"name": m["name"], "ran": m["ran"], "val_score": m["val_score"], "stopped": m["stopped"], "why": m["why"]}))
            .collect();
        json!({"best": r.details["best"], "runs": runs})
    });
    json!({
        "algorithm": r.optimizer,
        "algorithms": algorithms,
        "split": split,
        "baseline_score": before,
        "final_score": after,
        "improvement": before.zip(after).map(|(b, f)| f - b),
        "baseline_val": r.baseline_val.as_ref().map(|s| s.score),
        "final_val": r.final_val.as_ref().map(|s| s.score),
        "significance": significance,
        "p_value": p_value,
        "registered": registered,
        "kept_regression_guard": r.rejected.is_some(),
        "state": o.state,
        "stopped": r.stopped,
        "spent": r.spent,
        "trials": r.trials.len(),
        "replayed_calls": o.replayed_calls,
    })
}
