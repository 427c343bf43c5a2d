//! Running the service: the HTTP listener, the in-process job worker (unless jobs are left to
//! `promptsmith worker` processes), the retention sweeper, the supervisor that decides
//! experiments and advances rollouts, the webhook sender, and a graceful shutdown that stops
//! accepting, lets running jobs finish for a grace period and hands the rest back to the queue.

use crate::state::{AppState, ServerSettings};
use promptsmith_app::jobs::{JobService, QueueLimits, Worker, WorkerConfig};
use promptsmith_app::{AppError, StoreTarget};
use promptsmith_lm::LmStack;
use promptsmith_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything `promptsmith serve` sets.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// HTTP settings.
    pub settings: ServerSettings,
    /// Queue limits and retention.
    pub limits: QueueLimits,
    /// The in-process worker (`None`: only external workers run jobs).
    pub worker: Option<WorkerConfig>,
    /// Where job scratch directories go.
    pub workdir: PathBuf,
}

/// Serves until `shutdown`; reports the bound address through `bound` (for port 0).
pub async fn serve(
    config: ServeConfig,
    store: Store,
    target: StoreTarget,
    lm: Arc<LmStack>,
    shutdown: CancellationToken,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), AppError> {
    let jobs = JobService::new(store.clone(), target.clone(), config.limits, config.workdir.clone());
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| AppError::unavailable(format!("cannot listen on {}: {e}", config.bind)))?;
    let addr = listener.local_addr().map_err(|e| AppError::internal(format!("listener: {e}")))?;
    tracing::info!("listening on http://{addr}");
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }
    let worker_stop = CancellationToken::new();
    let worker = config.worker.clone().map(|wc| {
        let w = Worker::new(store.clone(), target.clone(), lm.clone(), wc).woken_by(jobs.wake());
        let stop = worker_stop.clone();
        tokio::spawn(async move { w.run(stop).await })
    });
    let sweeper = tokio::spawn(sweep(jobs.clone()));
    let background = CancellationToken::new();
    let engine = promptsmith_app::policy::PolicyEngine::new(store.clone(), jobs.clone(), (*lm.pricing).clone());
    let loops = spawn_loops(&store, &config.settings, engine, &background)?;
    let upkeep = tokio::spawn(metrics_upkeep());
    let state = AppState::new(store, jobs, lm, config.settings);
    let app = crate::router(state);
    let stop = shutdown.clone();
    let served = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
    tracing::info!("no longer accepting requests; stopping the worker");
    worker_stop.cancel();
    if let Some(w) = worker {
        match w.await {
            Ok(Err(e)) => tracing::error!("worker: {e}"),
            Err(e) => tracing::error!("worker: {e}"),
            Ok(Ok(())) => {}
        }
    }
    sweeper.abort();
    upkeep.abort();
    background.cancel();
    for l in loops {
        let _ = l.await;
    }
    served.map_err(|e| AppError::internal(format!("server: {e}")))
}

/// The self-improving loop's pass (experiments decided, rollouts advanced) and the webhook
/// sender, each unless its interval is zero.
fn spawn_loops(
    store: &Store,
    settings: &ServerSettings,
    policies: promptsmith_app::policy::PolicyEngine,
    stop: &CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>, AppError> {
    let mut loops = Vec::new();
    if !settings.monitor_interval.is_zero() {
        let supervisor = promptsmith_app::supervisor::Supervisor::new(store.clone()).with_policies(policies);
        loops.push(tokio::spawn(supervise(supervisor, settings.monitor_interval, stop.clone())));
    }
    if !settings.webhook_poll.is_zero() {
        let sender = promptsmith_app::webhooks::Sender::new(store.clone(), Default::default())?;
        loops.push(tokio::spawn(sender.run(settings.webhook_poll, stop.clone())));
    }
    Ok(loops)
}

/// A supervisor pass every `interval` until `stop`; what it did is logged and counted.
async fn supervise(s: promptsmith_app::supervisor::Supervisor, interval: std::time::Duration, stop: CancellationToken) {
    loop {
        match s.tick(promptsmith_core::clock::now_ms()).await {
            Ok(actions) => crate::telemetry::record_actions(&actions),
            Err(e) => tracing::warn!("supervisor pass: {e}"),
        }
        match s.health().await {
            Ok(health) => crate::telemetry::record_health(&health),
            Err(e) => tracing::warn!("version health: {e}"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Removes jobs past their retention, hourly.
async fn sweep(jobs: JobService) {
    loop {
        if let Err(e) = jobs.purge_expired().await {
            tracing::warn!("retention sweep: {e}");
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// Folds recorded histogram samples into their buckets every few seconds, so memory stays
/// bounded when nobody scrapes `/metrics`.
async fn metrics_upkeep() {
    let handle = crate::telemetry::handle();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        handle.run_upkeep();
    }
}
