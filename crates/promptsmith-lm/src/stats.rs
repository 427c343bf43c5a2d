//! Call counters shared by the client and its wrappers (lock-free atomics).

use promptsmith_core::lm::Usage;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals of model calls. Share one via `Arc` between an `OpenAiClient` and the
/// `CachedLm` around it to get one set of numbers.
#[derive(Debug, Default)]
pub struct LmStats {
    calls: AtomicU64,
    http_requests: AtomicU64,
    cache_hits: AtomicU64,
    retries: AtomicU64,
    errors: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    /// Cost in units of 1e-9 USD, so it can be an integer atomic.
    cost_nano_usd: AtomicU64,
}

/// A point-in-time copy of `LmStats`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Logical calls (`chat` invocations), cache hits included.
    pub calls: u64,
    /// HTTP requests sent (attempts, including retries and emulated `n`).
    pub http_requests: u64,
    /// Calls answered from a cache.
    pub cache_hits: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Calls that ended in an error.
    pub errors: u64,
    /// Prompt tokens of live (uncached) calls.
    pub prompt_tokens: u64,
    /// Completion tokens of live (uncached) calls.
    pub completion_tokens: u64,
    /// Cost of live calls in USD, when prices are configured.
    pub cost_usd: f64,
}

impl LmStats {
    /// Fresh zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one logical call.
    pub fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one HTTP request.
    pub fn record_http_request(&self) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one cache hit.
    pub fn record_cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one retry.
    pub fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed call.
    pub fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the usage and cost of a live call.
    pub fn record_usage(&self, usage: Usage, cost_usd: Option<f64>) {
        self.prompt_tokens.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens.fetch_add(usage.completion_tokens, Ordering::Relaxed);
        if let Some(c) = cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
            self.cost_nano_usd.fetch_add((c * 1e9).round() as u64, Ordering::Relaxed);
        }
    }

    /// Current totals.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            http_requests: self.http_requests.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
            cost_usd: self.cost_nano_usd.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let s = LmStats::new();
        s.record_call();
        s.record_cache_hit();
        s.record_retry();
        s.record_usage(Usage { prompt_tokens: 3, completion_tokens: 4 }, Some(0.25));
        let snap = s.snapshot();
        assert_eq!((snap.calls, snap.cache_hits, snap.retries), (1, 1, 1));
        assert_eq!((snap.prompt_tokens, snap.completion_tokens), (3, 4));
        assert!((snap.cost_usd - 0.25).abs() < 1e-9);
    }
}
