//! The pid file of a detached server (`promptsmith lm serve`), and stopping it (`lm stop`).

use super::process::{process_alive, signal};
use super::{io_err, LocalError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the pid file of a detached server records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidFile {
    /// Process id.
    pub pid: u32,
    /// Port.
    pub port: u16,
    /// Model id.
    pub model: String,
    /// Model file.
    pub model_path: PathBuf,
    /// Model file SHA-256, when known.
    pub sha256: Option<String>,
    /// Server log.
    pub log_path: PathBuf,
    /// Unix time of the start, milliseconds.
    pub started_ms: u64,
}

impl PidFile {
    /// Where the pid file of the server on `port` lives.
    pub fn path(cache_dir: &Path, port: u16) -> PathBuf {
        cache_dir.join("run").join(format!("llama-server-{port}.json"))
    }

    /// Writes this record to [`PidFile::path`].
    pub fn write(&self, cache_dir: &Path) -> Result<PathBuf, LocalError> {
        let path = Self::path(cache_dir, self.port);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        }
        let json = serde_json::to_string_pretty(self).map_err(|e| LocalError::Io {
            context: "cannot encode pid file".into(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&path, json).map_err(io_err(format!("cannot write {}", path.display())))?;
        Ok(path)
    }

    /// Reads the pid file of the server on `port`, if there is one.
    pub fn read(cache_dir: &Path, port: u16) -> Result<Option<Self>, LocalError> {
        let path = Self::path(cache_dir, port);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| LocalError::Io {
            context: format!("unreadable pid file {}", path.display()),
            source: std::io::Error::other(e),
        })
    }
}

/// Stops the detached server recorded for `port` in `cache_dir` (`promptsmith lm stop`).
/// Returns the record of the stopped server, or `None` when none was recorded (or it had
/// already exited). Refuses to signal a pid that is no longer a llama-server.
pub async fn stop_recorded(cache_dir: &Path, port: u16) -> Result<Option<PidFile>, LocalError> {
    let Some(record) = PidFile::read(cache_dir, port)? else { return Ok(None) };
    let path = PidFile::path(cache_dir, port);
    let alive = process_alive(record.pid).await;
    if alive {
        if let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", record.pid)) {
            if !String::from_utf8_lossy(&cmdline).contains("llama-server") {
                return Err(LocalError::NotOurProcess { pid: record.pid, path });
            }
        }
        signal(record.pid, "TERM").await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_alive(record.pid).await && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if process_alive(record.pid).await {
            signal(record.pid, "KILL").await?;
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(alive.then_some(record))
}
