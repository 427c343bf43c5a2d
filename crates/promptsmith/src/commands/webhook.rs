//! `promptsmith webhook`: register, list and remove webhooks and read their deliveries, in the
//! store the server serves from (the same [`WebhookService`] as `/v1/webhooks`, as the default
//! tenant). The server's sender delivers them.

use super::registry::StoreArgs;
use anyhow::Result;
use clap::Subcommand;
use promptsmith_app::webhooks::{WebhookRequest, WebhookService};
use promptsmith_app::Tenant;
use std::process::ExitCode;

/// `webhook` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum WebhookCommand {
    /// Register URL for event types; prints the signing secret once.
    Add {
        /// Where events are posted.
        url: String,
        /// Event types (comma-separated; `*` for all): optimization.completed, experiment.result,
        /// rollout.step, rollout.rolled_back, monitor.degradation.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        events: Vec<String>,
        /// The signing secret (default: a random one).
        #[arg(long)]
        secret: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Registered webhooks.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a webhook (its pending deliveries go with it).
    Remove {
        /// The webhook id (`wh_…`).
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// A webhook's deliveries, newest first.
    Deliveries {
        /// The webhook id.
        id: String,
        /// Most to list.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs a `webhook` subcommand.
pub(crate) async fn webhook(command: WebhookCommand) -> Result<ExitCode> {
    let tenant = Tenant::default();
    match command {
        WebhookCommand::Add { url, events, secret, store } => {
            let service = WebhookService::new(store.open_existing().await?);
            let w = service.register(&tenant, &WebhookRequest { url, events, secret }).await?;
            println!("webhook {} -> {} ({})", w.id, w.url, w.events.join(", "));
            println!("signing secret (shown once): {}", w.secret.unwrap_or_default());
        }
        WebhookCommand::List { store } => {
            for w in WebhookService::new(store.open_existing().await?).list(&tenant).await? {
                println!("{}\t{}\t{}\t{}", w.id, w.url, w.events.join(","), w.created_at);
            }
        }
        WebhookCommand::Remove { id, store } => {
            WebhookService::new(store.open_existing().await?).remove(&tenant, &id).await?;
            println!("removed webhook {id}");
        }
        WebhookCommand::Deliveries { id, limit, store } => {
            for d in WebhookService::new(store.open_existing().await?).deliveries(&tenant, &id, limit).await? {
                let code = d.last_status_code.map_or("-".into(), |c| c.to_string());
                let error = d.last_error.unwrap_or_default();
                println!("{}\t{}\t{}\t{} attempt(s)\t{code}\t{error}", d.id, d.event_type, d.status, d.attempts);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
