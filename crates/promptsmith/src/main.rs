//! The promptsmith command-line interface.

// First, so that its `println!` (which ends quietly on a closed pipe) replaces std's in every
// module below.
#[macro_use]
mod output;

mod commands;
mod data_args;
mod lm_setup;

use clap::Parser;
use promptsmith_core::{ErrorKind, HasKind};
use std::process::ExitCode;

/// mimalloc instead of the system allocator: under the server's load glibc's malloc/free were a
/// fifth of the CPU time (BENCHMARKS.md, "Service").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// promptsmith: optimize, evaluate and run LLM programs.
#[derive(Debug, Parser)]
#[command(name = "promptsmith", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
    /// Model settings shared by all commands.
    #[command(flatten)]
    lm: lm_setup::LmArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PROMPTSMITH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::dispatch(cli.command, cli.lm)) {
        Ok(code) => code,
        // `promptsmith ... | head`: the reader has what it wanted (as ripgrep does).
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_status(error_kind(&e)))
        }
    }
}

/// The kind of the first error in the chain that knows one.
fn error_kind(e: &anyhow::Error) -> Option<ErrorKind> {
    e.chain().find_map(|cause| {
        if let Some(a) = cause.downcast_ref::<promptsmith_app::AppError>() {
            return Some(a.kind());
        }
        if let Some(s) = cause.downcast_ref::<promptsmith_lm::StackError>() {
            return Some(s.kind());
        }
        if let Some(s) = cause.downcast_ref::<promptsmith_store::StoreError>() {
            return Some(s.kind());
        }
        cause.downcast_ref::<promptsmith_eval::EvalError>().map(HasKind::kind)
    })
}

/// The exit status of a failure: the one place kinds become statuses (README, "Exit status").
/// 3 (below `--min-score`) and 130 (interrupted) are set by the commands themselves.
fn exit_status(kind: Option<ErrorKind>) -> u8 {
    match kind {
        Some(ErrorKind::InvalidInput) => 2,
        Some(ErrorKind::NotFound) => 4,
        Some(ErrorKind::Conflict) => 5,
        Some(ErrorKind::Unavailable) => 6,
        Some(ErrorKind::Gone) => 7,
        Some(ErrorKind::LimitExceeded) => 8,
        Some(ErrorKind::Unauthorized) => 9,
        Some(ErrorKind::Forbidden) => 10,
        Some(ErrorKind::Internal) | None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_distinct_statuses_through_context() {
        let e = anyhow::Error::new(promptsmith_app::AppError::not_found("no store at x")).context("qa@production");
        assert_eq!(error_kind(&e), Some(ErrorKind::NotFound));
        assert_eq!(exit_status(error_kind(&e)), 4);
        assert_eq!(exit_status(error_kind(&anyhow::anyhow!("plain"))), 1);
        let statuses: std::collections::BTreeSet<u8> =
            ErrorKind::ALL.into_iter().map(|k| exit_status(Some(k))).collect();
        assert_eq!(statuses.len(), ErrorKind::ALL.len());
        assert!(!statuses.contains(&0) && !statuses.contains(&3) && !statuses.contains(&130));
    }
}
