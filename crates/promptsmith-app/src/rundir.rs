//! Run directories and manifests: every run records what produced its results.

use crate::error::{io_error, AppError, Result};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What a run used.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// The promptsmith version that ran it.
    pub promptsmith_version: &'static str,
    /// `eval`, `optimize`, ...
    pub command: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The run's seed.
    pub seed: Option<u64>,
    /// The task model ([`promptsmith_lm::LmInfo`]).
    pub model: Value,
    /// Program path, name, hash and state.
    pub program: Value,
    /// Dataset name and hash.
    pub dataset: Option<Value>,
    /// The job's request.
    pub settings: Value,
}

impl Manifest {
    /// A manifest stamped now.
    pub fn new(command: &str) -> Self {
        Self {
            promptsmith_version: env!("CARGO_PKG_VERSION"),
            command: command.to_string(),
            created_at: utc_timestamp(now_secs()),
            seed: None,
            model: Value::Null,
            program: Value::Null,
            dataset: None,
            settings: Value::Null,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    (promptsmith_core::clock::now_ms() / 1000).max(0) as u64
}

/// RFC 3339 UTC time for a Unix timestamp in seconds.
pub fn utc_timestamp(secs: u64) -> String {
    promptsmith_core::clock::rfc3339(secs as i64 * 1000)
}

/// Creates the run directory: `out` if given, else `.promptsmith/runs/<time>-<kind>-<name>`.
pub fn create_run_dir(out: Option<&Path>, kind: &str, name: &str) -> Result<PathBuf> {
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => {
            let stamp =
                utc_timestamp(now_secs()).replace([':', '-'], "").replace('T', "-").trim_end_matches('Z').to_string();
            let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let base = PathBuf::from(".promptsmith/runs");
            let mut dir = base.join(format!("{stamp}-{kind}-{safe}"));
            let mut n = 1;
            while dir.exists() {
                n += 1;
                dir = base.join(format!("{stamp}-{kind}-{safe}-{n}"));
            }
            dir
        }
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| io_error(format!("cannot create run directory {}", dir.display()), &e))?;
    Ok(dir)
}

/// Writes pretty JSON to `dir/name`.
pub fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<PathBuf> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).map_err(|e| AppError::internal(format!("{name}: {e}")))?;
    std::fs::write(&path, text + "\n").map_err(|e| io_error(format!("cannot write {}", path.display()), &e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
    }
}
