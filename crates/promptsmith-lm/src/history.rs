//! Call history: a bounded in-memory ring of `CallRecord`s, optionally mirrored to a
//! JSONL file (one record per line) that `promptsmith history` prints.
//!
//! The file is capped: once the next line would take it past [`HistoryConfig::max_bytes`]
//! (default 20 MB) it is renamed to `<file>.1` (the older `<file>.1` to `<file>.2`, and so on up
//! to [`HistoryConfig::keep`] files; the oldest is deleted) and a new file is started, so the
//! history never takes more than about `max_bytes × (keep + 1)` on disk. [`read_recent`] reads
//! the most recent records across the rotated files in order.
//!
//! Nothing is written to disk unless asked: [`CallHistory::new`] and
//! [`HistoryConfig::default`] keep the history in memory only, so a long-running process (a
//! server) writes no file unless its configuration names one. The CLI turns the file on by
//! default.

use promptsmith_core::lm::{ChatRequest, ChatResponse, Usage};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Size at which a history file is rotated unless configured otherwise: 20 MB.
pub const DEFAULT_HISTORY_MAX_BYTES: u64 = 20_000_000;

/// Rotated files kept unless configured otherwise: one (`history.jsonl.1`).
pub const DEFAULT_HISTORY_KEEP: usize = 1;

/// Environment variable that turns the history file on or off (`on`/`off`, `1`/`0`,
/// `true`/`false`).
pub const HISTORY_ENV: &str = "PROMPTSMITH_HISTORY";
/// Environment variable naming the history file.
pub const HISTORY_FILE_ENV: &str = "PROMPTSMITH_HISTORY_FILE";
/// Environment variable for [`HistoryConfig::max_bytes`] (`20000000`, `20MB`, `512KiB`; `0`
/// never rotates).
pub const HISTORY_MAX_BYTES_ENV: &str = "PROMPTSMITH_HISTORY_MAX_BYTES";
/// Environment variable for [`HistoryConfig::keep`].
pub const HISTORY_KEEP_ENV: &str = "PROMPTSMITH_HISTORY_KEEP";

/// Whether and where the call history goes to disk, and how much of it is kept. The
/// `[history]` table of `promptsmith.toml`:
///
/// ```toml
/// [history]
/// enabled = true               # the CLI's default; the library's is false
/// path = "calls.jsonl"         # default: <cache dir>/history.jsonl
/// max_bytes = "20MB"           # rotate past this size (bytes, or with kB/MB/GB/KiB/MiB/GiB); 0: never
/// keep = 1                     # rotated files kept: calls.jsonl.1 ... calls.jsonl.<keep>
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Whether calls are appended to a file at all (default false: memory only).
    pub enabled: bool,
    /// The file. With none, no file is written even when `enabled` (callers fill in their
    /// default, e.g. the CLI's `<cache dir>/history.jsonl`).
    pub path: Option<PathBuf>,
    /// Rotate before the file would grow past this many bytes (default 20 MB; 0 never rotates).
    #[serde(deserialize_with = "de_byte_size")]
    pub max_bytes: u64,
    /// How many rotated files to keep (default 1; 0 deletes the full file instead).
    pub keep: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self { enabled: false, path: None, max_bytes: DEFAULT_HISTORY_MAX_BYTES, keep: DEFAULT_HISTORY_KEEP }
    }
}

impl HistoryConfig {
    /// Writing to `path` with the default limits.
    pub fn to_file(path: impl Into<PathBuf>) -> Self {
        Self { enabled: true, path: Some(path.into()), ..Self::default() }
    }

    /// The file calls are appended to: `None` when disabled or no path is set.
    pub fn file(&self) -> Option<&Path> {
        self.path.as_deref().filter(|_| self.enabled)
    }

    /// Applies `PROMPTSMITH_HISTORY`, `PROMPTSMITH_HISTORY_FILE`, `PROMPTSMITH_HISTORY_MAX_BYTES`
    /// and `PROMPTSMITH_HISTORY_KEEP` where set. Naming a file turns the history on.
    pub fn apply_env(&mut self) -> Result<(), SettingError> {
        self.apply_vars(|name| std::env::var(name).ok())
    }

