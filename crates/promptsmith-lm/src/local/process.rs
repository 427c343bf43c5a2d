//! Process control: signals, liveness, exit statuses and server logs.

use super::{io_err, LocalError, LOG_TAIL_LINES};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

/// The last lines of the log at `path`.
pub fn log_tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return "(no log)".to_string() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    if tail.trim().is_empty() {
        "(log is empty)".to_string()
    } else {
        tail
    }
}

pub(super) fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exit code {c}"),
        None => format!("{status}"),
    }
}

pub(super) async fn terminate(pid: u32, child: &mut tokio::process::Child) -> Result<(), LocalError> {
    if signal(pid, "TERM").await.is_ok() && tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_ok() {
        return Ok(());
    }
    child.kill().await.map_err(io_err(format!("cannot kill llama-server (pid {pid})")))
}

/// Sends `SIG<sig>` to `pid` with the `kill` utility (no unsafe code needed).
pub(super) async fn signal(pid: u32, sig: &str) -> Result<(), LocalError> {
    let status = tokio::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map_err(io_err("cannot run kill"))?;
    if status.success() {
        Ok(())
    } else {
        Err(LocalError::Io { context: format!("kill -{sig} {pid}"), source: std::io::Error::other(describe(status)) })
    }
}

pub(super) async fn process_alive(pid: u32) -> bool {
    if Path::new("/proc").is_dir() {
        // Zombies still have a /proc entry; check their state.
        return match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        };
    }
    signal(pid, "0").await.is_ok()
}
