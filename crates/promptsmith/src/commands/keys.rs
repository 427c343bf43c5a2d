//! `promptsmith keys`: API keys for the service (create, list, revoke) and re-sealing stored
//! program states and datasets under the current encryption key.

use super::registry::StoreArgs;
use anyhow::Result;
use clap::Subcommand;
use promptsmith_app::{keys, Tenant};
use promptsmith_store::Role;
use std::process::ExitCode;

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make a key; it is printed once and only its hash is stored.
    Create {
        /// The tenant it acts for.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// read, write or admin.
        #[arg(long, default_value = "write")]
        role: String,
        /// A name for people.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys (never the keys themselves).
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by its id (`key_…`).
    Revoke {
        /// The key's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Re-seal every sealed value (program states, datasets, trial states, artifacts, evaluation
    /// data, feedback, job payloads, results, journals and events) under
    /// PROMPTSMITH_ENCRYPTION_KEY (old keys in PROMPTSMITH_ENCRYPTION_OLD_KEYS still open the rows
    /// being re-sealed).
    RotateEncryption {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs a `keys` subcommand.
pub(crate) async fn keys_command(cmd: KeysCommand) -> Result<ExitCode> {
    match cmd {
        KeysCommand::Create { tenant, role, name, store } => {
            let store = store.open().await?;
            let created = keys::create(&store, &Tenant::new(&tenant)?, Role::parse(&role)?, &name).await?;
            println!("{}", created.secret);
            eprintln!(
                "key {} for tenant '{}' with role '{}': shown once, store it now",
                created.key.id,
                created.key.tenant,
                created.key.role.as_str()
            );
        }
        KeysCommand::List { tenant, store } => {
            let store = store.open_existing().await?;
            for k in store.api_keys(tenant.as_deref()).await? {
                let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}\t{}\t{}", k.id, k.tenant, k.role.as_str(), state, k.name);
            }
        }
        KeysCommand::Revoke { id, store } => {
            let key = store.open_existing().await?.revoke_api_key(&id).await?;
            println!("revoked {} (tenant '{}')", key.id, key.tenant);
        }
        KeysCommand::RotateEncryption { store } => {
            let store = store.open_existing().await?;
            let Some(id) = store.keyring().current_id().map(str::to_string) else {
                anyhow::bail!("set PROMPTSMITH_ENCRYPTION_KEY to the new key first (and the old one in PROMPTSMITH_ENCRYPTION_OLD_KEYS)");
            };
            let n = store.reseal_all().await?;
            println!(
                "re-sealed {} values under key '{id}': {} program states, {} datasets, {} trial states and run \
                 artifacts, {} evaluation and feedback values, {} job payloads, results, journals and events",
                n.total(),
                n.states,
                n.datasets,
                n.runs,
                n.evaluations,
                n.jobs
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
