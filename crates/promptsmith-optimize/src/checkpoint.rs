//! Checkpoints: where a run writes its call journal and trial log as it goes, so a killed run
//! can resume. [`RunDirCheckpoint`] keeps them in a run directory; the service will keep them in
//! its database through the same trait.

use crate::error::{OptimizeError, Result};
use crate::events::TrialRecord;
use crate::journal::JournalEntry;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Durable storage of a run's progress. `append_call`, on every model call's path, is async so
/// that a store that waits (a file, a database) never blocks the runtime's threads.
#[async_trait::async_trait]
pub trait Checkpoint: Send + Sync {
    /// Calls completed by earlier attempts of this run.
    fn load_journal(&self) -> Result<Vec<JournalEntry>>;
    /// Records a completed call (before its answer is used).
    async fn append_call(&self, entry: &JournalEntry) -> Result<()>;
    /// Records a finished trial.
    fn append_trial(&self, trial: &TrialRecord) -> Result<()>;
}

/// No checkpointing (tests, `--no-checkpoint`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCheckpoint;

#[async_trait::async_trait]
impl Checkpoint for NoCheckpoint {
    fn load_journal(&self) -> Result<Vec<JournalEntry>> {
        Ok(Vec::new())
    }
    async fn append_call(&self, _entry: &JournalEntry) -> Result<()> {
        Ok(())
    }
    fn append_trial(&self, _trial: &TrialRecord) -> Result<()> {
        Ok(())
    }
}

/// `journal.jsonl` and `trials.jsonl` in a run directory. Each record is one line written with
/// a single `write` and flushed, so a process killed at any moment leaves at most one torn last
/// line, which loading drops.
pub struct RunDirCheckpoint {
    dir: PathBuf,
    journal: Arc<Mutex<File>>,
    trials: Mutex<File>,
}

impl std::fmt::Debug for RunDirCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunDirCheckpoint").field("dir", &self.dir).finish()
    }
}

/// File name of the call journal.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// File name of the trial log.
pub const TRIALS_FILE: &str = "trials.jsonl";

impl RunDirCheckpoint {
    /// Opens (creating) the checkpoint files in `dir`. The trial log is started afresh: a resumed
    /// run replays its trials and logs them again.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| OptimizeError::checkpoint(dir.display().to_string(), e))?;
        let journal_path = dir.join(JOURNAL_FILE);
        // Drop a torn last line left by a kill, so appends start on a fresh line.
        repair_tail(&journal_path)?;
        let open_append = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| OptimizeError::checkpoint(p.display().to_string(), e))
        };
        let journal = open_append(&journal_path)?;
        let trials_path = dir.join(TRIALS_FILE);
        let trials =
            File::create(&trials_path).map_err(|e| OptimizeError::checkpoint(trials_path.display().to_string(), e))?;
        Ok(RunDirCheckpoint {
            dir: dir.to_path_buf(),
            journal: Arc::new(Mutex::new(journal)),
            trials: Mutex::new(trials),
        })
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_line(&self, file: &Mutex<File>, name: &str, line: String) -> Result<()> {
        write_line(file, &self.dir.join(name).display().to_string(), line)
    }
}

/// Appends `line` and a newline with one write, then flushes.
fn write_line(file: &Mutex<File>, location: &str, line: String) -> Result<()> {
    let mut f = file.lock().map_err(|_| OptimizeError::checkpoint(location, "lock poisoned"))?;
    let mut bytes = line.into_bytes();
    bytes.push(b'\n');
    f.write_all(&bytes).and_then(|_| f.flush()).map_err(|e| OptimizeError::checkpoint(location, e))
}

/// Truncates `path` after its last complete line.
fn repair_tail(path: &Path) -> Result<()> {
    let Ok(bytes) = std::fs::read(path) else { return Ok(()) };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| OptimizeError::checkpoint(path.display().to_string(), e))?;
    f.set_len(keep as u64).map_err(|e| OptimizeError::checkpoint(path.display().to_string(), e))
}

#[async_trait::async_trait]
impl Checkpoint for RunDirCheckpoint {
    fn load_journal(&self) -> Result<Vec<JournalEntry>> {
        let path = self.dir.join(JOURNAL_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(OptimizeError::checkpoint(path.display().to_string(), e)),
        };
        let mut out = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| OptimizeError::checkpoint(path.display().to_string(), e))?;
            if line.trim().is_empty() {
                continue;
            }
            let entry: JournalEntry = serde_json::from_str(&line)
                .map_err(|e| OptimizeError::checkpoint(format!("{} line {}", path.display(), i + 1), e))?;
            out.push(entry);
        }
        Ok(out)
    }

    async fn append_call(&self, entry: &JournalEntry) -> Result<()> {
        let line = serde_json::to_string(entry).map_err(|e| OptimizeError::checkpoint(JOURNAL_FILE, e))?;
        // The write and flush run on the blocking pool; the call waits for them (it is
        // journaled before its answer is used) without holding a runtime thread.
        let (file, location) = (self.journal.clone(), self.dir.join(JOURNAL_FILE).display().to_string());
        tokio::task::spawn_blocking(move || write_line(&file, &location, line))
            .await
            .map_err(|e| OptimizeError::checkpoint(JOURNAL_FILE, e))?
    }

    fn append_trial(&self, trial: &TrialRecord) -> Result<()> {
        let line = serde_json::to_string(trial).map_err(|e| OptimizeError::checkpoint(TRIALS_FILE, e))?;
        self.write_line(&self.trials, TRIALS_FILE, line)
    }
}
