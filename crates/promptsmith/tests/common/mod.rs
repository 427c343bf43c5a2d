//! Helpers shared by the CLI's end-to-end tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run the binary from there, as a user would).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `promptsmith` from the repository root with its cache in `cache` and no model
/// settings inherited from the environment.
pub(crate) fn promptsmith(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_promptsmith"))
        .args(args)
        .current_dir(root())
        .env("PROMPTSMITH_CACHE_DIR", cache)
        .env_remove("PROMPTSMITH_LM_BASE_URL")
        .env_remove("PROMPTSMITH_MODEL")
        .output()
        .unwrap()
}

/// stdout and stderr as text.
pub(crate) fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The local model that scripts/test.sh starts; the test fails (never skips) without it.
pub(crate) fn lm_url() -> String {
    std::env::var("PROMPTSMITH_TEST_LM_URL").unwrap_or_else(|_| {
        panic!("PROMPTSMITH_TEST_LM_URL is not set: run the suite with scripts/test.sh, which installs and starts the local model")
    })
}

/// The checksum of the model that scripts/test.sh installed and serves; the test fails (never
/// skips the check) without it.
pub(crate) fn model_sha256() -> String {
    std::env::var("PROMPTSMITH_TEST_MODEL_SHA256").unwrap_or_else(|_| {
        panic!("PROMPTSMITH_TEST_MODEL_SHA256 is not set: run the suite with scripts/test.sh, which exports the installed model's checksum")
    })
}
