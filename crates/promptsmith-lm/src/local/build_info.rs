//! What `scripts/install-local-lm.sh` recorded about the llama-server build it kept:
//! `<cache>/llama.cpp/build-info.json`, written after the build answered a generation.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One CPU target the installer tried, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildAttempt {
    /// `native`, `native-noamx`, `portable`, `baseline` (`... (cached)` for a cached build).
    pub variant: String,
    /// `answered`, `build failed`, `died by SIGILL before answering a generation`, ...
    pub result: String,
}

/// The kept llama-server build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The CPU target kept.
    pub variant: String,
    /// The CMake flags it was configured with beyond the defaults.
    #[serde(default)]
    pub cmake_flags: Vec<String>,
    /// The CPU features the binary reports using (its `system_info` line).
    #[serde(default)]
    pub cpu_features: String,
    /// The CPU it was checked on (`model name` of /proc/cpuinfo).
    #[serde(default)]
    pub cpu: String,
    /// When it last answered the installer's check (UTC, RFC 3339).
    #[serde(default)]
    pub checked_at: String,
    /// Every target tried by the last install, in order.
    #[serde(default)]
    pub tried: Vec<BuildAttempt>,
}

impl BuildInfo {
    /// Where the record lives in `cache_dir`.
    pub fn path(cache_dir: &Path) -> PathBuf {
        cache_dir.join("llama.cpp").join("build-info.json")
    }

    /// The record, if the installer wrote one; an unreadable record is an error naming the file.
    pub fn read(cache_dir: &Path) -> Result<Option<Self>, super::LocalError> {
        let path = Self::path(cache_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(super::io_err(format!("cannot read {}", path.display()))(e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| super::LocalError::Io {
            context: format!("unreadable build record {}", path.display()),
            source: std::io::Error::other(e),
        })
    }

    /// The attempts that did not answer, as `variant: result` (why this build was kept).
    pub fn rejected(&self) -> Vec<String> {
        self.tried
            .iter()
            .filter(|t| !t.result.starts_with("answered") && !t.result.starts_with("cached build answered"))
            .map(|t| format!("{}: {}", t.variant, t.result))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_installers_record() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(BuildInfo::read(dir.path()).unwrap(), None);
        std::fs::create_dir_all(dir.path().join("llama.cpp")).unwrap();
        std::fs::write(
            BuildInfo::path(dir.path()),
            r#"{"variant": "portable", "cmake_flags": ["-DGGML_NATIVE=OFF"], "cpu_features": "AVX2 = 1",
               "cpu": "x", "arch": "x86_64", "checked_at": "t",
               "tried": [{"variant": "native", "result": "died by SIGILL before answering a generation"},
                         {"variant": "portable", "result": "answered"}]}"#,
        )
        .unwrap();
        let info = BuildInfo::read(dir.path()).unwrap().unwrap();
        assert_eq!(info.variant, "portable");
        assert_eq!(info.rejected(), ["native: died by SIGILL before answering a generation"]);
        std::fs::write(BuildInfo::path(dir.path()), "{").unwrap();
        let err = BuildInfo::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("build-info.json"), "{err}");
    }
}
