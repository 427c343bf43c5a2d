//! Per-key rate limits: a token bucket per key (refilled at the configured rate, holding at
//! most two seconds' worth); an empty bucket answers 429 with `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Token buckets by key.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_s: f64,
    buckets: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
}

impl RateLimiter {
    /// `per_s` requests a second per key (0: unlimited).
    pub fn new(per_s: f64) -> Self {
        Self { per_s, buckets: Arc::default() }
    }

    /// Takes a token for `key` at `now`; `Err(seconds to wait)` when there is none.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.per_s <= 0.0 {
            return Ok(());
        }
        let burst = (self.per_s * 2.0).max(1.0);
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.per_s).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        Err(((1.0 - *tokens) / self.per_s).ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_refill_at_the_rate() {
        let l = RateLimiter::new(1.0);
        let t0 = Instant::now();
        assert!(l.check("a", t0).is_ok());
        assert!(l.check("a", t0).is_ok());
        assert_eq!(l.check("a", t0), Err(1));
        assert!(l.check("b", t0).is_ok(), "keys are separate");
        assert!(l.check("a", t0 + Duration::from_millis(1000)).is_ok());
        assert!(RateLimiter::new(0.0).check("a", t0).is_ok());
    }
}