    /// [`HistoryConfig::apply_env`] with the variables read by `var`.
    pub fn apply_vars(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), SettingError> {
        self.apply_vars_inner(var).map_err(SettingError)
    }

    fn apply_vars_inner(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if let Some(path) = var(HISTORY_FILE_ENV) {
            self.path = Some(PathBuf::from(path));
            self.enabled = true;
        }
        if let Some(v) = var(HISTORY_ENV) {
            self.enabled = match v.to_ascii_lowercase().as_str() {
                "1" | "on" | "true" | "yes" => true,
                "0" | "off" | "false" | "no" => false,
                _ => return Err(format!("${HISTORY_ENV}={v}: expected on or off (1/0, true/false)")),
            };
        }
        if let Some(v) = var(HISTORY_MAX_BYTES_ENV) {
            self.max_bytes = parse_byte_size_inner(&v).map_err(|e| format!("${HISTORY_MAX_BYTES_ENV}={v}: {e}"))?;
        }
        if let Some(v) = var(HISTORY_KEEP_ENV) {
            self.keep = v.parse().map_err(|_| format!("${HISTORY_KEEP_ENV}={v}: expected a whole number"))?;
        }
        Ok(())
    }

    /// A history keeping `capacity` calls in memory and, when [`HistoryConfig::file`] names one,
    /// appending them to that file with these limits.
    pub fn open(&self, capacity: usize) -> std::io::Result<CallHistory> {
        match self.file() {
            Some(path) => CallHistory::with_rotating_jsonl(capacity, path, self.max_bytes, self.keep),
            None => Ok(CallHistory::new(capacity)),
        }
    }
}

/// Reads a size in bytes: `20000000`, `20MB`, `20 MiB`, `512k` (k/M/G are powers of 1000, KiB/MiB/GiB
/// of 1024).
pub fn parse_byte_size(text: &str) -> Result<u64, SettingError> {
    parse_byte_size_inner(text).map_err(SettingError)
}

/// A history setting (a variable or a size) that cannot be read; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingError(pub String);

fn parse_byte_size_inner(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let bad = || format!("'{text}' is not a size (e.g. 20000000, 20MB, 512KiB)");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// `max_bytes` as an integer or a size string.
fn de_byte_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Bytes(n) => Ok(n),
        Size::Text(t) => parse_byte_size_inner(&t).map_err(serde::de::Error::custom),
    }
}

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
    promptsmith_core::clock::now_ms().max(0) as u64
}

/// Bounded ring of recent calls plus an optional JSONL sink. Thread-safe; share via `Arc`.
#[derive(Debug)]
pub struct CallHistory {
    capacity: usize,
    ring: Mutex<VecDeque<CallRecord>>,
    sink: Option<JsonlSink>,
}

