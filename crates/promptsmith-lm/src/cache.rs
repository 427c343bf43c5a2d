//! `CachedLm`: a response cache around any `LanguageModel`.
//!
//! Keys are [`RequestKey`]s (SHA-256 of the normalized request plus a namespace, by default
//! the inner model's name). Lookups go to a bounded in-memory map first (a hot hit costs
//! microseconds), then to an SQLite file in WAL mode (shared safely between tasks and
//! processes). Only successful responses are stored. Hits come back with `cached: true`
//! and no cost. Identical requests in flight at the same time are sent once.
//!
//! Not caching (`--no-cache`) means simply not wrapping the model.

use crate::history::{CallHistory, CallRecord};
use crate::key::RequestKey;
use crate::stats::LmStats;
use async_trait::async_trait;
use lru::LruCache;
use promptsmith_core::lm::{ChatRequest, ChatResponse, LanguageModel, LmError};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default number of responses kept in memory.
pub const DEFAULT_MEMORY_CAPACITY: usize = 10_000;

/// Hit/miss counts of one `CachedLm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CacheStats {
    /// Answered from memory.
    pub memory_hits: u64,
    /// Answered from the SQLite file.
    pub disk_hits: u64,
    /// Sent to the inner model.
    pub misses: u64,
}

impl CacheStats {
    /// Memory plus disk hits.
    pub fn hits(&self) -> u64 {
        self.memory_hits + self.disk_hits
    }
}

/// Bounded map with least-recently-used eviction (`None`: the memory front is off).
#[derive(Debug)]
struct MemoryCache(Option<LruCache<RequestKey, Arc<ChatResponse>>>);

impl MemoryCache {
    fn new(capacity: usize) -> Self {
        Self(NonZeroUsize::new(capacity).map(LruCache::new))
    }

    fn get(&mut self, key: &RequestKey) -> Option<Arc<ChatResponse>> {
        self.0.as_mut()?.get(key).cloned()
    }

    fn insert(&mut self, key: RequestKey, value: Arc<ChatResponse>) {
        if let Some(lru) = self.0.as_mut() {
            lru.put(key, value);
        }
    }

    fn clear(&mut self) {
        if let Some(lru) = self.0.as_mut() {
            lru.clear();
        }
    }
}

/// A caching wrapper around the model `L`.
#[derive(Debug)]
pub struct CachedLm<L> {
    inner: L,
    namespace: String,
    memory: Mutex<MemoryCache>,
    db: Option<SqlitePool>,
    path: Option<PathBuf>,
    inflight: Mutex<HashMap<RequestKey, Arc<tokio::sync::Mutex<()>>>>,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    misses: AtomicU64,
    stats: Option<Arc<LmStats>>,
    history: Option<Arc<CallHistory>>,
}

impl<L: LanguageModel> CachedLm<L> {
    /// A cache held in memory only (lost when dropped).
    pub fn memory_only(inner: L) -> Self {
        Self {
            namespace: inner.model_name(),
            inner,
            memory: Mutex::new(MemoryCache::new(DEFAULT_MEMORY_CAPACITY)),
            db: None,
            path: None,
            inflight: Mutex::new(HashMap::new()),
            memory_hits: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stats: None,
            history: None,
        }
    }

    /// A cache backed by the SQLite file at `path` (created with its directory if missing;
    /// WAL mode, so several processes may share it).
    pub async fn open(inner: L, path: impl AsRef<Path>) -> Result<Self, LmError> {
        let path = path.as_ref();
        let fail =
            |what: &str, e: &dyn std::fmt::Display| LmError::Other(format!("cache {}: {what}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("cannot create directory", &e))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| fail("cannot open", &e))?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS responses (
                key TEXT PRIMARY KEY,
                namespace TEXT NOT NULL,
                request TEXT NOT NULL,
                response TEXT NOT NULL,
                created_ms INTEGER NOT NULL
            )",
        )
        .execute(&pool)
        .await
        .map_err(|e| fail("cannot create table", &e))?;
        let mut cache = Self::memory_only(inner);
        cache.db = Some(pool);
        cache.path = Some(path.to_path_buf());
        Ok(cache)
    }

