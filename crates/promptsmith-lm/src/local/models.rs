//! The model catalogue: the local models the installer knows, where the cache keeps them and
//! the server binary, and their checksums.

use super::{io_err, LocalError, CACHE_DIR_ENV, SERVER_BIN_ENV};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The local models `install-local-lm.sh` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ModelId {
    /// Qwen2.5-Coder 0.5B Instruct, Q4_K_M (default).
    #[default]
    #[serde(rename = "qwen0.5b")]
    Qwen05b,
    /// Qwen2.5-Coder 1.5B Instruct, Q4_K_M.
    #[serde(rename = "qwen1.5b")]
    Qwen15b,
    /// SmolLM2 135M Instruct, Q4_1.
    #[serde(rename = "smollm135m")]
    Smollm135m,
}

impl ModelId {
    /// All known models.
    pub const ALL: [ModelId; 3] = [ModelId::Qwen05b, ModelId::Qwen15b, ModelId::Smollm135m];

    /// The id used on the command line (`qwen0.5b`, ...).
    pub fn id(&self) -> &'static str {
        match self {
            ModelId::Qwen05b => "qwen0.5b",
            ModelId::Qwen15b => "qwen1.5b",
            ModelId::Smollm135m => "smollm135m",
        }
    }

    /// The GGUF file name under `<cache>/models/`.
    pub fn file_name(&self) -> &'static str {
        match self {
            ModelId::Qwen05b => "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            ModelId::Qwen15b => "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            ModelId::Smollm135m => "smollm2-135m-instruct-q4_1.gguf",
        }
    }

    /// The model file's path in `cache_dir`.
    pub fn path_in(&self, cache_dir: &Path) -> PathBuf {
        cache_dir.join("models").join(self.file_name())
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for ModelId {
    type Err = LocalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelId::ALL
            .into_iter()
            .find(|m| m.id() == s || m.file_name() == s)
            .ok_or_else(|| LocalError::UnknownModel(s.to_string()))
    }
}

/// The promptsmith cache directory: `PROMPTSMITH_CACHE_DIR`, else `~/.cache/promptsmith`.
pub fn cache_dir() -> Result<PathBuf, LocalError> {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or(LocalError::NoCacheDir)?;
    Ok(PathBuf::from(home).join(".cache").join("promptsmith"))
}

/// The llama-server binary: `PROMPTSMITH_LLAMA_SERVER`, else `<cache>/llama.cpp/build/bin/llama-server`.
pub fn server_binary(cache_dir: &Path) -> PathBuf {
    match std::env::var_os(SERVER_BIN_ENV).filter(|b| !b.is_empty()) {
        Some(bin) => PathBuf::from(bin),
        None => cache_dir.join("llama.cpp").join("build").join("bin").join("llama-server"),
    }
}

/// Known models whose files are present in `cache_dir`.
pub fn installed_models(cache_dir: &Path) -> Vec<(ModelId, PathBuf)> {
    ModelId::ALL.into_iter().map(|m| (m, m.path_in(cache_dir))).filter(|(_, p)| p.is_file()).collect()
}

/// SHA-256 of `model`: read from `<model>.sha256` if present, else computed and written there.
pub async fn model_sha256(model: &Path) -> Result<Option<String>, LocalError> {
    let mut side = model.as_os_str().to_owned();
    side.push(".sha256");
    let side = PathBuf::from(side);
    if let Ok(text) = std::fs::read_to_string(&side) {
        if let Some(hash) = text.split_whitespace().next().filter(|h| h.len() == 64) {
            return Ok(Some(hash.to_string()));
        }
    }
    let model = model.to_path_buf();
    let hash = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        use sha2::{Digest, Sha256};
        let mut file = std::fs::File::open(&model)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(|e| LocalError::Io { context: "hashing model".into(), source: std::io::Error::other(e) })?
    .map_err(io_err("cannot hash model file"))?;
    if let Err(e) = std::fs::write(&side, format!("{hash}\n")) {
        tracing::debug!("cannot write {}: {e}", side.display());
    }
    Ok(Some(hash))
}
