//! Record/replay cassettes: JSONL files of request/response pairs keyed by [`RequestKey`].
//!
//! `RecordingLm` passes calls to a live model and appends each success to the cassette;
//! `ReplayLm` answers only from a cassette and never calls a model: an unrecorded request
//! is `LmError::MissingRecording`. When the same request was recorded several times, the
//! recordings are replayed in order (the last one repeats).

use crate::key::RequestKey;
use async_trait::async_trait;
use promptsmith_core::lm::{ChatRequest, ChatResponse, LanguageModel, LmError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One line of a cassette.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CassetteEntry {
    /// Hex `RequestKey` of `(model, request)`.
    pub key: String,
    /// Model name (key namespace) the request was sent to.
    pub model: String,
    /// The request.
    pub request: ChatRequest,
    /// The recorded response.
    pub response: ChatResponse,
}

/// Reads all entries of the cassette at `path`.
pub fn read_cassette(path: impl AsRef<Path>) -> Result<Vec<CassetteEntry>, LmError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| LmError::Other(format!("cannot open cassette {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| LmError::Other(format!("cannot read cassette {}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line)
            .map_err(|e| LmError::Other(format!("cassette {} line {}: {e}", path.display(), i + 1)))?;
        out.push(entry);
    }
    Ok(out)
}

/// Wraps a live model and appends every successful call to a cassette.
#[derive(Debug)]
pub struct RecordingLm<L> {
    inner: L,
    namespace: String,
    path: PathBuf,
    writer: Mutex<BufWriter<File>>,
}

impl<L: LanguageModel> RecordingLm<L> {
    /// Records calls to `inner` into `path` (appending; created with its directory if missing).
    pub fn create(inner: L, path: impl AsRef<Path>) -> Result<Self, LmError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| LmError::Other(format!("cannot create directory {}: {e}", dir.display())))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| LmError::Other(format!("cannot open cassette {}: {e}", path.display())))?;
        Ok(Self {
            namespace: inner.model_name(),
            inner,
            path: path.to_path_buf(),
            writer: Mutex::new(BufWriter::new(file)),
        })
    }

    /// Keys entries under `namespace` instead of the inner model's name (must match the
    /// `ReplayLm`'s).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The wrapped model.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The cassette file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, entry: &CassetteEntry) -> Result<(), LmError> {
        let fail =
            |e: &dyn std::fmt::Display| LmError::Other(format!("cannot write cassette {}: {e}", self.path.display()));
        let mut line = serde_json::to_vec(entry).map_err(|e| fail(&e))?;
        line.push(b'\n');
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(&line).and_then(|()| w.flush()).map_err(|e| fail(&e))
    }
}

#[async_trait]
impl<L: LanguageModel> LanguageModel for RecordingLm<L> {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let response = self.inner.chat(request).await?;
        self.append(&CassetteEntry {
            key: RequestKey::of(&self.namespace, request).to_hex(),
            model: self.namespace.clone(),
            request: request.clone(),
            response: response.clone(),
        })?;
        Ok(response)
    }

    fn model_name(&self) -> String {
        self.inner.model_name()
    }
}

/// Answers from a cassette only.
#[derive(Debug)]
pub struct ReplayLm {
    path: PathBuf,
    /// Namespaces in the cassette, the preferred one first.
    namespaces: Vec<String>,
    recordings: HashMap<RequestKey, Vec<ChatResponse>>,
    cursors: Mutex<HashMap<RequestKey, usize>>,
}

impl ReplayLm {
    /// Loads the cassette at `path`. Requests are looked up under every model name in the
    /// cassette (the first recorded one first); see `with_namespace` to prefer another.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LmError> {
        let path = path.as_ref();
        let mut namespaces: Vec<String> = Vec::new();
        let mut recordings: HashMap<RequestKey, Vec<ChatResponse>> = HashMap::new();
        for entry in read_cassette(path)? {
            let key = RequestKey::from_hex(&entry.key)
                .ok_or_else(|| LmError::Other(format!("cassette {}: bad key '{}'", path.display(), entry.key)))?;
            if !namespaces.contains(&entry.model) {
                namespaces.push(entry.model.clone());
            }
            recordings.entry(key).or_default().push(entry.response);
        }
        Ok(Self { path: path.to_path_buf(), namespaces, recordings, cursors: Mutex::new(HashMap::new()) })
    }

    /// Looks requests up under `namespace` first (the model name a `RecordingLm` used).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        let ns = namespace.into();
        self.namespaces.retain(|n| *n != ns);
        self.namespaces.insert(0, ns);
        self
    }

    /// Number of distinct recorded requests.
    pub fn len(&self) -> usize {
        self.recordings.len()
    }

    /// Whether the cassette is empty.
    pub fn is_empty(&self) -> bool {
        self.recordings.is_empty()
    }

    /// The cassette file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl LanguageModel for ReplayLm {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        for ns in &self.namespaces {
            let key = RequestKey::of(ns, request);
            if let Some(list) = self.recordings.get(&key) {
                let mut cursors = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
                let i = cursors.entry(key).or_insert(0);
                let idx = (*i).min(list.len().saturating_sub(1));
                *i += 1;
                if let Some(r) = list.get(idx) {
                    return Ok(r.clone());
                }
            }
        }
        let ns = self.namespaces.first().map(String::as_str).unwrap_or("");
        Err(LmError::MissingRecording {
            key: RequestKey::of(ns, request).to_hex(),
            cassette: self.path.display().to_string(),
        })
    }

    fn model_name(&self) -> String {
        self.namespaces.first().cloned().unwrap_or_else(|| "replay".to_string())
    }
}
