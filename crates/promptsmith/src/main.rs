//! The promptsmith command-line interface.

// First, so that its `println!` (which ends quietly on a closed pipe) replaces std's in every
// module below.
#[macro_use]
mod output;

mod commands;
mod data_args;
mod lm_setup;

use clap::Parser;
use std::process::ExitCode;

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
            ExitCode::FAILURE
        }
    }
}