impl CallHistory {
    /// A memory-only history keeping the last `capacity` calls (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, ring: Mutex::new(VecDeque::with_capacity(capacity.min(1024))), sink: None }
    }

    /// A history that also appends every record to the JSONL file at `path` (created with its
    /// parent directories if missing), rotated at [`DEFAULT_HISTORY_MAX_BYTES`] keeping
    /// [`DEFAULT_HISTORY_KEEP`] old file.
    pub fn with_jsonl(capacity: usize, path: impl AsRef<Path>) -> std::io::Result<Self> {
        Self::with_rotating_jsonl(capacity, path, DEFAULT_HISTORY_MAX_BYTES, DEFAULT_HISTORY_KEEP)
    }

    /// A history appending every record to the JSONL file at `path`; before a line would take
    /// the file past `max_bytes` (0: never), the file becomes `<path>.1` (older ones shift up
    /// to `<path>.<keep>`, the oldest is deleted) and a new one is started.
    pub fn with_rotating_jsonl(
        capacity: usize,
        path: impl AsRef<Path>,
        max_bytes: u64,
        keep: usize,
    ) -> std::io::Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let mut h = Self::new(capacity);
        h.sink = Some(JsonlSink { path: path.to_path_buf(), max_bytes, keep, file: Mutex::new(file) });
        Ok(h)
    }

    /// The JSONL file, if any.
    pub fn jsonl_path(&self) -> Option<&Path> {
        self.sink.as_ref().map(|s| s.path.as_path())
    }

    /// Adds a record (dropping the oldest when full) and appends it to the JSONL file.
    /// File errors are logged, not returned: history must never fail a call.
    pub fn push(&self, record: CallRecord) {
        if let Some(sink) = &self.sink {
            if let Err(e) = sink.append(&record) {
                tracing::warn!("could not append call history to {}: {e}", sink.path.display());
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

    /// Reads one JSONL history file written by `with_jsonl`; unparsable lines are skipped.
    /// [`read_recent`] reads across the rotated files too.
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

/// `<path>.<n>`: the `n`-th most recent rotated file of the history at `path`.
pub fn rotated_path(path: &Path, n: usize) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The files of the history at `path` that exist, oldest first: `<path>.N`, ..., `<path>.1`,
/// `<path>`.
pub fn history_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..).map(|n| rotated_path(path, n)).take_while(|p| p.is_file()).collect();
    files.reverse();
    if path.is_file() {
        files.push(path.to_path_buf());
    }
    files
}

/// The last `n` records of the history at `path`, across its rotated files, oldest first. Reads
/// the newest file first and older ones only while fewer than `n` records were found. A line
/// that is not a call record is an error naming its file and line.
pub fn read_recent(path: &Path, n: usize) -> std::io::Result<Vec<CallRecord>> {
    let mut newest_first: Vec<Vec<CallRecord>> = Vec::new();
    let mut found = 0;
    for file in history_files(path).iter().rev() {
        if found >= n {
            break;
        }
        let records = read_strict(file)?;
        found += records.len();
        newest_first.push(records);
    }
    let mut all: Vec<CallRecord> = newest_first.into_iter().rev().flatten().collect();
    let skip = all.len().saturating_sub(n);
    Ok(all.split_off(skip))
}

fn read_strict(path: &Path) -> std::io::Result<Vec<CallRecord>> {
    let context = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let file = File::open(path).map_err(context)?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(context)?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} line {}: not a call record: {e}", path.display(), i + 1),
            )
        })?;
        out.push(record);
    }
    Ok(out)
}

/// The JSONL file of a history, with its rotation limits.
#[derive(Debug)]
struct JsonlSink {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: Mutex<File>,
}

