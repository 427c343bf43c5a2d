//! `promptsmith policy`: a program's continuous-optimization policy and the policy engine's
//! timeline, in the store the server serves from (the same [`PolicyService`] as
//! `/v1/programs/{name}/policy` and `/timeline`, as the default tenant).

use super::registry::StoreArgs;
use anyhow::{Context, Result};
use clap::Subcommand;
use promptsmith_app::policy::{Policy, PolicyService};
use promptsmith_app::Tenant;
use std::path::PathBuf;
use std::process::ExitCode;

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Set PROGRAM's policy: from a JSON file (fields as in `PUT /v1/programs/{name}/policy`,
    /// every one optional), else the current one, then --enable / --disable.
    Set {
        /// The program.
        program: String,
        /// A JSON file with the policy.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Turn automatic optimization on.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Turn it off.
        #[arg(long)]
        disable: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print PROGRAM's policy (the defaults when none was set) as JSON.
    Show {
        /// The program.
        program: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The policy engine's decisions on PROGRAM, newest first, with their reasons.
    Timeline {
        /// The program.
        program: String,
        /// Most to list.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs a `policy` subcommand.
pub(crate) async fn policy(command: PolicyCommand) -> Result<ExitCode> {
    let tenant = Tenant::default();
    match command {
        PolicyCommand::Set { program, file, enable, disable, store } => {
            let service = PolicyService::new(store.open_existing().await?);
            let mut policy: Policy = match &file {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                    serde_json::from_str(&text).with_context(|| format!("{}: not a valid policy", path.display()))?
                }
                None => service.get(&tenant, &program).await?,
            };
            if enable || disable {
                policy.enable_automatic_optimization = enable;
            }
            let set = service.set(&tenant, &program, &policy).await?;
            println!("{}", serde_json::to_string_pretty(&set)?);
        }
        PolicyCommand::Show { program, store } => {
            let policy = PolicyService::new(store.open_existing().await?).get(&tenant, &program).await?;
            println!("{}", serde_json::to_string_pretty(&policy)?);
        }
        PolicyCommand::Timeline { program, limit, store } => {
            for e in PolicyService::new(store.open_existing().await?).timeline(&tenant, &program, limit).await? {
                println!("{}\t{}\t{}\t{}", e.at, e.kind, e.decision, e.reason);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
