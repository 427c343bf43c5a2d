//! Running the service: the HTTP listener, the in-process job worker (unless jobs are left to
//! `promptsmith worker` processes), the retention sweeper, and a graceful shutdown that stops
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
    served.map_err(|e| AppError::internal(format!("server: {e}")))
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
