//! `promptsmith serve` and `promptsmith worker`: the HTTP service (with its in-process job
//! worker) and stand-alone workers that claim jobs from a shared PostgreSQL.

use super::registry::StoreArgs;
use crate::lm_setup::{build_lm, LmArgs};
use anyhow::{bail, Result};
use clap::Args;
use promptsmith_app::jobs::{QueueLimits, Worker, WorkerConfig};
use promptsmith_app::StoreTarget;
use promptsmith_server::{ServeConfig, ServerSettings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    /// Require an API key on every endpoint but /health (default: on unless bound to loopback).
    #[arg(long)]
    require_auth: Option<bool>,
    /// Jobs this server runs at once (0: none; leave them to `promptsmith worker`).
    #[arg(long, default_value_t = 10)]
    max_running: usize,
    /// Most queued jobs; beyond, submissions answer 503.
    #[arg(long, default_value_t = 100)]
    max_queued: i64,
    /// Hours a finished job stays readable (then 410 Gone).
    #[arg(long, default_value_t = 168)]
    retention_hours: i64,
    /// Requests per second per key (0: unlimited).
    #[arg(long, default_value_t = 0.0)]
    rate_limit: f64,
    /// Largest request body in MiB.
    #[arg(long, default_value_t = 16)]
    max_body_mib: usize,
    /// Where job directories go (default: ./promptsmith-jobs).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Seconds running jobs may finish after a shutdown signal before they are handed back.
    #[arg(long, default_value_t = 30)]
    grace_seconds: u64,
    /// Seconds between supervisor passes (experiments decided, rollouts advanced, quality
    /// checked); 0 turns them off (then `promptsmith rollout tick` runs one).
    #[arg(long, default_value_t = 60)]
    monitor_interval_seconds: u64,
}

/// Arguments of `worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Jobs run at once (each makes up to --concurrency model calls at a time).
    #[arg(long, default_value_t = 2)]
    slots: usize,
    /// Lease length in seconds (renewed every third of it; a dead worker's jobs are taken over
    /// once it runs out).
    #[arg(long, default_value_t = 30)]
    lease_seconds: u64,
    /// Where job directories go (default: ./promptsmith-jobs).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Seconds running jobs may finish after a shutdown signal before they are handed back.
    #[arg(long, default_value_t = 30)]
    grace_seconds: u64,
}

/// Runs the service until SIGTERM or Ctrl-C.
pub(crate) async fn serve(args: ServeArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let require_auth = args.require_auth.unwrap_or(!args.bind.ip().is_loopback());
    let store = args.store.open().await?;
    let lm = Arc::new(build_lm(&lm_args).await?);
    let workdir = args.workdir.unwrap_or_else(|| PathBuf::from("promptsmith-jobs"));
    let worker = (args.max_running > 0).then(|| {
        let mut w = WorkerConfig::new(workdir.clone(), args.max_running);
        w.grace = Duration::from_secs(args.grace_seconds);
        w
    });
    let config = ServeConfig {
        bind: args.bind,
        settings: ServerSettings {
            require_auth,
            max_body_bytes: args.max_body_mib << 20,
            rate_limit_per_s: args.rate_limit,
            monitor_interval: Duration::from_secs(args.monitor_interval_seconds),
            ..ServerSettings::default()
        },
        limits: QueueLimits { max_queued: args.max_queued, retention_ms: args.retention_hours * 3600 * 1000 },
        worker,
        workdir,
    };
    eprintln!(
        "promptsmith serve on http://{} (database {}, auth {}, {} job slots)",
        args.bind,
        store.url(),
        if require_auth { "required" } else { "off: loopback only" },
        args.max_running
    );
    let target = StoreTarget::new(args.store.database_url.clone());
    let result = promptsmith_server::serve(config, store, target, lm.clone(), shutdown_signal(), None).await;
    if let Ok(lm) = Arc::try_unwrap(lm) {
        lm.shutdown().await;
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Claims and runs jobs until SIGTERM or Ctrl-C.
pub(crate) async fn worker(args: WorkerArgs, lm_args: LmArgs) -> Result<ExitCode> {
    let store = args.store.open().await?;
    if store.kind() != promptsmith_store::DbKind::Postgres {
        eprintln!("note: workers on several machines need PostgreSQL; this worker uses {}", store.url());
    }
    if args.lease_seconds < 3 {
        bail!("--lease-seconds {}: use at least 3 (the lease is renewed every third of it)", args.lease_seconds);
    }
    let lm = Arc::new(build_lm(&lm_args).await?);
    let mut config = WorkerConfig::new(args.workdir.unwrap_or_else(|| PathBuf::from("promptsmith-jobs")), args.slots);
    config.lease = Duration::from_secs(args.lease_seconds);
    config.grace = Duration::from_secs(args.grace_seconds);
    eprintln!("promptsmith worker {} on {} ({} slots)", config.owner, store.url(), config.slots);
    let target = StoreTarget::new(args.store.database_url.clone());
    let result = Worker::new(store, target, lm.clone(), config).run(shutdown_signal()).await;
    if let Ok(lm) = Arc::try_unwrap(lm) {
        lm.shutdown().await;
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Cancelled on SIGTERM or Ctrl-C.
fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("shutting down: no new requests or jobs; running jobs finish or are handed back");
        t.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
