//! `promptsmith rollout`: start, read, list and stop gradual rollouts, and `rollout tick`, one
//! pass of the supervisor that decides experiments and advances rollouts (what `serve` runs
//! every monitoring interval). The same services as `/v1/rollouts`, as the default tenant.

use super::registry::StoreArgs;
use anyhow::Result;
use clap::Subcommand;
use promptsmith_app::rollout::{Guardrails, RolloutRequest, RolloutService, RolloutSettings, RolloutView};
use promptsmith_app::supervisor::Supervisor;
use promptsmith_app::Tenant;
use std::process::ExitCode;

/// `rollout` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RolloutCommand {
    /// Start moving PROGRAM's traffic to the challenger in steps, gated by guardrails.
    Start {
        /// The program.
        #[arg(long)]
        program: String,
        /// The version rolled out: a number or alias.
        #[arg(long)]
        challenger: String,
        /// The version it replaces.
        #[arg(long, default_value = "production")]
        control: String,
        /// The challenger's share at each step, ending at 1.
        #[arg(long, value_delimiter = ',', default_value = "0.1,0.25,0.5,0.75,1")]
        steps: Vec<f64>,
        /// Challenger predictions each step serves before the next.
        #[arg(long, default_value_t = 50)]
        min_samples_per_step: u64,
        /// Minutes each step is held at least.
        #[arg(long, default_value_t = 10.0)]
        min_step_minutes: f64,
        /// feedback or evaluation: the outcome the quality guardrail compares.
        #[arg(long, default_value = "feedback")]
        metric: String,
        /// Highest share of failed predictions.
        #[arg(long, default_value_t = 0.05)]
        max_error_rate: f64,
        /// Highest p95 latency, ms.
        #[arg(long)]
        max_p95_latency_ms: Option<f64>,
        /// Highest mean cost per prediction, USD.
        #[arg(long)]
        max_cost_per_call: Option<f64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// A rollout's step, arms and guardrail readings.
    Status {
        /// The rollout id (`ro_…`).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Stop a running rollout (traffic returns to the control; aliases stay).
    Stop {
        /// The rollout id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Rollouts, newest first.
    List {
        /// Most to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// One supervisor pass now: decide running experiments, advance running rollouts, check
    /// production quality, apply the policies (queued optimizations run in `serve` or `worker`).
    Tick {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs a `rollout` subcommand.
pub(crate) async fn rollout(command: RolloutCommand) -> Result<ExitCode> {
    let tenant = Tenant::default();
    let now = promptsmith_core::clock::now_ms();
    match command {
        RolloutCommand::Start {
            program,
            challenger,
            control,
            steps,
            min_samples_per_step,
            min_step_minutes,
            metric,
            max_error_rate,
            max_p95_latency_ms,
            max_cost_per_call,
            json,
            store,
        } => {
            let guardrails = Guardrails {
                max_error_rate,
                max_p95_latency_ms,
                max_cost_per_call_usd: max_cost_per_call,
                ..Guardrails::default()
            };
            let settings = RolloutSettings { steps, min_samples_per_step, min_step_minutes, metric, guardrails };
            let req = RolloutRequest { program, control, challenger, settings };
            let service = RolloutService::new(store.open_existing().await?);
            print(&service.start(&tenant, &req, now).await?, json);
        }
        RolloutCommand::Status { id, json, store } => {
            print(&RolloutService::new(store.open_existing().await?).status(&tenant, &id).await?, json);
        }
        RolloutCommand::Stop { id, store } => {
            print(&RolloutService::new(store.open_existing().await?).stop(&tenant, &id).await?, false);
        }
        RolloutCommand::List { limit, store } => {
            for r in RolloutService::new(store.open_existing().await?).list(&tenant, limit).await? {
                let (c, h) = (r.control.version, r.challenger.version);
                println!("{}\t{}\t{c} -> {h}\t{}\tstep {}/{}", r.id, r.program, r.status, r.step, r.steps.len());
            }
        }
        RolloutCommand::Tick { store } => {
            let opened = store.open_existing().await?;
            let target = promptsmith_app::StoreTarget::new(store.database_url.clone());
            let limits = promptsmith_app::jobs::QueueLimits::default();
            let jobs =
                promptsmith_app::jobs::JobService::new(opened.clone(), target, limits, "promptsmith-jobs".into());
            let engine = promptsmith_app::policy::PolicyEngine::new(opened.clone(), jobs, Default::default());
            for a in Supervisor::new(opened).with_policies(engine).tick(now).await? {
                println!("{}\t{}\t{}", a.kind, a.id, a.what);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print(r: &RolloutView, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    println!(
        "rollout {} on {}: version {} -> {} ({}, step {}/{}, {:.0}% to the challenger)",
        r.id,
        r.program,
        r.control.version,
        r.challenger.version,
        r.status,
        r.step,
        r.steps.len(),
        r.traffic * 100.0
    );
    println!(
        "  challenger: {} predictions ({} failed), n = {}",
        r.challenger.predictions, r.challenger.errors, r.challenger.n
    );
    for g in &r.guardrails {
        let mark = if g.breached { "BREACHED" } else { "ok" };
        println!("  guardrail {}: {:.4} (limit {:.4}) {mark}", g.name, g.value, g.limit);
    }
    if let Some(reason) = &r.reason {
        println!("  {reason}");
    }
}
