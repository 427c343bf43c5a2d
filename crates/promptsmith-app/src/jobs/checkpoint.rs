//! [`StoreCheckpoint`]: a job's call journal in the database, so that whichever worker claims
//! the job next (on any machine) resumes it without repeating a completed call. The trial log
//! stays in the worker's job directory.

use promptsmith_optimize::checkpoint::{Checkpoint, RunDirCheckpoint};
use promptsmith_optimize::events::TrialRecord;
use promptsmith_optimize::journal::JournalEntry;
use promptsmith_optimize::OptimizeError;
use promptsmith_store::Store;
use std::path::Path;

/// Job `job_id`'s journal in `store`.
pub struct StoreCheckpoint {
    store: Store,
    job_id: String,
    loaded: Vec<JournalEntry>,
    local: RunDirCheckpoint,
}

impl std::fmt::Debug for StoreCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCheckpoint").field("job_id", &self.job_id).field("loaded", &self.loaded.len()).finish()
    }
}

impl StoreCheckpoint {
    /// Reads the journal earlier attempts left; trials go to `dir`.
    pub async fn open(store: Store, job_id: &str, dir: &Path) -> crate::Result<StoreCheckpoint> {
        let rows = store.job_journal(job_id).await?;
        let loaded = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                serde_json::from_str(row).map_err(|e| {
                    crate::AppError::internal(format!("job '{job_id}': journal entry {} is not valid: {e}", i + 1))
                })
            })
            .collect::<crate::Result<Vec<JournalEntry>>>()?;
        let local = RunDirCheckpoint::open(dir)?;
        Ok(StoreCheckpoint { store, job_id: job_id.to_string(), loaded, local })
    }
}

#[async_trait::async_trait]
impl Checkpoint for StoreCheckpoint {
    fn load_journal(&self) -> promptsmith_optimize::Result<Vec<JournalEntry>> {
        Ok(self.loaded.clone())
    }

    async fn append_call(&self, entry: &JournalEntry) -> promptsmith_optimize::Result<()> {
        let location = || format!("job {} journal", self.job_id);
        let text = serde_json::to_string(entry).map_err(|e| OptimizeError::checkpoint(location(), e))?;
        self.store
            .append_job_journal(&self.job_id, &[text])
            .await
            .map_err(|e| OptimizeError::checkpoint(location(), e))?;
        Ok(())
    }

    fn append_trial(&self, trial: &TrialRecord) -> promptsmith_optimize::Result<()> {
        self.local.append_trial(trial)
    }
}