    /// Keys requests under `namespace` instead of the inner model's name (e.g.
    /// `LmConfig::cache_namespace()`, which also covers the config's default temperature and
    /// max_tokens).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Keeps at most `capacity` responses in memory (default 10 000; 0 disables the front).
    pub fn with_memory_capacity(mut self, capacity: usize) -> Self {
        self.memory = Mutex::new(MemoryCache::new(capacity));
        self
    }

    /// Counts hits in `stats` (a call and a cache hit each); misses are counted by the inner
    /// model if it shares the same `LmStats`.
    pub fn with_stats(mut self, stats: Arc<LmStats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Records hits in `history`; misses are recorded by the inner model if it shares it.
    pub fn with_history(mut self, history: Arc<CallHistory>) -> Self {
        self.history = Some(history);
        self
    }

    /// The wrapped model.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The SQLite file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The namespace keys are computed under.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key `request` is cached under.
    pub fn key(&self, request: &ChatRequest) -> RequestKey {
        RequestKey::of(&self.namespace, request)
    }

    /// Hit and miss counts so far.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Empties the in-memory front (the file is kept).
    pub fn clear_memory(&self) {
        self.memory.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Looks `key` up in memory only.
    pub fn memory_lookup(&self, key: &RequestKey) -> Option<ChatResponse> {
        let hit = self.memory.lock().unwrap_or_else(|p| p.into_inner()).get(key);
        hit.map(|r| (*r).clone())
    }

    /// Looks `key` up in the SQLite file only (`None` without a file or on a miss).
    pub async fn disk_lookup(&self, key: &RequestKey) -> Result<Option<ChatResponse>, LmError> {
        let Some(db) = &self.db else { return Ok(None) };
        let row: Option<(String,)> = sqlx::query_as("SELECT response FROM responses WHERE key = ?")
            .bind(key.to_hex())
            .fetch_optional(db)
            .await
            .map_err(|e| self.db_error("lookup", &e))?;
        let Some((json,)) = row else { return Ok(None) };
        match serde_json::from_str::<ChatResponse>(&json) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                tracing::warn!("ignoring unreadable cache entry {key}: {e}");
                Ok(None)
            }
        }
    }

    /// Number of responses in the SQLite file.
    pub async fn disk_len(&self) -> Result<u64, LmError> {
        let Some(db) = &self.db else { return Ok(0) };
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM responses")
            .fetch_one(db)
            .await
            .map_err(|e| self.db_error("count", &e))?;
        Ok(n.max(0) as u64)
    }

    /// Closes the SQLite pool, flushing the WAL (optional; dropping also works).
    pub async fn close(&self) {
        if let Some(db) = &self.db {
            db.close().await;
        }
    }

    fn db_error(&self, what: &str, e: &dyn std::fmt::Display) -> LmError {
        let path = self.path.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
        LmError::Other(format!("cache {path}: {what} failed: {e}"))
    }

    async fn store(&self, key: RequestKey, request: &ChatRequest, response: &ChatResponse) {
        let Some(db) = &self.db else { return };
        let (req_json, resp_json) = match (serde_json::to_string(request), serde_json::to_string(response)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return,
        };
        let result = sqlx::query(
            "INSERT OR REPLACE INTO responses (key, namespace, request, response, created_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key.to_hex())
        .bind(&self.namespace)
        .bind(req_json)
        .bind(resp_json)
        .bind(crate::history::now_ms() as i64)
        .execute(db)
        .await;
        if let Err(e) = result {
            tracing::warn!("{}", self.db_error("store", &e));
        }
    }

    fn hit(&self, request: &ChatRequest, response: &ChatResponse, start: Instant) {
        if let Some(stats) = &self.stats {
            stats.record_call();
            stats.record_cache_hit();
        }
        if let Some(history) = &self.history {
            let latency_ms = start.elapsed().as_secs_f64() * 1e3;
            history.push(CallRecord::new(&self.namespace, request, Ok(response), latency_ms, 0));
        }
    }

    /// Memory, then disk; promotes disk hits to memory.
    async fn lookup(&self, key: &RequestKey) -> Result<Option<ChatResponse>, LmError> {
        if let Some(r) = self.memory_lookup(key) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(r));
        }
        if let Some(mut r) = self.disk_lookup(key).await? {
            r.cached = true;
            r.cost_usd = None;
            self.memory.lock().unwrap_or_else(|p| p.into_inner()).insert(*key, Arc::new(r.clone()));
            self.disk_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(r));
        }
        Ok(None)
    }
}

