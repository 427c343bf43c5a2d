//! `promptsmith experiment`: start, read, list and stop A/B experiments in the store the server
//! serves from (the same [`ExperimentService`] as `/v1/experiments`, as the default tenant).

use super::registry::StoreArgs;
use anyhow::Result;
use clap::Subcommand;
use promptsmith_app::experiments::{ArmView, ExperimentRequest, ExperimentService, ExperimentView};
use promptsmith_app::rollout::Guardrails;
use promptsmith_app::Tenant;
use std::process::ExitCode;

/// `experiment` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ExperimentCommand {
    /// Start an experiment: the server's predictions for PROGRAM are split between the control
    /// and the challenger, sticky per caller key.
    Start {
        /// The program.
        #[arg(long)]
        program: String,
        /// The challenger: a version number or alias.
        #[arg(long)]
        challenger: String,
        /// The control: a version number or alias.
        #[arg(long, default_value = "production")]
        control: String,
        /// Share of traffic to the challenger.
        #[arg(long, default_value_t = 0.1)]
        traffic: f64,
        /// feedback (ratings of each arm's predictions) or evaluation (stored scores).
        #[arg(long, default_value = "feedback")]
        metric: String,
        /// Outcomes each arm needs before a decision.
        #[arg(long, default_value_t = 100)]
        min_samples: u64,
        /// Smallest gain worth deploying, in score points.
        #[arg(long, default_value_t = 0.0)]
        min_effect: f64,
        /// Hours after which an undecided experiment ends with no difference.
        #[arg(long, default_value_t = 24.0)]
        max_hours: f64,
        /// Significance level, valid at every look.
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        /// Do not start a gradual rollout of the challenger when it wins.
        #[arg(long)]
        no_auto_rollout: bool,
        /// Guardrail: end the experiment when more than this share of the challenger's
        /// predictions fail.
        #[arg(long)]
        max_error_rate: Option<f64>,
        /// Guardrail: the challenger's highest p95 latency, ms.
        #[arg(long)]
        max_p95_latency_ms: Option<f64>,
        /// Guardrail: the challenger's highest mean cost per prediction, USD.
        #[arg(long)]
        max_cost_per_call: Option<f64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// An experiment's arms, difference, always-valid p-value and decision.
    Status {
        /// The experiment id (`exp_…`).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Stop a running experiment (traffic goes back to the control).
    Stop {
        /// The experiment id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Experiments, newest first.
    List {
        /// Most to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs an `experiment` subcommand.
pub(crate) async fn experiment(command: ExperimentCommand) -> Result<ExitCode> {
    let tenant = Tenant::default();
    match command {
        ExperimentCommand::Start {
            program,
            challenger,
            control,
            traffic,
            metric,
            min_samples,
            min_effect,
            max_hours,
            alpha,
            no_auto_rollout,
            max_error_rate,
            max_p95_latency_ms,
            max_cost_per_call,
            json,
            store,
        } => {
            let any = max_error_rate.is_some() || max_p95_latency_ms.is_some() || max_cost_per_call.is_some();
            let guardrails = any.then(|| Guardrails {
                max_error_rate: max_error_rate.unwrap_or(1.0),
                max_p95_latency_ms,
                max_cost_per_call_usd: max_cost_per_call,
                ..Guardrails::default()
            });
            let service = ExperimentService::new(store.open_existing().await?);
            let req = ExperimentRequest {
                program,
                control,
                challenger,
                traffic,
                metric,
                min_samples,
                min_effect,
                max_duration_hours: max_hours,
                alpha,
                auto_rollout: !no_auto_rollout,
                guardrails,
                rollout: None,
            };
            print(&service.start(&tenant, &req).await?, json);
        }
        ExperimentCommand::Status { id, json, store } => {
            let service = ExperimentService::new(store.open_existing().await?);
            print(&service.status(&tenant, &id).await?, json);
        }
        ExperimentCommand::Stop { id, store } => {
            let service = ExperimentService::new(store.open_existing().await?);
            print(&service.stop(&tenant, &id).await?, false);
        }
        ExperimentCommand::List { limit, store } => {
            let service = ExperimentService::new(store.open_existing().await?);
            for e in service.list(&tenant, limit).await? {
                println!(
                    "{}\t{}\t{} vs {}\t{}\t{}",
                    e.id,
                    e.program,
                    e.control.version,
                    e.challenger.version,
                    e.status,
                    e.decision.as_str()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print(e: &ExperimentView, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(e).unwrap_or_default());
        return;
    }
    println!(
        "experiment {} on {} ({}, {:.0}% to the challenger, metric {})",
        e.id,
        e.program,
        e.status,
        e.traffic * 100.0,
        e.metric
    );
    println!("  control:    {}", arm(&e.control));
    println!("  challenger: {}", arm(&e.challenger));
    match (&e.difference, e.p_value) {
        (Some(d), Some(p)) => println!(
            "  difference: {:+.3} [{:+.3}, {:+.3}] at {:.0}% (valid at every look), p = {p:.4}",
            d.estimate,
            d.lower,
            d.upper,
            d.confidence * 100.0
        ),
        _ => println!("  difference: not yet (each arm needs two outcomes)"),
    }
    for g in &e.guardrails {
        let mark = if g.breached { "BREACHED" } else { "ok" };
        println!("  guardrail {}: {:.4} (limit {:.4}) {mark}", g.name, g.value, g.limit);
    }
    let deploy = if e.deployment_recommended { ": deploy the challenger" } else { "" };
    println!("  decision:   {}{deploy}", e.decision.as_str());
}

fn arm(a: &ArmView) -> String {
    let mean = a.mean.map_or("-".to_string(), |m| format!("{m:.3}"));
    format!("version {}, {} predictions ({} failed), n = {}, mean {mean}", a.version, a.predictions, a.errors, a.n)
}
