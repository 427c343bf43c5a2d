//! Subcommands.

mod compare;
mod data;
mod dspy;
mod eval;
mod feedback;
mod history;
mod lm;
mod monitor;
mod optimize;
mod registry;
mod run;
mod runs;

use crate::lm_setup::LmArgs;
use anyhow::{Context, Result};
use clap::Subcommand;
use promptsmith_core::{load_program, Program, ProgramState};
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
        Command::Data(c) => data::data(c),
        Command::Registry(c) => registry::registry(c).await,
        Command::Runs(c) => runs::runs(c).await,
        Command::Feedback(c) => feedback::feedback(c).await,
        Command::Monitor(c) => monitor::monitor(c).await,
        Command::Dspy(c) => dspy::dspy(c),
    }
}

/// Loads a program spec and applies a state file when given.
pub(crate) fn load_program_with_state(program: &Path, state: Option<&Path>) -> Result<Program> {
    if let Some(registered) = registry::registered_program(program, state)? {
        return Ok(registered);
    }
    let base = load_program(program).map_err(|e| anyhow::anyhow!("{e}"))?;
    match state {
        None => Ok(base),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read state {}", path.display()))?;
            let st = ProgramState::from_json(&text, &path.display().to_string()).map_err(anyhow::Error::msg)?;
            base.with_state(&st).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
    }
}

/// Directories searched for bundled sample data: `<program dir>/data`, then `examples/*/data`.
pub(crate) fn sample_dirs(program: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(parent) = program.parent() {
        let d = parent.join("data");
        if d.is_dir() {
            dirs.push(d);
        }
    }
    if let Ok(entries) = std::fs::read_dir("examples") {
        let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("data")).filter(|p| p.is_dir()).collect();
        found.sort();
        for d in found {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

/// A `--metric` value: a built-in id, or a metric spec file (`.yaml`, `.yml`, `.json`).
pub(crate) fn metric_spec(arg: &str) -> Result<promptsmith_eval::MetricSpec> {
    let path = Path::new(arg);
    let is_file_name = [".yaml", ".yml", ".json"].iter().any(|ext| arg.to_ascii_lowercase().ends_with(ext));
    if is_file_name {
        if !path.is_file() {
            anyhow::bail!("--metric {arg}: no such metric spec file");
        }
        return promptsmith_eval::MetricSpec::from_file(path).map_err(|e| anyhow::anyhow!("--metric: {e}"));
    }
    // Validate the id now, so a typo fails before any model call.
    promptsmith_eval::metric_by_name(arg, "answer").map_err(|e| anyhow::anyhow!("--metric: {e}"))?;
    Ok(promptsmith_eval::MetricSpec { metric: Some(arg.to_string()), ..Default::default() })
}

/// The output field a metric compares: `--field`, else `answer`, else the program's last output.
pub(crate) fn metric_field(program: &Program, field: Option<&str>) -> Result<String> {
    let outputs = program.output_fields();
    let field = match field {
        Some(f) => f.to_string(),
        None if outputs.iter().any(|o| o == "answer") => "answer".to_string(),
        None => outputs.last().cloned().unwrap_or_else(|| "answer".into()),
    };
    if !outputs.contains(&field) {
        anyhow::bail!(
            "--field '{field}' is not an output of program '{}' (outputs: {})",
            program.name,
            outputs.join(", ")
        );
    }
    Ok(field)
}

/// The label fields a metric spec reads from each example (checked before any model call).
pub(crate) fn required_labels(spec: &promptsmith_eval::MetricSpec, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(id) = &spec.metric {
        let (base, param) = id.split_once(':').map(|(b, p)| (b, Some(p))).unwrap_or((id.as_str(), None));
        let f = spec.field.clone().unwrap_or_else(|| field.to_string());
        match base {
            "ifeval" => out.extend(["instruction_id_list".to_string(), "kwargs".to_string()]),
            // A fixed pattern without a capture group needs no label.
            "regex" if param.is_some_and(|p| !p.contains('(')) => {}
            _ => out.push(f),
        }
    }
    for part in spec.composite.iter().flatten() {
        for l in required_labels(part, field) {
            if !out.contains(&l) {
                out.push(l);
            }
        }
    }
    out
}

/// Fails when the first example lacks a label the metric needs.
pub(crate) fn check_labels(
    spec: &promptsmith_eval::MetricSpec,
    field: &str,
    data: &str,
    first: Option<&promptsmith_core::Example>,
) -> Result<()> {
    let Some(first) = first else { return Ok(()) };
    for label in required_labels(spec, field) {
        if first.get(&label).is_none() {
            anyhow::bail!(
                "--data {data}: examples have no '{label}' label for the metric to compare (they have: {})",
                first.fields.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
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
