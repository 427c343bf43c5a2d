//! Programs as jobs name them: a spec file, or `NAME@VERSION|ALIAS` in the registry, with an
//! optional state file; and where the store is.

use crate::error::{invalid, io_error, AppError, Result};
use promptsmith_core::{load_program, Program, ProgramSpec, ProgramState};
use promptsmith_store::{ProgramRef, Store};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which database a job reads and records into: an SQLite path or `sqlite://PATH`, or
/// `postgres://…`; `None` is `./promptsmith.db`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreTarget {
    /// The database URL.
    pub url: Option<String>,
}

impl StoreTarget {
    /// The store at `url`.
    pub fn new(url: Option<String>) -> Self {
        Self { url }
    }

    /// Opens the store, creating it when missing (for jobs that record something new).
    pub async fn open(&self) -> Result<Store> {
        Ok(Store::open_default(self.url.as_deref()).await?)
    }

    /// Opens the store only if it exists (for jobs that read it): a missing SQLite file is a
    /// not-found error saying so, and nothing is created.
    pub async fn open_existing(&self) -> Result<Store> {
        Store::open_default_existing(self.url.as_deref()).await.map_err(|e| match e {
            promptsmith_store::StoreError::Missing { path } => AppError::not_found(format!(
                "no store at {path} (nothing has been recorded yet; --database-url to use another)"
            )),
            e => e.into(),
        })
    }
}

/// What a job's `program` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramSource {
    /// A program spec file (JSON or YAML).
    File(PathBuf),
    /// A registered version.
    Registered(ProgramRef),
}

impl ProgramSource {
    /// A path that exists is a file; else `NAME@SELECTOR` is a registered version; else a file
    /// (whose absence the loader reports).
    pub fn parse(text: &str) -> Self {
        let path = Path::new(text);
        if path.exists() {
            return ProgramSource::File(path.to_path_buf());
        }
        match ProgramRef::parse(text) {
            Some(r) => ProgramSource::Registered(r),
            None => ProgramSource::File(path.to_path_buf()),
        }
    }

    /// The spec file, when this is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            ProgramSource::File(p) => Some(p),
            ProgramSource::Registered(_) => None,
        }
    }
}

/// Reads a state file; errors name the file.
pub fn read_state(path: &Path) -> Result<ProgramState> {
    let text =
        std::fs::read_to_string(path).map_err(|e| io_error(format!("cannot read state {}", path.display()), &e))?;
    Ok(ProgramState::from_json(&text, &path.display().to_string())?)
}

/// The program `source` names, with `state` applied. A registered version comes with its own
/// state, so a state file is refused then. Registered versions are read from `store`.
pub async fn load(source: &ProgramSource, state: Option<&Path>, store: &StoreTarget) -> Result<Program> {
    match source {
        ProgramSource::Registered(reference) => {
            if let Some(s) = state {
                invalid!(
                    "--state {} cannot be combined with the registered program {reference}: a version has its own state",
                    s.display()
                );
            }
            let store = store.open_existing().await.map_err(|e| e.context(reference))?;
            let version = store.resolve(reference).await;
            store.close().await;
            Ok(version?.program()?)
        }
        ProgramSource::File(path) => {
            let base = load_program(path)?;
            match state {
                None => Ok(base),
                Some(path) => base
                    .with_state(&read_state(path)?)
                    .map_err(|e| AppError::invalid(format!("{}: {e}", path.display()))),
            }
        }
    }
}

/// The spec of `source` and the registered version it came from, for registering a result.
pub async fn spec_of(source: &ProgramSource, store: &Store) -> Result<(ProgramSpec, Option<i64>)> {
    match source {
        ProgramSource::Registered(r) => {
            let v = store.resolve(r).await?;
            Ok((v.spec, Some(v.version)))
        }
        ProgramSource::File(p) => Ok((ProgramSpec::load(p)?, None)),
    }
}

/// Directories searched for bundled sample data: `<program dir>/data`, then `examples/*/data`.
pub fn sample_dirs(source: &ProgramSource) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(parent) = source.file().and_then(Path::parent) {
        let d = parent.join("data");
        if d.is_dir() {
            dirs.push(d);
        }
    }
    if let Ok(entries) = std::fs::read_dir("examples") {
        let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("data")).filter(|p| p.is_dir()).collect();
        found.sort();
        for d in found {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

/// SHA-256 of a file's bytes.
pub fn file_sha256(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    std::fs::read(path).ok().map(|b| hex::encode(Sha256::digest(b)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            ProgramSource::parse("qa@production"),
            ProgramSource::Registered(ProgramRef::parse("qa@production").unwrap())
        );
        assert_eq!(ProgramSource::parse("no/such/file.json"), ProgramSource::File("no/such/file.json".into()));
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("odd@1");
        std::fs::write(&odd, "{}").unwrap();
        assert_eq!(ProgramSource::parse(odd.to_str().unwrap()), ProgramSource::File(odd.clone()));
    }

    #[tokio::test]
    async fn a_registered_program_reads_the_named_database_and_creates_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("other.db");
        let target = StoreTarget::new(Some(db.display().to_string()));
        let source = ProgramSource::parse("qa@production");
        let err = load(&source, None, &target).await.unwrap_err();
        assert_eq!(err.kind, promptsmith_core::ErrorKind::NotFound);
        assert!(err.message.contains("other.db"), "{err}");
        assert!(!db.exists(), "a read must not create the database");
    }
}
