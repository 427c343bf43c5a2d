//! Call history: a bounded in-memory ring of `CallRecord`s, optionally mirrored to a
//! JSONL file (one record per line) that `promptsmith history` prints.

use promptsmith_core::lm::{ChatRequest, ChatResponse, Usage};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// One model call as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Unix time in milliseconds when the call finished.
    pub timestamp_ms: u64,
    /// Model name (or cache namespace) that served the call.
    pub model: String,
    /// The request as given.
    pub request: ChatRequest,
    /// The response, when the call succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ChatResponse>,
    /// The error message, when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the call, milliseconds.
    pub latency_ms: f64,
    /// Whether a cache answered.
    pub cached: bool,
    /// Token usage (zero on error).
    pub usage: Usage,
    /// Cost in USD, when prices are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// HTTP attempts made (0 for cache hits).
    #[serde(default)]
    pub attempts: u32,
}

impl CallRecord {
    /// A record of `request` with outcome `result`.
    pub fn new(
        model: impl Into<String>,
        request: &ChatRequest,
        result: Result<&ChatResponse, &dyn std::fmt::Display>,
        latency_ms: f64,
        attempts: u32,
    ) -> Self {
        let (response, error) = match result {
            Ok(r) => (Some(r.clone()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let usage = response.as_ref().map(|r| r.usage).unwrap_or_default();
        let cost_usd = response.as_ref().and_then(|r| r.cost_usd);
        let cached = response.as_ref().is_some_and(|r| r.cached);
        Self {
            timestamp_ms: now_ms(),
            model: model.into(),
            request: request.clone(),
            response,
            error,
            latency_ms,
            cached,
            usage,
            cost_usd,
            attempts,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Bounded ring of recent calls plus an optional JSONL sink. Thread-safe; share via `Arc`.
#[derive(Debug)]
pub struct CallHistory {
    capacity: usize,
    ring: Mutex<VecDeque<CallRecord>>,
    sink: Option<(PathBuf, Mutex<BufWriter<File>>)>,
}

impl CallHistory {
    /// A memory-only history keeping the last `capacity` calls (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, ring: Mutex::new(VecDeque::with_capacity(capacity.min(1024))), sink: None }
    }

    /// A history that also appends every record to the JSONL file at `path`
    /// (created with its parent directories if missing).
    pub fn with_jsonl(capacity: usize, path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut h = Self::new(capacity);
        h.sink = Some((path.to_path_buf(), Mutex::new(BufWriter::new(file))));
        Ok(h)
    }

    /// The JSONL file, if any.
    pub fn jsonl_path(&self) -> Option<&Path> {
        self.sink.as_ref().map(|(p, _)| p.as_path())
    }

    /// Adds a record (dropping the oldest when full) and appends it to the JSONL file.
    /// File errors are logged, not returned: history must never fail a call.
    pub fn push(&self, record: CallRecord) {
        if let Some((path, sink)) = &self.sink {
            if let Err(e) = append_line(sink, &record) {
                tracing::warn!("could not append call history to {}: {e}", path.display());
            }
        }
        if self.capacity == 0 {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() >= self.capacity {
            ring.pop_front();
        }
        ring.push_back(record);
    }

    /// All records in memory, oldest first.
    pub fn records(&self) -> Vec<CallRecord> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    /// The last `n` records, oldest first.
    pub fn last(&self, n: usize) -> Vec<CallRecord> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().skip(ring.len().saturating_sub(n)).cloned().collect()
    }

    /// Number of records in memory.
    pub fn len(&self) -> usize {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no record is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a JSONL history file written by `with_jsonl`; unparsable lines are skipped.
    pub fn read_jsonl(path: impl AsRef<Path>) -> std::io::Result<Vec<CallRecord>> {
        let file = File::open(path)?;
        let mut out = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!("skipping unreadable history line: {e}"),
            }
        }
        Ok(out)
    }
}

fn append_line(sink: &Mutex<BufWriter<File>>, record: &CallRecord) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    let mut w = sink.lock().unwrap_or_else(|p| p.into_inner());
    w.write_all(&line)?;
    w.flush()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_core::lm::{ChatMessage, Choice};

    fn resp(text: &str) -> ChatResponse {
        ChatResponse {
            choices: vec![Choice { text: text.into(), finish_reason: None }],
            usage: Usage { prompt_tokens: 1, completion_tokens: 2 },
            model: "m".into(),
            cached: false,
            cost_usd: None,
        }
    }

    #[test]
    fn ring_is_bounded_and_jsonl_roundtrips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/history.jsonl");
        let h = CallHistory::with_jsonl(2, &path).unwrap();
        let req = ChatRequest::new(vec![ChatMessage::user("q")]);
        for i in 0..3 {
            h.push(CallRecord::new("m", &req, Ok(&resp(&i.to_string())), 1.0, 1));
        }
        let err = String::from("boom");
        h.push(CallRecord::new("m", &req, Err(&err), 2.0, 3));
        let recs = h.records();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].response.as_ref().unwrap().text(), "2");
        assert_eq!(recs[1].error.as_deref(), Some("boom"));
        assert_eq!(h.last(1).len(), 1);
        let on_disk = CallHistory::read_jsonl(&path).unwrap();
        assert_eq!(on_disk.len(), 4);
        assert_eq!(on_disk[3], recs[1]);
    }
}
