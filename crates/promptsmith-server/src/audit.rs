//! The audit log: every mutating call (who, when, method, path, status), written in batches
//! by a background task so a request never waits on it.

use promptsmith_store::{AuditEntry, Store};
use tokio::sync::mpsc;

/// Queues audit entries for the store.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<AuditEntry>,
}

impl AuditLog {
    /// Starts the writer (on the current runtime).
    pub fn start(store: Store) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<AuditEntry>();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 256).await > 0 {
                if let Err(e) = store.append_audit(&batch).await {
                    tracing::error!("audit log: {e}");
                }
                batch.clear();
            }
        });
        Self { tx }
    }

    /// Queues one entry.
    pub fn record(&self, entry: AuditEntry) {
        let _ = self.tx.send(entry);
    }
}
