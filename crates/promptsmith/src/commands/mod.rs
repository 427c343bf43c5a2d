//! Subcommands.

mod compare;
mod data;
mod dspy;
mod eval;
mod experiment;
mod feedback;
mod history;
mod keys;
mod lm;
mod monitor;
mod optimize;
mod policy;
mod registry;
mod rollout;
mod run;
mod runs;
mod serve;
mod synthesize;
mod webhook;

use crate::lm_setup::LmArgs;
use anyhow::Result;
use clap::Subcommand;
use promptsmith_core::Program;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a program on one input and print the prediction.
    Run(run::RunArgs),
    /// Evaluate a program on a dataset with a metric.
    Eval(eval::EvalArgs),
    /// Optimize a program's instructions and demos (MIPROv2, BootstrapFewShot, ...).
    Optimize(Box<optimize::OptimizeArgs>),
    /// Compare two program states on the same examples: which is better and how sure.
    Compare(compare::CompareArgs),
    /// Print recent LM calls (the exact messages sent and received).
    History(history::HistoryArgs),
    /// Install, serve and stop the local model.
    #[command(subcommand)]
    Lm(lm::LmCommand),
    /// List, check and show datasets; write seeded splits.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// The versioned program registry: list, show, register, diff, activate, rollback, alias.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Optimization and evaluation runs recorded in the store.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Human feedback on evaluations: review queue, ratings, corrections, agreement.
    #[command(subcommand)]
    Feedback(feedback::FeedbackCommand),
    /// A version's quality over time: snapshots, trend, degradation check.
    #[command(subcommand)]
    Monitor(monitor::MonitorCommand),
    /// Import or export DSPy `program.save()` JSON files.
    #[command(subcommand)]
    Dspy(dspy::DspyCommand),
    /// Run the HTTP service (API, job worker, predictions, gateway).
    Serve(Box<serve::ServeArgs>),
    /// Claim and run optimization jobs from the service's database (PostgreSQL for many machines).
    Worker(serve::WorkerArgs),
    /// API keys for the service, and encryption key rotation.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// A/B experiments of a challenger version against the control on the server's traffic.
    #[command(subcommand)]
    Experiment(experiment::ExperimentCommand),
    /// Gradual rollouts with guardrails and automatic rollback; `rollout tick` runs one
    /// supervisor pass (experiments decided, rollouts advanced).
    #[command(subcommand)]
    Rollout(rollout::RolloutCommand),
    /// Webhooks: signed event notifications with retries.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Continuous optimization: a program's policy and the decisions taken under it.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

/// Runs one subcommand.
pub(crate) async fn dispatch(command: Command, lm: LmArgs) -> Result<ExitCode> {
    match command {
        Command::Run(a) => run::run(a, lm).await,
        Command::Eval(a) => eval::eval(a, lm).await,
        Command::Optimize(a) => optimize::optimize(*a, lm).await,
        Command::Compare(a) => compare::compare(a, lm).await,
        Command::History(a) => history::history(a, &lm),
        Command::Lm(c) => lm::lm(c, lm).await,
        Command::Data(c) => data::data(c, lm).await,
        Command::Registry(c) => registry::registry(c).await,
        Command::Runs(c) => runs::runs(c).await,
        Command::Feedback(c) => feedback::feedback(c).await,
        Command::Monitor(c) => monitor::monitor(c).await,
        Command::Dspy(c) => dspy::dspy(c).await,
        Command::Serve(a) => serve::serve(*a, lm).await,
        Command::Worker(a) => serve::worker(a, lm).await,
        Command::Keys(c) => keys::keys_command(c).await,
        Command::Experiment(c) => experiment::experiment(c).await,
        Command::Rollout(c) => rollout::rollout(c).await,
        Command::Webhook(c) => webhook::webhook(c).await,
        Command::Policy(c) => policy::policy(c).await,
    }
}

/// Loads a program (a spec file or `NAME@alias` in the store `$PROMPTSMITH_DATABASE_URL` names)
/// and applies a state file when given.
pub(crate) async fn load_program_with_state(program: &Path, state: Option<&Path>) -> Result<Program> {
    let source = promptsmith_app::ProgramSource::parse(&program.display().to_string());
    Ok(promptsmith_app::program::load(&source, state, &promptsmith_app::StoreTarget::default()).await?)
}

/// Directories searched for bundled sample data: `<program dir>/data`, then `examples/*/data`.
pub(crate) fn sample_dirs(program: &Path) -> Vec<PathBuf> {
    promptsmith_app::program::sample_dirs(&promptsmith_app::ProgramSource::File(program.to_path_buf()))
}

/// A progress bar with running score, rate and ETA (hidden when `quiet`).
pub(crate) fn progress_bar(total: usize, quiet: bool) -> indicatif::ProgressBar {
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(total as u64) };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} {per_sec} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A token cancelled at the first Ctrl-C (a second Ctrl-C kills the process as usual).
pub(crate) fn cancel_on_ctrl_c() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping after the examples in flight are dropped (Ctrl-C again to kill)...");
            t.cancel();
            // Restore the default handler for a second Ctrl-C.
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    token
}