impl JsonlSink {
    /// Appends one line, rotating first when it would take the file past `max_bytes`. Several
    /// processes may share the file: the size is read from the file itself, and when another one
    /// rotated it away this one follows the name to the new file.
    fn append(&self, record: &CallRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if !names_file(&self.path, &file) {
            *file = open_append(&self.path)?;
        }
        let len = file.metadata()?.len();
        if self.max_bytes > 0 && len > 0 && len + line.len() as u64 > self.max_bytes {
            rotate(&self.path, self.keep)?;
            *file = open_append(&self.path)?;
        }
        file.write_all(&line)?;
        file.flush()
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Whether `path` still names the open `file` (false when it was renamed or deleted).
fn names_file(path: &Path, file: &File) -> bool {
    let Ok(on_disk) = std::fs::metadata(path) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().is_ok_and(|open| open.dev() == on_disk.dev() && open.ino() == on_disk.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (file, on_disk);
        true
    }
}

/// Shifts `<path>.1..<path>.<keep-1>` up by one, deletes what would become `<path>.<keep+1>` (and
/// any older leftovers), and renames `path` to `<path>.1` (with `keep` 0: deletes it).
fn rotate(path: &Path, keep: usize) -> std::io::Result<()> {
    let ignore_missing = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    let mut stale = keep.max(1);
    while rotated_path(path, stale).exists() {
        ignore_missing(std::fs::remove_file(rotated_path(path, stale)))?;
        stale += 1;
    }
    if keep == 0 {
        return ignore_missing(std::fs::remove_file(path));
    }
    for n in (1..keep).rev() {
        ignore_missing(std::fs::rename(rotated_path(path, n), rotated_path(path, n + 1)))?;
    }
    ignore_missing(std::fs::rename(path, rotated_path(path, 1)))
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

    fn numbered(i: usize) -> CallRecord {
        let req = ChatRequest::new(vec![ChatMessage::user(format!("question {i:04}"))]);
        CallRecord::new("m", &req, Ok(&resp(&format!("answer {i:04}"))), 1.0, 1)
    }

    fn line_len() -> u64 {
        serde_json::to_vec(&numbered(0)).unwrap().len() as u64 + 1
    }

    fn texts(records: &[CallRecord]) -> Vec<String> {
        records.iter().map(|r| r.response.as_ref().unwrap().text().to_string()).collect()
    }

    #[test]
    fn the_file_rotates_past_its_limit_and_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let line = line_len();
        // Room for 10 lines per file, two old files kept.
        let h = CallHistory::with_rotating_jsonl(0, &path, 10 * line, 2).unwrap();
        for i in 0..35 {
            h.push(numbered(i));
        }
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        // 35 lines: 0..9 were dropped with the oldest file, 10..19 in .2, 20..29 in .1, 30..34 current.
        assert_eq!(size(&path), 5 * line);
        assert_eq!(size(&rotated_path(&path, 1)), 10 * line);
        assert_eq!(size(&rotated_path(&path, 2)), 10 * line);
        assert!(!rotated_path(&path, 3).exists());
        assert!([path.clone(), rotated_path(&path, 1), rotated_path(&path, 2)].iter().all(|p| size(p) <= 10 * line));
        assert_eq!(history_files(&path), vec![rotated_path(&path, 2), rotated_path(&path, 1), path.clone()]);

        let want = |range: std::ops::Range<usize>| range.map(|i| format!("answer {i:04}")).collect::<Vec<_>>();
        assert_eq!(texts(&read_recent(&path, 3).unwrap()), want(32..35));
        assert_eq!(texts(&read_recent(&path, 12).unwrap()), want(23..35));
        assert_eq!(texts(&read_recent(&path, 1000).unwrap()), want(10..35));
        assert!(read_recent(&path, 0).unwrap().is_empty());
        assert!(read_recent(&dir.path().join("none.jsonl"), 5).unwrap().is_empty());
    }

    #[test]
    fn a_reopened_file_keeps_its_size_and_fewer_kept_files_drop_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let line = line_len();
        let first = CallHistory::with_rotating_jsonl(0, &path, 4 * line, 3).unwrap();
        for i in 0..14 {
            first.push(numbered(i));
        }
        drop(first);
        assert!(rotated_path(&path, 3).exists());
        // A new process with a smaller `keep` continues the same file and trims the old ones.
        let second = CallHistory::with_rotating_jsonl(0, &path, 4 * line, 1).unwrap();
        for i in 14..17 {
            second.push(numbered(i));
        }
        assert_eq!(history_files(&path), vec![rotated_path(&path, 1), path.clone()]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), line);
        let want: Vec<String> = (12..17).map(|i| format!("answer {i:04}")).collect();
        assert_eq!(texts(&read_recent(&path, 100).unwrap()), want);