#[async_trait]
impl<L: LanguageModel> LanguageModel for CachedLm<L> {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        let start = Instant::now();
        let key = self.key(request);
        if let Some(r) = self.lookup(&key).await? {
            self.hit(request, &r, start);
            return Ok(r);
        }
        // One request per key in flight: later identical ones wait and then hit.
        let gate = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            inflight.entry(key).or_default().clone()
        };
        let guard = gate.lock().await;
        let result = async {
            if let Some(r) = self.lookup(&key).await? {
                self.hit(request, &r, start);
                return Ok(r);
            }
            self.misses.fetch_add(1, Ordering::Relaxed);
            let response = self.inner.chat(request).await?;
            let mut stored = response.clone();
            stored.cached = true;
            stored.cost_usd = None;
            self.store(key, request, &stored).await;
            self.memory.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::new(stored));
            Ok(response)
        }
        .await;
        drop(guard);
        {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            // Remove the gate unless another waiter still holds a handle to it.
            if inflight.get(&key).is_some_and(|g| Arc::strong_count(g) <= 2) {
                inflight.remove(&key);
            }
        }
        result
    }

    fn model_name(&self) -> String {
        self.inner.model_name()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scripted::ScriptedLm;
    use promptsmith_core::lm::ChatMessage;

    fn req(text: &str) -> ChatRequest {
        ChatRequest::new(vec![ChatMessage::user(text)])
    }

    #[test]
    fn memory_front_evicts_least_recently_used() {
        let key = |t: &str| RequestKey::of("m", &req(t));
        let resp = Arc::new(ChatResponse {
            choices: vec![],
            usage: Default::default(),
            model: "m".into(),
            cached: false,
            cost_usd: None,
        });
        let mut m = MemoryCache::new(2);
        m.insert(key("a"), resp.clone());
        m.insert(key("b"), resp.clone());
        assert!(m.get(&key("a")).is_some(), "touch a: b is now the least recently used");
        m.insert(key("c"), resp.clone());
        assert!(m.get(&key("b")).is_none());
        assert!(m.get(&key("a")).is_some() && m.get(&key("c")).is_some());
        let mut off = MemoryCache::new(0);
        off.insert(key("a"), resp);
        assert!(off.get(&key("a")).is_none());
    }

    #[tokio::test]
    async fn memory_hits_and_eviction() {
        let lm = ScriptedLm::from_fn(|r| format!("echo {}", r.messages[0].content));
        let cache = CachedLm::memory_only(lm).with_memory_capacity(1);
        let a = cache.chat(&req("a")).await.unwrap();
        assert!(!a.cached);
        let a2 = cache.chat(&req("a")).await.unwrap();
        assert!(a2.cached);
        assert_eq!(a2.text(), "echo a");
        cache.chat(&req("b")).await.unwrap(); // evicts a
        cache.chat(&req("a")).await.unwrap();
        assert_eq!(cache.inner().calls(), 3);
        assert_eq!(cache.cache_stats(), CacheStats { memory_hits: 1, disk_hits: 0, misses: 3 });
    }

    #[tokio::test]
    async fn concurrent_identical_requests_are_sent_once() {
        let lm = ScriptedLm::from_fn(|_| "x".to_string()).with_delay(Duration::from_millis(50));
        let cache = Arc::new(CachedLm::memory_only(lm));
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let c = cache.clone();
                tokio::spawn(async move { c.chat(&req("same")).await.unwrap() })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(cache.inner().calls(), 1);
        assert_eq!(cache.cache_stats().hits(), 4);
        assert!(cache.inflight.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let lm = ScriptedLm::from_texts(Vec::<String>::new());
        let cache = CachedLm::memory_only(lm);
        assert!(cache.chat(&req("a")).await.is_err());
        assert!(cache.chat(&req("a")).await.is_err());
        assert_eq!(cache.cache_stats().misses, 2);
    }
}