        // keep = 0: the full file is dropped, nothing is renamed.
        let none = dir.path().join("n.jsonl");
        let h = CallHistory::with_rotating_jsonl(0, &none, 2 * line, 0).unwrap();
        for i in 0..5 {
            h.push(numbered(i));
        }
        assert_eq!(history_files(&none), vec![none.clone()]);
        assert_eq!(texts(&read_recent(&none, 10).unwrap()), vec!["answer 0004".to_string()]);
        // max_bytes = 0: never rotated.
        let all = dir.path().join("all.jsonl");
        let h = CallHistory::with_rotating_jsonl(0, &all, 0, 1).unwrap();
        for i in 0..5 {
            h.push(numbered(i));
        }
        assert_eq!(std::fs::metadata(&all).unwrap().len(), 5 * line);
        assert!(!rotated_path(&all, 1).exists());
    }

    #[test]
    fn a_file_rotated_by_another_process_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let line = line_len();
        let a = CallHistory::with_rotating_jsonl(0, &path, 3 * line, 1).unwrap();
        let b = CallHistory::with_rotating_jsonl(0, &path, 3 * line, 1).unwrap();
        for i in 0..7 {
            if i % 2 == 0 { &a } else { &b }.push(numbered(i));
        }
        let want: Vec<String> = (3..7).map(|i| format!("answer {i:04}")).collect();
        assert_eq!(texts(&read_recent(&path, 100).unwrap()), want);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), line);
    }

    #[test]
    fn unreadable_lines_name_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(rotated_path(&path, 1), "{not json}\n").unwrap();
        std::fs::write(&path, format!("{}\n", serde_json::to_string(&numbered(1)).unwrap())).unwrap();
        assert_eq!(read_recent(&path, 1).unwrap().len(), 1);
        let err = read_recent(&path, 2).unwrap_err().to_string();
        assert!(err.contains("h.jsonl.1 line 1: not a call record"), "{err}");
    }

    #[test]
    fn config_defaults_toml_and_environment() {
        let d = HistoryConfig::default();
        assert!(!d.enabled && d.file().is_none(), "the library writes no file unless asked");
        assert_eq!((d.max_bytes, d.keep), (20_000_000, 1));
        assert!(d.open(10).unwrap().jsonl_path().is_none());
        let unnamed = HistoryConfig { enabled: true, ..HistoryConfig::default() };
        assert!(unnamed.file().is_none());

        let c: HistoryConfig =
            serde_json::from_str(r#"{"enabled": true, "path": "x.jsonl", "max_bytes": "5MiB", "keep": 3}"#).unwrap();
        assert_eq!((c.file(), c.max_bytes, c.keep), (Some(Path::new("x.jsonl")), 5 * 1024 * 1024, 3));
        let c: HistoryConfig = serde_json::from_str(r#"{"max_bytes": 1000}"#).unwrap();
        assert_eq!(c.max_bytes, 1000);
        assert!(serde_json::from_str::<HistoryConfig>(r#"{"max_bytes": "lots"}"#).is_err());
        assert!(serde_json::from_str::<HistoryConfig>(r#"{"max_byte": 1}"#).is_err());

        for (text, bytes) in [
            ("0", 0),
            ("20000000", 20_000_000),
            ("20MB", 20_000_000),
            ("1.5 kB", 1500),
            ("2KiB", 2048),
            ("1g", 1_000_000_000),
        ] {
            assert_eq!(parse_byte_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "MB", "-1", "5 parsecs"] {
            assert!(parse_byte_size(bad).is_err(), "{bad}");
        }

        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let mut c = HistoryConfig::default();
        c.apply_vars(vars(&[
            (HISTORY_FILE_ENV, "/tmp/h.jsonl"),
            (HISTORY_MAX_BYTES_ENV, "1MB"),
            (HISTORY_KEEP_ENV, "4"),
        ]))
        .unwrap();
        assert_eq!((c.file(), c.max_bytes, c.keep), (Some(Path::new("/tmp/h.jsonl")), 1_000_000, 4));
        c.apply_vars(vars(&[(HISTORY_ENV, "off")])).unwrap();
        assert!(c.file().is_none());
        assert!(c.apply_vars(vars(&[(HISTORY_ENV, "maybe")])).unwrap_err().0.contains("PROMPTSMITH_HISTORY=maybe"));
        assert!(c.apply_vars(vars(&[(HISTORY_KEEP_ENV, "x")])).is_err());
    }
}
